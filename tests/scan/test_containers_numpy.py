"""NumPy descrs judged by NumPy's own dtype rules: every spelling of an object dtype makes
NumPy's loader with allow_pickle enabled run the pickle after the header, so every one must be recognised.

The parser (`descr_holds_objects`) is checked against NumPy's own construction of the dtype
(`numpy.lib.format.descr_to_dtype`, which builds a dtype and unpickles nothing); the files are written
by `np.save` and only their header's descr is respelled.
"""

from __future__ import annotations

import itertools
import os
import string
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelwarden.scan import scan_paths
from modelwarden.scan.numpy_files import descr_holds_objects
from tests.scan.corpus import _Reduce

_SIMPLE = ["<f4", "|u1", "<i8", "|b1", "<M8[ns]", "<m8[us]", "|S10", "<U5", "|V16", "<c16", "?"]
_OBJECT = ["O", "|O", "<O", "=O", "O8", "O4", "object", "object_", "T", "|T", "<T"]


def _numpy_says(descr: Any) -> bool | None:
    """NumPy's answer (None when NumPy refuses the description: the loader fails before unpickling)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return bool(np.lib.format.descr_to_dtype(descr).hasobject)
        except Exception:
            return None


def _descriptions() -> list[Any]:
    out: list[Any] = []
    for c in string.printable:
        for pre, post in itertools.product(["", "<", ">", "|", "="], ["", "1", "4", "8", "16"]):
            out.append(pre + c + post)
    out += [k for k in np.sctypeDict if isinstance(k, str)]
    for a, b in itertools.product(_SIMPLE[:4] + _OBJECT[:6], repeat=2):
        out += [f"{a},{b}", f"{a}, {b}", f"(2,){a},{b}", f"3{b}", f"(2, 3){b}"]
    for fmt in _SIMPLE + _OBJECT:
        out += [
            [("a", fmt)],
            [("x", "<f4"), ("y", fmt, (2,))],
            [(("title", "a"), fmt)],
            [("outer", [("inner", [("deep", fmt)])])],
            [("sub", (fmt, (3,)))],
            (fmt, (2, 2)),
            [("", "|V4"), ("b", fmt)],
            ["x" + fmt] if len(fmt) == 1 else [("x", fmt)],
            {"x" + fmt: 1} if len(fmt) == 1 else [("y", fmt)],
            [["a", fmt]],
        ]
    return out


def test_descr_parser_agrees_with_numpy() -> None:
    checked = disagreements = 0
    for descr in _descriptions():
        want = _numpy_says(descr)
        if want is None:
            continue
        checked += 1
        if descr_holds_objects(descr) != want:
            disagreements += 1
            print("disagree:", repr(descr), want)
    assert checked > 800
    assert disagreements == 0


@pytest.mark.parametrize("descr", _OBJECT)
def test_every_object_spelling_holds_objects(descr: str) -> None:
    assert _numpy_says(descr) is True  # NumPy itself unpickles these
    assert descr_holds_objects(descr)


def _respelled(tmp_path: Path, descr: Any, *, version: tuple[int, int] = (1, 0), shape: str = "(2,)") -> Path:
    """An object array saved by np.save (its pickle calls os.system), with the header's descr respelled
    and the header re-padded as NumPy pads it."""
    path = tmp_path / "weights.npy"
    np.save(path, np.array([_Reduce(os.system, "true"), 1.0], dtype=object), allow_pickle=True)
    data = path.read_bytes()
    (hlen,) = struct.unpack("<H", data[8:10])
    body = data[10 + hlen :]
    header = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape}, }}"
    prefix = 10 if version[0] == 1 else 12
    pad = (64 - (prefix + len(header) + 1) % 64) % 64
    text = (header + " " * pad + "\n").encode("latin1")
    size = struct.pack("<H", len(text)) if version[0] == 1 else struct.pack("<I", len(text))
    path.write_bytes(b"\x93NUMPY" + bytes(version) + size + text + body)
    return path


@pytest.mark.parametrize(
    "descr",
    [
        "object",
        "object_",
        "O8",
        "=O",
        "T",
        [("a", "object")],
        [("a", "<f8"), ("b", [("c", "O")])],
        [("a", "O", (1,))],
        ("O", (1,)),
        "(1,)O",
        ["aO"],
    ],
)
def test_respelled_object_arrays_are_walked(tmp_path: Path, descr: Any) -> None:
    # Each of these was written so that NumPy's loader (allow_pickle on) builds an object dtype.
    assert _numpy_says(descr) is True
    path = _respelled(tmp_path, descr)
    report = scan_paths([path], hash_files=False)
    rules = {f.rule_id for f in report.findings}
    assert {"numpy.object-array", "pickle.dangerous-import"} <= rules, (descr, rules)


def test_python2_header_is_read_like_numpy(tmp_path: Path) -> None:
    # "(2L,)" is not a Python 3 literal; NumPy retries version 1.0/2.0 headers without the L suffix.
    path = _respelled(tmp_path, "|O", shape="(2L,)")
    with open(path, "rb") as fh:
        np.lib.format.read_magic(fh)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert np.lib.format.read_array_header_1_0(fh)[2].hasobject  # NumPy reads it
    rules = {f.rule_id for f in scan_paths([path], hash_files=False).findings}
    assert "pickle.dangerous-import" in rules


def test_oversized_header_still_walks_the_pickle(tmp_path: Path) -> None:
    # allow_pickle lifts NumPy's header cap; a header past ours must not hide the pickle behind it.
    path = _respelled(tmp_path, "|O", version=(2, 0))
    data = path.read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    text = data[12 : 12 + hlen].rstrip(b"\n") + b" " * (65 << 20) + b"\n"
    path.write_bytes(data[:8] + struct.pack("<I", len(text)) + text + data[12 + hlen :])
    rules = {f.rule_id for f in scan_paths([path], hash_files=False).findings}
    assert {"numpy.malformed", "pickle.dangerous-import"} <= rules


def test_plain_arrays_are_not_object_arrays(tmp_path: Path) -> None:
    path = tmp_path / "plain.npy"
    arr = np.zeros(4, dtype=[("object_id", "<i8"), ("T", "<f4"), ("o", "<f8")])
    np.save(path, arr)
    assert scan_paths([path], hash_files=False).findings == []
