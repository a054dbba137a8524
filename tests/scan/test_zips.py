"""The tolerant zip reader and the archive analyser, on archives written by `zipfile` and `torch`."""

from __future__ import annotations

import io
import os
import pickle
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from modelwarden.artifacts.zip import crc_ok, entry_data, has_archive, read_listing
from modelwarden.model import Severity
from modelwarden.scan import scan_paths
from modelwarden.scan.context import DEFAULT_LIMITS, Limits
from tests.scan.corpus import _Reduce, _rezip

EVIL = pickle.dumps(_Reduce(os.system, "true"), protocol=4)


def _zip(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED, **kw: object) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries:
            with z.open(name, "w", **kw) as fh:  # type: ignore[arg-type]
                fh.write(data)
    return buf.getvalue()


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_reader_agrees_with_zipfile(method: int) -> None:
    entries = [("a.txt", b"hello" * 100), ("dir/b.bin", os.urandom(5000)), ("c/", b"")]
    data = _zip(entries, method)
    listing = read_listing(data, DEFAULT_LIMITS)
    assert listing.issues == []
    assert listing.names() == ["a.txt", "dir/b.bin", "c/"]
    for entry, (_, content) in zip(listing.entries, entries, strict=True):
        got = entry_data(data, entry, DEFAULT_LIMITS)
        assert got.problem is None and got.data is not None
        assert bytes(got.data[: len(got.data)]) == content
        assert crc_ok(got.data, entry.crc)


def test_zip64_records_are_read() -> None:
    data = _zip([("big.bin", b"x" * 1000)], zipfile.ZIP_STORED, force_zip64=True)
    listing = read_listing(data, DEFAULT_LIMITS)
    assert listing.names() == ["big.bin"] and listing.issues == []
    assert has_archive(data)


def test_prefix_before_the_zip_is_found_and_scanned(tmp_path: Path) -> None:
    path = tmp_path / "polyglot.bin"
    path.write_bytes(b"GARBAGE!" * 4 + _zip([("x.txt", b"hi")]))
    listing = read_listing(path.read_bytes(), DEFAULT_LIMITS)
    assert listing.prefix_end == 32
    assert [i.rule_id for i in listing.issues] == ["zip.hidden-data"]


def test_local_header_missing_from_the_central_directory_is_a_hidden_entry(tmp_path: Path) -> None:
    # A second archive's local entry spliced between the first entry and the central directory.
    visible = _zip([("ok.txt", b"fine")], zipfile.ZIP_STORED)
    hidden = _zip([("payload.pkl", EVIL)], zipfile.ZIP_STORED)
    hidden_local = hidden[: hidden.find(b"PK\x01\x02")]
    cd = visible.find(b"PK\x01\x02")
    eocd = visible.find(b"PK\x05\x06")
    (cd_offset,) = struct.unpack("<I", visible[eocd + 16 : eocd + 20])
    patched_eocd = (
        visible[eocd : eocd + 16] + struct.pack("<I", cd_offset + len(hidden_local)) + visible[eocd + 20 :]
    )
    data = visible[:cd] + hidden_local + visible[cd:eocd] + patched_eocd
    path = tmp_path / "hidden.zip"
    path.write_bytes(data)
    assert zipfile.ZipFile(path).namelist() == ["ok.txt"]  # what a directory-based reader sees
    report = scan_paths([path], hash_files=False)
    rules = {f.rule_id for f in report.findings}
    assert {"zip.hidden-data", "pickle.dangerous-import"} <= rules
    hit = next(f for f in report.findings if f.rule_id == "pickle.dangerous-import")
    assert "payload.pkl (hidden entry)" in (hit.location.entry or "")


def test_archive_without_central_directory_is_read_by_local_headers(tmp_path: Path) -> None:
    data = _zip([("data.pkl", EVIL)], zipfile.ZIP_STORED)
    path = tmp_path / "truncated.zip"
    path.write_bytes(data[: data.find(b"PK\x01\x02")])
    report = scan_paths([path], hash_files=False)
    rules = {f.rule_id for f in report.findings}
    assert {"zip.malformed", "pickle.dangerous-import"} <= rules


def test_overlapping_entries_are_a_bomb_sign() -> None:
    data = bytearray(_zip([("a", b"A" * 100), ("b", b"B" * 100)], zipfile.ZIP_STORED))
    # Point the second central entry at the first entry's local header.
    second = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)
    data[second + 42 : second + 46] = struct.pack("<I", 0)
    listing = read_listing(bytes(data), DEFAULT_LIMITS)
    assert "zip.bomb" in {i.rule_id for i in listing.issues}


def test_decompression_is_capped() -> None:
    data = _zip([("zeros", bytes(8 << 20))])
    limits = Limits(max_entry_bytes=1 << 20, bomb_min_bytes=1 << 10)
    got = entry_data(data, read_listing(data, limits).entries[0], limits)
    assert got.rule_id == "zip.bomb" and got.truncated
    assert got.data is not None and len(got.data) == 1 << 20


def test_unsupported_compression_is_reported(tmp_path: Path) -> None:
    data = bytearray(_zip([("model/data.pkl", EVIL)], zipfile.ZIP_STORED))
    for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        pos = data.find(sig)
        data[pos + at : pos + at + 2] = struct.pack("<H", 93)  # zstd
    path = tmp_path / "zstd.zip"
    path.write_bytes(bytes(data))
    report = scan_paths([path], hash_files=False)
    assert "zip.unsupported-compression" in {f.rule_id for f in report.findings}
    assert report.at_or_above(Severity.MEDIUM)


def test_storages_are_not_parsed_even_when_they_look_like_pickles(tmp_path: Path) -> None:
    # Tensor bytes that start like a pickle calling os.system: raw storage, never unpickled by torch.
    raw = b"\x80\x02cos\nsystem\n" + bytes(12)
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.frombuffer(bytearray(raw), dtype=torch.uint8)}, path)
    report = scan_paths([path], hash_files=False)
    assert [f for f in report.findings if f.severity.at_least(Severity.LOW)] == []


def test_torch_entries_outside_the_root_and_odd_names(tmp_path: Path) -> None:
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    path = tmp_path / "model.pt"
    path.write_bytes(_rezip(buf.getvalue(), [("archive/notes.txt", b"hello"), ("second/data.pkl", EVIL)]))
    report = scan_paths([path], hash_files=False)
    by_rule = {f.rule_id: f for f in report.findings}
    assert "zip.entry-outside-root" in by_rule
    assert by_rule["zip.unexpected-pickle"].evidence == "second/data.pkl"
    assert by_rule["pickle.dangerous-import"].location.entry == "second/data.pkl"


def test_npz_members_are_scanned_by_content(tmp_path: Path) -> None:
    path = tmp_path / "arrays.npz"
    np.savez(path, a=np.zeros(3), b=np.array([_Reduce(os.system, "true")], dtype=object))
    report = scan_paths([path], hash_files=False)
    assert report.files[0].format.value == "npz"
    hit = next(f for f in report.findings if f.rule_id == "pickle.dangerous-import")
    assert (hit.location.entry or "").startswith("b.npy > object array pickle")


def test_tensor_bytes_with_an_end_record_signature_are_not_a_zip(tmp_path: Path) -> None:
    # A safetensors file whose tensor data contains "PK\x05\x06": not an appended archive.
    import safetensors.numpy

    arr = np.frombuffer(b"PK\x05\x06" + bytes(60), dtype=np.uint8).copy()
    path = tmp_path / "model.safetensors"
    safetensors.numpy.save_file({"a": arr}, path)
    assert not has_archive(path.read_bytes())
    assert scan_paths([path], hash_files=False).findings == []


def test_path_traversal_names(tmp_path: Path) -> None:
    path = tmp_path / "t.zip"
    path.write_bytes(_zip([("/etc/evil", b"x"), ("a/../../b", b"y"), ("C:\\win", b"z"), ("ok/fine", b"w")]))
    report = scan_paths([path], hash_files=False)
    flagged = sorted(f.location.entry or "" for f in report.findings if f.rule_id == "zip.path-traversal")
    assert flagged == ["/etc/evil", "C:\\win", "a/../../b"]


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def test_data_descriptors_are_checked_against_the_central_directory(tmp_path: Path) -> None:
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as z:  # type: ignore[arg-type]
        z.writestr("weights.bin", b"w" * 1000)
    data = bytes(sink.data)
    entry = read_listing(data, DEFAULT_LIMITS).entries[0]
    assert entry.flags & 0x08 and read_listing(data, DEFAULT_LIMITS).issues == []
    assert entry.data_end is not None
    at = entry.data_end + 4  # skip the descriptor signature
    tampered = data[:at] + struct.pack("<I", entry.crc ^ 1) + data[at + 4 :]
    assert [i.rule_id for i in read_listing(tampered, DEFAULT_LIMITS).issues] == ["zip.data-descriptor"]


# ------------------------------------------------------------------------------------------------------
# Zip bombs: judged from the central directory before inflating, read through a bounded stream
# ------------------------------------------------------------------------------------------------------

_GIB = 1 << 30


@pytest.fixture(scope="module")
def gib_bombs() -> dict[str, bytes]:
    """Zips whose one entry is 1 GiB of zeros, deflated to about 1 MB, by entry name (written in 1 MiB
    pieces, so building them costs no memory)."""
    bombs = {}
    for name in ("config.json", "archive/data.pkl"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z, z.open(name, "w") as fh:
            zeros = bytes(1 << 20)
            for _ in range(_GIB >> 20):
                fh.write(zeros)
        bombs[name] = buf.getvalue()
    return bombs


def _declare_size(data: bytes, size: int) -> bytes:
    """Make both headers declare `size` uncompressed bytes: a lying header."""
    out = bytearray(data)
    for sig, usize_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = out.find(sig)
        assert struct.unpack("<I", out[at + usize_at : at + usize_at + 4])[0] != 0xFFFFFFFF  # no zip64
        out[at + usize_at : at + usize_at + 4] = struct.pack("<I", size)
    return bytes(out)


def _peak_scan(path: Path) -> tuple[set[str], list[str], int]:
    tracemalloc.start()
    try:
        report = scan_paths([path], hash_files=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {f.rule_id for f in report.findings}, [f.message for f in report.findings], peak


@pytest.mark.parametrize(("name", "entry"), [("bomb.keras", "config.json"), ("bomb.pt", "archive/data.pkl")])
def test_declared_zip_bomb_is_judged_before_inflating(
    tmp_path: Path, gib_bombs: dict[str, bytes], name: str, entry: str
) -> None:
    # Before the fix the entry was inflated up to the 1 GiB cap and copied: ~2.1 GB peak, 4-6 s.
    path = tmp_path / name
    path.write_bytes(gib_bombs[entry])
    with zipfile.ZipFile(path) as z:  # still a well-formed zip to the standard library
        assert z.getinfo(entry).file_size == _GIB
    rules, messages, peak = _peak_scan(path)
    assert "zip.bomb" in rules
    assert any("declare 1073741824 bytes" in m and "only the first" in m for m in messages)
    assert peak < 100 << 20, f"peak {peak / 2**20:.0f} MiB"


def test_lying_header_is_read_only_up_to_its_declared_size(
    tmp_path: Path, gib_bombs: dict[str, bytes]
) -> None:
    # Both headers claim 4 KiB; the stream inflates to 1 GiB. Loaders stop at the declared size, so we do.
    path = tmp_path / "liar.zip"
    path.write_bytes(_declare_size(gib_bombs["config.json"], 4096))
    listing = read_listing(path.read_bytes(), DEFAULT_LIMITS)
    got = entry_data(path.read_bytes(), listing.entries[0], DEFAULT_LIMITS)
    assert got.rule_id == "zip.malformed" and got.truncated
    assert got.data is not None and len(got.data) == 4096
    rules, _, peak = _peak_scan(path)
    assert "zip.malformed" in rules and peak < 100 << 20


def test_lying_header_under_the_bomb_bound_stops_on_the_actual_ratio(
    tmp_path: Path, gib_bombs: dict[str, bytes]
) -> None:
    # 100 MiB declared from ~1 MB compressed is under the 200:1 bound, so the central directory alone
    # does not condemn it; the stream does, once 64 MiB have come out of a few hundred KB.
    path = tmp_path / "liar.zip"
    path.write_bytes(_declare_size(gib_bombs["config.json"], 100 << 20))
    data = path.read_bytes()
    got = entry_data(data, read_listing(data, DEFAULT_LIMITS).entries[0], DEFAULT_LIMITS)
    assert got.rule_id == "zip.bomb" and got.truncated and got.problem and "stopped there" in got.problem
    assert got.data is not None and len(got.data) < 80 << 20
    rules, _, peak = _peak_scan(path)
    assert "zip.bomb" in rules and peak < 200 << 20


def test_compressed_non_pickle_bomb_is_cut_off_by_ratio(tmp_path: Path) -> None:
    # A .gz of 1 GiB of zeros (about 1 MB): it used to be inflated to the 1 GiB cap (1.1 GB peak).
    import gzip

    path = tmp_path / "blob.gz"
    with gzip.open(path, "wb", compresslevel=9) as fh:
        zeros = bytes(1 << 20)
        for _ in range(_GIB >> 20):
            fh.write(zeros)
    rules, messages, peak = _peak_scan(path)
    assert "archive.decompression-limit" in rules
    assert any("expands over 200:1" in m for m in messages)
    assert peak < 400 << 20
