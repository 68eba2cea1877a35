"""A throwaway PostgreSQL server on loopback for the gradebook's tests.

Debian's ``postgresql`` package (``make postgres-deps``) provides ``initdb`` and ``pg_ctl``;
the server gets a fresh data folder, a free port on 127.0.0.1 and trust authentication
for one user, and is stopped (and its folder removed) when the tests end. PostgreSQL
refuses to run as root, so under root the server runs as the package's ``postgres`` user.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (the newest installed version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def postgres_server(user: str = "grader", database: str = "course", address: str = "127.0.0.1",
                    clients: str | None = None) -> Iterator[str]:
    """Start a server, create ``database`` owned by ``user``; yield its SQLAlchemy URL.

    It listens on loopback and on ``address`` (the URL's host), and lets in, besides loopback,
    the network ``clients`` (e.g. ``10.231.0.0/16``: grading machines of their own).
    """
    binaries = server_binaries()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL's initdb is not installed (make postgres-deps)")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    home = Path(tempfile.mkdtemp(prefix="gradebook-postgres-"))
    data, sockets = home / "data", home / "sockets"
    sockets.mkdir()
    home.chmod(0o755)
    if as_root:
        shutil.chown(home, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    log = home / "server.log"

    def run(*command: str) -> None:
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "--no-sync")
        if clients:
            with open(data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {clients} trust\n")
        listen = ",".join(dict.fromkeys(["127.0.0.1", address]))
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start", "-o",
            f"-c listen_addresses={listen} -p {port} -k {sockets} -c fsync=off -c max_connections=100")
        run(str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database)
        yield f"postgresql://{user}@{address}:{port}/{database}"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)
