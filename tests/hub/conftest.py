"""Repositories built with the real libraries (dumped, never loaded), served by a local hub."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelwarden.hub import HubSettings
from tests.hub.server import LocalHub

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 2048,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 8,
    "num_key_value_heads": 8,
    "vocab_size": 4096,
    "max_position_embeddings": 4096,
    "torch_dtype": "float32",
    "transformers_version": "4.57.0",
}
CARD = """---
license: apache-2.0
datasets:
- org/data
language:
- en
pipeline_tag: text-generation
base_model: org/base
---
# Tiny hub model

A test model.
"""


def _card_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    (folder / "README.md").write_text(CARD)
    (folder / "LICENSE").write_text(
        "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n"
    )


def build_sharded_safetensors(folder: Path) -> None:
    """Two shards of about 34 MB each (their tensors zeros), an index as transformers writes it."""
    from safetensors.numpy import save_file

    _card_folder(folder)
    shards = {
        "model-00001-of-00002.safetensors": {
            "model.embed_tokens.weight": np.zeros((4096, 2048), np.float32),
            "model.norm.weight": np.ones((2048,), np.float32),
        },
        "model-00002-of-00002.safetensors": {
            "lm_head.weight": np.zeros((4096, 2048), np.float32),
            "model.layers.0.mlp.up_proj.weight": np.zeros((64, 2048), np.float32),
        },
    }
    weight_map = {}
    total = 0
    for name, tensors in shards.items():
        save_file(tensors, str(folder / name), metadata={"format": "pt"})
        for k, v in tensors.items():
            weight_map[k] = name
            total += v.nbytes
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map})
    )


def build_gguf(folder: Path) -> None:
    """A GGUF of about 32 MB written by the gguf library."""
    import gguf

    folder.mkdir(parents=True)
    (folder / "README.md").write_text(CARD)
    w = gguf.GGUFWriter(str(folder / "tiny.gguf"), "llama")
    w.add_name("tiny")
    w.add_context_length(2048)
    w.add_block_count(1)
    w.add_embedding_length(2048)
    w.add_tensor("token_embd.weight", np.zeros((4096, 2048), np.float32))
    w.add_tensor("output_norm.weight", np.ones((2048,), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


class _Evil:
    """Pickles as a call of os.system (dumped only: this test never unpickles it)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def build_torch(folder: Path) -> None:
    """torch.save zip and legacy checkpoints of 16 MB tensors, and a malicious pickle."""
    import torch

    _card_folder(folder)
    state = {"weight": torch.zeros(2048, 2048), "bias": torch.zeros(2048)}
    torch.save(state, folder / "pytorch_model.bin")
    torch.save(state, folder / "legacy.pt", _use_new_zipfile_serialization=False)
    # A real payload after a large benign prefix would be the same; the call is what matters.
    (folder / "evil.pkl").write_bytes(pickle.dumps({"w": np.zeros(4), "x": _Evil()}, protocol=4))


def build_onnx(folder: Path) -> None:
    """An ONNX model whose initializer holds 16 MB (stored inline)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True)
    w = numpy_helper.from_array(np.zeros((2048, 2048), np.float32), name="W")
    node = helper.make_node("MatMul", ["x", "W"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2048])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2048])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(folder / "model.onnx"))
    np.save(folder / "extra.npy", np.zeros((1024, 1024), np.float32))


_KERAS = """
import sys
import keras
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(2048), keras.layers.Dense(2048)])
model.save(sys.argv[1])
"""


def build_keras(folder: Path) -> None:
    """A Keras 3 archive of about 17 MB, written by keras in a child process (its backend chosen in the
    child's environment, not this process's)."""
    import subprocess
    import sys

    folder.mkdir(parents=True)
    (folder / "README.md").write_text(CARD)
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    subprocess.run(
        [sys.executable, "-c", _KERAS, str(folder / "model.keras")], check=True, env=env, timeout=300
    )


def build_polyglot(folder: Path) -> None:
    """An attacker's file: a valid 16 MB safetensors with a zip appended whose data.pkl calls os.system
    (torch.load reads the file as a zip from its end)."""
    import io
    import zipfile

    from safetensors.numpy import save_file

    _card_folder(folder)
    save_file({"w": np.zeros((2048, 2048), np.float32)}, str(folder / "model.safetensors"))
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(_Evil(), protocol=2))
        z.writestr("archive/version", "3\n")
    with (folder / "model.safetensors").open("ab") as fh:
        fh.write(payload.getvalue())


REPOS = {
    "org/sharded": build_sharded_safetensors,
    "org/gguf-model": build_gguf,
    "org/torch-model": build_torch,
    "org/onnx-model": build_onnx,
    "org/keras-model": build_keras,
    "org/polyglot": build_polyglot,
}


@pytest.fixture(scope="session")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each repository's local folder (named as the repository, so both reads name the model alike)."""
    base = tmp_path_factory.mktemp("hub-repos")
    out = {}
    for repo_id, build in REPOS.items():
        folder = base / repo_id.replace("/", "__") / repo_id.split("/")[1]
        build(folder)
        out[repo_id] = folder
    return out


@pytest.fixture(scope="session")
def hub(repos: dict[str, Path]) -> Iterator[LocalHub]:
    """The local hub serving every repository."""
    server = LocalHub()
    for repo_id, folder in repos.items():
        server.add(repo_id, folder)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(hub: LocalHub) -> HubSettings:
    """Settings naming the local hub (passed explicitly: os.environ is never changed)."""
    hub.throttle = 0
    hub.ignore_range = False
    hub.tamper.clear()
    return HubSettings(endpoint=hub.endpoint, token="hf_test_token")
