"""Calls across the wire behave as calls in one process would: arguments changed in place,
identity, autograd, callbacks, random state; a delegation or an unreadable answer ends the task."""
from __future__ import annotations

import io
import math
import socket
import threading
import time

import pytest
import torch
from torch import nn

from coursegrader import contracts
from coursegrader.check import remote, runner, wire
from coursegrader.check.remote import RemoteObject, TaskAborted
from coursegrader.check.wire import WireError

STUDENT = """
import torch
from torch import nn


def fill_(w, value):
    with torch.no_grad():
        w.fill_(value)
    return w


def scaled(x, k=2.0):
    return x * k


def rescale_grads_(params, factor):
    for p in params:
        if p.grad is not None:
            p.grad.mul_(factor)


def count(items):
    return sum(1 for _ in items)


def freeze_(model):
    for p in model.parameters():
        p.requires_grad_(False)
    model.head = nn.Linear(3, 2)
    return model


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.full((3,), 2.0))

    def forward(self, x):
        return x * self.weight


class Stepper:
    def __init__(self, params):
        self.params = list(params)

    def step(self, closure):
        loss = closure()
        with torch.no_grad():
            for p in self.params:
                p.sub_(0.5 * p.grad)
        return loss


def noise(n):
    return torch.randn(n)


def grad_mode():
    return torch.is_grad_enabled()


def running_mean(model):
    return model[1].running_mean.clone()


def forward_in_training(model, x):
    model.train()(x)


def delegate(w):
    try:
        return torch.nn.init.xavier_uniform_(w)
    except BaseException:
        return w  # a refusal swallowed is still seen
"""


@pytest.fixture(autouse=True)
def _restore_xavier():
    original = torch.nn.init.xavier_uniform_
    yield
    torch.nn.init.xavier_uniform_ = original


@pytest.fixture
def session():
    """A fresh run's server on one end of a socket pair (in a thread), the probes' session on the other."""
    namespace: dict = {"__name__": contracts.STUDENT_MODULE}
    exec(compile(STUDENT, f"{contracts.STUDENT_FILE}cell>", "exec"), namespace)  # noqa: S102
    torch.nn.init.xavier_uniform_ = runner._tripwire(torch.nn.init.xavier_uniform_, "torch.nn.init.xavier_uniform_",
                                                          frozenset({"torch.nn.init.xavier_uniform_"}))
    names = ("fill_", "scaled", "rescale_grads_", "count", "freeze_", "Twice", "Stepper", "noise", "grad_mode", "delegate", "running_mean",
             "forward_in_training")
    students = {name: namespace[name] for name in names}
    ours, theirs = socket.socketpair()
    server = runner.Server(wire.Channel(theirs), namespace, students, {}, {}, {})
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    channel = wire.Channel(ours)

    def open_task(name):
        return remote.begin(channel, name, time.monotonic() + 60)[1]

    try:
        yield open_task
    finally:
        channel.send(("bye",))
        thread.join(timeout=10)
        channel.close()


def test_an_argument_changed_in_place_is_seen_and_a_returned_argument_is_the_same_object(session):
    fill_ = session("fill_")
    w = nn.Parameter(torch.empty(4, 5))
    returned = fill_(w, 0.25)
    assert returned is w and torch.equal(w.detach(), torch.full((4, 5), 0.25)) and w.requires_grad
    x = torch.ones(3)
    y = session("scaled")(x, k=3.0)
    assert y is not x and torch.equal(y, torch.full((3,), 3.0)) and torch.equal(x, torch.ones(3))


def test_gradients_flow_back_through_a_result_computed_in_the_fresh_run(session):
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = session("scaled")(x, k=2.5)
    assert y.requires_grad
    y.pow(2).sum().backward()
    assert torch.allclose(x.grad, 2 * 2.5 * 2.5 * x.detach())
    # a module of the student's class: its parameters come back with their gradients
    layer = session("Twice")()
    assert isinstance(layer, nn.Module) and type(layer) is RemoteObject
    out = layer(torch.ones(3, requires_grad=True))
    out.sum().backward()
    assert torch.equal(layer.weight.grad, torch.ones(3))


def test_gradients_rescaled_in_the_fresh_run_are_the_probes_own_gradient_objects(session):
    model = nn.Linear(3, 2)
    model(torch.randn(4, 3)).sum().backward()
    held = [p.grad for p in model.parameters()]
    before = [g.clone() for g in held]
    session("rescale_grads_")(model.parameters(), 0.5)  # a generator: sent as its items
    assert all(p.grad is g for p, g in zip(model.parameters(), held))
    assert all(torch.allclose(g, 0.5 * b) for g, b in zip(held, before))


def test_modules_are_rebuilt_and_what_the_student_replaced_comes_back(session):
    model = nn.Sequential()
    model.body = nn.Linear(4, 3)
    model.head = nn.Linear(3, 5)
    old_head = model.head
    assert session("freeze_")(model) is model
    assert not any(p.requires_grad for p in model.body.parameters())
    assert isinstance(model.head, nn.Linear) and model.head is not old_head and model.head.out_features == 2
    assert session("count")(iter(range(7))) == 7


def test_statistics_written_without_a_new_version_still_cross(session):
    # BatchNorm updates its running statistics in place without counting a version of the tensor
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    assert torch.equal(session("running_mean")(model), torch.zeros(3))
    version = model[1].running_mean._version
    model.train()(torch.randn(8, 4) + 5)
    assert model[1].running_mean._version == version and not torch.equal(model[1].running_mean, torch.zeros(3))
    assert torch.equal(session("running_mean")(model), model[1].running_mean), "the fresh run saw stale statistics"
    before = model[1].running_mean.clone()
    session("forward_in_training")(model, torch.randn(8, 4) - 5)
    assert not torch.equal(model[1].running_mean, before), "the statistics the fresh run wrote did not come back"


def test_a_student_module_fits_in_the_probes_sequential(session):
    net = nn.Sequential(nn.Identity(), session("Twice")())
    assert len(list(net.parameters())) == 1
    assert torch.equal(net(torch.ones(3)), torch.full((3,), 2.0))
    net.eval()
    assert net[1].training is False


def test_callbacks_run_in_the_grader_and_the_student_sees_their_effects(session):
    w = nn.Parameter(torch.tensor([1.0, 2.0]))
    calls = []

    def closure():
        calls.append(1)
        w.grad = None
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    stepper = session("Stepper")([w])
    for _ in range(3):
        loss = stepper.step(closure)
    assert len(calls) == 3 and isinstance(loss, torch.Tensor)
    assert torch.allclose(w.detach(), torch.tensor([1.0, 2.0]) * 0.0)  # p - 0.5 * 2p = 0 after the first step


def test_the_random_state_and_autograd_mode_cross_with_the_call(session):
    torch.manual_seed(7)
    remote_draw = session("noise")(5)
    after_remote = torch.rand(1)
    torch.manual_seed(7)
    assert torch.equal(remote_draw, torch.randn(5)) and torch.equal(after_remote, torch.rand(1))
    grad_mode = session("grad_mode")
    with torch.no_grad():
        assert grad_mode() is False
    assert grad_mode() is True


def test_a_swallowed_delegation_still_ends_the_task(session):
    with pytest.raises(TaskAborted, match="your code called torch.nn.init.xavier_uniform_"):
        session("delegate")(torch.empty(3, 3))


def test_an_answer_the_grader_cannot_read_ends_the_task_not_the_grader():
    ours, theirs = socket.socketpair()
    try:
        s = remote.Session(wire.Channel(ours), time.monotonic() + 5)
        proxy = RemoteObject(s, 1, {"name": "f", "mro": []})
        theirs.sendall(wire.HEADER.pack(3) + b"abc")
        with pytest.raises(WireError):
            proxy(1)
        # a state claiming an object of a class the grader does not rebuild
        data = wire.dumps(("value", ("m", -1), {"states": {-1: ("m", "os.system", True, [], [], [], [], ([], []))},
                                                "forgotten": []}, wire.context()))
        theirs.sendall(wire.HEADER.pack(len(data)) + data)
        with pytest.raises(WireError, match="does not rebuild"):
            proxy(1)
    finally:
        ours.close()
        theirs.close()


def test_observations_keep_no_remote_object(session):
    layer = session("Twice")()
    saved = io.BytesIO()
    torch.save(remote.materialize({"visible": [{"call": "c", "result": layer}]}), saved)
    loaded = torch.load(io.BytesIO(saved.getvalue()), weights_only=True)
    assert loaded["visible"][0]["result"] == "<Twice object in the submission>"
    assert math.isfinite(float(session("scaled")(torch.tensor(2.0))))
