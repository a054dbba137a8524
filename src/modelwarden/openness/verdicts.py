"""Framework verdicts derived from the shared per-component evidence (docs/reference/openness.md §8.1).

OSI OSAID 1.0 (§2), EU AI Act Art. 53(2) licence-and-publication conditions (§5; docs/reference/regulation.md
§1.7), the European Open Source AI Index 12-parameter vector (§3) and Solaiman's release gradient (§4).
"""

from __future__ import annotations

from modelwarden.manifest import Manifest, ReleaseLevel, WeightsAccess
from modelwarden.model import (
    ComponentEvidence,
    EosaiScores,
    EuFossVerdict,
    LicenceSummary,
    ModelFacts,
    OsaidVerdict,
    Source,
    YesNoReview,
)
from modelwarden.openness.licences import Licence, lookup

# OSI's checklist groups (docs/reference/openness.md §2): code components need OSI-approved licences.
OSAID_CODE = [
    "data_preprocessing_code",
    "training_code",
    "inference_code",
    "supporting_libraries",
    "model_architecture",
]
OSAID_DATA_INFORMATION = ["datasets", "data_card", "technical_report", "research_paper"]
EOSAI_PARAMETERS = [
    "datasources_basemodel",
    "datasources_endmodel",
    "weights_basemodel",
    "weights_endmodel",
    "trainingcode",
    "code",
    "hardware_architecture",
    "preprint",
    "paper",
    "modelcard",
    "datasheet",
    "licenses",
]


def _has(components: dict[str, ComponentEvidence], cid: str) -> bool:
    c = components.get(cid)
    return c is not None and c.present


def _open(components: dict[str, ComponentEvidence], cid: str) -> bool:
    c = components.get(cid)
    return c is not None and c.present and c.open is True


def _osi(components: dict[str, ComponentEvidence], cid: str) -> bool:
    c = components.get(cid)
    rec = lookup(c.licence) if c is not None and c.present else None
    # on OSI's list, not merely free (WTFPL, BSD-3-Clause-Clear: docs/reference/openness.md §6.2)
    return rec is not None and rec.osi and rec.open


def osaid(components: dict[str, ComponentEvidence], licence: LicenceSummary) -> OsaidVerdict:
    """Binary: all four freedoms for the whole system — code, parameters and data information."""
    failing: list[str] = []
    if licence.restrictions:
        failing.append(
            "use for any purpose: the licence restricts use (" + "; ".join(licence.restrictions) + ")"
        )
    if not _has(components, "model_parameters_final"):
        failing.append("parameters: the weights are not released")
    elif not _open(components, "model_parameters_final"):
        failing.append("parameters: the weights are not under OSI-approved or equivalent open terms")
    for cid in OSAID_CODE:
        if not _has(components, cid):
            failing.append(f"code: {cid.replace('_', ' ')} is not released")
        elif not _osi(components, cid):
            failing.append(f"code: {cid.replace('_', ' ')} is not under an OSI-approved licence")
    if not any(_open(components, cid) for cid in OSAID_DATA_INFORMATION):
        failing.append(
            "data information: no openly available description of the training data "
            "(data card, technical report, paper or the datasets themselves)"
        )
    return OsaidVerdict(pass_=not failing, failing=failing)


def _weights_access(facts: ModelFacts | None, manifest: Manifest | None) -> WeightsAccess | None:
    if manifest is not None and manifest.release.weights is not None:
        return manifest.release.weights
    if facts is not None and facts.card is not None and _gated_card(facts.card.metadata):
        return WeightsAccess.GATED  # the Hub shows the weights only after the card's access form
    return None


def _gated_card(metadata: dict[str, object]) -> bool:
    """Hugging Face gating in the card's front matter (`extra_gated_prompt`, `extra_gated_fields`...)."""
    return any(str(k).startswith("extra_gated") for k in metadata)


def _weights_licence(components: dict[str, ComponentEvidence], licence: LicenceSummary) -> str | None:
    """The licence the weights themselves are under: their own when declared, else the release's."""
    weights = components.get("model_parameters_final")
    if weights is not None and weights.present and weights.licence is not None:
        return weights.licence
    return licence.text


def eu_foss(
    components: dict[str, ComponentEvidence],
    licence: LicenceSummary,
    facts: ModelFacts | None,
    manifest: Manifest | None,
) -> EuFossVerdict:
    """Art. 53(2) licence and publication conditions (monetisation and systemic risk are the rules
    engine's part of the exemption: docs/reference/regulation.md §1.7)."""
    no: list[str] = []
    review: list[str] = []
    ok: list[str] = []
    # The weights' licence decides (docs/reference/openness.md §5), which may differ from the code's or the
    # card's.
    text = _weights_licence(components, licence)
    rec = lookup(text)
    terms = rec.terms if rec is not None else None
    if not text:
        # Not found is not "not published": the licence may sit where we did not look (a hub page, a
        # separate repository). Unknown is a question, never a definite no.
        review.append(
            "no licence found in the files and none declared: without one no right to use, modify or "
            "distribute is granted — is the release under a licence? (declare release.license)"
        )
    elif rec is None or rec.kind == "unknown":
        review.append(
            f"licence {text!r} is not identified: does it allow access, use, modification and "
            "distribution without restriction beyond attribution and share-alike?"
        )
    elif rec.kind in {"non_commercial", "no_derivatives", "proprietary"} or (terms and terms.disqualifying()):
        why = ", ".join(terms.restrictions()) if terms is not None and terms.restrictions() else rec.kind
        no.append(f"{rec.name} is not a free and open-source licence in the sense of Art. 53(2): {why}")
    elif rec.kind == "restricted":
        review.append(_judgement_question(rec))
    else:
        ok.append(f"{rec.name} allows access, use, modification and distribution (Recital 102)")
        policies = (
            [f.path for f in facts.license_files if f.kind in {"use_policy", "acceptable_use"}]
            if facts
            else []
        )
        if policies:
            review.append(
                f"{', '.join(policies)} sets use conditions beside the {rec.name} licence: do they bind "
                "users (a field-of-use restriction Art. 53(2) does not allow) or only recommend?"
            )

    access = _weights_access(facts, manifest)
    if manifest is not None and _declared_absent(manifest, "model_parameters_final"):
        # Declared not released: a definite no, whatever the files hold or release.weights says.
        no.append("the final weights are not released (components.model_parameters_final.present: false)")
    elif access in {WeightsAccess.API_ONLY, WeightsAccess.CLOSED}:
        no.append(f"weights are not publicly available (release.weights: {access.value})")
    elif access is WeightsAccess.GATED:
        review.append(
            (
                "weights are gated (release.weights)"
                if manifest is not None and manifest.release.weights
                else "weights are gated (the card's extra_gated_* fields)"
            )
            + ": is access granted to anyone without payment, with at most "
            "non-discriminatory verification for safety (Guidelines §4.2)?"
        )
    elif access is WeightsAccess.PUBLIC:
        ok.append("weights declared public in the manifest (release.weights)")
    elif _has(components, "model_parameters_final"):
        weights = components["model_parameters_final"]
        in_files = any(e.provenance.source is Source.FILE for e in weights.evidence)
        ok.append(
            "weights present in the release files"
            if in_files
            else "weights listed as released in the release description (not checked against files)"
        )
    else:
        review.append("are the weights publicly available? none were found and the manifest does not say")
    for cid, what in (
        ("model_architecture", "information on the architecture"),
        ("model_card", "usage information (model card)"),
    ):
        if _has(components, cid):
            ok.append(f"{what} available")
        elif manifest is not None and _declared_absent(manifest, cid):
            no.append(f"no {what} is published (components.{cid}.present: false)")
        else:
            review.append(
                f"{what}: not found in the files and not declared — is it published? "
                f"(declare components.{cid})"
            )
    if no:
        return EuFossVerdict(verdict=YesNoReview.NO, reasons=no + review)
    if review:
        return EuFossVerdict(verdict=YesNoReview.NEEDS_REVIEW, reasons=review + ok)
    return EuFossVerdict(verdict=YesNoReview.YES, reasons=ok)


def _judgement_question(rec: Licence) -> str:
    """A custom licence whose only limits are use restrictions of the kind the Guidelines may accept
    (OpenRAIL-M, DeepSeek, Gemma-style): the answer is in the text of the clauses, so name them."""
    clauses = rec.deciding_clauses() or [f"the custom terms of {rec.name}"]
    return (
        f"{rec.name} restricts use — deciding clauses: "
        + "; ".join(clauses)
        + ". Art. 53(2) applies only if each is a specific, proportionate, safety-oriented restriction "
        "on uses posing significant risk to public safety, security or fundamental rights, applied on "
        "objective, non-discriminatory criteria (Guidelines §4.2.1); otherwise it is a field-of-use "
        "restriction the exemption does not allow"
    )


def eosai(
    components: dict[str, ComponentEvidence],
    licence: LicenceSummary,
    facts: ModelFacts | None,
    manifest: Manifest | None,
) -> EosaiScores:
    """open = 1, partial = 0.5, closed or missing = 0; the mean of the 12 parameters (§3)."""
    access = _weights_access(facts, manifest)
    weights = 0.0
    if _has(components, "model_parameters_final") or access is WeightsAccess.PUBLIC:
        weights = 0.5 if access is WeightsAccess.GATED else 1.0
    if access in {WeightsAccess.API_ONLY, WeightsAccess.CLOSED}:
        weights = 0.0
    derived = bool((facts is not None and facts.base_model) or (manifest and manifest.base_model))
    data = 1.0 if _open(components, "datasets") else 0.5 if _has(components, "datasets") else 0.0
    hw = manifest.training.hardware if manifest is not None else None
    hardware = 0.0
    if hw is not None:
        known = sum(
            x is not None for x in (hw.accelerator, hw.count or hw.gpu_hours, hw.hours or hw.gpu_hours)
        )
        hardware = 1.0 if known == 3 else 0.5 if known else 0.0
    card_chars = facts.card.text_chars if facts is not None and facts.card is not None else 0
    card = 0.0
    if _has(components, "model_card"):
        card = 1.0 if card_chars >= 4000 or (manifest and _declared(manifest, "model_card")) else 0.5
    open_parts = [
        _open(components, "model_parameters_final"),
        _open(components, "training_code") or _open(components, "inference_code"),
        _open(components, "datasets"),
    ]
    licences = 1.0 if all(open_parts) else 0.5 if sum(open_parts) >= 2 else 0.0
    scores = {
        "datasources_basemodel": data if not derived else 0.0,
        "datasources_endmodel": data,
        "weights_basemodel": weights if not derived else 0.0,
        "weights_endmodel": weights,
        "trainingcode": 1.0 if _has(components, "training_code") else 0.0,
        "code": 1.0
        if _has(components, "training_code") and _has(components, "inference_code")
        else 0.5
        if _has(components, "training_code") or _has(components, "inference_code")
        else 0.0,
        "hardware_architecture": hardware,
        "preprint": 1.0
        if _has(components, "research_paper") or _has(components, "technical_report")
        else 0.0,
        "paper": 1.0 if _peer_reviewed(manifest) else 0.0,
        "modelcard": card,
        "datasheet": 1.0 if _has(components, "data_card") else 0.0,
        "licenses": licences,
    }
    return EosaiScores(scores=scores, mean=round(sum(scores.values()) / len(scores), 4))


def _declared(manifest: Manifest, cid: str) -> bool:
    return any(c.value == cid and d.present for c, d in manifest.components.items())


def _declared_absent(manifest: Manifest, cid: str) -> bool:
    return any(c.value == cid and not d.present for c, d in manifest.components.items())


def _peer_reviewed(manifest: Manifest | None) -> bool:
    if manifest is None:
        return False
    for c, d in manifest.components.items():
        if c.value == "research_paper" and d.present and d.note and "peer" in d.note.lower():
            return True
    return False


def release_level(
    components: dict[str, ComponentEvidence], manifest: Manifest | None
) -> tuple[str | None, str | None]:
    """Solaiman's gradient: files tell downloadable from fully open; levels 1–4 need the manifest."""
    declared = manifest.release.level if manifest is not None else None
    access = manifest.release.weights if manifest is not None else None
    weights = _has(components, "model_parameters_final") or access in {
        WeightsAccess.PUBLIC,
        WeightsAccess.GATED,
    }
    if not weights or access in {WeightsAccess.API_ONLY, WeightsAccess.CLOSED}:
        if declared is not None:
            return declared.value, "declared in the manifest (release.level)"
        if access is WeightsAccess.API_ONLY:
            return (
                ReleaseLevel.API.value,
                "weights stay with the provider; access through an API (release.weights)",
            )
        if access is WeightsAccess.CLOSED:
            return ReleaseLevel.FULLY_CLOSED.value, "weights not released (release.weights: closed)"
        return None, "no weights found and the manifest does not declare how the model is released"
    replication = _open(components, "training_code") and (
        _open(components, "datasets")
        or _open(components, "data_card")
        or _open(components, "technical_report")
    )
    if replication and _open(components, "model_parameters_final"):
        return (
            ReleaseLevel.FULLY_OPEN.value,
            "weights, training code and data or data documentation under open terms",
        )
    missing = [
        name
        for name, ok in (
            ("open weights", _open(components, "model_parameters_final")),
            ("open training code", _open(components, "training_code")),
            ("open data or data documentation", replication),
        )
        if not ok
    ]
    return ReleaseLevel.DOWNLOADABLE.value, "weights can be downloaded; missing for fully open: " + ", ".join(
        missing
    )
