"""Grading machines of their own, on one machine: a network namespace per worker, joined to
this machine by a veth pair, for the tests of grading on several machines.

Each "host" has its own interfaces, its own loopback and its own address (``10.231.N.2``);
this machine is ``10.231.1.1`` to all of them (the host of the scheduler and the gradebook,
as the instructor's and the database's machines would be). A worker in a namespace reaches
only what listens on that address, never this machine's loopback. Making namespaces needs
root and ``ip`` (iproute2); where either is missing, :func:`make_hosts` says why and the
tests fall back to workers on loopback in separate working folders.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field

#: The addresses the hosts use: 10.231.N.0/30 joins host N to this machine.
NETWORK = "10.231.0.0/16"


@dataclass
class Hosts:
    """Network namespaces joined to this machine; :meth:`remove` takes them down."""

    names: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # this machine's ends of the veth pairs

    #: what every host reaches this machine at (the scheduler and the gradebook listen here)
    here = "10.231.1.1"

    def address(self, index: int) -> str:
        return f"10.231.{index + 1}.2"

    def run(self, index: int) -> list[str]:
        """The prefix that runs a command on host ``index``."""
        return ["ip", "netns", "exec", self.names[index]]

    def remove(self) -> None:
        for name in self.names:  # a namespace's end takes its side of the veth pair, and so the pair
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        for link in self.links:  # a pair whose other end never reached its namespace
            subprocess.run(["ip", "link", "delete", link], capture_output=True)


def make_hosts(count: int) -> tuple[Hosts | None, str]:
    """``count`` hosts, or None and the reason they cannot be made here."""
    if os.geteuid() != 0:
        return None, "network namespaces need root"
    if shutil.which("ip") is None:
        return None, "iproute2's ip is not installed"
    hosts = Hosts()
    tag = secrets.token_hex(2)
    try:
        for index in range(count):
            name, outside, inside = f"nnlab-{tag}-h{index}", f"nnh{tag}{index}", f"nnh{tag}{index}i"
            subnet = index + 1
            for command in (
                ["ip", "netns", "add", name],
                ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside],
                ["ip", "link", "set", inside, "netns", name],
                ["ip", "addr", "add", f"10.231.{subnet}.1/30", "dev", outside],
                ["ip", "link", "set", outside, "up"],
                ["ip", "-n", name, "addr", "add", f"10.231.{subnet}.2/30", "dev", inside],
                ["ip", "-n", name, "link", "set", inside, "up"],
                ["ip", "-n", name, "link", "set", "lo", "up"],
                # everything else, this machine's 10.231.1.1 included, through this machine
                ["ip", "-n", name, "route", "add", "default", "via", f"10.231.{subnet}.1"],
            ):
                if command[:3] == ["ip", "netns", "add"]:
                    hosts.names.append(name)
                if command[:3] == ["ip", "link", "add"]:
                    hosts.links.append(outside)
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    raise OSError(f"{' '.join(command)}: {done.stderr.strip()}")
    except OSError as error:
        hosts.remove()
        return None, f"network namespaces cannot be made here ({error})"
    return hosts, ""
