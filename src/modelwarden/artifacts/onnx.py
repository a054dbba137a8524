"""ONNX: initializers of the graph, parsed with `onnx.load(..., load_external_data=False)`.

External tensor data (the `location` files next to the model) is never opened: only the names,
dims and types of initializers are read. A protobuf has no separate header, so a model with inline
weights is parsed whole; protobuf caps a message at 2 GiB, which bounds the memory this takes.

Initializers that are not weights are not parameters: INT64 shape constants, and the scales and
zero points of QuantizeLinear/DequantizeLinear pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelwarden.artifacts.problems import MAX_DIMS, ArtifactProblem
from modelwarden.artifacts.tensors import numel
from modelwarden.model import ArtifactFormat, ArtifactInfo, Problem, TensorInfo, TensorKind

ONNX_MAX_BYTES = 2**31  # protobuf's own limit for one message

_DTYPES = {
    "FLOAT": "F32", "DOUBLE": "F64", "FLOAT16": "F16", "BFLOAT16": "BF16", "INT64": "I64", "INT32": "I32",
    "INT16": "I16", "INT8": "I8", "UINT8": "U8", "UINT16": "U16", "UINT32": "U32", "UINT64": "U64",
    "BOOL": "BOOL", "FLOAT8E4M3FN": "F8_E4M3", "FLOAT8E5M2": "F8_E5M2", "FLOAT8E4M3FNUZ": "F8_E4M3FNUZ",
    "FLOAT8E5M2FNUZ": "F8_E5M2FNUZ", "INT4": "I4", "UINT4": "U4", "FLOAT4E2M1": "F4", "COMPLEX64": "C64",
    "COMPLEX128": "C128", "STRING": "STRING",
}  # fmt: skip
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})


def read(path: Path, rel: str, *, size: int) -> ArtifactInfo:
    import onnx
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    if size > ONNX_MAX_BYTES:
        raise ArtifactProblem(
            "too_large", f"{size:,} bytes is beyond protobuf's 2 GiB limit for an ONNX model"
        )
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, TypeError) as exc:
        raise ArtifactProblem(
            "invalid_onnx", f"not a valid ONNX protobuf ({str(exc)[:120] or type(exc).__name__})"
        ) from None
    info = ArtifactInfo(path=rel, format=ArtifactFormat.ONNX, size=size, bytes_read=size)
    graph = model.graph
    info.metadata = {
        "ir_version": int(model.ir_version),
        "producer": f"{_text(model.producer_name)} {_text(model.producer_version)}".strip(),
        "opsets": {_text(imp.domain) or "ai.onnx": int(imp.version) for imp in model.opset_import},
        "custom_domains": sorted({_text(n.domain) for n in graph.node} - _STANDARD_DOMAINS),
        "nodes": len(graph.node),
        "metadata_props": {_text(p.key): _text(p.value)[:1000] for p in model.metadata_props},
    }
    externals: set[str] = set()
    quant_params = _quantisation_params(graph)
    for init in list(graph.initializer) + [s.values for s in graph.sparse_initializer]:
        name = _text(init.name)
        dims = [int(d) for d in init.dims]
        if len(dims) > MAX_DIMS or any(d < 0 for d in dims):
            info.problems.append(
                Problem(file=rel, code="absurd_shape", message=f"initializer {name!r}: dims {dims[:8]}")
            )
            continue
        dtype = _DTYPES.get(onnx.TensorProto.DataType.Name(init.data_type), "UNKNOWN")
        if init.data_location == onnx.TensorProto.EXTERNAL:
            externals.update(_text(e.value) for e in init.external_data if _text(e.key) == "location")
        kind = TensorKind.PARAMETER
        if dtype in ("I64", "STRING", "BOOL") or name in quant_params:
            kind = TensorKind.BUFFER
        info.tensors.append(
            TensorInfo.model_construct(
                name=name,
                dtype=dtype,
                shape=tuple(dims),
                kind=kind,
                parameters=numel(dims) if kind is TensorKind.PARAMETER else 0,
                component=None,
                data_offsets=None,
            )
        )
    if externals:
        info.metadata["external_data"] = sorted(externals)[:100]
    return info


def _text(value: str | bytes) -> str:
    """A string field of the protobuf as text. ONNX's schema is proto2, whose parser does not check
    UTF-8: a field with an invalid byte comes back as `bytes`. Such bytes are kept visible as `\\xNN`
    escapes, so reports and JSON carry them without failing (and without hiding them)."""
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


def _quantisation_params(graph: Any) -> set[str]:
    """Scale and zero-point inputs of (De)QuantizeLinear nodes: quantisation auxiliaries, not weights."""
    names: set[str] = set()
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"):
            names.update(_text(n) for n in node.input[1:])
        elif node.op_type == "QLinearMatMul":  # a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
            names.update(_text(n) for i, n in enumerate(node.input) if i not in (0, 3))
        elif node.op_type == "QLinearConv":  # x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, bias
            names.update(_text(n) for i, n in enumerate(node.input) if i not in (0, 3, 8))
        elif node.op_type in ("MatMulInteger", "ConvInteger"):
            names.update(_text(n) for n in node.input[2:])
    return names
