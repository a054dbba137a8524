"""NumPy `.npy` files (and, through the zip analyser, `.npz` members).

The header is read by the parser inspect shares (`artifacts/npy.py`: a Python literal dict read with
`ast.literal_eval`, as NumPy's own reader does). Whether NumPy's loader with allow_pickle on unpickles the
payload is decided by NumPy's dtype rules, mirrored here without NumPy: any dtype that holds Python
objects — `'O'`, `'|O'`, `'object'`, `'O8'`, NumPy 2's `'T'` (StringDType), a structured field of any
of those at any depth, a sub-array of one, a comma-separated string naming one — makes the loader run
the pickle that follows the header (docs/reference/scanners.md §7). That pickle is analysed like
any other. A header that cannot be read while the bytes after it look like a pickle is treated the
same way: the scanner must not be stricter than the loader.
"""

from __future__ import annotations

import math
import mmap
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelwarden.artifacts import pickle_vm as vm
from modelwarden.artifacts.detect import looks_like_pickle
from modelwarden.artifacts.npy import MAGIC, NpyHeaderError, read_npy_header
from modelwarden.artifacts.npy import descr_holds_objects as descr_holds_objects
from modelwarden.scan import pickles
from modelwarden.scan.context import Buffer, Ctx, Scope, View
from modelwarden.untrusted.io import open_regular

_MAGIC = MAGIC


def analyse_npy(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    """One .npy: its header read by the shared parser (`artifacts/npy.py`, what inspect reads too),
    then judged: an object dtype's pickle is analysed, a header that does not fit the data is malformed."""
    try:
        header = read_npy_header(buf)
    except NpyHeaderError as exc:
        ctx.add(scope, "numpy.malformed", exc.message)
        if exc.data_start is not None:
            _unread_header(buf, exc.data_start, scope, ctx)
        return
    data_start = header.data_start
    descr, shape = header.descr, header.shape
    if descr_holds_objects(descr):
        ctx.add(
            scope,
            "numpy.object-array",
            f"object array (descr {descr!r}, shape {shape!r}): np.load needs allow_pickle=True and runs its "
            "pickle",
            offset=data_start,
            evidence=repr(descr),
        )
        body = View(buf, data_start)
        inner = scope.child(f"object array pickle from byte {data_start}", name="pickle")
        pickles.analyse_stream(body, inner, ctx)
        return
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        ctx.add(scope, "numpy.malformed", f"shape {shape!r} is not a tuple of non-negative integers")
        return
    itemsize = _itemsize(descr)
    if itemsize is None:
        ctx.add(scope, "numpy.malformed", f"unknown dtype description {descr!r}")
        return
    need = math.prod(shape) * itemsize
    have = len(buf) - data_start
    if need > have:
        ctx.add(scope, "numpy.malformed", f"array needs {need} bytes but only {have} follow the header")


def _unread_header(buf: Buffer, data_start: int, scope: Scope, ctx: Ctx) -> None:
    """The header could not be read here; a loader may still read it (another NumPy version, no size
    cap with allow_pickle). If what follows it looks like a pickle, analyse it as the loader would."""
    if looks_like_pickle(buf[data_start : data_start + 64]):
        inner = scope.child(f"pickle after an unreadable header, from byte {data_start}", name="pickle")
        pickles.analyse_stream(View(buf, data_start), inner, ctx)


def _itemsize(descr: Any) -> int | None:
    import numpy as np

    try:
        # Builds a dtype from a string or a list of (name, format[, shape]) tuples: a parser, no code runs.
        return int(np.lib.format.descr_to_dtype(descr).itemsize)
    except (
        TypeError,
        ValueError,
        KeyError,
        IndexError,
        OverflowError,
        MemoryError,
        RecursionError,
        SyntaxError,
    ):
        return None  # NumPy parses comma-separated descriptions with ast.literal_eval


# ------------------------------------------------------------------------------------------------------
# joblib: arrays as joblib.load reads them
# ------------------------------------------------------------------------------------------------------

# Size in bytes of NumPy's fixed-size type codes, as `numpy.dtype(code)` gives them (checked against
# NumPy in tests). Kinds with a size suffix ('f8', 'i4', 'c16', 'O8') are read from the suffix.
_CHAR_SIZE = {
    "?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8, "p": 8,
    "P": 8, "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32, "O": 8, "M": 8, "m": 8, "c": 1,
}  # fmt: skip
_SIZED_KINDS = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8, 16), "c": (8, 16, 32),
                "O": (4, 8), "M": (8,), "m": (8,)}  # fmt: skip
_FLEXIBLE = {"V": 1, "S": 1, "a": 1, "U": 4}  # bytes per declared unit
_CODE = re.compile(r"([<>=|]?)([A-Za-z?])(\d*)")
_INT64 = 1 << 64


# How NumPy 2 pickles StringDType (np.dtype('T').__reduce__()), under both module spellings.
_STRING_DTYPE_REDUCERS = frozenset(
    {
        "numpy._core._internal._convert_to_stringdtype_kwargs",
        "numpy.core._internal._convert_to_stringdtype_kwargs",
    }
)


@dataclass(frozen=True)
class ArrayLayout:
    """How joblib's NumpyArrayWrapper.read consumes the stream after the wrapper's BUILD."""

    has_object: bool
    """The array's bytes are one plain pickle (`pickle.load` of the stream), not raw data."""
    itemsize: int
    """Bytes per element, as NumPy computes it for the unpickled dtype."""


def joblib_dtype_layout(dtype: Any) -> ArrayLayout | None:
    """The layout of a pickled `numpy.dtype(code, align, copy)` with its BUILD state, as NumPy's
    `dtype.__setstate__` leaves it; None when the scanner cannot tell (the caller fails closed).

    NumPy takes `hasobject` from the state's flags (bit 0) whenever a state is given — an 'O8' dtype
    whose flags are 0 is *not* an object dtype to the loader — and honours the state's `elsize` only
    for flexible types (void, bytes, str); a fixed-size type keeps the size its code gives, whatever
    the state says.
    """
    if isinstance(dtype, vm.Call) and dtype.func_name in _STRING_DTYPE_REDUCERS:
        return ArrayLayout(True, 16)  # NumPy 2's StringDType holds objects: its array is pickled inline
    if not isinstance(dtype, vm.Call) or not (dtype.func_name or "").endswith(".dtype"):
        return None
    args = dtype.args if isinstance(dtype.args, tuple) else ()
    code = args[0] if args and isinstance(args[0], str) else None
    m = _CODE.fullmatch(code) if code else None
    if m is None:
        return None
    kind, digits = m.group(2), m.group(3)
    size = _code_size(kind, digits)
    if size is None:
        return None
    has_object = kind == "O"
    if dtype.has_state:
        state = dtype.state
        if not (isinstance(state, tuple) and len(state) in (8, 9)):
            return None
        flags, elsize = state[7], state[5]
        if type(flags) is not int or type(elsize) is not int:
            return None
        has_object = bool(flags & 1)
        if kind in _FLEXIBLE:
            size = elsize
    return ArrayLayout(has_object, size)


def _code_size(kind: str, digits: str) -> int | None:
    if kind in _FLEXIBLE:
        return int(digits) * _FLEXIBLE[kind] if digits else 0
    if not digits:
        return _CHAR_SIZE.get(kind)
    n = int(digits)
    return n if n in _SIZED_KINDS.get(kind, ()) else None


_ARRAY_WRAPPERS = frozenset(
    {"joblib.numpy_pickle.NumpyArrayWrapper", "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper"}
)
# NumpyArrayWrapper.__init__(subclass, shape, order, dtype, allow_mmap=False,
#                            numpy_array_alignment_bytes=16)
_ARRAY_WRAPPER_INIT = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")
_ARRAY_ALIGNMENT_DEFAULT = 16


def array_wrapper_attributes(call: vm.Call) -> dict[str, Any] | None:
    """The attributes a NumpyArrayWrapper has when joblib's load_build reads its array: those its
    __init__ set (when the class itself was called), then the BUILD state's (dict, then slot state).
    None when the object is not one; `__opaque__` set when some attribute cannot be known."""
    cls = _class_global(call)
    if cls is None or cls.qualname not in _ARRAY_WRAPPERS:
        return None
    attrs: dict[str, Any] = {}
    if call.kind in ("reduce", "inst", "obj") and call.func is cls:
        args = call.args if isinstance(call.args, tuple) else None
        if args is None:
            return {"__opaque__": True}
        attrs.update(zip(_ARRAY_WRAPPER_INIT, args, strict=False))
        attrs.setdefault("allow_mmap", False)
        attrs.setdefault("numpy_array_alignment_bytes", _ARRAY_ALIGNMENT_DEFAULT)
    state = call.state
    parts = list(state) if isinstance(state, tuple) and len(state) == 2 else [state]
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, vm.SymDict):
            return {"__opaque__": True}
        for key, value in part.items:
            if not isinstance(key, str):
                return {"__opaque__": True}
            attrs[key] = value
    return attrs


def _class_global(call: vm.Call) -> vm.Global | None:
    func = call.func
    # Protocols 0 and 1 write the Python 2 name copy_reg, which pickle maps to copyreg.
    if isinstance(func, vm.Global) and func.qualname in ("copyreg._reconstructor", "copy_reg._reconstructor"):
        args = call.args if isinstance(call.args, tuple) else ()
        func = args[0] if args else None
    return func if isinstance(func, vm.Global) else None


def joblib_element_count(shape: Any) -> int | None:
    """np.multiply.reduce of the shape cast to int64, as joblib computes it: the product wraps around
    at 64 bits (a shape whose true product is 2**64 reads zero bytes). None when NumPy would refuse."""
    if not isinstance(shape, tuple) or not all(type(d) is int for d in shape):
        return None
    if not shape:
        return 1
    count = 1
    for d in shape:
        if not -(1 << 63) <= d < (1 << 63):
            return None  # numpy.int64(d) overflows: the load fails
        count = (count * d) % _INT64
    return count - _INT64 if count >= (1 << 63) else count


# ------------------------------------------------------------------------------------------------------
# joblib: NDArrayWrapper / ZNDArrayWrapper name another file
# ------------------------------------------------------------------------------------------------------

_WRAPPER_NAMES = {"NDArrayWrapper", "ZNDArrayWrapper"}


def wrapper_files(trace: vm.PickleTrace, scope: Scope, ctx: Ctx) -> None:
    """Old joblib (< 0.10) stored arrays beside the pickle: on BUILD of an NDArrayWrapper, joblib.load
    calls numpy.load(os.path.join(<the pickle's folder>, wrapper.filename), allow_pickle=True) — a path
    the file chooses. A ZNDArrayWrapper reads its file as zlib data. Any pickle can carry them, since
    joblib.load reads plain pickles too. Each referenced file is resolved as joblib does and analysed
    as numpy.load reads it (a pickle that is not .npy or .npz is unpickled as a plain pickle — even
    the file itself, whose array bytes joblib's own reader would have skipped)."""
    for call in trace.calls:
        cls = _wrapper_class(call)
        if cls is None or not call.has_state:
            continue  # the read happens in joblib's load_build, so only on BUILD
        filename = _wrapper_filename(call)
        _referenced_file(filename, cls, call, scope, ctx)


def _wrapper_class(call: vm.Call) -> str | None:
    func = _class_global(call)
    if func is not None and func.name in _WRAPPER_NAMES and "joblib" in func.module:
        return func.name
    return None


def _wrapper_filename(call: vm.Call) -> Any:
    filename: Any = None
    # __init__(filename, ...) runs only when the class itself is called (REDUCE, INST, OBJ).
    if call.kind in ("reduce", "inst", "obj") and isinstance(call.func, vm.Global):
        args = call.args if isinstance(call.args, tuple) else ()
        if args and call.func.name in _WRAPPER_NAMES:
            filename = args[0]
    state = call.state
    parts = list(state) if isinstance(state, tuple) and len(state) == 2 else [state]
    for part in parts:  # BUILD (state, slotstate): the slot state is applied last
        if isinstance(part, vm.SymDict):
            value = part.get("filename", _MISSING)
            if value is not _MISSING:
                filename = value
    return filename


_MISSING = object()


def _referenced_file(filename: Any, cls: str, call: vm.Call, scope: Scope, ctx: Ctx) -> None:
    where: dict[str, Any] = {"offset": call.pos, "opcode_index": call.index}
    if not isinstance(filename, str) or not filename or "\0" in filename:
        ctx.add(
            scope,
            "joblib.file-unverified",
            f"joblib {cls} names its file with {pickles.describe(filename)}, not a plain path: what"
            " joblib.load opens cannot be known before loading",
            evidence=pickles.describe(filename),
            **where,
        )
        return
    pickle_file = Path(scope.file)
    root = scope.root if scope.root is not None else pickle_file.parent
    target = Path(os.path.join(pickle_file.parent, filename))
    real = Path(os.path.realpath(target))
    roots = [Path(os.path.realpath(root))]
    # A Windows loader joins backslashes and drive letters as path syntax: judged as it would.
    windows_escape = "\\" in filename or re.match(r"^[A-Za-z]:", filename) is not None
    if windows_escape or not any(real == r or real.is_relative_to(r) for r in roots):
        ctx.add(
            scope,
            "joblib.file-escape",
            f"joblib {cls} makes joblib.load open {filename!r}, outside the model folder"
            + (" with numpy.load and allow_pickle enabled" if cls == "NDArrayWrapper" else ""),
            evidence=filename,
            **where,
        )
        return
    key = str(real)
    if key in ctx.loaded_files:
        return  # already analysed for this scan: a file that names itself a thousand times costs once
    ctx.loaded_files.add(key)
    try:
        fh = open_regular(real)
    except OSError as exc:
        ctx.add(
            scope,
            "joblib.file-unverified",
            f"joblib {cls} makes joblib.load open {filename!r}, which cannot be read here"
            f" ({exc.strerror or exc}): it is unverified",
            evidence=filename,
            **where,
        )
        return
    ctx.add(
        scope,
        "joblib.array-file",
        f"joblib {cls} makes joblib.load "
        + (
            f"call numpy.load({filename!r}, allow_pickle=True); that file was analysed as numpy.load reads it"
            if cls == "NDArrayWrapper"
            else f"read {filename!r} as zlib-compressed array data"
        ),
        evidence=filename,
        **where,
    )
    if cls != "NDArrayWrapper":
        fh.close()
        return  # ZNDArrayWrapper: raw array bytes, never unpickled
    with fh:
        size = os.fstat(fh.fileno()).st_size
        buf: Buffer = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            _as_numpy_load(buf, scope.child(f"file loaded by {cls}: {filename}", name=real.name), ctx)
        finally:
            if isinstance(buf, mmap.mmap):
                buf.close()


def _as_numpy_load(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    """numpy.load(allow_pickle=True): a zip is an .npz, the .npy magic an array, anything else is
    handed to pickle.load — a plain unpickler, with no joblib array handling."""
    if scope.depth > ctx.limits.max_depth:
        ctx.add(scope, "archive.decompression-limit", "nesting too deep: not analysed")
        return
    head = buf[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        ctx.nested(buf, scope)
    elif head.startswith(_MAGIC):
        analyse_npy(buf, scope, ctx)
    else:
        pickles.analyse_stream(buf, scope, ctx, context="plain", joblib_arrays=False)
