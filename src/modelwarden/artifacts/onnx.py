"""ONNX: the one reader of a ModelProto for inspect and scan, walking the protobuf wire format.

`read_model` walks the model through a `ByteSource` (protowire.py) and steps over tensor bytes
(`raw_data`, `float_data`, ...) by their declared lengths, so it reads the structure of the model —
names, dims, types, nodes, opsets, external-data entries — and never the weights, inline or external.
External data files (the `location`s next to the model) are never opened. Inspect (`read`, below)
takes the main graph's initializers and metadata from it; the scan (scan/onnx_files.py) takes the
operator domains and external-data locations of every graph, subgraphs and functions included. The
walk follows protobuf's own rules where they matter: the last value of a singular field wins, a
message field given twice is merged (its repeated fields concatenated), repeated numbers may be
packed or not, and an int32 is read as its low 32 bits.

Initializers that are not weights are not parameters: INT64 shape constants, and the scales and
zero points of QuantizeLinear/DequantizeLinear pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelwarden.artifacts import protowire as pw
from modelwarden.artifacts.problems import ArtifactProblem
from modelwarden.artifacts.source import BufferSource, ByteSource, LocalFile, Sliceable, Window
from modelwarden.limits import (
    ONNX_MAX_BYTES,
    ONNX_MAX_DEPTH,
    ONNX_MAX_DIMS,
    ONNX_MAX_PROP_CHARS,
    ONNX_MAX_TEXT_BYTES,
)

if TYPE_CHECKING:
    from modelwarden.model import ArtifactInfo

# TensorProto.DataType numbers (onnx.proto) and the dtype names the other readers use.
_DTYPES = {
    1: "F32", 2: "U8", 3: "I8", 4: "U16", 5: "I16", 6: "I32", 7: "I64", 8: "STRING", 9: "BOOL",
    10: "F16", 11: "F64", 12: "U32", 13: "U64", 14: "C64", 15: "C128", 16: "BF16", 17: "F8_E4M3",
    18: "F8_E4M3FNUZ", 19: "F8_E5M2", 20: "F8_E5M2FNUZ", 21: "U4", 22: "I4", 23: "F4",
}  # fmt: skip
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL (DEFAULT is 0; other values are unknown to protobuf)
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})


@dataclass
class OnnxTensor:
    """One TensorProto: what it declares, never its data."""

    name: str = ""
    """The tensor's name (field 8)."""
    dims: list[int] = field(default_factory=list)
    """Declared dimensions (field 1), signed as protobuf reads int64."""
    data_type: int = 0
    """TensorProto.DataType number (field 2; 0 = UNDEFINED)."""
    data_location: int = 0
    """0 = inline, 1 = EXTERNAL (field 14)."""
    external_data: list[tuple[str, str, int]] = field(default_factory=list)
    """(key, value, offset of the entry) of each external_data entry (field 13), in order."""


@dataclass
class OnnxModel:
    """A ModelProto as the readers need it: the main graph for inspect, every graph for scan."""

    size: int
    """File size in bytes."""
    ir_version: int = 0
    """ModelProto.ir_version."""
    producer_name: str = ""
    """ModelProto.producer_name."""
    producer_version: str = ""
    """ModelProto.producer_version."""
    opsets: list[tuple[str, int]] = field(default_factory=list)
    """(domain, version) of each opset_import of the model, in order."""
    metadata_props: list[tuple[str, str]] = field(default_factory=list)
    """(key, value) of each metadata_props entry, in order."""
    initializers: list[OnnxTensor] = field(default_factory=list)
    """The main graph's initializers, then the values of its sparse initializers."""
    node_domains: list[str] = field(default_factory=list)
    """Domain of each node of the main graph, in order."""
    quant_params: set[str] = field(default_factory=set)
    """Inputs of the main graph's quantisation nodes that are scales and zero points, not weights."""
    domains: dict[str, int] = field(default_factory=dict)
    """Every operator domain used or imported anywhere (subgraphs, functions) -> offset of its first use."""
    locations: list[tuple[str, str, int]] = field(default_factory=list)
    """(tensor, location, offset) of every tensor anywhere whose external_data names a location (the
    last `location` entry, as the loader reads it)."""
    graphs: int = 0
    """Graphs walked (main, subgraphs, training graphs)."""
    nodes: int = 0
    """Nodes walked in all graphs and functions."""
    fatal: str | None = None
    """Why the walk stopped (a malformed field, nesting too deep); what was read before is kept."""
    bytes_fetched: int = 0
    """Bytes the walk asked of the source."""


def read_model(src: ByteSource) -> OnnxModel:
    """Walk a ModelProto through `src`. Never raises for a bad file (see `OnnxModel.fatal`)."""
    # A buffer the scan already holds (an mmap) is sliced directly; any other source through a Window.
    win = Window(src)
    buf: Sliceable = src.buffer if isinstance(src, BufferSource) else win
    model = OnnxModel(size=src.size)
    walker = _Walker(buf, model)
    try:
        walker.model(0, src.size)
        model.initializers.extend(walker.sparse_values)
    except pw.WireError as exc:
        model.fatal = str(exc)
    except RecursionError:
        model.fatal = "subgraphs nested too deeply"
    model.bytes_fetched = win.fetched
    return model


def looks_like_model(buf: Sliceable) -> bool:
    """True when the protobuf has the fields of a ModelProto (a graph or an opset import)."""
    try:
        for number, wire, _a, _b in pw.fields(buf, 0, min(len(buf), 1 << 16)):
            if (number, wire) in ((7, pw.LEN), (8, pw.LEN)):
                return True
    except pw.WireError:
        # The window may cut a field: decide on what was seen.
        return False
    return False


class _Walker:
    """Field numbers below are onnx.proto's."""

    def __init__(self, buf: Sliceable, model: OnnxModel) -> None:
        self.buf = buf
        self.m = model
        # Sparse initializers follow the dense ones (`graph.initializer` then `graph.sparse_initializer`,
        # each concatenated over every occurrence of the graph field, as protobuf merges them).
        self.sparse_values: list[OnnxTensor] = []

    def text(self, a: int, b: int) -> str:
        """A string field, cut (and marked as cut) beyond ONNX_MAX_TEXT_BYTES."""
        if b - a > ONNX_MAX_TEXT_BYTES:
            return pw.proto_text(self.buf, a, a + ONNX_MAX_TEXT_BYTES) + f"...[cut: {b - a:,} bytes]"
        return pw.proto_text(self.buf, a, b)

    # ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8,
    # metadata_props 14, training_info 20, functions 25.
    def model(self, a: int, b: int) -> None:
        m = self.m
        for number, wire, x, y in pw.fields(self.buf, a, b):
            if wire == pw.VARINT:
                if number == 1:
                    m.ir_version = pw.signed64(x)
                continue
            if wire != pw.LEN:
                continue
            if number == 2:
                m.producer_name = self.text(x, y)
            elif number == 3:
                m.producer_version = self.text(x, y)
            elif number == 7:
                self.graph(x, y, 0, main=True)
            elif number == 8:
                m.opsets.append(self.opset(x, y))
            elif number == 14:
                key, value, _ = self.entry(x, y)
                m.metadata_props.append((key, value))
            elif number == 20:  # TrainingInfoProto: initialization 1, algorithm 2
                for n2, w2, x2, y2 in pw.fields(self.buf, x, y):
                    if w2 == pw.LEN and n2 in (1, 2):
                        self.graph(x2, y2, 1)
            elif number == 25:  # FunctionProto: node 7, opset_import 9
                for n2, w2, x2, y2 in pw.fields(self.buf, x, y):
                    if w2 != pw.LEN:
                        continue
                    if n2 == 7:
                        self.node(x2, y2, 1)
                    elif n2 == 9:
                        self.opset(x2, y2)

    # OperatorSetIdProto: domain 1, version 2.
    def opset(self, a: int, b: int) -> tuple[str, int]:
        domain, version = "", 0
        for number, wire, x, y in pw.fields(self.buf, a, b):
            if number == 1 and wire == pw.LEN:
                domain = self.text(x, y)
            elif number == 2 and wire == pw.VARINT:
                version = pw.signed64(x)
        self.m.domains.setdefault(domain, a)
        return domain, version

    # StringStringEntryProto: key 1, value 2.
    def entry(self, a: int, b: int) -> tuple[str, str, int]:
        key = value = ""
        where = a
        for number, wire, x, y in pw.fields(self.buf, a, b):
            if number == 1 and wire == pw.LEN:
                key = self.text(x, y)
            elif number == 2 and wire == pw.LEN:
                value, where = self.text(x, y), x
        return key, value, where

    # GraphProto: node 1, initializer 5, sparse_initializer 15 (SparseTensorProto: values 1, indices 2).
    def graph(self, a: int, b: int, depth: int, *, main: bool = False) -> None:
        if depth > ONNX_MAX_DEPTH:
            raise pw.WireError(f"subgraphs nested more than {ONNX_MAX_DEPTH} deep")
        self.m.graphs += 1
        for number, wire, x, y in pw.fields(self.buf, a, b):
            if wire != pw.LEN:
                continue
            if number == 1:
                self.node(x, y, depth, main=main)
            elif number == 5:
                tensor = self.tensor(x, y)
                if main:
                    self.m.initializers.append(tensor)
            elif number == 15:
                for n2, w2, x2, y2 in pw.fields(self.buf, x, y):
                    if w2 == pw.LEN and n2 in (1, 2):
                        tensor = self.tensor(x2, y2)
                        if main and n2 == 1:
                            self.sparse_values.append(tensor)

    # NodeProto: input 1, op_type 4, attribute 5, domain 7.
    def node(self, a: int, b: int, depth: int, *, main: bool = False) -> None:
        self.m.nodes += 1
        domain = op_type = ""
        inputs: list[str] = []
        for number, wire, x, y in pw.fields(self.buf, a, b):
            if wire != pw.LEN:
                continue
            if number == 7:
                domain = self.text(x, y)
            elif number == 5:
                self.attribute(x, y, depth)
            elif main and number == 4:
                op_type = self.text(x, y)
            elif main and number == 1:
                inputs.append(self.text(x, y))
        self.m.domains.setdefault(domain, a)
        if main:
            self.m.node_domains.append(domain)
            self.m.quant_params.update(_quantisation_params(op_type, inputs))

    # AttributeProto: t 5, g 6, tensors 10, graphs 11, sparse_tensor 22, sparse_tensors 23.
    def attribute(self, a: int, b: int, depth: int) -> None:
        for number, wire, x, y in pw.fields(self.buf, a, b):
            if wire != pw.LEN:
                continue
            if number in (5, 10):
                self.tensor(x, y)
            elif number in (6, 11):
                self.graph(x, y, depth + 1)
            elif number in (22, 23):
                for n2, w2, x2, y2 in pw.fields(self.buf, x, y):
                    if w2 == pw.LEN and n2 in (1, 2):
                        self.tensor(x2, y2)

    # TensorProto: dims 1, data_type 2, name 8, external_data 13, data_location 14.
    def tensor(self, a: int, b: int) -> OnnxTensor:
        t = OnnxTensor()
        for number, wire, x, y in pw.fields(self.buf, a, b):
            if number == 1 and wire == pw.VARINT:
                t.dims.append(pw.signed64(x))
            elif number == 1 and wire == pw.LEN:  # packed
                pos = x
                while pos < y:
                    value, pos = pw.varint(self.buf, pos, y)
                    t.dims.append(pw.signed64(value))
            elif number == 2 and wire == pw.VARINT:
                t.data_type = pw.signed32(x)
            elif number == 8 and wire == pw.LEN:
                t.name = self.text(x, y)
            elif number == 13 and wire == pw.LEN:
                t.external_data.append(self.entry(x, y))
            elif number == 14 and wire == pw.VARINT and x in (0, _EXTERNAL):  # a closed enum
                t.data_location = x
        location = [(value, at) for key, value, at in t.external_data if key == "location"]
        if location:
            self.m.locations.append((t.name, *location[-1]))
        return t


def _quantisation_params(op_type: str, inputs: list[str]) -> list[str]:
    """Scale and zero-point inputs of a quantisation node: quantisation auxiliaries, not weights."""
    if op_type in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"):
        return inputs[1:]
    if op_type == "QLinearMatMul":  # a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
        return [n for i, n in enumerate(inputs) if i not in (0, 3)]
    if op_type == "QLinearConv":  # x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, bias
        return [n for i, n in enumerate(inputs) if i not in (0, 3, 8)]
    if op_type in ("MatMulInteger", "ConvInteger"):
        return inputs[2:]
    return []


# ---------------------------------------------------------------------------------------------------
# inspect: the model as an ArtifactInfo
# ---------------------------------------------------------------------------------------------------


def read(path: Path, rel: str, *, size: int) -> ArtifactInfo:
    """Inspect one .onnx file on disk (`size` is the caller's stat, kept for the reader interface)."""
    with LocalFile(path, name=rel) as src:
        return read_source(src, rel)


def read_source(src: ByteSource, rel: str) -> ArtifactInfo:
    """Inspect a ModelProto through any byte source: its structure, never its tensor bytes."""
    from modelwarden.artifacts.tensors import numel
    from modelwarden.model import ArtifactFormat, ArtifactInfo, Problem, TensorInfo, TensorKind

    if src.size > ONNX_MAX_BYTES:
        raise ArtifactProblem(
            "too_large", f"{src.size:,} bytes is beyond protobuf's 2 GiB limit for an ONNX model"
        )
    m = read_model(src)
    if m.fatal is not None:
        raise ArtifactProblem("invalid_onnx", f"not a valid ONNX protobuf ({m.fatal[:120]})")
    info = ArtifactInfo(
        path=rel, format=ArtifactFormat.ONNX, size=m.size, bytes_read=min(m.bytes_fetched, m.size)
    )
    info.metadata = {
        "ir_version": m.ir_version,
        "producer": f"{m.producer_name} {m.producer_version}".strip(),
        "opsets": {domain or "ai.onnx": version for domain, version in m.opsets},
        "custom_domains": sorted(set(m.node_domains) - _STANDARD_DOMAINS),
        "nodes": len(m.node_domains),
        "metadata_props": {key: value[:ONNX_MAX_PROP_CHARS] for key, value in m.metadata_props},
    }
    externals: set[str] = set()
    for init in m.initializers:
        if any(d < 0 for d in init.dims) or len(init.dims) > ONNX_MAX_DIMS:
            info.problems.append(
                Problem(
                    file=rel, code="absurd_shape", message=f"initializer {init.name!r}: dims {init.dims[:8]}"
                )
            )
            continue
        dtype = _DTYPES.get(init.data_type, "UNKNOWN")
        if init.data_location == _EXTERNAL:
            externals.update(value for key, value, _ in init.external_data if key == "location")
        kind = TensorKind.PARAMETER
        if dtype in ("I64", "STRING", "BOOL") or init.name in m.quant_params:
            kind = TensorKind.BUFFER
        info.tensors.append(
            TensorInfo.model_construct(
                name=init.name,
                dtype=dtype,
                shape=tuple(init.dims),
                kind=kind,
                parameters=numel(init.dims) if kind is TensorKind.PARAMETER else 0,
                component=None,
                data_offsets=None,
            )
        )
    if externals:
        info.metadata["external_data"] = sorted(externals)[:100]
    return info
