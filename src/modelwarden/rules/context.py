"""The facts the rule conditions see: plain values (strings, numbers, booleans, null for unknown).

Unknown stays `null`, never a default: a condition that compares a null fails to evaluate, and the
engine moves on to the rule that handles missing facts (docs/reference/regulation.md §8: outputs depend on
facts the files may not hold).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from modelwarden.compute import threshold_call
from modelwarden.manifest import Manifest, MonetisationDecl
from modelwarden.model import Band, ComponentEvidence, ComputeEstimate, ModelFacts, OpennessReport
from modelwarden.openness.licences import lookup

# Output modalities that make a model "generate language, text-to-image or text-to-video" (Guidelines
# para 17; "text" includes code and "audio" includes speech).
GENERATIVE_OUTPUTS = {"text", "code", "audio", "speech", "image", "video"}
NON_GENERATIVE_OUTPUTS = {"embedding", "tabular", "time_series", "action", "3d", "label", "other"}
EU_MEMBER_STATES = {
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT",
    "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "EU",
}  # fmt: skip


def _monetised(m: MonetisationDecl | None, flag: bool | None) -> bool | None:
    """Guidelines §4.2.2 / Recital 103: which arrangements count as monetisation."""
    if flag is not None:
        return flag
    if m is None:
        return None
    if m.microenterprise_transactions_only:
        return False
    counted = [
        m.paid_access,
        m.dual_licensing,
        m.required_paid_services,
        m.exclusive_paid_platform,
        m.ad_funded,
        m.personal_data_required,
    ]
    if any(v is True for v in counted):
        return True
    if all(v is False for v in counted) or m.optional_paid_services is not None:
        return False  # optional paid services next to free access are not monetisation
    return None


def _outputs(facts: ModelFacts | None, manifest: Manifest | None) -> list[str]:
    if manifest is not None and manifest.model.modalities is not None and manifest.model.modalities.output:
        return [m.value for m in manifest.model.modalities.output]
    if facts is not None:
        return list(facts.modalities.output)
    return []


def _inputs(facts: ModelFacts | None, manifest: Manifest | None) -> list[str]:
    if manifest is not None and manifest.model.modalities is not None and manifest.model.modalities.input:
        return [m.value for m in manifest.model.modalities.input]
    if facts is not None:
        return list(facts.modalities.input)
    return []


def _base_calls(manifest: Manifest, compute: ComputeEstimate) -> dict[str, str]:
    """Calls a modifier's rules need beyond the compute stage's: the base model's own compute against
    10^23 (is the original a GPAI model?), the modification alone against 10^23, and the modification
    against the systemic-risk fallback 10^25/3 (when the base compute is unknown, Guidelines para 61
    picks the fallback by the original's status, which may be undeclared)."""
    base = manifest.base_model
    calls: dict[str, str] = {}
    if base is not None and base.compute_flop is not None:
        point = Band(low=base.compute_flop, central=base.compute_flop, high=base.compute_flop)
        calls["base_1e23"] = threshold_call(point, 1e23, inclusive=False).value
    else:
        calls["base_1e23"] = "insufficient_data"
    calls["modification_1e23"] = threshold_call(compute.modification_flop, 1e23, inclusive=False).value
    calls["modification_one_third_sr_fallback"] = threshold_call(
        compute.modification_flop, 1e25 / 3, inclusive=False
    ).value
    return calls


def _text_only(inputs: list[str], outputs: list[str]) -> bool | None:
    """Known to take and give only text or code (a language model): rules may then infer what such a
    model is not trained on (EO 14110's biological-sequence question). Unknown modalities: null."""
    if not inputs or not outputs:
        return None
    return set(inputs) | set(outputs) <= {"text", "code"}


def _published(components: dict[str, ComponentEvidence], cid: str) -> bool | None:
    """True when found or declared present; False only when the manifest declares it absent; null when
    nothing says (not declared is not "not published": docs/assess.md, "Unknown is never no")."""
    c = components.get(cid)
    if c is None:
        return None
    if c.present:
        return True
    return False if c.evidence else None


def _weights_licence(openness: OpennessReport) -> dict[str, Any]:
    """The licence the weights are under — their own when declared, else the release's (Art. 53(2) is
    about the model) — as kind, name and the clauses set in the openness licence table, by name."""
    weights = openness.components.get("model_parameters_final")
    own = weights.licence if weights is not None and weights.present and weights.licence else None
    text = own or openness.licence.text
    rec = lookup(text)
    if rec is None:
        return {"licence_kind": "unknown" if text else None, "licence_name": text, "licence_terms": []}
    terms = [f.name for f in dataclasses.fields(rec.terms) if getattr(rec.terms, f.name)]
    return {"licence_kind": rec.kind, "licence_name": rec.name, "licence_terms": terms}


def _openness(openness: OpennessReport | None, manifest: Manifest | None) -> dict[str, Any]:
    """Facts for the EU Art. 53(2) conditions, kept apart so the rule file decides
    (docs/assess.md, "Unknown is never no")."""
    if openness is None:
        return {"eu_foss_licence": None, "licence_kind": None, "licence_name": None, "licence_terms": [],
                "weights": None, "architecture": None, "usage_info": None}  # fmt: skip
    declared = manifest.release.weights.value if manifest and manifest.release.weights else None
    components = openness.components
    published = _published(components, "model_parameters_final")
    # Declared not released (components.model_parameters_final.present: false) wins over release.weights,
    # as in the openness report: the rule file answers "no" on it.
    weights = "not_released" if published is False else declared or ("present" if published else None)
    return {
        "eu_foss_licence": openness.eu_foss_licence.verdict.value,
        **_weights_licence(openness),
        "weights": weights,
        "architecture": _published(components, "model_architecture"),
        "usage_info": _published(components, "model_card"),
    }


def _model_type(facts: ModelFacts | None, manifest: Manifest | None) -> str | None:
    if facts is not None and facts.model_type is not None:
        return str(facts.model_type.value).lower()
    if manifest is not None and manifest.model.architecture:
        return manifest.model.architecture.lower()
    return None


def model_parameters(facts: ModelFacts | None, manifest: Manifest | None) -> int | None:
    """The total the policies see: the same count compute used (`parameters.resolve`: the files'
    count when there is one, the manifest's otherwise), never the manifest's over the files'."""
    from modelwarden.facts.parameter_count import resolve

    return resolve(facts, manifest).total


def _generative(outputs: list[str]) -> bool | None:
    if not outputs:
        return None
    if GENERATIVE_OUTPUTS & set(outputs):
        return True
    return False if set(outputs) <= NON_GENERATIVE_OUTPUTS else None


def build_context(
    as_of: dt.date,
    facts: ModelFacts | None,
    manifest: Manifest | None,
    compute: ComputeEstimate,
    openness: OpennessReport | None,
) -> dict[str, Any]:
    """The CEL context the rules read: facts, manifest, compute calls and openness verdicts, as of a date."""
    m = manifest or Manifest()
    outputs = _outputs(facts, manifest)
    inputs = _inputs(facts, manifest)
    provider = m.release.provider
    placed = m.release.placed_on_market
    established = provider.established_in.upper() if provider and provider.established_in else None
    calls = {k: v.value for k, v in {**compute.thresholds, **compute.other_thresholds}.items()}
    calls.setdefault("modification_one_third", "insufficient_data")
    calls |= _base_calls(m, compute)
    cluster = m.training.cluster
    first = m.release.model_line_first_placed
    line_placed = min(d for d in (first, placed) if d is not None) if (first or placed) else None
    return {
        "as_of": as_of.isoformat(),
        "model": {
            "generality": m.model.generality.value if m.model.generality else None,
            "outputs": outputs,
            "inputs": inputs,
            "generative": _generative(outputs),
            "bio": m.model.primarily_biological_sequence_data,
            "broad_serious_risk": m.model.broad_serious_risk_to_life_safety_rights,
            "parameters": model_parameters(facts, manifest),
            "type": _model_type(facts, manifest),
            "text_only": _text_only(inputs, outputs),
        },
        "compute": {"method": compute.method, "calls": calls},
        "training": {
            "planned": m.training.planned,
            "cluster_peak_ops": cluster.peak_ops_per_s if cluster else None,
            "cluster_network_gbit": cluster.networking_gbit_s if cluster else None,
            "cluster_single_dc": cluster.single_datacenter if cluster else None,
        },
        "release": {
            "role": m.release.role.value if m.release.role else None,
            "placed": placed.isoformat() if placed else None,
            "markets": list(m.release.markets),
            "markets_declared": bool(m.release.markets),
            "eu_market": bool(EU_MEMBER_STATES & set(m.release.markets)) if m.release.markets else None,
            "weights": m.release.weights.value if m.release.weights else None,
            "monetised": _monetised(m.release.monetisation, m.release.monetised),
            "established_in": established,
            "provider_in_eu": (established in EU_MEMBER_STATES) if established else None,
            "revenue_usd": float(provider.revenue_usd)
            if provider and provider.revenue_usd is not None
            else None,
            "microenterprise": provider.microenterprise if provider else None,
            "public_service_in_china": m.release.public_service_in_china,
            "public_opinion": m.release.public_opinion_attributes,
            "eu_business_users": m.release.eu_registered_business_users,
            # The model line's first placing decides the legacy deadline (Guidelines §2.2).
            "line_placed": line_placed.isoformat() if line_placed else None,
            "internal_only": m.release.internal_research_only,
            "weights_held_by": m.release.weights_held_by.value if m.release.weights_held_by else None,
            "consequential": m.release.consequential_decisions,
            "system_offered": m.release.system_offered,
            "monthly_users": m.release.monthly_users,
            "anthropomorphic": m.release.anthropomorphic_service,
        },
        "base": {
            "name": m.base_model.name if m.base_model else None,
            "systemic_risk": m.base_model.systemic_risk if m.base_model else None,
            "compute_known": m.base_model is not None and m.base_model.compute_flop is not None,
        },
        "openness": _openness(openness, manifest),
    }
