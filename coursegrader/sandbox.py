"""Run a command isolated: bubblewrap, no network, only an allow-list of paths and variables, caps on resources.

This module knows nothing of nbgrader or Jupyter: it turns a command line into one that
runs in a sandbox (:func:`command`) and cleans up after it. Two things are run this way
while a submission is graded: its notebook's kernel (:mod:`coursegrader.kernel`) and the
independent check's fresh run (:mod:`coursegrader.check.fresh_run`). Each gets

* a file system built from an allow-list (:func:`shown_paths`), read-only: the system's
  programs and libraries, the Python installation and its packages, ``nnlab`` and the
  grader, the dataset cache. Nothing else exists inside: not the course (solutions, hidden
  tests, the gradebook, every submission), not the home folders, not ``/run`` and its Unix
  sockets (a database's, say). Its only writable place is its own scratch folder, a tmpfs of
  ``NNLAB_SANDBOX_DISK`` bytes;
* an environment built from an allow-list (:data:`PASSED_VARIABLES` and what the sandbox
  sets): the grader's own variables (database URLs, the probe secret's path) never reach it;
* no network (its own, empty, network namespace), its own process and IPC namespaces;
* caps on the sandbox as a whole where a cgroup can be made (v2, or v1's controllers):
  memory (``NNLAB_SANDBOX_MEMORY``), CPUs (``NNLAB_SANDBOX_CPUS``), processes
  (``NNLAB_SANDBOX_PROCESSES``); and on each process always: address space, file size, CPU time;
* its output goes to a size-limited file, and it dies with the grader.

Where bubblewrap is not installed or cannot run, grading stops with a message saying so,
unless the instructor opts out with ``NNLAB_SANDBOX=off`` (:mod:`coursegrader.contracts`).
Where no cgroup can be made, :func:`caps_warning` says which caps are missing.
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
    """Resource limits of one sandbox."""

    memory: int = 4 * GiB  # memory of the whole sandbox (cgroup) and address space of each process, bytes
    processes: int = 256  # processes and threads of the sandbox
    cpus: float = 1.0  # CPUs the whole sandbox may use at once (cgroup)
    disk: int = 1 * GiB  # size of its scratch folder, bytes
    file_size: int = 256 * 1024**2  # largest file it may write, bytes
    cpu_seconds: int = 3600  # CPU time of each process

    @classmethod
    def from_environment(cls) -> "Limits":
        """``NNLAB_SANDBOX_MEMORY``, ``_PROCESSES``, ``_CPUS`` and ``_DISK`` (:mod:`coursegrader.contracts`)."""
        cpus = float(contracts.SANDBOX_CPUS.get() or os.cpu_count() or 1)
        if cpus <= 0:
            raise ValueError(f"{contracts.SANDBOX_CPUS.name} must be positive, got {contracts.SANDBOX_CPUS.get()!r}")
        return cls(memory=_parse_size(contracts.SANDBOX_MEMORY.get()), processes=int(contracts.SANDBOX_PROCESSES.get()),
                   cpus=cpus, disk=_parse_size(contracts.SANDBOX_DISK.get()))


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


def _secret_paths() -> list[Path]:
    return [Path(os.path.realpath(p)) for p in contracts.SANDBOX_HIDE.get().split(os.pathsep) if p]


#: The system's files a sandboxed Python needs, read-only (those that exist here).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache", "/etc/ld.so.conf",
                "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group",
                "/etc/alternatives", "/etc/fonts", "/sys/devices/system/cpu")
#: Variables passed from the grader's environment when set; every other one is dropped.
PASSED_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "PYTHONPATH",
                    "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE")


def shown_paths() -> list[Path]:
    """What exists inside the sandbox (read-only): the system's files, the Python installation
    and its packages, nnlab and the grader. Never a secret (``NNLAB_SANDBOX_HIDE``: the course,
    the repository's history) nor a folder that holds one."""
    import site
    import sysconfig

    import nnlab

    needed = {Path(p) for p in SYSTEM_PATHS}
    needed |= {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent.parent}
    needed |= {Path(p) for p in site.getsitepackages()}
    # and package folders this Python was pointed at beside its own (a .pth's site.addsitedir, an
    # environment layered on another): the sandboxed kernel, the same Python, imports from them too
    needed |= {Path(p) for p in sys.path if os.path.isabs(p) and Path(p).name in ("site-packages", "dist-packages")}
    needed |= {Path(p) for p in sysconfig.get_paths().values()}
    # nnlab and the grader (an editable install lives in the repository, which may sit under /tmp)
    needed |= {Path(nnlab.__file__).resolve().parent, Path(__file__).resolve().parent}
    secrets = _secret_paths()
    shown: list[Path] = []
    for path in sorted(needed, key=lambda p: (len(p.parts), str(p))):
        if not path.exists():
            continue
        real = Path(os.path.realpath(path))
        if any(real == s or s in real.parents or real in s.parents for s in secrets):
            continue  # never show a secret, nor a folder that contains one
        if any(path == s or s in path.parents for s in shown):
            continue  # already shown by a folder above it
        shown.append(path)
    return shown


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


@dataclass
class Cgroup:
    """One sandbox's control group: a directory per hierarchy (one with cgroup v2; one per
    controller with v1), and the caps it enforces."""

    paths: list[Path]
    caps: list[str]  # of "processes", "memory", "cpu"

    def join_command(self) -> str:
        """Shell that moves the current process (``$$``) into every directory of the group."""
        return "; ".join(f'echo $$ > "{path}/cgroup.procs"' for path in self.paths)


def _kill_directory(group: Path) -> None:
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
        except (FileNotFoundError, PermissionError):
            return  # gone, or another user's group: waiting would not let us remove it
        except OSError:
            time.sleep(0.1)  # the killed processes are still exiting


def kill_cgroup(group: Cgroup | Path) -> None:
    """Kill every process left in ``group`` and remove it."""
    for path in (group.paths if isinstance(group, Cgroup) else [group]):
        _kill_directory(path)


def kill_group(process: subprocess.Popen) -> None:
    """Kill the process group led by ``process`` (started with ``start_new_session``) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


CGROUP_ROOT = Path("/sys/fs/cgroup")
#: cgroup v1 hierarchies and what each caps
_V1 = {"pids": "processes", "memory": "memory", "cpu": "cpu"}


def _someone_elses(group: Path) -> bool:
    """Whether ``group`` was made by another user, whom this one (not root) cannot clean up after."""
    return os.geteuid() != 0 and group.stat().st_uid != os.geteuid()


def _sweep(root: Path) -> None:
    """Kill the groups left by a grader that was killed (its pid, in the group's name, is gone)."""
    for stale in root.glob("nnlab-*"):
        try:
            # only a group this user may remove: a grader run by another user (root's, say) left
            # groups that an instructor's grading could only wait on, 5 s each, at every submission
            if _someone_elses(stale):
                continue
            if not _owner_alive(stale):
                _kill_directory(stale)
        except OSError:
            pass


def _settings(cap: str, limits: Limits, version: int) -> dict[str, str]:
    period = 100_000
    if cap == "processes":
        return {"pids.max": str(limits.processes)}
    if cap == "memory":
        if version == 2:
            return {"memory.max": str(limits.memory), "memory.swap.max": "0"}
        return {"memory.limit_in_bytes": str(limits.memory)}
    quota = str(max(1000, int(limits.cpus * period)))
    return {"cpu.max": f"{quota} {period}"} if version == 2 else {"cpu.cfs_period_us": str(period), "cpu.cfs_quota_us": quota}


def _make(directory: Path, settings: dict[str, str], optional: tuple[str, ...] = ()) -> bool:
    try:
        directory.mkdir()
    except OSError:
        return False
    try:
        for name, value in settings.items():
            try:
                (directory / name).write_text(value)
            except OSError:
                if name not in optional:
                    raise
        return True
    except OSError:
        try:
            directory.rmdir()
        except OSError:
            pass
        return False


def process_cgroup(limits: Limits | int) -> Cgroup | None:
    """A fresh control group capping one sandbox's memory, CPUs and processes, where one can be made.

    cgroup v2 first (one directory, where the controllers are enabled), else cgroup v1 (one
    directory per controller that is mounted). Groups of a grader that was killed are swept
    first: a sandbox orphaned that way is killed here, on the next run. An ``int`` caps only
    the processes (kept for callers that know no other limit).
    """
    if isinstance(limits, int):
        limits = Limits(processes=limits)
        wanted = ["processes"]
    else:
        wanted = ["processes", "memory", "cpu"]
    name = f"nnlab-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    for root in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        controllers = root / "cgroup.controllers"
        if not controllers.exists():
            continue
        available = set(controllers.read_text().split())
        caps = [cap for cap in wanted if {"processes": "pids"}.get(cap, cap) in available]
        if not caps:
            continue
        try:
            enabled = set((root / "cgroup.subtree_control").read_text().split())
            missing = [{"processes": "pids"}.get(c, c) for c in caps if {"processes": "pids"}.get(c, c) not in enabled]
            if missing:
                (root / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
        except OSError:
            continue
        _sweep(root)
        settings = {k: v for cap in caps for k, v in _settings(cap, limits, 2).items()}
        if _make(root / name, settings, optional=("memory.swap.max",)):
            return Cgroup([root / name], caps)
    paths, caps = [], []
    for controller, cap in _V1.items():
        root = CGROUP_ROOT / controller
        if cap not in wanted or not (root / "cgroup.procs").exists() or (root / "cgroup.controllers").exists():
            continue
        _sweep(root)
        if _make(root / name, _settings(cap, limits, 1)):
            paths.append(root / name)
            caps.append(cap)
    return Cgroup(paths, caps) if paths else None


def caps_warning(limits: Limits) -> str:
    """'' when a sandbox's memory, CPUs and processes can all be capped as a whole here; else
    a sentence for the instructor saying what is missing and what still applies."""
    group = process_cgroup(limits)
    if group is not None:
        kill_cgroup(group)
    missing = [cap for cap in ("memory", "cpu", "processes") if group is None or cap not in group.caps]
    if not missing:
        return ""
    return (f"Warning: no cgroup can cap a sandbox's {', '.join(missing)} on this machine (run the grader as root "
            "or with a delegated cgroup v2 subtree); only per-process limits apply: address space, file size, CPU time"
            + ("." if "processes" not in missing else ", and processes per user."))


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


def command(argv: list[str], private: Path, limits: Limits, cgroup: Cgroup | None,
            writable: tuple[str, ...] = ()) -> list[str]:
    """The command line that runs ``argv`` in the sandbox.

    ``private`` is shown read-only, its ``work`` folder replaced by the scratch tmpfs (the
    working directory; nothing written there outlives the sandbox); ``writable`` names other
    sub-folders of ``private`` shown read-write (the kernel's sockets).
    """
    bwrap = check_available()
    # /tmp first (what is shown may lie under it), made read-only once everything is in place
    args = [bwrap, "--clearenv", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in shown_paths():
        args += ["--ro-bind", str(path), str(path)]
    cache = _dataset_cache()
    if cache is not None:
        args += ["--ro-bind", str(cache), str(cache), "--setenv", contracts.CACHE.name, str(cache)]
    work = private / "work"
    args += ["--ro-bind", str(private), str(private)]
    for name in writable:
        args += ["--bind", str(private / name), str(private / name)]
    # the root bwrap builds (a tmpfs holding the mount points) and /tmp become read-only: nothing but
    # the scratch tmpfs (and ``writable``) takes a write
    args += ["--size", str(limits.disk), "--tmpfs", str(work), "--remount-ro", "/tmp", "--remount-ro", "/"]
    for name in PASSED_VARIABLES:
        if name in os.environ:
            args += ["--setenv", name, os.environ[name]]
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    args += [
        "--unshare-all", "--die-with-parent", "--new-session",
        "--chdir", str(work), "--setenv", "PATH", path, "--setenv", "HOME", str(work), "--setenv", "TMPDIR", str(work),
        "--setenv", "MPLCONFIGDIR", str(work), "--setenv", contracts.PROGRESS.name, "0",
        # torch's compiler caches default to /tmp, read-only here: optimizers and schedulers import them
        "--setenv", "TORCHINDUCTOR_CACHE_DIR", str(work / ".torchinductor"),
        "--setenv", "TRITON_CACHE_DIR", str(work / ".triton"), "--setenv", "XDG_CACHE_HOME", str(work / ".cache"),
        "--",
    ]
    limit = [
        "prlimit", f"--as={limits.memory}", f"--fsize={limits.file_size}", f"--cpu={limits.cpu_seconds}",
        f"--nproc={limits.processes}", "--",
    ]
    # The sandboxed command's own stdout and stderr go to a file in its scratch space (limited
    # by --fsize and the tmpfs), not to the grader.
    inner = ["sh", "-c", 'exec "$@" >"$0" 2>&1', str(work / "output.log"), *argv]
    launch = args + limit + inner
    if cgroup is not None:
        # Join the cgroup before bwrap starts: every process of the sandbox is counted.
        launch = ["sh", "-c", f'{cgroup.join_command()}; exec "$@"', "sandbox", *launch]
    return launch
