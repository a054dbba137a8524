"""Format detection by content, with files written by the real libraries under misleading names."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import zipfile
from pathlib import Path

import h5py
import numpy as np
import onnx
import pytest
import torch
from gguf import GGUFWriter
from onnx import TensorProto, helper
from safetensors.numpy import save_file

from modelwarden.artifacts.detect import detect
from modelwarden.model import ArtifactFormat as F


def _onnx(path: Path) -> None:
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0])
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        initializer=[w],
    )
    onnx.save(helper.make_model(graph, producer_name="test"), path)


def _gguf(path: Path) -> None:
    w = GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_tensor("tok", np.zeros((4, 2), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_each_format_is_detected_regardless_of_name(tmp_path: Path) -> None:
    made: dict[str, F] = {}

    save_file({"a": np.zeros((2, 3), dtype=np.float32)}, str(tmp_path / "weights.bin"))
    made["weights.bin"] = F.SAFETENSORS

    torch.save({"a": torch.zeros(2)}, tmp_path / "zip.dat")
    made["zip.dat"] = F.TORCH_ZIP

    torch.save({"a": torch.zeros(2)}, tmp_path / "legacy.safetensors", _use_new_zipfile_serialization=False)
    made["legacy.safetensors"] = F.TORCH_LEGACY

    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    torch.jit.save(scripted, str(tmp_path / "scripted.pt"))
    made["scripted.pt"] = F.TORCHSCRIPT

    (tmp_path / "plain.npy").write_bytes(pickle.dumps({"x": 1}, protocol=4))
    made["plain.npy"] = F.PICKLE

    (tmp_path / "proto0").write_bytes(pickle.dumps([1, 2], protocol=0))
    made["proto0"] = F.PICKLE

    (tmp_path / "gz.pkl").write_bytes(gzip.compress(pickle.dumps({"x": 1}, protocol=4)))
    made["gz.pkl"] = F.JOBLIB

    np.save(tmp_path / "arr.npy", np.arange(4))
    made["arr.npy"] = F.NPY

    np.savez(tmp_path / "arrs.npz", a=np.arange(3), b=np.ones(2))
    made["arrs.npz"] = F.NPZ

    _onnx(tmp_path / "model.bin")
    made["model.bin"] = F.ONNX

    _gguf(tmp_path / "model.gguf.txt")
    made["model.gguf.txt"] = F.GGUF

    with h5py.File(tmp_path / "keras.h5", "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {}})
    made["keras.h5"] = F.KERAS_H5

    with h5py.File(tmp_path / "weights.h5", "w") as f:
        f.create_dataset("w", data=np.zeros(3))
    made["weights.h5"] = F.HDF5

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("metadata.json", "{}")
        z.writestr("model.weights.h5", b"")
    (tmp_path / "model.keras").write_bytes(buf.getvalue())
    made["model.keras"] = F.KERAS

    (tmp_path / "config.json").write_text('{"a": 1}')
    made["config.json"] = F.JSON
    (tmp_path / "README.md").write_text("# A model\n\nText with ünïcödé.\n")
    made["README.md"] = F.TEXT
    (tmp_path / "noise").write_bytes(bytes(range(256)) * 4)
    made["noise"] = F.UNKNOWN

    got = {name: detect(tmp_path / name) for name in made}
    assert got == made


def test_savedmodel_folder(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x01")
    assert detect(tmp_path) == F.SAVEDMODEL


def test_safetensors_header_larger_than_file_is_still_safetensors(tmp_path: Path) -> None:
    # Recognised by its shape (length, then `{"`), so that the reader can report the exact problem
    # ("header length beyond the file") rather than "unknown format".
    p = tmp_path / "bad.safetensors"
    p.write_bytes((10**6).to_bytes(8, "little") + b'{"a":1}')
    assert detect(p) == F.SAFETENSORS


def test_random_bytes_with_a_brace_are_not_safetensors(tmp_path: Path) -> None:
    p = tmp_path / "blob"
    p.write_bytes((10**12).to_bytes(8, "little") + b"{\x00\x01" + bytes(range(200)))
    assert detect(p) != F.SAFETENSORS


@pytest.mark.parametrize("payload", [b"", b"\x00"])
def test_tiny_files(tmp_path: Path, payload: bytes) -> None:
    p = tmp_path / "tiny"
    p.write_bytes(payload)
    assert detect(p) == F.UNKNOWN
