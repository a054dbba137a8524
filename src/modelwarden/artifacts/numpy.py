"""NumPy `.npy` and `.npz`: array headers only (docs/reference/formats.md "NumPy, joblib").

The header is read by the parser the scan uses (`artifacts/npy.py`: magic, version and the
Python-literal header dict with `ast.literal_eval`, no code runs, under the one header cap); .npz
members come through the one zip reader. We never call `np.load`. An object
array (`descr` `|O`) carries a pickle as its payload: it is reported, never read.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from modelwarden.artifacts import zip as zipread
from modelwarden.artifacts.npy import NpyHeaderError, descr_holds_objects, header_length, read_npy_header
from modelwarden.artifacts.problems import ArtifactProblem
from modelwarden.artifacts.source import Buffer, ByteSource, LocalFile, SourceBuffer
from modelwarden.artifacts.tensors import numel
from modelwarden.limits import MAX_DIMS, MAX_NPY_HEADER_BYTES, MAX_TENSORS
from modelwarden.model import ArtifactFormat, ArtifactInfo, Problem, TensorInfo, TensorKind

_KINDS = {"f": "F", "i": "I", "u": "U", "c": "C"}


def dtype_name(dtype: np.dtype[Any]) -> str:
    """safetensors-style short name (F32, I64, ...) for a NumPy dtype."""
    if dtype.kind == "b":
        return "BOOL"
    if dtype.kind == "V" and dtype.itemsize == 2 and dtype.names is None:
        return "BF16"  # ml_dtypes / h5py store bfloat16 as 2-byte opaque
    prefix = _KINDS.get(dtype.kind)
    if prefix is None:
        return dtype.str.lstrip("<>|=").upper()
    return f"{prefix}{dtype.itemsize * 8}"


def read_header(buf: Buffer) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """(shape, fortran_order, dtype, header_end) of the .npy bytes in `buf`, through the parser the scan
    uses (`artifacts/npy.py`); the dtype is built by NumPy's own `descr_to_dtype`, which runs no code."""
    try:
        header = read_npy_header(buf)
    except NpyHeaderError as exc:
        raise ArtifactProblem(
            _HEADER_CODES.get(exc.kind, "invalid_npy_header"), f".npy {exc.message}"
        ) from None
    shape = header.shape
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise ArtifactProblem("invalid_npy_header", f".npy shape {str(shape)[:60]} is not a tuple of sizes")
    if len(shape) > MAX_DIMS:
        raise ArtifactProblem("absurd_shape", f".npy header declares {len(shape)} dimensions")
    if descr_holds_objects(header.descr):
        dtype = np.dtype(object)  # whatever NumPy would build, its payload is a pickle: never read
    else:
        try:
            dtype = np.lib.format.descr_to_dtype(header.descr)
        except (TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError, SyntaxError):
            raise ArtifactProblem(
                "invalid_npy_header",
                f".npy dtype description {str(header.descr)[:60]} is not one NumPy reads",
            ) from None
    return tuple(shape), bool(header.fortran_order), dtype, header.data_start


_HEADER_CODES = {"beyond_file": "truncated", "short": "truncated", "version": "unsupported_version"}


def read_npy(path: Path, rel: str, *, size: int) -> ArtifactInfo:
    """A .npy file on disk (see `read_npy_source`)."""
    with LocalFile(path, name=rel) as src:
        return read_npy_source(src, rel)


def read_npy_source(src: ByteSource, rel: str) -> ArtifactInfo:
    """A .npy file's header: its one array's dtype and shape."""
    size = src.size
    shape, _fortran, dtype, end = read_header(SourceBuffer(src))
    info = ArtifactInfo(path=rel, format=ArtifactFormat.NPY, size=size, bytes_read=end)
    tensor, problem = _tensor(PurePosixPath(rel).stem, shape, dtype, available=size - end, rel=rel)
    if tensor is not None:
        info.tensors.append(tensor)
    if problem is not None:
        info.problems.append(problem)
    return info


def read_npz(path: Path, rel: str, *, size: int) -> ArtifactInfo:
    """An .npz file on disk (see `read_npz_source`)."""
    with LocalFile(path, name=rel) as src:
        return read_npz_source(src, rel)


def read_npz_source(src: ByteSource, rel: str) -> ArtifactInfo:
    """An .npz through the one zip reader: each `.npy` member's header, inflated no further than the
    header (a member's array data is never decompressed)."""
    size = src.size
    info = ArtifactInfo(path=rel, format=ArtifactFormat.NPZ, size=size, bytes_read=0)
    buf = SourceBuffer(src)
    listing = zipread.read_listing(buf, zipread.ZIP_LIMITS)
    zipread.require_directory(listing)
    info.problems.extend(zipread.ambiguity_problems(listing, rel))
    members = [m for m in zipread.visible_files(listing) if m.name.endswith(".npy")]
    if len(members) > MAX_TENSORS:
        raise ArtifactProblem("too_many_tensors", f"archive holds {len(members):,} arrays")
    for m in members:
        try:
            zipread.check_member(m, cap=m.uncompressed_size)
            shape, _fortran, dtype, end = read_header(_npy_header_bytes(buf, m))
        except ArtifactProblem as exc:
            message = exc.message if exc.message.startswith("entry ") else f"entry {m.name!r}: {exc.message}"
            info.problems.append(Problem(file=rel, code=exc.code, message=message))
            continue
        info.bytes_read = (info.bytes_read or 0) + end
        name = m.name[: -len(".npy")]
        tensor, problem = _tensor(name, shape, dtype, available=m.uncompressed_size - end, rel=rel)
        if tensor is not None:
            info.tensors.append(tensor)
        if problem is not None:
            info.problems.append(problem)
    return info


def _npy_header_bytes(buf: SourceBuffer, member: zipread.ZipEntry) -> bytes:
    """The magic, the header length and the header of a member, and nothing after them."""
    head = zipread.member_prefix(buf, member, 12)
    end = header_length(head)
    if end is None:
        return head  # the parser says what is wrong with it
    return zipread.member_prefix(buf, member, min(end, 12 + MAX_NPY_HEADER_BYTES))


def _tensor(
    name: str, shape: tuple[int, ...], dtype: np.dtype[Any], *, available: int, rel: str
) -> tuple[TensorInfo | None, Problem | None]:
    if dtype.hasobject:
        return None, Problem(
            file=rel,
            code="object_array",
            message=f"array {name!r} has dtype object: its payload is a pickle "
            "(not read; see `modelwarden scan`)",
            severity="warning",
        )
    count = numel(shape)
    needed = count * dtype.itemsize
    problem = None
    if needed > available:
        code = "absurd_shape" if needed > 2**50 else "truncated"
        problem = Problem(
            file=rel,
            code=code,
            message=f"array {name!r} ({dtype.str} {list(shape)}) needs {needed:,} bytes; "
            f"{max(available, 0):,} present",
        )
        if code == "absurd_shape":
            return None, problem
    tensor = TensorInfo.model_construct(
        name=name,
        dtype=dtype_name(dtype),
        shape=shape,
        kind=TensorKind.PARAMETER,
        parameters=count,
        component=None,
        data_offsets=None,
    )
    return tensor, problem
