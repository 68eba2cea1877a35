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

import grp
import os
import pwd
import shutil
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
    instructors: tuple[str, ...]  # the first one owns the course's folder in the exchange
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
    instructors = tuple(dict.fromkeys(name.strip() for name in contracts.HUB_INSTRUCTORS.get().split(",") if name.strip()))
    if not instructors:
        raise HubConfigurationError(
            f"{contracts.HUB_INSTRUCTORS.name} names no one: a class needs the instructor who hands out and grades "
            "(a user name of this machine; several, comma-separated)")
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
            "where every user can read it, with a Python they can run (git clone ... /opt/nnlab; make env "
            f"PYTHON=/usr/bin/python3), and set {contracts.HUB_PYTHON.name}=/opt/nnlab/.venv/bin/python")
    exchange = Path(contracts.EXCHANGE.get() or DEFAULT_HUB_EXCHANGE)
    if not exchange.is_absolute():
        raise HubConfigurationError(f"{contracts.EXCHANGE.name}={exchange}: the exchange must be an absolute path")
    class_group = contracts.HUB_CLASS_GROUP.get()
    try:
        grp.getgrnam(class_group)
    except KeyError:
        raise HubConfigurationError(
            f"{contracts.HUB_CLASS_GROUP.name}={class_group}: no such group on this machine, so no student could "
            f"log in (groupadd {class_group}, then useradd -G {class_group} for each student)") from None
    for role in ("student", "instructor"):
        if not (ROLE_CONFIG / role / "nbgrader_config.py").is_file():
            raise HubConfigurationError(f"{ROLE_CONFIG / role} is missing: the course's hub/ folder is incomplete")
    course = contracts.HUB_COURSE.get()
    if not (course.startswith("/") or course == "~" or course.startswith("~/")):
        raise HubConfigurationError(f"{contracts.HUB_COURSE.name}={course}: give an absolute path or one under ~/")
    return HubClass(course_id, exchange, instructors, class_group, python, course)


#: The course's folders in the exchange and their modes, as nbgrader's own commands make them:
#: what is handed out is readable by all; students may hand in but not list what others handed in,
#: nor list the feedback (each fetches theirs by a name only they can compute).
COURSE_FOLDERS = {"": 0o755, "outbound": 0o755, "inbound": 0o2733, "feedback": 0o711}


def prepare_exchange(exchange: Path, course_id: str | None = None, owner: str | None = None) -> None:
    """Create the exchange as nbgrader needs it: everyone may write, no one may remove another's files.

    nbgrader refuses an exchange that is not writable by all (``ugo+rwx``); the sticky bit keeps
    a user from deleting or renaming what another put there. With ``course_id`` and ``owner``
    (the instructor who hands out), the course's own folder is made too, owned by them, before
    any student could take its name.
    """
    exchange.mkdir(parents=True, exist_ok=True)
    wanted = 0o777 | stat.S_ISVTX
    if stat.S_IMODE(exchange.stat().st_mode) != wanted:
        os.chmod(exchange, wanted)
    if course_id is None or owner is None:
        return
    course = exchange / course_id
    if course.exists() and course.stat().st_uid != pwd.getpwnam(owner).pw_uid:
        raise HubConfigurationError(
            f"{course} belongs to uid {course.stat().st_uid}, not to the instructor {owner}: remove it (a student "
            "may have made it to take the course's place) and start the hub again")
    for name, mode in COURSE_FOLDERS.items():
        folder = course / name if name else course
        folder.mkdir(exist_ok=True)
        shutil.chown(folder, owner, pwd.getpwnam(owner).pw_gid)
        os.chmod(folder, mode)


def unreachable_by_others(path: Path) -> Path | None:
    """The first folder on the way to ``path`` that other users cannot enter, or None.

    Each user's server runs the course's Python as that user: the interpreter, and every
    folder above it, must be open to them (``o+x``); a Python under ``/root`` is not.
    """
    # the path as given (a virtual environment's folders) and where it leads (the interpreter itself)
    for candidate in dict.fromkeys([Path(os.path.abspath(path)), path.resolve()]):
        for folder in [*reversed(candidate.parents), candidate if candidate.is_dir() else candidate.parent]:
            if not folder.stat().st_mode & stat.S_IXOTH:
                return folder
    return None
