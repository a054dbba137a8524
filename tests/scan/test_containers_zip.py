"""Zip archives read as the loaders read them: every reader disagreement is a critical `zip.ambiguous`.

Each archive is written by `zipfile` (or the `zip` tool) and then rearranged byte by byte the way an
attacker would; `zipfile` itself is used to show what Python-based loaders read (opening an archive
and listing it runs nothing).
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from modelwarden.artifacts.zip import read_listing
from modelwarden.model import Severity
from modelwarden.scan import scan_paths
from modelwarden.scan.context import DEFAULT_LIMITS
from tests.scan.corpus import _Reduce

EVIL = pickle.dumps(_Reduce(os.system, "true"), protocol=4)
BENIGN = pickle.dumps({"w": [1.0, 2.0]}, protocol=4)


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def _parts(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(local entries, central records, end record) of a simple archive written by zipfile."""
    eocd = data.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", data[eocd + 12 : eocd + 20])
    records = []
    pos = cd_offset
    while pos < cd_offset + cd_size:
        nlen, elen, clen = struct.unpack("<HHH", data[pos + 28 : pos + 34])
        records.append(data[pos : pos + 46 + nlen + elen + clen])
        pos += 46 + nlen + elen + clen
    return data[:cd_offset], records, data[eocd:]


def _eocd(count: int, cd_size: int, cd_offset: int, comment_len: int = 0) -> bytes:
    return struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, comment_len)


def _ambiguous(path: Path) -> list[str]:
    report = scan_paths([path], hash_files=False)
    hits = [f for f in report.findings if f.rule_id == "zip.ambiguous"]
    assert all(f.severity is Severity.CRITICAL for f in hits)
    return [f.message for f in hits]


def _rules(path: Path) -> set[str]:
    return {f.rule_id for f in scan_paths([path], hash_files=False).findings}


def test_two_end_records_the_loader_takes_the_last(tmp_path: Path) -> None:
    # One set of local entries, two central directories. The evil directory's end record declares a
    # comment longer than the file: readers that check comment lengths (the scanner before the fix)
    # take the benign end record, zipfile and PyTorch's reader take the last one.
    local, records, _ = _parts(_zip([("model/benign.pkl", BENIGN), ("model/data.pkl", EVIL)]))
    benign_cd, evil_cd = records[0], records[1]
    data = local + benign_cd + _eocd(1, len(benign_cd), len(local))
    evil_at = len(data)
    data += evil_cd + _eocd(1, len(evil_cd), evil_at, comment_len=500)
    path = tmp_path / "two-ends.zip"
    path.write_bytes(data)
    assert zipfile.ZipFile(path).namelist() == ["model/data.pkl"]  # what the loader reads
    listing = read_listing(data, DEFAULT_LIMITS)
    assert listing.names() == ["model/data.pkl"]
    messages = _ambiguous(path)
    assert any("2 end-of-central-directory records" in m for m in messages)
    report = scan_paths([path], hash_files=False)
    hit = next(f for f in report.findings if f.rule_id == "pickle.dangerous-import")
    assert hit.location.entry == "model/data.pkl"


def test_an_earlier_archive_is_scanned_as_well(tmp_path: Path) -> None:
    # The same, reversed: the evil directory comes first, so only readers that skip the last end record
    # (e.g. because of its comment length) see it; it is still scanned and the file is ambiguous.
    local, records, _ = _parts(_zip([("model/data.pkl", EVIL), ("model/benign.pkl", BENIGN)]))
    data = local + records[0] + _eocd(1, len(records[0]), len(local))
    second = len(data)
    data += records[1] + _eocd(1, len(records[1]), second, comment_len=0)
    data = data[:-2] + struct.pack("<H", 9)  # comment runs past the end: strict readers skip it
    path = tmp_path / "first-evil.zip"
    path.write_bytes(data)
    assert zipfile.ZipFile(path).namelist() == ["model/benign.pkl"]
    assert _ambiguous(path)
    report = scan_paths([path], hash_files=False)
    entries = [f.location.entry or "" for f in report.findings if f.rule_id == "pickle.dangerous-import"]
    assert "model/data.pkl (as read by readers that check the comment length)" in entries


def _zip64_end(count: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_offset)


def test_zip64_record_away_from_its_locator(tmp_path: Path) -> None:
    # The locator names a zip64 record describing the benign directory; zipfile reads a zip64 record
    # only right before the locator, finds none, and uses the 32-bit end record: the evil directory
    # (whose last record's comment swallows the locator so that zipfile's arithmetic works).
    local, records, _ = _parts(_zip([("model/benign.pkl", BENIGN), ("model/data.pkl", EVIL)]))
    benign_cd = records[0]
    z64_at = len(local) + len(benign_cd)
    evil_cd_at = z64_at + 56
    evil = bytearray(records[1])
    evil[32:34] = struct.pack("<H", 20)  # comment length: the locator that follows
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, z64_at, 1)
    evil_cd = bytes(evil) + locator
    data = (
        local
        + benign_cd
        + _zip64_end(1, len(benign_cd), len(local))
        + evil_cd
        + _eocd(1, len(evil_cd), evil_cd_at)
    )
    path = tmp_path / "zip64.zip"
    path.write_bytes(data)
    assert zipfile.ZipFile(path).namelist() == ["model/data.pkl"]
    assert read_listing(data, DEFAULT_LIMITS).names() == ["model/data.pkl"]
    messages = _ambiguous(path)
    assert any("zip64" in m for m in messages)
    report = scan_paths([path], hash_files=False)
    entries = {f.location.entry for f in report.findings if f.rule_id == "pickle.dangerous-import"}
    assert entries == {"model/data.pkl"}
    # The benign directory PyTorch's reader would follow was read too (nothing in it to report).
    alternate = read_listing(data, DEFAULT_LIMITS).alternates[0]
    assert [e.name for e in alternate.entries if not e.hidden] == ["model/benign.pkl"]
    assert alternate.reader == "PyTorch's reader (miniz)"


def test_entry_count_and_directory_size_disagree(tmp_path: Path) -> None:
    # zipfile parses the directory by its size (two entries), miniz by the end record's count (one).
    local, records, _ = _parts(_zip([("model/benign.pkl", BENIGN), ("model/data.pkl", EVIL)]))
    cd = b"".join(records)
    path = tmp_path / "count.zip"
    path.write_bytes(local + cd + _eocd(1, len(cd), len(local)))
    assert zipfile.ZipFile(path).namelist() == ["model/benign.pkl", "model/data.pkl"]
    assert any("declares 1 entries" in m for m in _ambiguous(path))
    assert "pickle.dangerous-import" in _rules(path)


def test_appended_archive_and_prefix_are_ambiguous(tmp_path: Path) -> None:
    # A benign archive with an evil one concatenated after it: zipfile reads the last one (correcting
    # its offsets for the prepended bytes); torch.load and numpy.load look at the first bytes.
    data = _zip([("a.pkl", BENIGN)]) + _zip([("data.pkl", EVIL)])
    path = tmp_path / "cat.zip"
    path.write_bytes(data)
    assert zipfile.ZipFile(path).namelist() == ["data.pkl"]
    messages = _ambiguous(path)
    assert any("precede the first zip entry" in m for m in messages)
    assert "pickle.dangerous-import" in _rules(path)


def test_archive_stored_inside_an_archive_is_not_ambiguous(tmp_path: Path) -> None:
    # The inner archive's end record lies in the outer one's last 64 KiB, but every reader picks the
    # outer end record: content, not ambiguity (a .npz or .keras shipped inside a zip).
    inner = _zip([("a.npy", b"\x93NUMPY"), ("b.txt", b"x" * 100)])
    path = tmp_path / "outer.zip"
    path.write_bytes(_zip([("readme.txt", b"hello"), ("inner.zip", inner)]))
    assert _ambiguous(path) == []


def test_duplicate_and_renamed_entries_are_ambiguous(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = _zip([("data.pkl", BENIGN), ("data.pkl", EVIL)])
    path = tmp_path / "dup.zip"
    path.write_bytes(data)
    assert any("2 entries are named 'data.pkl'" in m for m in _ambiguous(path))
    renamed = bytearray(_zip([("data.pkl", EVIL)]))
    renamed[30:38] = b"dbta.pkl"  # local header name only
    path.write_bytes(bytes(renamed))
    assert any("local header names the entry 'dbta.pkl'" in m for m in _ambiguous(path))


def test_bytes_after_the_end_record_are_scanned(tmp_path: Path) -> None:
    path = tmp_path / "tail.zip"
    path.write_bytes(_zip([("a.txt", b"hello")]) + EVIL)
    rules = _rules(path)
    assert {"zip.hidden-data", "pickle.dangerous-import"} <= rules


def test_well_formed_archives_are_not_ambiguous(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(3)}, path)
    listing = read_listing(path.read_bytes(), DEFAULT_LIMITS)
    assert listing.issues == [] and listing.alternates == []
    assert _ambiguous(path) == []
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as z:
        z.comment = b"a comment with no end record in it"
        z.writestr("x.txt", b"x" * 100)
        z.writestr("y.bin", os.urandom(1000), compress_type=zipfile.ZIP_DEFLATED)
    assert read_listing(big.read_bytes(), DEFAULT_LIMITS).issues == []


@pytest.mark.skipif(shutil.which("zip") is None, reason="needs the zip tool to write encrypted archives")
def test_password_protected_zip_is_encrypted_not_a_crc_mismatch(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "weights.bin").write_bytes(os.urandom(4096))
    (src / "notes.txt").write_text("hello " * 200)
    path = tmp_path / "protected.zip"
    subprocess.run(["zip", "-q", "-P", "secret", str(path), "weights.bin", "notes.txt"], cwd=src, check=True)
    with zipfile.ZipFile(path) as z:
        assert all(i.flag_bits & 1 for i in z.infolist())  # really encrypted
    report = scan_paths([path], hash_files=False)
    rules = {f.rule_id: f.severity for f in report.findings}
    assert "zip.crc-mismatch" not in rules and "zip.flag-bits" not in rules
    assert "zip.malformed" not in rules
    assert rules["zip.encrypted"] is Severity.HIGH
    encrypted = sorted(f.location.entry or "" for f in report.findings if f.rule_id == "zip.encrypted")
    assert encrypted == ["notes.txt", "weights.bin"]


def test_encryption_flag_on_plain_data_is_still_flag_bits(tmp_path: Path) -> None:
    data = bytearray(_zip([("data.pkl", EVIL)]))
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        data[pos + at] |= 1
    path = tmp_path / "flag.zip"
    path.write_bytes(bytes(data))
    rules = _rules(path)
    assert {"zip.flag-bits", "pickle.dangerous-import"} <= rules and "zip.encrypted" not in rules
    # Set in one header only: the two headers disagree, which is ambiguous.
    data[data.find(b"PK\x03\x04") + 6] &= 0xFE
    path.write_bytes(bytes(data))
    assert any("disagree on whether it is encrypted" in m for m in _ambiguous(path))


@pytest.mark.skipif(shutil.which("zip") is None, reason="needs the zip tool to write encrypted archives")
def test_inspect_reports_an_encrypted_npz_member_plainly(tmp_path: Path) -> None:
    # zipfile raises RuntimeError for an encrypted entry; inspect used to surface it as a reader crash.
    import numpy as np

    from modelwarden.artifacts.reader import read_artifact

    np.save(tmp_path / "a.npy", np.zeros(3))
    path = tmp_path / "arr.npz"
    subprocess.run(["zip", "-q", "-P", "pw", str(path), "a.npy"], cwd=tmp_path, check=True)
    problems = read_artifact(path, "arr.npz").problems
    assert [(p.code, p.message) for p in problems] == [
        ("encrypted_entry", "entry 'a.npy' is encrypted (password-protected): not read")
    ]


def test_pickle_with_a_zip_after_it_is_ambiguous(tmp_path: Path) -> None:
    # pickle.load and torch.load read the pickle at the start; zipfile (Keras, np.load's NpzFile
    # after a rename) opens the archive that follows it.
    path = tmp_path / "model.pkl"
    path.write_bytes(BENIGN + _zip([("data.pkl", EVIL)]))
    assert zipfile.ZipFile(path).namelist() == ["data.pkl"]
    assert any("a zip archive of 1 entries" in m for m in _ambiguous(path))
    assert "pickle.dangerous-import" in _rules(path)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(BENIGN)
    assert _ambiguous(plain) == []
