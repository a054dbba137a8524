"""Every scenario of docs/reference/regulation_examples.md, and scenarios beyond them, through compute +
openness + rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from modelwarden.assess.run import Inputs, build_assessment
from modelwarden.manifest import parse_manifest
from modelwarden.model import Assessment, Classification, RegimeResult

AS_OF = dt.date(2026, 11, 22)
TEXT = {"modalities": {"input": ["text"], "output": ["text"]}}


def assess(doc: dict[str, Any], as_of: dt.date = AS_OF) -> Assessment:
    return build_assessment(Inputs(None, parse_manifest(doc), None), as_of=as_of)


def regime(a: Assessment, rid: str) -> RegimeResult:
    return a.regimes[rid]


def cls(a: Assessment, rid: str, name: str) -> str:
    return a.regimes[rid].classification[name].value


def duties(a: Assessment, rid: str) -> set[str]:
    return {o.id for o in a.regimes[rid].obligations}


def open_release(licence: str = "apache-2.0", **release: Any) -> dict[str, Any]:
    """A release whose weights, architecture and card are declared public in the manifest."""
    return {
        "release": {"license": licence, "weights": "public", **release},
        "components": {
            "model_parameters_final": {"license": licence},
            "model_architecture": {"license": licence},
            "model_card": {"license": licence},
        },
    }


def dense70b(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "model": {"parameters": 70_000_000_000, **TEXT},
        "training": {"tokens": 15e12},
        "release": {"role": "provider"},
    }
    for k, v in extra.items():
        doc[k] = {**doc.get(k, {}), **v}
    return doc


# --- A. EU: GPAI and systemic risk ----------------------------------------------------------------


def test_eu02_dense_70b_closed_weights() -> None:
    a = assess(dense70b(release={"placed_on_market": "2026-02-01", "weights": "closed", "markets": ["EU"]}))
    assert cls(a, "eu_ai_act", "gpai_model") == "yes"
    assert cls(a, "eu_ai_act", "systemic_risk") == "no"
    assert {"eu.art53.1a", "eu.art53.1b", "eu.art53.1c", "eu.art53.1d"} <= duties(a, "eu_ai_act")
    ob = next(o for o in regime(a, "eu_ai_act").obligations if o.id == "eu.art53.1a")
    assert ob.applies_from == dt.date(2026, 2, 1)
    assert any("2026-08-02" in n for n in regime(a, "eu_ai_act").notes)


def test_eu03_405b_open_weights_has_systemic_risk_and_loses_the_exemption() -> None:
    doc = {
        "model": {"parameters": 405_000_000_000, **TEXT},
        "training": {"tokens": 15.6e12},
        "release": {
            "role": "provider",
            "placed_on_market": "2025-10-01",
            "provider": {"established_in": "US"},
            "monetised": False,
        },
    }
    doc["release"] |= open_release()["release"]
    doc["components"] = open_release()["components"]
    a = assess(doc)
    eu = regime(a, "eu_ai_act")
    assert eu.classification["systemic_risk"] is Classification.YES
    assert eu.classification["open_source_exemption"] is Classification.NO
    assert {"eu.art52.1", "eu.art55", "eu.art54", "eu.art53.1a", "eu.art53.1b"} <= duties(a, "eu_ai_act")
    notify = next(o for o in eu.obligations if o.id == "eu.art52.1")
    assert notify.deadline is not None and "2 weeks" in notify.deadline


def test_eu09_text_to_image_model_is_gpai() -> None:
    doc = {
        "model": {"parameters": 2_600_000_000, "modalities": {"input": ["text"], "output": ["image"]}},
        "training": {"compute_flop": 4.1e23},
        "release": {"role": "provider"},
    }
    a = assess(doc)
    assert cls(a, "eu_ai_act", "gpai_model") == "yes" and cls(a, "eu_ai_act", "systemic_risk") == "no"


def test_eu12_transcription_model_is_not_gpai_despite_compute() -> None:
    doc = {
        "model": {"generality": "narrow", "modalities": {"input": ["speech"], "output": ["text"]}},
        "training": {"compute_flop": 1e24},
        "release": {"role": "provider"},
    }
    a = assess(doc)
    assert cls(a, "eu_ai_act", "gpai_model") == "no"
    assert duties(a, "eu_ai_act") == set()


# --- B. EU: modifiers -------------------------------------------------------------------------------


def test_eu20_fine_tune_below_one_third_is_not_a_new_provider() -> None:
    doc = {
        "model": TEXT,
        "release": {"role": "modifier", "markets": ["EU"]},
        "base_model": {"name": "Llama-3.1-405B", "compute_flop": 3.8e25, "systemic_risk": True},
        "training": {"modification_flop": 1e24},
    }
    a = assess(doc)
    assert cls(a, "eu_ai_act", "provider") == "no"
    assert duties(a, "eu_ai_act") == set()


def test_eu25_fallback_threshold_makes_a_small_modifier_a_provider() -> None:
    doc = {
        "model": {"generality": "general", **TEXT},
        "release": {"role": "modifier"},
        "base_model": {"name": "some-gpai", "systemic_risk": False},
        "training": {"modification_flop": 5e22},
    }
    a = assess(doc)
    assert a.compute.modification_threshold == pytest.approx(1e23 / 3)
    assert cls(a, "eu_ai_act", "provider") == "yes"
    assert "eu.art53.1a" in duties(a, "eu_ai_act")


def test_modifier_of_systemic_risk_model_above_one_third_inherits_systemic_risk() -> None:
    doc = {
        "model": {"generality": "general", **TEXT},
        "release": {"role": "modifier"},
        "base_model": {"compute_flop": 3e25, "systemic_risk": True},
        "training": {"modification_flop": 1.5e25},
    }
    a = assess(doc)
    assert cls(a, "eu_ai_act", "systemic_risk") == "yes" and "eu.art52.1" in duties(a, "eu_ai_act")


# --- C. EU: open-source exemption ----------------------------------------------------------------


def _exemption_case(licence: str, **release: Any) -> Assessment:
    doc = dense70b(release={"provider": {"established_in": "DE"}, **release})
    doc["release"] |= open_release(licence)["release"] | release
    doc["components"] = open_release(licence)["components"]
    return assess(doc)


def test_eu30_apache_free_download_gets_the_exemption() -> None:
    a = _exemption_case("apache-2.0", monetised=False)
    eu = regime(a, "eu_ai_act")
    assert eu.classification["open_source_exemption"] is Classification.YES
    assert duties(a, "eu_ai_act") == {"eu.art53.1c", "eu.art53.1d"}
    assert [e.id for e in eu.exemptions] == ["eu.art53.2"]


def test_eu32_user_scale_clause_disqualifies() -> None:
    a = _exemption_case("llama3.1", monetised=False, provider={"established_in": "US"})
    assert cls(a, "eu_ai_act", "open_source_exemption") == "no"
    assert {"eu.art53.1a", "eu.art53.1b", "eu.art53.1c", "eu.art53.1d", "eu.art54"} <= duties(a, "eu_ai_act")
    assert a.openness is not None
    assert any("700,000,000" in r for r in a.openness.eu_foss_licence.reasons)


def test_eu36_downloads_only_for_paying_subscribers_is_monetised() -> None:
    a = _exemption_case("apache-2.0", monetisation={"paid_access": True})
    assert cls(a, "eu_ai_act", "open_source_exemption") == "no"


def test_eu38_optional_paid_services_are_not_monetisation() -> None:
    a = _exemption_case("apache-2.0", monetisation={"optional_paid_services": True})
    assert cls(a, "eu_ai_act", "open_source_exemption") == "yes"


def test_unknown_monetisation_needs_review_with_a_question() -> None:
    a = _exemption_case("apache-2.0")
    eu = regime(a, "eu_ai_act")
    assert eu.classification["open_source_exemption"] is Classification.NEEDS_REVIEW
    assert any("Recital 103" in q for q in eu.needs_review)


# --- D. EU: compute edge cases -------------------------------------------------------------------


def test_eu50_moe_uses_active_parameters() -> None:
    doc = {
        "model": {"parameters": 400_000_000_000, "active_parameters": 17_000_000_000, **TEXT},
        "training": {"tokens": 22e12, "hardware": {"accelerator": "H100", "gpu_hours": 2.38e6}},
        "release": {"role": "provider"},
    }
    a = assess(doc)
    assert cls(a, "eu_ai_act", "gpai_model") == "yes" and cls(a, "eu_ai_act", "systemic_risk") == "no"


def test_eu52_hardware_only() -> None:
    doc = {
        "model": TEXT,
        "training": {"hardware": {"accelerator": "H100", "count": 1000, "hours": 720, "utilisation": 0.4}},
        "release": {"role": "provider"},
    }
    a = assess(doc)
    assert cls(a, "eu_ai_act", "gpai_model") == "yes" and cls(a, "eu_ai_act", "systemic_risk") == "no"


def test_eu54_non_public_synthetic_data_tips_into_systemic_risk() -> None:
    base = {"model": TEXT, "release": {"role": "provider"}}
    a = assess(base | {"training": {"compute_flop": 8e24, "synthetic_data_flop": 3e24}})
    assert cls(a, "eu_ai_act", "systemic_risk") == "yes"
    b = assess(
        base
        | {"training": {"compute_flop": 8e24, "synthetic_data_flop": 3e24, "synthetic_data_public": True}}
    )
    assert cls(b, "eu_ai_act", "systemic_risk") == "no"


# --- E. US federal ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("as_of", "expected"), [(dt.date(2024, 6, 1), "yes"), (dt.date(2025, 6, 1), "no")])
def test_us01_eo14110_reporting_depends_on_the_date(as_of: dt.date, expected: str) -> None:
    a = assess({"model": TEXT, "training": {"compute_flop": 2e26}}, as_of)
    eo = regime(a, "us_eo_14110")
    assert eo.classification["reporting_required"].value == expected
    assert eo.in_force is (expected == "yes")
    assert (duties(a, "us_eo_14110") == {"us.eo14110.4.2a"}) is (expected == "yes")


@pytest.mark.parametrize(("as_of", "expected"), [(dt.date(2024, 6, 1), "yes"), (dt.date(2025, 6, 1), "no")])
def test_us03_biological_sequence_model(as_of: dt.date, expected: str) -> None:
    doc = {"model": {"primarily_biological_sequence_data": True}, "training": {"compute_flop": 2e23}}
    assert cls(assess(doc, as_of), "us_eo_14110", "reporting_required") == expected


def test_eo14110_boundary_dates() -> None:
    doc = {"model": TEXT, "training": {"compute_flop": 2e26}}
    assert cls(assess(doc, dt.date(2023, 10, 29)), "us_eo_14110", "reporting_required") == "no"
    assert cls(assess(doc, dt.date(2023, 10, 30)), "us_eo_14110", "reporting_required") == "yes"
    assert cls(assess(doc, dt.date(2025, 1, 19)), "us_eo_14110", "reporting_required") == "yes"
    assert cls(assess(doc, dt.date(2025, 1, 20)), "us_eo_14110", "reporting_required") == "no"


# --- F. California and New York -------------------------------------------------------------------


def frontier(revenue: float | None, **release: Any) -> dict[str, Any]:
    provider = {"revenue_usd": revenue} if revenue is not None else {}
    return {
        "model": {"generality": "general", **TEXT},
        "training": {"compute_flop": 1.5e26},
        "release": {"role": "provider", "provider": provider, **release},
    }


def test_ca02_large_frontier_developer() -> None:
    a = assess(frontier(2e9), dt.date(2026, 3, 1))
    sb = regime(a, "us_ca_sb53")
    assert sb.in_force and sb.classification["large_frontier_developer"] is Classification.YES
    assert {
        "ca.sb53.framework",
        "ca.sb53.transparency_report",
        "ca.sb53.transparency_report_risk",
        "ca.sb53.internal_use_summaries",
        "ca.sb53.incident_reporting",
        "ca.sb53.whistleblower",
    } == duties(a, "us_ca_sb53")
    incident = next(o for o in sb.obligations if o.id == "ca.sb53.incident_reporting")
    assert (
        incident.deadline is not None and "15 days" in incident.deadline and "24 hours" in incident.deadline
    )


def test_ca04_small_frontier_developer_has_no_framework_duty() -> None:
    a = assess(frontier(80e6, weights="public"), dt.date(2026, 3, 1))
    assert cls(a, "us_ca_sb53", "frontier_model") == "yes"
    assert cls(a, "us_ca_sb53", "large_frontier_developer") == "no"
    assert duties(a, "us_ca_sb53") == {
        "ca.sb53.transparency_report",
        "ca.sb53.incident_reporting",
        "ca.sb53.whistleblower",
    }


def test_ca06_own_rl_counts_cumulatively() -> None:
    doc = {
        "model": {"generality": "general", **TEXT},
        "training": {
            "stages": [
                {"name": "base", "kind": "pretraining", "compute_flop": 9e25},
                {"name": "rl", "kind": "rl", "compute_flop": 2e25},
            ]
        },
    }
    assert cls(assess(doc), "us_ca_sb53", "frontier_model") == "yes"


def test_sb53_not_in_force_before_2026_and_revenue_unknown_needs_review() -> None:
    a = assess(frontier(None), dt.date(2025, 12, 31))
    sb = regime(a, "us_ca_sb53")
    assert sb.in_force is False
    assert sb.classification["large_frontier_developer"] is Classification.NEEDS_REVIEW
    assert any("$500 million" in q for q in sb.needs_review)
    assert all("applies from 2026-01-01" in (o.note or "") for o in sb.obligations)


def test_ny_raise_is_effective_only_from_2027() -> None:
    before = assess(frontier(2e9), AS_OF)
    ny = regime(before, "us_ny_raise")
    assert ny.in_force is False and ny.classification["large_frontier_developer"] is Classification.YES
    assert all("not yet applicable" in (o.note or "") for o in ny.obligations)
    after = regime(assess(frontier(2e9), dt.date(2027, 1, 1)), "us_ny_raise")
    assert after.in_force and "ny.raise.incident_reporting" in {o.id for o in after.obligations}


def test_third_party_fine_tune_above_1e26_needs_review_in_california() -> None:
    doc = frontier(2e9, role="modifier")
    doc["base_model"] = {"compute_flop": 2e26}
    assert cls(assess(doc), "us_ca_sb53", "frontier_model") == "needs_review"


# --- G. Korea and China -----------------------------------------------------------------------------


def test_kr04_exactly_1e26_meets_korea_but_not_california() -> None:
    doc = {"model": {"generality": "general", "broad_serious_risk_to_life_safety_rights": True, **TEXT}}
    doc["training"] = {"compute_flop": 1e26}
    a = assess(doc)
    assert cls(a, "kr_ai_basic_act", "high_performance_ai") == "yes"
    assert cls(a, "us_ca_sb53", "frontier_model") == "no"
    assert cls(a, "eu_ai_act", "systemic_risk") in {"yes", "needs_review"}
    assert "kr.art32.safety" in duties(a, "kr_ai_basic_act")


def test_korea_risk_condition_unknown_needs_review() -> None:
    a = assess({"model": TEXT, "training": {"compute_flop": 3e26}})
    assert cls(a, "kr_ai_basic_act", "high_performance_ai") == "needs_review"


def test_cn02_public_chatbot_in_china() -> None:
    doc = {"model": TEXT, "release": {"public_service_in_china": True, "public_opinion_attributes": True}}
    a = assess(doc)
    assert cls(a, "cn_genai", "applies") == "yes"
    assert duties(a, "cn_genai") == {
        "cn.security_assessment",
        "cn.training_data",
        "cn.labelling",
        "cn.labelling_measures",
    }
    assert cls(assess({"model": TEXT, "release": {"markets": ["EU"]}}), "cn_genai", "applies") == "no"


# --- H. One model, every regime ---------------------------------------------------------------------


def test_x03_eu_university_spin_out() -> None:
    doc = dense70b(
        release={
            "placed_on_market": "2026-04-01",
            "provider": {"established_in": "NL", "microenterprise": True},
            "monetised": False,
            "markets": ["EU", "US-CA", "KR"],
        }
    )
    doc["release"] |= open_release()["release"]
    doc["components"] = open_release()["components"]
    a = assess(doc)
    eu = regime(a, "eu_ai_act")
    assert eu.classification["gpai_model"] is Classification.YES
    assert eu.classification["systemic_risk"] is Classification.NO
    assert eu.classification["open_source_exemption"] is Classification.YES
    assert duties(a, "eu_ai_act") == {"eu.art53.1c", "eu.art53.1d"}
    assert cls(a, "us_ca_sb53", "frontier_model") == "no"
    assert duties(a, "us_ca_sb53") == set()
    assert duties(a, "us_ca_ab2013") == {"ca.ab2013.training_data"}  # AB 2013: offered to Californians
    assert duties(a, "kr_ai_basic_act") == {"kr.art31.transparency"}
    assert cls(a, "kr_ai_basic_act", "high_performance_ai") == "no"


def test_legacy_model_gets_the_2027_deadline() -> None:
    a = assess(dense70b(release={"placed_on_market": "2025-03-01", "weights": "closed"}))
    ob = next(o for o in regime(a, "eu_ai_act").obligations if o.id == "eu.art53.1d")
    assert ob.deadline is not None and ob.deadline.startswith("2027-08-02")


def test_planned_run_before_training_asks_for_notification() -> None:
    doc = {
        "model": {"parameters": 405_000_000_000, **TEXT},
        "training": {"tokens": 15.6e12, "planned": True},
        "release": {"role": "provider"},
    }
    a = assess(doc)
    notify = next(o for o in regime(a, "eu_ai_act").obligations if o.id == "eu.art52.1")
    assert notify.deadline is not None and "will be exceeded" in notify.deadline


def test_every_decision_is_traced_with_its_condition() -> None:
    a = assess(dense70b())
    trace = regime(a, "eu_ai_act").trace
    gpai = [t for t in trace if t.rule.startswith("gpai_model[") and t.result == "yes"]
    assert gpai and gpai[0].expression is not None and "1e23" in gpai[0].expression


def test_json_contract_flattens_classifications(tmp_path: Path) -> None:
    a = assess(dense70b())
    doc = a.model_dump(mode="json", by_alias=True)
    eu = doc["regimes"]["eu_ai_act"]
    assert {"in_force", "gpai_model", "systemic_risk", "provider", "open_source_exemption"} <= set(eu)
    assert set(doc["compute"]["thresholds"]) == {"1e23", "1e25", "1e26"}
    assert (
        Assessment.model_validate(doc).regimes["eu_ai_act"].classification
        == a.regimes["eu_ai_act"].classification
    )
