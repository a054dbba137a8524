"""Keras 3 `.keras` archives and legacy `.h5` files, laid out as Keras writes them, built with h5py.

Keras itself is not a dependency; the files follow its layout (config.json + metadata.json +
model.weights.h5 with `layers/<name>/vars/<i>`; legacy: `model_config` attribute + `model_weights`).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np

from modelwarden.artifacts.reader import read_artifact
from modelwarden.model import ArtifactFormat, TensorKind

CONFIG = {
    "module": "keras",
    "class_name": "Sequential",
    "config": {
        "name": "sequential",
        "layers": [
            {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 4}},
            {"module": "keras.layers", "class_name": "BatchNormalization", "config": {"name": "bn"}},
        ],
    },
}


def _weights_h5() -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("layers/dense/vars/0", data=np.zeros((3, 4), dtype=np.float32))
        f.create_dataset("layers/dense/vars/1", data=np.zeros(4, dtype=np.float32))
        for i in range(4):  # gamma, beta, moving_mean, moving_variance
            f.create_dataset(f"layers/bn/vars/{i}", data=np.zeros(4, dtype=np.float32))
        f.create_dataset("optimizer/vars/0", data=np.zeros((3, 4), dtype=np.float32))
    return buf.getvalue()


def test_keras3_archive(tmp_path: Path) -> None:
    p = tmp_path / "model.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("config.json", json.dumps(CONFIG))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        z.writestr("model.weights.h5", _weights_h5())
    info = read_artifact(p, "model.keras")
    assert info.format is ArtifactFormat.KERAS and not info.problems
    kinds = {t.name: t.kind for t in info.tensors}
    assert (
        kinds["layers.bn.vars.2"] is TensorKind.BUFFER and kinds["layers.bn.vars.0"] is TensorKind.PARAMETER
    )
    assert kinds["optimizer.vars.0"] is TensorKind.TRAINING_STATE
    assert sum(t.parameters for t in info.tensors) == 3 * 4 + 4 + 4 + 4
    assert info.metadata["keras_class"] == "Sequential" and info.metadata["keras_version"] == "3.6.0"
    assert info.metadata["layer_classes"] == {"Dense": 1, "BatchNormalization": 1}


def test_legacy_h5(tmp_path: Path) -> None:
    p = tmp_path / "model.h5"
    with h5py.File(p, "w") as f:
        f.attrs["model_config"] = json.dumps(CONFIG)
        f.attrs["keras_version"] = "2.15.0"
        g = f.create_group("model_weights/dense/dense")
        g.create_dataset("kernel:0", data=np.zeros((3, 4), dtype=np.float32))
        g.create_dataset("bias:0", data=np.zeros(4, dtype=np.float32))
        bn = f.create_group("model_weights/bn/bn")
        for name in ("gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"):
            bn.create_dataset(name, data=np.zeros(4, dtype=np.float32))
        f.create_dataset("optimizer_weights/Adam/iter:0", data=np.zeros((), dtype=np.int64))
    info = read_artifact(p, "model.h5")
    assert info.format is ArtifactFormat.KERAS_H5 and not info.problems
    assert sum(t.parameters for t in info.tensors) == 3 * 4 + 4 + 4 + 4
    assert info.metadata["keras_version"] == "2.15.0"


def test_keras_archive_with_invalid_config(tmp_path: Path) -> None:
    p = tmp_path / "bad.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("config.json", "{not json")
        z.writestr("metadata.json", "{}")
        z.writestr("model.weights.h5", _weights_h5())
    info = read_artifact(p, "bad.keras")
    assert [x.code for x in info.problems] == ["invalid_json"]
    assert "config.json" in info.problems[0].message


def test_legacy_h5_attribute_claiming_gigabytes_is_not_read(tmp_path: Path) -> None:
    # The model_config string's heap reference claims 4.2 GB of a small heap object: h5py allocates the
    # claimed length before noticing. The scan refused it (hdf5.attribute-too-large) while inspect read
    # it; both now apply the same guard (artifacts/hdf5.py) under the same cap.
    import struct

    from modelwarden.limits import MAX_JSON_BYTES
    from modelwarden.scan import scan_paths

    p = tmp_path / "model.h5"
    with h5py.File(p, "w") as f:
        f.attrs["model_config"] = json.dumps(CONFIG)
        f.create_dataset("model_weights/dense/dense/kernel:0", data=np.zeros((3, 4), dtype=np.float32))
    data = bytearray(p.read_bytes())
    heap = data.find(b"GCOL")
    (size,) = struct.unpack("<Q", data[heap + 24 : heap + 32])  # the first object's size
    ref = data.find(struct.pack("<IQI", size, heap, 1))
    assert ref > 0 and MAX_JSON_BYTES < 4_200_000_000
    data[ref : ref + 4] = struct.pack("<I", 4_200_000_000)
    p.write_bytes(bytes(data))

    info = read_artifact(p, "model.h5")
    assert [x.code for x in info.problems] == ["attribute_too_large"]
    message = info.problems[0].message
    assert message.startswith("model_config: ") and "claims 4200000000 bytes" in message
    assert [t.shape for t in info.tensors] == [(3, 4)]  # the datasets are still read
    findings = scan_paths([p], hash_files=False).findings
    assert [f.message for f in findings if f.rule_id == "hdf5.attribute-too-large"] == [message]
