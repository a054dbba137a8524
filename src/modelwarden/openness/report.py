"""`assess_openness`: evidence → licence summary → MOF, OSAID, EU Art. 53(2), EOSAI, release level."""

from __future__ import annotations

from modelwarden.manifest import Manifest
from modelwarden.model import ComponentEvidence, LicenceSummary, ModelFacts, MofVerdict, OpennessReport
from modelwarden.openness import mof
from modelwarden.openness.evidence import collect, release_licence
from modelwarden.openness.licences import lookup
from modelwarden.openness.verdicts import eosai, eu_foss, osaid, release_level


def summarise_licence(facts: ModelFacts | None, manifest: Manifest | None) -> LicenceSummary:
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


def mof_listing(components: dict[str, ComponentEvidence], mode: mof.Mode = "normalised") -> mof.Listing:
    """A MOT-style listing of what the release includes: every present component with its licence.

    For MOT-exact, an identified licence is written as its SPDX id, as a MOT YAML would have it (the
    evidence keeps Hugging Face ids, which MOT's exact comparison would never count as open)."""

    def written(licence: str | None) -> str:
        if licence is None:
            return mof.UNLICENSED
        rec = lookup(licence) if mode == "mot_exact" else None
        return rec.spdx if rec is not None and rec.spdx else licence

    return mof.Listing(components={cid: written(ev.licence) for cid, ev in components.items() if ev.present})


def assess_openness(
    facts: ModelFacts | None, manifest: Manifest | None, *, mof_mode: mof.Mode = "normalised"
) -> OpennessReport:
    components = collect(facts, manifest)
    licence = summarise_licence(facts, manifest)
    result = mof.evaluate(mof_listing(components, mof_mode), mof_mode)
    level, why = release_level(components, manifest)
    return OpennessReport(
        licence=licence,
        components=components,
        mof=MofVerdict(
            class_=result.cls,
            progress={str(c): p for c, p in result.progress.items()},
            mode=result.mode,
            reasons=result.reasons,
            warnings=result.warnings,
        ),
        osaid=osaid(components, licence),
        eu_foss_licence=eu_foss(components, licence, facts, manifest),
        eosai=eosai(components, licence, facts, manifest),
        release_level=level,
        release_level_reason=why,
    )
