"""The symbolic pickle machine, on pickles made by the real `pickle` and `torch` modules.

Malicious samples are only ever *dumped* here (which runs nothing of theirs), never loaded.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict

import pytest
import torch

from modelwarden.artifacts import pickle_vm as vm


class _System:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, ("true",))


def _data_pkl(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        return z.read(name)


def _rebuild_calls(result: object) -> dict[str, vm.Call]:
    return {
        ".".join(map(str, path)): node
        for path, node in vm.iter_nodes(result)
        if isinstance(node, vm.Call) and (node.func_name or "").startswith("torch._utils._rebuild")
    }


def test_state_dict_tensors_are_recovered_without_loading() -> None:
    sd = OrderedDict(w=torch.zeros(3, 4), h=torch.ones(5, dtype=torch.float16))
    trace = vm.walk(_data_pkl(sd))
    assert trace.complete and trace.error is None
    calls = _rebuild_calls(trace.result)
    assert set(calls) == {"w", "h"}
    assert calls["w"].args[2] == (3, 4)
    storage = calls["h"].args[0].pid
    assert storage[0] == "storage" and storage[1].qualname == "torch.HalfStorage" and storage[4] == 5


def test_shared_tensor_is_seen_at_both_paths() -> None:
    t = torch.zeros(2, 2)
    trace = vm.walk(_data_pkl({"emb": t, "head": t}))
    calls = _rebuild_calls(trace.result)
    assert set(calls) == {"emb", "head"}
    assert calls["emb"] is calls["head"]


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_reduce_import_is_reported_for_every_protocol(protocol: int) -> None:
    trace = vm.walk(pickle.dumps(_System(), protocol=protocol))
    assert [g.qualname for g in trace.imports] in (["posix.system"], ["nt.system"])
    assert trace.calls and trace.calls[0].kind == "reduce"


def test_stack_global_names_from_memo_are_resolved() -> None:
    # 'os' and 'system' are pushed, memoised, popped, then fetched back with BINGET before STACK_GLOBAL:
    # the adjacent-string heuristic of some scanners misses this.
    data = (
        b"\x80\x04"
        b"\x8c\x02os\x94"  # SHORT_BINUNICODE 'os', MEMOIZE (0)
        b"\x8c\x06system\x94"  # 'system', MEMOIZE (1)
        b"0"  # POP
        b"0"  # POP
        b"h\x00h\x01\x93"  # BINGET 0, BINGET 1, STACK_GLOBAL
        b"\x8c\x04true\x85R."  # 'true', TUPLE1, REDUCE, STOP
    )
    trace = vm.walk(data)
    assert trace.error is None
    assert [(g.qualname, g.opcode) for g in trace.imports] == [("os.system", "STACK_GLOBAL")]


def test_inst_and_obj_are_imports_and_calls() -> None:
    inst = b"(S'true'\nios\nsystem\n."
    trace = vm.walk(inst)
    assert [g.qualname for g in trace.imports] == ["os.system"]
    assert trace.calls[0].kind == "inst"
    obj = b"\x80\x02(cos\nsystem\nX\x04\x00\x00\x00trueo."
    trace = vm.walk(obj)
    assert [g.qualname for g in trace.imports] == ["os.system"]
    assert trace.calls[0].kind == "obj"


def test_ext_opcode_is_an_opaque_import() -> None:
    trace = vm.walk(b"\x80\x02\x82\x07)R.")
    assert trace.imports[0].module == "copyreg._extension_registry"
    assert trace.imports[0].opcode == "EXT1"


def test_truncated_stream_keeps_what_came_before() -> None:
    data = pickle.dumps(_System(), protocol=4)
    trace = vm.walk(data[:-1])  # drop STOP: a loader would already have called os.system
    assert not trace.complete
    assert trace.error is not None and ("STOP" in trace.error or "truncated" in trace.error)
    assert [g.name for g in trace.imports] == ["system"]


def test_invalid_opcode_after_payload_is_an_error_not_a_crash() -> None:
    data = pickle.dumps(_System(), protocol=2)[:-1] + b"\xff\xff."
    trace = vm.walk(data)
    assert trace.error is not None and "invalid opcode" in trace.error
    assert trace.imports and trace.calls


def test_huge_declared_length_allocates_nothing() -> None:
    data = b"\x80\x04\x8e" + (2**62).to_bytes(8, "little") + b"abc"  # BINBYTES8 claiming 4 EiB
    trace = vm.walk(data)
    assert trace.error is not None and "truncated" in trace.error


def test_consecutive_pickles_are_all_walked() -> None:
    one = pickle.dumps({"a": 1}, protocol=2)
    bad = pickle.dumps(_System(), protocol=2)
    traces = vm.walk_all(one + one + bad)
    assert len(traces) == 3
    assert traces[2].imports[0].name == "system"


def test_op_cap_stops_long_streams() -> None:
    data = b"\x80\x04" + b"N0" * 1000 + b"N."
    trace = vm.walk(data, max_ops=100)
    assert trace.error is not None and "opcodes" in trace.error


def test_self_referencing_list_does_not_loop() -> None:
    lst: list[object] = []
    lst.append(lst)
    trace = vm.walk(pickle.dumps(lst, protocol=2))
    nodes = list(vm.iter_nodes(trace.result))
    assert len(nodes) == 2  # the list, then the same list again (not expanded twice)


def _fields(t: vm.PickleTrace) -> str:
    # repr: symbolic objects inside calls compare by identity, their text is what matters here
    return repr((t.start, t.end, t.protocol, t.complete, t.ops, t.imports, t.calls, t.error, t.error_pos))


@pytest.mark.parametrize("truncate", [False, True])
def test_windowed_walk_equals_the_streaming_walk(monkeypatch: pytest.MonkeyPatch, truncate: bool) -> None:
    # Pickles longer than the in-memory window are walked again over a larger one, then from the buffer
    # itself: every outcome (imports, calls, positions, errors) must match the plain reader's.
    monkeypatch.setattr(vm, "_FIRST_WINDOW", 64)
    monkeypatch.setattr(vm, "_MAX_WINDOW", 1024)
    prefix = pickle.dumps(1, protocol=2)  # a second pickle after the first, as in legacy checkpoints
    for size in (10, 500, 5_000):  # inside the first window, a grown window, past the largest
        payload = pickle.dumps([b"x" * size, _System()], protocol=2)
        data = prefix + (payload[:-5] if truncate else payload)
        windowed = vm.walk(data, len(prefix))
        streamed = vm.walk_reader(vm.BufferReader(data, len(prefix)))
        assert _fields(windowed) == _fields(streamed)
        names = {f"{g.module}.{g.name}" for g in windowed.imports}
        assert names & {"posix.system", "nt.system"}
        assert windowed.complete is not truncate


# Protocol per opcode and frames: the same answers from the fast decoder and from genops.
_FRAMED_CROSSING = (
    b"\x80\x04\x95" + (5).to_bytes(8, "little") + b"\x8c\x05posix\x8c\x06system\x93\x8c\x02id\x85R."
)


def _both_paths(data: bytes) -> list[vm.PickleTrace]:
    return [vm.walk(data), vm.walk_reader(vm.BufferReader(data, 0))]


def test_each_import_records_the_protocol_in_force_at_its_opcode() -> None:
    data = b"\x80\x02c__builtin__\neval\n\x80\x04\x8c\x08builtins\x8c\x03len\x93N."
    for trace in _both_paths(data):
        assert [(g.qualname, g.protocol) for g in trace.imports] == [
            ("__builtin__.eval", 2),
            ("builtins.len", 4),
        ]
        assert trace.protocol == 4  # the stream's last PROTO: what the scanner used to judge by


def test_an_opcode_crossing_a_frame_end_is_an_ambiguity_on_both_paths() -> None:
    for trace in _both_paths(_FRAMED_CROSSING):
        assert trace.complete
        assert [a.message for a in trace.ambiguities] == [
            "an opcode at byte 11 crosses the end of the frame at byte 16"
        ]


def test_frames_written_by_pickle_are_not_ambiguous() -> None:
    data = pickle.dumps([bytes(70_000), list(range(30_000)), "x" * 100_000], protocol=5)
    for trace in _both_paths(data):
        assert trace.complete and len(trace.frames) > 1 and trace.ambiguities == []
