"""The `.npy` header — the one parser inspect (`artifacts/numpy.py`) and scan (`scan/numpy_files.py`)
share, for a file on its own and for each member of an `.npz`.

The header is the magic, a version, a length and a Python literal dict read with `ast.literal_eval`
(what NumPy's own reader does, with its fallback for headers written by Python 2); nothing runs. The
length is capped by `modelwarden.limits.MAX_NPY_HEADER_BYTES`, the same for both stages. Whether the
dtype holds Python objects (so that NumPy's loader with allow_pickle on unpickles the payload) is
decided by NumPy's dtype rules, mirrored here without NumPy: any dtype that holds Python objects —
`'O'`, `'|O'`, `'object'`, `'O8'`, NumPy 2's `'T'` (StringDType), a structured field of any of those at
any depth, a sub-array of one, a comma-separated string naming one (docs/reference/scanners.md §7).
Pure Python: the scan of a pickle imports this module without NumPy.
"""

from __future__ import annotations

import ast
import io
import re
import struct
import tokenize
from dataclasses import dataclass
from itertools import islice
from typing import Any

from modelwarden.artifacts.source import Buffer
from modelwarden.limits import MAX_NPY_DESCR_DEPTH, MAX_NPY_FIELDS, MAX_NPY_HEADER_BYTES

MAGIC = b"\x93NUMPY"
# Type names in a dtype string: an object type starts with "o"/"O" ('O', 'O8', 'object', 'object_');
# 'T' is NumPy 2's variable-width StringDType, whose arrays are also saved and loaded as pickles.
_WORD = re.compile(r"[A-Za-z_]+")


@dataclass(frozen=True)
class NpyHeader:
    """A parsed `.npy` header: what NumPy's reader builds the array from."""

    major: int
    """Format version (1, 2 or 3): the header length field is 2 bytes in 1, 4 bytes after."""
    data_start: int
    """Offset of the array data (or of the object array's pickle), just after the header."""
    descr: Any
    """The dtype description, as written (a string, or a list of fields)."""
    shape: Any
    """The shape, as written (a tuple of non-negative integers when the header is sound)."""
    fortran_order: Any
    """Whether the data is in column-major order, as written."""


class NpyHeaderError(Exception):
    """The header cannot be read; `message` says why in the scan's and inspect's words."""

    def __init__(self, message: str, *, kind: str, data_start: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        """"short", "version", "beyond_file", "too_long", "not_literal" or "missing_keys"."""
        self.data_start = data_start
        """Where the data would start, when the header's extent is known but its text could not be
        read (too long, or not a literal): a loader may still read it, so what follows is analysed."""


def read_npy_header(buf: Buffer) -> NpyHeader:
    """The header of the `.npy` bytes in `buf`; raises `NpyHeaderError`."""
    head = buf[:12]
    if len(head) < 10 or not head.startswith(MAGIC):
        raise NpyHeaderError("file is shorter than a .npy header", kind="short")
    major = head[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = 10
    elif major in (2, 3):
        if len(head) < 12:
            raise NpyHeaderError("truncated .npy header", kind="short")
        (hlen,) = struct.unpack("<I", head[8:12])
        start = 12
    else:
        raise NpyHeaderError(f"unknown .npy format version {major}.{head[7]}", kind="version")
    if start + hlen > len(buf):
        raise NpyHeaderError(f"declared header length {hlen} exceeds the file", kind="beyond_file")
    data_start = start + hlen
    if hlen > MAX_NPY_HEADER_BYTES:
        raise NpyHeaderError(
            f"declared header length {hlen} exceeds the {MAX_NPY_HEADER_BYTES} limit",
            kind="too_long",
            data_start=data_start,
        )
    try:
        text = buf[start : start + hlen].decode("utf-8" if major == 3 else "latin1")
        header = _parse_header(text, major)
    except (ValueError, SyntaxError, MemoryError, RecursionError, tokenize.TokenError) as exc:
        raise NpyHeaderError(
            f"header is not a Python literal: {type(exc).__name__}", kind="not_literal", data_start=data_start
        ) from None
    if not isinstance(header, dict) or not {"descr", "shape"} <= set(header):
        raise NpyHeaderError("header lacks 'descr' or 'shape'", kind="missing_keys")
    return NpyHeader(major, data_start, header["descr"], header["shape"], header.get("fortran_order", False))


def header_length(head: bytes) -> int | None:
    """Bytes from the magic to the end of the header, from the first 12 bytes; None when unknown."""
    if len(head) >= 10 and head.startswith(MAGIC) and head[6] == 1:
        return 10 + int(struct.unpack("<H", head[8:10])[0])
    if len(head) >= 12 and head.startswith(MAGIC) and head[6] in (2, 3):
        return 12 + int(struct.unpack("<I", head[8:12])[0])
    return None


def descr_holds_objects(descr: Any, depth: int = 0) -> bool:
    """Whether `numpy.lib.format.descr_to_dtype(descr)` builds a dtype that holds Python objects.

    Mirrors descr_to_dtype's own walk: a string is a dtype spelling; a tuple is (base, shape); anything
    else is iterated as fields, each unpacked as (name, format) or (name, format, shape) — so a dict
    contributes its keys and a two-character string 'xO' is the field x of type 'O'. Errs towards
    True: a description NumPy would refuse costs a pickle walk, never a missed one.
    """
    if depth > MAX_NPY_DESCR_DEPTH:
        return True
    if isinstance(descr, str):
        return _string_holds_objects(descr)
    if isinstance(descr, tuple):
        return bool(descr) and descr_holds_objects(descr[0], depth + 1)
    if isinstance(descr, bytes | int | float | complex | bool) or descr is None:
        return False  # NumPy refuses these (iterating them yields no field tuples)
    try:
        fields = list(islice(iter(descr), MAX_NPY_FIELDS + 1))
    except TypeError:
        return False
    if len(fields) > MAX_NPY_FIELDS:
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
