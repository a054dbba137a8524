"""Issue 17 (law): each defect class found against scenarios built from the legal texts, tested beyond
its example — the generality presumption, use-restricted licences, unknown facts, weight control,
China's Art. 12, obvious inferences, RAISE as enacted, future duties, the new manifest inputs and the
instruments that were missing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from modelwarden.assess.run import Inputs, build_assessment
from modelwarden.errors import ManifestError
from modelwarden.manifest import parse_manifest
from modelwarden.model import Assessment, Obligation
from modelwarden.rules import load_rules
from modelwarden.rules.loader import BUNDLED_ORDER

AS_OF = dt.date(2026, 12, 5)
TEXT = {"input": ["text"], "output": ["text"]}


def assess(doc: dict[str, Any], as_of: dt.date = AS_OF) -> Assessment:
    return build_assessment(Inputs(None, parse_manifest(doc), None), as_of=as_of, scan=False)


def cls(a: Assessment, rid: str, name: str) -> str:
    return a.regimes[rid].classification[name].value


def duty(a: Assessment, rid: str, oid: str) -> Obligation | None:
    return next((o for o in a.regimes[rid].obligations if o.id == oid), None)


def lm(params: int, tokens: float, **release: Any) -> dict[str, Any]:
    return {
        "model": {"parameters": params, "modalities": TEXT},
        "training": {"tokens": tokens},
        "release": {"role": "provider", "markets": ["EU"], **release},
    }


# --- Generality presumption (Recital 98) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "tokens"),
    [(7_000_000_000, 2e12), (1_000_000_000, 1e12), (3_000_000_000, 2e11), (13_000_000_000, 1.0e12)],
)
def test_a_billion_parameters_below_1e23_with_generality_undeclared_needs_review(
    params: int, tokens: float
) -> None:
    a = assess(lm(params, tokens))
    assert a.compute.training_flop is not None and a.compute.training_flop.high <= 1e23
    assert cls(a, "eu_ai_act", "gpai_model") == "needs_review"
    assert any("Recital 98" in (t.explanation or "") for t in a.regimes["eu_ai_act"].trace)
    assert any("self-supervision" in q for q in a.regimes["eu_ai_act"].needs_review)


def test_the_presumption_needs_a_billion_parameters_and_yields_to_a_declared_generality() -> None:
    assert cls(assess(lm(900_000_000, 1e12)), "eu_ai_act", "gpai_model") == "no"
    narrow = lm(7_000_000_000, 2e12)
    narrow["model"]["generality"] = "narrow"
    assert cls(assess(narrow), "eu_ai_act", "gpai_model") == "no"
    general = lm(7_000_000_000, 2e12)
    general["model"]["generality"] = "general"
    assert cls(assess(general), "eu_ai_act", "gpai_model") == "yes"
    embedder = lm(7_000_000_000, 2e12)
    embedder["model"]["modalities"] = {"input": ["text"], "output": ["embedding"]}
    assert cls(assess(embedder), "eu_ai_act", "gpai_model") == "no"


def test_a_billion_parameter_fine_tune_of_a_small_compute_base_is_asked_too() -> None:
    doc: dict[str, Any] = {
        "model": {"parameters": 7_000_000_000, "modalities": TEXT},
        "base_model": {"compute_flop": 8.4e22},
        "training": {"modification_flop": 1e21},
        "release": {"role": "modifier", "markets": ["EU"]},
    }
    assert cls(assess(doc), "eu_ai_act", "gpai_model") == "needs_review"
    doc["model"]["parameters"] = 500_000_000
    assert cls(assess(doc), "eu_ai_act", "gpai_model") == "no"


def test_a_billion_parameter_model_without_compute_is_not_left_at_insufficient_data() -> None:
    doc = {"model": {"parameters": 8_000_000_000, "modalities": TEXT}, "release": {"role": "provider"}}
    assert cls(assess(doc), "eu_ai_act", "gpai_model") == "needs_review"


# --- Use-restricted licences and Art. 53(2) ---------------------------------------------------------------


def open_release(licence: str, **extra: Any) -> dict[str, Any]:
    doc = lm(7_000_000_000, 2e12, weights="public", license=licence, monetised=False)
    doc["model"]["generality"] = "general"
    doc["components"] = {"model_architecture": {"present": True}, "model_card": {"present": True}}
    doc.update(extra)
    return doc


@pytest.mark.parametrize(
    ("licence", "clause"),
    [
        ("creativeml-openrail-m", "use_restrictions"),
        ("bigscience-openrail-m", "use_restrictions"),
        ("bigcode-openrail-m", "use_restrictions"),
        ("deepseek", "remote_restriction"),
    ],
)
def test_use_restricted_licences_need_review_naming_the_deciding_clauses(licence: str, clause: str) -> None:
    a = assess(open_release(licence))
    eu = a.regimes["eu_ai_act"]
    assert cls(a, "eu_ai_act", "open_source_exemption") == "needs_review"
    question = next(q for q in eu.needs_review if q.startswith("open_source_exemption"))
    assert clause in question and "safety" in question
    # Until a person decides, the duties the exemption would remove stay listed and say so.
    doc = duty(a, "eu_ai_act", "eu.art53.1a")
    assert doc is not None and "an exemption may remove this duty" in (doc.note or "")


@pytest.mark.parametrize(
    ("licence", "clause"),
    [("llama3.1", "user_threshold"), ("cc-by-nc-4.0", "non_commercial")],
)
def test_scale_and_non_commercial_terms_are_a_definite_no_naming_the_clause(
    licence: str, clause: str
) -> None:
    a = assess(open_release(licence))
    assert cls(a, "eu_ai_act", "open_source_exemption") == "no"
    step = next(t for t in a.regimes["eu_ai_act"].trace if t.rule.startswith("open_source_exemption["))
    assert clause in (step.explanation or "")


def test_the_weights_own_licence_decides_not_the_release_licence() -> None:
    doc = open_release("apache-2.0")
    doc["components"]["model_parameters_final"] = {"present": True, "license": "bigscience-openrail-m"}
    assert cls(assess(doc), "eu_ai_act", "open_source_exemption") == "needs_review"
    doc["components"]["model_parameters_final"] = {"present": True, "license": "cc-by-nc-4.0"}
    assert cls(assess(doc), "eu_ai_act", "open_source_exemption") == "no"


def test_a_permissive_licence_with_everything_published_gets_the_exemption() -> None:
    a = assess(open_release("apache-2.0"))
    assert cls(a, "eu_ai_act", "open_source_exemption") == "yes"
    assert duty(a, "eu_ai_act", "eu.art53.1a") is None and duty(a, "eu_ai_act", "eu.art53.1c") is not None


# --- "Not declared" is not "not published" -----------------------------------------------------------------


def test_public_apache_weights_with_architecture_and_card_undeclared_are_not_a_definite_no() -> None:
    doc = open_release("apache-2.0")
    del doc["components"]
    a = assess(doc)
    assert cls(a, "eu_ai_act", "open_source_exemption") == "insufficient_data"
    step = next(t for t in a.regimes["eu_ai_act"].trace if t.rule.startswith("open_source_exemption["))
    assert "components.model_architecture" in (step.explanation or "")
    assert "components.model_card" in (step.explanation or "")


@pytest.mark.parametrize("missing", ["weights", "licence"])
def test_other_unknown_publication_facts_are_never_no(missing: str) -> None:
    doc = open_release("apache-2.0")
    if missing == "weights":
        del doc["release"]["weights"]
    else:
        del doc["release"]["license"]
    assert cls(assess(doc), "eu_ai_act", "open_source_exemption") == "insufficient_data"


def test_declared_absence_and_closed_weights_are_a_definite_no() -> None:
    doc = open_release("apache-2.0")
    doc["components"]["model_card"] = {"present": False}
    assert cls(assess(doc), "eu_ai_act", "open_source_exemption") == "no"
    closed = open_release("apache-2.0")
    closed["release"]["weights"] = "api_only"
    assert cls(assess(closed), "eu_ai_act", "open_source_exemption") == "no"


# --- Who modifies: fine-tuning through the original provider's API ---------------------------------------


def api_finetune(holder: str | None, modification: float) -> dict[str, Any]:
    release: dict[str, Any] = {"role": "modifier", "markets": ["EU"]}
    if holder is not None:
        release["weights_held_by"] = holder
    return {
        "model": {"generality": "general", "modalities": TEXT},
        "base_model": {"compute_flop": 3e23},
        "training": {"modification_flop": modification},
        "release": release,
    }


def test_a_fine_tune_through_the_original_providers_api_needs_review_of_weight_control() -> None:
    a = assess(api_finetune("original_provider", 2e23))
    assert cls(a, "eu_ai_act", "provider") == "needs_review"
    assert any("control" in q and "weights" in q for q in a.regimes["eu_ai_act"].needs_review)
    # The same modification with the weights in the modifier's hands makes it provider (one-third rule).
    assert cls(assess(api_finetune("self", 2e23)), "eu_ai_act", "provider") == "yes"
    assert cls(assess(api_finetune(None, 2e23)), "eu_ai_act", "provider") == "yes"
    # Below one third the original provider stays provider either way.
    assert cls(assess(api_finetune("original_provider", 1e22)), "eu_ai_act", "provider") == "no"


def test_weights_held_by_rejects_unknown_values() -> None:
    with pytest.raises(ManifestError, match=r"release\.weights_held_by"):
        parse_manifest({"release": {"weights_held_by": "the cloud"}})


# --- Obvious inferences ------------------------------------------------------------------------------------


def test_a_text_only_llm_is_not_asked_about_biological_sequences() -> None:
    doc = {"model": {"modalities": TEXT}, "training": {"compute_flop": 5e24}, "release": {"role": "provider"}}
    eo = assess(doc, dt.date(2024, 6, 1)).regimes["us_eo_14110"]
    assert eo.classification["reporting_required"].value == "no"
    assert not any("biological" in q for q in eo.needs_review)


@pytest.mark.parametrize(
    "model",
    [
        {},  # modalities unknown
        {"modalities": {"input": ["text"], "output": ["text"]}, "architecture": "esm"},  # a protein LM
        {"modalities": {"input": ["biological_sequence"], "output": ["text"]}},
    ],
)
def test_the_biological_question_stays_when_it_is_not_obvious(model: dict[str, Any]) -> None:
    doc = {"model": model, "training": {"compute_flop": 5e24}, "release": {"role": "provider"}}
    eo = assess(doc, dt.date(2024, 6, 1)).regimes["us_eo_14110"]
    assert eo.classification["reporting_required"].value == "needs_review"
    assert any("biological" in q for q in eo.needs_review)


# --- New York RAISE as enacted ---------------------------------------------------------------------------


def ny(revenue: float, markets: list[str] | None, **release: Any) -> dict[str, Any]:
    rel: dict[str, Any] = {"role": "provider", "provider": {"revenue_usd": revenue}, **release}
    if markets is not None:
        rel["markets"] = markets
    return {
        "model": {"generality": "general", "modalities": TEXT},
        "training": {"compute_flop": 2e26},
        "release": rel,
    }


def test_raise_transparency_and_incidents_bind_every_frontier_developer_large_duties_only_large() -> None:
    small = assess(ny(1e8, ["US-NY"]), dt.date(2027, 1, 1)).regimes["us_ny_raise"]
    assert {o.id for o in small.obligations} == {
        "ny.raise.transparency_report",
        "ny.raise.incident_reporting",
    }
    large = assess(ny(1e9, ["US-NY"]), dt.date(2027, 1, 1)).regimes["us_ny_raise"]
    assert {o.id for o in large.obligations} == {
        "ny.raise.framework",
        "ny.raise.transparency_report",
        "ny.raise.incident_reporting",
        "ny.raise.internal_use_summaries",
        "ny.raise.disclosure_statement",
    }
    cites = {o.id: o.citation.article for o in large.obligations}
    assert cites["ny.raise.incident_reporting"] == "GBL §1422"
    assert cites["ny.raise.disclosure_statement"] == "GBL §1428"
    assert cites["ny.raise.framework"] == cites["ny.raise.transparency_report"] == "GBL §1421"


def test_raise_needs_a_new_york_nexus() -> None:
    off = assess(ny(1e9, ["EU"], weights="closed"), dt.date(2027, 1, 1))
    assert cls(off, "us_ny_raise", "ny_nexus") == "no" and off.regimes["us_ny_raise"].obligations == []
    download = assess(ny(1e9, ["EU"], weights="public"), dt.date(2027, 1, 1))
    assert cls(download, "us_ny_raise", "ny_nexus") == "needs_review"
    undeclared = assess(ny(1e9, None), dt.date(2027, 1, 1))
    assert cls(undeclared, "us_ny_raise", "ny_nexus") == "needs_review"
    assert all(o.conditional_on == ["ny_nexus"] for o in undeclared.regimes["us_ny_raise"].obligations)


def test_no_transparency_report_for_a_model_never_deployed() -> None:
    a = assess(ny(1e9, ["US"], internal_research_only=True), dt.date(2027, 1, 1))
    ids = {o.id for o in a.regimes["us_ny_raise"].obligations}
    assert "ny.raise.transparency_report" not in ids and "ny.raise.internal_use_summaries" in ids
    sb53 = {o.id for o in a.regimes["us_ca_sb53"].obligations}
    assert "ca.sb53.transparency_report" not in sb53 and "ca.sb53.internal_use_summaries" in sb53


# --- Future duties: one treatment for every instrument --------------------------------------------------


def everything(**release: Any) -> dict[str, Any]:
    return {
        "model": {"generality": "general", "modalities": {"input": ["text"], "output": ["text", "image"]}},
        "training": {"compute_flop": 2e26},
        "release": {
            "role": "provider",
            "markets": ["EU", "US", "CN", "KR", "VN"],
            "provider": {"revenue_usd": 1e9},
            "public_service_in_china": True,
            "anthropomorphic_service": True,
            "consequential_decisions": True,
            "system_offered": True,
            "monthly_users": 5_000_000,
            **release,
        },
    }


@pytest.mark.parametrize("as_of", [dt.date(2025, 1, 1), dt.date(2026, 7, 1), AS_OF, dt.date(2028, 6, 1)])
def test_every_listed_duty_has_a_start_date_and_a_status_that_agrees_with_it(as_of: dt.date) -> None:
    a = assess(everything(), as_of)
    seen = 0
    for r in a.regimes.values():
        for o in r.obligations:
            seen += 1
            assert o.applies_from is not None, o.id
            assert o.applies_to is not None, o.id
            expected = "not_yet_in_force" if o.applies_from > as_of else "in_force"
            assert o.status == expected, (o.id, o.applies_from, as_of)
            assert ("not yet applicable" in (o.note or "")) == (expected == "not_yet_in_force"), o.id
    assert seen > 10


def test_the_summary_line_counts_duties_not_yet_in_force() -> None:
    from modelwarden.report.assess import summary

    lines = {line.regime: line.text for line in summary(assess(everything(), dt.date(2026, 12, 1)))}
    art5 = next(text for name, text in lines.items() if name.startswith("EU AI Act Art. 5 ("))
    assert art5.startswith("2 obligation(s) (1 not yet in force)")
    later = {line.regime: line.text for line in summary(assess(everything(), dt.date(2026, 12, 2)))}
    assert "not yet in force" not in next(t for n, t in later.items() if n.startswith("EU AI Act Art. 5 ("))


def test_a_duty_never_applies_before_its_instrument() -> None:
    a = assess(everything(), dt.date(2026, 12, 31))
    for o in a.regimes["us_ny_raise"].obligations + a.regimes["us_co_sb26_189"].obligations:
        assert o.applies_from == dt.date(2027, 1, 1) and o.status == "not_yet_in_force"


def test_every_bundled_duty_says_who_owes_it() -> None:
    for c in load_rules().instruments:
        for o in c.spec.obligations:
            assert o.applies_to is not None, (c.spec.id, o.id)


# --- Manifest inputs: model line, internal research -----------------------------------------------------


def test_a_new_version_inherits_the_legacy_deadline_of_its_model_line() -> None:
    doc: dict[str, Any] = {
        "model": {"generality": "general", "modalities": TEXT},
        "release": {"role": "provider", "markets": ["EU"], "placed_on_market": "2026-03-01"},
    }
    fresh = duty(assess(doc), "eu_ai_act", "eu.art53.1a")
    assert fresh is not None and fresh.applies_from == dt.date(2026, 3, 1)
    assert "on placing" in (fresh.deadline or "")
    doc["release"]["model_line_first_placed"] = "2024-09-01"
    legacy = assess(doc)
    d = duty(legacy, "eu_ai_act", "eu.art53.1a")
    assert d is not None and (d.deadline or "").startswith("2027-08-02")
    assert any("model line" in n for n in legacy.regimes["eu_ai_act"].notes)


def test_internal_research_only_is_not_a_gpai_model_on_the_market() -> None:
    doc = {
        "model": {"generality": "general", "modalities": TEXT},
        "training": {"compute_flop": 5e25},
        "release": {"role": "provider", "internal_research_only": True},
    }
    a = assess(doc)
    assert cls(a, "eu_ai_act", "gpai_model") == "no" and a.regimes["eu_ai_act"].obligations == []
    assert cls(a, "eu_ai_act_art50", "eu_system") == "no"


def test_cluster_facts_decide_eo14110_cluster_reporting_while_it_was_in_force() -> None:
    def cluster(**c: Any) -> dict[str, Any]:
        return {"training": {"cluster": c}, "release": {"role": "provider"}}

    day = dt.date(2024, 6, 1)
    big = {"peak_ops_per_s": 2e20, "single_datacenter": True, "networking_gbit_s": 400}
    assert cls(assess(cluster(**big), day), "us_eo_14110", "cluster_reporting") == "yes"
    assert (
        cls(assess(cluster(**{**big, "peak_ops_per_s": 5e19}), day), "us_eo_14110", "cluster_reporting")
        == "no"
    )
    assert (
        cls(assess(cluster(**{**big, "networking_gbit_s": 100}), day), "us_eo_14110", "cluster_reporting")
        == "no"
    )
    assert (
        cls(assess(cluster(peak_ops_per_s=2e20), day), "us_eo_14110", "cluster_reporting") == "needs_review"
    )
    assert cls(assess(cluster(**big), dt.date(2025, 1, 20)), "us_eo_14110", "cluster_reporting") == "no"


def test_new_manifest_inputs_reject_bad_values_naming_the_key() -> None:
    for bad, key in [
        ({"release": {"model_line_first_placed": "last year"}}, "release.model_line_first_placed"),
        ({"release": {"monthly_users": -1}}, "release.monthly_users"),
        ({"training": {"cluster": {"peak_ops_per_s": True}}}, "training.cluster.peak_ops_per_s"),
        ({"release": {"consequential_decisions": "maybe"}}, "release.consequential_decisions"),
    ]:
        with pytest.raises(ManifestError, match=key.replace(".", r"\.")):
            parse_manifest(bad)


# --- The instruments that were missing ----------------------------------------------------------------------


NEW = [
    "eu_ai_act_art50",
    "eu_ai_act_art5",
    "us_ca_sb942",
    "us_co_sb26_189",
    "us_tx_traiga",
    "cn_anthropomorphic",
    "vn_ai_law",
]


@pytest.mark.parametrize(
    ("regime", "first_day"),
    [
        ("eu_ai_act_art50", dt.date(2026, 8, 2)),
        ("eu_ai_act_art5", dt.date(2025, 2, 2)),
        ("us_ca_sb942", dt.date(2026, 8, 2)),  # AB 853 moved it from 2026-01-01
        ("us_co_sb26_189", dt.date(2027, 1, 1)),
        ("us_tx_traiga", dt.date(2026, 1, 1)),
        ("cn_anthropomorphic", dt.date(2026, 7, 15)),
        ("vn_ai_law", dt.date(2026, 3, 1)),
    ],
)
def test_each_new_instrument_comes_into_force_on_its_date(regime: str, first_day: dt.date) -> None:
    assert regime in BUNDLED_ORDER
    assert assess(everything(), first_day - dt.timedelta(days=1)).regimes[regime].in_force is False
    assert assess(everything(), first_day).regimes[regime].in_force is True


def test_omnibus_dates_for_art50_marking_and_the_new_art5_prohibition() -> None:
    legacy = assess(everything(placed_on_market="2026-05-01"), dt.date(2026, 12, 1))
    mark = duty(legacy, "eu_ai_act_art50", "eu.art50.2")
    assert (
        mark is not None and mark.applies_from == dt.date(2026, 12, 2) and mark.status == "not_yet_in_force"
    )
    new = duty(
        assess(everything(placed_on_market="2026-09-01"), dt.date(2026, 12, 1)),
        "eu_ai_act_art50",
        "eu.art50.2",
    )
    assert new is not None and new.applies_from == dt.date(2026, 8, 2) and new.status == "in_force"
    for day, status in [(dt.date(2026, 12, 1), "not_yet_in_force"), (dt.date(2026, 12, 2), "in_force")]:
        ncii = duty(assess(everything(), day), "eu_ai_act_art5", "eu.art5.ncii_csam")
        assert ncii is not None and ncii.status == status and ncii.applies_to == "system_provider"
    text_only = everything()
    text_only["model"]["modalities"] = TEXT
    assert duty(assess(text_only), "eu_ai_act_art5", "eu.art5.ncii_csam") is None


def test_system_duties_do_not_fall_on_a_model_provider_that_offers_no_system() -> None:
    a = assess(everything(system_offered=False))
    assert duty(a, "eu_ai_act_art50", "eu.art50.2") is None
    assert duty(a, "eu_ai_act_art5", "eu.art5.ncii_csam") is None
    assert duty(a, "vn_ai_law", "vn.transparency") is None and duty(a, "vn_ai_law", "vn.prohibited_acts")
    assert cls(a, "us_ca_sb942", "covered_provider") == "no"
    assert any("not on this release" in n for n in a.regimes["eu_ai_act_art50"].notes)


@pytest.mark.parametrize(
    ("users", "outputs", "expected"),
    [
        (5_000_000, ["image"], "yes"),
        (1_000_000, ["image"], "no"),  # "over 1,000,000"
        (1_000_001, ["audio"], "yes"),
        (5_000_000, ["text"], "no"),  # text is not covered
        (None, ["video"], "needs_review"),
    ],
)
def test_california_ai_transparency_act_threshold_and_content(
    users: int | None, outputs: list[str], expected: str
) -> None:
    doc = everything(monthly_users=users) if users is not None else everything()
    if users is None:
        del doc["release"]["monthly_users"]
    doc["model"]["modalities"] = {"input": ["text"], "output": outputs}
    assert cls(assess(doc), "us_ca_sb942", "covered_provider") == expected


def test_colorado_turns_on_consequential_decisions_and_splits_developer_and_deployer_duties() -> None:
    day = dt.date(2027, 1, 1)
    a = assess(everything(), day)
    dev = duty(a, "us_co_sb26_189", "co.sb26_189.developer_documentation")
    dep = duty(a, "us_co_sb26_189", "co.sb26_189.deployer_notice")
    assert (
        dev is not None and dev.applies_to == "developer" and dep is not None and dep.applies_to == "deployer"
    )
    assert (
        cls(assess(everything(consequential_decisions=False), day), "us_co_sb26_189", "covered_admt") == "no"
    )
    undeclared = everything()
    del undeclared["release"]["consequential_decisions"]
    assert cls(assess(undeclared, day), "us_co_sb26_189", "covered_admt") == "needs_review"


@pytest.mark.parametrize(
    ("regime", "markets", "expected"),
    [
        ("vn_ai_law", ["VN"], "yes"),
        ("vn_ai_law", ["EU"], "no"),
        ("us_tx_traiga", ["US-TX"], "yes"),
        ("us_tx_traiga", ["US-CA"], "no"),
        ("cn_anthropomorphic", ["CN"], "yes"),
        ("cn_anthropomorphic", ["EU"], "no"),
    ],
)
def test_market_scoped_instruments(regime: str, markets: list[str], expected: str) -> None:
    assert cls(assess(everything(markets=markets)), regime, "applies") == expected


def test_china_anthropomorphic_measures_need_a_companion_service() -> None:
    assert cls(assess(everything(anthropomorphic_service=False)), "cn_anthropomorphic", "applies") == "no"
    doc = everything()
    del doc["release"]["anthropomorphic_service"]
    assert cls(assess(doc), "cn_anthropomorphic", "applies") == "needs_review"


@pytest.mark.parametrize("regime", NEW)
def test_instruments_known_from_secondary_sources_say_so_in_the_output(regime: str) -> None:
    notes = " ".join(assess(everything()).regimes[regime].notes)
    if regime in {"us_co_sb26_189"}:
        assert "secondary" in notes
    else:
        assert "secondary sources" in notes
