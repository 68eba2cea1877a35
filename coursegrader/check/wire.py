"""The wire between the grader's probes and the student's functions, one process on each end.

The probes run in the grader's process; the student's cells run in the sandboxed fresh run
(:mod:`coursegrader.check.runner`). A probe calls a student's function through
:mod:`coursegrader.check.remote`, which sends the call across a socket; the fresh run calls the
function and answers. Each message is a length-prefixed pickle of plain data only (numbers,
strings, bytes, lists, tuples, dicts): the unpickler resolves no class, so a message cannot
make the grader run anything. Tensors travel as raw bytes with their dtype and shape, checked
against the limits before any tensor is built.

Objects that a call may change in place live on both ends as mirrors (:class:`Mirror`): a
tensor, an ``nn.Module`` of torch's or nnlab's own classes, a ``torch.Generator``, an optimizer
the probe made. Each has an id on the wire; every message carries the state of the mirrored
objects that changed on its sender's side since the last message, so that what the student's
code did to an argument (a weight filled in place, a ``.grad`` rescaled, a head replaced) is
seen by the probe, and what the probe did in between (a ``.grad`` set by its closure) is seen by
the student's code. Anything else the student's code hands back (an object of its own class,
a bound method, a generator) stays in the fresh run and is a handle on the wire; a function of
the probe's (a closure, a forward hook) is a callback.
"""
from __future__ import annotations

import collections.abc
import io
import pickle
import socket
import struct
import time
import weakref
import zlib

import torch
from torch import nn

from coursegrader import contracts

#: Bytes of one message either way; a larger one ends the run.
MAX_MESSAGE_BYTES = contracts.MAX_OBSERVATION_BYTES
#: Items a remote iterator may yield to the probe.
MAX_ITEMS = 100_000
#: Nesting of a value on the wire.
MAX_DEPTH = 40
#: Bytes of tensors one end accepts from the other over one task's probe (the grader holds
#: what the fresh run sends while the task lasts: this bounds its memory).
MAX_RECEIVED_BYTES = 1024**3
#: Autograd nodes walked to find the leaves of a result's graph.
MAX_GRAPH_NODES = 100_000
#: Tensors up to this size (outside autograd) are compared by content as well as by version.
CHECKSUMMED_ELEMENTS = 65_536
HEADER = struct.Struct(">I")
DTYPES = {str(dtype).removeprefix("torch."): dtype for dtype in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
    torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)}
#: Modules whose classes are mirrored (rebuilt on the other end) rather than handled.
TRUSTED_PREFIXES = ("torch.", "nnlab.")
_PLAIN = (type(None), bool, int, float, str, bytes)
_MODULE_INTERNALS = frozenset(nn.Module().__dict__)


class WireError(BaseException):
    """The other end sent something that is not a message of this protocol. A BaseException:
    a probe's ``attempt`` (which records an ``Exception`` as the student's) does not catch it."""


class WireClosed(WireError):
    """The other end is gone."""


class WireTimeout(WireError):
    """No message came before the deadline."""


class _DataOnly(pickle.Unpickler):
    def find_class(self, module, name):  # noqa: D102 - no class, no function: plain data only
        raise WireError(f"a message named {module}.{name}; only plain data is accepted")


def dumps(message: object) -> bytes:
    return pickle.dumps(message, protocol=5)


def loads(data: bytes) -> object:
    try:
        return _DataOnly(io.BytesIO(data)).load()
    except WireError:
        raise
    except Exception as error:  # noqa: BLE001 - any malformed message is the same failure
        raise WireError(f"a message that could not be read ({type(error).__name__})") from None


class Channel:
    """Length-prefixed messages over a stream socket, each bounded before it is read."""

    def __init__(self, sock: socket.socket, limit: int = MAX_MESSAGE_BYTES):
        self.sock = sock
        self.limit = limit

    def send(self, message: object) -> None:
        data = dumps(message)
        if len(data) > self.limit:
            raise WireError(f"a message of {len(data)} bytes, more than the {self.limit} allowed")
        try:
            self.sock.sendall(HEADER.pack(len(data)) + data)
        except OSError as error:
            raise WireClosed(f"the other end is gone ({type(error).__name__})") from None

    def _read(self, size: int, deadline: float | None) -> bytes:
        chunks, left = [], size
        while left:
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise WireTimeout("no answer in time")
                self.sock.settimeout(wait)
            else:
                self.sock.settimeout(None)
            try:
                chunk = self.sock.recv(min(left, 1 << 20))
            except TimeoutError:
                raise WireTimeout("no answer in time") from None
            except OSError as error:
                raise WireClosed(f"the other end is gone ({type(error).__name__})") from None
            if not chunk:
                raise WireClosed("the other end closed the connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def receive(self, deadline: float | None = None) -> object:
        (size,) = HEADER.unpack(self._read(HEADER.size, deadline))
        if size > self.limit:
            raise WireError(f"a message of {size} bytes, more than the {self.limit} allowed")
        return loads(self._read(size, deadline))

    def close(self) -> None:
        self.sock.close()


# --------------------------------------------------------------------------- tensors


def tensor_data(tensor: torch.Tensor) -> tuple[str, list[int], bytes]:
    """A tensor's dtype name, shape and raw bytes (detached, on the CPU, in full)."""
    name = str(tensor.dtype).removeprefix("torch.")
    if name not in DTYPES or tensor.layout != torch.strided or tensor.is_quantized:
        raise WireError(f"a {tensor.dtype} tensor of layout {tensor.layout}, which the grader does not send")
    flat = tensor.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
    data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    return name, [int(s) for s in tensor.shape], data


def tensor_from(data: object) -> torch.Tensor:
    """The tensor :func:`tensor_data` described, after checking its dtype, shape and size."""
    if not (isinstance(data, tuple) and len(data) == 3):
        raise WireError("a tensor that is not (dtype, shape, bytes)")
    name, shape, raw = data
    if type(name) is not str or name not in DTYPES:
        raise WireError(f"a tensor of unknown dtype {str(name)[:40]!r}")
    if type(shape) is not list or len(shape) > 16 or any(type(s) is not int or s < 0 for s in shape):
        raise WireError("a tensor with an invalid shape")
    numel = 1
    for size in shape:
        numel *= size
    if numel > contracts.MAX_TENSOR_ELEMENTS:
        raise WireError(f"a tensor of {numel} elements, more than the {contracts.MAX_TENSOR_ELEMENTS} the grader accepts")
    dtype = DTYPES[name]
    itemsize = torch.empty((), dtype=dtype).element_size()
    if type(raw) is not bytes or len(raw) != numel * itemsize:
        raise WireError("a tensor whose bytes do not match its shape")
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape)


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def trusted_class(path: object, base: type) -> type | None:
    """The class at ``path`` if it is one of torch's or nnlab's, already imported, and a subclass
    of ``base``; nothing is imported to find it (the path may come from the student's process)."""
    import sys

    if type(path) is not str or "<" in path or len(path) > 300:
        return None
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        if not module_name.startswith(("torch", "nnlab")) or module_name not in sys.modules:
            continue
        obj: object = sys.modules[module_name]
        for part in parts[split:]:
            obj = getattr(obj, part, None)
        if isinstance(obj, type) and issubclass(obj, base) and obj.__module__ == module_name:
            return obj
    return None


def mirrored_module_class(cls: type) -> bool:
    return cls.__module__.startswith(TRUSTED_PREFIXES) and "<" not in cls.__qualname__


# --------------------------------------------------------------------------- mirrored objects

TENSOR, MODULE, GENERATOR, OPTIMIZER = "t", "m", "g", "o"


class Mirror:
    """The objects one end shares with the other, by id, and what changed since the last message.

    ``trusted`` is the grader's end: it holds what it sent weakly (an object the probe dropped
    is forgotten on both ends), mirrors optimizers it made, turns its functions into callbacks,
    and rebuilds only classes it can import itself. The fresh run's end holds every mirrored
    object until the grader forgets it. ``peer`` turns anything else into a wire value
    (``outside(value)``) and back (``inside(encoded)``).
    """

    def __init__(self, trusted: bool, peer):
        self.trusted = trusted
        self.peer = peer
        self.objects: dict[int, object] = {}  # id on the wire -> object (a weakref on the grader's end)
        self.ids: dict[int, int] = {}  # id(object) -> id on the wire
        self.kinds: dict[int, str] = {}
        self.synced: dict[int, tuple] = {}  # id on the wire -> fingerprint when last sent or received
        self.data_version: dict[int, tuple] = {}  # id on the wire -> the sender's data version last received
        self.pinned: list[object] = []  # results with a graph on the other end: kept while the session lasts
        self.hooks: dict[int, list] = {}  # fresh run: the hooks the grader's modules carry here
        self.forgotten: list[int] = []
        self.received = 0  # bytes of tensors received so far
        self.connections: list[tuple] = []
        # what the last message created here, held until the next is sent: the probe takes what it keeps
        self.arrivals: list[object] = []
        self.fresh: list[int] = []  # ids allocated while encoding the current message
        self._next = 1 if trusted else -1

    # ---- identity
    def get(self, wire_id: int) -> object | None:
        obj = self.objects.get(wire_id)
        if isinstance(obj, weakref.ref):
            obj = obj()
        return obj

    def id_of(self, obj: object) -> int | None:
        wire_id = self.ids.get(id(obj))
        if wire_id is not None and self.get(wire_id) is obj:
            return wire_id
        return None

    def track(self, obj: object, kind: str, wire_id: int | None = None) -> int:
        if wire_id is None:
            wire_id = self._next
            self._next += 1 if self.trusted else -1
            self.fresh.append(wire_id)
        stored = obj
        # the grader's own objects are held weakly (one the probe dropped is forgotten on both
        # ends); the fresh run's are held while it may still change them
        if self.trusted and kind in (TENSOR, MODULE) and wire_id > 0:
            try:
                stored = weakref.ref(obj)
            except TypeError:
                pass
        self.objects[wire_id] = stored
        if stored is not obj:
            self.arrivals.append(obj)
        self.ids[id(obj)] = wire_id
        self.kinds[wire_id] = kind
        return wire_id

    def forget(self, wire_ids) -> None:
        for wire_id in wire_ids:
            if type(wire_id) is not int:
                continue
            obj = self.get(wire_id)
            self.objects.pop(wire_id, None)
            self.kinds.pop(wire_id, None)
            self.synced.pop(wire_id, None)
            self.data_version.pop(wire_id, None)
            self.hooks.pop(wire_id, None)
            if obj is not None and self.ids.get(id(obj)) == wire_id:
                del self.ids[id(obj)]

    # ---- values
    def encode(self, value: object, depth: int = 0) -> object:
        if depth > MAX_DEPTH:
            raise WireError("a value nested too deeply")
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is list:
            return ("L", [self.encode(v, depth + 1) for v in value])
        if kind is tuple:
            return ("T", [self.encode(v, depth + 1) for v in value])
        if kind in (set, frozenset):
            return ("set", [self.encode(v, depth + 1) for v in value])
        if kind is dict:
            return ("D", [(self.encode(k, depth + 1), self.encode(v, depth + 1)) for k, v in value.items()])
        known = self.id_of(value)
        if known is not None:
            return (self.kinds[known], known)
        if kind in (torch.Tensor, nn.Parameter):
            return (TENSOR, self.track(value, TENSOR))
        if kind is torch.dtype:
            return ("dtype", str(value).removeprefix("torch."))
        if kind is torch.Size:
            return ("size", [int(s) for s in value])
        if kind is torch.device:
            return ("device", str(value))
        if kind is torch.Generator and value.device.type == "cpu":
            return (GENERATOR, self.track(value, GENERATOR))
        if isinstance(value, nn.Module) and mirrored_module_class(kind):
            return (MODULE, self.track(value, MODULE))
        if self.trusted and isinstance(value, torch.optim.Optimizer) and mirrored_module_class(kind):
            return (OPTIMIZER, self.track(value, OPTIMIZER))
        if self.trusted and isinstance(value, collections.abc.Iterator):
            items = []
            for item in value:
                items.append(self.encode(item, depth + 1))
                if len(items) > MAX_ITEMS:
                    raise WireError("an iterator too long to send")
            return ("I", items)
        return self.peer.outside(value)

    def decode(self, value: object, depth: int = 0) -> object:
        if depth > MAX_DEPTH:
            raise WireError("a value nested too deeply")
        if type(value) in _PLAIN:
            return value
        if type(value) is not tuple or len(value) < 2 or type(value[0]) is not str:
            raise WireError("a value that is not one")
        tag, body = value[0], value[1]
        if tag in ("L", "T", "I", "set"):
            if type(body) is not list:
                raise WireError("a sequence that is not a list")
            items = [self.decode(v, depth + 1) for v in body]
            if tag == "set":
                try:
                    return set(items)
                except TypeError:
                    raise WireError("a set of unhashable items") from None
            return items if tag == "L" else tuple(items) if tag == "T" else (item for item in items)
        if tag == "D":
            if type(body) is not list:
                raise WireError("a dict that is not a list of pairs")
            out = {}
            for pair in body:
                if type(pair) is not tuple or len(pair) != 2:
                    raise WireError("a dict entry that is not a pair")
                key = self.decode(pair[0], depth + 1)
                try:
                    out[key] = self.decode(pair[1], depth + 1)
                except TypeError:
                    raise WireError("a dict key that cannot be one") from None
            return out
        if tag in (TENSOR, MODULE, GENERATOR, OPTIMIZER):
            obj = self.get(body) if type(body) is int else None
            if obj is None or self.kinds.get(body) != tag:
                raise WireError(f"a reference to an object the other end never sent ({tag} {body!r:.20})")
            return obj
        if tag == "dtype":
            if body not in DTYPES:
                raise WireError("an unknown dtype")
            return DTYPES[body]
        if tag == "size":
            if type(body) is not list or any(type(s) is not int for s in body):
                raise WireError("a size that is not one")
            return torch.Size(body)
        if tag == "device":
            if body != "cpu":
                raise WireError("a device other than the CPU")
            return torch.device("cpu")
        return self.peer.inside(value)

    # ---- state
    @staticmethod
    def _content(tensor: torch.Tensor) -> int | None:
        """A checksum of a small tensor outside autograd. Some kernels write into a tensor without
        counting a new version (BatchNorm's running statistics in training mode): for the
        buffers such writes land in, the version alone would not show the change."""
        if tensor.requires_grad or tensor.numel() > CHECKSUMMED_ELEMENTS or tensor.layout != torch.strided:
            return None
        return zlib.crc32(tensor_data(tensor)[2])

    def _fingerprint(self, kind: str, obj: object) -> tuple:
        """What must differ for the object to be sent again: values compared by value, objects by
        identity (held, so that a new object at a freed one's address is not taken for it)."""
        if kind == TENSOR:
            grad = obj.grad if obj.is_leaf or obj.retains_grad else None
            return (obj._version, obj.data_ptr(), self._content(obj), tuple(obj.shape), obj.dtype, obj.requires_grad, _Same(grad))
        if kind == MODULE:
            d = obj.__dict__
            return (d.get("training"),
                    tuple((k, _Same(v)) for k, v in d.get("_parameters", {}).items()),
                    tuple((k, _Same(v)) for k, v in d.get("_buffers", {}).items()),
                    tuple((k, _Same(v)) for k, v in d.get("_modules", {}).items()),
                    tuple((k, _mark(v)) for k, v in d.items() if k not in _MODULE_INTERNALS),
                    tuple(_Same(h) for h in d.get("_forward_hooks", {}).values()) if self.trusted else (),
                    tuple(_Same(h) for h in d.get("_forward_pre_hooks", {}).values()) if self.trusted else ())
        if kind == GENERATOR:
            return (bytes(obj.get_state().numpy()),)
        return tuple((tuple(_Same(p) for p in group["params"]), tuple((k, _mark(v)) for k, v in group.items() if k != "params"))
                     for group in obj.param_groups)

    def _state(self, wire_id: int, kind: str, obj: object, new: bool) -> tuple:
        if kind == TENSOR:
            version = (obj._version, obj.data_ptr(), self._content(obj))
            grad = obj.grad if obj.is_leaf or obj.retains_grad else None
            leaves: list = []
            if new and not self.trusted and obj.requires_grad and obj.grad_fn is not None:
                leaves = [self.encode(leaf) for leaf in graph_leaves(obj)]
            return (TENSOR, type(obj) is nn.Parameter, tensor_data(obj), version, bool(obj.requires_grad),
                    None if grad is None else self.encode(grad), leaves)
        if kind == MODULE:
            d = obj.__dict__

            def entries(name):
                return [(k, None if v is None else self.encode(v)) for k, v in d.get(name, {}).items()]

            attributes = [(k, self.encode(v)) for k, v in d.items() if k not in _MODULE_INTERNALS]
            hooks = ([self.encode(h) for h in d.get("_forward_hooks", {}).values()],
                     [self.encode(h) for h in d.get("_forward_pre_hooks", {}).values()]) if self.trusted else ([], [])
            return (MODULE, class_path(type(obj)), bool(d.get("training", True)), entries("_parameters"), entries("_buffers"),
                    entries("_modules"), attributes, hooks)
        if kind == GENERATOR:
            return (GENERATOR, bytes(obj.get_state().numpy()))
        groups = [([self.encode(p) for p in group["params"]],
                   [(k, self.encode(v)) for k, v in group.items() if k != "params"]) for group in obj.param_groups]
        return (OPTIMIZER, class_path(type(obj)), groups)

    def outgoing(self) -> dict:
        """The sync section of the next message: the state of every object that is new or changed
        since the last message, and the ids this end forgot. Call after encoding the message's values."""
        states: dict[int, tuple] = {}
        self.arrivals = []
        fresh = set(self.fresh)
        self.fresh = []
        pending = list(self.objects)
        while pending:
            wire_id = pending.pop()
            if wire_id in states:
                continue
            obj = self.get(wire_id)
            if obj is None:
                self.forgotten.append(wire_id)
                self.forget([wire_id])
                continue
            kind = self.kinds[wire_id]
            fingerprint = self._fingerprint(kind, obj)
            if wire_id in fresh or self.synced.get(wire_id) != fingerprint:
                states[wire_id] = self._state(wire_id, kind, obj, wire_id in fresh)
                self.synced[wire_id] = fingerprint
                if self.fresh:  # encoding the state tracked more objects: their states go too
                    fresh.update(self.fresh)
                    pending.extend(self.fresh)
                    self.fresh = []
        forgotten, self.forgotten = self.forgotten, []
        return {"states": states, "forgotten": forgotten}

    def incoming(self, sync: object) -> None:
        """Apply the other end's sync section: create what is new, update what changed."""
        if type(sync) is not dict or type(sync.get("states")) is not dict or type(sync.get("forgotten")) is not list:
            raise WireError("a message without its state")
        self.forget(sync["forgotten"])
        states = sync["states"]
        created = set()
        for wire_id, state in states.items():  # first every object, then the references between them
            if type(wire_id) is not int or type(state) is not tuple or not state or state[0] not in (TENSOR, MODULE, GENERATOR, OPTIMIZER):
                raise WireError("a state that is not one")
            if self.get(wire_id) is not None:
                if self.kinds[wire_id] != state[0]:
                    raise WireError("a state of the wrong kind")
                continue
            if (wire_id > 0) == self.trusted:
                raise WireError("a state for an object this end never sent")
            created.add(wire_id)
            self._create(wire_id, state)
        self.connections = []
        for wire_id, state in states.items():
            self._apply(wire_id, state, wire_id in created)
        for wire_id, value, leaves in self.connections:
            self._connect(wire_id, value, leaves)
        for wire_id in states:
            obj = self.get(wire_id)
            if obj is not None:
                self.synced[wire_id] = self._fingerprint(self.kinds[wire_id], obj)

    def _create(self, wire_id: int, state: tuple) -> None:
        kind = state[0]
        if kind == TENSOR:
            if len(state) != 7:
                raise WireError("a tensor state that is not one")
            value = self._tensor(state[2])
            requires_grad = state[4] is True and (value.is_floating_point() or value.is_complex())
            self.track(nn.Parameter(value, requires_grad=requires_grad) if state[1] is True else value.requires_grad_(requires_grad),
                       TENSOR, wire_id)
        elif kind == MODULE:
            cls = trusted_class(state[1], nn.Module) if self.trusted else _import_class(state[1], nn.Module)
            if cls is None:
                raise WireError("a module of a class the grader does not rebuild")
            module = cls.__new__(cls)
            nn.Module.__init__(module)
            self.track(module, MODULE, wire_id)
        elif kind == GENERATOR:
            self.track(torch.Generator(), GENERATOR, wire_id)
        elif self.trusted:
            raise WireError("an optimizer the grader did not make")
        else:
            self.objects[wire_id] = None  # made in _apply, once its parameters exist
            self.kinds[wire_id] = OPTIMIZER

    def _apply(self, wire_id: int, state: tuple, new: bool) -> None:
        kind = state[0]
        obj = self.get(wire_id)
        try:
            if kind == TENSOR:
                _, _, data, version, requires_grad, grad, leaves = state
                if not new and self.data_version.get(wire_id) != version:
                    value = self._tensor(data)
                    if value.shape == obj.shape and value.dtype == obj.dtype:
                        with torch.no_grad():
                            obj.copy_(value)
                    else:
                        obj.data = value
                self.data_version[wire_id] = version
                if self.trusted and new and leaves:
                    self.connections.append((wire_id, obj, leaves))  # once every state is applied
                if obj.is_leaf and obj.requires_grad != bool(requires_grad):
                    obj.requires_grad_(bool(requires_grad))
                if obj.is_leaf:
                    decoded = None if grad is None else self.decode(grad)
                    if decoded is not obj.grad:
                        obj.grad = decoded
            elif kind == MODULE:
                _, _, training, parameters, buffers, children, attributes, hooks = state
                d = obj.__dict__
                d["training"] = bool(training)
                d["_parameters"] = {str(k): None if v is None else self.decode(v) for k, v in parameters}
                d["_buffers"] = {str(k): None if v is None else self.decode(v) for k, v in buffers}
                d["_modules"] = {str(k): None if v is None else self.decode(v) for k, v in children}
                for name, value in attributes:
                    if type(name) is str and name not in _MODULE_INTERNALS:
                        d[name] = self.decode(value)
                if not self.trusted:
                    self._hook(wire_id, obj, hooks)
            elif kind == GENERATOR:
                obj.set_state(torch.frombuffer(bytearray(state[1]), dtype=torch.uint8).clone())
            elif self.trusted:  # the student's code may change an optimizer's settings, not its parameters
                for group, (_, settings) in zip(obj.param_groups, state[2]):
                    for key, value in settings:
                        if type(key) is str and key != "params":
                            group[key] = self.decode(value)
            else:
                cls = _import_class(state[1], torch.optim.Optimizer)
                groups = [dict([(k, self.decode(v)) for k, v in settings], params=[self.decode(p) for p in params])
                          for params, settings in state[2]]
                if new:
                    self.track(cls(groups), OPTIMIZER, wire_id)
                else:
                    for group, settings in zip(obj.param_groups, groups):
                        group.update({k: v for k, v in settings.items() if k != "params"})
        except WireError:
            raise
        except Exception as error:  # noqa: BLE001 - a state torch refuses is a broken message
            raise WireError(f"a state that could not be applied ({type(error).__name__}: {str(error)[:120]})") from None

    def _tensor(self, data: object) -> torch.Tensor:
        value = tensor_from(data)
        self.received += value.numel() * value.element_size()
        if self.received > MAX_RECEIVED_BYTES:
            raise WireError(f"more than {MAX_RECEIVED_BYTES // 1024**2} MiB of tensors in one task, more than the grader holds")
        return value

    def _connect(self, wire_id: int, value: torch.Tensor, leaves: list) -> None:
        """A result whose graph lies on the other end: rebuilt here as the output of a function of
        the leaves it depends on, whose backward asks the other end for the gradients."""
        inputs = [self.decode(leaf) for leaf in leaves]
        inputs = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
        if not inputs:
            return
        with torch.enable_grad():
            connected = _RemoteGraph.apply((self.peer, wire_id, [self.id_of(t) for t in inputs], value.detach()), *inputs)
        self.forget([wire_id])
        self.track(connected, TENSOR, wire_id)
        self.objects[wire_id] = connected  # held: the graph on the other end is needed until the session ends
        self.pinned.append(connected)

    def _hook(self, wire_id: int, module: nn.Module, hooks: tuple) -> None:
        for handle in self.hooks.pop(wire_id, []):
            handle.remove()
        forward, pre = hooks
        handles = [module.register_forward_hook(self.decode(h)) for h in forward]
        handles += [module.register_forward_pre_hook(self.decode(h)) for h in pre]
        self.hooks[wire_id] = handles


class _Same:
    """Equal to another only if both hold the very same object."""

    __slots__ = ("obj",)

    def __init__(self, obj: object):
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return type(other) is _Same and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _mark(value: object) -> object:
    return value if type(value) in _PLAIN else _Same(value)


class _RemoteGraph(torch.autograd.Function):
    @staticmethod
    def forward(ctx, info, *inputs):
        peer, wire_id, input_ids, value = info
        ctx.info = (peer, wire_id, input_ids)
        return value.clone()

    @staticmethod
    def backward(ctx, upstream):
        peer, wire_id, input_ids = ctx.info
        grads = peer.gradients(wire_id, input_ids, upstream)
        return (None, *grads)


def graph_leaves(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors requiring grad that ``tensor``'s graph reaches (bounded walk)."""
    leaves, seen, stack = [], set(), [tensor.grad_fn]
    while stack and len(seen) < MAX_GRAPH_NODES:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if isinstance(variable, torch.Tensor):
            leaves.append(variable)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return leaves


def _import_class(path: object, base: type) -> type:
    """In the fresh run: the class at a path the grader sent (one of torch's or nnlab's)."""
    from coursegrader.check.tasks import resolve

    if type(path) is not str or not path.startswith(TRUSTED_PREFIXES):
        raise WireError("a class that is not torch's or nnlab's")
    cls = resolve(path)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise WireError("a class of the wrong kind")
    return cls


def context() -> dict:
    """What a call inherits from its caller's end: autograd's mode and the global random state."""
    return {"grad": torch.is_grad_enabled(), "rng": bytes(torch.get_rng_state().numpy())}


def enter(ctx: object) -> None:
    if type(ctx) is not dict or type(ctx.get("grad")) is not bool or type(ctx.get("rng")) is not bytes:
        raise WireError("a message without its context")
    torch.set_grad_enabled(ctx["grad"])
    try:
        torch.set_rng_state(torch.frombuffer(bytearray(ctx["rng"]), dtype=torch.uint8).clone())
    except Exception:  # noqa: BLE001
        raise WireError("a random state that is not one") from None


def builtin_name(error: BaseException) -> str:
    """The nearest built-in class of an exception (a subclass of ValueError counts as ValueError)."""
    return next(cls for cls in type(error).__mro__ if cls.__module__ == "builtins").__name__
