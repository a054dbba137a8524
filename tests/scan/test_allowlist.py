"""The exact allowlist and the fail-closed verdict (issue 15, bypass classes 1, 2, 7, 8, 9, 10).

Hostile pickles are written opcode by opcode, never loaded. The allowlist's claims are checked against
the real libraries: every entry is exact, says why, and names what it really is.
"""

from __future__ import annotations

import importlib
import json
import pickle
import struct
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from modelwarden.model import Severity
from modelwarden.report.json import scan_json as to_json
from modelwarden.report.sarif import scan_sarif as to_sarif_json
from modelwarden.scan import scan_paths
from modelwarden.scan.policy import Tier, load_policy
from tests.scan.corpus import _unicode
from tests.support.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _findings(tmp_path: Path, data: bytes, name: str = "model.pkl") -> list[tuple[str, Severity, str | None]]:
    path = tmp_path / name
    path.write_bytes(data)
    report = scan_paths([path], hash_files=False)
    return [(f.rule_id, f.severity, f.evidence) for f in report.findings]


def _generated() -> dict[str, dict[str, Any]]:
    """name -> {tier, kind, why, new_only}, decoded from the compact file."""
    text = resources.files("modelwarden.scan").joinpath("data/pickle_allowlist.json").read_text("utf-8")
    data = json.loads(text)
    reasons = data["reasons"]
    return {
        name: {"tier": tier, "kind": kind, "why": reasons[why], "new_only": bool(new_only)}
        for name, (tier, kind, why, new_only) in data["entries"].items()
    }


# ------------------------------------------------------------------------------------------------------
# The data: exact, explained, generated from the real libraries
# ------------------------------------------------------------------------------------------------------


def test_allowlist_is_exact_and_every_entry_says_why() -> None:
    entries = _generated()
    assert len(entries) > 1000
    for name, spec in entries.items():
        assert "*" not in name and not name.endswith("."), name
        assert spec["tier"] in {"allow", "training", "library"}, name
        assert spec["why"].strip(), name
    # An entry under a dangerous prefix must have been reviewed by name (torch.serialization._get_layout
    # looks a layout up in a fixed table), never swept in by a family.
    policy = load_policy()
    under_dangerous = [n for n in policy.entries.names() if policy._dangerous_prefix(n)]
    assert under_dangerous == ["torch.serialization._get_layout"]
    assert not [n for n in policy.entries.names() if n in policy.dangerous_names]
    policy_text = resources.files("modelwarden.scan").joinpath("data/pickle_policy.yaml").read_text("utf-8")
    assert ".*\n" not in policy_text  # no prefix wildcard survives in the hand-written policy


def test_function_entries_are_what_they_claim_to_be() -> None:
    # A re-export (sklearn.utils._testing.check_output IS subprocess.check_output) must never pass as
    # itself: each allowlisted callable resolves to an object whose own name is an entry too.
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        build = importlib.import_module("build_pickle_allowlist")
    finally:
        sys.path.pop(0)
    entries = _generated()
    checked = 0
    for name, spec in entries.items():
        if spec["kind"] != "function" or spec["why"].startswith("written as"):
            continue
        try:
            obj = build.resolve(name)
        except (ImportError, AttributeError):
            continue  # a library not installed here
        real = build.own_name(obj)
        assert real is None or real == name or real in entries, (name, real)
        checked += 1
    assert checked > 100


def test_class_checks_use_the_real_unpickling_hooks() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        build = importlib.import_module("build_pickle_allowlist")
    finally:
        sys.path.pop(0)
    from sklearn.linear_model import LogisticRegression
    from torch.utils.data.datapipes.datapipe import _IterDataPipeSerializationWrapper

    status, reason, _ = build.check_class(_IterDataPipeSerializationWrapper, {})
    assert status == "dangerous" and "__setstate__ calls loads" in reason
    status, _, new_only = build.check_class(LogisticRegression, {})
    assert status == "ok" and not new_only
    xgboost = pytest.importorskip("xgboost")
    status, reason, new_only = build.check_class(xgboost.core.Booster, {"xgboost.core": "reviewed"})
    assert status == "ok" and new_only and "load_model" in reason


# ------------------------------------------------------------------------------------------------------
# Bypass class 1: wildcard tiers and re-exports
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name", "tier"),
    [
        ("sklearn.utils._testing", "check_output", Tier.DANGEROUS),  # is subprocess.check_output
        ("sklearn.compose._column_transformer", "partial", Tier.DANGEROUS),  # is functools.partial
        ("transformers.utils.hub", "hf_hub_download", Tier.DANGEROUS),
        ("torch.utils.data.dataloader", "_IterDataPipeSerializationWrapper", Tier.DANGEROUS),
        ("sklearn.utils", "some_future_helper", Tier.UNKNOWN),  # no prefix rescues an unknown name
        ("torch.optim.adam", "Adam", Tier.LIBRARY),
        ("sklearn.ensemble._forest", "RandomForestClassifier", Tier.LIBRARY),
        ("transformers.training_args", "TrainingArguments", Tier.TRAINING),
        ("builtins", "len", Tier.ALLOW),
        ("__future__", "annotations", Tier.ALLOW),
        ("idlelib.pyshell", "main", Tier.DANGEROUS),
        ("torch.utils.bottleneck.__main__", "main", Tier.DANGEROUS),
        ("torch.utils.collect_env", "run", Tier.DANGEROUS),
        ("lib2to3.main", "main", Tier.DANGEROUS),
        ("_osx_support", "_read_output", Tier.DANGEROUS),
        ("logging", "FileHandler", Tier.DANGEROUS),
        ("nntplib", "NNTP", Tier.DANGEROUS),
        ("test.support.script_helper", "assert_python_ok", Tier.DANGEROUS),
        ("_pyrepl.pager", "pipe_pager", Tier.DANGEROUS),
    ],
)
def test_exact_allowlist_verdicts(module: str, name: str, tier: Tier) -> None:
    assert load_policy().classify(module, name, protocol=4).tier is tier


def test_an_import_off_the_allowlist_is_high(tmp_path: Path) -> None:
    found = _findings(tmp_path, b"\x80\x02" + _global("mylib.models", "Net") + b")R.")
    assert ("pickle.unknown-import", Severity.HIGH, "mylib.models.Net()") in found


def test_reexported_subprocess_is_critical_and_named(tmp_path: Path) -> None:
    data = b"\x80\x02" + _global("sklearn.utils._testing", "check_output") + _unicode("id") + b"\x85R."
    found = _findings(tmp_path, data)
    assert (
        "pickle.dangerous-import",
        Severity.CRITICAL,
        "sklearn.utils._testing.check_output('id')",
    ) in found


def test_booster_called_with_a_file_argument_is_reported(tmp_path: Path) -> None:
    pytest.importorskip("xgboost")
    data = (
        b"\x80\x02" + _global("xgboost.core", "Booster") + b"N" + b"N" + _unicode("/etc/passwd") + b"\x87R."
    )
    found = _findings(tmp_path, data)
    assert any(r == "pickle.unsafe-constructor" and s is Severity.HIGH for r, s, _ in found)


def test_booster_init_reached_through_copyreg_reconstructor_is_reported(tmp_path: Path) -> None:
    pytest.importorskip("xgboost")
    data = (
        b"\x80\x02"
        + _global("copyreg", "_reconstructor")
        + _global("xgboost.core", "Booster")
        + _global("xgboost.core", "Booster")
        + _unicode("/etc/passwd")
        + b"\x87R."
    )
    found = _findings(tmp_path, data)
    assert any(r == "pickle.unsafe-constructor" and s is Severity.HIGH for r, s, _ in found)


def test_builtins_len_and_future_annotations_are_silent(tmp_path: Path) -> None:
    assert _findings(tmp_path, b"\x80\x04" + _global("builtins", "len") + _unicode("abc") + b"\x85R.") == []
    assert _findings(tmp_path, b"\x80\x04" + _global("__future__", "annotations") + b".") == []


def test_pickled_dict_at_a_zip_root_is_not_flagged(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.pkl", pickle.dumps({"a": 1, "b": [1.0, 2.0]}))
    report = scan_paths([path], hash_files=False)
    assert report.at_or_above(Severity.MEDIUM) == []


# ------------------------------------------------------------------------------------------------------
# Bypass class 2: state that is unpickled
# ------------------------------------------------------------------------------------------------------


def test_datapipe_wrapper_is_critical_and_its_nested_payload_analysed(tmp_path: Path) -> None:
    payload = b"\x80\x04" + _global("posix", "system") + _unicode("id") + b"\x85R."
    data = (
        b"\x80\x04"
        + _global("torch.utils.data.dataloader", "_IterDataPipeSerializationWrapper")
        + b")\x81"  # NEWOBJ: no __init__
        + b"C"
        + bytes([len(payload)])
        + payload
        + b"\x89\x86b."  # (payload, False) BUILD -> __setstate__ runs pickle.loads(payload)
    )
    path = tmp_path / "wrapper.pkl"
    path.write_bytes(data)
    report = scan_paths([path], hash_files=False)
    crit = [f for f in report.findings if f.severity is Severity.CRITICAL]
    assert any("_IterDataPipeSerializationWrapper" in (f.evidence or "") for f in crit)
    nested = [f for f in crit if f.evidence == "posix.system('id')"]
    assert nested and "state unpickled by" in (nested[0].location.entry or "")


# ------------------------------------------------------------------------------------------------------
# Bypass classes 7, 8, 10: protocol per opcode, evidence, old protocols, frames, headerless streams
# ------------------------------------------------------------------------------------------------------


def test_python2_names_use_the_protocol_in_force_at_the_opcode(tmp_path: Path) -> None:
    # The loader maps __builtin__ -> builtins at the GLOBAL (protocol 2 then); a later PROTO 4 must
    # not make the scanner judge the unmapped name.
    data = b"\x80\x02" + _global("__builtin__", "eval") + b"\x80\x04" + _unicode("1") + b"\x85R."
    found = _findings(tmp_path, data)
    assert any(r == "pickle.dangerous-import" and e == "builtins.eval('1')" for r, _, e in found)


def test_a_huge_int_argument_keeps_the_critical_finding(tmp_path: Path) -> None:
    big = b"\x01" * 6000  # > 4,300 decimal digits: repr() raises
    data = b"\x80\x04" + _global("posix", "system") + b"\x8b" + struct.pack("<I", len(big)) + big + b"\x85R."
    found = _findings(tmp_path, data)
    crit = [(r, e) for r, s, e in found if s is Severity.CRITICAL]
    assert crit and crit[0][0] == "pickle.dangerous-import"
    assert crit[0][1] is not None and "<int of" in crit[0][1]


@pytest.mark.parametrize(
    "data",
    [
        b"cposix\nsystem\n(S'id'\ntR\xff\xfe not a pickle any more",  # protocol 0, broken after the call
        b"\x8c\x05posix\x8c\x06system\x93\x8c\x02id\x85R.",  # STACK_GLOBAL operands at byte 0
        b"\x8c\x05posix\x8c\x06system\x93\x8c\x02id\x85R\xff",
        b"N." + b"\x8c\x05posix\x8c\x06system\x93\x8c\x02id\x85R.",  # ... after a first pickle
    ],
)
def test_headerless_pickles_that_run_are_walked(tmp_path: Path, data: bytes) -> None:
    found = _findings(tmp_path, data, name="notes.txt")
    assert ("pickle.dangerous-import", Severity.CRITICAL, "posix.system('id')") in found


def test_an_opcode_crossing_a_frame_end_is_ambiguous(tmp_path: Path) -> None:
    # FRAME of 5 bytes, but the first opcode inside it is 7 bytes long: pickle.load runs on, the
    # pure-Python unpickler raises.
    body = _unicode("posix") + _unicode("system") + b"\x93" + _unicode("id") + b"\x85R."
    data = b"\x80\x04\x95" + struct.pack("<Q", 5) + body
    found = _findings(tmp_path, data)
    assert any(r == "pickle.ambiguous" and s is Severity.CRITICAL for r, s, _ in found)


def test_a_frame_inside_a_frame_is_ambiguous(tmp_path: Path) -> None:
    inner = _unicode("a") + b"."
    data = b"\x80\x04\x95" + struct.pack("<Q", 30) + b"\x95" + struct.pack("<Q", len(inner)) + inner
    found = _findings(tmp_path, data)
    assert any(r == "pickle.ambiguous" for r, _, _ in found)


def test_well_framed_pickles_are_not_ambiguous(tmp_path: Path) -> None:
    data = pickle.dumps({"k": list(range(40_000)), "s": "x" * 70_000}, protocol=5)
    assert not [r for r, _, _ in _findings(tmp_path, data) if r == "pickle.ambiguous"]


# ------------------------------------------------------------------------------------------------------
# Bypass class 9: fail closed
# ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def too_complex(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 5 M no-op opcodes (the analysis limit), then os.system: the scanner cannot see the call.
    path = tmp_path_factory.mktemp("complex") / "padded.pkl"
    path.write_bytes(
        b"\x80\x04" + b"N0" * 2_500_001 + _global("posix", "system") + _unicode("id") + b"\x85R."
    )
    return path


def test_unverified_file_fails_high_and_only_critical_lets_it_pass(too_complex: Path) -> None:
    report = scan_paths([too_complex], hash_files=False)
    assert [(f.rule_id, f.severity) for f in report.findings] == [("pickle.too-complex", Severity.HIGH)]
    summary = json.loads(to_json(report, Severity.HIGH))["summary"]
    assert summary["verdict"] == "fail" and summary["unverified"] == 1
    summary = json.loads(to_json(report, Severity.CRITICAL))["summary"]
    assert summary["verdict"] == "unverified" and summary["failed"] is False
    sarif = json.loads(to_sarif_json(report))
    assert sarif["runs"][0]["properties"]["unverified"] == 1
    assert sarif["runs"][0]["results"][0]["properties"]["unverified"] is True

    high = run_cli("scan", too_complex, "--no-hash", "--fail-on", "high", timeout=300)
    assert high.returncode == 1 and "UNVERIFIED" in high.stdout and "FAIL" in high.stdout
    crit = run_cli("scan", too_complex, "--no-hash", "--fail-on", "critical", timeout=300)
    assert crit.returncode == 0 and "UNVERIFIED" in crit.stdout and "PASS" not in crit.stdout


def test_scan_help_says_only_fail_on_critical_passes_unverified() -> None:
    out = run_cli("scan", "--help").stdout
    assert "UNVERIFIED" in out and "--fail-on critical" in " ".join(out.split())


def test_a_frame_longer_than_the_data_is_ambiguous(tmp_path: Path) -> None:
    body = _unicode("posix") + _unicode("system") + b"\x93" + _unicode("id") + b"\x85R."
    data = b"\x80\x04\x95" + struct.pack("<Q", len(body) + 1000) + body
    found = _findings(tmp_path, data)
    assert any(r == "pickle.ambiguous" and "declares" in (e or "") for r, _, e in found)


@pytest.mark.slow  # imports every module of the seeded packages: about 30 s alone, minutes on a busy machine
def test_the_committed_allowlist_is_what_the_generator_writes(tmp_path: Path) -> None:
    # Data, not hand edits: regenerating from the seeds against the same library versions gives the
    # committed file byte for byte. Other versions may legitimately differ (then regenerate).
    committed = json.loads(
        resources.files("modelwarden.scan").joinpath("data/pickle_allowlist.json").read_text("utf-8")
    )
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        build = importlib.import_module("build_pickle_allowlist")
    finally:
        sys.path.pop(0)
    import yaml

    seeds = yaml.safe_load((ROOT / "scripts" / "pickle_allowlist_seeds.yaml").read_text("utf-8"))
    if build.versions(seeds) != committed["versions"]:
        pytest.skip(f"libraries differ from the generator's run: {committed['versions']}")
    out = tmp_path / "allowlist.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_pickle_allowlist.py"), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text("utf-8")) == committed
