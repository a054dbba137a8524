"""Pickle analysis: the allowlist policy, name resolution, nested pickles, joblib streams, evidence.

Malicious pickles are dumped (or written opcode by opcode), never loaded.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tracemalloc
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

from modelwarden.model import Severity
from modelwarden.scan import scan_paths
from modelwarden.scan.policy import Tier, load_policy
from tests.scan.corpus import _Reduce, _su, _unicode


def _scan_bytes(
    tmp_path: Path, data: bytes, name: str = "model.pkl"
) -> list[tuple[str, Severity, str | None]]:
    path = tmp_path / name
    path.write_bytes(data)
    report = scan_paths([path], hash_files=False)
    assert not report.problems
    return [(f.rule_id, f.severity, f.evidence) for f in report.findings]


@pytest.mark.parametrize(
    ("module", "name", "protocol", "tier"),
    [
        ("torch._utils", "_rebuild_tensor_v2", 2, Tier.ALLOW),
        ("torch", "BFloat16Storage", 2, Tier.ALLOW),
        ("torch", "float8_e4m3fn", 4, Tier.ALLOW),
        ("collections", "OrderedDict", 2, Tier.ALLOW),
        ("__builtin__", "set", 2, Tier.ALLOW),  # protocol 2 writes builtins as __builtin__
        ("__builtin__", "xrange", 2, Tier.ALLOW),  # ... and range as xrange
        ("numpy._core.multiarray", "_reconstruct", 4, Tier.ALLOW),
        ("numpy.dtypes", "Float32DType", 4, Tier.ALLOW),
        ("torch.serialization", "_get_layout", 2, Tier.ALLOW),  # exact entry beats the dangerous module
        ("torch.storage", "_load_from_bytes", 2, Tier.NESTED),
        ("argparse", "Namespace", 4, Tier.TRAINING),
        ("transformers.trainer_utils", "IntervalStrategy", 2, Tier.TRAINING),
        ("torch.nn.modules.linear", "Linear", 2, Tier.LIBRARY),
        ("posix", "system", 4, Tier.DANGEROUS),
        ("os.path", "join", 4, Tier.DANGEROUS),  # submodules of dangerous modules
        ("asyncio.subprocess", "create_subprocess_shell", 4, Tier.DANGEROUS),
        ("__builtin__", "eval", 2, Tier.DANGEROUS),
        ("__builtin__", "getattr", 0, Tier.DANGEROUS),
        ("commands", "getoutput", 2, Tier.DANGEROUS),  # mapped to subprocess by fix_imports
        ("torch.serialization", "os.system", 4, Tier.DANGEROUS),  # attribute traversal
        ("numpy", "load", 4, Tier.DANGEROUS),
        ("pip", "main", 2, Tier.DANGEROUS),
        ("torch.fx.graph_module", "reduce_graph_module", 2, Tier.DANGEROUS),
        ("mylib.models", "MyNet", 4, Tier.UNKNOWN),
        ("__main__", "Net", 2, Tier.UNKNOWN),
        ("collections", "OrderedDict.fromkeys", 4, Tier.UNKNOWN),  # traversal through an allowed class
        ("os system", "x", 2, Tier.UNKNOWN),  # not an import path at all
    ],
)
def test_policy_tiers(module: str, name: str, protocol: int, tier: Tier) -> None:
    assert load_policy().classify(module, name, protocol=protocol).tier is tier


def test_py2_names_are_mapped_only_for_protocols_below_3() -> None:
    policy = load_policy()
    assert policy.classify("__builtin__", "set", protocol=2).qualname == "builtins.set"
    # A protocol 3+ loader does not map: "__builtin__" is just an unknown module there.
    assert policy.classify("__builtin__", "set", protocol=4).tier is Tier.UNKNOWN
    assert policy.classify("builtins", "set", protocol=4).tier is Tier.ALLOW


def test_torchscript_names_are_allowed_only_in_torchscript_archives() -> None:
    policy = load_policy()
    name = ("__torch__.torch.nn.modules.linear", "Linear")
    assert policy.classify(*name, protocol=2, context="torchscript").tier is Tier.ALLOW
    assert policy.classify(*name, protocol=2, context="torch").tier is Tier.UNKNOWN


def test_call_arguments_are_the_evidence(tmp_path: Path) -> None:
    found = _scan_bytes(tmp_path, pickle.dumps(_Reduce(os.system, "echo pwned"), protocol=2))
    assert ("pickle.dangerous-import", Severity.CRITICAL, "posix.system('echo pwned')") in found


def test_self_containing_argument_is_described_without_endless_recursion(tmp_path: Path) -> None:
    # Found by the fuzz test: a list appended to itself through the memo made the evidence
    # printer recurse forever.
    loop: list[object] = []
    loop.append(loop)
    found = _scan_bytes(tmp_path, pickle.dumps(_Reduce(os.system, loop), protocol=2))
    critical = [f for f in found if f[0] == "pickle.dangerous-import"]
    assert critical and critical[0][1] is Severity.CRITICAL
    assert critical[0][2] is not None and critical[0][2].startswith("posix.system([[[")


@pytest.mark.parametrize("codec", ["lat\x00in1", "rot13", "no-such-codec"])
def test_hostile_codec_names_in_protocol2_bytes_are_not_decoded(tmp_path: Path, codec: str) -> None:
    # Found by the fuzz test: protocol 2 spells bytes as _codecs.encode(text, codec); the codec name
    # is attacker-controlled and must not crash the evidence printer.
    data = (
        b"\x80\x02cposix\nsystem\nq\x00c_codecs\nencode\nq\x01X\x02\x00\x00\x00hiq\x02X"
        + len(codec.encode()).to_bytes(4, "little")
        + codec.encode()
        + b"\x86q\x03Rq\x04\x85q\x05Rq\x06."
    )
    found = _scan_bytes(tmp_path, data)
    assert any(rule == "pickle.dangerous-import" and sev is Severity.CRITICAL for rule, sev, _ in found)


def test_repeated_imports_are_reported_once_with_a_count(tmp_path: Path) -> None:
    data = b"(" + b"cos\nsystem\n(S'true'\ntR" * 50 + b"l."  # 50 GLOBALs (pickle would memoise one)
    path = tmp_path / "many.pkl"
    path.write_bytes(data)
    report = scan_paths([path], hash_files=False)
    dangerous = [f for f in report.findings if f.rule_id == "pickle.dangerous-import"]
    assert len(dangerous) == 1
    assert "(50 occurrences)" in dangerous[0].message


def test_plainly_pickled_tensor_is_a_low_nested_pickle_not_an_alarm(tmp_path: Path) -> None:
    # pickle.dumps(tensor) stores the storage as torch.save bytes loaded by _load_from_bytes.
    found = _scan_bytes(tmp_path, pickle.dumps({"w": torch.ones(3)}, protocol=2))
    assert [r for r, s, _ in found if s.at_least(Severity.MEDIUM)] == []
    assert ("pickle.nested-pickle", Severity.LOW, "torch.storage._load_from_bytes") in found


def test_nested_loader_with_computed_bytes_is_critical(tmp_path: Path) -> None:
    # torch.storage._load_from_bytes(bytes.fromhex(...)): the bytes only exist at load time.
    data = (
        b"\x80\x04"
        + _su("torch.storage")
        + _su("_load_from_bytes")
        + b"\x93"
        + _su("builtins")
        + _su("bytes.fromhex")
        + b"\x93"
        + _su("80")
        + b"\x85R\x85R."
    )
    found = _scan_bytes(tmp_path, data)
    assert any(r == "pickle.dynamic-nested-load" and s is Severity.CRITICAL for r, s, _ in found)


def test_nested_malicious_pickle_is_located_inside_the_outer_one(tmp_path: Path) -> None:
    inner = pickle.dumps(_Reduce(os.system, "true"), protocol=2)
    outer = pickle.dumps(_Reduce(pickle.loads, inner), protocol=2)  # bytes travel as _codecs.encode
    path = tmp_path / "nested.pkl"
    path.write_bytes(outer)
    report = scan_paths([path], hash_files=False)
    posix = [f for f in report.findings if f.evidence == "posix.system('true')"]
    assert posix and "bytes loaded by" in (posix[0].location.entry or "")
    assert any(f.evidence == "pickle.loads(<36 bytes>)" for f in report.findings)


def test_unresolved_stack_global_is_critical(tmp_path: Path) -> None:
    # STACK_GLOBAL whose module name is the result of a call.
    data = (
        b"\x80\x04"
        + _su("builtins")
        + _su("str")
        + b"\x93"
        + _su("os")
        + b"\x85R"
        + _su("system")
        + b"\x93N."
    )
    found = _scan_bytes(tmp_path, data)
    assert any(r == "pickle.unresolved-import" and s is Severity.CRITICAL for r, s, _ in found)


def test_payload_before_a_break_is_still_reported(tmp_path: Path) -> None:
    data = pickle.dumps(_Reduce(os.system, "true"), protocol=4)
    found = _scan_bytes(tmp_path, data[:-1] + b"\xfe")
    rules = {r for r, _, _ in found}
    assert {"pickle.dangerous-import", "pickle.malformed"} <= rules


def test_clean_pickle_with_trailing_garbage_is_low(tmp_path: Path) -> None:
    found = _scan_bytes(tmp_path, pickle.dumps({"a": 1}) + b"GARBAGE-TRAILER")
    assert [(r, s) for r, s, _ in found] == [("pickle.trailing-data", Severity.LOW)]


def test_whole_pickled_module_names_its_classes(tmp_path: Path) -> None:
    buf = io.BytesIO()
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), buf)
    found = _scan_bytes(tmp_path, buf.getvalue(), "model.pt")
    assert ("pickle.library-class", Severity.LOW, "torch.nn.modules.linear.Linear") in found
    assert [r for r, s, _ in found if s.at_least(Severity.MEDIUM)] == []


def test_joblib_array_bytes_are_skipped_not_parsed(tmp_path: Path) -> None:
    # Array bytes that happen to look like opcodes (0x80 0x02 'c' ...) must not be read as pickle.
    tricky = np.frombuffer(b"\x80\x02cos\nsystem\n" + bytes(16), dtype=np.uint8).copy()
    path = tmp_path / "arrays.joblib"
    joblib.dump({"a": tricky, "b": np.arange(10.0), "c": np.zeros((3, 3), dtype=np.int16)}, path)
    report = scan_paths([path], hash_files=False)
    assert report.findings == []


def test_joblib_object_array_payload_is_analysed(tmp_path: Path) -> None:
    path = tmp_path / "obj.joblib"
    joblib.dump({"a": np.arange(3.0), "o": np.array([_Reduce(os.system, "true")], dtype=object)}, path)
    report = scan_paths([path], hash_files=False)
    hits = [f for f in report.findings if f.rule_id == "pickle.dangerous-import"]
    assert hits and "object array pickle" in (hits[0].location.entry or "")


def test_compressed_pickle_bomb_is_bounded(tmp_path: Path) -> None:
    # A gzip'ed pickle declaring a 2 GiB bytes literal: refused at the per-argument cap, not allocated.
    body = b"\x80\x04\x8e" + (2 << 30).to_bytes(8, "little")
    path = tmp_path / "bomb.pkl.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(body)
        fh.write(bytes(64 << 20))
    tracemalloc.start()
    report = scan_paths([path], hash_files=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert any(f.rule_id in ("pickle.too-complex", "pickle.malformed") for f in report.findings)
    assert peak < 64 << 20


def test_protocol_0_and_1_calls_are_resolved(tmp_path: Path) -> None:
    inst = b"(" + b"S'true'\n" + b"isubprocess\ngetoutput\n."
    found = _scan_bytes(tmp_path, inst)
    assert ("pickle.dangerous-import", Severity.CRITICAL, "subprocess.getoutput('true')") in found
    obj = b"(cbuiltins\nexec\n" + _unicode("pass") + b"o."
    assert any(e == "builtins.exec('pass')" for _, _, e in _scan_bytes(tmp_path, obj))
