"""`assess_openness`: evidence → licence summary → MOF, OSAID, EU Art. 53(2), EOSAI, release level."""

from __future__ import annotations

from modelwarden.manifest import Manifest
from modelwarden.model import (
    ComponentEvidence,
    LicenceSummary,
    ModelFacts,
    MofComponentStatus,
    MofVerdict,
    OpennessReport,
)
from modelwarden.openness import mof
from modelwarden.openness.evidence import Collected, collect, release_licence
from modelwarden.openness.licences import lookup
from modelwarden.openness.verdicts import eosai, eu_foss, osaid, release_level


def summarise_licence(facts: ModelFacts | None, manifest: Manifest | None) -> LicenceSummary:
    """The release licence, classified from the licence table."""
    found = release_licence(facts, manifest)
    rec = lookup(found.text)
    if rec is None:
        return LicenceSummary(text=found.text, provenance=found.provenance)
    return LicenceSummary(
        text=found.text,
        id=rec.id,
        name=rec.name,
        kind=rec.kind,
        restrictions=rec.terms.restrictions(),
        provenance=found.provenance,
    )


def mof_listing(collected: Collected, mode: mof.Mode = "normalised") -> mof.Listing:
    """A MOT-style listing of what the release includes: every present component with its licence.

    MOT-exact lists each licence as the release description wrote it (`Collected.written`); the
    normalised mode lists the canonical id the licence table gave it."""

    def listed(cid: str, ev: ComponentEvidence) -> str:
        text = collected.written.get(cid) if mode == "mot_exact" else ev.licence
        return mof.UNLICENSED if text is None else text

    return mof.Listing(
        components={cid: listed(cid, ev) for cid, ev in collected.components.items() if ev.present}
    )


def mof_verdict(result: mof.MofResult) -> MofVerdict:
    """The MOF evaluation as the record reports it."""
    return MofVerdict(
        class_=result.cls,
        progress={str(c): p for c, p in result.progress.items()},
        mode=result.mode,
        reasons=result.reasons,
        warnings=result.warnings,
        components={
            cid: MofComponentStatus(status=status, licence=result.licences.get(cid))
            for cid, status in result.status.items()
        },
    )


def assess_openness(
    facts: ModelFacts | None, manifest: Manifest | None, *, mof_mode: mof.Mode = "normalised"
) -> OpennessReport:
    """Every openness verdict for a release, from one shared evidence record."""
    collected = collect(facts, manifest)
    components = collected.components
    licence = summarise_licence(facts, manifest)
    result = mof.evaluate(mof_listing(collected, mof_mode), mof_mode)
    level, why = release_level(components, manifest)
    return OpennessReport(
        licence=licence,
        components=components,
        mof=mof_verdict(result),
        osaid=osaid(components, licence),
        eu_foss_licence=eu_foss(components, licence, facts, manifest),
        eosai=eosai(components, licence, facts, manifest),
        release_level=level,
        release_level_reason=why,
    )
