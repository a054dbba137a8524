"""One entry point over all readers: `read_artifact(path, rel)` never raises for a bad file.

The format is detected from content (`detect.py`), the matching reader reads headers only, and
anything that goes wrong becomes a `Problem` naming the file and the problem — truncation, a header
length beyond the file, invalid JSON, a zip bomb entry, a broken symlink, an unreadable file, an
unknown format — so the caller can go on with the release's other files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from modelwarden.artifacts import gguf, keras, numpy, onnx, safetensors, torch
from modelwarden.artifacts import zip as zipread
from modelwarden.artifacts.detect import HEAD_BYTES, archive_kind, detect_bytes
from modelwarden.artifacts.problems import ArtifactProblem
from modelwarden.artifacts.source import ByteSource, SourceBuffer
from modelwarden.errors import ModelwardenError
from modelwarden.model import ArtifactFormat as F
from modelwarden.model import ArtifactInfo, Problem
from modelwarden.untrusted.io import open_regular

# Formats whose files hold model weights (their tensors are read here).
WEIGHT_FORMATS = frozenset(
    {
        F.SAFETENSORS,
        F.GGUF,
        F.TORCH_ZIP,
        F.TORCH_LEGACY,
        F.TORCHSCRIPT,
        F.ONNX,
        F.KERAS,
        F.KERAS_H5,
        F.HDF5,
        F.NPY,
        F.NPZ,
    }
)
# Formats that exist to carry tensors: one without any is worth a word (a GGUF holding only a vocabulary
# or chat template, a safetensors holding only __metadata__).
_WEIGHTS_ONLY = {
    F.GGUF: "GGUF file",
    F.SAFETENSORS: "safetensors file",
}
_NOT_READ = {
    F.PICKLE: "a plain pickle: inspect does not unpickle it, so its parameters are not counted "
    "(see `modelwarden scan`)",
    F.JOBLIB: "a joblib/compressed pickle: inspect does not unpickle it (see `modelwarden scan`)",
    F.SAVEDMODEL: "a TensorFlow SavedModel graph: its variables are not counted by this version",
    F.ZIP: "a zip archive that is not a PyTorch, Keras or NumPy file",
    F.UNKNOWN: "content matches no supported format",
}


def read_artifact(path: Path, rel: str) -> ArtifactInfo:
    """Read one file's headers. Problems are recorded on the result, never raised."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return _failed(rel, 0, "unreadable", f"cannot stat file ({exc.strerror or exc})")
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return _failed(
                rel, 0, "broken_symlink", f"symbolic link to {os.readlink(path)!r} points to nothing"
            )
        except OSError as exc:
            return _failed(
                rel, 0, "broken_symlink", f"symbolic link cannot be followed ({exc.strerror or exc})"
            )
    if not stat.S_ISREG(st.st_mode):
        return _failed(
            rel, 0, "not_a_regular_file", "not a regular file (device, socket or pipe): not opened"
        )
    size = st.st_size
    try:
        with open_regular(path) as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        return _failed(rel, size, "unreadable", f"cannot be read ({exc.strerror or exc})")
    if path.name == "saved_model.pb":
        fmt = F.SAVEDMODEL
    else:
        try:
            fmt = detect_bytes(head, size=size, path=path)
        except OSError as exc:
            return _failed(rel, size, "unreadable", f"cannot be read ({exc.strerror or exc})")
    return _finish(rel, fmt, size, lambda: _dispatch(path, rel, fmt, size, head))


def _finish(rel: str, fmt: F, size: int, read: Callable[[], ArtifactInfo]) -> ArtifactInfo:
    """Run a reader; whatever goes wrong becomes a `Problem` on the result."""
    try:
        info = read()
        if fmt in _WEIGHTS_ONLY and not info.tensors and not info.problems:
            # Valid, but with nothing to count: say so, or the release reads as "no model files".
            info.problems.append(
                Problem(
                    file=rel,
                    code="no_tensors",
                    message=f"{_WEIGHTS_ONLY[fmt]} declares no tensors (its header and metadata are valid):"
                    " there are no weights to count",
                    severity="warning",
                )
            )
    except ArtifactProblem as exc:
        info = ArtifactInfo(path=rel, format=fmt, size=size, problems=[exc.to_problem(rel)])
    except PermissionError as exc:
        info = _failed(rel, size, "unreadable", f"cannot be read ({exc.strerror or exc})", fmt=fmt)
    except OSError as exc:
        info = _failed(rel, size, "io_error", f"read failed ({exc.strerror or exc})", fmt=fmt)
    except MemoryError:
        info = _failed(rel, size, "too_large", "header too large to read into memory", fmt=fmt)
    except ModelwardenError as exc:  # the source failed (a remote read refused or not answered)
        info = _failed(rel, size, "unreadable", f"cannot be read: {exc.message}"[:300], fmt=fmt)
    except Exception as exc:  # a third-party parser failed in a way it does not document: report, go on
        info = _failed(
            rel,
            size,
            "reader_error",
            f"{fmt.value} reader failed: {type(exc).__name__}: {exc}"[:300],
            fmt=fmt,
        )
    return info


def read_artifact_source(src: ByteSource, rel: str) -> ArtifactInfo:
    """Read one file's headers through a `ByteSource` (a remote file): the same readers and the same
    `Problem`s as `read_artifact`, for a file that is not on this disk."""
    size = src.size
    try:
        head = src.read_at(0, HEAD_BYTES)
        fmt = detect_bytes(head, size=size)
        if fmt is F.ZIP:
            fmt = archive_kind(zipread.read_listing(SourceBuffer(src), zipread.ZIP_LIMITS), rel)
    except ArtifactProblem:
        fmt = F.ZIP  # an unreadable directory: the zip readers below say why
        head = b""
    except ModelwardenError as exc:  # the source failed (a remote read refused or not answered)
        return _failed(rel, size, "unreadable", f"cannot be read: {exc.message}"[:300])
    if PurePosixPath(rel).name == "saved_model.pb":
        fmt = F.SAVEDMODEL
    return _finish(rel, fmt, size, lambda: _dispatch_source(src, rel, fmt, size, head))


def _dispatch_source(src: ByteSource, rel: str, fmt: F, size: int, head: bytes) -> ArtifactInfo:
    if fmt is F.SAFETENSORS:
        return safetensors.read_source(src, rel)
    if fmt is F.GGUF:
        return gguf.read_source(src, rel)
    if fmt in (F.TORCH_ZIP, F.TORCHSCRIPT):
        return torch.read_zip_source(src, rel, fmt=fmt)
    if fmt is F.TORCH_LEGACY:
        return torch.read_legacy_source(src, rel)
    if fmt is F.ONNX:
        return onnx.read_source(src, rel)
    if fmt is F.KERAS:
        return keras.read_keras_source(src, rel)
    if fmt is F.NPY:
        return numpy.read_npy_source(src, rel)
    if fmt is F.NPZ:
        return numpy.read_npz_source(src, rel)
    if fmt in (F.KERAS_H5, F.HDF5):
        # h5py opens a path; HDF5 is not read through a byte source by this version (fail closed).
        info = ArtifactInfo(path=rel, format=fmt, size=size)
        info.problems.append(
            Problem(
                file=rel,
                code="not_inspected",
                message="an HDF5 file is not read remotely by this version: its tensors are not counted",
            )
        )
        return info
    return _other(rel, fmt, size, head)


def _dispatch(path: Path, rel: str, fmt: F, size: int, head: bytes) -> ArtifactInfo:
    if fmt is F.SAFETENSORS:
        return safetensors.read(path, rel, size=size, head=head)
    if fmt is F.GGUF:
        return gguf.read(path, rel, size=size)
    if fmt in (F.TORCH_ZIP, F.TORCHSCRIPT):
        return torch.read_zip(path, rel, size=size, fmt=fmt)
    if fmt is F.TORCH_LEGACY:
        return torch.read_legacy(path, rel, size=size)
    if fmt is F.ONNX:
        return onnx.read(path, rel, size=size)
    if fmt is F.KERAS:
        return keras.read_keras(path, rel, size=size)
    if fmt in (F.KERAS_H5, F.HDF5):
        return keras.read_h5(path, rel, size=size, fmt=fmt)
    if fmt is F.NPY:
        return numpy.read_npy(path, rel, size=size)
    if fmt is F.NPZ:
        return numpy.read_npz(path, rel, size=size)
    return _other(rel, fmt, size, head)


def _other(rel: str, fmt: F, size: int, head: bytes) -> ArtifactInfo:
    info = ArtifactInfo(path=rel, format=fmt, size=size)
    media = _media_type(head) if fmt is F.UNKNOWN else None
    if media is not None:  # images and documents shipped with a card: not model files, not a problem
        info.metadata["media_type"] = media
    elif fmt in _NOT_READ:
        code = "unknown_format" if fmt in (F.UNKNOWN, F.ZIP) else "not_inspected"
        info.problems.append(Problem(file=rel, code=code, message=_NOT_READ[fmt], severity="warning"))
    return info


_MEDIA = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"%PDF-": "application/pdf",
}


def _media_type(head: bytes) -> str | None:
    for magic, media in _MEDIA.items():
        if head.startswith(magic):
            return media
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _failed(rel: str, size: int, code: str, message: str, *, fmt: F = F.UNKNOWN) -> ArtifactInfo:
    return ArtifactInfo(
        path=rel, format=fmt, size=size, problems=[Problem(file=rel, code=code, message=message)]
    )
