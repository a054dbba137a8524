"""Inspect and scan read an archive through the one zip reader (`artifacts/zip.py`).

Each archive is one that Python's `zipfile` and the loader-faithful reader read differently. Before
the readers were merged, inspect described what `zipfile` saw (or gave up where `zipfile` raised)
while scan judged what the loaders see; now both name the same entries, and inspect reports the
disagreement as a `zip_ambiguous` problem instead of describing one reader's view as the file.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
import torch

from modelwarden.artifacts.reader import read_artifact
from modelwarden.artifacts.zip import ZIP_LIMITS, read_listing
from modelwarden.model import ArtifactFormat
from modelwarden.scan import scan_paths
from modelwarden.scan.context import DEFAULT_LIMITS
from tests.scan.corpus import _Reduce


def _torch_zip(obj: object, root: str) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for item in src.infolist():
            dst.writestr(root + "/" + item.filename.split("/", 1)[1], src.read(item))
    return out.getvalue()


def _pickle_entries(path: Path) -> set[str]:
    """The archive entries the scan analysed as pickles (where its pickle findings point)."""
    report = scan_paths([path], hash_files=False)
    return {
        (f.location.entry or "").split(" > ")[0]
        for f in report.findings
        if f.rule_id.startswith("pickle.") and f.location.entry
    }


def test_appended_archive_inspect_and_scan_read_the_same_entries(tmp_path: Path) -> None:
    # A benign checkpoint with a second one concatenated after it. zipfile reads the last archive
    # (correcting its offsets for the prepended bytes); torch.load looks at the first bytes.
    first = _torch_zip({"a": torch.zeros(3)}, "first")
    second = _torch_zip({"b": torch.zeros(5), "x": _Reduce(os.system, "true")}, "second")
    path = tmp_path / "cat.pt"
    path.write_bytes(first + second)

    info = read_artifact(path, "cat.pt")
    assert info.format is ArtifactFormat.TORCH_ZIP
    assert {t.name: t.shape for t in info.tensors} == {"b": (5,)}
    assert _pickle_entries(path) == {"second/data.pkl"}  # the entry whose tensors inspect describes
    ambiguous = [p for p in info.problems if p.code == "zip_ambiguous"]
    assert ambiguous and all(p.severity == "error" and p.file == "cat.pt" for p in ambiguous)
    assert any("precede the first zip entry" in p.message for p in ambiguous)


def test_renamed_local_header_is_read_as_the_loader_reads_it(tmp_path: Path) -> None:
    # The local header names data.pkl differently from the central directory: zipfile refuses the
    # entry (inspect used to report a corrupt zip and no tensors), PyTorch's reader does not check the
    # name and loads it, and so does the scan.
    data = bytearray(_torch_zip({"w": torch.zeros(2, 3), "x": _Reduce(os.system, "true")}, "archive"))
    local = data.find(b"PK\x03\x04")  # the first local header is data.pkl's
    assert data[local + 30 : local + 46] == b"archive/data.pkl"
    data[local + 39 : local + 40] = b"b"  # archive/dbta.pkl in the local header only
    path = tmp_path / "renamed.pt"
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as z, pytest.raises(zipfile.BadZipFile):
        z.read("archive/data.pkl")

    info = read_artifact(path, "renamed.pt")
    assert {t.name: t.shape for t in info.tensors} == {"w": (2, 3)}
    assert _pickle_entries(path) == {"archive/data.pkl"}
    assert "archive/data.pkl" in read_listing(bytes(data), ZIP_LIMITS).names()
    messages = [p.message for p in info.problems if p.code == "zip_ambiguous"]
    assert any("local header names the entry 'archive/dbta.pkl'" in m for m in messages)


def test_inspect_and_scan_use_the_same_zip_caps() -> None:
    for cap in ("max_zip_entries", "max_entry_bytes", "bomb_ratio", "bomb_min_bytes", "bomb_scan_bytes"):
        assert getattr(ZIP_LIMITS, cap) == getattr(DEFAULT_LIMITS, cap), cap


def test_bad_crc_is_read_as_torch_reads_it_and_reported(tmp_path: Path) -> None:
    # zipfile refuses an entry whose CRC-32 does not match (inspect used to report a corrupt zip);
    # PyTorch's reader loads it. Inspect now describes what torch loads and warns about the CRC, as
    # the scan reports it.
    data = bytearray(_torch_zip({"w": torch.zeros(4)}, "archive"))
    cd = data.find(b"PK\x01\x02")  # the first central record is data.pkl's
    local = data.find(b"PK\x03\x04")
    for crc_at in (cd + 16, local + 14):
        data[crc_at : crc_at + 4] = bytes(b ^ 0xFF for b in data[crc_at : crc_at + 4])
    path = tmp_path / "crc.pt"
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as z, pytest.raises(zipfile.BadZipFile):
        z.read("archive/data.pkl")

    info = read_artifact(path, "crc.pt")
    assert {t.name: t.shape for t in info.tensors} == {"w": (4,)}
    assert [(p.code, p.severity) for p in info.problems] == [("crc_mismatch", "warning")]
    assert "archive/data.pkl" in info.problems[0].message
    rules = {f.rule_id for f in scan_paths([path], hash_files=False).findings}
    assert "zip.crc-mismatch" in rules
