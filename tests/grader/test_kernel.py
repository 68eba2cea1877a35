"""The sandboxed kernel: started through bubblewrap, on Unix sockets, with its own connection file."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coursegrader.kernel import SandboxKernelManager

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@needs_bwrap
def test_the_kernel_command_runs_in_the_sandbox_on_its_private_connection_file():
    manager = SandboxKernelManager(kernel_name="python3")
    try:
        assert manager.transport == "ipc" and manager.kernel_spec.interrupt_mode == "message"
        manager.write_connection_file()
        argv = manager.format_kernel_cmd()
        private = Path(manager.ip).parent.parent  # the kernel's sockets live in private/ipc
        assert Path(argv[0]).name in ("bwrap", "sh")  # bwrap, or the shell that joins the cgroup first
        assert "bwrap" in " ".join(argv) and "--unshare-all" in argv
        assert str(private / "connection.json") in argv and manager.connection_file not in argv
    finally:
        manager.cleanup_connection_file()
        shutil.rmtree(Path(manager.ip).parent, ignore_errors=True)
        if manager._cgroup is not None:
            from coursegrader.sandbox import kill_cgroup

            kill_cgroup(manager._cgroup)
