"""Fuzzing the pickle walker and the container parsers: no crash, no hang, bounded memory.

Hypothesis mutates valid artifacts (flipped, inserted and deleted bytes, truncation, splices) and also
feeds raw random bytes, then runs the full dispatcher on them in memory. Each example must finish
within the deadline, raise nothing, and stay under a memory ceiling. HDF5 seeds are left out: those
bytes go to the HDF5 C library, which is not ours to fuzz here.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwarden.artifacts import pickle_vm as vm
from modelwarden.artifacts.zip import entry_data, read_listing
from modelwarden.scan.context import Ctx, Limits, Scope, Sink
from modelwarden.scan.engine import analyse_buffer
from tests.scan import corpus

# Tight limits so that a mutated length cannot make one example slow; the code paths are the same.
LIMITS = Limits(
    max_pickle_ops=200_000,
    max_entry_bytes=8 << 20,
    max_stream_bytes=16 << 20,
    bomb_min_bytes=1 << 20,
    max_zip_entries=2_000,
    max_json_bytes=1 << 20,
    max_template_chars=1 << 16,
)
MEMORY_CEILING = 96 << 20
# Fuzzed protocol-0 strings carry invalid escapes; pickletools and jinja2 warn about them.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _seeds() -> dict[str, bytes]:
    import joblib
    import safetensors.numpy
    import torch

    seeds: dict[str, bytes] = {}
    sd = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.zeros(2, dtype=torch.bfloat16)}
    seeds["torch_zip"] = corpus._torch_bytes(sd)
    seeds["torch_legacy"] = corpus._torch_bytes(sd, legacy=True)
    seeds["pickle_evil"] = pickle.dumps(corpus._Reduce(os.system, "true"), protocol=4)
    seeds["pickle_p0"] = pickle.dumps({"a": [1, 2.5, "x", b"y"], "b": (None, True)}, protocol=0)
    seeds["pickle_tensor"] = pickle.dumps({"w": torch.ones(2)}, protocol=2)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joblib.dump({"a": np.arange(4.0), "o": np.array(["x"], dtype=object)}, buf)
    seeds["joblib"] = buf.getvalue()
    buf = io.BytesIO()
    np.save(buf, np.zeros((2, 2), dtype=np.float32))
    seeds["npy"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez_compressed(buf, a=np.zeros(3), b=np.array([1], dtype=object))
    seeds["npz"] = buf.getvalue()
    seeds["safetensors"] = safetensors.numpy.save({"a": np.zeros(3, dtype=np.float32)}, {"k": "v"})
    return seeds


def _file_seeds(tmp: Path) -> dict[str, bytes]:

    seeds = {}
    seeds["gguf"] = corpus._gguf(tmp / "s.gguf", corpus.CHATML_TEMPLATE).read_bytes()
    seeds["onnx"] = corpus._onnx_model(domain="com.microsoft", op="X").SerializeToString()
    seeds["savedmodel"] = (
        corpus._saved_model(tmp / "sm", [("a", "PyFunc")], [("b", "ReadFile")])
        .joinpath("saved_model.pb")
        .read_bytes()
    )
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": []}}))
        z.writestr("metadata.json", "{}")
        z.writestr("tokenizer_config.json", json.dumps({"chat_template": corpus.LLAMA3_TEMPLATE}))
    seeds["keras_zip"] = zbuf.getvalue()
    return seeds


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    all_seeds = {**_seeds(), **_file_seeds(tmp_path_factory.mktemp("fuzz"))}
    return sorted(all_seeds.items())


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, pos, value in ops:
        if not out:
            out.append(value & 0xFF)
            continue
        at = pos % len(out)
        if kind == 0:
            out[at] = value & 0xFF
        elif kind == 1:
            out.insert(at, value & 0xFF)
        elif kind == 2:
            del out[at]
        elif kind == 3:
            del out[at:]
        elif kind == 4:
            out[at : at + 8] = struct.pack("<Q", (value * 0x9E3779B97F4A7C15) & (2**64 - 1))
        else:
            out[at:at] = out[: value % 64]
    return bytes(out)


def _analyse(data: bytes, name: str) -> None:
    sink = Sink(limits=LIMITS)
    ctx = Ctx(sink=sink, dispatch=analyse_buffer, limits=LIMITS)
    tracemalloc.start()
    try:
        analyse_buffer(data, Scope(file=name, name=name), ctx)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_CEILING, peak
    for f in sink.finish():
        assert f.rule_id and f.message


_NAMES = ["model.bin", "saved_model.pb", "model.onnx", "config.json", "chat_template.jinja", "x.safetensors"]
_OPS = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 2**20), st.integers(0, 2**16)), min_size=1, max_size=8
)
FUZZ = settings(
    max_examples=1500,
    deadline=3000,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)


@pytest.mark.slow
@pytest.mark.timeout(300)
@FUZZ
@given(data=st.data(), ops=_OPS, name=st.sampled_from(_NAMES))
def test_mutated_artifacts_never_crash(
    seeds: list[tuple[str, bytes]], data: st.DataObject, ops: list[tuple[int, int, int]], name: str
) -> None:
    _kind, seed = data.draw(st.sampled_from(seeds))
    _analyse(_mutate(seed, ops), name)


@pytest.mark.slow
@pytest.mark.timeout(300)
@FUZZ
@given(
    raw=st.binary(max_size=2048),
    prefix=st.sampled_from(
        [
            b"",
            b"\x80\x04",
            b"\x80\x02",
            b"PK\x03\x04",
            b"GGUF\x03\x00\x00\x00",
            b"\x93NUMPY\x01\x00",
            b"\x08\x07\x12",
            b"(",
            b"{",
        ]
    ),
)
def test_random_bytes_never_crash(raw: bytes, prefix: bytes) -> None:
    _analyse(prefix + raw, "model.bin")


@pytest.mark.timeout(300)
@settings(max_examples=1500, deadline=2000, database=None)
@given(raw=st.binary(max_size=4096))
def test_pickle_walker_on_random_streams(raw: bytes) -> None:
    for stream in (raw, b"\x80\x04" + raw, b"(" + raw):
        traces = vm.walk_all(stream, max_ops=100_000)
        for trace in traces:
            assert trace.error is None or trace.error_pos is not None
            assert trace.ops <= 100_000
            list(vm.iter_nodes(trace.result, max_nodes=10_000))


@pytest.mark.timeout(300)
@settings(
    max_examples=1000,
    deadline=2000,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS)
def test_zip_reader_on_mutated_archives(
    seeds: list[tuple[str, bytes]], ops: list[tuple[int, int, int]]
) -> None:
    zipped = [s for k, s in seeds if k in ("torch_zip", "npz", "keras_zip")]
    for seed in zipped:
        data = _mutate(seed, ops)
        listing = read_listing(data, LIMITS)
        for entry in listing.entries[:50]:
            got = entry_data(data, entry, LIMITS)
            assert got.data is None or len(got.data) <= LIMITS.max_entry_bytes
