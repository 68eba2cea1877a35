"""A class on JupyterHub: what ``hub/jupyterhub_config.py`` asks of the course.

Every student and instructor logs in to one JupyterHub and gets a Jupyter server of their own,
started as their own Unix user (so that one student's files are closed to another) from the
course's Python environment. nbgrader's exchange, one folder that every user reaches (on one
server, or a shared file system on a cluster), carries the released assignments out and the
submissions and the feedback back:

- a student's server lists the assignments (JupyterLab's Assignment List), fetches, validates
  and submits them, and fetches the feedback of their own submissions; it has no formgrader;
- an instructor's server has the formgrader and the course (``NNLAB_HUB_COURSE`` in their
  home), and a terminal where ``python -m coursegrader hand-out``, ``grade`` and
  ``return-feedback`` find the class's exchange already set.

Each role's Jupyter configuration is a folder of ``hub/jupyter/`` that the hub puts on the
user's ``JUPYTER_CONFIG_PATH``; the values they need come through the environment below.
"""
from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from coursegrader import contracts

#: nbgrader's own default exchange, where a JupyterHub class keeps it unless told.
DEFAULT_HUB_EXCHANGE = Path("/usr/local/share/nbgrader/exchange")
#: The role folders (``student``, ``instructor``) put on each user's ``JUPYTER_CONFIG_PATH``.
ROLE_CONFIG = Path(__file__).resolve().parents[1] / "hub" / "jupyter"


class HubConfigurationError(ValueError):
    """The class's settings cannot work: the message names the setting and what is wrong."""


@dataclass(frozen=True)
class HubClass:
    """One class on one JupyterHub: its exchange, its instructors, the Python of the servers."""

    course_id: str
    exchange: Path
    instructors: frozenset[str]
    class_group: str
    python: Path
    course: str  # the course root in an instructor's home; "~" stands for that home

    def role(self, user: str) -> str:
        return "instructor" if user in self.instructors else "student"

    def course_root(self, user: str) -> Path:
        """The instructor's course root, with ``~`` read as their home."""
        home = pwd.getpwnam(user).pw_dir
        text = self.course
        if text == "~" or text.startswith("~/"):
            text = home + text[1:]
        return Path(text)

    def server_environment(self, user: str) -> dict[str, str]:
        """The environment of ``user``'s Jupyter server (added to what JupyterHub sets)."""
        env = {
            # the course's environment first, so that kernels, `make` and nbgrader are the course's
            "PATH": os.pathsep.join([str(self.python.parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "JUPYTER_CONFIG_PATH": str(ROLE_CONFIG / self.role(user)),
            contracts.EXCHANGE.name: str(self.exchange),
            contracts.HUB_COURSE_ID.name: self.course_id,
        }
        if self.role(user) == "instructor":
            env[contracts.HUB_COURSE.name] = str(self.course_root(user))
        return env


def hub_class(course_id: str, hub_python: str) -> HubClass:
    """The class described by the hub's settings (contracts: ``HUB_*``) and ``NNLAB_EXCHANGE``.

    ``course_id`` is the course's nbgrader id; ``hub_python`` is the Python the hub runs on,
    used for the servers unless ``NNLAB_HUB_PYTHON`` names another.
    """
    instructors = frozenset(name.strip() for name in contracts.HUB_INSTRUCTORS.get().split(",") if name.strip())
    for name in instructors:
        try:
            pwd.getpwnam(name)
        except KeyError:
            raise HubConfigurationError(
                f"{contracts.HUB_INSTRUCTORS.name} names {name!r}, which is not a user of this machine "
                "(each instructor needs a Unix account: their server runs as that user)") from None
    python = Path(contracts.HUB_PYTHON.get() or hub_python)
    if not python.is_absolute() or not os.access(python, os.X_OK):
        raise HubConfigurationError(
            f"{contracts.HUB_PYTHON.name}={python}: not an absolute path to a Python this machine can run")
    closed = unreachable_by_others(python)
    if closed is not None:
        raise HubConfigurationError(
            f"the users' servers would run {python}, but {closed} is closed to other users: install the course "
            f"where every user can read it (e.g. python3 -m venv /opt/nnlab) and set {contracts.HUB_PYTHON.name} "
            "to that environment's python")
    exchange = Path(contracts.EXCHANGE.get() or DEFAULT_HUB_EXCHANGE)
    if not exchange.is_absolute():
        raise HubConfigurationError(f"{contracts.EXCHANGE.name}={exchange}: the exchange must be an absolute path")
    course = contracts.HUB_COURSE.get()
    if not (course.startswith("/") or course == "~" or course.startswith("~/")):
        raise HubConfigurationError(f"{contracts.HUB_COURSE.name}={course}: give an absolute path or one under ~/")
    return HubClass(course_id, exchange, instructors, contracts.HUB_CLASS_GROUP.get(), python, course)


def prepare_exchange(exchange: Path) -> None:
    """Create the exchange as nbgrader needs it: everyone may write, no one may remove another's files.

    nbgrader refuses an exchange that is not writable by all (``ugo+rwx``); the sticky bit keeps
    a user from deleting or renaming what another put there.
    """
    exchange.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(exchange.stat().st_mode)
    wanted = 0o777 | stat.S_ISVTX
    if mode != wanted:
        os.chmod(exchange, wanted)


def unreachable_by_others(path: Path) -> Path | None:
    """The first folder on the way to ``path`` that other users cannot enter, or None.

    Each user's server runs the course's Python as that user: the interpreter, and every
    folder above it, must be open to them (``o+x``); a Python under ``/root`` is not.
    """
    path = path.resolve()
    for folder in [*reversed(path.parents), path if path.is_dir() else path.parent]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    return None
