"""The fast opcode decoder (`walk`) against the reference walk over `pickletools.genops` (`walk_reader`).

`walk` decodes opcodes from windows of bytes and hands anything unusual (a truncated or malformed
argument, an unknown opcode, an argument larger than its window cap) to genops from that opcode on.
Every trace it produces must equal the reference's: the same imports, calls, positions, opcode counts,
errors and error positions, and the same object graph. Pickles here are made by the real `pickle`,
`torch` and `joblib` writers and then damaged; nothing is ever loaded.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwarden.artifacts import pickle_vm as vm

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # invalid escapes in fuzzed text


class _System:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("true",))


def _canon(value: Any, seen: dict[int, int], depth: int = 0) -> Any:
    """A comparable form of a symbolic value: shared objects become back-references."""
    if depth > 200:
        return "<deep>"
    if isinstance(value, vm.Global):
        return ("G", value.module, value.name, value.opcode, value.pos, value.index, value.resolved)
    if isinstance(value, float):
        return ("f", "nan" if math.isnan(value) else repr(value))
    if not isinstance(value, list | tuple | vm.SymDict | vm.SymSet | vm.Call | vm.PersistentId | vm.Opaque):
        return (type(value).__name__, value)
    if id(value) in seen:
        return ("ref", seen[id(value)])
    seen[id(value)] = len(seen)
    d = depth + 1
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_canon(v, seen, d) for v in value])
    if isinstance(value, vm.SymDict):
        return ("dict", [(_canon(k, seen, d), _canon(v, seen, d)) for k, v in value.items])
    if isinstance(value, vm.SymSet):
        return ("set", value.frozen, [_canon(v, seen, d) for v in value.items])
    if isinstance(value, vm.PersistentId):
        return ("pid", value.pos, _canon(value.pid, seen, d))
    if isinstance(value, vm.Opaque):
        return ("opaque", value.reason)
    return (
        "call",
        value.kind,
        value.pos,
        value.index,
        _canon(value.func, seen, d),
        _canon(value.args, seen, d),
        _canon(value.kwargs, seen, d),
        value.has_state,
        _canon(value.state, seen, d),
        [(_canon(k, seen, d), _canon(v, seen, d)) for k, v in value.setitems],
        [_canon(v, seen, d) for v in value.appends],
    )


def _trace_form(t: vm.PickleTrace) -> tuple[Any, ...]:
    seen: dict[int, int] = {}
    return (
        t.start,
        t.end,
        t.protocol,
        t.complete,
        t.ops,
        t.error,
        t.error_pos,
        [_canon(g, seen) for g in t.imports],
        [_canon(c, seen) for c in t.calls],
        [_canon(p, seen) for p in t.persistent_ids],
        [(pos, type(b).__name__, b) for pos, b in t.byte_strings],
        [(a.pos, a.index, a.message) for a in t.anomalies],
        _canon(t.result, seen),
    )


def _assert_same(data: bytes, start: int = 0, max_ops: int = vm.DEFAULT_MAX_OPS) -> vm.PickleTrace:
    fast = vm.walk(data, start, max_ops=max_ops)
    reference = vm.walk_reader(vm.BufferReader(data, start), max_ops=max_ops)
    assert _trace_form(fast) == _trace_form(reference)
    return fast


def _torch_data_pkl(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))


def _torch_legacy(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def _samples() -> dict[str, bytes]:
    sd = OrderedDict(
        (f"layers.{i}.weight", torch.zeros(2, 3, dtype=torch.float16 if i % 2 else torch.float32))
        for i in range(20)
    )
    nested = {"model": sd, "optimizer": {"lr": 1e-3, "betas": (0.9, 0.99), "step": 2**70, "neg": -5}}
    out = {
        "torch_zip": _torch_data_pkl(sd),
        "torch_checkpoint": _torch_data_pkl(nested),
        "torch_legacy": _torch_legacy(sd),
        "evil_p4": pickle.dumps(_System(), protocol=4),
        "evil_p2": pickle.dumps(_System(), protocol=2),
        "evil_p0": pickle.dumps(_System(), protocol=0),
    }
    mixed = {
        "s": "x" * 300,
        "u": "é\U0001f600",
        "b": b"y" * 300,
        "ba": bytearray(b"z" * 10),
        "f": 1.5,
        "i": [0, 255, 65535, 2**31 - 1, -(2**31), 2**64, -(2**200)],
        "t": ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)),
        "set": {1, 2},
        "fs": frozenset({3}),
        "none": [None, True, False],
        "od": OrderedDict(a=1),
    }
    for proto in range(6):
        out[f"mixed_p{proto}"] = pickle.dumps(mixed, protocol=proto)
    return out


SAMPLES = _samples()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_fast_walk_equals_genops_on_real_pickles(name: str) -> None:
    trace = _assert_same(SAMPLES[name])
    assert trace.complete and trace.error is None


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_well_formed_pickles_need_no_fallback(name: str) -> None:
    # The equality tests above would also pass if `walk` always fell back to genops: this one checks
    # that the fast decoder reaches STOP by itself on what real writers produce.
    machine = vm._Machine(vm.PickleTrace(start=0, end=0))
    state = vm._FastState()
    assert vm._walk_fast(machine, SAMPLES[name], 0, vm.DEFAULT_MAX_OPS, state) is None
    assert machine.t.complete


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_fast_walk_equals_genops_on_every_truncation(name: str) -> None:
    data = SAMPLES[name]
    step = max(1, len(data) // 300)
    for cut in range(0, len(data), step):
        _assert_same(data[:cut])


def test_every_pickle_of_a_legacy_checkpoint_is_walked_the_same() -> None:
    data = SAMPLES["torch_legacy"]
    fast = vm.walk_all(data, max_pickles=5)
    reference = []
    pos = 0
    for _ in range(5):
        t = vm.walk_reader(vm.BufferReader(data, pos))
        reference.append(t)
        pos = t.end
    assert [_trace_form(t) for t in fast] == [_trace_form(t) for t in reference]
    assert len(fast) == 5 and all(t.complete for t in fast)


def test_pickle_longer_than_the_first_window() -> None:
    # Opcodes straddle the 64 KiB window boundary at every offset class; protocol 0 text opcodes too.
    obj = [(f"k{i}", i * 7919, b"\x00" * (i % 13)) for i in range(20_000)]
    for proto in (0, 2, 4):
        data = pickle.dumps(obj, protocol=proto)
        assert len(data) > vm._FIRST_WINDOW
        trace = _assert_same(data)
        assert trace.complete
        _assert_same(data[: len(data) // 2 + 1])  # truncated beyond the first window


def test_argument_larger_than_a_window_and_larger_than_the_cap() -> None:
    for size in (vm._FIRST_WINDOW * 3, vm._MAX_WINDOW + 10):
        data = pickle.dumps([b"a" * size, "after"], protocol=4)
        trace = _assert_same(data)
        assert trace.complete and trace.byte_strings[0][1] == b"a" * size


def test_huge_declared_lengths_are_truncation_errors_in_both() -> None:
    for op, width in ((b"\x8e", 8), (b"\x8d", 8), (b"B", 4), (b"X", 4), (b"\x96", 8)):
        data = b"\x80\x04" + op + (2**31 - 1).to_bytes(width, "little") + b"abc"
        trace = _assert_same(data)
        assert trace.error is not None and "truncated" in trace.error


def test_invalid_utf8_and_unknown_opcodes_report_as_genops() -> None:
    for data in (
        b"\x80\x04\x8c\x02\xff\xfe.",  # SHORT_BINUNICODE with invalid UTF-8
        b"\x80\x02X\x02\x00\x00\x00\xff\xfe.",  # BINUNICODE with invalid UTF-8
        pickle.dumps(_System(), protocol=2)[:-1] + b"\xff\xff.",
        b"\x80\x04N\x00.",
    ):
        trace = _assert_same(data)
        assert trace.error is not None


def test_handler_errors_and_the_op_cap_stop_at_the_same_place() -> None:
    for data in (
        b"\x80\x04h\x05.",  # BINGET of a memo key never written
        b"\x80\x04q\x00.",  # BINPUT on an empty stack
        b"\x80\x04R.",  # REDUCE with nothing to call
        b"\x80\x04(N\x85\x94u.",  # SETITEMS on a tuple: anomaly, then the walk goes on
        b"\x80\x04" + b"N0" * 1000 + b"N.",
    ):
        _assert_same(data)
        _assert_same(data, max_ops=50)


def test_walks_starting_inside_a_buffer() -> None:
    one = pickle.dumps({"a": 1}, protocol=2)
    evil = pickle.dumps(_System(), protocol=2)
    data = one + evil + b"trailing"
    trace = _assert_same(data, len(one))
    assert trace.start == len(one) and [g.name for g in trace.imports] == ["system"]


_MUTATIONS = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 2**20), st.integers(0, 2**16)), min_size=1, max_size=6
)


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
        else:
            out[at : at + 4] = struct.pack("<I", (value * 2654435761) & 0xFFFFFFFF)
    return bytes(out)


@pytest.mark.timeout(300)
@settings(
    max_examples=800,
    deadline=2000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(name=st.sampled_from(sorted(SAMPLES)), ops=_MUTATIONS)
def test_fast_walk_equals_genops_on_mutated_pickles(name: str, ops: list[tuple[int, int, int]]) -> None:
    data = _mutate(SAMPLES[name], ops)
    _assert_same(data, max_ops=100_000)


@pytest.mark.timeout(300)
@settings(max_examples=800, deadline=2000, database=None)
@given(raw=st.binary(max_size=2048), prefix=st.sampled_from([b"", b"\x80\x04", b"\x80\x02", b"("]))
def test_fast_walk_equals_genops_on_random_bytes(raw: bytes, prefix: bytes) -> None:
    _assert_same(prefix + raw, max_ops=100_000)
