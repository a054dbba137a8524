"""Keras containers: a torch checkpoint inside a TorchModuleWrapper config, `__bytes__` values, TFSMLayer
references, and HDF5 attributes bounded before they are read. Models are built and saved by Keras
(torch backend), h5py and torch; nothing is loaded.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from modelwarden.model import Severity
from modelwarden.scan import scan_paths
from modelwarden.scan.context import Limits
from tests.scan import corpus
from tests.scan.corpus import _Reduce

EVIL0 = pickle.dumps(_Reduce(os.system, "true"), protocol=0)  # ASCII: survives a UTF-8 round trip


def _torch_wrapper_model(path: Path) -> Path:
    import keras
    import torch
    from keras.layers import TorchModuleWrapper

    model = keras.Sequential([keras.Input((2,)), TorchModuleWrapper(torch.nn.Linear(2, 2))])
    model.save(path)
    return path


def _wrapper_config(config: dict[str, Any]) -> dict[str, Any]:
    return next(
        layer["config"]
        for layer in config["config"]["layers"]
        if layer.get("class_name") == "TorchModuleWrapper"
    )


def _findings(path: Path) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in scan_paths([path], hash_files=False).findings:
        out.setdefault(f.rule_id, []).append(f)
    return out


def test_torch_module_wrapper_checkpoint_is_analysed(tmp_path: Path) -> None:
    path = _torch_wrapper_model(tmp_path / "wrapped.keras")
    found = _findings(path)
    assert found["keras.torch-module"][0].severity is Severity.MEDIUM
    # The module's torch.save archive was opened and its pickle walked: torch.nn.Linear is imported.
    walked = [f for fs in found.values() for f in fs if "torch module at" in (f.location.entry or "")]
    assert walked, found.keys()

    def evil(config: dict[str, Any]) -> None:
        _wrapper_config(config)["module"] = base64.b64encode(EVIL0).decode("ascii")

    bad = corpus._edit_keras_config(path, tmp_path / "evil.keras", evil)
    hits = _findings(bad)["pickle.dangerous-import"]
    assert any("torch module at" in (f.location.entry or "") for f in hits)


def test_module_stored_as_keras_bytes_is_analysed(tmp_path: Path) -> None:
    # Keras serialises bytes as {"class_name": "__bytes__", "config": {"value": text}} and turns them
    # back into text.encode("utf-8"); torch.load runs the first pickle of whatever it is given.
    path = _torch_wrapper_model(tmp_path / "wrapped.keras")

    def evil(config: dict[str, Any]) -> None:
        _wrapper_config(config)["module"] = {
            "class_name": "__bytes__",
            "config": {"value": EVIL0.decode("ascii")},
        }

    bad = corpus._edit_keras_config(path, tmp_path / "bytes.keras", evil)
    hits = _findings(bad)["pickle.dangerous-import"]
    assert any("__bytes__ at" in (f.location.entry or "") for f in hits)


def test_tfsm_layer_pointing_elsewhere_is_high(tmp_path: Path) -> None:
    dense = corpus._keras_dense(tmp_path / "dense.keras")

    def add_tfsm(config: dict[str, Any]) -> None:
        config["config"]["layers"].append(
            {
                "module": "keras.layers",
                "class_name": "TFSMLayer",
                "config": {"name": "ext", "filepath": "/srv/models/other", "call_endpoint": "serve"},
                "registered_name": "TFSMLayer",
            }
        )

    path = corpus._edit_keras_config(dense, tmp_path / "tfsm.keras", add_tfsm)
    hit = _findings(path)["keras.external-savedmodel"][0]
    assert hit.severity is Severity.HIGH and hit.evidence == "/srv/models/other"


def test_plain_keras_model_has_no_new_findings(tmp_path: Path) -> None:
    path = corpus._keras_dense(tmp_path / "dense.keras")
    assert scan_paths([path], hash_files=False).findings == []


def _h5_model(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}})
        f.create_dataset("w", data=np.zeros(4))
    return path


def test_hdf5_heap_declaring_gigabytes_is_not_read(tmp_path: Path) -> None:
    path = _h5_model(tmp_path / "model.h5")
    assert _findings(path) == {}
    data = bytearray(path.read_bytes())
    at = data.find(b"GCOL")
    assert at > 0 and data[at + 4] == 1
    data[at + 8 : at + 16] = struct.pack("<Q", 4_200_000_000)
    path.write_bytes(bytes(data))
    hit = _findings(path)["hdf5.attribute-too-large"][0]  # refused before h5py allocates the heap
    assert hit.severity is Severity.HIGH and "4200000000" in hit.message


def test_hdf5_string_claiming_gigabytes_is_not_read(tmp_path: Path) -> None:
    # The attribute's variable-length reference claims 4.2 GB of a 54-byte heap object: h5py allocated
    # the claimed length before noticing (4071 MiB peak RSS measured before the fix).
    path = _h5_model(tmp_path / "model.h5")
    data = bytearray(path.read_bytes())
    heap = data.find(b"GCOL")
    (size,) = struct.unpack("<Q", data[heap + 24 : heap + 32])  # the first object's size
    ref = data.find(struct.pack("<IQI", size, heap, 1))
    assert ref > 0
    data[ref : ref + 4] = struct.pack("<I", 4_200_000_000)
    path.write_bytes(bytes(data))
    hit = _findings(path)["hdf5.attribute-too-large"][0]
    assert "claims 4200000000 bytes" in hit.message


def test_hdf5_attribute_with_huge_dimensions_is_not_read(tmp_path: Path) -> None:
    # A fixed-size attribute whose dimensions exceed the cap (here lowered to 64 KiB) is refused from
    # its declaration alone.
    path = tmp_path / "dims.h5"
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs.create("model_config", np.zeros(100_000, dtype="S1"))
    report = scan_paths([path], hash_files=False, limits=Limits(max_json_bytes=1 << 16))
    hit = next(f for f in report.findings if f.rule_id == "hdf5.attribute-too-large")
    assert "100000 elements" in hit.message


def test_keras_zip_with_hdf5_weights_is_unchanged(tmp_path: Path) -> None:
    # The .keras archive's model.weights.h5 is an HDF5 member read through a buffer: still clean.
    path = corpus._keras_dense(tmp_path / "dense.keras")
    with zipfile.ZipFile(path) as z:
        assert "model.weights.h5" in z.namelist()
    assert _findings(path) == {}
