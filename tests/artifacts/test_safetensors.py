"""safetensors reader: real files from the `safetensors` library, sparse replicas, and broken headers."""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from modelwarden.artifacts.reader import read_artifact
from modelwarden.model import ArtifactFormat
from tests.support.models import write_sparse_safetensors


def _raw(path: Path, header: object, data: bytes = b"", *, length: int | None = None) -> Path:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def test_real_file_matches_the_library(tmp_path: Path) -> None:
    p = tmp_path / "model.safetensors"
    tensors = {
        "w": np.zeros((3, 5), dtype=np.float32),
        "b": np.zeros(7, dtype=np.float16),
        "i": np.zeros((2, 2, 2), dtype=np.int64),
    }
    save_file(tensors, str(p), metadata={"format": "pt"})
    info = read_artifact(p, "model.safetensors")
    assert info.format is ArtifactFormat.SAFETENSORS and not info.problems
    assert info.metadata == {"format": "pt"}
    ours = {t.name: (t.dtype, t.shape) for t in info.tensors}
    with safe_open(str(p), framework="numpy") as f:
        theirs = {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}  # noqa: SIM118
    assert ours == theirs
    assert sum(t.parameters for t in info.tensors) == 15 + 7 + 8
    # Headers only: what was read is the 4 KiB detection window, not the tensor data.
    assert info.bytes_read is not None and info.bytes_read <= 4096 + p.stat().st_size - sum(
        v.nbytes for v in tensors.values()
    )


def test_sparse_replica_is_a_valid_file(tmp_path: Path) -> None:
    p = tmp_path / "big.safetensors"
    size = write_sparse_safetensors(p, {"a": ("BF16", (4096, 4096)), "b": ("F32", (11008,))})
    assert p.stat().st_size == size and p.stat().st_blocks * 512 < 64 * 1024  # a hole, not data
    with safe_open(str(p), framework="numpy") as f:
        assert f.get_slice("a").get_shape() == [4096, 4096]
    info = read_artifact(p, "big.safetensors")
    assert not info.problems and sum(t.parameters for t in info.tensors) == 4096 * 4096 + 11008


def _codes(path: Path) -> list[str]:
    return [p.code for p in read_artifact(path, path.name).problems]


def test_truncated_below_header_length(tmp_path: Path) -> None:
    p = tmp_path / "t.safetensors"
    p.write_bytes(b"\x10\x00\x00")
    info = read_artifact(p, "t.safetensors")
    # Too short to be recognised as safetensors at all: reported as an unknown format, named.
    assert info.problems and info.problems[0].file == "t.safetensors"


def test_header_length_beyond_file(tmp_path: Path) -> None:
    p = _raw(
        tmp_path / "h.safetensors", {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, length=5000
    )
    info = read_artifact(p, "h.safetensors")
    [problem] = info.problems
    assert (problem.file, problem.code) == ("h.safetensors", "header_beyond_file")
    assert "5,000 bytes runs past the end" in problem.message


def test_header_over_the_cap(tmp_path: Path) -> None:
    p = tmp_path / "cap.safetensors"
    p.write_bytes(struct.pack("<Q", 200_000_000) + b'{"a": 1}')
    assert _codes(p) == ["header_too_large"]


def test_invalid_json(tmp_path: Path) -> None:
    p = _raw(tmp_path / "j.safetensors", b'{"a": {"dtype": "F32", "shape": [1], "data_of')
    assert _codes(p) == ["invalid_json"]


def test_overlapping_offsets(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
    }
    p = _raw(tmp_path / "o.safetensors", header, b"\0" * 24)
    info = read_artifact(p, "o.safetensors")
    [problem] = info.problems
    assert problem.code == "overlapping_offsets" and "'a'" in problem.message and "'b'" in problem.message


def test_out_of_range_offsets(tmp_path: Path) -> None:
    header = {"a": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}
    p = _raw(tmp_path / "r.safetensors", header, b"\0" * 100)
    info = read_artifact(p, "r.safetensors")
    assert [x.code for x in info.problems] == ["offset_out_of_range"]
    assert "beyond the end" in info.problems[0].message
    assert info.tensors[0].parameters == 1000  # the header still says what the tensor is


def test_absurd_shape(tmp_path: Path) -> None:
    header = {"a": {"dtype": "F32", "shape": [10**12, 10**12], "data_offsets": [0, 4]}}
    p = _raw(tmp_path / "s.safetensors", header, b"\0" * 4)
    info = read_artifact(p, "s.safetensors")
    assert [x.code for x in info.problems] == ["absurd_shape"]
    assert not info.tensors


def test_negative_dimension_and_bad_entries(tmp_path: Path) -> None:
    header = {
        "neg": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]},
        "str": {"dtype": "F32", "shape": [1], "data_offsets": ["0", 4]},
        "ok": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
    }
    p = _raw(tmp_path / "n.safetensors", header, b"\0" * 4)
    info = read_artifact(p, "n.safetensors")
    assert sorted(x.code for x in info.problems) == ["absurd_shape", "invalid_header"]
    assert [t.name for t in info.tensors] == ["ok"]


def test_unknown_dtype_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    header = {"a": {"dtype": "F13", "shape": [2], "data_offsets": [0, 4]}}
    p = _raw(tmp_path / "d.safetensors", header, b"\0" * 4)
    info = read_artifact(p, "d.safetensors")
    assert [(x.code, x.severity) for x in info.problems] == [("unknown_dtype", "warning")]
    assert info.tensors[0].parameters == 2


def test_size_mismatch(tmp_path: Path) -> None:
    header = {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}
    p = _raw(tmp_path / "m.safetensors", header, b"\0" * 8)
    assert _codes(p) == ["size_mismatch"]


def test_header_that_is_not_an_object(tmp_path: Path) -> None:
    from modelwarden.artifacts import safetensors as st
    from modelwarden.artifacts.problems import ArtifactProblem

    p = _raw(tmp_path / "l.safetensors", b"[1, 2, 3]   ")
    assert _codes(p) == ["unknown_format"]  # not even shaped like safetensors
    with pytest.raises(ArtifactProblem) as exc:
        st.read(p, "l.safetensors", size=p.stat().st_size)
    assert exc.value.code == "invalid_header"


def _many_tensors(path: Path, n: int, *, key: str = "data_offsets") -> Path:
    """A valid safetensors file with `n` one-element F32 tensors (4 bytes of data each)."""
    entries = ",".join(
        f'"t{i}":{{"dtype":"F32","shape":[1],"{key}":[{4 * i},{4 * i + 4}]}}' for i in range(n)
    )
    header = ("{" + entries + "}").encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4 * n))
    return path


@pytest.mark.parametrize("key", ["data_offsets", "data\\u005foffsets"])  # the second escapes one letter
def test_tensor_count_is_capped_before_the_header_is_parsed(tmp_path: Path, key: str) -> None:
    # 1.3M tiny tensors (a 77 MB header) took 2.5 GB and 25 s to inspect. Beyond MAX_TENSORS the
    # header is refused from a count of its raw bytes, before json.loads builds an object per entry.
    n = 300_000  # over the 250,000 cap
    path = _many_tensors(tmp_path / "many.safetensors", n, key=key)
    tracemalloc.start()
    try:
        info = read_artifact(path, "many.safetensors")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [p.code for p in info.problems] == ["too_many_tensors"]
    assert "more than the 250,000 read from one file" in info.problems[0].message
    assert info.tensors == []
    header = path.stat().st_size - 4 * n
    assert peak < 2 * header + (16 << 20), f"peak {peak >> 20} MiB for a {header >> 20} MiB header"


def test_real_tensor_counts_are_still_read(tmp_path: Path) -> None:
    path = _many_tensors(tmp_path / "ok.safetensors", 100_000)  # the largest real files, per file
    info = read_artifact(path, "ok.safetensors")
    assert info.problems == [] and len(info.tensors) == 100_000
