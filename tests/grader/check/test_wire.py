"""The wire between the probes and the fresh run: plain data only, bounded before it is read."""
from __future__ import annotations

import os
import pickle
import socket
import time

import pytest
import torch

from coursegrader.check import wire
from coursegrader.check.wire import WireError

def test_messages_are_plain_data_only():
    assert wire.loads(wire.dumps(("value", [1, 2.5, "x", b"y", None, {"k": (True,)}]))) == ("value", [1, 2.5, "x", b"y", None, {"k": (True,)}])
    # a pickle that would call a function (os.system) is refused before anything runs
    evil = pickle.dumps(_Evil())
    with pytest.raises(WireError, match="only plain data"):
        wire.loads(evil)
    with pytest.raises(WireError):
        wire.loads(b"\x80\x05garbage")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_message_over_the_limit_is_refused_before_it_is_read():
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(wire.HEADER.pack(wire.MAX_MESSAGE_BYTES + 1))
        with pytest.raises(WireError, match="more than the"):
            wire.Channel(ours).receive(time.monotonic() + 5)
        with pytest.raises(wire.WireTimeout):
            wire.Channel(ours).receive(time.monotonic() + 0.2)  # nothing more comes: the deadline ends the wait
    finally:
        ours.close()
        theirs.close()


def test_tensors_are_checked_before_they_are_built():
    t = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    assert torch.equal(wire.tensor_from(wire.tensor_data(t)), t)
    assert torch.equal(wire.tensor_from(wire.tensor_data(torch.zeros(1).expand(4))), torch.zeros(4))  # sent in full
    with pytest.raises(WireError, match="bytes do not match"):
        wire.tensor_from(("float32", [1000], b"\x00" * 4))
    with pytest.raises(WireError, match="more than the"):
        wire.tensor_from(("float32", [2**20, 2**20], b""))
    with pytest.raises(WireError, match="unknown dtype"):
        wire.tensor_from(("object", [1], b"x"))
