"""Containers that carry a pickle program to a loader, written byte by byte as the loaders read them.

Each builder takes the program's bytes and returns `Files` (relative path -> bytes), the entry a loader
opens and the loaders to run. Nothing here imports torch or keras: torch archives are written with
`zipfile` and `struct` in the layout `torch.save` uses (docs/scan.md, "The loader oracle").
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import pickletools
import struct
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TORCH_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
TORCH_PROTOCOL = 1001  # torch.serialization.PROTOCOL_VERSION
STORAGE = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)  # storage '0' of every torch container: 4 float32


@dataclass(frozen=True)
class Built:
    """A sample's files and how to load it."""

    files: dict[str, bytes]
    """Relative path -> bytes."""
    entry: str
    """The file the loader opens."""
    loaders: tuple[str, ...]
    """Loaders to run (tests.support.sandbox.LOADERS)."""


def raw_pickle(program: bytes, loaders: tuple[str, ...] = ("pickle",)) -> Built:
    return Built({"model.pkl": program}, "model.pkl", loaders)


def _torch_zip_bytes(program: bytes, root: str = "archive", *, offset: int = 0) -> bytes:
    """A torch.save zip archive whose data.pkl is `program` (storage '0' present). `offset` is where
    the archive will start in the final file (for archives appended to others)."""
    buf = io.BytesIO()
    buf.write(b"\0" * offset)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{root}/data.pkl", program)
        z.writestr(f"{root}/byteorder", b"little")
        z.writestr(f"{root}/data/0", STORAGE)
        z.writestr(f"{root}/version", b"3\n")
        z.writestr(f"{root}/.data/serialization_id", b"0123456789")
    return buf.getvalue()[offset:]


def torch_zip(program: bytes) -> Built:
    return Built({"model.pt": _torch_zip_bytes(program)}, "model.pt", ("torch",))


def torch_legacy_stream(program: bytes) -> Built:
    """torch's pre-1.6 format: magic, protocol, sys_info, the object, storage keys, raw storages."""
    sys_info = {
        "protocol_version": TORCH_PROTOCOL,
        "little_endian": True,
        "type_sizes": {"short": 2, "int": 4, "long": 4},
    }
    parts = [
        pickle.dumps(TORCH_MAGIC, protocol=2),
        pickle.dumps(TORCH_PROTOCOL, protocol=2),
        pickle.dumps(sys_info, protocol=2),
        program,
        pickle.dumps(["0"], protocol=2),
        struct.pack("<q", 4) + STORAGE,
    ]
    return Built({"model.pt": b"".join(parts)}, "model.pt", ("torch",))


def torch_legacy_tar(program: bytes, member: str = "pickle") -> Built:
    """torch's tar format: `storages` and `tensors` are streams of pickles read before `pickle`; the
    program goes to `member`: pickle, storages / tensors (before their count), or after-storage
    (where torch reads the storage views, after one storage's raw bytes)."""
    members = {
        "sys_info": pickle.dumps({"protocol_version": TORCH_PROTOCOL, "little_endian": True}, protocol=2),
        "storages": pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2),
        "tensors": pickle.dumps(0, protocol=2),
        "pickle": pickle.dumps({"ok": 1}, protocol=2),
    }
    if member == "after-storage":  # one storage: count, header, raw bytes, then the views pickle
        header = b"\x80\x02(X\x01\x00\x00\x000X\x03\x00\x00\x00cpuctorch\nFloatStorage\ntq\x00."
        raw = struct.pack("<q", 4) + STORAGE
        members["storages"] = pickle.dumps(1, protocol=2) + header + raw + program
    else:
        members[member] = program if member == "pickle" else program + members[member]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return Built({"model.tar": buf.getvalue()}, "model.tar", ("torch",))


NPY_DESCRS = ("'|O'", "'O'", "'object'", "[('a', '|O')]", "[('a', 'object')]", "[('a', '<f8'), ('b', 'O')]")


def npy_bytes(program: bytes, descr: str = "'|O'") -> bytes:
    """A .npy (format 1.0) whose header names an object dtype in `descr`'s spelling; numpy.load with
    allow_pickle=True unpickles what follows the header."""
    header = "{'descr': " + descr + ", 'fortran_order': False, 'shape': (1,), }"
    pad = 64 - (10 + len(header) + 1) % 64
    text = (header + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + program


def npy(program: bytes, descr: str = "'|O'") -> Built:
    return Built({"array.npy": npy_bytes(program, descr)}, "array.npy", ("numpy",))


def npz(program: bytes, descr: str = "'|O'") -> Built:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("weights.npy", npy_bytes(b"", "'<f8'") + struct.pack("<d", 1.0))
        z.writestr("objects.npy", npy_bytes(program, descr))
    return Built({"arrays.npz": buf.getvalue()}, "arrays.npz", ("numpy",))


def _joblib_dump(value: object) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(value, buf)
    return buf.getvalue()


_JOBLIB_SENTINEL = "oracle-sentinel-0123456789"


def joblib_object_array(program: bytes) -> Built:
    """A real joblib.dump of a float array and an object array, with the object array's embedded
    pickle (joblib writes it right after the NumpyArrayWrapper's BUILD) replaced by `program`."""
    data = _joblib_dump({"w": np.arange(3.0), "o": np.array([_JOBLIB_SENTINEL], dtype=object)})
    at = data.index(_JOBLIB_SENTINEL.encode())
    start = data.rindex(b"\x80", 0, at)  # the inner pickle's PROTO
    end = start + _pickle_length(data[start:])
    return Built({"model.joblib": data[:start] + program + data[end:]}, "model.joblib", ("joblib",))


def _pickle_length(data: bytes) -> int:
    """Bytes up to and including the first pickle's STOP (our own bytes: parsing is safe)."""
    for op, _, pos in pickletools.genops(data):
        if op.name == "STOP":
            return int(pos or 0) + 1
    raise ValueError("no STOP")


def _nd_array_wrapper_pickle(filename: str) -> bytes:
    """A joblib < 0.10 pickle: NDArrayWrapper(filename) that joblib.load resolves with np.load."""
    out = bytearray(b"\x80\x02")
    out += b"cjoblib.numpy_pickle\nNDArrayWrapper\n)\x81"
    out += b"}(X\x08\x00\x00\x00filename" + b"X" + struct.pack("<I", len(filename)) + filename.encode()
    out += b"X\x08\x00\x00\x00subclasscnumpy\nndarray\nX\x0a\x00\x00\x00allow_mmap\x89ub."
    return bytes(out)


def joblib_ndarray_wrapper(program: bytes, target: str = "arr.npy") -> Built:
    """joblib's old NDArrayWrapper: the pickle names a file that joblib.load reads with
    np.load(allow_pickle=True); that file is an object .npy carrying `program`."""
    return Built(
        {"model.joblib": _nd_array_wrapper_pickle(target), target: npy_bytes(program)},
        "model.joblib",
        ("joblib",),
    )


def zip_two_eocd(program: bytes, benign: bytes) -> Built:
    """Two complete torch archives back to back: the loader (Python's zipfile, torch's reader) takes
    the last end-of-central-directory record, i.e. the second archive."""
    first = _torch_zip_bytes(benign)
    second = _torch_zip_bytes(program, offset=len(first))
    return Built({"model.pt": first + second}, "model.pt", ("torch",))


_EOCD = struct.Struct("<4sHHHHIIH")


def zip_eocd_in_comment(program: bytes, benign: bytes) -> Built:
    """A benign torch archive whose end record's comment holds a second central directory and end
    record, for an archive carrying `program` whose entries lie at the start of the file. Readers that
    take the last end record (Python's zipfile, torch's) load the hidden archive; one that takes the
    first end record, with a comment that ends exactly at the end of the file, sees the benign one."""
    hidden = _torch_zip_bytes(program)
    _, _, _, n_disk, n_total, cd_size, cd_offset, _ = _EOCD.unpack_from(hidden, len(hidden) - _EOCD.size)
    entries, central = hidden[:cd_offset], hidden[cd_offset : cd_offset + cd_size]
    shown = _torch_zip_bytes(benign, offset=len(entries))
    shown_body = shown[: -_EOCD.size]
    sig, d, dcd, sn, st, ssize, soff, _ = _EOCD.unpack_from(shown, len(shown) - _EOCD.size)
    comment_len = len(central) + _EOCD.size
    shown_end = _EOCD.pack(sig, d, dcd, sn, st, ssize, soff, comment_len)
    new_cd_offset = len(entries) + len(shown_body) + len(shown_end)
    hidden_end = _EOCD.pack(b"PK\x05\x06", 0, 0, n_disk, n_total, cd_size, new_cd_offset, 0)
    data = entries + shown_body + shown_end + central + hidden_end
    return Built({"model.pt": data}, "model.pt", ("torch",))


def npz_zip64_elsewhere(program: bytes) -> Built:
    """An .npz carrying `program` whose last central-directory entry's comment ends in a zip64
    end-of-central-directory locator, pointing at a zip64 record earlier in the file that describes a
    benign archive. Python's zipfile (numpy.load) reads only a zip64 record adjacent to the locator,
    finds none, and reads the regular end record (the archive with `program`); a reader that follows
    the locator's offset sees the benign archive."""
    benign_buf = io.BytesIO()
    with zipfile.ZipFile(benign_buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("weights.npy", npy_bytes(b"", "'<f8'") + struct.pack("<d", 1.0))
    benign = benign_buf.getvalue()
    _, _, _, n, _, cd_size, cd_offset, _ = _EOCD.unpack_from(benign, len(benign) - _EOCD.size)
    shown = benign[: -_EOCD.size]
    zip64_record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, cd_size, cd_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, len(shown), 1)
    buf = io.BytesIO()
    buf.write(shown + zip64_record)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("objects.npy")
        info.comment = locator  # the last 20 bytes of the central directory
        z.writestr(info, npy_bytes(program))
    return Built({"arrays.npz": buf.getvalue()}, "arrays.npz", ("numpy",))


KERAS_TEMPLATE = Path(__file__).with_name("data") / "keras_torch_module_wrapper.json"


def keras_torch_module_wrapper(program: bytes) -> Built:
    """A .keras archive (config written by Keras 3.15 for Sequential([Input, TorchModuleWrapper]), kept
    in data/) whose wrapper's `module` is a base64 torch.save archive carrying `program`: with
    safe_mode=False, Keras passes it to torch.load(weights_only=False)."""
    config = json.loads(KERAS_TEMPLATE.read_text(encoding="utf-8"))
    layer = config["config"]["layers"][-1]
    layer["config"]["module"] = base64.b64encode(_torch_zip_bytes(program)).decode("ascii")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            "metadata.json", json.dumps({"keras_version": "3.15.1", "date_saved": "2026-12-05@00:00:00"})
        )
        z.writestr("config.json", json.dumps(config))
    return Built({"model.keras": buf.getvalue()}, "model.keras", ("keras",))
