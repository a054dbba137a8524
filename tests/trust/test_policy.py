"""CEL policies over the attested assessment: per-condition results, and nothing that could not be
evaluated ever passes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from modelwarden.errors import TrustInvalid
from modelwarden.trust import SigningKey, TrustAnchor, attest_release, sign_model, verify
from modelwarden.trust.policy import evaluate, load_policy, parse_policy
from modelwarden.trust.signing import ATTESTATION_NAME

from .conftest import Keys

PREDICATE: dict[str, Any] = {
    "scan": {"verdict": "PASS", "counts": {"critical": 0}},
    "compute": {"training_flop": {"low": 1e23, "central": 2e23, "high": 4e23}, "cumulative_flop": None},
    "openness": {"mof_class": None, "osaid_pass": False},
    "obligations": {"eu_ai_act": {"count": 3, "classification": {"systemic_risk": "no"}}},
    "as_of": "2026-09-01",
}


def _policy(*conditions: tuple[str, str]) -> str:
    lines = ["conditions:"]
    for name, when in conditions:
        lines += [f"  - name: {name}", f"    when: '{when}'"]
    return "\n".join(lines) + "\n"


def _results(text: str, pred: dict[str, Any] = PREDICATE) -> list[tuple[bool, str]]:
    return [(c.passed, c.detail) for c in evaluate(parse_policy(text, "policy.yaml"), pred)]


def test_pass_and_fail_per_condition() -> None:
    text = _policy(
        ("scan passes", 'scan.verdict == "PASS"'),
        ("below 1e25", "compute.training_flop.high < 1e25"),
        ("below 1e23", "compute.training_flop.high < 1e23"),
        ("no systemic risk", 'obligations.eu_ai_act.classification.systemic_risk == "no"'),
    )
    assert [p for p, _ in _results(text)] == [True, True, False, True]


@pytest.mark.parametrize(
    "when",
    [
        "compute.training_flop.missing < 1e25",  # a field that does not exist
        "compute.cumulative_flop.high < 1e25",  # a field that is null
        "nosuch.field",  # a variable that does not exist
        "openness.mof_class >= 1",  # null compared with a number
        "scan.verdict",  # a string, not a boolean
        "compute.training_flop.high",  # a number, not a boolean
    ],
)
def test_what_cannot_be_evaluated_fails(when: str) -> None:
    [(passed, detail)] = _results(_policy(("c", when)))
    assert not passed, detail


def test_missing_field_is_named() -> None:
    [(_, detail)] = _results(_policy(("c", "scan.nope")))
    assert "nope" in detail


@pytest.mark.parametrize(
    ("when", "named"),
    [
        ("compute.cumulative_flop.high < 1e25", "compute.cumulative_flop is null"),
        ("openness.mof_class >= 1", "openness.mof_class is null"),
        ('scan.verdict == "PASS" && compute.cumulative_flop < 1e25', "compute.cumulative_flop is null"),
    ],
)
def test_a_null_field_is_named_not_blamed_on_operand_types(when: str, named: str) -> None:
    # The demo's policy over a release with no compute estimate said "CEL does not coerce between
    # types"; the cause is the null, and the report must say which field it is.
    [(passed, detail)] = _results(_policy(("c", when)))
    assert not passed
    assert named in detail


def test_a_string_that_looks_like_a_path_is_not_taken_for_one() -> None:
    # A type error with no null field in it: the quoted text names a null field and must not be blamed.
    [(passed, detail)] = _results(_policy(("c", '"openness.mof_class" > 1')))
    assert not passed
    assert "could not evaluate" in detail and "is null" not in detail


def test_has_lets_a_policy_test_presence() -> None:
    assert _results(_policy(("c", "!has(scan.nope)"))) == [(True, "!has(scan.nope): true")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_policy(("broken", "scan.verdict ==")), "invalid CEL"),
        ("conditions: []\n", "conditions"),
        ("{}\n", "conditions"),
        ("conditions:\n  - name: x\n    when: 'true'\n    unless: 'false'\n", "unless"),
        ("conditions:\n  - when: 'true'\n", "name"),
        ("- a\n- b\n", "invalid policy"),
        ("a: [\n", "policy.yaml"),
    ],
    ids=["no-compile", "empty", "no-conditions", "unknown-key", "no-name", "not-a-mapping", "bad-yaml"],
)
def test_a_bad_policy_is_an_error(text: str, message: str) -> None:
    with pytest.raises(TrustInvalid, match=message):
        parse_policy(text, "policy.yaml")


def test_a_policy_that_is_not_a_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TrustInvalid, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(TrustInvalid, match="larger"):
        load_policy(big)


# --- through verify, on a real attestation --------------------------------------------------------------


@pytest.fixture
def attested(release: Path, keys: Keys) -> Path:
    sign_model(release, SigningKey(private_key=keys.private))
    attest_release(release, SigningKey(private_key=keys.private), as_of=dt.date(2026, 9, 1))
    return release


def _verify(release: Path, keys: Keys, policy: Path) -> Any:
    return verify(
        release, TrustAnchor(public_key=keys.public), attestation=release / ATTESTATION_NAME, policy=policy
    )


def test_policy_passes_on_a_real_attestation(attested: Path, keys: Keys, tmp_path: Path) -> None:
    policy = tmp_path / "ci.yaml"
    policy.write_text(
        _policy(
            ("scan passes", 'scan.verdict == "PASS"'), ("below 1e25", "compute.training_flop.high < 1e25")
        )
    )
    report = _verify(attested, keys, policy)
    assert report.passed, report.checks
    assert [c.name for c in report.checks][-2:] == ["policy: scan passes", "policy: below 1e25"]


def test_policy_fails_on_a_real_attestation(attested: Path, keys: Keys, tmp_path: Path) -> None:
    policy = tmp_path / "strict.yaml"
    policy.write_text(
        _policy(("tiny", "compute.training_flop.high < 1e10"), ("scan", 'scan.verdict == "PASS"'))
    )
    report = _verify(attested, keys, policy)
    assert [c.name for c in report.failed()] == ["policy: tiny"]


def test_policy_is_not_evaluated_over_an_unverified_attestation(
    attested: Path, keys: Keys, other_keys: Keys, tmp_path: Path
) -> None:
    # An attacker's attestation (their key) that says everything is fine must not pass the policy.
    attest_release(attested, SigningKey(private_key=other_keys.private), as_of=dt.date(2026, 9, 1))
    policy = tmp_path / "ci.yaml"
    policy.write_text(_policy(("scan passes", 'scan.verdict == "PASS"')))
    report = _verify(attested, keys, policy)
    policy_check = report.checks[-1]
    assert policy_check.name == "policy: scan passes" and not policy_check.passed
    assert "not evaluated" in policy_check.detail


def test_a_policy_without_an_attestation_is_an_error(attested: Path, keys: Keys, tmp_path: Path) -> None:
    policy = tmp_path / "ci.yaml"
    policy.write_text(_policy(("scan passes", 'scan.verdict == "PASS"')))
    with pytest.raises(TrustInvalid, match="no attestation"):
        verify(attested, TrustAnchor(public_key=keys.public), policy=policy)


def test_a_policy_that_does_not_compile_stops_verification(
    attested: Path, keys: Keys, tmp_path: Path
) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(_policy(("bad", "scan.verdict ==")))
    with pytest.raises(TrustInvalid, match="invalid CEL"):
        _verify(attested, keys, policy)
