"""NumPy `.npy` files (and, through the zip analyser, `.npz` members).

The header is a Python literal dict read with `ast.literal_eval` (what NumPy's own reader does, with
its fallback for headers written by Python 2). Whether `np.load(allow_pickle=True)` unpickles the
payload is decided by NumPy's dtype rules, mirrored here without NumPy: any dtype that holds Python
objects — `'O'`, `'|O'`, `'object'`, `'O8'`, NumPy 2's `'T'` (StringDType), a structured field of any
of those at any depth, a sub-array of one, a comma-separated string naming one — makes the loader run
the pickle that follows the header (reference/scanners.md technique 7). That pickle is analysed like
any other. A header that cannot be read while the bytes after it look like a pickle is treated the
same way: the scanner must not be stricter than the loader.
"""

from __future__ import annotations

import ast
import io
import math
import re
import struct
import tokenize
from itertools import islice
from typing import Any

from modelwarden.artifacts.detect import looks_like_pickle
from modelwarden.scan import pickles
from modelwarden.scan.context import Buffer, Ctx, Scope, View

_MAGIC = b"\x93NUMPY"
# NumPy ignores its own 10 000-byte header cap when allow_pickle is on, so ours is only a memory bound.
_MAX_HEADER = 64 << 20
_MAX_DESCR_DEPTH = 64  # deeper descriptions are taken to hold objects (NumPy recurses far deeper)
_MAX_FIELDS = 100_000
# Type names in a dtype string: an object type starts with "o"/"O" ('O', 'O8', 'object', 'object_');
# 'T' is NumPy 2's variable-width StringDType, whose arrays are also saved and loaded as pickles.
_WORD = re.compile(r"[A-Za-z_]+")


def descr_holds_objects(descr: Any, depth: int = 0) -> bool:
    """Whether `numpy.lib.format.descr_to_dtype(descr)` builds a dtype that holds Python objects.

    Mirrors descr_to_dtype's own walk: a string is a dtype spelling; a tuple is (base, shape); anything
    else is iterated as fields, each unpacked as (name, format) or (name, format, shape) — so a dict
    contributes its keys and a two-character string 'xO' is the field x of type 'O'. Errs towards
    True: a description NumPy would refuse costs a pickle walk, never a missed one.
    """
    if depth > _MAX_DESCR_DEPTH:
        return True
    if isinstance(descr, str):
        return _string_holds_objects(descr)
    if isinstance(descr, tuple):
        return bool(descr) and descr_holds_objects(descr[0], depth + 1)
    if isinstance(descr, bytes | int | float | complex | bool) or descr is None:
        return False  # NumPy refuses these (iterating them yields no field tuples)
    try:
        fields = list(islice(iter(descr), _MAX_FIELDS + 1))
    except TypeError:
        return False
    if len(fields) > _MAX_FIELDS:
        return True
    for f in fields:
        if isinstance(f, bytes | int | float | complex | bool) or f is None:
            continue
        try:
            members = list(islice(iter(f), 4))
        except TypeError:
            continue
        if len(members) not in (2, 3):
            continue  # NumPy cannot unpack it: the load fails before any pickle
        # A set's order depends on string hashing, so any member may end up as the format.
        candidates = members if isinstance(f, set | frozenset) else [members[1]]
        if any(descr_holds_objects(c, depth + 1) for c in candidates):
            return True
    return False


def _string_holds_objects(text: str) -> bool:
    return any(word[0] in "oO" or word.startswith("T") for word in _WORD.findall(text))


def _filter_header(text: str) -> str:
    """NumPy's fallback for headers written by Python 2: drop the 'L' suffix of long integers."""
    tokens: list[tokenize.TokenInfo] = []
    last_number = False
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if last_number and token.type == tokenize.NAME and token.string == "L":
            continue
        tokens.append(token)
        last_number = token.type == tokenize.NUMBER
    return tokenize.untokenize((t.type, t.string) for t in tokens)


def _parse_header(text: str, major: int) -> Any:
    try:
        return ast.literal_eval(text)
    except SyntaxError:
        if major > 2:
            raise
    return ast.literal_eval(_filter_header(text))


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
    if start + hlen > len(buf):
        ctx.add(scope, "numpy.malformed", f"declared header length {hlen} exceeds the file")
        return
    data_start = start + hlen
    if hlen > _MAX_HEADER:
        ctx.add(scope, "numpy.malformed", f"declared header length {hlen} exceeds the {_MAX_HEADER} limit")
        _unread_header(buf, data_start, scope, ctx)
        return
    try:
        text = buf[start : start + hlen].decode("utf-8" if major == 3 else "latin1")
        header = _parse_header(text, major)
    except (ValueError, SyntaxError, MemoryError, RecursionError, tokenize.TokenError) as exc:
        ctx.add(scope, "numpy.malformed", f"header is not a Python literal: {type(exc).__name__}")
        _unread_header(buf, data_start, scope, ctx)
        return
    if not isinstance(header, dict) or not {"descr", "shape"} <= set(header):
        ctx.add(scope, "numpy.malformed", "header lacks 'descr' or 'shape'")
        return
    descr, shape = header["descr"], header["shape"]
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
