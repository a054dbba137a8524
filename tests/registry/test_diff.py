"""`Registry.diff`: what changed between two assessments, section by section, in words."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from modelwarden.model import (
    Assessment,
    Band,
    Citation,
    ComponentEvidence,
    Finding,
    Obligation,
    Severity,
    ThresholdCall,
)
from modelwarden.registry import ChangeKind, Diff, Registry
from tests.registry.factory import make_assessment


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(f"sqlite:///{tmp_path / 'r.db'}")


def _diff(reg: Registry, a: Assessment, b: Assessment) -> Diff:
    return reg.diff(reg.save(a), reg.save(b))


def _messages(diff: Diff, section: str) -> list[str]:
    return [c.message for c in diff.changes if c.section == section]


def test_an_assessment_compared_with_itself_has_no_changes(reg: Registry) -> None:
    a = make_assessment(random.Random(1), name="org/m", version="1")
    ident = reg.save(a)
    diff = reg.diff(ident, ident)
    assert diff.changes == [] and diff.same_model and diff.by_section() == {}


def test_a_new_release_says_what_changed(reg: Registry) -> None:
    v1 = make_assessment(random.Random(1), name="org/m", version="1.0", findings=0)
    v1.regimes["eu_ai_act"].in_force = False
    v2 = v1.model_copy(deep=True)
    v2.subject.version = "1.1"
    v2.ruleset_version = "2026.12"
    assert v2.facts and v2.facts.parameters.total and v2.facts.license and v2.openness and v2.scan
    total = v2.facts.parameters.total
    v2.facts.parameters.total = total * 2
    v2.facts.license.id = "llama3.1"
    path = next(iter(v2.subject.file_hashes))
    v2.subject.file_hashes[path] = "f" * 64
    v2.subject.file_hashes["extra.bin"] = "e" * 64
    v2.openness.components["datasets"] = ComponentEvidence(present=True, licence="cc-by-4.0", open=True)
    v2.openness.mof.class_ = 1
    v2.scan.findings.append(
        Finding(
            rule_id="pickle.dangerous-import",
            severity=Severity.CRITICAL,
            file="extra.bin",
            message="imports os.system",
            evidence="os.system",
        )
    )
    v2.compute.training_flop = Band(low=2e25, central=3e25, high=4e25)
    v2.compute.thresholds["1e25"] = ThresholdCall.CLEARLY_ABOVE
    eu = v2.regimes["eu_ai_act"]
    eu.in_force = True
    eu.obligations.append(
        Obligation(
            id="eu.art55",
            title="Systemic-risk duties",
            citation=Citation(instrument="AI Act", article="Art. 55"),
            deadline="2027-08-02",
        )
    )
    diff = _diff(reg, v1, v2)

    assert diff.same_model
    assert "version: 1.0 → 1.1" in _messages(diff, "release")
    assert "rule-set version: " + v1.ruleset_version + " → 2026.12" in _messages(diff, "release")
    assert f"parameters: {total:,} → {total * 2:,} (×2)" in _messages(diff, "parameters")
    assert any(m.startswith("licence: ") and m.endswith("→ llama3.1") for m in _messages(diff, "licence"))
    files = {c.item: c.kind for c in diff.changes if c.section == "files"}
    assert files[path] is ChangeKind.CHANGED and files["extra.bin"] is ChangeKind.ADDED
    openness = _messages(diff, "openness")
    assert any(m.startswith("MOF class:") and m.endswith("Class I (open science)") for m in openness)
    assert any(m.startswith("component datasets:") and "published, cc-by-4.0, open" in m for m in openness)
    assert _messages(diff, "findings") == [
        "new critical finding: pickle.dangerous-import in extra.bin: os.system"
    ]
    assert any(
        m.startswith("threshold 1e25:") and m.endswith("→ clearly_above")
        for m in _messages(diff, "thresholds")
    )
    assert any(m.startswith("training compute:") and "3e+25 FLOP" in m for m in _messages(diff, "compute"))
    assert "eu_ai_act/in_force: not in force → in force" in _messages(diff, "regimes")
    new = [c for c in diff.changes if c.section == "obligations" and c.item == "eu_ai_act/eu.art55"]
    assert new and new[0].kind is ChangeKind.ADDED and "deadline 2027-08-02" in new[0].message
    # Sections come in a fixed order, each only when something changed in it.
    from modelwarden.registry.diff import SECTIONS

    assert list(diff.by_section()) == [s for s in SECTIONS if _messages(diff, s)]
    assert len(diff.by_section()) == 10


def test_resolved_findings_and_lifted_obligations(reg: Registry) -> None:
    rng = random.Random(3)
    while True:
        a = make_assessment(rng, name="org/x", findings=2)
        eu = a.regimes["eu_ai_act"]
        if eu.in_force and len(eu.obligations) >= 2:
            break
    b = a.model_copy(deep=True)
    assert b.scan
    b.scan.findings = []
    lifted = b.regimes["eu_ai_act"].obligations.pop()
    diff = _diff(reg, a, b)
    resolved = [c for c in diff.changes if c.section == "findings"]
    assert resolved and all(
        c.kind is ChangeKind.REMOVED and c.message.startswith("resolved ") for c in resolved
    )
    gone = [c for c in diff.changes if c.section == "obligations" and c.kind is ChangeKind.REMOVED]
    assert [c.item for c in gone] == [f"eu_ai_act/{lifted.id}"]
    assert gone[0].message.startswith(f"obligation no longer applies: eu_ai_act/{lifted.id}")


def test_different_models_are_flagged(reg: Registry) -> None:
    rng = random.Random(4)
    diff = _diff(reg, make_assessment(rng, name="a/one"), make_assessment(rng, name="b/two"))
    assert not diff.same_model
    assert "model: a/one → b/two" in _messages(diff, "release")


def test_missing_assessment_is_not_found(reg: Registry) -> None:
    from modelwarden.registry import AssessmentNotFound

    ident = reg.save(make_assessment(random.Random(1)))
    with pytest.raises(AssessmentNotFound, match="no assessment with id 999"):
        reg.diff(ident, 999)


@pytest.mark.parametrize(
    ("before", "after", "shown"),
    [(1_000, 1_100, "(+10.0%)"), (1_000, 900, "(-10.0%)"), (70_000_000_000, 10_000_000, "(×0.000143)")],
)
def test_parameter_changes_read_naturally(reg: Registry, before: int, after: int, shown: str) -> None:
    a = make_assessment(random.Random(5), name="org/p")
    b = a.model_copy(deep=True)
    assert a.facts and b.facts
    a.facts.parameters.total, b.facts.parameters.total = before, after
    assert _messages(_diff(reg, a, b), "parameters")[0] == f"parameters: {before:,} → {after:,} {shown}"
