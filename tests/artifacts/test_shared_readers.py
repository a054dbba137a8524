"""One reader per header format (safetensors, GGUF, ONNX) serves inspect and scan.

Each format had two parsers, one per command, with different caps: a file one accepted the other
could refuse. The hostile files below are ones on which the old parsers disagreed; both commands
must now give the same verdict (a problem for inspect exactly when a finding for scan), with a clean
control file beside each so the check can fail both ways. The readers read through a `ByteSource`,
header bytes only: the property remote reading (HTTP Range requests) relies on.
"""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelwarden.artifacts import gguf, safetensors
from modelwarden.artifacts import onnx as onnx_reader
from modelwarden.artifacts.reader import read_artifact
from modelwarden.artifacts.source import BytesSource, LocalFile
from modelwarden.limits import GGUF_MAX_DIMS, GGUF_MAX_KV, ONNX_MAX_DEPTH, SAFETENSORS_MAX_DIMS
from modelwarden.scan import scan_paths
from tests.artifacts.test_gguf import write_tiny_llama_gguf
from tests.support.models import write_sparse_safetensors


class CountingSource:
    """A ByteSource over a local file that counts what is asked of it (as a remote one would pay)."""

    def __init__(self, path: Path) -> None:
        self.inner = LocalFile(path, name=path.name)
        self.calls = 0
        self.bytes = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def size(self) -> int:
        return self.inner.size

    def read_at(self, offset: int, length: int) -> bytes:
        data = self.inner.read_at(offset, length)
        self.calls += 1
        self.bytes += len(data)
        return data


def _verdicts(path: Path) -> tuple[list[str], list[str]]:
    """(inspect's problem codes, scan's finding rules) for one file."""
    problems = [p.code for p in read_artifact(path, path.name).problems if p.code != "no_tensors"]
    report = scan_paths([path], hash_files=False)
    assert not report.problems
    return problems, sorted({f.rule_id for f in report.findings})


def _agree(path: Path, *, bad: bool) -> tuple[list[str], list[str]]:
    problems, findings = _verdicts(path)
    assert bool(problems) is bad, (path.name, problems, findings)
    assert bool(findings) is bad, (path.name, problems, findings)
    return problems, findings


# ---------------------------------------------------------------------------------------------------
# GGUF
# ---------------------------------------------------------------------------------------------------


def _gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _gguf(kvs: list[bytes], tensors: list[tuple[str, list[int]]], *, data: int | None = None) -> bytes:
    """A hand-written GGUF v3 (as a hostile one would be): key-values, F32 tensor infos, aligned data."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    offset = 0
    for name, dims in tensors:
        out += _gguf_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        out += struct.pack("<IQ", 0, offset)
        offset += -(-4 * int(np.prod(dims)) // 32) * 32
    out += b"\0" * (-len(out) % 32)
    return out + b"\0" * (offset if data is None else data)


def _kv_u8(key: str, value: int = 1) -> bytes:
    return _gguf_string(key) + struct.pack("<IB", 0, value)


def test_gguf_tensor_with_more_dimensions_than_llama_cpp_accepts(tmp_path: Path) -> None:
    # inspect allowed 32 dimensions, scan 4 (GGML_MAX_DIMS): a 5-dimension tensor passed inspect.
    ok = tmp_path / "four.gguf"
    ok.write_bytes(_gguf([_kv_u8("general.x")], [("t", [2, 1, 1, 1])]))
    _agree(ok, bad=False)
    five = tmp_path / "five.gguf"
    five.write_bytes(_gguf([_kv_u8("general.x")], [("t", [2, 1, 1, 1, 1])]))
    problems, findings = _agree(five, bad=True)
    assert problems == ["absurd_shape"] and findings == ["gguf.malformed"]
    assert f"more than {GGUF_MAX_DIMS}" in read_artifact(five, "five.gguf").problems[0].message


def test_gguf_key_count_is_capped_the_same_for_both(tmp_path: Path) -> None:
    # inspect refused more than 1,000,000 keys and scan more than 1 << 20: 1,000,001 keys passed the scan.
    between = tmp_path / "between.gguf"
    between.write_bytes(_gguf([_kv_u8(f"k{i:07d}") for i in range(1_000_001)], []))
    problems, findings = _agree(between, bad=True)
    assert problems == ["too_many_entries"] and findings == ["gguf.malformed"]
    at_cap = tmp_path / "at-cap.gguf"
    at_cap.write_bytes(_gguf([_kv_u8(f"k{i:07d}") for i in range(GGUF_MAX_KV)], [("t", [8])]))
    _agree(at_cap, bad=False)
    over = tmp_path / "over.gguf"
    over.write_bytes(_gguf([_kv_u8(f"k{i:07d}") for i in range(GGUF_MAX_KV + 1)], [("t", [8])]))
    _agree(over, bad=True)


def test_gguf_refusals_of_llama_cpp_are_problems_for_both(tmp_path: Path) -> None:
    key = (
        _gguf_string("x.nested") + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 0, 1)
    )
    cases = {
        # inspect kept the last value silently; scan did not look
        "duplicate-key": [_kv_u8("general.x"), _kv_u8("general.x")],
        # inspect refused arrays of arrays, scan walked them (up to 16 deep)
        "nested-array": [key + b"\x07"],
        # inspect accepted any integer type, scan only uint32 (llama.cpp asserts uint32)
        "alignment-u64": [_gguf_string("general.alignment") + struct.pack("<IQ", 10, 32)],
    }
    for case, kvs in cases.items():
        path = tmp_path / f"{case}.gguf"
        path.write_bytes(_gguf(kvs, [("t", [8])]))
        problems, findings = _agree(path, bad=True)
        assert findings == ["gguf.malformed"], case
    # The unaligned and duplicate tensor infos scan reported are inspect problems too.
    path = tmp_path / "dup-tensor.gguf"
    path.write_bytes(_gguf([_kv_u8("general.x")], [("t", [8]), ("t", [8])]))
    problems, findings = _agree(path, bad=True)
    assert problems == ["invalid_gguf"] and findings == ["gguf.malformed"]


def test_gguf_read_through_bytes_source_equals_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    write_tiny_llama_gguf(path, moe=True)
    from_file = read_artifact(path, "tiny.gguf")
    from_bytes = gguf.read_source(BytesSource(path.read_bytes(), "tiny.gguf"), "tiny.gguf")
    assert from_bytes.model_dump() == from_file.model_dump()
    assert from_file.tensors and not from_file.problems


def test_gguf_declaring_a_gibibyte_is_read_in_a_few_kilobytes(tmp_path: Path) -> None:
    path = tmp_path / "big.gguf"
    header = _gguf([_kv_u8("general.x"), _gguf_string("tokenizer.chat_template") + struct.pack("<I", 8)
                    + _gguf_string("{{ x }}")], [("a", [16384, 16384])], data=0)  # fmt: skip
    path.write_bytes(header)
    with path.open("r+b") as fh:
        fh.truncate(len(header) + 4 * 16384 * 16384)  # 1 GiB of F32: a hole, not data
    src = CountingSource(path)
    info = gguf.read_source(src, "big.gguf")
    assert not info.problems and info.tensors[0].parameters == 16384 * 16384
    assert info.metadata["tokenizer.chat_template"] == "{{ x }}"
    assert src.bytes <= 8192 and src.calls <= 2, (src.bytes, src.calls)


# ---------------------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------------------


def _safetensors(path: Path, header: object, data: bytes, *, raw: bytes | None = None) -> Path:
    text = raw if raw is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_safetensors_disagreements_are_gone(tmp_path: Path) -> None:
    deep = [1] * (SAFETENSORS_MAX_DIMS + 8)
    one = _entry_json("F32", [1], 4)
    ok = _safetensors(tmp_path / "ok.safetensors", _entry("F32", [1] * 4, 4), bytes(4))
    _agree(ok, bad=False)
    cases = {
        # inspect refused more than 32 dimensions, scan had no bound
        "deep": (_entry("F32", deep, 4), bytes(4), None),
        # inspect took the last of two entries with one name; scan refused the header
        "duplicate": (None, bytes(4), b'{"a": ' + one + b', "a": ' + one + b"}"),
        # inspect decoded UTF-16 JSON (json.loads detects it); scan and the reference loader need UTF-8
        "utf16": (None, bytes(4), json.dumps(_entry("F32", [1], 4)).encode("utf-16-le")),
        # a dtype inspect knew from PyTorch but the safetensors format does not have: only scan refused it
        "int4": (_entry("I4", [2], 1), bytes(1), None),
        # __metadata__ with a non-string value: the reference loader refuses the file; inspect printed it
        "metadata": ({"__metadata__": {"k": 1}, **_entry("F32", [1], 4)}, bytes(4), None),
    }  # fmt: skip
    for case, (header, data, raw) in cases.items():
        path = _safetensors(tmp_path / f"{case}.safetensors", header, data, raw=raw)
        _agree(path, bad=True)


def _entry(dtype: str, shape: list[int], nbytes: int) -> dict[str, object]:
    return {"a": {"dtype": dtype, "shape": shape, "data_offsets": [0, nbytes]}}


def _entry_json(dtype: str, shape: list[int], nbytes: int) -> bytes:
    return json.dumps({"dtype": dtype, "shape": shape, "data_offsets": [0, nbytes]}).encode()


def test_safetensors_read_through_bytes_source_equals_the_file(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    save_file({"w": np.zeros((3, 5), dtype=np.float32), "b": np.zeros(7, dtype=np.float16)}, str(path),
              metadata={"format": "pt"})  # fmt: skip
    from_file = read_artifact(path, "model.safetensors")
    from_bytes = safetensors.read_source(
        BytesSource(path.read_bytes(), "model.safetensors"), "model.safetensors"
    )
    assert from_bytes.model_dump() == from_file.model_dump() and len(from_file.tensors) == 2


def test_safetensors_declaring_a_gibibyte_is_read_in_a_few_kilobytes(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    size = write_sparse_safetensors(path, {"a": ("BF16", (16384, 32768)), "b": ("F32", (4096,))})
    assert size > 1 << 30
    src = CountingSource(path)
    info = safetensors.read_source(src, "big.safetensors")
    assert not info.problems and sum(t.parameters for t in info.tensors) == 16384 * 32768 + 4096
    assert src.bytes < 4096 and src.calls == 2  # the length, then the header


# ---------------------------------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------------------------------


def _nested_if(depth: int) -> onnx.ModelProto:
    """A model whose If node holds an If node ... `depth` graphs deep."""
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "leaf", [], [out])
    inner = leaf
    for level in range(depth):  # nested through then_branch only (both would double the size per level)
        node = helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=leaf)
        inner = helper.make_graph([node], f"g{level}", [], [out])
    graph = helper.make_graph(
        list(inner.node), "main", [helper.make_tensor_value_info("c", TensorProto.BOOL, [])], [out],
        initializer=[numpy_helper.from_array(np.zeros((2, 2), dtype=np.float32), "w")],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_nesting_cap_is_the_same_for_both(tmp_path: Path) -> None:
    # onnx.load (inspect) accepted subgraphs deeper than the scan walker's 24 levels.
    ok = tmp_path / "ok.onnx"
    onnx.save_model(_nested_if(ONNX_MAX_DEPTH - 1), str(ok))
    _agree(ok, bad=False)
    deep = tmp_path / "deep.onnx"
    onnx.save_model(_nested_if(ONNX_MAX_DEPTH + 2), str(deep))
    onnx.load(str(deep))  # protobuf itself parses it: only our cap refuses it
    problems, findings = _agree(deep, bad=True)
    assert problems == ["invalid_onnx"] and findings == ["onnx.malformed"]


def test_onnx_beyond_protobuf_limit_is_refused_by_both(tmp_path: Path) -> None:
    # A valid model followed by one unknown field whose 2 GiB payload is a hole: inspect refused it
    # (protobuf's limit), the scan walked it and said nothing.
    model = _nested_if(0).SerializeToString()
    length = 1 << 31
    field = _varint(99 << 3 | 2) + _varint(length)  # field 99, length-delimited
    path = tmp_path / "huge.onnx"
    path.write_bytes(model + field)
    with path.open("r+b") as fh:
        fh.truncate(len(model) + len(field) + length)
    problems, findings = _agree(path, bad=True)
    assert problems == ["too_large"] and findings == ["onnx.malformed"]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _quantised_model() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.zeros((8, 4), dtype=np.int8), "w_q")
    scale = numpy_helper.from_array(np.array(0.5, dtype=np.float32), "w_scale")
    zero = numpy_helper.from_array(np.array(0, dtype=np.int8), "w_zero")
    shape = numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "shape")
    values = numpy_helper.from_array(np.ones(3, dtype=np.float32), "sparse_w")
    indices = numpy_helper.from_array(np.array([0, 5, 9], dtype=np.int64), "sparse_idx")
    sparse = helper.make_sparse_tensor(values, indices, [4, 4])
    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"]),
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Reshape", ["h", "shape"], ["y0"]),
        helper.make_node("Fancy", ["y0"], ["y"], domain="com.vendor"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        initializer=[w, scale, zero, shape], sparse_initializer=[sparse],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("com.vendor", 3)]
    model = helper.make_model(graph, producer_name="p", producer_version="1.2", opset_imports=opsets)
    helper.set_model_props(model, {"author": "a" * 1500, "licence": "mit"})
    return model


def _as_onnx_load_read_it(
    path: Path,
) -> tuple[dict[str, object], list[tuple[str, tuple[int, ...], str, bool]], list[str]]:
    """What inspect reported when it parsed the file with onnx.load (the reader before the walker)."""
    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    quant: set[str] = set()
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"):
            quant.update(node.input[1:])
    inits = list(graph.initializer) + [s.values for s in graph.sparse_initializer]
    meta: dict[str, object] = {
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "opsets": {imp.domain or "ai.onnx": imp.version for imp in model.opset_import},
        "custom_domains": sorted({n.domain for n in graph.node} - {"", "ai.onnx", "ai.onnx.ml"}),
        "nodes": len(graph.node),
        "metadata_props": {p.key: p.value[:1000] for p in model.metadata_props},
    }
    tensors = [
        (i.name, tuple(i.dims), TensorProto.DataType.Name(i.data_type), i.name in quant) for i in inits
    ]
    external = {
        e.value
        for i in inits
        if i.data_location == TensorProto.EXTERNAL
        for e in i.external_data
        if e.key == "location"
    }
    return meta, tensors, sorted(external)


_NAMES = {"F32": "FLOAT", "I8": "INT8", "I64": "INT64"}


@pytest.mark.parametrize("external", [False, True])
def test_onnx_walker_reports_what_onnx_load_reads(tmp_path: Path, external: bool) -> None:
    path = tmp_path / "model.onnx"
    model = _quantised_model()
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, location="w.bin", size_threshold=0)
    else:
        onnx.save_model(model, str(path))
    meta, tensors, locations = _as_onnx_load_read_it(path)
    info = read_artifact(path, "model.onnx")
    assert not info.problems
    assert {k: info.metadata[k] for k in meta} == meta
    assert [(t.name, t.shape, _NAMES[t.dtype], t.parameters == 0) for t in info.tensors] == [
        (name, dims, dtype, quant or dtype == "INT64") for name, dims, dtype, quant in tensors
    ]
    assert info.metadata.get("external_data", []) == locations
    assert (info.metadata.get("external_data") == ["w.bin"]) is external


def test_onnx_read_through_bytes_source_is_header_only(tmp_path: Path) -> None:
    path = tmp_path / "big.onnx"
    weight = numpy_helper.from_array(np.zeros((1024, 1024), dtype=np.float32), "w")  # 4 MiB inline
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1024])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1024])],
                              initializer=[weight])  # fmt: skip
    onnx.save_model(helper.make_model(graph), str(path))
    from_file = read_artifact(path, "big.onnx")
    from_bytes = onnx_reader.read_source(BytesSource(path.read_bytes(), "big.onnx"), "big.onnx")
    assert from_bytes.model_dump() == from_file.model_dump()
    assert from_file.tensors[0].parameters == 1024 * 1024
    src = CountingSource(path)
    onnx_reader.read_source(src, "big.onnx")
    assert src.bytes < 64 * 1024 < path.stat().st_size, src.bytes


def test_gguf_template_beyond_the_cap_is_not_read_but_still_found(tmp_path: Path) -> None:
    from modelwarden.limits import GGUF_MAX_TEMPLATE_BYTES

    # The scan read every template whole, however long the file made it; now past the cap only its
    # length is read (the file here is a hole), and the scan still reports it.
    length = GGUF_MAX_TEMPLATE_BYTES + 1
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _gguf_string("tokenizer.chat_template")
    head += struct.pack("<IQ", 8, length)
    path = tmp_path / "long-template.gguf"
    path.write_bytes(head)
    with path.open("r+b") as fh:
        fh.truncate(len(head) + length)
    src = CountingSource(path)
    info = gguf.read_source(src, path.name)
    assert info.metadata["tokenizer.chat_template"] == {"string_length": length}
    assert src.bytes <= 4096
    report = scan_paths([path], hash_files=False)
    assert [f.rule_id for f in report.findings] == ["template.suspicious"]
    assert f"{length:,} bytes" in report.findings[0].message


def test_onnx_location_longer_than_a_path_cannot_hide_its_climb(tmp_path: Path) -> None:
    # The scan cut locations at 4 KiB: 1,000 folders down then 1,001 up climbs out of the model's
    # folder, but its first 4 KiB stay inside it.
    from tests.scan import corpus

    location = "a/" * 1000 + "../" * 1001 + "etc/passwd"
    path = corpus._onnx_external(tmp_path / "model.onnx", location)
    rules = {f.rule_id for f in scan_paths([path], hash_files=False).findings}
    assert "onnx.external-data-traversal" in rules
    short = corpus._onnx_external(tmp_path / "short.onnx", "a/" * 10 + "../" * 11 + "etc/passwd")
    assert "onnx.external-data-traversal" in {
        f.rule_id for f in scan_paths([short], hash_files=False).findings
    }


def _header_seeds(tmp: Path) -> dict[str, bytes]:
    from safetensors.numpy import save

    gguf_path = tmp / "seed.gguf"
    write_tiny_llama_gguf(gguf_path)
    return {
        "safetensors": save({"a": np.zeros((2, 3), dtype=np.float32)}, {"k": "v"}),
        "gguf": gguf_path.read_bytes(),
        "onnx": _quantised_model().SerializeToString(),
    }


_READERS = {"safetensors": safetensors.read_source, "gguf": gguf.read_source, "onnx": onnx_reader.read_source}


def test_mutated_headers_give_problems_never_crashes(tmp_path_factory: pytest.TempPathFactory) -> None:
    # The readers' own fuzz (the scan side is fuzzed in tests/scan/test_fuzz.py): flipped bytes and cuts
    # of real files give an ArtifactInfo or an ArtifactProblem, nothing else.
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from modelwarden.artifacts.problems import ArtifactProblem

    seeds = _header_seeds(tmp_path_factory.mktemp("seeds"))

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        fmt=st.sampled_from(sorted(seeds)),
        edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
        cut=st.integers(0, 1 << 16),
    )
    def run(fmt: str, edits: list[tuple[int, int]], cut: int) -> None:
        data = bytearray(seeds[fmt])
        for at, value in edits:
            data[at % len(data)] = value
        data = data[: max(cut, len(data) // 2)] if cut % 3 == 0 else data
        with contextlib.suppress(ArtifactProblem):
            _READERS[fmt](BytesSource(bytes(data), f"x.{fmt}"), f"x.{fmt}")

    run()


def test_a_long_gguf_header_costs_few_reads(tmp_path: Path) -> None:
    # Remotely each read is one HTTP Range request: a vocabulary is walked in growing chunks, not one
    # request per 4 KiB (a 128k-token vocabulary took 2,086 reads before the chunks grew across gaps).
    from gguf import GGUFWriter

    path = tmp_path / "vocab.gguf"
    w = GGUFWriter(str(path), "llama")
    w.add_token_list([f"token{i}" for i in range(100_000)])
    w.add_tensor("t", np.zeros((64, 1024), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    src = CountingSource(path)
    info = gguf.read_source(src, path.name)
    assert info.metadata["tokenizer.ggml.tokens"] == {"array_length": 100_000}
    assert info.bytes_read is not None and info.bytes_read < 2 << 20
    assert src.calls <= 12 and src.bytes < 2 * info.bytes_read, (src.calls, src.bytes)
