"""The sandbox: what it hides, shows and limits, checked by running Python inside it."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursegrader import sandbox

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def test_parents_are_hidden_before_their_children(monkeypatch, tmp_path):
    secret = tmp_path / "course"
    secret.mkdir()
    monkeypatch.setenv("NNLAB_SANDBOX_HIDE", str(secret))
    hidden = sandbox.hidden_paths()
    assert hidden.index(Path("/tmp")) < hidden.index(secret.resolve())


def test_secrets_are_never_shown_again(monkeypatch):
    # Even when the course holds the Python installation, nnlab or the grader, it stays hidden.
    root = Path(sandbox.__file__).resolve().parents[1]
    monkeypatch.setenv("NNLAB_SANDBOX_HIDE", str(root))
    needed = sandbox._needed_inside([Path("/")])
    assert all(root != p and root not in p.parents and p not in root.parents for p in needed)


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
    private = tmp_path / "private"
    (private / "work").mkdir(parents=True)
    probe = (
        "import os, nnlab.grading, coursegrader.check.runner; "
        f"print('visible' if os.path.exists({str(course / 'solution.txt')!r}) else 'hidden'); "
        "open('mine.txt', 'w').write('ok')"
    )
    command = sandbox.command([sys.executable, "-c", probe], private, sandbox.Limits(), None)
    assert subprocess.run(command, timeout=120).returncode == 0
    assert (private / "output.log").read_text().strip() == "hidden"
    assert (private / "work" / "mine.txt").read_text() == "ok"  # its own scratch space is writable


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
    private = tmp_path / "private"
    (private / "work").mkdir(parents=True)
    probe = (
        "import os, nnlab.data; d = nnlab.data.cache_dir(); print(open(d / 'data.npz').read())\n"
        "try:\n    open(d / 'data.npz', 'w').write('poisoned')\nexcept OSError:\n    print('read-only')\n"
    )
    command = sandbox.command([sys.executable, "-c", probe], private, sandbox.Limits(), None)
    assert subprocess.run(command, timeout=120).returncode == 0
    assert (private / "output.log").read_text().split() == ["arrays", "read-only"]
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

    for setting in (contracts.SANDBOX_MEMORY, contracts.SANDBOX_PROCESSES):
        monkeypatch.delenv(setting.name, raising=False)
    limits = sandbox.Limits.from_environment()
    assert limits.memory == 4 * 1024**3 and limits.processes == 256


@needs_bwrap
def test_processes_beyond_the_cgroup_limit_are_refused(tmp_path):
    group = sandbox.process_cgroup(8)
    if group is None:
        pytest.skip("no pids cgroup can be made here")
    private = tmp_path / "private"
    (private / "work").mkdir(parents=True)
    probe = ("import os, time\nborn = 0\ntry:\n    for _ in range(50):\n        if os.fork() == 0:\n"
             "            time.sleep(5)\n            os._exit(0)\n        born += 1\nexcept OSError:\n    pass\nprint(born)\n")
    command = sandbox.command([sys.executable, "-c", probe], private, sandbox.Limits(processes=8), group)
    try:
        assert subprocess.run(command, timeout=120).returncode == 0
        assert int((private / "output.log").read_text().split()[-1]) < 8
    finally:
        sandbox.kill_cgroup(group)
    assert not group.exists()


def test_missing_bubblewrap_is_explained(monkeypatch):
    sandbox.check_available.cache_clear()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
            sandbox.check_available()
    finally:
        sandbox.check_available.cache_clear()
