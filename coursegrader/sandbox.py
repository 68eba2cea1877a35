"""Run a command isolated: bubblewrap, no network, the course hidden, limits on resources.

This module knows nothing of nbgrader or Jupyter: it turns a command line into one that
runs in a sandbox (:func:`command`) and cleans up after it. Two things are run this way
while a submission is graded: its notebook's kernel (:mod:`coursegrader.kernel`) and the
independent check's fresh run (:mod:`coursegrader.check.fresh_run`). Each gets

* its own mount namespace: the whole file system read-only, with the course directory
  (solutions, hidden tests, the gradebook, every submission), home directories and ``/tmp``
  replaced by empty folders; the only writable place is the kernel's own scratch folder;
* no network (its own, empty, network namespace), its own process and IPC namespaces;
* limits: address space (``NNLAB_SANDBOX_MEMORY``, default 4 GiB), processes (a cgroup where
  one can be made, else ``RLIMIT_NPROC``), file size and CPU time;
* its output goes to a size-limited file, and it dies with the grader.

Where bubblewrap is not installed or cannot run, grading stops with a message saying so,
unless the instructor opts out with ``NNLAB_SANDBOX=off`` (:mod:`coursegrader.contracts`).
"""
from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from coursegrader import contracts

GiB = 1024**3


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


def _parse_size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": GiB}
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed kernel."""

    memory: int = 4 * GiB  # address space of each process, bytes
    processes: int = 256  # processes and threads of the sandbox
    file_size: int = 256 * 1024**2  # largest file it may write, bytes
    cpu_seconds: int = 3600  # CPU time of each process

    @classmethod
    def from_environment(cls) -> "Limits":
        """``NNLAB_SANDBOX_MEMORY`` and ``NNLAB_SANDBOX_PROCESSES`` (:mod:`coursegrader.contracts`)."""
        return cls(memory=_parse_size(contracts.SANDBOX_MEMORY.get()), processes=int(contracts.SANDBOX_PROCESSES.get()))


def enabled() -> bool:
    """Whether grading runs student code in the sandbox (``NNLAB_SANDBOX=off`` opts out)."""
    return contracts.sandbox_enabled()


@functools.lru_cache(maxsize=1)
def check_available() -> str:
    """The bwrap executable, after checking that it can create a sandbox here."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so student code cannot be isolated. Install it "
            "(Debian/Ubuntu: apt-get install bubblewrap), or grade without isolation with NNLAB_SANDBOX=off."
        )
    probe = subprocess.run(
        [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "--die-with-parent",
         "--", "true"],
        capture_output=True, text=True, timeout=60,
    )
    if probe.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap cannot create a sandbox on this machine ({probe.stderr.strip()}). Allow user "
            "namespaces, run the grader as root, or grade without isolation with NNLAB_SANDBOX=off."
        )
    return bwrap


def hidden_paths() -> list[Path]:
    """Paths replaced by empty folders in the sandbox: ``NNLAB_SANDBOX_HIDE`` (``os.pathsep``
    separated, set by the grader to the course root) plus homes and temporary folders."""
    paths = [Path(p) for p in contracts.SANDBOX_HIDE.get().split(os.pathsep) if p]
    paths += [Path.home(), Path("/home"), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")]
    unique: list[Path] = []
    for path in paths:
        path = Path(os.path.realpath(path))
        if path.exists() and path not in unique:
            unique.append(path)
    # Parents first: a folder hidden inside another hidden folder is then hidden too.
    return sorted(unique, key=lambda p: len(p.parts))


def _secret_paths() -> list[Path]:
    return [Path(os.path.realpath(p)) for p in contracts.SANDBOX_HIDE.get().split(os.pathsep) if p]


def _needed_inside(hidden: list[Path]) -> list[Path]:
    """Parts of hidden folders the kernel needs: the Python installation and its packages.

    Only these are shown again; in particular not ``sys.path`` as a whole, which holds the
    folder of the grader's configuration, i.e. the course.
    """
    import site
    import sysconfig

    needed = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent.parent}
    needed |= {Path(p) for p in site.getsitepackages() if Path(p).is_dir()}
    needed |= {Path(p) for p in sysconfig.get_paths().values() if Path(p).is_dir()}
    # nnlab and the grader's fresh run (an editable install lives in the repository, which may sit under /tmp)
    import nnlab

    needed |= {Path(nnlab.__file__).resolve().parent, Path(__file__).resolve().parent}
    secrets = _secret_paths()
    inside = []
    for path in sorted(needed):
        if any(path == s or s in path.parents or path in s.parents for s in secrets):
            continue  # never show a secret again, nor a folder that contains one
        if any(path == h or h in path.parents for h in hidden):
            inside.append(path)
    return inside


def _owner_alive(group: Path) -> bool:
    """Whether the grader that made ``group`` (``nnlab-<pid>-<id>``) still runs."""
    parts = group.name.split("-")
    if len(parts) < 3 or not parts[1].isdigit():
        return time.time() - group.stat().st_mtime < 600  # an old-style name: trust its age
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_cgroup(group: Path) -> None:
    """Kill every process left in ``group`` and remove it."""
    for _ in range(50):
        try:
            (group / "cgroup.kill").write_text("1")  # cgroup v2, Linux >= 5.14
        except OSError:
            try:
                pids = (group / ("cgroup.procs" if (group / "cgroup.procs").exists() else "tasks")).read_text().split()
            except OSError:
                pids = []
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, PermissionError, ValueError):
                    pass
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)  # the killed processes are still exiting


def kill_group(process: subprocess.Popen) -> None:
    """Kill the process group led by ``process`` (started with ``start_new_session``) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def process_cgroup(limit: int) -> Path | None:
    """A fresh ``pids`` cgroup (v2 or v1) limited to ``limit`` tasks, where one can be made.

    Groups left by a grader that was killed (its pid, in the group's name, is gone) are swept
    first: a sandbox orphaned that way is killed here, on the next run.
    """
    for root in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/pids")):
        controllers = root / "cgroup.controllers"
        if root.name != "pids" and not (controllers.exists() and "pids" in controllers.read_text().split()):
            continue
        for stale in root.glob("nnlab-*"):
            try:
                if not _owner_alive(stale):
                    kill_cgroup(stale)
            except OSError:
                pass
        group = root / f"nnlab-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            group.mkdir()
            (group / "pids.max").write_text(str(limit))
            return group
        except OSError:
            try:
                group.rmdir()
            except OSError:
                pass
    return None


def _dataset_cache() -> Path | None:
    """The grader's dataset cache (:func:`nnlab.data.cache_dir`), shown read-only in the sandbox.

    Without it every sandboxed notebook regenerates MNIST-1D (about 2.5 s each); read-only,
    a submission cannot change the data other submissions read. Not shown if it is, holds or
    lies in a secret.
    """
    from nnlab.data import cache_dir

    cache = Path(os.path.realpath(cache_dir()))
    if not cache.is_dir():
        return None
    if any(cache == s or s in cache.parents or cache in s.parents for s in _secret_paths()):
        return None
    return cache


def command(argv: list[str], private: Path, limits: Limits, cgroup: Path | None) -> list[str]:
    """The command line that runs ``argv`` in the sandbox, writable only in ``private``."""
    bwrap = check_available()
    hidden = hidden_paths()
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in hidden:
        args += ["--tmpfs", str(path)]
    for path in _needed_inside(hidden):
        args += ["--ro-bind", str(path), str(path)]
    cache = _dataset_cache()
    if cache is not None:
        args += ["--ro-bind", str(cache), str(cache), "--setenv", contracts.CACHE.name, str(cache)]
    work = private / "work"
    args += ["--bind", str(private), str(private)]
    for path in hidden:
        args += ["--remount-ro", str(path)]  # the empty folders stay empty: write only in `private`
    args += [
        "--unshare-all", "--die-with-parent", "--new-session",
        "--chdir", str(work), "--setenv", "HOME", str(work), "--setenv", "TMPDIR", str(work),
        "--setenv", "MPLCONFIGDIR", str(work), "--setenv", contracts.PROGRESS.name, "0",
        # torch's compiler caches default to /tmp, read-only here: optimizers and schedulers import them
        "--setenv", "TORCHINDUCTOR_CACHE_DIR", str(work / ".torchinductor"),
        "--setenv", "TRITON_CACHE_DIR", str(work / ".triton"), "--setenv", "XDG_CACHE_HOME", str(work / ".cache"),
        "--unsetenv", contracts.SANDBOX_HIDE.name, "--unsetenv", contracts.GRADEBOOK_URL.name,
        # the grader's pid means nothing in the sandbox's pid namespace; --die-with-parent ties the lifetimes
        "--unsetenv", "JPY_PARENT_PID",
        "--",
    ]
    limit = [
        "prlimit", f"--as={limits.memory}", f"--fsize={limits.file_size}", f"--cpu={limits.cpu_seconds}",
        f"--nproc={limits.processes}", "--",
    ]
    # The kernel's own stdout and stderr go to a file (limited by --fsize), not to the grader.
    inner = ["sh", "-c", 'exec "$@" >"$0" 2>&1', str(private / "output.log"), *argv]
    launch = args + limit + inner
    if cgroup is not None:
        # Join the cgroup before bwrap starts: every process of the sandbox is counted.
        launch = ["sh", "-c", f'echo $$ > "{cgroup}/cgroup.procs" 2>/dev/null || echo $$ > "{cgroup}/tasks"; exec "$@"',
                  "sandbox", *launch]
    return launch
