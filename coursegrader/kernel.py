"""The notebook's kernel, started in the sandbox (:mod:`coursegrader.sandbox`).

While a submission is autograded, nbgrader itself (which reads the hidden tests and writes
the gradebook) runs as usual; only the kernel, where the student's code executes, is
started inside bubblewrap. It talks to nbgrader over Unix sockets in its private folder
(the sandbox has no network for TCP) and is interrupted by message (signals do not cross
into the sandbox's own session).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from coursegrader import sandbox


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel inside the sandbox."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._private = Path(tempfile.mkdtemp(prefix="nnlab-kernel-"))
        (self._private / "work").mkdir()
        (self._private / "ipc").mkdir()  # the kernel's sockets: the only folder it may write outside its scratch space
        self._cgroup: sandbox.Cgroup | None = None
        self.transport = "ipc"
        self.ip = str(self._private / "ipc" / "kernel")
        if self.kernel_spec is not None:
            self.kernel_spec.interrupt_mode = "message"

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        argv = super().format_kernel_cmd(extra_arguments)
        # The sandbox sees only its own connection file, not those of other kernels.
        private_connection = self._private / "connection.json"
        shutil.copy(self.connection_file, private_connection)
        argv = [str(private_connection) if arg == self.connection_file else arg for arg in argv]
        limits = sandbox.Limits.from_environment()
        self._cgroup = sandbox.process_cgroup(limits)
        return sandbox.command(argv, self._private, limits, self._cgroup, writable=("ipc",))

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._private, ignore_errors=True)
            if self._cgroup is not None:
                sandbox.kill_cgroup(self._cgroup)  # whatever the kernel left running (forked children)
