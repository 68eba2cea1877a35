"""A Dask cluster for the tests and benchmark of grading on several machines: ``dask scheduler``
and ``dask worker`` processes, each worker in its own working folder as on a machine of its
own, without a nanny so that a killed worker stays dead. With ``hosts``
(:mod:`network_hosts`), each worker runs in a network namespace of its own and reaches the
scheduler over a veth pair; without, everything is on loopback."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from postgres_server import _free_port


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process listening on {port} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port} after {seconds} s")


class Cluster:
    """``dask scheduler`` and ``dask worker`` processes on loopback, stopped at the end."""

    def __init__(self, folder: Path, workers: int = 2, hosts=None):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.hosts = hosts
        self.host = hosts.here if hosts is not None else "127.0.0.1"
        self.port = _free_port()
        self.address = f"tcp://{self.host}:{self.port}"
        self.scheduler = self._start_scheduler("scheduler.log")
        self.workers = {f"w{i}": self._start_worker(f"w{i}", i) for i in range(workers)}

    def _start_scheduler(self, log: str) -> subprocess.Popen:
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", self.host, "--port",
             str(self.port), "--dashboard-address", ":0"],
            stdout=subprocess.DEVNULL, stderr=open(self.folder / log, "wb"))
        _wait_for_port(self.port, scheduler, host=self.host)
        return scheduler

    def _start_worker(self, name: str, index: int) -> subprocess.Popen:
        # each worker in its own working folder, as on a machine of its own; no nanny, so a
        # killed worker stays dead (a machine that never comes back)
        home = self.folder / name
        home.mkdir()
        where: list[str] = []
        listen: list[str] = []
        if self.hosts is not None:  # on a host of its own, listening at that host's address
            where = self.hosts.run(index)
            listen = ["--host", self.hosts.address(index)]
        return subprocess.Popen(
            [*where, sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--name", name,
             "--nthreads", "1", "--no-nanny", "--local-directory", str(home), "--dashboard-address", ":0", *listen],
            cwd=home, stdout=subprocess.DEVNULL, stderr=open(self.folder / f"{name}.log", "wb"))

    def restart_scheduler(self) -> None:
        """Kill the scheduler and start a new one at the same address. Dask workers exit when
        their scheduler goes away; their supervisor (systemd, in a real class) starts them again."""
        self.scheduler.kill()
        self.scheduler.wait(timeout=30)
        for process in self.workers.values():
            process.wait(timeout=60)
        self.scheduler = self._start_scheduler("scheduler-restarted.log")
        self.workers = {f"{name}-again": self._start_worker(f"{name}-again", index)
                        for index, name in enumerate(self.workers)}

    def client(self):
        from distributed import Client

        client = Client(self.address, timeout="30s", set_as_default=False)
        client.wait_for_workers(len(self.workers), timeout=60)
        return client

    def stop(self) -> None:
        for process in [*self.workers.values(), self.scheduler]:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
