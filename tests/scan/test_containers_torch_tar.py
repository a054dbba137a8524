"""Legacy PyTorch tar checkpoints (torch < 0.4), which torch.load still reads first: every pickle of
the `storages`, `tensors` and `pickle` members, found by skipping raw records exactly as torch does.

The members are written as old torch wrote them: pickles by `pickle`, raw storages by torch's own
`UntypedStorage._write_file` (int64 element count, then the bytes), the archive by `tarfile`. Nothing
is loaded.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import pytest
import torch

from modelwarden.model import Severity
from modelwarden.scan import scan_paths
from modelwarden.scan.torch_tar import _STORAGE_ELEMENT_SIZE, is_tar_header
from tests.scan.corpus import _Reduce

EVIL = pickle.dumps(_Reduce(os.system, "true"), protocol=2)


def _raw_storage(numel: int) -> bytes:
    """A float storage of zeros as torch writes it into the legacy `storages` member."""
    path_buf = io.BytesIO()
    torch.zeros(numel).untyped_storage()._write_file(path_buf, False, True, 4)
    return path_buf.getvalue()


def _storages(*, views: bytes | None = None, second: bytes | None = None) -> bytes:
    records = [pickle.dumps(("0", "cpu", torch.FloatStorage), protocol=2) + _raw_storage(1024)]
    if second is not None:
        records.append(second + _raw_storage(4))
    return (
        pickle.dumps(len(records), protocol=2)
        + b"".join(records)
        + (views if views is not None else pickle.dumps([], protocol=2))
    )


def _tensors(record: bytes | None = None) -> bytes:
    rec = record if record is not None else pickle.dumps(("t0", "0", torch.FloatTensor), protocol=2)
    return pickle.dumps(1, protocol=2) + rec + struct.pack("<ii", 1, 0) + struct.pack("<qqq", 1024, 1, 0)


def _checkpoint(path: Path, **members: bytes) -> Path:
    with tarfile.open(path, "w:", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _benign_members() -> dict[str, bytes]:
    return {
        "sys_info": pickle.dumps({"protocol_version": 1000, "little_endian": True}, protocol=2),
        "pickle": pickle.dumps({"weight": 1.0}, protocol=2),
        "tensors": _tensors(),
        "storages": _storages(),
    }


def _rules(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in scan_paths([path], hash_files=False).findings:
        out.setdefault(f.rule_id, []).append(f.location.entry or "")
    return out


def test_benign_legacy_tar_is_read_without_noise(tmp_path: Path) -> None:
    report = scan_paths([_checkpoint(tmp_path / "model.tar", **_benign_members())], hash_files=False)
    # The legacy tensor type torch.FloatTensor is not on the allowlist (scan/data/pickle_policy.yaml,
    # maintained elsewhere); apart from that import, only the format itself is reported.
    others = {(f.rule_id, f.evidence) for f in report.findings if f.rule_id != "torch.legacy-tar"}
    assert others <= {("pickle.unknown-import", "torch.FloatTensor")}
    assert "torch.legacy-tar" in {f.rule_id for f in report.findings}


@pytest.mark.parametrize(
    ("member", "variant", "entry"),
    [
        ("storages", {"views": EVIL}, "storages"),  # the views pickle after 4 KiB of zero bytes
        ("storages", {"second": EVIL}, "storages"),  # the second storage's record pickle
        ("tensors", {"record": EVIL}, "tensors"),
        ("pickle", {}, "pickle"),
    ],
)
def test_every_pickle_torch_reads_is_analysed(
    tmp_path: Path, member: str, variant: dict[str, bytes], entry: str
) -> None:
    members = _benign_members()
    if member == "storages":
        members["storages"] = _storages(**variant)
    elif member == "tensors":
        members["tensors"] = _tensors(**variant)
    else:
        members["pickle"] = EVIL
    found = _rules(_checkpoint(tmp_path / "model.tar", **members))
    assert entry in found.get("pickle.dangerous-import", []), found


def test_the_last_member_of_a_name_is_the_one_torch_reads(tmp_path: Path) -> None:
    path = tmp_path / "dup.tar"
    with tarfile.open(path, "w:") as tar:
        for name, data in [*_benign_members().items(), ("storages", _storages(views=EVIL))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    found = _rules(path)
    assert "storages" in found["pickle.dangerous-import"]


def test_unknown_storage_type_is_unverified(tmp_path: Path) -> None:
    members = _benign_members()
    members["storages"] = pickle.dumps(1, protocol=2) + pickle.dumps(("0", "cpu", "x"), protocol=2) + EVIL
    report = scan_paths([_checkpoint(tmp_path / "m.tar", **members)], hash_files=False)
    hits = [f for f in report.findings if f.rule_id == "torch.legacy-tar-unverified"]
    assert hits and hits[0].severity is Severity.CRITICAL


def test_storage_element_sizes_match_torch() -> None:
    for name, size in _STORAGE_ELEMENT_SIZE.items():
        assert torch._utils._element_size(getattr(torch, name)._dtype) == size, name


def test_tar_header_check_matches_tarfile(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path / "m.tar", **_benign_members())
    assert is_tar_header(path.read_bytes()[:512])
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    assert not is_tar_header(legacy.read_bytes()[:512])
    with pytest.raises(tarfile.ReadError), tarfile.open(legacy, "r:"):
        pass
    assert not is_tar_header(os.urandom(512)) and not is_tar_header(bytes(512))


def test_tar_whose_first_name_is_a_pickle_is_read_as_tar(tmp_path: Path) -> None:
    # tarfile (and so torch.load) accepts an old-style tar whose first member's name field holds a
    # pickle's bytes; the scanner used to take the file for that pickle only.
    members = _benign_members()
    members["pickle"] = EVIL
    path = tmp_path / "poly.pt"
    with tarfile.open(path, "w:", format=tarfile.GNU_FORMAT, encoding="latin1") as tar:
        name = pickle.dumps({"a": 1}, protocol=2)[:-1].decode("latin1")  # no STOP: a name
        decoy = tarfile.TarInfo(name)
        decoy.size = 0
        tar.addfile(decoy, io.BytesIO(b""))
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert path.read_bytes()[:2] == b"\x80\x02"  # starts as a pickle
    with tarfile.open(path, "r:") as tar:
        assert "pickle" in tar.getnames()
    assert "tar archive > pickle" in _rules(path).get("pickle.dangerous-import", [])


def test_linked_members_are_followed_as_tarfile_extracts_them(tmp_path: Path) -> None:
    # A hard link named "storages" extracts the member it names; a symbolic one points out of the tar.
    members = _benign_members()
    path = tmp_path / "linked.tar"
    with tarfile.open(path, "w:") as tar:
        for name, data in [("blob", _storages(views=EVIL)), *members.items()]:
            if name == "storages":
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("storages")
        link.type, link.linkname = tarfile.LNKTYPE, "blob"
        tar.addfile(link)
    assert "storages" in _rules(path)["pickle.dangerous-import"]
    sym = tmp_path / "sym.tar"
    with tarfile.open(sym, "w:") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if name == "storages":
                info.type, info.linkname = tarfile.SYMTYPE, "/srv/other/storages"
                tar.addfile(info)
                continue
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    report = scan_paths([sym], hash_files=False)
    hit = next(f for f in report.findings if f.rule_id == "torch.legacy-tar-unverified")
    assert hit.severity is Severity.CRITICAL and hit.evidence == "/srv/other/storages"
