"""The sandbox: what it hides, shows and limits, checked by running Python inside it."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursegrader import sandbox

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def test_secrets_are_never_shown_again(monkeypatch):
    # Even when the course holds the Python installation, nnlab or the grader, it stays hidden.
    root = Path(sandbox.__file__).resolve().parents[1]
    monkeypatch.setenv("NNLAB_SANDBOX_HIDE", str(root))
    shown = sandbox.shown_paths()
    assert all(root != p and root not in p.parents and p not in root.parents for p in shown)


def test_only_an_allow_list_is_shown():
    shown = sandbox.shown_paths()
    assert Path("/usr") in shown and Path(sandbox.__file__).resolve().parent in shown
    for absent in ("/run", "/home", "/var", "/root", "/etc", "/sys", "/mnt", "/opt", "/srv"):
        assert Path(absent) not in shown


def test_package_folders_added_to_this_python_are_shown_and_other_path_entries_are_not(monkeypatch, tmp_path):
    # an environment layered on another (a .pth running site.addsitedir): its kernel imports from there
    layered = tmp_path / "other-env" / "lib" / "site-packages"
    layered.mkdir(parents=True)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(layered), str(scripts)])
    shown = sandbox.shown_paths()
    assert layered in shown
    assert scripts not in shown and tmp_path not in shown


def _run(probe: str, tmp_path: Path, limits: sandbox.Limits = sandbox.Limits(), group=None, **env) -> str:
    """Run ``probe`` in a sandbox; returns what it printed (written where the test can read it)."""
    private = tmp_path / "private"
    (private / "work").mkdir(parents=True, exist_ok=True)
    (private / "out").mkdir(exist_ok=True)
    log = private / "out" / "log"
    script = f"import sys\nsys.stdout = open({str(log)!r}, 'w', buffering=1)\n" + probe
    command = sandbox.command([sys.executable, "-c", script], private, limits, group, writable=("out",))
    subprocess.run(command, timeout=120, check=True, env={**os.environ, **env})
    return log.read_text()


@needs_bwrap
def test_sandboxed_code_sees_no_socket_no_home_and_only_allowed_variables(monkeypatch, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("NNLAB_GRADEBOOK_URL", "postgresql://grader:password@/course")
    monkeypatch.setenv("SECRET_TOKEN", "abc")
    probe = ("import os\nprint(sorted(os.environ))\n"
             "print([p for p in ('/run', '/home', '/var', '/etc/shadow', os.path.expanduser('~root')) if os.path.exists(p)])\n"
             "for target in ('/planted', '/etc/planted', '/usr/planted'):\n    try:\n        open(target, 'w')\n"
             "        print('WROTE', target)\n    except OSError:\n        pass\nprint('end')\n")
    out = _run(probe, tmp_path).splitlines()
    variables = eval(out[0])
    assert "NNLAB_GRADEBOOK_URL" not in variables and "SECRET_TOKEN" not in variables
    assert set(variables) <= {"HOME", "TMPDIR", "PATH", "PWD", "MPLCONFIGDIR", "NNLAB_PROGRESS", "NNLAB_CACHE",
                              "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "XDG_CACHE_HOME", *sandbox.PASSED_VARIABLES,
                              "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK"}  # the last two: set by torch on import
    assert eval(out[1]) == [] or eval(out[1]) == ["/root"]  # /root only where the Python installation lives in it
    assert out[2:] == ["end"]  # nothing outside its scratch space takes a write, not even the sandbox's own root


@needs_bwrap
def test_scratch_space_is_capped_and_private_is_read_only(tmp_path):
    probe = ("import os\nwritten = 0\ntry:\n    with open('big', 'wb') as f:\n        for _ in range(64):\n"
             "            f.write(b'x' * 2**20)\n            f.flush()\n            written += 1\nexcept OSError:\n    pass\n"
             "print(written)\ntry:\n    open('../escape', 'w')\n    print('wrote outside')\nexcept OSError:\n    print('read-only')\n")
    out = _run(probe, tmp_path, sandbox.Limits(disk=16 * 2**20)).split()
    assert int(out[0]) < 17 and out[1] == "read-only"
    assert not (tmp_path / "private" / "escape").exists()


def test_limits_read_the_environment(monkeypatch):
    monkeypatch.setenv("NNLAB_SANDBOX_MEMORY", "3G")
    monkeypatch.setenv("NNLAB_SANDBOX_PROCESSES", "64")
    limits = sandbox.Limits.from_environment()
    assert limits.memory == 3 * 1024**3 and limits.processes == 64


@needs_bwrap
def test_sandboxed_python_imports_nnlab_and_the_fresh_run_but_not_the_course(monkeypatch, tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    (course / "solution.txt").write_text("secret")
    monkeypatch.setenv("NNLAB_SANDBOX_HIDE", str(course))
    probe = (
        "import os, nnlab.grading, coursegrader.check.runner\n"
        f"print('visible' if os.path.exists({str(course / 'solution.txt')!r}) else 'hidden')\n"
        "open('mine.txt', 'w').write('ok')\nprint(open('mine.txt').read())\n"
    )
    assert _run(probe, tmp_path).split() == ["hidden", "ok"]  # its own scratch space is writable


@needs_bwrap
def test_dataset_cache_is_shared_read_only(monkeypatch, tmp_path):
    # Sandboxed notebooks read the grader's MNIST-1D cache (no 2.5 s regeneration each) but
    # cannot change what the next submission reads.
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "data.npz").write_text("arrays")
    course = tmp_path / "course"
    course.mkdir()
    monkeypatch.setenv("NNLAB_CACHE", str(cache))
    monkeypatch.setenv("NNLAB_SANDBOX_HIDE", str(course))
    probe = (
        "import os, nnlab.data; d = nnlab.data.cache_dir(); print(open(d / 'data.npz').read())\n"
        "try:\n    open(d / 'data.npz', 'w').write('poisoned')\nexcept OSError:\n    print('read-only')\n"
    )
    assert _run(probe, tmp_path).split() == ["arrays", "read-only"]
    assert (cache / "data.npz").read_text() == "arrays"


def test_dataset_cache_inside_a_secret_is_not_shown(monkeypatch, tmp_path):
    course = tmp_path / "course"
    (course / "cache").mkdir(parents=True)
    monkeypatch.setenv("NNLAB_CACHE", str(course / "cache"))
    monkeypatch.setenv("NNLAB_SANDBOX_HIDE", str(course))
    assert sandbox._dataset_cache() is None
    monkeypatch.setenv("NNLAB_SANDBOX_HIDE", str(tmp_path / "elsewhere"))
    assert sandbox._dataset_cache() == (course / "cache").resolve()


def test_limits_default_to_the_documented_values(monkeypatch):
    from coursegrader import contracts

    for setting in (contracts.SANDBOX_MEMORY, contracts.SANDBOX_PROCESSES, contracts.SANDBOX_CPUS, contracts.SANDBOX_DISK):
        monkeypatch.delenv(setting.name, raising=False)
    limits = sandbox.Limits.from_environment()
    assert limits.memory == 4 * 1024**3 and limits.processes == 256 and limits.disk == 1024**3
    assert limits.cpus == os.cpu_count()  # no cap below the machine unless set; the grader sets cores / JOBS


def test_each_job_gets_its_share_of_the_cores(monkeypatch):
    from coursegrader import contracts
    from coursegrader.course_config import environment

    monkeypatch.delenv(contracts.SANDBOX_CPUS.name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert environment(jobs=4)[contracts.SANDBOX_CPUS.name] == "2"
    # a submission's kernel and the check's run share the worker's cores: half of them each
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert environment(jobs=4)["OMP_NUM_THREADS"] == "1"
    assert environment(jobs=1)["OMP_NUM_THREADS"] == "4" and contracts.SANDBOX_CPUS.name not in environment(jobs=1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert environment(jobs=1)["MKL_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the instructor's choice wins
    assert environment(jobs=1)["OMP_NUM_THREADS"] == "2"
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setenv(contracts.SANDBOX_CPUS.name, "0.5")  # the instructor's choice wins
    assert environment(jobs=4)[contracts.SANDBOX_CPUS.name] == "0.5"
    monkeypatch.setenv(contracts.SANDBOX_CPUS.name, "-1")
    with pytest.raises(ValueError, match="must be positive"):
        sandbox.Limits.from_environment()


@needs_bwrap
def test_processes_beyond_the_cgroup_limit_are_refused(tmp_path):
    limits = sandbox.Limits(processes=8)
    group = sandbox.process_cgroup(limits)
    if group is None or "processes" not in group.caps:
        pytest.skip("no pids cgroup can be made here")
    probe = ("import os, time\nborn = 0\ntry:\n    for _ in range(50):\n        if os.fork() == 0:\n"
             "            time.sleep(5)\n            os._exit(0)\n        born += 1\nexcept OSError:\n    pass\nprint(born)\n")
    try:
        assert int(_run(probe, tmp_path, limits, group).split()[-1]) < 8
    finally:
        sandbox.kill_cgroup(group)
    assert not any(path.exists() for path in group.paths)


@needs_bwrap
def test_memory_is_capped_for_the_sandbox_as_a_whole(tmp_path):
    # Four processes of 100 MiB each, each within its own address-space limit: together they
    # pass the sandbox's 256 MiB, and the cgroup stops them.
    limits = sandbox.Limits(memory=256 * 2**20, processes=64)
    group = sandbox.process_cgroup(limits)
    if group is None or "memory" not in group.caps:
        pytest.skip("no memory cgroup can be made here")
    probe = ("import os, time\nkids = []\nfor _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
             "        block = bytearray(100 * 2**20)\n        for i in range(0, len(block), 4096):\n            block[i] = 1\n"
             "        time.sleep(1)\n        os._exit(0)\n    kids.append(pid)\n"
             "codes = [os.waitstatus_to_exitcode(os.waitpid(k, 0)[1]) for k in kids]\nprint(sum(c != 0 for c in codes))\n")
    try:
        assert int(_run(probe, tmp_path, sandbox.Limits(memory=2 * 2**30, processes=64), group).split()[-1]) >= 1
    finally:
        sandbox.kill_cgroup(group)


def test_missing_caps_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "CGROUP_ROOT", tmp_path)  # no cgroup file system at all
    warning = sandbox.caps_warning(sandbox.Limits())
    assert "memory, cpu, processes" in warning and "address space" in warning


def test_missing_bubblewrap_is_explained(monkeypatch):
    sandbox.check_available.cache_clear()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
            sandbox.check_available()
    finally:
        sandbox.check_available.cache_clear()


def test_a_control_group_that_cannot_be_removed_is_not_waited_on(monkeypatch, tmp_path):
    # another user's leftover group: rmdir is refused at once, and retrying would only wait
    group = tmp_path / "nnlab-1-leftover"
    group.mkdir()
    tries = []

    def refuse(self):
        tries.append(self)
        raise PermissionError(1, "Operation not permitted", str(self))

    monkeypatch.setattr(Path, "rmdir", refuse)
    sandbox._kill_directory(group)
    assert tries == [group]


def test_the_sweep_leaves_other_users_groups_alone(monkeypatch, tmp_path):
    mine, theirs = tmp_path / "nnlab-1-mine", tmp_path / "nnlab-2-theirs"
    mine.mkdir()
    theirs.mkdir()
    monkeypatch.setattr(sandbox, "_someone_elses", lambda group: group == theirs)
    monkeypatch.setattr(sandbox, "_owner_alive", lambda group: False)  # both left by a grader that is gone
    swept = []
    monkeypatch.setattr(sandbox, "_kill_directory", swept.append)
    sandbox._sweep(tmp_path)
    assert swept == [mine]
    # and whose a group is: a user other than root does not own root's
    monkeypatch.undo()
    assert sandbox._someone_elses(mine) is False  # made by this user (or this user is root)
    if os.geteuid() == 0:
        monkeypatch.setattr(sandbox.os, "geteuid", lambda: 12345)
        assert sandbox._someone_elses(mine) is True
