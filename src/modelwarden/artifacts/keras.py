"""Keras 3 `.keras` archives, legacy Keras `.h5` files and plain HDF5 weight files.

Never `keras.models.load_model` (a Lambda layer's marshalled function runs on load). The model
graph is the JSON in `config.json` (Keras 3) or in the HDF5 root attribute `model_config` (legacy);
weight shapes are HDF5 dataset shapes read with h5py, which reads dataset headers without their data.

Non-parameters: optimizer variables (`optimizer/...`, `optimizer_weights/...`) are training state;
BatchNormalization moving statistics are buffers.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import IO, Any

from modelwarden.artifacts import zip as zipread
from modelwarden.artifacts.hdf5 import attribute_too_big
from modelwarden.artifacts.numpy import dtype_name
from modelwarden.artifacts.problems import ArtifactProblem
from modelwarden.artifacts.source import Buffer, BufferFile, ByteSource, LocalFile, SourceBuffer
from modelwarden.artifacts.tensors import numel
from modelwarden.limits import MAX_ENTRY_BYTES, MAX_JSON_BYTES, MAX_KERAS_LAYERS, MAX_TENSORS
from modelwarden.model import ArtifactFormat, ArtifactInfo, Problem, TensorInfo, TensorKind

_BN_CLASSES = frozenset({"BatchNormalization", "SyncBatchNormalization"})


def read_keras(path: Path, rel: str, *, size: int) -> ArtifactInfo:
    """A Keras 3 archive on disk (see `read_keras_source`)."""
    with LocalFile(path, name=rel) as src:
        return read_keras_source(src, rel)


def read_keras_source(src: ByteSource, rel: str) -> ArtifactInfo:
    """A Keras 3 archive through the one zip reader: config.json (the graph), metadata.json, and the
    weights member opened in place by h5py (a stored member is never copied)."""
    size = src.size
    info = ArtifactInfo(path=rel, format=ArtifactFormat.KERAS, size=size)
    buf = SourceBuffer(src)
    listing = zipread.read_listing(buf, zipread.ZIP_LIMITS)
    zipread.require_directory(listing)
    info.problems.extend(zipread.ambiguity_problems(listing, rel))
    # zipfile (what Keras opens the archive with) reads the last of duplicate names.
    names = {e.name: e for e in zipread.visible_files(listing)}
    if "config.json" not in names:
        raise ArtifactProblem("missing_entry", ".keras archive has no config.json")
    config_bytes = _bytes(buf, names["config.json"], MAX_JSON_BYTES)
    crc = zipread.crc_problem(config_bytes, names["config.json"], rel)
    if crc is not None:
        info.problems.append(crc)
    config = _json(config_bytes, "config.json")
    info.metadata.update(_graph_summary(config))
    if "metadata.json" in names:
        meta = _json(_bytes(buf, names["metadata.json"], MAX_JSON_BYTES), "metadata.json")
        if isinstance(meta, dict):
            info.metadata["keras_version"] = meta.get("keras_version")
    info.bytes_read = names["config.json"].uncompressed_size
    weights = names.get("model.weights.h5")
    if weights is None:
        info.problems.append(
            Problem(
                file=rel,
                code="missing_entry",
                message=".keras archive has no model.weights.h5",
                severity="warning",
            )
        )
        return info
    if weights.method == 0:
        zipread.check_member(weights, cap=size)  # in place: bounded by the file itself
        member = zipread.entry_data(buf, weights, zipread.ZIP_LIMITS).data
        if member is None:
            raise ArtifactProblem("corrupt_zip", f"entry {weights.name!r}: {weights.unreadable}")
    else:
        member = zipread.read_member(buf, weights, cap=MAX_ENTRY_BYTES)
    with BufferFile(member) as fh:
        info.tensors = _h5_tensors(fh, rel, layer_classes=_layer_classes(config))
    return info


def _bytes(buf: Buffer, entry: zipread.ZipEntry, cap: int) -> bytes:
    data = zipread.read_member(buf, entry, cap=cap)
    return data[: len(data)]


def read_h5(path: Path, rel: str, *, size: int, fmt: ArtifactFormat) -> ArtifactInfo:
    """A legacy Keras .h5 (or plain HDF5 weights): the graph in the root attribute `model_config`, read
    only once the guard the scan applies (`artifacts/hdf5.py`) bounds its size; weight shapes from the
    dataset headers."""
    import h5py

    info = ArtifactInfo(path=rel, format=fmt, size=size)
    try:
        with LocalFile(path, name=rel) as src, h5py.File(path, "r") as f:
            heap: list[str | None] = []
            classes: dict[str, str] = {}
            raw = _attribute(f, "model_config", SourceBuffer(src), heap, info)
            if raw is not None:
                config = _json(raw if isinstance(raw, bytes) else str(raw).encode(), "model_config attribute")
                info.metadata.update(_graph_summary(config))
                classes = _layer_classes(config)
                version = _attribute(f, "keras_version", SourceBuffer(src), heap, info)
                if version is not None:
                    info.metadata["keras_version"] = (
                        version.decode() if isinstance(version, bytes) else str(version)
                    )
            info.tensors = _walk(f, rel, classes)
    except ArtifactProblem:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise ArtifactProblem("invalid_hdf5", f"HDF5 file cannot be read ({str(exc)[:120]})") from None
    return info


def _attribute(f: Any, name: str, buf: Buffer, heap: list[str | None], info: ArtifactInfo) -> Any:
    """A root attribute's value, or None when absent or too large to read safely (a problem says so)."""
    if name not in f.attrs:
        return None
    too_big = attribute_too_big(f, name, buf, MAX_JSON_BYTES, heap)
    if too_big:
        info.problems.append(
            Problem(file=info.path, code="attribute_too_large", message=f"{name}: {too_big}; not read")
        )
        return None
    return f.attrs[name]


def _h5_tensors(fh: IO[bytes] | BufferFile, rel: str, *, layer_classes: dict[str, str]) -> list[TensorInfo]:
    import h5py

    try:
        with h5py.File(fh, "r") as f:
            return _walk(f, rel, layer_classes)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise ArtifactProblem("invalid_hdf5", f"model.weights.h5 cannot be read ({str(exc)[:120]})") from None


def _walk(f: Any, rel: str, layer_classes: dict[str, str]) -> list[TensorInfo]:
    import h5py

    tensors: list[TensorInfo] = []

    def visit(name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            return None
        if len(tensors) >= MAX_TENSORS:
            raise ArtifactProblem("too_many_tensors", f"more than {MAX_TENSORS:,} datasets")
        shape = tuple(int(d) for d in (obj.shape or ()))
        dotted = name.replace("/", ".")
        kind = _kind(name, layer_classes)
        tensors.append(
            TensorInfo.model_construct(
                name=dotted,
                dtype=dtype_name(obj.dtype),
                shape=shape,
                kind=kind,
                parameters=numel(shape) if kind is TensorKind.PARAMETER else 0,
                component=None,
                data_offsets=None,
            )
        )
        return None

    f.visititems(visit)
    return tensors


def _kind(name: str, layer_classes: dict[str, str]) -> TensorKind:
    parts = name.split("/")
    if parts[0] in ("optimizer", "optimizer_weights"):
        return TensorKind.TRAINING_STATE
    if "moving_mean" in name or "moving_variance" in name:
        return TensorKind.BUFFER
    # Keras 3: layers/<name>/vars/<i>; BatchNormalization's vars 2 and 3 are the moving statistics.
    bn_stat = len(parts) >= 4 and parts[-2] == "vars" and parts[-1] in ("2", "3")
    if bn_stat and layer_classes.get(parts[-3]) in _BN_CLASSES:
        return TensorKind.BUFFER
    return TensorKind.PARAMETER


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactProblem("invalid_json", f"{what} is not valid JSON ({str(exc)[:100]})") from None


def _layers(config: Any) -> list[dict[str, Any]]:
    """Every layer dict of a (possibly nested) Keras model config, iteratively."""
    found: list[dict[str, Any]] = []
    todo = [config]
    while todo and len(found) < MAX_KERAS_LAYERS:
        node = todo.pop()
        if isinstance(node, dict):
            if "class_name" in node and isinstance(node.get("config"), dict):
                found.append(node)
            todo.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            todo.extend(v for v in node if isinstance(v, dict | list))
    return found


def _layer_classes(config: Any) -> dict[str, str]:
    return {
        str(layer["config"].get("name")): str(layer["class_name"])
        for layer in _layers(config)
        if layer["config"].get("name") is not None
    }


def _graph_summary(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        return {}
    layers = _layers(config)
    classes = Counter(str(layer["class_name"]) for layer in layers if layer is not config)
    return {
        "keras_class": config.get("class_name"),
        "keras_module": config.get("module"),
        "layer_classes": dict(classes.most_common(50)),
    }
