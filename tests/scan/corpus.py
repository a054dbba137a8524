"""The scan corpus: malicious and benign model artifacts built with the real libraries.

Malicious samples carry harmless payloads (`os.system('true')`, a dry-run pip install, ...) and are
only ever *written* here — pickled, saved, zipped — never loaded. Each sample names the technique it
stands for (docs/reference/scanners.md "Techniques that beat scanners") and the rule that must catch it.
`tests/scan/test_corpus.py` asserts 100 % detection and no false positive at the default threshold;
`benchmarks/scan_bench.py` runs the peers on the same files.
"""

from __future__ import annotations

import collections
import functools
import io
import json
import operator
import os
import pickle
import shutil
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclass(frozen=True)
class Sample:
    id: str
    technique: str
    family: str
    path: Path
    malicious: bool
    expect: str | None = None  # rule id that must be reported (at its catalogue severity)
    ref: str = ""
    note: str = ""
    max_benign_severity: str = "info"  # benign: findings allowed up to this severity


class _Reduce:
    """Pickles as `func(*args)`: the classic payload. Dumping it runs nothing."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)


def _system() -> _Reduce:
    return _Reduce(os.system, "true")


def _su(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE (protocols 1-3)


def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()  # GLOBAL


def _call2(module: str, name: str, *args: str) -> bytes:
    """A protocol-2 pickle calling module.name(*args) with string args, written opcode by opcode."""
    body = b"\x80\x02" + _global(module, name) + b"(" + b"".join(_unicode(a) for a in args) + b"tR."
    return body


# --------------------------------------------------------------------------------------------------
# helpers for torch archives
# --------------------------------------------------------------------------------------------------


def _torch_bytes(obj: Any, *, legacy: bool = False) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def _benign_state_dict() -> Any:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    return model.state_dict()


def _rezip(src: bytes, extra: list[tuple[str, bytes]], *, drop: set[str] | None = None) -> bytes:
    """Copy a zip's entries (stored, like torch writes them) and append extra entries."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(src)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            if drop and info.filename in drop:
                continue
            zout.writestr(info.filename, zin.read(info.filename))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate names are the point of one sample
            for name, data in extra:
                zout.writestr(name, data)
    return out.getvalue()


def _central_offsets(data: bytes) -> dict[str, int]:
    """Offsets of each central directory header, by name."""
    offsets: dict[str, int] = {}
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        nlen, elen, clen = struct.unpack("<HHH", data[pos + 28 : pos + 34])
        name = data[pos + 46 : pos + 46 + nlen].decode()
        offsets[name] = pos
        pos = data.find(b"PK\x01\x02", pos + 46 + nlen + elen + clen)
    return offsets


def _patch_entry(
    data: bytes, name: str, *, flags_or: int = 0, crc_xor: int = 0, new_local_name: str | None = None
) -> bytes:
    buf = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        local = z.getinfo(name).header_offset
    central = _central_offsets(data)[name]
    for off, flag_at, crc_at in ((local, 6, 14), (central, 8, 16)):
        (flags,) = struct.unpack("<H", buf[off + flag_at : off + flag_at + 2])
        buf[off + flag_at : off + flag_at + 2] = struct.pack("<H", flags | flags_or)
        (crc,) = struct.unpack("<I", buf[off + crc_at : off + crc_at + 4])
        buf[off + crc_at : off + crc_at + 4] = struct.pack("<I", crc ^ crc_xor)
    if new_local_name is not None:
        assert len(new_local_name) == len(name)
        buf[local + 30 : local + 30 + len(name)] = new_local_name.encode()
    return bytes(buf)


# --------------------------------------------------------------------------------------------------
# SavedModel protobufs without TensorFlow: the real protobuf encoder over the schema's field numbers
# --------------------------------------------------------------------------------------------------


def _saved_model_classes() -> dict[str, Any]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="modelwarden_test_saved_model.proto", package="mwtest")
    T = descriptor_pb2.FieldDescriptorProto

    def message(name: str, fields: list[tuple[str, int, int, str | None, bool]]) -> None:
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, type_name, repeated in fields:
            f = m.field.add(name=fname, number=number, type=ftype)
            f.label = T.LABEL_REPEATED if repeated else T.LABEL_OPTIONAL
            if type_name:
                f.type_name = f".mwtest.{type_name}"

    # Field numbers as in tensorflow/core/protobuf/saved_model.proto, meta_graph.proto, graph.proto,
    # node_def.proto, function.proto, op_def.proto.
    message(
        "NodeDef",
        [
            ("name", 1, T.TYPE_STRING, None, False),
            ("op", 2, T.TYPE_STRING, None, False),
            ("input", 3, T.TYPE_STRING, None, True),
            ("device", 4, T.TYPE_STRING, None, False),
        ],
    )
    message("OpDef", [("name", 1, T.TYPE_STRING, None, False)])
    message(
        "FunctionDef",
        [("signature", 1, T.TYPE_MESSAGE, "OpDef", False), ("node_def", 3, T.TYPE_MESSAGE, "NodeDef", True)],
    )
    message("FunctionDefLibrary", [("function", 1, T.TYPE_MESSAGE, "FunctionDef", True)])
    message(
        "GraphDef",
        [
            ("node", 1, T.TYPE_MESSAGE, "NodeDef", True),
            ("library", 2, T.TYPE_MESSAGE, "FunctionDefLibrary", False),
        ],
    )
    message("MetaGraphDef", [("graph_def", 2, T.TYPE_MESSAGE, "GraphDef", False)])
    message("SavedModel", [("saved_model_schema_version", 1, T.TYPE_INT64, None, False),
                           ("meta_graphs", 2, T.TYPE_MESSAGE, "MetaGraphDef", True)])  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"mwtest.{n}"))
        for n in ("SavedModel", "NodeDef", "FunctionDef")
    }


def _saved_model(folder: Path, graph_ops: list[tuple[str, str]], function_ops: list[tuple[str, str]]) -> Path:
    cls = _saved_model_classes()
    sm = cls["SavedModel"](saved_model_schema_version=1)
    graph = sm.meta_graphs.add().graph_def
    for name, op in graph_ops:
        graph.node.add(name=name, op=op)
    if function_ops:
        fn = graph.library.function.add()
        fn.signature.name = "__inference_serve_42"
        for name, op in function_ops:
            fn.node_def.add(name=name, op=op)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "variables").mkdir(exist_ok=True)
    (folder / "saved_model.pb").write_bytes(sm.SerializeToString())
    return folder


# --------------------------------------------------------------------------------------------------
# chat templates
# --------------------------------------------------------------------------------------------------

_DATA = Path(__file__).parent / "data"
# Realistic benign templates, written for these tests in the style of the Llama 3, ChatML, Qwen
# (tool calling with namespace() and loop controls) and Mistral templates.
LLAMA3_TEMPLATE = (_DATA / "llama3.jinja").read_text()
CHATML_TEMPLATE = (_DATA / "chatml.jinja").read_text()
QWEN_STYLE_TEMPLATE = (_DATA / "qwen_tools.jinja").read_text()
MISTRAL_TEMPLATE = (_DATA / "mistral.jinja").read_text()

MALICIOUS_TEMPLATES = {
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}{% for m in messages %}{{ m }}{% endfor %}",
    "cycler": "{{ cycler.__init__.__globals__.os.popen('true').read() }}",
    "template-reference": "{{ self._TemplateReference__context.joiner.__init__.__globals__.os.popen('x') }}",
    "attr-concat": "{% set c = '__cla' ~ 'ss__' %}{{ (messages|attr(c))|attr('__mro__') }}",
    "joiner": "{{ joiner.__init__.__globals__['__builtins__']['__import__']('os').system('true') }}",
    "lipsum": "{{ lipsum.__globals__['os'].popen('true').read() }}",
}


def _gguf(path: Path, template: str | None, name: str = "tiny-llama") -> Path:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_context_length(128)
    w.add_block_count(1)
    if template is not None:
        w.add_chat_template(template)
    w.add_token_list(["<s>", "</s>", "hello", "world"])
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# --------------------------------------------------------------------------------------------------
# Keras
# --------------------------------------------------------------------------------------------------


def _keras_dense(path: Path) -> Path:
    import keras

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)]
    )
    model.save(path)
    return path


def _keras_lambda(path: Path) -> Path:
    import keras

    # The else branch never runs (x is a tensor, not None) — but its names are in the bytecode.
    layer = keras.layers.Lambda(lambda x: x * 2 if x is not None else __import__("os").system("true"))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), layer])
    model.save(path)
    return path


def _edit_keras_config(src: Path, dest: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            zout.writestr(info.filename, data)
    return dest


def _dense_layers(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [layer for layer in config["config"]["layers"] if layer.get("class_name") == "Dense"]


# --------------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------------


def _onnx_model(domain: str = "", op: str = "Add") -> Any:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 2), dtype=np.float32), name="W")
    node = helper.make_node(op, ["X", "W"], ["Y"], domain=domain)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 2])],
        initializer=[weight],
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets)


def _onnx_external(path: Path, location: str) -> Path:
    import onnx
    from onnx import external_data_helper

    model = _onnx_model()
    tensor = model.graph.initializer[0]
    external_data_helper.set_external_data(tensor, location=location, offset=0, length=16)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    onnx.save_model(model, str(path))
    return path


# --------------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------------


def build_malicious(root: Path) -> list[Sample]:  # one entry per technique, on purpose
    import joblib
    import numpy as np
    import safetensors.numpy
    import torch

    root.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []

    def add(
        sid: str,
        technique: str,
        family: str,
        name: str,
        data: bytes | None,
        expect: str,
        ref: str = "",
        note: str = "",
    ) -> Path:
        folder = root / sid
        folder.mkdir(exist_ok=True)
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        samples.append(Sample(sid, technique, family, path, True, expect, ref, note))
        return path

    evil = pickle.dumps(_system(), protocol=4)
    # ---- pickle ------------------------------------------------------------------------------------
    add(
        "pickle-reduce",
        "REDUCE of os.system (protocol 4)",
        "pickle",
        "model.pkl",
        evil,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    add(
        "pickle-protocol0",
        "protocol 0 GLOBAL + REDUCE",
        "pickle",
        "model.pkl",
        pickle.dumps(_system(), protocol=0),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §2",
    )
    memo = (
        b"\x80\x04"
        + _su("os")
        + b"\x94"
        + _su("system")
        + b"\x94"
        + b"00"
        + b"h\x00h\x01\x93"
        + _su("true")
        + b"\x85R."
    )
    add(
        "pickle-memo-stack-global",
        "STACK_GLOBAL with names fetched from the memo (BINGET)",
        "pickle",
        "model.pkl",
        memo,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §2",
    )
    add(
        "pickle-inst",
        "INST opcode (protocol 0 class call)",
        "pickle",
        "model.pkl",
        b"(S'true'\nios\nsystem\n.",
        "pickle.dangerous-import",
        "docs/reference/scanners.md §2",
    )
    add(
        "pickle-obj",
        "OBJ opcode (protocol 1)",
        "pickle",
        "model.pkl",
        b"\x80\x02(cos\nsystem\nX\x04\x00\x00\x00trueo.",
        "pickle.dangerous-import",
        "docs/reference/scanners.md §2",
    )
    newobj_ex = b"\x80\x04" + _su("subprocess") + _su("Popen") + b"\x93]" + _su("true") + b"a\x85}\x92."
    add(
        "pickle-newobj-ex",
        "NEWOBJ_EX of subprocess.Popen with kwargs",
        "pickle",
        "model.pkl",
        newobj_ex,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §2",
    )
    build_global = (
        b"\x80\x02"
        + _global("collections", "OrderedDict")
        + b"N}"
        + _unicode("fromkeys")
        + _unicode("patched")
        + b"s\x86b."
    )
    add(
        "pickle-build-on-global",
        "BUILD sets attributes on an allowlisted class (monkey patch)",
        "pickle",
        "model.pkl",
        build_global,
        "pickle.build-on-global",
        "docs/reference/scanners.md §2",
    )
    add(
        "pickle-ext",
        "EXT1 copyreg extension code",
        "pickle",
        "model.pkl",
        b"\x80\x02\x82\x07)R.",
        "pickle.extension-code",
        "docs/reference/scanners.md §2",
    )
    chain = b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'true'\ntR."
    add(
        "pickle-getattr-chain",
        "builtins.getattr(builtins.__import__('os'), 'system') chain",
        "pickle",
        "model.pkl",
        chain,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §2",
    )
    add(
        "pickle-pip-main",
        "pip.main installs a package (CVE-2025-1716)",
        "pickle",
        "model.pkl",
        _call2("pip", "main", "install", "--dry-run", "mw-harmless"),
        "pickle.dangerous-import",
        "CVE-2025-1716",
    )
    import runpy

    add(
        "pickle-runpy",
        "runpy._run_code",
        "pickle",
        "model.pkl",
        pickle.dumps(_Reduce(runpy._run_code, "pass", {}), protocol=2),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    import pydoc

    add(
        "pickle-pydoc-pipepager",
        "pydoc.pipepager runs a shell command",
        "pickle",
        "model.pkl",
        pickle.dumps(_Reduce(pydoc.pipepager, "", "true"), protocol=4),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    import cProfile

    add(
        "pickle-cprofile",
        "cProfile.run executes code",
        "pickle",
        "model.pkl",
        pickle.dumps(_Reduce(cProfile.run, "pass"), protocol=4),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    add(
        "pickle-pty-spawn",
        "pty.spawn",
        "pickle",
        "model.pkl",
        _call2("pty", "spawn", "true"),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    import code

    add(
        "pickle-code-interpreter",
        "code.InteractiveInterpreter",
        "pickle",
        "model.pkl",
        pickle.dumps(_Reduce(code.InteractiveInterpreter), protocol=4),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    import timeit

    add(
        "pickle-timeit",
        "timeit.timeit executes code",
        "pickle",
        "model.pkl",
        pickle.dumps(_Reduce(timeit.timeit, "pass"), protocol=4),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    add(
        "pickle-ctypes",
        "ctypes.CDLL loads a native library",
        "pickle",
        "model.pkl",
        _call2("ctypes", "CDLL", "libc.so.6"),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    caller = operator.methodcaller("system", "true")
    add(
        "pickle-methodcaller",
        "operator.methodcaller('system', ...)",
        "pickle",
        "model.pkl",
        pickle.dumps(caller, protocol=4),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    add(
        "pickle-partial",
        "functools.partial wrapper around an allowlisted callable",
        "pickle",
        "model.pkl",
        pickle.dumps(functools.partial(collections.OrderedDict, a=1), protocol=4),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    import webbrowser

    add(
        "pickle-webbrowser",
        "webbrowser.open (network access)",
        "pickle",
        "model.pkl",
        pickle.dumps(_Reduce(webbrowser.open, "http://127.0.0.1:9/"), protocol=4),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    traversal = (
        b"\x80\x04"
        + _su("torch.serialization")
        + b"\x94"
        + _su("os.system")
        + b"\x94\x93"
        + _su("true")
        + b"\x85R."
    )
    add(
        "pickle-dotted-traversal",
        "dotted name reaches os.system through torch.serialization",
        "pickle",
        "model.pkl",
        traversal,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    py2 = b"\x80\x02" + _global("commands", "getoutput") + _unicode("true") + b"\x85R."
    add(
        "pickle-py2-alias",
        "Python 2 module name 'commands' mapped to subprocess by fix_imports",
        "pickle",
        "model.pkl",
        py2,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    unknown = (
        b"\x80\x02"
        + _global("test.support.script_helper", "assert_python_ok")
        + _unicode("-c")
        + _unicode("pass")
        + b"\x86R."
    )
    add(
        "pickle-unlisted-callable",
        "callable once on no denylist (test.support.script_helper runs Python; now a dangerous module)",
        "pickle",
        "model.pkl",
        unknown,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1",
    )
    inner = pickle.dumps(_system(), protocol=2)
    add(
        "pickle-nested-loads",
        "pickle.loads of a nested pickle",
        "pickle",
        "model.pkl",
        pickle.dumps(_Reduce(pickle.loads, inner), protocol=4),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §3",
    )
    add(
        "pickle-torch-load-from-bytes",
        "torch.storage._load_from_bytes of a nested malicious pickle",
        "pickle",
        "model.pkl",
        pickle.dumps(_Reduce(torch.storage._load_from_bytes, inner), protocol=2),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §1, §3",
    )
    add(
        "pickle-broken-after-payload",
        "invalid opcode after the payload (nullifAI)",
        "pickle",
        "model.pkl",
        pickle.dumps(_system(), protocol=2)[:-1] + b"\xff\xfe.",
        "pickle.dangerous-import",
        "docs/reference/scanners.md §4",
    )
    add(
        "pickle-truncated",
        "truncated stream after the payload",
        "pickle",
        "model.pkl",
        evil[:-1],
        "pickle.malformed",
        "docs/reference/scanners.md §4",
    )
    add(
        "pickle-second-pickle",
        "benign pickle followed by a malicious one",
        "pickle",
        "model.pkl",
        pickle.dumps({"ok": 1}, protocol=4) + evil,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §6",
    )
    benign_zip = _torch_bytes(_benign_state_dict())
    add(
        "polyglot-pickle-zip",
        "malicious pickle with a valid PyTorch zip appended",
        "pickle",
        "model.bin",
        evil + benign_zip,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §6",
    )
    # ---- PyTorch archives ----------------------------------------------------------------------------
    state = _benign_state_dict()
    mal_zip = _torch_bytes({"state_dict": state, "hook": _system()})
    add(
        "torch-zip",
        "malicious object in a torch.save archive's data.pkl",
        "torch",
        "pytorch_model.bin",
        mal_zip,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §12",
    )
    add(
        "torch-legacy",
        "malicious object in a legacy (non-zip) torch.save file",
        "torch",
        "model.pt",
        _torch_bytes({"hook": _system(), "w": torch.zeros(2)}, legacy=True),
        "pickle.dangerous-import",
        "docs/reference/formats.md",
    )
    add(
        "torch-zip-odd-name",
        "pickle hidden under a non-standard entry name (CVE-2025-1889)",
        "torch",
        "model.pt",
        _rezip(benign_zip, [("archive/extra/config.p", evil)]),
        "pickle.dangerous-import",
        "CVE-2025-1889",
    )
    mal_pkl = "archive/data.pkl"
    mal_zip2 = _rezip(_torch_bytes({"hook": _system()}), [])
    add(
        "zip-name-mismatch",
        "local header name differs from the central directory (CVE-2025-1944)",
        "zip",
        "model.pt",
        _patch_entry(mal_zip2, mal_pkl, new_local_name="archive/data.pkX"),
        "zip.name-mismatch",
        "CVE-2025-1944",
    )
    add(
        "zip-encrypted-flag",
        "encryption flag bit set on data.pkl (CVE-2025-1945)",
        "zip",
        "model.pt",
        _patch_entry(mal_zip2, mal_pkl, flags_or=0x1),
        "pickle.dangerous-import",
        "CVE-2025-1945",
    )
    add(
        "zip-bad-crc",
        "bad CRC on data.pkl: zipfile raises, torch loads",
        "zip",
        "model.pt",
        _patch_entry(mal_zip2, mal_pkl, crc_xor=0xDEADBEEF),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §5",
    )
    benign_pkl = zipfile.ZipFile(io.BytesIO(benign_zip)).read("archive/data.pkl")
    dup = _rezip(_torch_bytes({"hook": _system()}), [], drop={mal_pkl})
    dup = _rezip(dup, [(mal_pkl, benign_pkl), (mal_pkl, zipfile.ZipFile(io.BytesIO(mal_zip2)).read(mal_pkl))])
    add(
        "zip-duplicate-entry",
        "two data.pkl entries, the second malicious",
        "zip",
        "model.pt",
        dup,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §5",
    )
    add(
        "zip-outside-root",
        "malicious pickle in a second top-level folder",
        "zip",
        "model.pt",
        _rezip(benign_zip, [("other/data.pkl", evil)]),
        "pickle.dangerous-import",
        "docs/reference/scanners.md §5",
    )
    scripted = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU()))
    ts_buf = io.BytesIO()
    torch.jit.save(scripted, ts_buf)
    add(
        "torchscript",
        "TorchScript archive: loading compiles and runs code/",
        "torch",
        "model.pt",
        ts_buf.getvalue(),
        "torch.torchscript-code",
        "docs/reference/scanners.md §12",
    )
    ts_custom = _rezip(
        ts_buf.getvalue(),
        [("archive/code/__torch__/evil.py", b"def forward(self, x):\n  return ops.evil_ns.run(x)\n")],
    )
    add(
        "torchscript-custom-op",
        "TorchScript calling a custom operator namespace",
        "torch",
        "model.pt",
        ts_custom,
        "torch.torchscript-custom-op",
        "docs/reference/scanners.md §12",
    )
    seven = b"7z\xbc\xaf\x27\x1c\x00\x04" + os.urandom(256)
    add(
        "archive-7z",
        "7z-compressed checkpoint (nullifAI); hand-built signature, no 7z writer here",
        "zip",
        "pytorch_model.bin",
        seven,
        "archive.unscannable",
        "docs/reference/scanners.md §4",
    )
    bomb = root / "zip-bomb" / "weights.zip"
    bomb.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z, z.open("payload.bin", "w") as fh:
        chunk = bytes(1 << 20)
        for _ in range(100):
            fh.write(chunk)
    samples.append(
        Sample(
            "zip-bomb",
            "zip bomb (100 MiB of zeros, ratio ~1000)",
            "zip",
            bomb,
            True,
            "zip.bomb",
            "docs/reference/scanners.md §14",
        )
    )
    trav = io.BytesIO()
    with zipfile.ZipFile(trav, "w") as z:
        z.writestr("../../evil.pkl", evil)
    add(
        "zip-path-traversal",
        "entry name climbing out with '..'",
        "zip",
        "weights.zip",
        trav.getvalue(),
        "zip.path-traversal",
        "docs/reference/scanners.md §5",
    )
    # ---- NumPy / joblib ------------------------------------------------------------------------------
    folder = root / "numpy-object-array"
    folder.mkdir(exist_ok=True)
    np.save(folder / "weights.npy", np.array([_system(), 1.0], dtype=object), allow_pickle=True)
    samples.append(
        Sample(
            "numpy-object-array",
            "NumPy object array carrying a pickle",
            "numpy",
            folder / "weights.npy",
            True,
            "pickle.dangerous-import",
            "docs/reference/scanners.md §7",
        )
    )
    folder = root / "npz-member"
    folder.mkdir(exist_ok=True)
    np.savez(
        folder / "weights.npz", w=np.zeros(4, dtype=np.float32), meta=np.array([_system()], dtype=object)
    )
    samples.append(
        Sample(
            "npz-member",
            ".npz member object array",
            "numpy",
            folder / "weights.npz",
            True,
            "pickle.dangerous-import",
            "docs/reference/scanners.md §7",
        )
    )
    for compress in (None, "zlib", "gzip", "bz2", "xz", "lzma", "lz4"):
        sid = f"joblib-{compress or 'raw'}"
        folder = root / sid
        folder.mkdir(exist_ok=True)
        path = folder / "model.joblib"
        joblib.dump(
            {"coef": np.arange(6.0), "hook": _system()}, path, compress=(compress, 3) if compress else 0
        )
        tech = (
            "joblib file with a payload beside arrays"
            if compress is None
            else f"joblib compressed with {compress}"
        )
        samples.append(
            Sample(
                sid, tech, "joblib", path, True, "pickle.dangerous-import", "docs/reference/scanners.md §7"
            )
        )
    # ---- Keras ------------------------------------------------------------------------------------------
    folder = root / "keras-lambda"
    folder.mkdir(exist_ok=True)
    lam = _keras_lambda(folder / "model.keras")
    samples.append(
        Sample(
            "keras-lambda",
            "Keras Lambda layer with marshalled bytecode (CVE-2024-3660)",
            "keras",
            lam,
            True,
            "keras.lambda-layer",
            "CVE-2024-3660",
        )
    )
    folder = root / "keras-h5-lambda"
    folder.mkdir(exist_ok=True)
    h5 = _keras_lambda(folder / "model.h5")
    samples.append(
        Sample(
            "keras-h5-lambda",
            "legacy .h5 Keras model with a Lambda layer",
            "keras",
            h5,
            True,
            "keras.lambda-layer",
            "docs/reference/scanners.md §8",
        )
    )
    dense = _keras_dense(root / "keras-lambda" / "dense_base.keras")

    def os_function(config: dict[str, Any]) -> None:
        _dense_layers(config)[0]["config"]["activation"] = {
            "module": "os",
            "class_name": "function",
            "config": "system",
            "registered_name": "function",
        }

    def get_file(config: dict[str, Any]) -> None:
        _dense_layers(config)[0]["config"]["activation"] = {
            "module": "keras.utils",
            "class_name": "function",
            "config": "get_file",
            "registered_name": "function",
        }

    def custom(config: dict[str, Any]) -> None:
        layer = _dense_layers(config)[0]
        layer.update(
            {"module": "evilpkg.layers", "class_name": "Backdoor", "registered_name": "evilpkg>Backdoor"}
        )

    for sid, edit, tech, expect in (
        (
            "keras-module-function",
            os_function,
            "config references os.system as a function (CVE-2025-1550)",
            "keras.dangerous-function",
        ),
        (
            "keras-get-file",
            get_file,
            "config references keras.utils.get_file (safe_mode bypass)",
            "keras.dangerous-function",
        ),
        (
            "keras-custom-module",
            custom,
            "layer imported from a non-Keras module with a registered name",
            "keras.custom-module",
        ),
    ):
        folder = root / sid
        folder.mkdir(exist_ok=True)
        path = _edit_keras_config(dense, folder / "model.keras", edit)
        samples.append(Sample(sid, tech, "keras", path, True, expect, "docs/reference/scanners.md §8"))
    dense.unlink()
    # ---- TensorFlow SavedModel ----------------------------------------------------------------------------
    sm = _saved_model(root / "savedmodel-pyfunc" / "model", [("x", "Placeholder"), ("f", "PyFunc")], [])
    samples.append(
        Sample(
            "savedmodel-pyfunc",
            "SavedModel graph with a PyFunc op",
            "savedmodel",
            sm,
            True,
            "savedmodel.code-op",
            "docs/reference/scanners.md §9",
        )
    )
    sm = _saved_model(
        root / "savedmodel-file-ops" / "model",
        [("x", "Placeholder")],
        [("read", "ReadFile"), ("write", "WriteFile")],
    )
    samples.append(
        Sample(
            "savedmodel-file-ops",
            "SavedModel function reading and writing files",
            "savedmodel",
            sm,
            True,
            "savedmodel.file-op",
            "docs/reference/scanners.md §9",
        )
    )
    # ---- GGUF / chat templates ----------------------------------------------------------------------
    for key, template in MALICIOUS_TEMPLATES.items():
        sid = f"gguf-template-{key}"
        folder = root / sid
        folder.mkdir(exist_ok=True)
        path = _gguf(folder / "model.gguf", template)
        expect = "template.suspicious" if key == "attr-concat" else "template.sandbox-escape"
        samples.append(
            Sample(
                sid,
                f"GGUF chat template: {key} escape (CVE-2024-34359)",
                "gguf",
                path,
                True,
                expect,
                "CVE-2024-34359",
            )
        )
    folder = root / "tokenizer-config-template"
    folder.mkdir(exist_ok=True)
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "LlamaTokenizer", "chat_template": MALICIOUS_TEMPLATES["joiner"]})
    )
    samples.append(
        Sample(
            "tokenizer-config-template",
            "tokenizer_config.json chat_template escape",
            "template",
            folder / "tokenizer_config.json",
            True,
            "template.sandbox-escape",
            "docs/reference/scanners.md §10",
        )
    )
    folder = root / "chat-template-jinja"
    folder.mkdir(exist_ok=True)
    (folder / "chat_template.jinja").write_text(MALICIOUS_TEMPLATES["lipsum"])
    samples.append(
        Sample(
            "chat-template-jinja",
            "chat_template.jinja escape",
            "template",
            folder / "chat_template.jinja",
            True,
            "template.sandbox-escape",
            "docs/reference/scanners.md §10",
        )
    )
    # ---- ONNX ----------------------------------------------------------------------------------------------
    for sid, location, tech in (
        (
            "onnx-external-traversal",
            "../../../../etc/passwd",
            "ONNX external data location with '..' (CVE-2022-25882)",
        ),
        ("onnx-external-absolute", "/etc/hostname", "ONNX external data at an absolute path"),
    ):
        folder = root / sid
        folder.mkdir(exist_ok=True)
        samples.append(
            Sample(
                sid,
                tech,
                "onnx",
                _onnx_external(folder / "model.onnx", location),
                True,
                "onnx.external-data-traversal",
                "CVE-2022-25882",
            )
        )
    import onnx

    folder = root / "onnx-custom-domain"
    folder.mkdir(exist_ok=True)
    onnx.save_model(_onnx_model(domain="com.evil.ops", op="Backdoor"), str(folder / "model.onnx"))
    samples.append(
        Sample(
            "onnx-custom-domain",
            "ONNX custom operator domain (native code)",
            "onnx",
            folder / "model.onnx",
            True,
            "onnx.custom-domain",
            "docs/reference/scanners.md §11",
        )
    )
    # ---- safetensors -------------------------------------------------------------------------------
    add(
        "safetensors-huge-header",
        "safetensors header length of 1 TiB (DoS)",
        "safetensors",
        "model.safetensors",
        struct.pack("<Q", 1 << 40) + b"{}",
        "safetensors.header-size",
        "docs/reference/scanners.md §14",
    )
    hdr = json.dumps(
        {
            "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
            "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
        }
    ).encode()
    add(
        "safetensors-overlap",
        "safetensors tensors overlapping",
        "safetensors",
        "model.safetensors",
        struct.pack("<Q", len(hdr)) + hdr + bytes(24),
        "safetensors.overlap",
        "docs/reference/formats.md",
    )
    st = safetensors.numpy.save({"w": np.zeros((2, 2), dtype=np.float32)})
    add(
        "safetensors-polyglot",
        "safetensors file with a pickle appended",
        "safetensors",
        "model.safetensors",
        st + evil,
        "pickle.dangerous-import",
        "docs/reference/scanners.md §6",
    )
    # ---- folders -------------------------------------------------------------------------------------------
    folder = root / "folder-symlink-escape"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    os.symlink("/etc/passwd", folder / "pytorch_model.bin")
    samples.append(
        Sample(
            "folder-symlink-escape",
            "symlink pointing outside the model folder",
            "folder",
            folder,
            True,
            "folder.symlink-escape",
            "docs/reference/scanners.md §14",
        )
    )
    folder = root / "folder-remote-code"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["EvilModel"],
                "model_type": "evil",
                "auto_map": {"AutoModel": "modeling_evil.EvilModel"},
            }
        )
    )
    (folder / "modeling_evil.py").write_text(
        "import os\n\nos.system('true')\n\n\nclass EvilModel:\n    pass\n"
    )
    samples.append(
        Sample(
            "folder-remote-code",
            "auto_map + modeling_*.py run with trust_remote_code",
            "folder",
            folder,
            True,
            "folder.remote-code",
            "docs/reference/scanners.md §13",
        )
    )
    folder = root / "folder-executable"
    folder.mkdir(exist_ok=True)
    shutil.copy(shutil.which("true") or "/bin/true", folder / "libcustom_ops.so")
    samples.append(
        Sample(
            "folder-executable",
            "native binary shipped as a custom-op library",
            "folder",
            folder,
            True,
            "folder.executable",
            "docs/reference/scanners.md §11",
        )
    )
    folder = root / "folder-st-custom-module"
    folder.mkdir(exist_ok=True)
    (folder / "modules.json").write_text(
        json.dumps([{"idx": 0, "name": "0", "path": "", "type": "custom_st.EvilModule"}])
    )
    samples.append(
        Sample(
            "folder-st-custom-module",
            "sentence-transformers modules.json custom module",
            "folder",
            folder,
            True,
            "folder.remote-code",
            "docs/reference/scanners.md §13",
        )
    )
    return samples


def build_benign(root: Path) -> list[Sample]:
    import joblib
    import keras
    import numpy as np
    import onnx
    import safetensors.numpy
    import safetensors.torch
    import torch

    root.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []

    def folder(sid: str) -> Path:
        f = root / sid
        f.mkdir(exist_ok=True)
        return f

    def add(sid: str, technique: str, family: str, path: Path, max_sev: str = "info") -> None:
        samples.append(Sample(sid, technique, family, path, False, None, max_benign_severity=max_sev))

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 4))
    f = folder("torch-state-dict")
    torch.save(mlp.state_dict(), f / "pytorch_model.bin")
    add("torch-state-dict", "torch.save state_dict (zip)", "torch", f / "pytorch_model.bin")
    f = folder("torch-state-dict-legacy")
    torch.save(mlp.state_dict(), f / "model.pt", _use_new_zipfile_serialization=False)
    add("torch-state-dict-legacy", "torch.save state_dict (legacy format)", "torch", f / "model.pt")
    opt = torch.optim.AdamW(mlp.parameters(), lr=1e-3)
    mlp(torch.randn(2, 8)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)
    f = folder("torch-training-checkpoint")
    torch.save(
        {"epoch": 3, "model_state_dict": mlp.state_dict(), "optimizer_state_dict": opt.state_dict(),
         "scheduler": sched.state_dict(), "loss": 0.25, "rng": torch.get_rng_state()},
        f / "checkpoint.pt",
    )  # fmt: skip
    add(
        "torch-training-checkpoint",
        "training checkpoint with optimizer and scheduler state",
        "torch",
        f / "checkpoint.pt",
    )
    base = torch.arange(32, dtype=torch.float32).reshape(4, 8)
    mixed = {
        "bf16": torch.zeros(3, 4, dtype=torch.bfloat16),
        "fp16": torch.ones(5, dtype=torch.float16),
        "int8": torch.zeros(7, dtype=torch.int8),
        "mask": torch.zeros(2, 2, dtype=torch.bool),
        "view": base[:, :4],
        "tied_a": base,
        "tied_b": base,
        "transposed": base.t(),
        "param": torch.nn.Parameter(torch.zeros(2)),
        "step": torch.tensor(7),
    }
    f = folder("torch-mixed-dtypes")
    torch.save(mixed, f / "weights.pth")
    add(
        "torch-mixed-dtypes",
        "mixed dtypes, views, shared and tied storages, parameters",
        "torch",
        f / "weights.pth",
    )
    f = folder("lightning-style-checkpoint")
    torch.save(
        {"epoch": 1, "global_step": 10, "pytorch-lightning_version": "2.4.0", "state_dict": mlp.state_dict(),
         "optimizer_states": [opt.state_dict()], "lr_schedulers": [sched.state_dict()],
         "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(0.1)}},
         "hyper_parameters": {"lr": 1e-3, "hidden": 16, "layers": [8, 16, 4]}},
        f / "last.ckpt",
    )  # fmt: skip
    add(
        "lightning-style-checkpoint",
        "Lightning-style .ckpt (plain hyper-parameters)",
        "torch",
        f / "last.ckpt",
    )
    f = folder("numpy-arrays")
    np.save(f / "embeddings.npy", np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32))
    np.save(f / "ids.npy", np.arange(100, dtype=np.int64))
    add("numpy-arrays", "NumPy numeric arrays (.npy)", "numpy", f)
    f = folder("numpy-npz")
    np.savez_compressed(
        f / "weights.npz", w=np.zeros((4, 4), dtype=np.float16), b=np.ones(4, dtype=np.float64)
    )
    add("numpy-npz", "compressed .npz of numeric arrays", "numpy", f / "weights.npz")
    f = folder("safetensors-single")
    safetensors.torch.save_file(
        {k: v.contiguous() for k, v in mlp.state_dict().items()},
        f / "model.safetensors",
        metadata={"format": "pt"},
    )
    add("safetensors-single", "safetensors model", "safetensors", f / "model.safetensors")
    f = folder("hf-sharded-folder")
    shards = {
        "model-00001-of-00002.safetensors": {"a.weight": np.ones((8, 8), np.float32)},
        "model-00002-of-00002.safetensors": {"b.weight": np.ones((8,), np.float32)},
    }
    weight_map = {}
    for shard, tensors in shards.items():
        safetensors.numpy.save_file(tensors, f / shard, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(tensors, shard))
    (f / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 288}, "weight_map": weight_map})
    )
    (f / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "hidden_size": 8,
                "num_hidden_layers": 1,
            }
        )
    )
    (f / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
    (f / "tokenizer_config.json").write_text(
        json.dumps({"bos_token": "<|begin_of_text|>", "chat_template": LLAMA3_TEMPLATE})
    )
    (f / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n")
    add("hf-sharded-folder", "sharded safetensors HF folder with a Llama 3 chat template", "folder", f)
    f = folder("gguf-llama3")
    add("gguf-llama3", "GGUF with a Llama 3 chat template", "gguf", _gguf(f / "model.gguf", LLAMA3_TEMPLATE))
    f = folder("gguf-chatml")
    add("gguf-chatml", "GGUF with a ChatML chat template", "gguf", _gguf(f / "model.gguf", CHATML_TEMPLATE))
    f = folder("qwen-style-tokenizer-config")
    (f / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "chat_template": [
                    {"name": "default", "template": QWEN_STYLE_TEMPLATE},
                    {"name": "mistral", "template": MISTRAL_TEMPLATE},
                ]
            }
        )
    )
    add(
        "qwen-style-tokenizer-config",
        "tool-calling (namespace, loop controls) and Mistral templates",
        "template",
        f / "tokenizer_config.json",
    )
    f = folder("keras-dense")
    add("keras-dense", "Dense-only Keras model (.keras)", "keras", _keras_dense(f / "model.keras"))
    f = folder("keras-dense-h5")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)]
    )
    model.save(f / "model.h5")
    add("keras-dense-h5", "Dense-only Keras model (legacy .h5)", "keras", f / "model.h5")
    f = folder("onnx-external-data")
    onnx.save_model(
        _onnx_model(),
        str(f / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    add("onnx-external-data", "ONNX model with external data beside it", "onnx", f)
    f = folder("onnx-ort-contrib")
    onnx.save_model(_onnx_model(domain="com.microsoft", op="FusedMatMul"), str(f / "model.onnx"))
    add(
        "onnx-ort-contrib",
        "ONNX model using ONNX Runtime contrib ops (com.microsoft)",
        "onnx",
        f / "model.onnx",
    )
    f = folder("joblib-arrays")
    joblib.dump(
        {
            "coef": np.arange(12.0).reshape(3, 4),
            "names": ["a", "b", "c"],
            "strings": np.array(["x", "y"], dtype=object),
        },
        f / "model.joblib",
    )
    joblib.dump({"coef": np.arange(12.0)}, f / "model.joblib.z", compress=("zlib", 3))
    add("joblib-arrays", "joblib arrays (plain, object array of strings, zlib-compressed)", "joblib", f)
    sm = _saved_model(
        root / "savedmodel-benign" / "model",
        [("x", "Placeholder"), ("w", "VariableV2"), ("y", "MatMul")],
        [("save", "SaveV2"), ("restore", "RestoreV2"), ("merge", "MergeV2Checkpoints")],
    )
    add("savedmodel-benign", "SavedModel with only math and checkpoint ops", "savedmodel", sm)
    f = folder("plain-pickle")
    (f / "vocab.pkl").write_bytes(
        pickle.dumps(
            {
                "tokens": ["a", "b"],
                "ids": (1, 2),
                "weights": np.arange(3.0),
                "scale": 1.5,
                "blob": b"\x00\x01",
            },
            protocol=2,
        )
    )
    add(
        "plain-pickle", "plain pickle of containers and a NumPy array (protocol 2)", "pickle", f / "vocab.pkl"
    )
    return samples


def build_training_args(root: Path) -> Sample:
    """A real transformers training_args.bin (TrainingArguments, enums, accelerate state)."""
    import torch
    from transformers import TrainingArguments

    folder = root / "training-args"
    folder.mkdir(parents=True, exist_ok=True)
    args = TrainingArguments(output_dir=str(folder / "out"), report_to=[])
    torch.save(args, folder / "training_args.bin")
    return Sample(
        "training-args",
        "transformers training_args.bin",
        "torch",
        folder / "training_args.bin",
        False,
        None,
        max_benign_severity="low",
    )
