"""The grader's end of the wire: the probes call the student's functions across a process boundary.

A probe receives, for the student's function or class, a :class:`RemoteObject`: calling it,
reading an attribute, iterating over it send a message to the fresh run
(:mod:`coursegrader.check.runner`), which does the same to the real object and answers. The
probe itself, the inputs it draws from its key, and the observations it records stay in the
grader's process: the student's code sees only the concrete arguments of each call, one call at
a time, never a seed or a key, and cannot reach the code that judges it.

What comes back is plain data (:mod:`coursegrader.check.wire`): a value, the name of the
built-in exception class it raised, or the state of an argument it changed. An answer the
grader cannot read, a delegation caught by a tripwire, or no answer in time ends the task
(:class:`TaskAborted`), not the grader.
"""
from __future__ import annotations

import builtins
import time

import torch

from coursegrader.check import wire
from coursegrader.check.wire import Mirror, WireError


class TaskAborted(BaseException):
    """The probe of a task ends here; the message is for the student. A BaseException: the
    probes' ``attempt`` (which records an ``Exception`` as an observation) does not catch it."""


def exception_named(name: object) -> BaseException:
    """An instance of the built-in exception class ``name`` (RuntimeError for any other name)."""
    cls = getattr(builtins, name, None) if type(name) is str else None
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        cls = RuntimeError
    try:
        return cls("raised by the submitted code")
    except Exception:  # noqa: BLE001 - a class whose constructor needs more arguments
        return cls.__new__(cls)


class RemoteObject:
    """An object that lives in the fresh run (the student's function, class, instance...)."""

    __slots__ = ("_rpc_session", "_rpc_handle", "_rpc_type", "__weakref__")

    def __init__(self, session: "Session", handle: int, type_info: dict):
        object.__setattr__(self, "_rpc_session", session)
        object.__setattr__(self, "_rpc_handle", handle)
        object.__setattr__(self, "_rpc_type", type_info)

    @property
    def __class__(self):
        # isinstance() consults __class__: an instance of the student's nn.Module subclass passes
        # isinstance(x, nn.Module), so that it fits in an nn.Sequential the probe builds.
        return self._rpc_session.class_of(self._rpc_type)

    def __getattr__(self, name: str):
        if name.startswith("_rpc_"):
            raise AttributeError(name)
        return self._rpc_session.request("getattr", (self, name))

    def __setattr__(self, name: str, value) -> None:
        self._rpc_session.request("setattr", (self, name, value))

    def __call__(self, *args, **kwargs):
        return self._rpc_session.request("call", (self, args, kwargs))

    def _rpc_op(self, op: str, *args):
        return self._rpc_session.request("op", (self, op, args))

    def __iter__(self):
        return iter(self._rpc_op("iter"))

    def __len__(self):
        return self._rpc_op("len")

    def __bool__(self):
        return self._rpc_op("bool")

    def __float__(self):
        return self._rpc_op("float")

    def __int__(self):
        return self._rpc_op("int")

    def __index__(self):
        return self._rpc_op("index")

    def __getitem__(self, key):
        return self._rpc_op("getitem", key)

    def __contains__(self, item):
        return self._rpc_op("contains", item)

    def __repr__(self) -> str:
        return f"<{self._rpc_type.get('name', 'object')} object in the submission>"

    __str__ = __repr__

    def __reduce__(self):  # an observation holding it is saved as its description
        return (str, (repr(self),))


def materialize(value: object, depth: int = 0) -> object:
    """An observation with every remote object replaced by its description."""
    if depth > wire.MAX_DEPTH:
        return "<nested too deeply>"
    if type(value) is RemoteObject:
        return repr(value)
    if type(value) in (list, tuple):
        return type(value)(materialize(v, depth + 1) for v in value)
    if type(value) is dict:
        return {materialize(k, depth + 1): materialize(v, depth + 1) for k, v in value.items()}
    return value


class Session:
    """The grader's end of one task's probe: its mirrored objects, its callbacks, its deadline."""

    def __init__(self, channel: wire.Channel, deadline: float):
        self.channel = channel
        self.deadline = deadline
        self.mirror = Mirror(trusted=True, peer=self)
        self.callbacks: dict[int, object] = {}
        self.callback_ids: dict[int, int] = {}
        self.proxies: dict[int, RemoteObject] = {}
        self._classes: dict[tuple, type] = {}

    # ---- the peer interface of the mirror
    def outside(self, value: object) -> tuple:
        if type(value) is RemoteObject:
            if value._rpc_session is not self:
                raise TaskAborted("an object of another task's check was passed on")
            return ("h", value._rpc_handle)
        if callable(value):
            key = self.callback_ids.get(id(value))
            if key is None or self.callbacks.get(key) is not value:
                key = len(self.callbacks) + 1
                self.callbacks[key] = value
                self.callback_ids[id(value)] = key
            return ("c", key)
        raise TypeError(f"the check cannot send a {type(value).__name__} to the submission")

    def inside(self, value: tuple) -> object:
        tag = value[0]
        if tag == "h" and len(value) == 3 and type(value[1]) is int and type(value[2]) is dict:
            proxy = self.proxies.get(value[1])
            if proxy is None:
                info = value[2]
                type_info = {"name": str(info.get("name", "object"))[:100],
                             "mro": [str(c)[:300] for c in info.get("mro", [])][:64] if type(info.get("mro")) is list else []}
                proxy = self.proxies[value[1]] = RemoteObject(self, value[1], type_info)
            return proxy
        if tag == "c" and len(value) == 2 and value[1] in self.callbacks:
            return self.callbacks[value[1]]
        raise WireError("a value of an unknown kind")

    def class_of(self, type_info: dict) -> type:
        key = tuple(type_info.get("mro", ()))
        if key not in self._classes:
            found = next((cls for cls in (wire.trusted_class(path, object) for path in key) if cls is not None), None)
            self._classes[key] = found if found is not None else RemoteObject
        return self._classes[key]

    def gradients(self, wire_id: int, input_ids: list, upstream: torch.Tensor) -> list:
        grads = self.request("grad", (wire_id, input_ids, upstream.detach()))
        if not isinstance(grads, (tuple, list)) or len(grads) != len(input_ids):
            raise TaskAborted("the submission's backward pass answered something that is not a list of gradients")
        return list(grads)

    # ---- messages
    def _send(self, kind: str, body: object) -> None:
        encoded = self.mirror.encode(body)
        self.channel.send((kind, encoded, self.mirror.outgoing(), wire.context()))

    def request(self, kind: str, body: object) -> object:
        """Send one request and serve the fresh run's callbacks until its answer comes."""
        grad_mode = torch.is_grad_enabled()
        self._send(kind, body)
        try:
            return self._await()
        finally:
            torch.set_grad_enabled(grad_mode)

    def _await(self) -> object:
        while True:
            message = self.channel.receive(self.deadline)
            if type(message) is not tuple or not message or type(message[0]) is not str:
                raise WireError("an answer that is not one")
            kind = message[0]
            if kind == "abort" and len(message) == 2:
                raise TaskAborted(str(message[1])[:500])
            if kind not in ("value", "raised", "callback") or len(message) != 4:
                raise WireError("an answer of an unknown kind")
            _, body, sync, ctx = message
            self.mirror.incoming(sync)
            wire.enter(ctx)
            if kind == "value":
                return self.mirror.decode(body)
            if kind == "raised":
                raise exception_named(body)
            call = self.mirror.decode(body)
            if type(call) is not tuple or len(call) != 3 or type(call[2]) is not dict:
                raise WireError("a callback that is not one")
            target, args, kwargs = call
            if not any(target is cb for cb in self.callbacks.values()):
                raise WireError("a callback to something the grader never sent")
            try:
                result = target(*args, **kwargs)
            except (TaskAborted, WireError):
                raise
            except BaseException as error:  # noqa: BLE001 - the grader's function raised: the submission sees it
                self._send("raise", wire.builtin_name(error))
            else:
                self._send("reply", result)


def begin(channel: wire.Channel, task: str, deadline: float) -> tuple[Session, RemoteObject]:
    """Start probing ``task``: its session and the student's function or class as a remote object."""
    session = Session(channel, deadline)
    channel.send(("begin", task))
    message = channel.receive(deadline)
    if type(message) is tuple and len(message) == 2 and message[0] in ("error", "abort"):
        raise TaskAborted(str(message[1])[:500])
    if not (type(message) is tuple and len(message) == 4 and message[0] == "ready"):
        raise WireError("the submission did not start the task")
    session.mirror.incoming(message[2])
    impl = session.mirror.decode(message[1])
    return session, impl


def end(channel: wire.Channel, deadline: float) -> None:
    channel.send(("end",))
    message = channel.receive(deadline)
    if message != ("ended",):
        raise WireError("the submission did not end the task")


def remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
