"""Pickle analysis: every pickle in a stream, every import and call, nested pickles, broken streams.

The symbolic machine (`artifacts.pickle_vm`) walks the opcodes without executing anything; this module
judges what it saw against the allowlist policy (docs/reference/scanners.md §1–4):

- every import (GLOBAL, STACK_GLOBAL with memo-resolved names, INST, OBJ, EXT1/2/4) is classified;
- calls of values that are not plain imports (getattr chains) and BUILD on imported objects are flagged;
- bytes handed to a nested loader (`torch.storage._load_from_bytes`, `pickle.loads`, ...) are analysed as
  files of their own;
- a broken or truncated stream is a finding, and everything before the break is still judged, because a
  loader has already executed it ("nullifAI").
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickletools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

from modelwarden.artifacts import pickle_vm as vm
from modelwarden.artifacts.detect import compression_of, looks_like_pickle
from modelwarden.scan.context import Buffer, Ctx, Scope, View
from modelwarden.scan.policy import Tier, load_policy

# Dangerous callables that load their (bytes) argument as another pickle or checkpoint: when the bytes
# are constants of the file we analyse them too, so the report shows what the nested payload does.
_NESTED_DANGEROUS = frozenset(
    {
        "pickle.loads",
        "_pickle.loads",
        "pickle._loads",
        "dill.loads",
        "cloudpickle.loads",
        "torch.load",
        "torch.serialization.load",
        "joblib.load",
        "numpy.load",
    }
)

_JOBLIB_WRAPPERS = frozenset(
    {"joblib.numpy_pickle.NumpyArrayWrapper", "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper"}
)


@dataclass
class StreamResult:
    traces: list[vm.PickleTrace] = field(default_factory=list)
    end: int = 0  # offset just after the last pickle analysed

    def storage_keys(self) -> set[str]:
        """Keys of PyTorch storages named by persistent ids ('storage', type, key, location, numel)."""
        keys: set[str] = set()
        for t in self.traces:
            for p in t.persistent_ids:
                pid = p.pid
                if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage":
                    keys.add(str(pid[2]))
        return keys


# ------------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------------


def analyse_stream(
    buf: Buffer,
    scope: Scope,
    ctx: Ctx,
    *,
    context: str = "plain",
    start: int = 0,
    check_trailing: bool = True,
    joblib_arrays: bool = True,
) -> StreamResult:
    """Analyse every pickle in `buf` from `start`: a file may hold several back to back.

    `joblib_arrays=False` when the loader is known to be plain pickle.load (numpy.load of a file that
    is not .npy): array wrappers are then ordinary objects and the bytes after them are opcodes."""
    result = StreamResult(end=start)
    pos = start
    size = len(buf)
    hook = _JoblibHook(ctx) if context == "joblib" else None
    while pos < size and len(result.traces) < ctx.limits.max_pickles_per_stream:
        trace = vm.walk(
            buf, pos, max_ops=ctx.limits.max_pickle_ops, after_build=hook.after_build if hook else None
        )
        if joblib_arrays and hook is None and any(g.qualname in _JOBLIB_WRAPPERS for g in trace.imports):
            # Only joblib writes array wrappers, and joblib.load reads array bytes after each one
            # whatever the file is called (detection may have seen no wrapper in the file's first
            # bytes: a model's arrays come late): walk it again as joblib.load does.
            context = "joblib"
            hook = _JoblibHook(ctx)
            trace = vm.walk(buf, pos, max_ops=ctx.limits.max_pickle_ops, after_build=hook.after_build)
        result.traces.append(trace)
        judge_trace(trace, scope, ctx, context=context)
        if hook:
            hook.flush(scope, context)
        result.end = trace.end
        if trace.error or trace.end <= pos:
            return result
        pos = trace.end
        if pos < size and not looks_like_pickle(buf[pos : pos + 64]):
            break
    if check_trailing and result.end < size:
        _trailing(buf, result.end, scope, ctx)
    return result


def executes_as_pickle(buf: Buffer, ctx: Ctx) -> bool:
    """True when a loader handed `buf` would import and call something before any error.

    For bytes detection did not type as a pickle: protocol 0/1 pickles have no header, and one that
    breaks right after its call ("cposix\nsystem\n(S'id'\ntR" then garbage), or one starting straight
    with STACK_GLOBAL's string operands, reads as text or unknown data — but pickle.load runs it.
    """
    if not buf or buf[:1] not in _OPCODE_BYTES:
        return False
    trace = vm.walk(buf, 0, max_ops=ctx.limits.max_pickle_ops)
    if not trace.imports:
        return False
    if trace.calls:
        return True
    policy = load_policy()
    return any(
        policy.classify(g.module, g.name, protocol=g.protocol).tier is Tier.DANGEROUS for g in trace.imports
    )


_OPCODE_BYTES = frozenset(bytes([ord(op.code)]) for op in pickletools.opcodes)


def analyse_torch_legacy(buf: Buffer, scope: Scope, ctx: Ctx) -> StreamResult:
    """A legacy (non-zip) torch.save file: magic, protocol, sys_info, the object, storage keys, then raw
    storage bytes. torch.load unpickles exactly these five; everything after is tensor data."""
    result = StreamResult()
    # The same five pickles inspect reads its tensors from (a file whose first pickle is not the legacy
    # magic number yields only that one, judged as a plain pickle).
    for i, trace in enumerate(vm.walk_torch_legacy(buf, max_ops=ctx.limits.max_pickle_ops)):
        result.traces.append(trace)
        judge_trace(trace, scope, ctx, context="torch" if i == 3 else "plain")
        result.end = trace.end
    return result


def analyse_compressed(buf: Buffer, scope: Scope, ctx: Ctx, *, context: str = "joblib") -> bool:
    """A pickle (joblib) inside a zlib/gzip/bz2/xz/lzma/lz4 stream, decompressed on the fly with caps.

    Returns False when the compression is not one we can read (the caller reports it).
    """
    kind = compression_of(buf[:16])
    stream = _decompressor(kind, buf)
    if stream is None:
        return False
    reader = vm.StreamReader(stream, limit=ctx.limits.max_stream_bytes)
    limited = _ReadCap(reader, ctx.limits.max_entry_bytes)
    hook = _JoblibHook(ctx) if context == "joblib" else None
    inner = scope.child(f"{kind} stream", name=scope.name)
    try:
        for _ in range(ctx.limits.max_pickles_per_stream):
            trace = vm.walk_reader(
                limited, max_ops=ctx.limits.max_pickle_ops, after_build=hook.after_build if hook else None
            )
            judge_trace(trace, inner, ctx, context=context)
            if hook:
                hook.flush(inner, context)
            if trace.error:
                break
            following = limited.peek(16)
            if not following:
                break
            if not looks_like_pickle(following):
                ctx.add(inner, "pickle.trailing-data", "data follows the last pickle", offset=limited.tell())
                break
    except (OSError, EOFError, zlib.error, lzma.LZMAError, RuntimeError) as exc:
        ctx.add(inner, "pickle.malformed", f"the {kind} stream is corrupt: {exc}")
    if reader.truncated_by_limit:
        ctx.add(
            inner,
            "archive.decompression-limit",
            f"decompressed data exceeds {ctx.limits.max_stream_bytes} bytes; the rest was not analysed",
        )
    return True


# ------------------------------------------------------------------------------------------------------
# Judging one walked pickle
# ------------------------------------------------------------------------------------------------------


def judge_trace(trace: vm.PickleTrace, scope: Scope, ctx: Ctx, *, context: str) -> None:
    for amb in trace.ambiguities:
        ctx.add(
            scope,
            "pickle.ambiguous",
            f"loaders read different opcodes here: {amb.message}",
            evidence=amb.message,
            offset=amb.pos,
            opcode_index=amb.index,
        )
    callers = _first_call_per_import(trace)
    for g in trace.imports:
        _judge_import(g, trace, scope, ctx, context=context, call=callers.get(id(g)))
    for call in trace.calls:
        _judge_call(call, trace, scope, ctx, context=context)
    for anomaly in trace.anomalies:
        if anomaly.message.startswith(vm.INSTANCE_HOOK_ANOMALY):
            hooks = anomaly.message.removeprefix(vm.INSTANCE_HOOK_ANOMALY).strip()
            ctx.add(
                scope,
                "pickle.hook-injection",
                f"BUILD stores {hooks} on an instance: the loader then calls that value on the next "
                "BUILD or APPENDS",
                evidence=hooks,
                offset=anomaly.pos,
                opcode_index=anomaly.index,
            )
        if anomaly.message.startswith("BUILD applied directly to"):
            target = anomaly.message.removeprefix("BUILD applied directly to ").strip()
            ctx.add(
                scope,
                "pickle.build-on-global",
                f"BUILD sets attributes on the imported object {target}",
                evidence=target,
                offset=anomaly.pos,
                opcode_index=anomaly.index,
            )
    if context == "plain" and trace.persistent_ids:
        ctx.add(
            scope,
            "pickle.persistent-id",
            f"{len(trace.persistent_ids)} persistent id(s): only a persistent_load hook resolves them",
            offset=trace.persistent_ids[0].pos,
        )
    if trace.error:
        _judge_error(trace, scope, ctx)
    from modelwarden.scan.numpy_files import wrapper_files  # numpy_files imports this module

    wrapper_files(trace, scope, ctx)


def _judge_import(
    g: vm.Global, trace: vm.PickleTrace, scope: Scope, ctx: Ctx, *, context: str, call: vm.Call | None
) -> None:
    where: dict[str, Any] = {"offset": g.pos, "opcode_index": g.index}
    if not g.resolved:
        ctx.add(
            scope,
            "pickle.unresolved-import",
            f"{g.opcode} imports a name computed at load time ({g.module}.{g.name})",
            evidence=f"{g.module}.{g.name}",
            **where,
        )
        return
    if g.opcode.startswith("EXT"):
        ctx.add(
            scope,
            "pickle.extension-code",
            f"{g.opcode} imports copyreg extension code {g.name}: whatever the loading process registered",
            evidence=f"{g.opcode} {g.name}",
            **where,
        )
        return
    verdict = load_policy().classify(g.module, g.name, protocol=g.protocol, context=context)
    tier = verdict.tier
    if tier is Tier.ALLOW or tier is Tier.NESTED:
        return  # nothing to report (nested loads are judged with their call); skip describing the args
    # The finding is decided above; describing the arguments is bounded and cannot raise (an int of
    # 5,000 digits once made it fail and lose a critical finding).
    evidence = verdict.qualname
    if call is not None:
        evidence = f"{verdict.qualname}({safe_describe_args(call.args, call.kwargs)})"
    if tier is Tier.DANGEROUS:
        ctx.add(
            scope,
            "pickle.dangerous-import",
            f"imports {verdict.qualname} ({verdict.reason}) with {g.opcode}"
            + (f" and calls it ({call.kind.upper()})" if call else ""),
            evidence=evidence,
            **where,
        )
    elif tier is Tier.UNKNOWN:
        ctx.add(
            scope,
            "pickle.unknown-import",
            f"imports {verdict.qualname} with {g.opcode}: {verdict.reason}",
            evidence=evidence,
            **where,
        )
    elif tier is Tier.TRAINING:
        ctx.add(
            scope,
            "pickle.training-object",
            f"training object {verdict.qualname}" + (f" {verdict.reason}" if verdict.reason else ""),
            evidence=verdict.qualname,
            **where,
        )
    elif tier is Tier.LIBRARY:
        ctx.add(
            scope,
            "pickle.library-class",
            f"pickled object of class {verdict.qualname}: loading needs that library",
            evidence=verdict.qualname,
            **where,
        )


_APPLY_DEPTH = 8  # _rebuild_from_type(_rebuild_from_type, Tensor, (...)) nests; each level is judged


def _judge_call(
    call: vm.Call, trace: vm.PickleTrace, scope: Scope, ctx: Ctx, *, context: str, depth: int = 0
) -> None:
    func = call.func
    module_class = _legacy_module_class(func, context)
    if module_class is not None:
        # torch.load returns whatever the 'module' pid names and the loader calls it: judge the call
        # as one of that import (a value-only function is no class to construct).
        func = module_class
    if not isinstance(func, vm.Global):
        ctx.add(
            scope,
            "pickle.indirect-call",
            f"{call.kind.upper()} calls {safe_describe(func)}, a value that no import names",
            evidence=f"{safe_describe(func)}({safe_describe_args(call.args, call.kwargs)})",
            offset=call.pos,
            opcode_index=call.index,
        )
        return
    if not func.resolved or func.opcode.startswith("EXT"):
        return
    verdict = load_policy().classify(func.module, func.name, protocol=func.protocol, context=context)
    if verdict.new_only and call.kind in _CALLS_INIT and _has_arguments(call.args):
        ctx.add(
            scope,
            "pickle.unsafe-constructor",
            f"{call.kind.upper()} calls {verdict.qualname} with arguments: its __init__ can read files "
            "(pickles of it never call __init__)",
            evidence=f"{verdict.qualname}({safe_describe_args(call.args, call.kwargs)})",
            offset=call.pos,
            opcode_index=call.index,
        )
    if not verdict.callable_at_load:
        ctx.add(
            scope,
            "pickle.call-of-value",
            f"{call.kind.upper()} calls {verdict.qualname}, allowlisted only as a stored value: pickling "
            "never calls it, and library helpers can be chained into getattr-and-call",
            evidence=f"{verdict.qualname}({safe_describe_args(call.args, call.kwargs)})",
            offset=call.pos,
            opcode_index=call.index,
        )
    _judge_state_setter(call, verdict.qualname, scope, ctx)
    most = load_policy().class_factories.get(verdict.qualname)
    if most is not None and call.kind in _CALLS_INIT and not _at_most(call.args, most):
        ctx.add(
            scope,
            "pickle.class-factory",
            f"{call.kind.upper()} calls {verdict.qualname} with more than {most} argument(s): that builds a "
            "new class whose methods the pickle chooses",
            evidence=f"{verdict.qualname}({safe_describe_args(call.args, call.kwargs)})",
            offset=call.pos,
            opcode_index=call.index,
        )
    applied = load_policy().apply_functions.get(verdict.qualname)
    if applied is not None:
        _judge_applied(call, applied, trace, scope, ctx, context=context, depth=depth)
    if verdict.qualname == "copyreg._reconstructor":
        _judge_reconstructor(call, scope, ctx)
    if verdict.tier is Tier.DANGEROUS and call.has_state:
        _nested_state(call, verdict.qualname, scope, ctx)
    nested_ok = verdict.tier is Tier.NESTED
    if not nested_ok and verdict.qualname not in _NESTED_DANGEROUS:
        return
    payload = _constant_bytes(call.args)
    if payload is None:
        if nested_ok:
            ctx.add(
                scope,
                "pickle.dynamic-nested-load",
                f"{verdict.qualname} loads bytes computed at load time",
                evidence=f"{verdict.qualname}({safe_describe_args(call.args, call.kwargs)})",
                offset=call.pos,
                opcode_index=call.index,
            )
        return
    if nested_ok:
        ctx.add(
            scope,
            "pickle.nested-pickle",
            f"{verdict.qualname} loads {len(payload)} bytes carried in the pickle; analysed as its own file",
            evidence=verdict.qualname,
            offset=call.pos,
            opcode_index=call.index,
        )
    inner = scope.child(f"bytes loaded by {verdict.qualname} at byte {call.pos}", name="nested")
    ctx.nested(payload, inner)


def _legacy_module_class(func: Any, context: str) -> vm.Global | None:
    """Legacy torch.save of a whole model names each module class by a persistent id
    ('module', cls, source_file, source); torch.load's persistent_load returns cls, which is then called."""
    if context != "torch" or not isinstance(func, vm.PersistentId):
        return None
    pid = func.pid
    if isinstance(pid, tuple) and len(pid) >= 2 and pid[0] == "module" and isinstance(pid[1], vm.Global):
        return pid[1]
    return None


# Call kinds that run the class's __init__ (NEWOBJ and copyreg.__newobj__ only run __new__).
_CALLS_INIT = frozenset({"reduce", "inst", "obj"})


def _judge_state_setter(call: vm.Call, qualname: str, scope: Scope, ctx: Ctx) -> None:
    at = load_policy().state_setters.get(qualname)
    args = call.args
    if at is None or not (isinstance(args, tuple) and len(args) > at):
        return
    hooks = vm.instance_hooks(args[at])
    if hooks:
        ctx.add(
            scope,
            "pickle.hook-injection",
            f"{qualname} sets {', '.join(hooks)} on the object it rebuilds: the loader then calls that "
            "value on the next BUILD or APPENDS",
            evidence=", ".join(hooks),
            offset=call.pos,
            opcode_index=call.index,
        )


def _judge_applied(
    call: vm.Call,
    applied: tuple[int, int, str],
    trace: vm.PickleTrace,
    scope: Scope,
    ctx: Ctx,
    *,
    context: str,
    depth: int,
) -> None:
    """An allowlisted function that calls `args[callee](*args[arguments])` (torch's
    _rebuild_from_type): judge that inner call as if the pickle made it, so a value-only name or a
    computed value cannot be called through it."""
    callee_at, args_at, mode = applied
    args = call.args
    if not (isinstance(args, tuple) and len(args) > max(callee_at, args_at)):
        return  # the defaults (numpy's table lookup) or a loader error: nothing the pickle chose is called
    callee = args[callee_at]
    if callee is None or isinstance(callee, str | bytes | int | float):
        return  # a name looked up in the function's own table, or a TypeError: no call of a value
    if depth >= _APPLY_DEPTH:
        ctx.add(
            scope,
            "pickle.too-complex",
            f"calls nested more than {_APPLY_DEPTH} deep through rebuild functions",
            offset=call.pos,
            opcode_index=call.index,
        )
        return
    passed = {"tuple": args[args_at], "one": (args[args_at],)}.get(mode, ())
    inner = vm.Call(callee, passed, "reduce", call.pos, call.index)
    _judge_call(inner, trace, scope, ctx, context=context, depth=depth + 1)


def _judge_reconstructor(call: vm.Call, scope: Scope, ctx: Ctx) -> None:
    # copyreg._reconstructor(cls, base, state) runs base.__init__(obj, state) when base is not object:
    # an allowlisted class whose __init__ is unsafe is reached that way too.
    args = call.args
    if not (isinstance(args, tuple) and len(args) == 3 and isinstance(args[1], vm.Global)):
        return
    base = args[1]
    verdict = load_policy().classify(base.module, base.name, protocol=base.protocol)
    if verdict.new_only and args[2] is not None:
        ctx.add(
            scope,
            "pickle.unsafe-constructor",
            f"copyreg._reconstructor runs {verdict.qualname}.__init__ with the pickle's state: its "
            "__init__ can read files",
            evidence=f"copyreg._reconstructor({safe_describe_args(args)})",
            offset=call.pos,
            opcode_index=call.index,
        )


def _at_most(args: Any, n: int) -> bool:
    return isinstance(args, tuple) and len(args) <= n


def _has_arguments(args: Any) -> bool:
    return not (isinstance(args, tuple) and len(args) == 0)


def _nested_state(call: vm.Call, qualname: str, scope: Scope, ctx: Ctx) -> None:
    """A dangerous class whose __setstate__ unpickles its state (torch's DataPipe serialization
    wrappers run pickle.loads on it): analyse constant pickle bytes in the state as a file of their own,
    so the report shows what the nested payload does."""
    state = call.state
    candidates: list[Any] = []
    if isinstance(state, tuple | list):
        candidates = list(state[:8])
    elif isinstance(state, vm.SymDict):
        candidates = [v for _, v in state.items[:16]]
    else:
        candidates = [state]
    for value in candidates:
        payload = _constant_bytes((value,))
        if payload is not None and looks_like_pickle(payload[:64]):
            inner = scope.child(f"state unpickled by {qualname} at byte {call.pos}", name="nested")
            ctx.nested(payload, inner)


def _judge_error(trace: vm.PickleTrace, scope: Scope, ctx: Ctx) -> None:
    error = trace.error or ""
    if error.startswith("more than") or "analysis limit" in error:
        ctx.add(
            scope,
            "pickle.too-complex",
            f"analysis stopped: {error}; the rest of the stream is unverified",
            offset=trace.error_pos,
            opcode_index=trace.ops,
        )
        return
    before = len(trace.imports)
    ctx.add(
        scope,
        "pickle.malformed",
        f"pickle stream breaks after {trace.ops} opcodes ({error}); a loader runs everything before the break"
        + (f" — {before} import(s) precede it" if before else ""),
        evidence=error,
        offset=trace.error_pos,
        opcode_index=trace.ops,
    )


def _trailing(buf: Buffer, pos: int, scope: Scope, ctx: Ctx) -> None:
    size = len(buf)
    head = buf[pos : pos + 16]
    if not head.strip(b"\x00\n\r\t "):
        return  # padding
    ctx.add(
        scope,
        "pickle.trailing-data",
        f"{size - pos} bytes follow the last pickle",
        offset=pos,
    )
    ctx.nested(View(buf, pos, size), scope.child(f"trailing data from byte {pos}", name=scope.name))


# ------------------------------------------------------------------------------------------------------
# joblib: array bytes (or a nested pickle) follow each NumpyArrayWrapper's BUILD
# ------------------------------------------------------------------------------------------------------


class _JoblibHook:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.nested: list[vm.PickleTrace] = []
        self.problems: list[tuple[int, str, str]] = []  # (offset, rule id, message)

    def after_build(self, call: vm.Call, reader: vm.Reader) -> None:
        from modelwarden.scan.numpy_files import (
            array_wrapper_attributes,
            joblib_dtype_layout,
            joblib_element_count,
        )

        state = array_wrapper_attributes(call)  # joblib tests isinstance: any way the object was built
        if state is None:
            return
        layout = joblib_dtype_layout(state.get("dtype"))
        count = joblib_element_count(state.get("shape"))
        if layout is None or count is None or state.get("__opaque__"):
            # The scanner cannot tell how many bytes joblib reads here, so where the stream resumes.
            self.problems.append(
                (reader.tell(), "joblib.ambiguous-array", "array wrapper with an unreadable dtype or shape")
            )
            raise _Desync
        if layout.has_object:
            # joblib hands the stream to pickle.load: a plain unpickler, without this hook.
            self.nested.append(vm.walk_reader(reader, max_ops=self.ctx.limits.max_pickle_ops))
            return
        if state.get("numpy_array_alignment_bytes") is not None:
            pad = reader.read(1)
            if pad:
                reader.skip(pad[0])
        if count < 0 or (count > 0 and layout.itemsize <= 0):
            # A negative count or a zero item size makes joblib fail here; a negative size makes its
            # read loop read nothing: where the loader resumes is then not the scanner's to guess.
            rule = "joblib.ambiguous-array" if layout.itemsize < 0 else "pickle.malformed"
            message = f"array of {count} elements of {layout.itemsize} bytes"
            self.problems.append((reader.tell(), rule, message))
            raise _Desync
        reader.skip(count * layout.itemsize)

    def flush(self, scope: Scope, context: str) -> None:
        for trace in self.nested:
            inner = scope.child(f"object array pickle from byte {trace.start}", name="nested")
            judge_trace(trace, inner, self.ctx, context=context)
        self.nested.clear()
        for pos, rule_id, message in self.problems:
            self.ctx.add(scope, rule_id, message, offset=pos)
        self.problems.clear()


class _Desync(ValueError):
    """Raised from the joblib hook to stop the walk where the loader's position is unknown."""


# ------------------------------------------------------------------------------------------------------
# Decompression (joblib compressed files)
# ------------------------------------------------------------------------------------------------------


class BufferIO(io.RawIOBase):
    """A read-only file over a buffer (an mmap slice) without copying it."""

    def __init__(self, buf: Buffer) -> None:
        self._buf = buf
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._buf[self._pos : self._pos + len(b)]
        n = len(data)
        b[:n] = data
        self._pos += n
        return n

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._buf)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


class _ZlibStream(io.RawIOBase):
    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._d = zlib.decompressobj()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._pending:
            if self._d.unconsumed_tail:
                self._pending = self._d.decompress(self._d.unconsumed_tail, len(b))
                continue
            chunk = self._raw.read(1 << 16)
            if not chunk:
                self._pending = self._d.flush()
                if not self._pending:
                    return 0
                break
            self._pending = self._d.decompress(chunk, len(b))
            if self._d.eof and not self._pending:
                return 0
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _decompressor(kind: str | None, buf: Buffer) -> IO[bytes] | None:
    raw = io.BufferedReader(BufferIO(buf))
    if kind == "gzip":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw))
    if kind == "bz2":
        return bz2.BZ2File(raw)
    if kind in ("xz", "lzma"):
        return lzma.LZMAFile(raw)
    if kind == "zlib":
        return io.BufferedReader(_ZlibStream(raw))
    if kind == "lz4":
        import lz4.frame

        return cast(IO[bytes], lz4.frame.LZ4FrameFile(raw))
    return None  # joblib's pre-0.10 "ZF" container and unknown kinds


class _ReadCap:
    """Wraps a stream reader: refuses a single pickle argument larger than the cap, and can peek."""

    def __init__(self, reader: vm.StreamReader, cap: int) -> None:
        self._r = reader
        self._cap = cap
        self._peeked = b""

    def _take(self, n: int) -> bytes:
        first, self._peeked = self._peeked[:n], self._peeked[n:]
        return first

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._cap
        if n > self._cap:
            raise ValueError(f"pickle argument of {n} bytes exceeds the analysis limit")
        first = self._take(n)
        return first + self._r.read(n - len(first)) if len(first) < n else first

    def readline(self) -> bytes:
        nl = self._peeked.find(b"\n")
        if nl >= 0:
            return self._take(nl + 1)
        return self._take(len(self._peeked)) + self._r.readline()

    def tell(self) -> int:
        return self._r.tell() - len(self._peeked)

    def skip(self, n: int) -> int:
        first = len(self._take(n))
        return first + self._r.skip(n - first)

    def peek(self, n: int) -> bytes:
        if len(self._peeked) < n:
            self._peeked += self._r.read(n - len(self._peeked))
        return self._peeked[:n]


# ------------------------------------------------------------------------------------------------------
# Describing symbolic values for evidence
# ------------------------------------------------------------------------------------------------------


_PICKLE_BYTES_CODECS = frozenset({"latin1", "latin-1", "iso-8859-1", "utf-8", "utf8", "ascii"})


def _constant_bytes(args: Any) -> bytes | None:
    if not isinstance(args, tuple) or not args:
        return None
    first = args[0]
    if isinstance(first, bytes | bytearray):
        return bytes(first)
    # Protocol 2 writes bytes as _codecs.encode(text, "latin1").
    if isinstance(first, vm.Call) and first.func_name == "_codecs.encode" and isinstance(first.args, tuple):
        inner = first.args
        if inner and isinstance(inner[0], str):
            encoding = inner[1] if len(inner) > 1 and isinstance(inner[1], str) else "utf-8"
            # Only the codecs pickle itself writes: an attacker-chosen codec name can be malformed
            # (embedded NUL), a text-to-text codec, or make codecs.lookup import an encodings module.
            if encoding.lower().replace("_", "-") not in _PICKLE_BYTES_CODECS:
                return None
            try:
                return inner[0].encode(encoding)
            except UnicodeEncodeError:
                return None
    return None


def describe(value: Any, budget: int = 120, depth: int = 0) -> str:
    # depth is threaded through nested containers: a pickle can build a list that contains itself
    # (APPEND of a memoised list onto itself), so only the depth bounds the walk.
    text = "".join(_describe(value, depth=depth))
    return text if len(text) <= budget else text[: budget - 3] + "..."


def describe_args(args: Any, kwargs: Any = None, budget: int = 160, depth: int = 0) -> str:
    parts: list[str] = []
    if isinstance(args, tuple):
        parts.extend(describe(a, 80, depth) for a in args[:6])
        if len(args) > 6:
            parts.append("...")
    elif args is not None:
        parts.append("*" + describe(args, 80, depth))
    if isinstance(kwargs, vm.SymDict):
        parts.extend(f"{k}={describe(v, 60, depth)}" for k, v in kwargs.items[:6])
    text = ", ".join(parts)
    return text if len(text) <= budget else text[: budget - 3] + "..."


def safe_describe(value: Any, budget: int = 120) -> str:
    """`describe` that cannot raise: evidence must never cost a finding."""
    try:
        return describe(value, budget)
    except Exception as exc:  # hostile values: the finding is what matters
        return f"<value not shown: {type(exc).__name__}>"


def safe_describe_args(args: Any, kwargs: Any = None, budget: int = 160) -> str:
    """`describe_args` that cannot raise."""
    try:
        return describe_args(args, kwargs, budget)
    except Exception as exc:  # hostile values: the finding is what matters
        return f"<arguments not shown: {type(exc).__name__}>"


_INT_DIGITS_SHOWN = 40


def _describe_int(value: int) -> str:
    # repr() of an int over 4,300 digits raises ValueError (CPython's int_max_str_digits), and a
    # million-digit one takes seconds: judge the size by its bits first.
    if value.bit_length() > _INT_DIGITS_SHOWN * 3:
        return f"<int of {value.bit_length()} bits>"
    return repr(value)


def _describe(value: Any, depth: int) -> Iterator[str]:
    if depth > 3:
        yield "…"
        return
    if isinstance(value, vm.Global):
        yield value.qualname
    elif isinstance(value, vm.Call) and value.func_name == "_codecs.encode":
        raw = _constant_bytes((value,))
        yield _describe_bytes(raw) if raw is not None else "_codecs.encode(...)"
    elif isinstance(value, vm.Call):
        yield from _describe(value.func, depth + 1)
        yield "(" + describe_args(value.args, value.kwargs, 80, depth + 1) + ")"
    elif isinstance(value, str):
        yield repr(value if len(value) <= 60 else value[:57] + "...")
    elif isinstance(value, bytes | bytearray):
        yield _describe_bytes(bytes(value))
    elif isinstance(value, tuple | list):
        open_, close = ("(", ")") if isinstance(value, tuple) else ("[", "]")
        more = ", ..." if len(value) > 4 else ""
        yield open_ + ", ".join(describe(v, 40, depth + 1) for v in value[:4]) + more + close
    elif isinstance(value, vm.SymDict):
        pairs = (f"{describe(k, 20, depth + 1)}: {describe(v, 30, depth + 1)}" for k, v in value.items[:3])
        yield "{" + ", ".join(pairs) + "}"
    elif isinstance(value, vm.PersistentId):
        yield "persistent_id(" + describe(value.pid, 60, depth + 1) + ")"
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        yield repr(value)
    elif isinstance(value, int):
        yield _describe_int(value)
    else:
        yield f"<{type(value).__name__}>"


def _describe_bytes(raw: bytes) -> str:
    return f"<{len(raw)} bytes>" if len(raw) > 24 else repr(raw)


def _first_call_per_import(trace: vm.PickleTrace) -> dict[int, vm.Call]:
    out: dict[int, vm.Call] = {}
    for c in trace.calls:
        if isinstance(c.func, vm.Global):
            out.setdefault(id(c.func), c)
    return out
