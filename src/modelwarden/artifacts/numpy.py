"""NumPy `.npy` and `.npz`: array headers only (formats.md "NumPy, joblib").

`numpy.lib.format` reads the magic, version and the Python-literal header dict with
`ast.literal_eval` (no code runs) and caps the header length; we never call `np.load`. An object
array (`descr` `|O`) carries a pickle as its payload: it is reported, never read.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from modelwarden.artifacts.problems import MAX_DIMS, MAX_TENSORS, ArtifactProblem
from modelwarden.artifacts.tensors import numel
from modelwarden.artifacts.zipcheck import is_bomb, is_encrypted, open_zip
from modelwarden.model import ArtifactFormat, ArtifactInfo, Problem, TensorInfo, TensorKind
from modelwarden.untrusted.io import open_regular

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


def read_header(fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """(shape, fortran_order, dtype, header_end) from an open .npy stream positioned at its start."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise ArtifactProblem("unsupported_version", f".npy format version {version} is not supported")
    except ArtifactProblem:
        raise
    except (ValueError, SyntaxError, EOFError, OSError) as exc:
        text = str(exc)
        code = "truncated" if "EOF" in text or "truncated" in text.lower() else "invalid_npy_header"
        raise ArtifactProblem(code, f".npy header cannot be read ({text[:120]})") from None
    if len(shape) > MAX_DIMS:
        raise ArtifactProblem("absurd_shape", f".npy header declares {len(shape)} dimensions")
    return tuple(int(d) for d in shape), bool(fortran), dtype, fh.tell()


def read_npy(path: Path, rel: str, *, size: int) -> ArtifactInfo:
    with open_regular(path) as fh:
        shape, _fortran, dtype, end = read_header(fh)
    info = ArtifactInfo(path=rel, format=ArtifactFormat.NPY, size=size, bytes_read=end)
    tensor, problem = _tensor(path.stem, shape, dtype, available=size - end, rel=rel)
    if tensor is not None:
        info.tensors.append(tensor)
    if problem is not None:
        info.problems.append(problem)
    return info


def read_npz(path: Path, rel: str, *, size: int) -> ArtifactInfo:
    info = ArtifactInfo(path=rel, format=ArtifactFormat.NPZ, size=size, bytes_read=0)
    with open_zip(path) as zf:
        members = [m for m in zf.infolist() if m.filename.endswith(".npy")]
        if len(members) > MAX_TENSORS:
            raise ArtifactProblem("too_many_tensors", f"archive holds {len(members):,} arrays")
        for m in members:
            name = m.filename[: -len(".npy")]
            if is_encrypted(m):
                info.problems.append(
                    Problem(
                        file=rel,
                        code="encrypted_entry",
                        message=f"entry {m.filename!r} is encrypted (password-protected): not read",
                    )
                )
                continue
            if is_bomb(m):
                info.problems.append(
                    Problem(
                        file=rel,
                        code="zip_bomb",
                        message=f"entry {m.filename!r} expands {m.file_size:,} bytes "
                        f"from {m.compress_size:,} "
                        f"(ratio {m.file_size // max(1, m.compress_size):,}:1): not read",
                    )
                )
                continue
            try:
                with zf.open(m) as fh:
                    shape, _fortran, dtype, end = read_header(fh)
            except ArtifactProblem as exc:
                info.problems.append(
                    Problem(file=rel, code=exc.code, message=f"entry {m.filename!r}: {exc.message}")
                )
                continue
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
                info.problems.append(
                    Problem(
                        file=rel, code="corrupt_zip", message=f"entry {m.filename!r} cannot be read ({exc})"
                    )
                )
                continue
            info.bytes_read = (info.bytes_read or 0) + end
            tensor, problem = _tensor(name, shape, dtype, available=m.file_size - end, rel=rel)
            if tensor is not None:
                info.tensors.append(tensor)
            if problem is not None:
                info.problems.append(problem)
    return info


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
