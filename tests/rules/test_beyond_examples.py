"""Scenarios beyond docs/reference/regulation_examples.md: both sides of every effective date, modifiers,
legacy models, the SB 53 / RAISE revenue test, China's public-service test, pending exemptions, and bad
manifests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from modelwarden.assess.run import Inputs, build_assessment
from modelwarden.errors import ManifestError, RulesError
from modelwarden.manifest import parse_manifest
from modelwarden.model import Assessment, Classification, Obligation
from modelwarden.rules import load_rules

AS_OF = dt.date(2026, 11, 22)
TEXT = {"modalities": {"input": ["text"], "output": ["text"]}}
DAY = dt.timedelta(days=1)


def assess(doc: dict[str, Any], as_of: dt.date = AS_OF) -> Assessment:
    return build_assessment(Inputs(None, parse_manifest(doc), None), as_of=as_of, scan=False)


def cls(a: Assessment, rid: str, name: str) -> str:
    return a.regimes[rid].classification[name].value


def duty(a: Assessment, rid: str, oid: str) -> Obligation | None:
    return next((o for o in a.regimes[rid].obligations if o.id == oid), None)


def frontier(compute: float, revenue: float | None, **release: Any) -> dict[str, Any]:
    provider = {"revenue_usd": revenue} if revenue is not None else {}
    return {
        "model": {"generality": "general", **TEXT},
        "training": {"compute_flop": compute},
        "release": {"role": "provider", "provider": provider, **release},
    }


# --- Effective dates: the day before and the first day -------------------------------------------------


@pytest.mark.parametrize(
    ("regime", "first_day"),
    [
        ("eu_ai_act", dt.date(2025, 8, 2)),  # Art. 113(b): Chapter V
        ("us_eo_14110", dt.date(2023, 10, 30)),
        ("us_ca_sb53", dt.date(2026, 1, 1)),
        ("us_ny_raise", dt.date(2027, 1, 1)),  # as amended by S8828
        ("us_il_sb315", dt.date(2027, 1, 1)),
        ("us_bis_4e091", dt.date(2025, 1, 13)),  # AI Diffusion interim final rule
        ("us_ca_ab2013", dt.date(2026, 1, 1)),
        ("kr_ai_basic_act", dt.date(2026, 1, 22)),
        ("cn_genai", dt.date(2023, 8, 15)),  # Interim Measures
    ],
)
def test_each_instrument_comes_into_force_on_its_date(regime: str, first_day: dt.date) -> None:
    doc = frontier(2e26, 2e9)
    assert assess(doc, first_day - DAY).regimes[regime].in_force is False
    after = assess(doc, first_day).regimes[regime]
    assert after.in_force is True
    assert after.trace[0].rule == "effective" and first_day.isoformat() in (after.trace[0].explanation or "")


def test_eo14110_stops_on_its_revocation_and_lists_no_duty() -> None:
    doc = frontier(2e26, None)
    last = assess(doc, dt.date(2025, 1, 19)).regimes["us_eo_14110"]
    gone = assess(doc, dt.date(2025, 1, 20)).regimes["us_eo_14110"]
    assert last.in_force and [o.id for o in last.obligations] == ["us.eo14110.4.2a"]
    assert not gone.in_force and gone.obligations == []
    assert any("EO 14148" in (t.explanation or "") for t in gone.trace)


def test_china_labelling_duty_of_art12_applies_since_2023_and_the_labelling_measures_from_2025() -> None:
    doc = {"model": TEXT, "release": {"public_service_in_china": True}}
    for day in (dt.date(2023, 8, 15), dt.date(2025, 8, 31), dt.date(2025, 9, 1)):
        art12 = duty(assess(doc, day), "cn_genai", "cn.labelling")
        assert art12 is not None and art12.status == "in_force" and art12.applies_from == dt.date(2023, 8, 15)
        assert "Art. 12" in art12.citation.article
    before = duty(assess(doc, dt.date(2025, 8, 31)), "cn_genai", "cn.labelling_measures")
    on = duty(assess(doc, dt.date(2025, 9, 1)), "cn_genai", "cn.labelling_measures")
    assert before is not None and before.status == "not_yet_in_force"
    assert "not yet applicable on 2025-08-31" in (before.note or "")
    assert on is not None and on.applies_from == dt.date(2025, 9, 1) and on.status == "in_force"
    assert "not yet" not in (on.note or "")


def test_eu_fines_note_follows_the_date() -> None:
    doc = {"model": {"generality": "general", **TEXT}, "release": {"role": "provider"}}
    notes = {d: " ".join(assess(doc, d).regimes["eu_ai_act"].notes) for d in (dt.date(2026, 8, 1), AS_OF)}
    assert "apply only from 2026-08-02" in notes[dt.date(2026, 8, 1)]
    assert "possible since 2026-08-02" in notes[AS_OF]
    early = assess(doc, dt.date(2025, 6, 1)).regimes["eu_ai_act"]
    assert any("applies from 2025-08-02" in n for n in early.notes)


# --- EU: legacy models, placement, modifiers, pending exemption ------------------------------------------


@pytest.mark.parametrize(
    ("placed", "deadline_start"),
    [("2025-08-01", "2027-08-02"), ("2025-08-02", "on placing"), ("2026-05-01", "on placing")],
)
def test_legacy_deadline_only_for_models_placed_before_2025_08_02(placed: str, deadline_start: str) -> None:
    doc = {
        "model": {"generality": "general", **TEXT},
        "training": {"compute_flop": 5e24},
        "release": {"role": "provider", "placed_on_market": placed},
    }
    ob = duty(assess(doc), "eu_ai_act", "eu.art53.1a")
    assert ob is not None and (ob.deadline or "").startswith(deadline_start)
    assert ob.applies_from == max(dt.date.fromisoformat(placed), dt.date(2025, 8, 2))


def test_public_weights_reach_the_union_even_when_markets_leave_it_out() -> None:
    doc = {
        "model": {"generality": "general", **TEXT},
        "training": {"compute_flop": 5e24},
        "release": {"role": "provider", "markets": ["US"], "weights": "public"},
    }
    eu = assess(doc).regimes["eu_ai_act"]
    assert eu.classification["provider"] is Classification.NEEDS_REVIEW
    assert any("Recital 97" in q for q in eu.needs_review)
    closed = assess(doc | {"release": {"role": "provider", "markets": ["US"], "weights": "api_only"}})
    assert cls(closed, "eu_ai_act", "provider") == "no" and closed.regimes["eu_ai_act"].obligations == []


def test_deployer_is_never_the_provider() -> None:
    doc = {"model": {"generality": "general", **TEXT}, "release": {"role": "deployer", "markets": ["EU"]}}
    a = assess(doc)
    assert cls(a, "eu_ai_act", "provider") == "no" and a.regimes["eu_ai_act"].obligations == []


@pytest.mark.parametrize(("modification", "expected"), [(4e24, "yes"), (3e24, "no")])
def test_modifier_of_systemic_risk_model_with_unknown_compute_uses_the_1e25_fallback(
    modification: float, expected: str
) -> None:
    doc = {
        "model": {"generality": "general", **TEXT},
        "release": {"role": "modifier", "markets": ["EU"]},
        "base_model": {"name": "frontier-base", "systemic_risk": True},
        "training": {"modification_flop": modification},
    }
    a = assess(doc)
    assert cls(a, "eu_ai_act", "provider") == expected  # 10^25/3 = 3.33e24 (Guidelines para 61)
    assert cls(a, "eu_ai_act", "systemic_risk") == expected
    assert (duty(a, "eu_ai_act", "eu.art52.1") is not None) is (expected == "yes")


def test_modifier_provider_of_non_systemic_model_asks_about_cumulative_compute() -> None:
    doc = {
        "model": {"generality": "general", **TEXT},
        "release": {"role": "modifier"},
        "base_model": {"systemic_risk": False},
        "training": {"modification_flop": 4e24},
    }
    eu = assess(doc).regimes["eu_ai_act"]
    assert eu.classification["provider"] is Classification.YES  # 4e24 > 1e23 / 3 (para 61 fallback)
    assert eu.classification["systemic_risk"] is Classification.NEEDS_REVIEW
    assert any("cumulative compute of the modified model" in q for q in eu.needs_review)
    # With the base model's compute known, the compute stage adds it (weights used for initialisation
    # count, Guidelines Annex A.1): 8e24 + 4e24 = 1.2e25 > 1e25, so the question is answered.
    known = assess(doc | {"base_model": {"compute_flop": 8e24, "systemic_risk": False}})
    assert known.regimes["eu_ai_act"].classification["systemic_risk"] is Classification.YES


def test_modifier_duties_are_limited_to_the_modification_and_say_so() -> None:
    base = {"model": {"generality": "general", **TEXT}, "training": {"compute_flop": 5e24}}
    provider = assess(base | {"release": {"role": "provider", "provider": {"established_in": "US"}}})
    modifier = assess(
        {
            "model": {"generality": "general", **TEXT},
            "release": {"role": "modifier"},
            "base_model": {"name": "some-gpai", "systemic_risk": False},
            "training": {"modification_flop": 5e22},
        }
    )
    for oid in ("eu.art53.1a", "eu.art53.1b", "eu.art53.1c", "eu.art53.1d"):
        mod, prov = duty(modifier, "eu_ai_act", oid), duty(provider, "eu_ai_act", oid)
        assert mod is not None and "limited to" in (mod.note or "")
        assert prov is not None and "limited to" not in (prov.note or "")
    rep = duty(provider, "eu_ai_act", "eu.art54")
    assert rep is not None and "established outside the EU" in (rep.note or "")
    unknown = duty(modifier, "eu_ai_act", "eu.art54")
    assert unknown is not None and "establishment not declared" in (unknown.note or "")
    eu_based = assess(base | {"release": {"role": "provider", "provider": {"established_in": "FR"}}})
    assert duty(eu_based, "eu_ai_act", "eu.art54") is None


def test_duties_an_open_question_could_remove_say_so() -> None:
    licence = {"license": "apache-2.0"}
    doc = {
        "model": {"parameters": 70_000_000_000, **TEXT},
        "training": {"tokens": 15e12},
        "release": {"role": "provider", "weights": "public", **licence},  # monetisation not declared
        "components": {
            "model_parameters_final": licence,
            "model_architecture": licence,
            "model_card": licence,
        },
    }
    eu = assess(doc).regimes["eu_ai_act"]
    assert eu.classification["open_source_exemption"] is Classification.NEEDS_REVIEW
    notes = {o.id: o.note or "" for o in eu.obligations}
    for oid in ("eu.art53.1a", "eu.art53.1b", "eu.art54"):
        assert "an exemption may remove this duty: eu.art53.2" in notes[oid]
    for oid in ("eu.art53.1c", "eu.art53.1d"):  # Recital 104: never exempt
        assert "may remove" not in notes[oid]


# --- California SB 53 and New York RAISE: revenue and the amendments ------------------------------------


@pytest.mark.parametrize(("revenue", "large"), [(500_000_000, "no"), (500_000_001, "yes"), (80e6, "no")])
def test_sb53_revenue_test_is_strictly_greater_than_500m(revenue: float, large: str) -> None:
    a = assess(frontier(1.5e26, revenue), dt.date(2026, 3, 1))
    assert cls(a, "us_ca_sb53", "large_frontier_developer") == large
    assert (duty(a, "us_ca_sb53", "ca.sb53.framework") is not None) is (large == "yes")
    assert duty(a, "us_ca_sb53", "ca.sb53.transparency_report") is not None  # every frontier developer


def test_a_large_company_with_an_unknown_or_small_model_has_no_framework_duty() -> None:
    unknown = {"model": {"generality": "general", **TEXT}, "release": {"provider": {"revenue_usd": 5e10}}}
    a = assess(unknown)
    assert cls(a, "us_ca_sb53", "frontier_model") == "insufficient_data"
    assert cls(a, "us_ca_sb53", "large_frontier_developer") == "insufficient_data"
    assert a.regimes["us_ca_sb53"].obligations == []
    small = assess(frontier(3e24, 5e10))
    assert cls(small, "us_ca_sb53", "large_frontier_developer") == "no"
    assert small.regimes["us_ca_sb53"].obligations == []


def test_uncertain_frontier_status_keeps_large_developer_duties_conditional() -> None:
    doc = {
        "model": {"parameters": 1_000_000_000_000, **TEXT},
        "training": {"tokens": 16.7e12},  # 6ND = 1.0e26: the band straddles the line
        "release": {"role": "provider", "provider": {"revenue_usd": 2e9}},
    }
    a = assess(doc)
    sb = a.regimes["us_ca_sb53"]
    assert sb.classification["frontier_model"] is Classification.NEEDS_REVIEW
    assert sb.classification["large_frontier_developer"] is Classification.NEEDS_REVIEW
    framework = duty(a, "us_ca_sb53", "ca.sb53.framework")
    assert framework is not None and "conditional" in (framework.note or "")


def test_raise_as_amended_uses_revenue_not_the_original_compute_cost_test() -> None:
    # The original bill made a developer "large" by > $100M compute spend; S8828 uses > $500M revenue.
    mid = assess(frontier(1.5e26, 3e8, markets=["US"]), dt.date(2027, 1, 1))
    assert cls(mid, "us_ny_raise", "frontier_model") == "yes"
    assert cls(mid, "us_ny_raise", "large_frontier_developer") == "no"
    # Every frontier developer owes the transparency report and incident reporting; the framework, the
    # internal-use summaries and the disclosure statement are for large ones only.
    assert {o.id for o in mid.regimes["us_ny_raise"].obligations} == {
        "ny.raise.transparency_report",
        "ny.raise.incident_reporting",
    }
    big = assess(frontier(1.5e26, 6e8, markets=["US"]), dt.date(2027, 1, 1))
    incident = duty(big, "us_ny_raise", "ny.raise.incident_reporting")
    assert incident is not None and "72 hours" in (incident.deadline or "")


# --- Korea and China -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stated", "expected"), [(9.9e25, "no"), (1e26, "yes"), (1.01e26, "yes")])
def test_korea_or_more_threshold(stated: float, expected: str) -> None:
    doc = {"model": {"broad_serious_risk_to_life_safety_rights": True, **TEXT}}
    a = assess(doc | {"training": {"compute_flop": stated}})
    assert cls(a, "kr_ai_basic_act", "high_performance_ai") == expected
    assert cls(a, "us_ca_sb53", "frontier_model") == ("yes" if stated > 1e26 else "no")


def test_korea_not_offered_there() -> None:
    doc = {"model": TEXT, "training": {"compute_flop": 3e26}, "release": {"markets": ["EU", "US"]}}
    assert cls(assess(doc), "kr_ai_basic_act", "high_performance_ai") == "no"


def test_china_public_service_without_public_opinion_attributes_needs_no_security_assessment() -> None:
    doc = {"model": TEXT, "release": {"public_service_in_china": True, "public_opinion_attributes": False}}
    a = assess(doc)
    assert cls(a, "cn_genai", "applies") == "yes"
    assert {o.id for o in a.regimes["cn_genai"].obligations} == {
        "cn.training_data",
        "cn.labelling",
        "cn.labelling_measures",
    }


def test_china_weights_only_release_and_undeclared_service() -> None:
    no_service = {"model": TEXT, "release": {"public_service_in_china": False, "weights": "public"}}
    assert cls(assess(no_service), "cn_genai", "applies") == "no"
    undeclared = assess({"model": TEXT})
    assert cls(undeclared, "cn_genai", "applies") == "needs_review"
    assert any("mainland China" in q for q in undeclared.regimes["cn_genai"].needs_review)
    encoder = {"model": {"modalities": {"input": ["text"], "output": ["embedding"]}}}
    assert cls(assess(encoder), "cn_genai", "applies") == "no"


def test_missing_facts_are_insufficient_data_and_the_trace_says_which() -> None:
    a = assess({"model": {"parameters": 22_713_216, "generality": "general", **TEXT}})
    for rid, name in (("us_ca_sb53", "frontier_model"), ("kr_ai_basic_act", "high_performance_ai")):
        r = a.regimes[rid]
        assert r.classification[name] is Classification.INSUFFICIENT_DATA
        step = next(t for t in r.trace if t.rule.startswith(name + "[") and t.result == "insufficient_data")
        assert "training.tokens" in (step.explanation or "")
    assert cls(a, "eu_ai_act", "gpai_model") == "yes"  # declared general: the compute criterion is moot
    assert cls(a, "eu_ai_act", "systemic_risk") == "insufficient_data"


def test_text_details_give_the_reason_for_every_answer() -> None:
    from rich.console import Console

    from modelwarden.report.assess import reasons
    from modelwarden.report.text import print_assessment as render_text

    a = assess(frontier(1.5e26, 80e6, weights="public"), dt.date(2026, 3, 1))
    why = dict(reasons(a.regimes["us_ca_sb53"]))
    assert "more than 10^26" in why["frontier_model"] and "$500M" in why["large_frontier_developer"]
    console = Console(width=200, record=True, color_system=None)
    render_text(a, console)
    text = console.export_text()
    summary, details = text.split("Draft analysis, not legal advice", 1)
    assert "California SB 53" in summary and "frontier model: yes" in summary
    assert "large frontier developer: no — revenue with affiliates at or below $500M" in details


# --- Organisation rules with conditional notes; bad rule files and manifests ------------------------------

GATE = """
id: acme_gate
instrument: ACME release gate
jurisdiction: internal
version: "2"
effective: {from: 2026-01-01}
notes:
  - when: 'release.weights == "public"'
    text: open weights need the security team's sign-off
  - always shown
classifications:
  open_weights:
    - {when: 'release.weights == "public"', result: "yes", because: public weights}
    - {when: 'true', result: "no", because: not public}
"""


def test_organisation_notes_can_be_conditional(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(GATE)
    rules = load_rules([tmp_path])
    for weights, shown in (("public", True), ("closed", False)):
        decl = parse_manifest({"release": {"weights": weights}})
        gate = build_assessment(Inputs(None, decl, None), as_of=AS_OF, rules=rules, scan=False).regimes[
            "acme_gate"
        ]
        assert ("open weights need the security team's sign-off" in gate.notes) is shown
        assert "always shown" in gate.notes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("'release.weights == \"public\"'\n    text", "'release.weights ==== 1'\n    text"),
            "notes[0].when",
        ),
        (("  - always shown\n", "  - {text: no condition}\n"), "notes.1"),
        (('result: "no"', 'result: "maybe"'), "classifications.open_weights.1.result"),
        (("effective: {from: 2026-01-01}", "effective: {since: 2026-01-01}"), "effective"),
        (
            ("because: public weights}", 'because: x, cite: {article: "1", url: "javascript:alert(1)"}}'),
            "url",
        ),
    ],
)
def test_bad_organisation_rule_files_name_file_and_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in GATE
    bad = tmp_path / "gate.yaml"
    bad.write_text(GATE.replace(old, new, 1))
    with pytest.raises(RulesError) as err:
        load_rules([tmp_path])
    assert str(bad) in err.value.message and message in err.value.message


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"release": {"placed_on_market": "01/08/2025"}}, "release.placed_on_market"),
        ({"release": {"markets": ["eu"]}}, "release.markets"),
        ({"release": {"role": "owner"}}, "release.role"),
        ({"release": {"provider": {"revenue_usd": -1}}}, "release.provider.revenue_usd"),
        ({"release": {"public_service_in_china": "maybe"}}, "release.public_service_in_china"),
        ({"training": {"modification_flop": "lots"}}, "training.modification_flop"),
        ({"base_model": {"systemic_risk": True, "compute": 1e25}}, "base_model.compute"),
        ({"model": {"generality": "broad"}}, "model.generality"),
    ],
)
def test_bad_manifest_values_name_the_key_path(doc: dict[str, Any], key: str) -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(doc, origin="plan.yaml")
    assert err.value.message.startswith("plan.yaml") and key in err.value.message


# --- Modifiers: what the base model's facts decide ------------------------------------------------------


@pytest.mark.parametrize(
    ("modification", "provider"),
    [
        (1e22, "no"),  # below 10^23/3: not a provider whatever the original's status
        (1e24, "needs_review"),  # above 10^23/3, below 10^25/3: the original's status decides
        (5e24, "yes"),  # above 10^25/3: a provider whatever the original's status
    ],
)
def test_modifier_with_unknown_base_status_asks_which_fallback_applies(
    modification: float, provider: str
) -> None:
    doc = {
        "model": {"generality": "general", **TEXT},
        "release": {"role": "modifier", "markets": ["EU"]},
        "base_model": {"name": "someone-elses-model"},
        "training": {"modification_flop": modification},
    }
    eu = assess(doc).regimes["eu_ai_act"]
    assert eu.classification["provider"].value == provider
    asked = [q for q in eu.needs_review if q.startswith("provider:")]
    assert bool(asked) is (provider == "needs_review")
    if asked:
        assert "systemic risk" in asked[0] and "base_model.systemic_risk" in asked[0]


def test_modifier_gpai_status_comes_from_the_base_model() -> None:
    def doc(base: dict[str, Any], modification: float = 4e24) -> dict[str, Any]:
        return {
            "model": TEXT,  # generality not declared: the base model's facts must decide
            "release": {"role": "modifier", "markets": ["EU"]},
            "base_model": {"name": "base", **base},
            "training": {"modification_flop": modification},
        }

    sr = assess(doc({"systemic_risk": True})).regimes["eu_ai_act"]
    assert sr.classification["gpai_model"] is Classification.YES
    assert {"eu.art53.1a", "eu.art52.1", "eu.art55"} <= {o.id for o in sr.obligations}

    big = assess(doc({"compute_flop": 6e24, "systemic_risk": False})).regimes["eu_ai_act"]
    assert big.classification["gpai_model"] is Classification.YES  # 6e24 > 10^23 and generates text
    assert big.classification["provider"] is Classification.YES  # 4e24 > 6e24 / 3

    small = assess(doc({"compute_flop": 5e22, "systemic_risk": False}, 2e22)).regimes["eu_ai_act"]
    assert small.classification["gpai_model"] is Classification.NO  # 5e22 and 2e22 ≤ 10^23
    assert small.obligations == []
    grown = assess(doc({"compute_flop": 5e22, "systemic_risk": False}, 4e23)).regimes["eu_ai_act"]
    assert grown.classification["gpai_model"] is Classification.YES  # the modification alone > 10^23
    assert grown.classification["provider"] is Classification.YES  # 4e23 > 5e22 / 3
    unknown = assess(doc({}, 2e22)).regimes["eu_ai_act"]
    assert unknown.classification["gpai_model"] is Classification.INSUFFICIENT_DATA
    step = next(
        t for t in unknown.trace if t.rule.startswith("gpai_model") and t.result == "insufficient_data"
    )
    assert step.explanation is not None and "base_model.compute_flop" in step.explanation


# --- Narrow models above the indicative criterion (Guidelines para 20) ----------------------------------


@pytest.mark.parametrize(
    ("inputs", "outputs", "expected"),
    [
        (["speech"], ["text"], "needs_review"),  # transcription
        (["text"], ["speech"], "needs_review"),  # text-to-speech
        (["text"], ["audio"], "needs_review"),  # music or sound from text
        (["image"], ["image"], "needs_review"),  # upscaling, inpainting
        (["text", "image"], ["text"], "yes"),  # a vision-language model generates language
        (["text"], ["text", "audio"], "yes"),
        (["text"], ["image"], "yes"),  # text-to-image is named by para 17
    ],
)
def test_single_task_modality_patterns_need_a_generality_judgement(
    inputs: list[str], outputs: list[str], expected: str
) -> None:
    doc: dict[str, Any] = {
        "model": {"modalities": {"input": inputs, "output": outputs}},
        "training": {"compute_flop": 1e24},
        "release": {"role": "provider"},
    }
    eu = assess(doc).regimes["eu_ai_act"]
    assert eu.classification["gpai_model"].value == expected
    if expected == "needs_review":
        assert any(q.startswith("gpai_model:") and "transcriber" in q for q in eu.needs_review)
        # the Art. 53 duties stay listed, marked as depending on the answer
        ob = next(o for o in eu.obligations if o.id == "eu.art53.1c")
        assert ob.note is not None and "gpai_model" in ob.note and "needs review" in ob.note
    declared = assess(doc | {"model": {**doc["model"], "generality": "narrow"}})
    assert cls(declared, "eu_ai_act", "gpai_model") == "no"


# --- Estimates near a line are flagged (docs/reference/regulation.md §8.2)
# -----------------------------------------------


@pytest.mark.parametrize(("flop", "flagged"), [(6e24, True), (1.5e25, True), (2e24, False), (3e25, False)])
def test_estimates_near_the_systemic_risk_line_are_flagged(flop: float, flagged: bool) -> None:
    a = assess(frontier(flop, 1e6))
    assert any("factor of two of 10^25" in n for n in a.regimes["eu_ai_act"].notes) is flagged


@pytest.mark.parametrize("regime", ["us_ca_sb53", "us_ny_raise", "kr_ai_basic_act"])
def test_estimates_near_1e26_are_flagged(regime: str) -> None:
    near = assess(frontier(7e25, 1e9)).regimes[regime].notes
    far = assess(frontier(1e25, 1e9)).regimes[regime].notes
    assert any("factor of two of 10^26" in n for n in near)
    assert not any("factor of two" in n for n in far)


# --- California AB 2013 and Korea's domestic representative -------------------------------------------


@pytest.mark.parametrize(
    ("markets", "outputs", "placed", "listed", "deadline"),
    [
        (["US-CA"], ["text"], "2025-03-01", True, "by 2026-01-01"),
        (["US"], ["image"], "2026-05-01", True, "before making it available"),
        (["EU"], ["text"], "2026-05-01", False, None),
        (["US-CA"], ["embedding"], "2026-05-01", False, None),  # not generative
        (["US-CA"], ["text"], "2021-06-01", False, None),  # released before 2022-01-01
    ],
)
def test_ab2013_training_data_summary_for_generative_systems_offered_in_california(
    markets: list[str], outputs: list[str], placed: str, listed: bool, deadline: str | None
) -> None:
    doc = {
        "model": {"modalities": {"input": ["text"], "output": outputs}},
        "training": {"compute_flop": 1e22},  # no size threshold: a small model is covered too
        "release": {"role": "provider", "markets": markets, "placed_on_market": placed},
    }
    a = assess(doc)
    assert duty(a, "us_ca_sb53", "ca.ab2013.training_data") is None  # its own statute, not SB 53's
    assert cls(a, "us_ca_ab2013", "applies") == ("yes" if listed else "no")
    ob = duty(a, "us_ca_ab2013", "ca.ab2013.training_data")
    assert (ob is not None) is listed
    if ob is not None:
        assert ob.citation.instrument.startswith("California AB 2013")
        assert ob.deadline is not None and deadline is not None and ob.deadline.startswith(deadline)


@pytest.mark.parametrize(("established", "noted"), [("US", True), ("KR", False), (None, False)])
def test_korea_domestic_representative_note(established: str | None, noted: bool) -> None:
    provider = {"established_in": established} if established else {}
    doc = {
        "model": {"generality": "general", **TEXT},
        "training": {"compute_flop": 1e24},
        "release": {"role": "provider", "markets": ["KR"], "provider": provider},
    }
    notes = assess(doc).regimes["kr_ai_basic_act"].notes
    assert any("domestic representative" in n for n in notes) is noted


# --- Deployers are not developers (SB 53, RAISE, EO 14110) ----------------------------------------------


def test_a_deployer_of_a_frontier_model_has_no_developer_duties() -> None:
    doc = frontier(2e26, 1e10, markets=["US-CA", "US-NY"])
    developer = assess(doc, dt.date(2027, 2, 1))
    deployer = assess(doc | {"release": {**doc["release"], "role": "deployer"}}, dt.date(2027, 2, 1))
    assert cls(developer, "us_ca_sb53", "large_frontier_developer") == "yes"
    assert duty(developer, "us_ca_sb53", "ca.sb53.incident_reporting") is not None
    assert duty(developer, "us_ny_raise", "ny.raise.framework") is not None
    # the model is still a frontier model; the duties stay with whoever trained it
    assert cls(deployer, "us_ca_sb53", "frontier_model") == "yes"
    assert cls(deployer, "us_ca_sb53", "large_frontier_developer") == "no"
    assert not {o.id for o in deployer.regimes["us_ca_sb53"].obligations} & {
        "ca.sb53.framework",
        "ca.sb53.transparency_report",
        "ca.sb53.incident_reporting",
        "ca.sb53.whistleblower",
    }
    assert deployer.regimes["us_ny_raise"].obligations == []
    old = doc | {"release": {**doc["release"], "role": "deployer"}}
    assert cls(assess(old, dt.date(2024, 6, 1)), "us_eo_14110", "reporting_required") == "no"
    assert cls(assess(doc, dt.date(2024, 6, 1)), "us_eo_14110", "reporting_required") == "yes"


def test_undeclared_role_keeps_the_developer_duties() -> None:
    doc = frontier(2e26, 1e8)
    del doc["release"]["role"]
    a = assess(doc)
    assert duty(a, "us_ca_sb53", "ca.sb53.incident_reporting") is not None


def test_duties_that_hang_on_an_open_question_are_counted_apart_in_the_summary() -> None:
    from rich.console import Console

    from modelwarden.report.text import print_assessment as render_text

    doc: dict[str, Any] = {
        "model": {"modalities": {"input": ["text"], "output": ["speech"]}},  # a TTS-like pattern
        "training": {"compute_flop": 1e24},
        "release": {"role": "provider", "provider": {"established_in": "DE"}, "markets": ["EU"]},
    }
    a = assess(doc)
    eu = a.regimes["eu_ai_act"]
    assert eu.obligations and all(o.conditional_on == ["gpai_model"] for o in eu.obligations)
    console = Console(record=True, width=200)
    render_text(a, console)
    summary = next(line for line in console.export_text().splitlines() if line.startswith("● EU AI Act"))
    assert f"{len(eu.obligations)} obligation(s) if the open questions are answered yes" in summary
    settled = assess(doc | {"model": {**doc["model"], "generality": "general"}}).regimes["eu_ai_act"]
    assert settled.obligations and all(o.conditional_on == [] for o in settled.obligations)


@pytest.mark.parametrize(
    ("release", "outputs", "expected"),
    [
        ({"role": "provider"}, ["text"], "needs_review"),  # markets undeclared: a question, not a guess
        ({"role": "provider", "markets": ["US"]}, None, "insufficient_data"),  # outputs unknown
        ({"role": "deployer", "markets": ["US-CA"]}, ["text"], "needs_review"),  # developer or not
    ],
)
def test_ab2013_asks_rather_than_guesses(
    release: dict[str, Any], outputs: list[str] | None, expected: str
) -> None:
    model: dict[str, Any] = {"modalities": {"input": ["text"], "output": outputs}} if outputs else {}
    a = assess({"model": model, "training": {"compute_flop": 1e22}, "release": release})
    regime = a.regimes["us_ca_ab2013"]
    assert cls(a, "us_ca_ab2013", "applies") == expected
    if expected == "needs_review":  # listed, but only as owed if the open question is answered yes
        assert any(q.startswith("applies:") for q in regime.needs_review)
        assert [o.conditional_on for o in regime.obligations] == [["applies"]]
    else:
        assert regime.obligations == []


# --- US export controls: ECCN 4E091, on the books but not enforced since 2025-05-13 ------------------


@pytest.mark.parametrize(
    ("compute", "weights", "as_of", "expected"),
    [
        (2e26, "closed", dt.date(2025, 3, 1), "yes"),  # before the non-enforcement announcement
        (2e26, "api_only", dt.date(2025, 5, 12), "yes"),
        (2e26, "closed", dt.date(2025, 5, 13), "needs_review"),  # not enforced: check the current EAR
        (2e26, "public", dt.date(2025, 3, 1), "no"),  # published weights are not controlled
        (2e26, "gated", dt.date(2025, 3, 1), "needs_review"),  # "published" behind a gate?
        (1e26, "closed", dt.date(2025, 3, 1), "no"),  # "more than" 10^26 is strict
        (5e25, "closed", dt.date(2025, 3, 1), "no"),
        (2e26, None, dt.date(2025, 3, 1), "needs_review"),  # weights access undeclared
    ],
)
def test_bis_4e091_controls_closed_weights_above_1e26(
    compute: float, weights: str | None, as_of: dt.date, expected: str
) -> None:
    doc = frontier(compute, 2e9, **({"weights": weights} if weights else {}))
    a = assess(doc, as_of)
    regime = a.regimes["us_bis_4e091"]
    assert cls(a, "us_bis_4e091", "controlled_weights") == expected
    licence = duty(a, "us_bis_4e091", "us.bis.4e091_licence")
    if expected == "yes":
        assert licence is not None and not licence.conditional_on
    elif expected == "needs_review":
        assert licence is not None and licence.conditional_on == ["controlled_weights"]
        assert any(q.startswith("controlled_weights:") for q in regime.needs_review)
    else:
        assert licence is None
    enforced_note = any("would not enforce" in n for n in regime.notes)
    assert enforced_note is (as_of >= dt.date(2025, 5, 13))


def test_bis_4e091_without_compute_is_insufficient_data() -> None:
    doc = {"model": TEXT, "release": {"role": "provider", "weights": "closed"}}
    assert cls(assess(doc), "us_bis_4e091", "controlled_weights") == "insufficient_data"


# --- Illinois SB 315: SB 53's tests, in force from 2027, audits from 2028 --------------------------------


@pytest.mark.parametrize(
    ("compute", "revenue", "frontier_model", "large"),
    [
        (2e26, 2e9, "yes", "yes"),
        (2e26, 5e8, "yes", "no"),  # exactly $500M is not "more than"
        (2e26, None, "yes", "needs_review"),
        (5e25, 2e9, "no", "no"),  # a big company's small model
    ],
)
def test_illinois_sb315_large_frontier_developers(
    compute: float, revenue: float | None, frontier_model: str, large: str
) -> None:
    before = assess(frontier(compute, revenue), dt.date(2026, 12, 31)).regimes["us_il_sb315"]
    assert before.in_force is False  # duties ahead are listed as not yet applicable
    assert all("not yet applicable" in (o.note or "") for o in before.obligations)
    a = assess(frontier(compute, revenue), dt.date(2027, 6, 1))
    assert cls(a, "us_il_sb315", "frontier_model") == frontier_model
    assert cls(a, "us_il_sb315", "large_frontier_developer") == large
    framework = duty(a, "us_il_sb315", "il.sb315.framework")
    assert (framework is not None) is (large in {"yes", "needs_review"})
    audit = duty(a, "us_il_sb315", "il.sb315.audit")
    if audit is not None:  # audits start a year after the other duties
        assert audit.applies_from == dt.date(2028, 1, 1)
