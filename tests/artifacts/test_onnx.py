"""ONNX reader on models built with the `onnx` package, including external data it must not open."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelwarden.artifacts.reader import read_artifact
from modelwarden.model import ArtifactFormat, TensorKind
from tests.support.cli import run_cli


def _model(weight: np.ndarray) -> onnx.ModelProto:
    w = numpy_helper.from_array(weight, "dense.weight")
    b = numpy_helper.from_array(np.zeros(weight.shape[1], dtype=np.float32), "dense.bias")
    shape = numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "reshape.shape")
    nodes = [
        helper.make_node("MatMul", ["x", "dense.weight"], ["h"]),
        helper.make_node("Add", ["h", "dense.bias"], ["y0"]),
        helper.make_node("Reshape", ["y0", "reshape.shape"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weight.shape[1]])],
        initializer=[w, b, shape],
    )
    return helper.make_model(graph, producer_name="modelwarden-test")


def test_initializers_are_counted_and_shape_constants_are_not(tmp_path: Path) -> None:
    p = tmp_path / "model.onnx"
    onnx.save(_model(np.zeros((8, 4), dtype=np.float32)), p)
    info = read_artifact(p, "model.onnx")
    assert info.format is ArtifactFormat.ONNX and not info.problems
    kinds = {t.name: (t.shape, t.kind) for t in info.tensors}
    assert kinds["dense.weight"] == ((8, 4), TensorKind.PARAMETER)
    assert kinds["reshape.shape"][1] is TensorKind.BUFFER
    assert sum(t.parameters for t in info.tensors) == 8 * 4 + 4
    assert info.metadata["producer"] == "modelwarden-test"
    assert info.metadata["custom_domains"] == []


def test_external_data_is_never_opened(tmp_path: Path) -> None:
    p = tmp_path / "model.onnx"
    model = _model(np.zeros((64, 32), dtype=np.float32))
    onnx.save_model(model, p, save_as_external_data=True, location="weights.bin", size_threshold=0)
    (tmp_path / "weights.bin").unlink()  # a reader that opened it would fail
    info = read_artifact(p, "model.onnx")
    assert not info.problems
    assert info.metadata["external_data"] == ["weights.bin"]
    assert sum(t.parameters for t in info.tensors) == 64 * 32 + 32


def test_invalid_protobuf(tmp_path: Path) -> None:
    p = tmp_path / "broken.onnx"
    good = _model(np.zeros((8, 4), dtype=np.float32)).SerializeToString()
    p.write_bytes(good[: len(good) // 2])
    info = read_artifact(p, "broken.onnx")
    assert info.problems and info.problems[0].code in ("invalid_onnx", "unknown_format")
    assert info.problems[0].file == "broken.onnx"


def _with_invalid_byte(model: onnx.ModelProto, marker: bytes) -> bytes:
    """The serialized model with the last byte of `marker` replaced by 0xFF (invalid UTF-8)."""
    raw = model.SerializeToString()
    assert raw.count(marker) >= 1
    return raw.replace(marker, marker[:-1] + b"\xff")


def _custom_domain_model() -> onnx.ModelProto:
    model = _model(np.zeros((4, 4), dtype=np.float32))
    model.graph.node.append(helper.make_node("Custom", ["y"], ["z"], domain="com.vendorX"))
    model.opset_import.append(helper.make_opsetid("com.vendorX", 1))
    return model


@pytest.mark.parametrize("case", ["opset_domain", "external_data"])
def test_invalid_utf8_in_a_string_field_is_reported_escaped(tmp_path: Path, case: str) -> None:
    """protobuf hands back proto2 string fields with invalid UTF-8 as bytes: the JSON output must carry
    them escaped, from the library call and from `inspect`/`assess --format json` alike."""
    p = tmp_path / "model.onnx"
    if case == "opset_domain":
        p.write_bytes(_with_invalid_byte(_custom_domain_model(), b"com.vendorX"))
    else:
        model = _model(np.zeros((8, 4), dtype=np.float32))
        onnx.save_model(model, p, save_as_external_data=True, location="weightsX.bin", size_threshold=0)
        p.write_bytes(p.read_bytes().replace(b"weightsX.bin", b"weights\xff.bin"))
    info = read_artifact(p, "model.onnx")
    text = info.model_dump_json()
    if case == "opset_domain":
        assert info.metadata["opsets"]["com.vendor\\xff"] == 1
        assert info.metadata["custom_domains"] == ["com.vendor\\xff"]
    else:
        assert info.metadata["external_data"] == ["weights\\xff.bin"]
    assert "\\\\xff" in text  # the backslash itself escaped in JSON: the byte stays visible
    for command in ("inspect", "assess"):
        done = run_cli(command, p, "--format", "json")
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), done.stderr
        document = json.loads(done.stdout)
        assert "\\xff" in json.dumps(document), command
