"""A class on a real JupyterHub on loopback, for tests/grader/test_hub.py.

The hub runs ``hub/jupyterhub_config.py`` as it is, behind the proxy from ``hub/package.json``,
with a test file loaded after it that changes only what a test must: one password for the
test's accounts in place of each one's Unix password (who may log in is still the recipe's
rule: the class's group and the instructors), ports on 127.0.0.1, the hub's state in a
temporary folder, and a service whose token starts servers and issues each user's token
(what logging in at the hub's page would give them). Users are real Unix accounts made for
the test, in a group made for it (their servers run as them, which is what keeps one
student's files from another), and removed after it; so is one account outside the class.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "hub" / "jupyterhub_config.py"
PROXY = ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"


def why_not_here() -> str | None:
    """Why a class cannot be run on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "the hub test makes Unix accounts and starts servers as them: it must run as root"
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "pgrep", "runuser", "node", "bwrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make test installs what it can: make hub-deps, make sandbox-deps)"
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    if not re.match(r"v(\d+)", node) or int(re.match(r"v(\d+)", node).group(1)) < 20:
        return f"configurable-http-proxy needs Node.js 20 or newer; this machine has {node or 'none that runs'}"
    if not PROXY.exists():
        return f"{PROXY} is missing: run make hub-deps (npm ci in hub/)"
    from coursegrader.hub import unreachable_by_others

    if any(unreachable_by_others(p) for p in needed_by_every_user()):
        # the hub will need a mount namespace of its own: try to make one
        tried = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True) \
            if shutil.which("unshare") else None
        if tried is None or tried.returncode != 0:
            return ("the course lies in a folder closed to other users, and no mount namespace can be made here "
                    f"to open it to them ({tried.stderr.strip() if tried else 'unshare is not installed'})")
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LoopbackClass:
    """Three students and an instructor on a running hub."""

    base: Path
    url: str
    service_token: str
    students: list[str]
    instructor: str
    exchange: Path
    course_id: str
    password: str = ""  # everyone's, at the hub's login page
    class_group: str = ""
    outsider: str = ""  # an account of the machine, not in the class
    hub: subprocess.Popen | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ the hub's own API
    def hub_api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api/{path}", timeout=60,
                                headers={"Authorization": f"token {self.service_token}"}, **kwargs)

    def start_server(self, user: str, timeout: float = 300.0) -> None:
        """Start ``user``'s server through the hub and wait until it answers (the user is added first,
        as their first login would add them)."""
        if self.hub_api("GET", f"users/{user}").status_code == 404:
            added = self.hub_api("POST", f"users/{user}")
            assert added.status_code == 201, f"adding {user}: {added.status_code} {added.text}"
        answer = self.hub_api("POST", f"users/{user}/server")
        assert answer.status_code in (201, 202), f"starting {user}'s server: {answer.status_code} {answer.text}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.hub_api("GET", f"users/{user}").json().get("servers", {}).get("", {})
            if server.get("ready"):
                return
            if not server.get("pending") and not server.get("ready"):
                raise AssertionError(f"{user}'s server stopped while starting:\n{self.log_tail()}")
            time.sleep(0.5)
        raise AssertionError(f"{user}'s server did not start in {timeout:.0f} s:\n{self.log_tail()}")

    def token(self, user: str) -> str:
        """A token of ``user``'s own, as logging in at the hub would give them."""
        if user not in self.tokens:
            answer = self.hub_api("POST", f"users/{user}/tokens", json={"note": "class test", "expires_in": 3600})
            assert answer.status_code == 201, answer.text
            self.tokens[user] = answer.json()["token"]
        return self.tokens[user]

    # ------------------------------------------------------------------ a user's server
    def on_server(self, user: str, method: str, path: str, as_user: str | None = None, **kwargs) -> requests.Response:
        """A request to ``user``'s server, made with ``as_user``'s token (default: the owner's)."""
        token = self.token(as_user or user)
        return requests.request(method, f"{self.url}/user/{user}/{path}", timeout=600, allow_redirects=False,
                                headers={"Authorization": f"token {token}"}, **kwargs)

    def terminal(self, user: str, command: str, timeout: float = 900.0) -> tuple[int, str]:
        """Run ``command`` in a terminal of ``user``'s JupyterLab; its exit status and output."""
        import websocket

        created = self.on_server(user, "POST", "api/terminals")
        assert created.status_code == 200, f"opening a terminal: {created.status_code} {created.text}"
        name = created.json()["name"]
        ws_url = self.url.replace("http://", "ws://") + f"/user/{user}/terminals/websocket/{name}"
        connection = websocket.create_connection(ws_url, timeout=timeout,
                                                 header=[f"Authorization: token {self.token(user)}"])
        marker = f"__done_{secrets.token_hex(4)}__"
        output = ""
        try:
            connection.send(json.dumps(["stdin", f"{command}; echo {marker}$?\r"]))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = json.loads(connection.recv())
                if message[0] == "stdout":
                    output += message[1]
                    found = re.search(re.escape(marker) + r"(\d+)", output)
                    if found:
                        return int(found.group(1)), output
            raise AssertionError(f"{command!r} did not finish in {timeout:.0f} s:\n{output[-3000:]}")
        finally:
            connection.close()
            self.on_server(user, "DELETE", f"api/terminals/{name}")

    # ------------------------------------------------------------------ files, as the users
    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    def as_user(self, user: str, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", user, "--", *command], capture_output=True, text=True)

    def log_tail(self) -> str:
        log = self.base / "hub" / "jupyterhub.log"
        return log.read_text(errors="replace")[-6000:] if log.exists() else "(no hub log)"

    # ------------------------------------------------------------------ the class's life
    def stop(self) -> None:
        if self.hub is not None and self.hub.poll() is None:
            self.hub.terminate()  # the hub stops the users' servers and its proxy on the way out
            try:
                self.hub.wait(60)
            except subprocess.TimeoutExpired:
                self.hub.kill()
                self.hub.wait(10)
        pid_file = self.base / "hub" / "proxy.pid"
        if pid_file.exists():
            subprocess.run(["kill", pid_file.read_text().strip()], capture_output=True)
        users = [*self.students, self.instructor, self.outsider]
        left = []
        for user in filter(None, users):
            # userdel refuses an account that still has processes: end them, and wait until they are gone
            deadline = time.monotonic() + 30
            while subprocess.run(["pgrep", "-u", user], capture_output=True).returncode == 0:
                subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            gone = subprocess.run(["userdel", "--remove", user], capture_output=True, text=True)
            if gone.returncode not in (0, 6):  # 6: no such user (never made)
                left.append(f"{user}: {gone.stderr.strip()}")
        if self.class_group:
            subprocess.run(["groupdel", self.class_group], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
        assert not left, f"accounts the test could not remove: {left}"


def make_user(name: str, homes: Path, groups: tuple[str, ...] = ()) -> None:
    subprocess.run(["useradd", "--create-home", "--home-dir", str(homes / name), "--shell", "/bin/bash",
                    "--user-group", *(["--groups", ",".join(groups)] if groups else []), name],
                   check=True, capture_output=True)
    os.chmod(homes / name, 0o700)  # one user's files closed to the others, whatever useradd's default


def needed_by_every_user() -> list[Path]:
    """What each user's server runs from: the Python installation, the course's environment, the course."""
    paths = {Path(os.path.realpath(sys.executable)).parents[1], Path(sys.prefix), ROOT}
    # a folder inside another one on the list comes with it
    return sorted(p for p in paths if not any(q != p and q in p.parents for q in paths))


def open_view(base: Path) -> list[str]:
    """The command prefix that runs the hub where every user sees the course; [] when they already do.

    On a machine where the course or its Python lies in a folder closed to other users (a
    Python under /root, a checkout in a private folder), the hub and everything it starts
    run in a mount namespace of their own, where each closed folder is replaced by an open
    one holding, at the same paths, only what the servers need. Nothing changes outside it.
    """
    from coursegrader.hub import unreachable_by_others

    lines = ["set -e"]
    closed: dict[Path, Path] = {}  # closed folder -> where its contents stay reachable by root
    for path in needed_by_every_user():
        blocker = unreachable_by_others(path)
        if blocker is None:
            continue
        if blocker == path:
            raise AssertionError(f"{path} itself is closed to other users: make it o+rx to run a class from it")
        if blocker not in closed:
            closed[blocker] = base / "closed" / str(len(closed))
            lines += [f"mkdir -p '{closed[blocker]}'", f"mount --bind '{blocker}' '{closed[blocker]}'",
                      f"mount -t tmpfs -o mode=755 tmpfs '{blocker}'"]
        inside = closed[blocker] / path.relative_to(blocker)
        lines += [f"mkdir -p '{path}'", f"mount --bind '{inside}' '{path}'"]
    if not closed:
        return []
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join([*lines, 'exec "$@"']), "hub"]


def start_class(course: Path, assignment: str, n_students: int = 4) -> LoopbackClass:
    """Accounts, the instructor's course (``assignment`` alone), the exchange, and the hub, started."""
    from coursegrader.course_config import course_id

    base = Path(tempfile.mkdtemp(prefix="nnlab-hub-", dir="/tmp"))
    os.chmod(base, 0o755)
    tag = secrets.token_hex(3)
    students = [f"nnst{tag}{i}" for i in range(1, n_students + 1)]
    instructor = f"nnin{tag}"
    service_token = secrets.token_hex(32)
    port = free_port()
    loopback = LoopbackClass(base, f"http://127.0.0.1:{port}", service_token, students, instructor,
                             base / "exchange", course_id(course), password=secrets.token_hex(16),
                             class_group=f"nncl{tag}", outsider=f"nnout{tag}")
    try:
        homes = base / "home"
        homes.mkdir()
        os.chmod(homes, 0o755)
        subprocess.run(["groupadd", loopback.class_group], check=True, capture_output=True)
        for user in students:
            make_user(user, homes, groups=(loopback.class_group,))
        make_user(instructor, homes)
        make_user(loopback.outsider, homes)
        # the instructor's course: the course's configuration and one assignment's source
        mine = homes / instructor / "course" / "exercises"
        (mine / "source").mkdir(parents=True)
        shutil.copy(course / "nbgrader_config.py", mine / "nbgrader_config.py")
        shutil.copytree(course / "source" / assignment, mine / "source" / assignment)
        subprocess.run(["chown", "-R", f"{instructor}:{instructor}", str(homes / instructor)], check=True)
        prefix = open_view(base)
        state = base / "hub"
        state.mkdir()
        (state / "jupyterhub_test_config.py").write_text(f"""
load_subconfig({str(RECIPE)!r})
# what the test changes: the password, ports, the hub's state, a service that hands out tokens
from jupyterhub.auth import PAMAuthenticator


class ClassPasswordAuthenticator(PAMAuthenticator):
    # the recipe's logins with one password for the test's accounts; who may log in is the recipe's rule
    async def authenticate(self, handler, data):
        return data["username"] if data.get("password") == {loopback.password!r} else None


c.JupyterHub.authenticator_class = ClassPasswordAuthenticator
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.pid_file = {str(state / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{state / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(state / "cookie_secret")!r}
c.JupyterHub.pid_file = {str(state / "jupyterhub.pid")!r}
c.JupyterHub.services = [{{"name": "class-test", "api_token": {service_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "class-test", "services": ["class-test"],
                             "scopes": ["admin:users", "admin:servers", "tokens", "list:users"]}}]
""")
        env = {**os.environ,
               "NNLAB_HUB_INSTRUCTORS": instructor,
               "NNLAB_HUB_CLASS_GROUP": loopback.class_group,
               "NNLAB_HUB_PYTHON": sys.executable,
               "NNLAB_EXCHANGE": str(loopback.exchange)}
        with open(state / "jupyterhub.log", "w") as log:  # the hub keeps its own copy of the handle
            loopback.hub = subprocess.Popen(
                [*prefix, str(Path(sys.executable).parent / "jupyterhub"), "-f",
                 str(state / "jupyterhub_test_config.py")], cwd=state, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            if loopback.hub.poll() is not None:
                raise AssertionError(f"the hub exited with {loopback.hub.returncode}:\n{loopback.log_tail()}")
            try:
                if loopback.hub_api("GET", "").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the hub did not answer in 120 s:\n{loopback.log_tail()}")
            time.sleep(0.5)
    except BaseException:
        loopback.stop()
        raise
    return loopback
