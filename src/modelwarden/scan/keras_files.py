"""Keras models: `.keras` config.json, legacy `.h5` model_config, and Keras SavedModel metadata.

What runs on load (docs/reference/scanners.md §8):
- `Lambda` layers (and any `__lambda__` object) carry marshalled Python bytecode (CVE-2024-3660);
- `{"class_name": "function", "module": ..., "config": name}` and any object's `module` make
  deserialisation import that module and look the name up (CVE-2025-1550 and later safe_mode bypasses,
  e.g. `keras.utils.get_file` to fetch or write files);
- `registered_name` values outside Keras need custom code;
- legacy TFOpLambda layers name TensorFlow functions, some of which touch files or call Python;
- a `TorchModuleWrapper` carries a `torch.save` of its module (base64 text, or bytes serialised as a
  `__bytes__` object) that `from_config` hands to torch's loader (weights_only off) when safe mode is
  off: those bytes — and any other `__bytes__` value — are analysed as a file of their own;
- a `TFSMLayer` loads a TensorFlow SavedModel from the path in its config, outside this file.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from modelwarden.artifacts.hdf5 import attribute_too_big
from modelwarden.limits import MAX_KERAS_CONFIG_NODES
from modelwarden.scan.context import Buffer, Ctx, Scope
from modelwarden.scan.policy import format_policy, load_policy

_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]{1,60}")
_NOISE = {"<lambda>", "<string>", "None", "self"}


def analyse_json_config(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    """A `.keras` config.json (or any JSON that looks like a Keras object graph)."""
    obj = _load_json(buf, scope, ctx)
    if obj is None:
        return
    if not looks_like_keras_config(obj):
        # load_model deserialises whatever this is; what that does with a non-object is unspecified.
        ctx.add(scope, "keras.malformed", f"config is a JSON {type(obj).__name__}, not a Keras object")
    analyse_config(obj, scope, ctx)


def _load_json(buf: Buffer, scope: Scope, ctx: Ctx) -> Any:
    if len(buf) > ctx.limits.max_json_bytes:
        ctx.add(
            scope,
            "keras.malformed",
            f"config of {len(buf)} bytes exceeds the {ctx.limits.max_json_bytes} cap",
        )
        return None
    try:
        return json.loads(buf[: len(buf)])
    except (ValueError, RecursionError) as exc:
        ctx.add(scope, "keras.malformed", f"config is not JSON: {exc}")
        return None


def looks_like_keras_config(obj: Any) -> bool:
    return isinstance(obj, dict) and "class_name" in obj and "config" in obj


def analyse_h5(source: Any, scope: Scope, ctx: Ctx, *, buf: Buffer | None = None) -> bool:
    """Legacy HDF5 Keras model: root attributes `model_config` and `training_config` hold JSON.

    `source` is a path or a file-like object; `buf` the same bytes, for the size checks. Returns
    whether the file is a Keras model (has a model_config); an HDF5 file that cannot be opened is a
    finding. An attribute is read only once its size is bounded: a fixed-size one by its declared
    dimensions, a variable-length string by the global heap collections holding it (HDF5 allocates a
    collection's declared size before reading it: one declaring 4 GB made the scan take 4.2 GB).
    """
    import h5py

    is_keras = False
    try:
        with h5py.File(source, "r") as f:
            is_keras = "model_config" in f.attrs
            heap: list[str | None] = []  # the heap check, once per file (it reads the whole file)
            for attr in ("model_config", "training_config"):
                if attr not in f.attrs:
                    continue
                too_big = attribute_too_big(f, attr, buf, ctx.limits.max_json_bytes, heap)
                if too_big:
                    ctx.add(scope, "hdf5.attribute-too-large", f"{attr}: {too_big}; not read", entry=attr)
                    continue
                raw = f.attrs[attr]
                text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                if len(text) > ctx.limits.max_json_bytes:
                    ctx.add(scope, "keras.malformed", f"{attr} exceeds the size cap", entry=attr)
                    continue
                try:
                    obj = json.loads(text)
                except (ValueError, RecursionError) as exc:
                    ctx.add(scope, "keras.malformed", f"{attr} is not JSON: {exc}", entry=attr)
                    continue
                analyse_config(obj, scope.child(f"attribute {attr}", name=attr), ctx)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        ctx.add(scope, "keras.malformed", f"HDF5 file cannot be read: {exc}")
    return is_keras


def analyse_config(root: Any, scope: Scope, ctx: Ctx, *, pointer: str = "") -> None:
    """Walk the JSON object graph iteratively (hostile configs can be deep) and judge each object."""
    policy = format_policy()["keras"]
    trusted = tuple(policy["trusted_module_prefixes"])
    tf_bad = tuple(policy["dangerous_tf_functions_prefixes"])
    todo: list[tuple[str, Any]] = [(pointer, root)]
    seen = 0
    while todo and seen < MAX_KERAS_CONFIG_NODES:
        path, node = todo.pop()
        seen += 1
        if isinstance(node, dict):
            _judge_object(node, path, scope, ctx, trusted, tf_bad)
            todo.extend((f"{path}/{_escape(str(k))}", v) for k, v in node.items())
        elif isinstance(node, list):
            todo.extend((f"{path}/{i}", v) for i, v in enumerate(node))


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _trusted(module: str, trusted: tuple[str, ...]) -> bool:
    return any(module == t or module.startswith(t + ".") for t in trusted)


def _judge_object(
    node: dict[str, Any], path: str, scope: Scope, ctx: Ctx, trusted: tuple[str, ...], tf_bad: tuple[str, ...]
) -> None:
    cls = node.get("class_name")
    module = node.get("module")
    config = node.get("config")
    where = path or "/"
    if cls == "Lambda" and isinstance(config, dict):
        _lambda_layer(config, path, scope, ctx)
    if cls == "__lambda__":
        code = config.get("code") if isinstance(config, dict) else None
        ctx.add(
            scope,
            "keras.lambda-layer",
            "serialised Python lambda (marshalled bytecode) is rebuilt and run on load",
            evidence=_bytecode_names(code),
            pointer=where,
        )
    if cls == "function" and isinstance(config, str):
        _function_reference(module if isinstance(module, str) else "", config, path, scope, ctx, trusted)
    elif isinstance(module, str) and module and not _trusted(module, trusted):
        hit = load_policy().is_dangerous_reference(module, cls if isinstance(cls, str) else "")
        if hit:
            ctx.add(
                scope,
                "keras.dangerous-function",
                f"object {cls!r} is imported from the known-dangerous {hit}",
                evidence=f"{module}.{cls}",
                pointer=where,
            )
        else:
            ctx.add(
                scope,
                "keras.custom-module",
                f"object {cls!r} is imported from module {module!r}",
                evidence=f"{module}.{cls}",
                pointer=where,
            )
    registered = node.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        package = registered.split(">", 1)[0]
        if not _trusted(package.lower(), trusted) and package not in ("keras", "Keras"):
            ctx.add(
                scope,
                "keras.custom-object",
                f"custom object {registered!r} needs code registered under that name",
                evidence=registered,
                pointer=where,
            )
    if cls == "__bytes__" and isinstance(config, dict):
        _bytes_value(config.get("value"), where, scope, ctx)
    if cls == "TorchModuleWrapper" and isinstance(config, dict):
        _torch_module(config.get("module"), where, scope, ctx)
    if cls == "TFSMLayer" and isinstance(config, dict):
        filepath = config.get("filepath")
        ctx.add(
            scope,
            "keras.external-savedmodel",
            f"TFSMLayer loads the TensorFlow SavedModel at {filepath!r} (tf.saved_model.load): its graph"
            " and functions are not part of this file and were not scanned with it",
            evidence=str(filepath)[:200],
            pointer=where,
        )
    if cls in ("TFOpLambda", "SlicingOpLambda") and isinstance(config, dict):
        fn = config.get("function")
        if isinstance(fn, str) and fn.startswith(tf_bad):
            ctx.add(
                scope,
                "keras.dangerous-function",
                f"{cls} layer calls tf.{fn}, which touches files or runs Python",
                evidence=f"tf.{fn}",
                pointer=where,
            )


def _bytes_value(value: Any, where: str, scope: Scope, ctx: Ctx) -> None:
    # deserialize_keras_object turns {"class_name": "__bytes__", "config": {"value": text}} into
    # text.encode("utf-8"); what consumes the bytes depends on the layer, so analyse them by content.
    if isinstance(value, str) and value:
        ctx.nested(value.encode("utf-8", "surrogatepass"), scope.child(f"__bytes__ at {where}", name="bytes"))


def _torch_module(module: Any, where: str, scope: Scope, ctx: Ctx) -> None:
    """TorchModuleWrapper.from_config: torch's loader, weights_only off, on the module's bytes."""
    ctx.add(
        scope,
        "keras.torch-module",
        "TorchModuleWrapper: loading with safe mode off runs torch's loader with weights_only off on the"
        " module saved in the config; that checkpoint was analysed (findings reported separately)",
        pointer=where,
    )
    if isinstance(module, str):
        try:
            raw = base64.b64decode(module.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raw = module.encode("utf-8", "surrogatepass")  # not base64: what an older Keras passes on
        ctx.nested(raw, scope.child(f"torch module at {where}/config/module", name="module.pt"))
    # A __bytes__ object (older Keras) is analysed where the walk meets it.


def _lambda_layer(config: dict[str, Any], path: str, scope: Scope, ctx: Ctx) -> None:
    fn = config.get("function")
    ftype = config.get("function_type")
    where = f"{path}/config/function"
    if isinstance(fn, dict) and fn.get("class_name") == "__lambda__":
        return  # judged as the __lambda__ object itself
    if isinstance(fn, list | tuple) and fn and (ftype in (None, "lambda")):
        ctx.add(
            scope,
            "keras.lambda-layer",
            "Lambda layer with marshalled Python bytecode (legacy format) runs on load",
            evidence=_bytecode_names(fn[0]),
            pointer=where,
        )
    elif isinstance(fn, str) and ftype == "lambda":
        ctx.add(
            scope,
            "keras.lambda-layer",
            "Lambda layer with marshalled Python bytecode runs on load",
            evidence=_bytecode_names(fn),
            pointer=where,
        )
    elif isinstance(fn, str):
        module = config.get("module")
        _function_reference(
            module if isinstance(module, str) else "", fn, path, scope, ctx, tuple(_trusted_prefixes())
        )


def _trusted_prefixes() -> list[str]:
    return list(format_policy()["keras"]["trusted_module_prefixes"])


def _function_reference(
    module: str, name: str, path: str, scope: Scope, ctx: Ctx, trusted: tuple[str, ...]
) -> None:
    where = path or "/"
    qual = f"{module}.{name}" if module else name
    hit = load_policy().is_dangerous_reference(module, name) if module else None
    if hit is None and not module and "." in name:
        mod, _, attr = name.rpartition(".")
        hit = load_policy().is_dangerous_reference(mod, attr)
    if hit:
        ctx.add(
            scope,
            "keras.dangerous-function",
            f"config references the function {qual}, known-dangerous ({hit})",
            evidence=qual,
            pointer=where,
        )
    elif module and not _trusted(module, trusted):
        ctx.add(
            scope,
            "keras.custom-module",
            f"config imports the function {name!r} from module {module!r}",
            evidence=qual,
            pointer=where,
        )


def _bytecode_names(code: Any) -> str | None:
    """Names visible in a marshalled code object (evidence only: the bytes are never unmarshalled)."""
    if not isinstance(code, str):
        return None
    try:
        raw = base64.b64decode(code.encode("ascii", "replace"), validate=False)
    except (binascii.Error, ValueError):
        return "undecodable bytecode"
    names: list[str] = []
    for match in _NAME.finditer(raw):
        word = match.group().decode("ascii")
        if word not in _NOISE and word not in names:
            names.append(word)
    return "bytecode names: " + ", ".join(names[:12]) if names else f"{len(raw)} bytes of bytecode"
