"""NumPy .npy / .npz headers, written by numpy itself; object arrays are reported, never loaded."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from modelwarden.artifacts.reader import read_artifact
from modelwarden.model import ArtifactFormat


def test_npy_header(tmp_path: Path) -> None:
    p = tmp_path / "w.npy"
    np.save(p, np.zeros((3, 7), dtype=np.float16))
    info = read_artifact(p, "w.npy")
    assert info.format is ArtifactFormat.NPY and not info.problems
    [t] = info.tensors
    assert (t.name, t.dtype, t.shape, t.parameters) == ("w", "F16", (3, 7), 21)
    assert info.bytes_read == 128  # the padded header: the array data is not read


def test_npz_members(tmp_path: Path) -> None:
    p = tmp_path / "weights.npz"
    np.savez_compressed(p, a=np.zeros((4, 4), dtype=np.float32), b=np.arange(10))
    info = read_artifact(p, "weights.npz")
    assert info.format is ArtifactFormat.NPZ and not info.problems
    assert {t.name: (t.dtype, t.shape) for t in info.tensors} == {"a": ("F32", (4, 4)), "b": ("I64", (10,))}


def test_object_array_is_reported_not_loaded(tmp_path: Path) -> None:
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)  # writing runs nothing
    info = read_artifact(p, "obj.npy")
    assert [(x.code, x.severity) for x in info.problems] == [("object_array", "warning")]
    assert not info.tensors


def test_truncated_npy(tmp_path: Path) -> None:
    p = tmp_path / "cut.npy"
    np.save(p, np.zeros((100, 100)))
    p.write_bytes(p.read_bytes()[:1000])
    info = read_artifact(p, "cut.npy")
    assert [x.code for x in info.problems] == ["truncated"]
    assert "80,000 bytes" in info.problems[0].message


def test_npz_zip_bomb_entry(tmp_path: Path) -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**25,)})
    p = tmp_path / "bomb.npz"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("huge.npy", header.getvalue() + b"\0" * (4 * 2**25))  # 128 MiB of zeros
        z.writestr("small.npy", _npy(np.ones(3, dtype=np.float32)))
    info = read_artifact(p, "bomb.npz")
    assert [x.code for x in info.problems] == ["zip_bomb"]
    assert "huge.npy" in info.problems[0].message
    assert [t.name for t in info.tensors] == ["small"]  # the other member is still read


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_inspect_reads_the_header_scan_reads(tmp_path: Path) -> None:
    # A structured dtype with 600 fields writes a header over NumPy's 10,000-byte default cap. Inspect
    # used NumPy's reader (which refused it) while scan used its own parser (which read it); both now
    # read it through artifacts/npy.py and agree on what the file holds.
    from modelwarden.scan import scan_paths

    dtype = np.dtype([(f"field_{i:04d}", "<f4") for i in range(600)])
    p = tmp_path / "wide.npy"
    np.save(p, np.zeros(2, dtype=dtype))
    assert int.from_bytes(p.read_bytes()[8:10], "little") > 10_000  # version 1: a 2-byte length
    info = read_artifact(p, "wide.npy")
    assert info.problems == []
    assert [(t.name, t.shape) for t in info.tensors] == [("wide", (2,))]
    assert [f.rule_id for f in scan_paths([p], hash_files=False).findings] == []
