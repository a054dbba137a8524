"""GGUF (llama.cpp), parsed by the `gguf` package's `GGUFReader` (formats.md "GGUF").

`GGUFReader` memory-maps the file and decodes the metadata and tensor infos; tensor data stays
unread (the mapping is never touched past the header). Dimensions are logical element counts even
for block-quantised types, so product(dims) is a tensor's parameter count. Shapes are reported in
row-major order (ggml stores the innermost dimension first), like the other formats.

Metadata values are kept when small; long arrays (the tokenizer's vocabulary) are summarised by
their length, and `tokenizer.chat_template` is kept as text for `scan` (it is code an inference
server renders).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from modelwarden.artifacts.problems import MAX_DIMS, ArtifactProblem
from modelwarden.model import ArtifactFormat, ArtifactInfo, Problem, TensorInfo, TensorKind

MAX_ARRAY_KEPT = 64
MAX_STRING_KEPT = 256 * 1024


def read(path: Path, rel: str, *, size: int) -> ArtifactInfo:
    import gguf

    try:
        reader = gguf.GGUFReader(path, "r")
    except (ValueError, KeyError, IndexError, TypeError, OverflowError, MemoryError, OSError) as exc:
        raise ArtifactProblem(*_describe(exc, size)) from None
    info = ArtifactInfo(path=rel, format=ArtifactFormat.GGUF, size=size, bytes_read=int(reader.data_offset))
    info.metadata = _metadata(reader)
    sizes = gguf.GGML_QUANT_SIZES
    for t in reader.tensors:
        dims = [int(d) for d in t.field.parts[3].tolist()]
        if len(dims) > MAX_DIMS:
            info.problems.append(
                _problem(rel, "absurd_shape", f"tensor {t.name!r} has {len(dims)} dimensions")
            )
            continue
        count = math.prod(dims)
        qtype = gguf.GGMLQuantizationType(int(t.tensor_type))
        block, type_size = sizes[qtype]
        n_bytes = count * type_size // block
        start = int(t.data_offset)
        if start + n_bytes > size:
            info.problems.append(
                _problem(
                    rel,
                    "offset_out_of_range",
                    f"tensor {t.name!r} ({qtype.name} {dims}) ends at byte {start + n_bytes:,}, beyond the "
                    f"end of the {size:,}-byte file",
                )
            )
        info.tensors.append(
            TensorInfo.model_construct(
                name=t.name,
                dtype=qtype.name,
                shape=tuple(reversed(dims)),
                kind=TensorKind.PARAMETER,
                parameters=count,
                component=None,
                data_offsets=(start, start + n_bytes),
            )
        )
    return info


def _metadata(reader: Any) -> dict[str, Any]:
    from gguf import GGUFValueType

    meta: dict[str, Any] = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        main = field.types[0] if field.types else None
        if main == GGUFValueType.ARRAY:
            if len(field.data) > MAX_ARRAY_KEPT:
                meta[name] = {"array_length": len(field.data)}
            else:
                meta[name] = _plain(field.contents())
        elif main == GGUFValueType.STRING:
            length = int(field.parts[-1].nbytes)
            meta[name] = field.contents() if length <= MAX_STRING_KEPT else {"string_length": length}
        else:
            meta[name] = _plain(field.contents())
    return meta


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def _describe(exc: BaseException, size: int) -> tuple[str, str]:
    text = str(exc) or type(exc).__name__
    # Reading past the end of the mapping yields short arrays, which numpy then refuses to view or reshape.
    if "cannot reshape" in text or "must be a divisor" in text or isinstance(exc, IndexError):
        return "truncated", f"GGUF structure runs past the end of the {size:,}-byte file (truncated?)"
    if "magic" in text.lower():
        return "invalid_gguf", "not a GGUF file (bad magic)"
    if "version" in text.lower():
        return "unsupported_version", f"GGUF version not supported ({text[:100]})"
    if isinstance(exc, MemoryError | OverflowError):
        return "absurd_shape", "GGUF header declares sizes that cannot be allocated"
    return "invalid_gguf", f"GGUF header could not be parsed ({text[:120]})"


def _problem(rel: str, code: str, message: str) -> Problem:
    return Problem(file=rel, code=code, message=message)
