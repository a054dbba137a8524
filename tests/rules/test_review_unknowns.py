"""Adversarial review of issue 17: an unknown input never removes a duty that depends on it, every
listed duty has a citation and an addressee, and future duties are listed the same way everywhere."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from modelwarden.assess.run import Inputs, build_assessment
from modelwarden.manifest import parse_manifest
from modelwarden.model import Assessment
from modelwarden.rules import load_rules

RULES = load_rules()
MARKETS = ["EU", "US", "US-CA", "US-NY", "US-CO", "US-TX", "US-IL", "KR", "CN", "VN"]
# A large frontier developer offering a generative service everywhere: most duties of all 16 instruments.
FULL: dict[str, Any] = {
    "model": {"name": "X", "parameters": 400_000_000_000, "generality": "general",
              "modalities": {"input": ["text"], "output": ["text", "image"]},
              "primarily_biological_sequence_data": False, "broad_serious_risk_to_life_safety_rights": True},
    "training": {"compute_flop": 5e26},
    "release": {"role": "provider", "provider": {"name": "P", "established_in": "US", "revenue_usd": 1e9},
                "placed_on_market": "2026-03-01", "markets": MARKETS, "weights": "public",
                "license": "apache-2.0",
                "monetised": False, "public_service_in_china": True, "public_opinion_attributes": True,
                "internal_research_only": False, "consequential_decisions": True, "system_offered": True,
                "monthly_users": 2_000_000, "anthropomorphic_service": True},
}  # fmt: skip


def _assess(data: dict[str, Any], as_of: dt.date) -> Assessment:
    return build_assessment(Inputs(None, parse_manifest(data), None), as_of=as_of, rules=RULES, scan=False)


def _leaves(d: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, (*path, k))
        else:
            yield (*path, k)


def _drop(d: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(d)
    node = out
    for k in path[:-1]:
        node = node[k]
    del node[path[-1]]
    return out


def _duties(a: Assessment) -> set[tuple[str, str]]:
    return {(rid, o.id) for rid, r in a.regimes.items() for o in r.obligations}


# Fields whose absence legitimately changes the answer through a classification that then says
# "insufficient data" or asks a question (the regime shows it), or through the compute estimate.
_VIA_CLASSIFICATION = {("model", "modalities", "output"), ("model", "modalities", "input")}


@pytest.mark.parametrize("leaf", [p for p in _leaves(FULL) if p not in _VIA_CLASSIFICATION], ids=".".join)
def test_dropping_a_field_never_silently_removes_a_duty(leaf: tuple[str, ...]) -> None:
    as_of = dt.date(2026, 12, 5)
    before = _assess(FULL, as_of)
    after = _assess(_drop(FULL, leaf), as_of)
    lost = _duties(before) - _duties(after)
    for rid, oid in lost:
        # A duty may go only when the regime says why: a classification it needs is no longer "yes".
        cls = after.regimes[rid].classification
        assert any(v.value != "yes" for v in cls.values()), (
            leaf,
            rid,
            oid,
            {k: v.value for k, v in cls.items()},
        )


def test_a_deployer_duty_with_the_role_undeclared_is_listed_conditionally() -> None:
    deployer = copy.deepcopy(FULL)
    deployer["release"]["role"] = "deployer"
    unknown = _drop(FULL, ("release", "role"))
    provider = FULL
    as_of = dt.date(2026, 12, 5)

    def duty(data: dict[str, Any]) -> Any:
        found = [
            o for o in _assess(data, as_of).regimes["eu_ai_act_art50"].obligations if o.id == "eu.art50.4"
        ]
        return found[0] if found else None

    assert duty(deployer) is not None and not duty(deployer).conditional_on
    assert duty(unknown) is not None and any("release.role" in c for c in duty(unknown).conditional_on)
    assert duty(provider) is None


def test_korean_labelling_with_markets_undeclared_is_listed_conditionally() -> None:
    a = _assess(_drop(FULL, ("release", "markets")), dt.date(2026, 12, 5))
    [duty] = [o for o in a.regimes["kr_ai_basic_act"].obligations if o.id == "kr.art31.transparency"]
    assert duty.conditional_on and any("KR" in c or "Korea" in c for c in duty.conditional_on)


def test_korean_labelling_with_outputs_unknown_is_listed_conditionally() -> None:
    data = _drop(FULL, ("model", "modalities"))
    a = _assess(data, dt.date(2026, 12, 5))
    [duty] = [o for o in a.regimes["kr_ai_basic_act"].obligations if o.id == "kr.art31.transparency"]
    assert duty.conditional_on


def test_korean_labelling_is_not_owed_outside_korea_or_for_a_non_generative_model() -> None:
    elsewhere = copy.deepcopy(FULL)
    elsewhere["release"]["markets"] = ["EU"]
    embedder = copy.deepcopy(FULL)
    embedder["model"]["modalities"] = {"input": ["text"], "output": ["embedding"]}
    for data in (elsewhere, embedder):
        a = _assess(data, dt.date(2026, 12, 5))
        assert "kr.art31.transparency" not in {o.id for o in a.regimes["kr_ai_basic_act"].obligations}


DATES = [
    dt.date(2023, 1, 1),
    dt.date(2025, 8, 2),
    dt.date(2026, 12, 1),
    dt.date(2026, 12, 2),
    dt.date(2027, 8, 2),
]


@pytest.mark.parametrize("as_of", DATES, ids=str)
def test_future_duties_are_listed_with_their_date_and_status_in_every_instrument(as_of: dt.date) -> None:
    a = _assess(FULL, as_of)
    assert len(a.regimes) == 16
    for rid, r in a.regimes.items():
        for o in r.obligations:
            assert o.citation.article.strip() and o.citation.instrument.strip(), (rid, o.id)
            assert o.applies_to is not None, (rid, o.id)
            assert o.applies_from is not None, (rid, o.id)
            expected = "not_yet_in_force" if o.applies_from > as_of else "in_force"
            assert o.status == expected, (rid, o.id, o.applies_from, as_of)
            if o.status == "not_yet_in_force":
                assert o.note is not None and o.applies_from.isoformat() in o.note
        if not r.in_force and r.obligations:
            # An instrument not yet in force lists only future duties (a revoked one lists none).
            assert all(o.status == "not_yet_in_force" for o in r.obligations), rid


def test_duties_starting_on_2026_12_02_are_future_duties_the_day_before() -> None:
    # Art. 50(2) marking for a system placed before 2026-08-02 and the Omnibus's new Art. 5 prohibition
    # apply from 2026-12-02: on 2026-12-01 they are listed as future duties, not left out.
    early = _assess(FULL, dt.date(2026, 12, 1))
    late = _assess(FULL, dt.date(2026, 12, 2))
    for rid, oid in (("eu_ai_act_art50", "eu.art50.2"), ("eu_ai_act_art5", "eu.art5.ncii_csam")):
        [before] = [o for o in early.regimes[rid].obligations if o.id == oid]
        [after] = [o for o in late.regimes[rid].obligations if o.id == oid]
        assert (before.status, after.status) == ("not_yet_in_force", "in_force"), oid
        assert before.applies_from == after.applies_from == dt.date(2026, 12, 2)
