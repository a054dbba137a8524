"""Zip archives (PyTorch, Keras 3, NumPy .npz) opened defensively.

An entry is read only after its declared size is checked against a cap and its compression ratio
against a zip-bomb bound, so a 42-kilobyte archive cannot make us allocate gigabytes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelwarden.artifacts.problems import ZIP_BOMB_MIN_BYTES, ZIP_MAX_RATIO, ArtifactProblem


@contextmanager
def open_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ArtifactProblem("corrupt_zip", f"zip archive is corrupt or truncated ({exc})") from None
    except (ValueError, EOFError, NotImplementedError) as exc:
        raise ArtifactProblem("corrupt_zip", f"zip archive cannot be read ({exc})") from None
    try:
        yield zf
    finally:
        zf.close()


def check_entry(info: zipfile.ZipInfo, *, cap: int) -> None:
    """Raise if the entry is password-protected, or reading it would expand beyond `cap` or looks like
    a zip bomb."""
    if is_encrypted(info):
        raise ArtifactProblem(
            "encrypted_entry", f"entry {info.filename!r} is encrypted (password-protected): not read"
        )
    if is_bomb(info):
        raise ArtifactProblem(
            "zip_bomb",
            f"entry {info.filename!r} expands {info.file_size:,} bytes from {info.compress_size:,} "
            f"(ratio {info.file_size // max(1, info.compress_size):,}:1): refusing to decompress it",
        )
    if info.file_size > cap:
        raise ArtifactProblem(
            "entry_too_large",
            f"entry {info.filename!r} declares {info.file_size:,} bytes, over the {cap:,}-byte cap",
        )


def is_encrypted(info: zipfile.ZipInfo) -> bool:
    # zipfile refuses to open such an entry without a password (RuntimeError).
    return bool(info.flag_bits & 0x1)


def is_bomb(info: zipfile.ZipInfo) -> bool:
    return info.file_size > ZIP_BOMB_MIN_BYTES and info.file_size > ZIP_MAX_RATIO * max(1, info.compress_size)


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, *, cap: int) -> bytes:
    """Read an entry, never more than `cap` bytes even if its declared size lies."""
    check_entry(info, cap=cap)
    try:
        with zf.open(info) as fh:
            data = fh.read(cap + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise ArtifactProblem("corrupt_zip", f"entry {info.filename!r} cannot be read ({exc})") from None
    if len(data) > cap:
        raise ArtifactProblem(
            "entry_too_large", f"entry {info.filename!r} expands beyond the {cap:,}-byte cap"
        )
    return data
