"""Which format a file is, from its content — never from its name (docs/reference/scanners.md §6).

`.bin`, `.pt`, `.pth`, `.ckpt` are used for PyTorch zip and legacy pickles alike, and a hostile
file may carry any extension. Detection reads at most a few KiB (plus a zip's central directory)
and never parses untrusted data with anything that executes.
"""

from __future__ import annotations

import bz2
import lzma
import pickletools
import re
import struct
import zlib
from pathlib import Path

from modelwarden.artifacts import zip as zipread
from modelwarden.artifacts.source import LocalFile, SourceBuffer
from modelwarden.limits import SAFETENSORS_MAX_HEADER
from modelwarden.records import ArtifactFormat
from modelwarden.untrusted.io import open_regular

HEAD_BYTES = 4096

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_NPY_MAGIC = b"\x93NUMPY"
# torch.serialization's legacy MAGIC_NUMBER 0x1950a86a20f9469cfc6c, pickled as LONG1 after PROTO 2.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
_COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x04\x22\x4d\x18": "lz4",
    b"ZF": "joblib-zlib",  # joblib's own zlib container: b"ZF" + length + zlib stream
    b"\x78\x01": "zlib",
    b"\x78\x5e": "zlib",  # levels 2-5: joblib's default compress=3 writes this header
    b"\x78\x9c": "zlib",
    b"\x78\xda": "zlib",
    b"\x5d\x00\x00": "lzma",  # .lzma "alone" format (joblib compress="lzma")
}
# Opcodes a pickle may start with: PROTO (protocol >= 2) or a protocol 0/1 construct.
_PICKLE_FIRST = frozenset(b"(]}cNIFLSVUXKMJGT\x88\x89)")


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    with open_regular(path) as fh:
        return fh.read(n)


def detect(path: str | Path) -> ArtifactFormat:
    """The format of one file (or a SavedModel folder). Raises OSError only for unreadable paths."""
    p = Path(path)
    if p.is_dir():
        return ArtifactFormat.SAVEDMODEL if (p / "saved_model.pb").is_file() else ArtifactFormat.UNKNOWN
    head = read_head(p)
    size = p.stat().st_size
    return detect_bytes(head, size=size, path=p)


def detect_bytes(head: bytes, *, size: int, path: Path | None = None) -> ArtifactFormat:
    if head.startswith(b"GGUF"):
        return ArtifactFormat.GGUF
    if head.startswith(_NPY_MAGIC):
        return ArtifactFormat.NPY
    if head.startswith(_HDF5_MAGIC):
        return _hdf5_kind(path)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(path) if path is not None else ArtifactFormat.ZIP
    if head.startswith(_TORCH_LEGACY_MAGIC):
        return ArtifactFormat.TORCH_LEGACY
    if looks_like_safetensors(head, size):
        return ArtifactFormat.SAFETENSORS
    if looks_like_pickle(head):
        return ArtifactFormat.JOBLIB if b"joblib.numpy_pickle" in head else ArtifactFormat.PICKLE
    if compression_of(head) and looks_like_pickle(peek_decompressed(head)):
        return ArtifactFormat.JOBLIB
    if looks_like_onnx(head):
        return ArtifactFormat.ONNX
    if _JSON_START.match(head):
        return ArtifactFormat.JSON
    if _is_text(head):
        return ArtifactFormat.TEXT
    return ArtifactFormat.UNKNOWN


def looks_like_safetensors(head: bytes, size: int) -> bool:
    """An 8-byte length then a JSON object: `{"` (or `{` and whitespace) right after the length.

    A length beyond the file or over the cap still counts as safetensors here, so that the reader can
    say exactly that (truncated file, header length beyond the file) instead of "unknown format".
    """
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    if n < 2:
        return False
    if n <= SAFETENSORS_MAX_HEADER and 8 + n <= size and head[8:9] == b"{":
        return True
    return head[8:10] in (b'{"', b"{ ", b"{\n", b"{}")


def looks_like_pickle(head: bytes) -> bool:
    if len(head) >= 2 and head[0] == 0x80:
        return 0 <= head[1] <= 5
    return bool(head) and head[0] in _PICKLE_FIRST and _decodes_as_pickle(head)


def _decodes_as_pickle(head: bytes) -> bool:
    # Protocol 0/1 pickles have no header: decode the first opcodes and demand that they make sense,
    # so that a text file starting with "(c) 2024" is not taken for a pickle.
    ops = 0
    try:
        for opcode, arg, _pos in pickletools.genops(head):
            ops += 1
            if opcode.name in ("GLOBAL", "INST") and not _GLOBAL_ARG.fullmatch(str(arg)):
                return False
            if opcode.name == "STOP" or ops >= 16:
                return True
    except ValueError as exc:
        # Running out of bytes at the end of the head is fine; anything else is not a pickle.
        return ops >= 3 and ("remain" in str(exc) or "exhausted" in str(exc) or "newline" in str(exc))
    return False


# A JSON document's first token: an object, or an array whose first value starts like JSON. A
# WordPiece vocab.txt starts with "[PAD]", which is text, not JSON.
_JSON_START = re.compile(rb'\s*(?:\{|\[\s*(?:[\[{"\]\-0-9]|true|false|null))')
_GLOBAL_ARG = re.compile(r"[A-Za-z_][\w.]* [A-Za-z_][\w.]*")


def looks_like_onnx(head: bytes) -> bool:
    # ModelProto starts with field 1 (ir_version, varint): tag 0x08, a small version, then another
    # field tag; the opset_import / graph / producer strings follow within the first KiB.
    if len(head) < 4 or head[0] != 0x08 or not 1 <= head[1] <= 30:
        return False
    return head[2] in (0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x40, 0x42, 0x4A, 0x52, 0x72, 0xA2)


def compression_of(head: bytes) -> str | None:
    for magic, name in _COMPRESSED.items():
        if head.startswith(magic):
            return name
    return None


def peek_decompressed(head: bytes, n: int = 64) -> bytes:
    """The first bytes of a compressed stream, decompressing no more than needed (bomb-safe)."""
    kind = compression_of(head)
    try:
        if kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, n)
        if kind == "zlib":
            return zlib.decompressobj().decompress(head, n)
        if kind == "joblib-zlib":
            start = head.find(b"\x78", 2)
            return zlib.decompressobj().decompress(head[start:], n) if start > 0 else b""
        if kind == "xz":
            return lzma.LZMADecompressor().decompress(head, n)
        if kind == "bz2":
            return bz2.BZ2Decompressor().decompress(head, n)
        if kind == "lzma":
            return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(head, n)
        if kind == "lz4":
            return _peek_lz4(head, n)
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, RuntimeError):
        return b""
    return b""


def _peek_lz4(head: bytes, n: int) -> bytes:
    try:
        import lz4.frame
    except ImportError:  # pragma: no cover - lz4 is a declared dependency
        return b""
    dec = lz4.frame.LZ4FrameDecompressor()
    out: bytes = dec.decompress(head, max_length=n)
    return out


def _is_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4  # a multi-byte character cut by the read boundary
    return True


def _zip_kind(path: Path | None) -> ArtifactFormat:
    if path is None:
        return ArtifactFormat.ZIP
    try:
        with LocalFile(path) as src:
            listing = zipread.read_listing(SourceBuffer(src), zipread.ZIP_LIMITS)
    except OSError:
        return ArtifactFormat.ZIP
    return archive_kind(listing, path.name)


def archive_kind(listing: zipread.ZipListing, filename: str) -> ArtifactFormat:
    """What a zip is to its loaders, from the entries the one zip reader lists (inspect and scan alike)."""
    names = [e.name for e in listing.entries if not e.hidden]
    kind = zip_kind_from_names(names)
    if kind is ArtifactFormat.ZIP and filename.lower().endswith(".keras") and "config.json" in names:
        # keras.saving.load_model opens any zip named .keras and needs only its config.json.
        kind = ArtifactFormat.KERAS
    if kind in (ArtifactFormat.TORCH_ZIP, ArtifactFormat.TORCHSCRIPT) and names and "/" not in names[0]:
        # torch's reader refuses an archive whose first entry is not in a folder ("file in archive is
        # not in a subdirectory"): a zip holding data.pkl at its root is a plain zip of a pickle.
        kind = ArtifactFormat.ZIP
    return kind


def zip_kind_from_names(names: list[str]) -> ArtifactFormat:
    if any(n.endswith("/code/") or "/code/" in n for n in names) and any(
        n.endswith("constants.pkl") for n in names
    ):
        return ArtifactFormat.TORCHSCRIPT
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return ArtifactFormat.TORCH_ZIP
    if "config.json" in names and ("model.weights.h5" in names or "metadata.json" in names):
        return ArtifactFormat.KERAS
    if names and all(n.endswith(".npy") for n in names):
        return ArtifactFormat.NPZ
    return ArtifactFormat.ZIP


def _hdf5_kind(path: Path | None) -> ArtifactFormat:
    if path is None:
        return ArtifactFormat.HDF5
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return ArtifactFormat.KERAS_H5 if "model_config" in f.attrs else ArtifactFormat.HDF5
    except (OSError, ValueError, KeyError, RuntimeError):
        return ArtifactFormat.HDF5


def is_tar_header(block: bytes) -> bool:
    """Whether `tarfile` accepts this 512-byte block as a header: its checksum field matches the sum of
    the block with that field read as spaces (signed or unsigned, as tarfile allows). No magic needed:
    tarfile reads old-style tars, and torch.load tries tar before anything else."""
    if len(block) < 512 or block[:512] == bytes(512):
        return False
    raw = block[148:156]
    try:
        field = raw.split(b"\0", 1)[0].strip()
        stored = int(field or b"x", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 256 + sum(block[156:512])
    signed = sum(struct.unpack("148b", block[:148])) + 256 + sum(struct.unpack("356b", block[156:512]))
    return stored in (unsigned, signed)
