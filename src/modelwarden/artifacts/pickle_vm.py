"""A symbolic pickle machine: walks every opcode of a pickle without executing any of it.

Loading a pickle runs whatever callables it names. We never load: the opcodes are decoded (by
`_walk_fast` from bounded windows of bytes, or by the standard library's `pickletools.genops` for
streams and whatever the fast decoder hands over) and interpreted on a symbolic stack, so that
imports (`GLOBAL`, `STACK_GLOBAL` with names from the memo, `INST`, `OBJ`, `EXT*`), calls
(`REDUCE`, `NEWOBJ`, `NEWOBJ_EX`, `BUILD`) and persistent ids become plain records
(docs/reference/formats.md "Pickle"; docs/reference/scanners.md §2–4).

Two stages use it: `scan` inspects the imports and calls; the PyTorch readers find
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls in the resulting graph to
recover tensor names, shapes and dtypes.

Robustness (hostile input): lengths are clamped to the buffer (no allocation larger than the data;
the fast decoder copies at most 16 MiB at a time);
the number of opcodes is capped; a broken or truncated stream ends the walk with an `error` that
keeps everything seen before the break — a loader would have executed that part already
("nullifAI", docs/reference/scanners.md §4). Graph traversal is iterative and cycle-safe.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, cast

from modelwarden.artifacts.source import Buffer as Buffer
from modelwarden.limits import (
    MAX_GRAPH_NODES,
    MAX_PICKLE_OPS,
    MAX_PICKLES_PER_STREAM,
    PICKLE_MAX_WINDOW_BYTES,
)

# The walker's defaults are the one table's caps: inspect (torch.py) and scan (pickles.py) walk the same
# pickle with the same opcode budget.
DEFAULT_MAX_OPS = MAX_PICKLE_OPS
DEFAULT_MAX_PICKLES = MAX_PICKLES_PER_STREAM


@dataclass(frozen=True, slots=True)
class Global:
    """An import site: what a loader would import (`module.name`) and where the pickle asks for it."""

    module: str
    name: str
    opcode: str
    pos: int  # byte offset of the opcode in the buffer
    index: int  # opcode ordinal within this pickle
    resolved: bool = True  # False when STACK_GLOBAL operands were not both strings
    protocol: int | None = None
    """The protocol in force at this opcode (the last PROTO before it, None before any): loaders map
    Python 2 names by it, and a stream may change it midway."""

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(slots=True, eq=False)
class Call:
    """A call a loader would make: `func(*args, **kwargs)`, then optional `BUILD` state and items."""

    func: Any
    args: Any
    kind: str  # reduce, newobj, newobj_ex, inst, obj
    pos: int
    index: int
    kwargs: Any = None
    state: Any = None
    has_state: bool = False
    setitems: list[tuple[Any, Any]] = field(default_factory=list)
    appends: list[Any] = field(default_factory=list)

    @property
    def func_name(self) -> str | None:
        return self.func.qualname if isinstance(self.func, Global) else None


# Methods a loader looks up on the instance (so an instance attribute overrides the class).
INSTANCE_HOOKS = frozenset({"__setstate__", "append", "extend"})
INSTANCE_HOOK_ANOMALY = "BUILD sets the instance hook"


def instance_hooks(state: Any) -> list[str]:
    """Instance hooks a BUILD state stores: a dict state, or the (dict, slots) pair setattr applies."""
    parts = list(state[:2]) if isinstance(state, tuple) else [state]
    found: list[str] = []
    for part in parts:
        if isinstance(part, SymDict):
            found.extend(k for k, _ in part.items[:4096] if isinstance(k, str) and k in INSTANCE_HOOKS)
    return sorted(set(found))


@dataclass(slots=True, eq=False)
class PersistentId:
    pid: Any
    pos: int


@dataclass(slots=True, eq=False)
class SymDict:
    items: list[tuple[Any, Any]] = field(default_factory=list)

    def get(self, key: Any, default: Any = None) -> Any:
        for k, v in reversed(self.items):
            if type(k) is type(key) and k == key:
                return v
        return default


@dataclass(slots=True, eq=False)
class SymSet:
    items: list[Any] = field(default_factory=list)
    frozen: bool = False


@dataclass(slots=True, eq=False)
class Opaque:
    """A value we do not model (out-of-band buffers)."""

    reason: str


@dataclass(slots=True)
class Anomaly:
    """Something a well-formed pickle does not do, worth reporting even when the walk succeeds."""

    pos: int
    index: int
    message: str


@dataclass(slots=True)
class PickleTrace:
    start: int
    end: int  # offset just after STOP, or where decoding stopped
    protocol: int | None = None
    result: Any = None
    complete: bool = False  # reached STOP
    ops: int = 0
    imports: list[Global] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    persistent_ids: list[PersistentId] = field(default_factory=list)
    byte_strings: list[tuple[int, bytes]] = field(default_factory=list)  # (pos, data) of bytes pushed
    anomalies: list[Anomaly] = field(default_factory=list)
    ambiguities: list[Anomaly] = field(default_factory=list)  # loaders disagree on the opcodes (frames)
    frames: list[tuple[int, int]] = field(default_factory=list)  # (offset, declared length) of FRAMEs
    error: str | None = None  # why the walk stopped early
    error_pos: int | None = None


class _Reader:
    """File-like view over a buffer (bytes, mmap, memoryview) for `pickletools.genops`.

    Reads are clamped to the buffer, so a declared length of 2**63 allocates nothing.
    """

    __slots__ = ("_buf", "_end", "_pos")

    def __init__(self, buf: Buffer, start: int) -> None:
        self._buf = buf
        self._pos = start
        self._end = len(buf)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._end - self._pos
        stop = min(self._end, self._pos + n)
        data = bytes(self._buf[self._pos : stop])
        self._pos = stop
        return data

    def readline(self) -> bytes:
        find = getattr(self._buf, "find", None)
        if find is not None:
            nl = find(b"\n", self._pos)
        else:
            nl = bytes(self._buf[self._pos :]).find(b"\n")
            nl = -1 if nl < 0 else nl + self._pos
        stop = self._end if nl < 0 else nl + 1
        data = bytes(self._buf[self._pos : stop])
        self._pos = stop
        return data

    def tell(self) -> int:
        return self._pos

    def skip(self, n: int) -> int:
        """Advance past `n` bytes that are not pickle opcodes (joblib array data); returns bytes skipped."""
        stop = min(self._end, self._pos + max(0, n))
        skipped = stop - self._pos
        self._pos = stop
        return skipped


BufferReader = _Reader  # public name: a reader over an in-memory buffer, for `walk_reader`


class StreamReader:
    """File-like view over a forward-only stream (a decompressor) for `walk_reader`.

    Reads are served in bounded chunks and the total is capped at `limit` bytes, so a compressed bomb
    or a declared length of 2**63 never allocates more than the cap. `truncated_by_limit` tells a cap
    from a real end of stream.
    """

    __slots__ = ("_fh", "_limit", "_pos", "truncated_by_limit")

    CHUNK = 1 << 20

    def __init__(self, fh: IO[bytes], *, limit: int) -> None:
        self._fh = fh
        self._limit = limit
        self._pos = 0
        self.truncated_by_limit = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._limit - self._pos
        want = min(n, self._limit - self._pos)
        if want < n:
            self.truncated_by_limit = True
        parts: list[bytes] = []
        got = 0
        while got < want:
            chunk = self._fh.read(min(self.CHUNK, want - got))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        self._pos += got
        return b"".join(parts)

    def readline(self) -> bytes:
        out = bytearray()
        while self._pos < self._limit:
            c = self._fh.read(1)
            if not c:
                break
            self._pos += 1
            out += c
            if c == b"\n" or len(out) >= 1 << 16:  # protocol-0 lines are short; cap a hostile one
                break
        return bytes(out)

    def tell(self) -> int:
        return self._pos

    def skip(self, n: int) -> int:
        skipped = 0
        while skipped < n and self._pos < self._limit:
            chunk = self._fh.read(min(self.CHUNK, n - skipped, self._limit - self._pos))
            if not chunk:
                break
            skipped += len(chunk)
            self._pos += len(chunk)
        if skipped < n and self._pos >= self._limit:
            self.truncated_by_limit = True
        return skipped


class Reader(Protocol):
    """What `walk_reader` needs: `BufferReader` and `StreamReader` both provide it."""

    def read(self, n: int = -1, /) -> bytes: ...
    def readline(self) -> bytes: ...
    def tell(self) -> int: ...
    def skip(self, n: int, /) -> int: ...


# Called after BUILD sets the state of a Call, with the reader positioned just after the BUILD opcode.
# joblib writes raw array bytes (or a whole nested pickle) right there; the hook consumes them.
AfterBuild = Callable[[Call, Reader], None]


class _Abort(Exception):
    pass


class _Machine:
    def __init__(self, trace: PickleTrace) -> None:
        self.t = trace
        self.after_build: AfterBuild | None = None
        self.reader: Reader | None = None
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.pos = 0
        self.index = 0
        self.frame_end = -1  # absolute offset where the current FRAME's data ends, -1 outside frames

    # -- stack helpers ------------------------------------------------------------------------------
    # Handlers append to self.stack directly (a call less per opcode), except when the pushed value's
    # expression pops a mark: that rebinds self.stack, so the append must be looked up afterwards.
    def push(self, value: Any) -> None:
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack:
            raise _Abort("stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise _Abort("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise _Abort("MARK expected but none on the stack")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def anomaly(self, message: str) -> None:
        if len(self.t.anomalies) < 1000:
            self.t.anomalies.append(Anomaly(self.pos, self.index, message))

    def import_(self, module: Any, name: Any, opcode: str) -> Global:
        resolved = isinstance(module, str) and isinstance(name, str)
        g = Global(
            module=module if isinstance(module, str) else f"<{type(module).__name__}>",
            name=name if isinstance(name, str) else f"<{type(name).__name__}>",
            opcode=opcode,
            pos=self.pos,
            index=self.index,
            resolved=resolved,
            protocol=self.t.protocol,
        )
        self.t.imports.append(g)
        return g

    def call(self, func: Any, args: Any, kind: str, kwargs: Any = None) -> Call:
        c = Call(func=func, args=args, kind=kind, pos=self.pos, index=self.index, kwargs=kwargs)
        self.t.calls.append(c)
        return c

    # -- opcode dispatch ----------------------------------------------------------------------------
    def step(self, name: str, arg: Any) -> None:
        handler = getattr(self, "op_" + name, None)
        if handler is not None:
            handler(arg)
        elif name in _LITERALS:
            self.literal(arg)
        else:  # pragma: no cover - every opcode pickletools knows is handled
            raise _Abort(f"unhandled opcode {name}")

    def literal(self, arg: Any) -> None:
        if isinstance(arg, bytes | bytearray):
            self.t.byte_strings.append((self.pos, bytes(arg)))
        self.stack.append(arg)

    def unhandled(self, arg: Any) -> None:  # pragma: no cover - every opcode pickletools knows is handled
        raise _Abort("unhandled opcode")

    def op_PROTO(self, arg: int) -> None:
        self.t.protocol = arg

    def op_FRAME(self, arg: int) -> None:
        # CPython's C unpickler (pickle.load) only checks that the frame's bytes exist; the pure-Python
        # one (pickle._Unpickler) refuses a frame that starts inside another, or an opcode that crosses
        # a frame's end. When they disagree, two loaders run different opcodes.
        if self.frame_end > self.pos:
            self.ambiguity(f"FRAME starts {self.frame_end - self.pos} bytes before the previous frame ends")
        start = self.pos + 9
        self.frame_end = start + arg
        self.t.frames.append((self.pos, arg))

    def frame_crossed(self, op_start: int) -> None:
        """Called for the first opcode that ends after the current frame's end."""
        if op_start < self.frame_end:
            self.ambiguity(
                f"an opcode at byte {op_start} crosses the end of the frame at byte {self.frame_end}"
            )
        self.frame_end = -1

    def ambiguity(self, message: str) -> None:
        if len(self.t.ambiguities) < 100:
            self.t.ambiguities.append(Anomaly(self.pos, self.index, message))

    def op_NONE(self, arg: None) -> None:
        self.stack.append(None)

    def op_NEWTRUE(self, arg: None) -> None:
        self.stack.append(True)

    def op_NEWFALSE(self, arg: None) -> None:
        self.stack.append(False)

    def op_EMPTY_LIST(self, arg: None) -> None:
        self.stack.append([])

    def op_APPEND(self, arg: None) -> None:
        value = self.pop()
        self._extend(self.top(), [value])

    def op_APPENDS(self, arg: None) -> None:
        items = self.pop_mark()
        self._extend(self.top(), items)

    def _extend(self, target: Any, items: list[Any]) -> None:
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, Call):
            target.appends.extend(items)  # a loader calls target.append / extend: code, if target is hostile
        else:
            self.anomaly(f"APPEND to a {type(target).__name__}")

    def op_LIST(self, arg: None) -> None:
        self.push(list(self.pop_mark()))

    def op_EMPTY_TUPLE(self, arg: None) -> None:
        self.stack.append(())

    def op_TUPLE(self, arg: None) -> None:
        self.push(tuple(self.pop_mark()))

    def op_TUPLE1(self, arg: None) -> None:
        self.stack.append((self.pop(),))

    def op_TUPLE2(self, arg: None) -> None:
        b = self.pop()
        a = self.pop()
        self.stack.append((a, b))

    def op_TUPLE3(self, arg: None) -> None:
        c = self.pop()
        b = self.pop()
        a = self.pop()
        self.stack.append((a, b, c))

    def op_EMPTY_DICT(self, arg: None) -> None:
        self.stack.append(SymDict())

    def op_DICT(self, arg: None) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise _Abort("DICT with an odd number of items")
        self.stack.append(SymDict(list(zip(items[::2], items[1::2], strict=True))))

    def op_SETITEM(self, arg: None) -> None:
        value = self.pop()
        key = self.pop()
        self._setitems(self.top(), [(key, value)])

    def op_SETITEMS(self, arg: None) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise _Abort("SETITEMS with an odd number of items")
        self._setitems(self.top(), list(zip(items[::2], items[1::2], strict=True)))

    def _setitems(self, target: Any, pairs: list[tuple[Any, Any]]) -> None:
        if isinstance(target, SymDict):
            target.items.extend(pairs)
        elif isinstance(target, Call):
            target.setitems.extend(pairs)
        else:
            self.anomaly(f"SETITEM on a {type(target).__name__}")

    def op_EMPTY_SET(self, arg: None) -> None:
        self.stack.append(SymSet())

    def op_ADDITEMS(self, arg: None) -> None:
        items = self.pop_mark()
        target = self.top()
        if isinstance(target, SymSet):
            target.items.extend(items)
        else:
            self.anomaly(f"ADDITEMS on a {type(target).__name__}")

    def op_FROZENSET(self, arg: None) -> None:
        self.push(SymSet(list(self.pop_mark()), frozen=True))

    def op_POP(self, arg: None) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def op_DUP(self, arg: None) -> None:
        self.stack.append(self.top())

    def op_MARK(self, arg: None) -> None:
        self.metastack.append(self.stack)
        self.stack = []

    def op_POP_MARK(self, arg: None) -> None:
        self.pop_mark()

    def _get(self, key: int) -> None:
        if key not in self.memo:
            raise _Abort(f"memo key {key} read before it was written")
        self.stack.append(self.memo[key])

    op_GET = op_BINGET = op_LONG_BINGET = _get

    def _put(self, key: int) -> None:
        if key < 0:
            raise _Abort("negative memo key")
        if not self.stack:  # top(), inlined: PUT is a third of a model pickle's opcodes
            raise _Abort("stack underflow")
        self.memo[key] = self.stack[-1]

    op_PUT = op_BINPUT = op_LONG_BINPUT = _put

    def op_MEMOIZE(self, arg: None) -> None:
        self.memo[len(self.memo)] = self.top()

    def _ext(self, code: int) -> None:
        # copyreg's extension registry maps codes to (module, name); it is empty in a stock Python,
        # so any EXT opcode imports something a scanner cannot see by name.
        self.stack.append(self.import_("copyreg._extension_registry", str(code), f"EXT{_ext_width(code)}"))

    op_EXT1 = op_EXT2 = op_EXT4 = _ext

    def op_GLOBAL(self, arg: str) -> None:
        module, _, name = arg.partition(" ")
        self.stack.append(self.import_(module, name, "GLOBAL"))

    def op_STACK_GLOBAL(self, arg: None) -> None:
        name = self.pop()
        module = self.pop()
        self.stack.append(self.import_(module, name, "STACK_GLOBAL"))

    def op_INST(self, arg: str) -> None:
        module, _, name = arg.partition(" ")
        cls = self.import_(module, name, "INST")
        self.push(self.call(cls, tuple(self.pop_mark()), "inst"))

    def op_OBJ(self, arg: None) -> None:
        items = self.pop_mark()
        if not items:
            raise _Abort("OBJ without a class")
        self.stack.append(self.call(items[0], tuple(items[1:]), "obj"))

    def op_REDUCE(self, arg: None) -> None:
        args = self.pop()
        func = self.pop()
        self.stack.append(self.call(func, args, "reduce"))

    def op_NEWOBJ(self, arg: None) -> None:
        args = self.pop()
        cls = self.pop()
        self.stack.append(self.call(cls, args, "newobj"))

    def op_NEWOBJ_EX(self, arg: None) -> None:
        kwargs = self.pop()
        args = self.pop()
        cls = self.pop()
        self.stack.append(self.call(cls, args, "newobj_ex", kwargs))

    def op_BUILD(self, arg: None) -> None:
        state = self.pop()
        target = self.top()
        hooks = instance_hooks(state)
        if hooks:
            # The loader looks __setstate__, append and extend up on the instance: stored there, the
            # next BUILD or APPENDS calls whatever value the pickle put in.
            self.anomaly(f"{INSTANCE_HOOK_ANOMALY} {', '.join(hooks)}")
        if isinstance(target, Call):
            target.state = state
            target.has_state = True
            if self.after_build is not None and self.reader is not None:
                self.after_build(target, self.reader)
        elif isinstance(target, Global):
            # BUILD on a bare class or function sets attributes on it: never needed by data.
            self.anomaly(f"BUILD applied directly to {target.qualname}")
        else:
            self.anomaly(f"BUILD on a {type(target).__name__}")

    def op_PERSID(self, arg: str) -> None:
        p = PersistentId(arg, self.pos)
        self.t.persistent_ids.append(p)
        self.stack.append(p)

    def op_BINPERSID(self, arg: None) -> None:
        p = PersistentId(self.pop(), self.pos)
        self.t.persistent_ids.append(p)
        self.stack.append(p)

    def op_NEXT_BUFFER(self, arg: None) -> None:
        self.stack.append(Opaque("out-of-band buffer"))

    def op_READONLY_BUFFER(self, arg: None) -> None:
        self.top()

    def op_STOP(self, arg: None) -> None:
        self.t.result = self.pop()
        self.t.complete = True
        if self.stack or self.metastack:
            self.anomaly("values left on the stack at STOP")


_LITERALS = frozenset(
    {
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
        "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
        "BYTEARRAY8", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT",
    }
)  # fmt: skip


def _ext_width(code: int) -> int:
    return 1 if code < 0x100 else 2 if code < 0x10000 else 4


def walk(
    buf: Buffer, start: int = 0, *, max_ops: int = DEFAULT_MAX_OPS, after_build: AfterBuild | None = None
) -> PickleTrace:
    """Walk one pickle starting at byte `start`. Never raises on bad input: see `PickleTrace.error`.

    The opcodes are decoded by `_walk_fast` from a bounded window of bytes copied out of `buf` (C-level
    indexing instead of a Python file object per read); whatever it does not decode itself — protocol 0
    text opcodes beyond its window, a truncated or malformed argument, an unknown opcode — is handed to
    `pickletools.genops` from that opcode on, so errors and their positions are exactly genops'.
    joblib's `after_build` hook reads from a file-like reader, so those walks use genops throughout.
    """
    if after_build is not None:
        return walk_reader(_Reader(buf, start), max_ops=max_ops, after_build=after_build)
    trace = PickleTrace(start=start, end=start)
    machine = _Machine(trace)
    fast = _FastState()
    try:
        resume = _walk_fast(machine, buf, start, max_ops, fast)
        if resume is None:
            trace.end = fast.end
        else:
            reader = _Reader(buf, resume)
            machine.reader = reader
            _run_genops(machine, reader, max_ops)
            trace.end = reader.tell()
    except _STOPPERS as exc:
        # Raised by an opcode handler inside the fast loop: genops would have read the opcode's
        # argument already, so its reader would stand just after it (fast.end).
        _record_error(machine, exc, fast.end)
        trace.end = fast.end
    except _ResumedError as wrapped:
        _record_error(machine, wrapped.exc, wrapped.tell)
        trace.end = wrapped.tell
    trace.ops = machine.index
    _check_frame_lengths(trace, len(buf))
    return trace


def _check_frame_lengths(trace: PickleTrace, size: int) -> None:
    # pickle.load reads a whole frame before running its first opcode and refuses one longer than the
    # data: nothing after such a FRAME runs, whatever the opcodes say. The walk went on, so what it
    # judged after this point is not what a loader does.
    for pos, length in trace.frames:
        if pos + 9 + length > size and len(trace.ambiguities) < 100:
            remaining = max(0, size - pos - 9)
            trace.ambiguities.append(
                Anomaly(pos, 0, f"FRAME at byte {pos} declares {length} bytes but only {remaining} follow")
            )


def walk_reader(
    reader: Reader, *, max_ops: int = DEFAULT_MAX_OPS, after_build: AfterBuild | None = None
) -> PickleTrace:
    """Walk one pickle from `reader`'s current position (a buffer or a decompressing stream).

    Positions in the trace are the reader's positions. Never raises on bad input.
    """
    start = reader.tell()
    trace = PickleTrace(start=start, end=start)
    machine = _Machine(trace)
    machine.after_build = after_build
    machine.reader = reader
    try:
        _run_genops(machine, reader, max_ops)
    except _ResumedError as wrapped:
        _record_error(machine, wrapped.exc, wrapped.tell)
    trace.ops = machine.index
    trace.end = reader.tell()
    return trace


# Exceptions that end a walk. pickletools raises ValueError for unknown opcodes and truncated
# arguments; the others come from hostile argument values (bad UTF-8, huge longs).
_STOPPERS = (
    _Abort,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    UnicodeDecodeError,
    OverflowError,
    MemoryError,
    RecursionError,
)


class _ResumedError(Exception):
    """Carries an exception out of the genops loop with the reader position it was raised at."""

    def __init__(self, exc: BaseException, tell: int) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.tell = tell


def _run_genops(machine: _Machine, reader: Reader, max_ops: int) -> None:
    """Continue `machine` over `reader` with `pickletools.genops` until STOP, the op cap or an error."""
    trace = machine.t
    try:
        for opcode, arg, pos in pickletools.genops(cast(IO[bytes], reader)):
            machine.pos = pos if pos is not None else reader.tell()
            if machine.frame_end >= 0 and reader.tell() > machine.frame_end:
                machine.frame_crossed(machine.pos)
            machine.step(opcode.name, arg)
            machine.index += 1
            if opcode.name == "STOP":
                break  # genops reads past STOP when the file holds more data: the next pickle starts here
            if machine.index >= max_ops:
                raise _Abort(f"more than {max_ops} opcodes")
        if not trace.complete:
            trace.error = "pickle ended without a STOP opcode"
            trace.error_pos = reader.tell()
    except _STOPPERS as exc:
        raise _ResumedError(exc, reader.tell()) from None


def _record_error(machine: _Machine, exc: BaseException, tell: int) -> None:
    trace = machine.t
    if isinstance(exc, _Abort):
        trace.error, trace.error_pos = str(exc), machine.pos
    elif isinstance(exc, MemoryError):
        trace.error, trace.error_pos = "out of memory while decoding", machine.pos
    elif isinstance(exc, RecursionError):  # pragma: no cover - the machine is iterative
        trace.error, trace.error_pos = "nesting too deep", machine.pos
    else:
        trace.error, trace.error_pos = _describe_decode_error(exc), tell


# ------------------------------------------------------------------------------------------------------
# The fast decoder
# ------------------------------------------------------------------------------------------------------

# How an opcode's argument is laid out, for `_walk_fast`. Kinds are numbered in groups so that the
# loop tells them apart with few comparisons, most frequent first: no argument; one byte; four bytes;
# four-byte-length strings; one-byte-length strings; the rest. Within a group, the memo opcodes and
# the integer literals (two thirds of a model pickle) are executed inline, without a handler call.
# _GENERIC arguments are decoded by pickletools' own reader over an in-memory file of the window;
# _UNKNOWN bytes are not opcodes (genops raises its "unknown opcode" error for them).
_NOARG = 0
_GET1, _PUT1, _INT1, _U1 = 1, 2, 3, 4  # BINGET, BINPUT, BININT1, other uint1 (PROTO, EXT1)
_GET4, _PUT4, _INT4, _I4, _U4 = 5, 6, 7, 8, 9  # LONG_BINGET, LONG_BINPUT, BININT, EXT4, other uint4
_UNI4, _BYTES4 = 10, 11  # BINUNICODE, BINBYTES
_UNI1, _BYTES1 = 12, 13  # SHORT_BINUNICODE, SHORT_BINBYTES
_U2, _F8, _LONG1, _GENERIC, _UNKNOWN = 14, 15, 16, 17, 18
_ARG_KINDS = {
    "uint1": _U1,
    "uint2": _U2,
    "int4": _I4,
    "uint4": _U4,
    "unicodestring1": _UNI1,
    "unicodestring4": _UNI4,
    "bytes1": _BYTES1,
    "bytes4": _BYTES4,
    "float8": _F8,
    "long1": _LONG1,
}
_INLINE_KINDS = {
    "BINGET": _GET1,
    "BINPUT": _PUT1,
    "BININT1": _INT1,
    "LONG_BINGET": _GET4,
    "LONG_BINPUT": _PUT4,
    "BININT": _INT4,
}
_KIND = [_UNKNOWN] * 256
_READER: list[Callable[[IO[bytes]], Any] | None] = [None] * 256
_HANDLER: list[Callable[[_Machine, Any], None]] = [_Machine.unhandled] * 256
for _op in pickletools.opcodes:
    _code = ord(_op.code)
    _KIND[_code] = _INLINE_KINDS.get(_op.name) or (
        _NOARG if _op.arg is None else _ARG_KINDS.get(_op.arg.name, _GENERIC)
    )
    _READER[_code] = None if _op.arg is None else _op.arg.reader
    _HANDLER[_code] = getattr(_Machine, "op_" + _op.name, None) or (
        _Machine.literal if _op.name in _LITERALS else _Machine.unhandled
    )
_STOP = ord(".")
del _op, _code

_unpack_from = struct.unpack_from
_decode_long = pickle.decode_long  # what pickletools' long1 reader uses
_BytesIO = io.BytesIO

_FIRST_WINDOW = 64 << 10  # most model pickles (a torch data.pkl) fit in the first window
_MAX_WINDOW = PICKLE_MAX_WINDOW_BYTES  # a larger argument is left to genops, which reads it in place


class _FastState:
    __slots__ = ("end",)

    def __init__(self) -> None:
        self.end = 0


def _walk_fast(machine: _Machine, buf: Buffer, start: int, max_ops: int, state: _FastState) -> int | None:
    """Run `machine` over the pickle at `start`, decoding opcodes from windows of bytes.

    Returns None when the walk is over (STOP reached: `state.end` is the offset after it), or the
    offset of the first opcode it left undecoded, for `_run_genops` to continue from. Opcode handlers'
    exceptions propagate with `state.end` set to the offset after the opcode's argument, where genops'
    reader would stand.

    The opcodes executed inline here do exactly what their `_Machine` handlers do; when one would fail
    (a memo key read before it was written, PUT on an empty stack) the handler runs instead and raises.

    Memory: a window is at most _MAX_WINDOW bytes, however large a length the pickle declares.
    """
    # Locals, not globals, in the loop: this function is where a scan of a checkpoint spends its time.
    GET1, PUT1, INT1, GROUP4, GET4, PUT4, INT4, I4 = _GET1, _PUT1, _INT1, _GET4, _GET4, _PUT4, _INT4, _I4
    UNI4, BYTES4, UNI1, BYTES1, U2, F8, LONG1, GENERIC = (
        _UNI4, _BYTES4, _UNI1, _BYTES1, _U2, _F8, _LONG1, _GENERIC,
    )  # fmt: skip
    kinds = _KIND
    handlers = _HANDLER
    readers = _READER
    unpack_from = _unpack_from
    memo = machine.memo
    size = len(buf)
    base = start
    window = _FIRST_WINDOW
    data = bytes(buf[base : min(size, base + window)])
    n = len(data)
    at_end = base + n >= size
    p = q = 0
    arg: Any = None
    index = machine.index
    fend = machine.frame_end  # where the current FRAME's data ends (-1: none), kept local in the loop
    try:
        while True:
            need = 0  # > 0: the opcode at p needs this many bytes from p, more than the window holds
            done = False  # executed inline
            if p >= n:
                need = 1
            else:
                code = data[p]
                kind = kinds[code]
                if kind == 0:  # _NOARG
                    arg = None
                    q = p + 1
                elif kind < GROUP4:  # one-byte argument
                    q = p + 2
                    if q > n:
                        need = 2
                    else:
                        arg = data[p + 1]
                        if kind == GET1:
                            if arg in memo:
                                machine.stack.append(memo[arg])
                                done = True
                        elif kind == PUT1:
                            if machine.stack:
                                memo[arg] = machine.stack[-1]
                                done = True
                        elif kind == INT1:
                            machine.stack.append(arg)
                            done = True
                elif kind < UNI4:  # four-byte argument
                    q = p + 5
                    if q > n:
                        need = 5
                    else:
                        arg = unpack_from("<i" if kind >= INT4 and kind <= I4 else "<I", data, p + 1)[0]
                        if kind == GET4:
                            if arg in memo:
                                machine.stack.append(memo[arg])
                                done = True
                        elif kind == PUT4:
                            if machine.stack:
                                memo[arg] = machine.stack[-1]
                                done = True
                        elif kind == INT4:
                            machine.stack.append(arg)
                            done = True
                elif kind < UNI1:  # four-byte length, then that many bytes
                    if p + 5 > n:
                        need = 5
                    else:
                        q = p + 5 + unpack_from("<I", data, p + 1)[0]
                        if q > n:
                            need = q - p
                        elif kind == BYTES4:
                            arg = data[p + 5 : q]
                        else:
                            try:
                                arg = str(data[p + 5 : q], "utf-8", "surrogatepass")
                            except UnicodeDecodeError:
                                return base + p  # genops raises it, with its reader's position
                            machine.stack.append(arg)
                            done = True
                elif kind < U2:  # one-byte length, then that many bytes
                    if p + 2 > n:
                        need = 2
                    else:
                        q = p + 2 + data[p + 1]
                        if q > n:
                            need = q - p
                        elif kind == BYTES1:
                            arg = data[p + 2 : q]
                        else:
                            try:
                                arg = str(data[p + 2 : q], "utf-8", "surrogatepass")
                            except UnicodeDecodeError:
                                return base + p
                            machine.stack.append(arg)
                            done = True
                elif kind == U2:
                    q = p + 3
                    if q > n:
                        need = 3
                    else:
                        arg = unpack_from("<H", data, p + 1)[0]
                elif kind == F8:
                    q = p + 9
                    if q > n:
                        need = 9
                    else:
                        arg = unpack_from(">d", data, p + 1)[0]
                elif kind == LONG1:
                    if p + 2 > n:
                        need = 2
                    else:
                        q = p + 2 + data[p + 1]
                        if q > n:
                            need = q - p
                        else:
                            arg = _decode_long(data[p + 2 : q])
                elif kind == GENERIC:
                    f = _BytesIO(data)
                    f.seek(p + 1)
                    try:
                        arg = readers[code](f)  # type: ignore[misc]
                    except Exception:
                        if f.tell() < n or at_end:
                            return base + p  # a malformed argument: genops reports it
                        need = n - p + 1  # ran into the window's end: retry with a larger window
                    q = f.tell()
                else:
                    return base + p  # not an opcode: genops reports it
            if need:
                if at_end or need > _MAX_WINDOW:
                    return base + p  # truncated, or too large to copy: genops reads it in place
                base += p
                window = min(_MAX_WINDOW, max(window * 2, need))
                data = bytes(buf[base : min(size, base + window)])
                n = len(data)
                at_end = base + n >= size
                p = q = 0
                continue
            if fend >= 0 and base + q > fend:
                machine.frame_crossed(base + p)
                fend = -1
            if not done:
                machine.pos = base + p
                machine.index = index
                handlers[code](machine, arg)
                fend = machine.frame_end  # only FRAME's handler changes it
            index += 1
            if code == _STOP:
                p = q
                return None
            if index >= max_ops:
                machine.pos = base + p
                p = q
                raise _Abort(f"more than {max_ops} opcodes")
            p = q
    finally:
        # On every exit: where genops' reader would stand (after the last opcode and its argument,
        # even when its handler raised), and how many opcodes completed.
        state.end = base + q
        if machine.index < index:
            machine.index = index


def _describe_decode_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if "opcode" in text and "unknown" in text:
        return f"invalid opcode ({text})"
    if any(w in text for w in ("remain", "no newline", "EOF", "exhausted")):
        return f"truncated ({text})"
    return f"malformed ({text})"


def walk_all(
    buf: Buffer,
    start: int = 0,
    *,
    max_pickles: int = DEFAULT_MAX_PICKLES,
    max_ops: int = DEFAULT_MAX_OPS,
    stop_on_error: bool = True,
) -> list[PickleTrace]:
    """Walk consecutive pickles (legacy PyTorch files hold five; joblib and hostile files more)."""
    traces: list[PickleTrace] = []
    pos = start
    size = len(buf)
    while pos < size and len(traces) < max_pickles:
        trace = walk(buf, pos, max_ops=max_ops)
        traces.append(trace)
        if trace.error and stop_on_error:
            break
        if trace.end <= pos:
            break
        pos = trace.end
    return traces


def walk_torch_legacy(buf: Buffer, *, max_ops: int = DEFAULT_MAX_OPS) -> list[PickleTrace]:
    """The pickles torch.load reads from a legacy (non-zip) checkpoint — magic number, protocol version,
    sys_info, the object graph, the storage keys — and nothing after them (raw storage bytes). Fewer
    when one breaks, and only the first when it is not the legacy magic number (then the file is a
    plain pickle). Inspect (tensors) and scan (its checks) both read a legacy file through this."""
    traces: list[PickleTrace] = []
    pos = 0
    for i in range(TORCH_LEGACY_PICKLES):
        trace = walk(buf, pos, max_ops=max_ops)
        traces.append(trace)
        if i == 0 and trace.complete and trace.result != TORCH_LEGACY_MAGIC:
            break
        if trace.error or trace.end <= pos:
            break
        pos = trace.end
    return traces


# torch.serialization's legacy MAGIC_NUMBER, the first pickle of a legacy checkpoint, and the number of
# pickles torch.load reads from such a file (a format constant, not a cap).
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PICKLES = 5


def iter_nodes(root: Any, *, max_nodes: int = MAX_GRAPH_NODES) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every reference reachable from `root`, with the key path that reached it.

    Keys of dictionaries and of items set on objects (OrderedDict state dicts) extend the path, so a
    tensor in `{"model": {"lm_head.weight": t}}` has the path ("model", "lm_head.weight"). A node
    referenced twice (a memoised, shared object such as a tied weight) is yielded at each path but
    expanded once, so traversal is cycle-safe. Iterative; stops after `max_nodes` references.
    """
    expanded: set[int] = set()
    todo: list[tuple[tuple[Any, ...], Any]] = [((), root)]
    count = 0
    while todo and count < max_nodes:
        path, node = todo.pop()
        count += 1
        yield path, node
        if not isinstance(node, list | tuple | SymDict | SymSet | Call | PersistentId):
            continue
        if id(node) in expanded:
            continue
        expanded.add(id(node))
        todo.extend(reversed(_children(path, node)))


def _children(path: tuple[Any, ...], node: Any) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, SymDict):
        keyed = [((*path, k), v) for k, v in node.items]
        return keyed + [(path, k) for k, _ in node.items if not isinstance(k, str | int)]
    if isinstance(node, list | tuple):
        return [((*path, i), v) for i, v in enumerate(node)]
    if isinstance(node, SymSet):
        return [(path, v) for v in node.items]
    if isinstance(node, PersistentId):
        return [(path, node.pid)]
    children = [((*path, k), v) for k, v in node.setitems]
    children += [((*path, i), v) for i, v in enumerate(node.appends)]
    children += [(path, node.func), (path, node.args)]
    if node.kwargs is not None:
        children.append((path, node.kwargs))
    if node.has_state:
        children.append((path, node.state))
    return children
