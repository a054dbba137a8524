"""NumPy `.npy` files (and, through the zip analyser, `.npz` members).

The header is a Python literal dict read with `ast.literal_eval` (what NumPy's own `safe_eval` does).
An object array (`descr` containing `O`) stores a pickle after the header, which `np.load` runs when
`allow_pickle=True` (reference/scanners.md technique 7): that pickle is analysed like any other.
"""

from __future__ import annotations

import ast
import math
import struct
from typing import Any

from modelwarden.scan import pickles
from modelwarden.scan.context import Buffer, Ctx, Scope, View

_MAGIC = b"\x93NUMPY"
_MAX_HEADER = 1 << 20  # NumPy itself refuses headers above 10 000 bytes unless told otherwise


def analyse_npy(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    head = buf[:12]
    if len(head) < 10 or not head.startswith(_MAGIC):
        ctx.add(scope, "numpy.malformed", "file is shorter than a .npy header")
        return
    major = head[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = 10
    elif major in (2, 3):
        if len(head) < 12:
            ctx.add(scope, "numpy.malformed", "truncated .npy header")
            return
        (hlen,) = struct.unpack("<I", head[8:12])
        start = 12
    else:
        ctx.add(scope, "numpy.malformed", f"unknown .npy format version {major}.{head[7]}")
        return
    if hlen > _MAX_HEADER or start + hlen > len(buf):
        ctx.add(scope, "numpy.malformed", f"declared header length {hlen} exceeds the file or the limit")
        return
    text = buf[start : start + hlen].decode("utf-8" if major == 3 else "latin1", errors="replace")
    try:
        header = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        ctx.add(scope, "numpy.malformed", f"header is not a Python literal: {type(exc).__name__}")
        return
    if not isinstance(header, dict) or not {"descr", "shape"} <= set(header):
        ctx.add(scope, "numpy.malformed", "header lacks 'descr' or 'shape'")
        return
    data_start = start + hlen
    descr, shape = header["descr"], header["shape"]
    if _has_object(descr):
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


def _has_object(descr: Any) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, list | tuple):
        return any(_has_object(part) for part in descr)
    return False


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
