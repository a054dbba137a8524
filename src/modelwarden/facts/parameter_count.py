"""The one parameter count of a model, decided once (issue 17): files or manifest.

Every stage (compute, the rules context, drafts, the registry) takes its parameter count from
`resolve`; nothing else compares the files' count with the manifest's. Kept apart from
`parameters` (tensor counting) so that the compute stage does not import the file readers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from modelwarden.manifest import Manifest
from modelwarden.model import Layout, ModelFacts, ParameterCount, ParameterDisagreement, Provenance, Source

# Files and manifest within 1% agree (a manifest may round, "6.74B"); beyond it the disagreement is a
# recorded fact. The one tolerance of the project for this question (docs/compute.md).
TOLERANCE = 0.01
_MARK = "files and manifest disagree: "  # the prefix of the warning a disagreement adds


def resolve(
    facts: ModelFacts | None, manifest: Manifest | None, *, manifest_file: str | None = None
) -> ParameterCount:
    """The parameter count every stage uses, with any files/manifest disagreement recorded in it.

    Counted beats declared: the files' count (tensor headers, else the config formula) is used and
    a manifest figure differing by more than `TOLERANCE` is kept as a `ParameterDisagreement` with
    both provenances. The manifest fills what the files do not give (no weights; the active count of
    a mixture of experts whose top-k the config omits). An adapter's files count the adapter, not the
    model, so for adapters the model's count is the manifest's.
    """
    adapter = facts is not None and (facts.layout is Layout.PEFT_ADAPTER or facts.adapter is not None)
    counted = facts.parameters if facts is not None and not adapter else ParameterCount()
    if manifest is None:
        return counted.model_copy(deep=True)
    if counted.total is None and counted.source is None:
        return _declared(manifest, manifest_file)
    return resolve_counts(counted, manifest, manifest_file=manifest_file)


def resolve_counts(
    counted: ParameterCount, manifest: Manifest, *, manifest_file: str | None = None
) -> ParameterCount:
    """`resolve` on a files' count (possibly empty) and a manifest."""
    # Shallow: the lists this function changes are replaced, everything else is only read.
    out = counted.model_copy(update={"disagreements": [], "warnings": list(counted.warnings)})
    if out.active_source == "manifest":  # decided against an earlier manifest: decide again
        out.active = out.active_without_input_embedding = out.active_source = None
    declared_total = int(manifest.model.parameters) if manifest.model.parameters else None
    declared_active = int(manifest.model.active_parameters) if manifest.model.active_parameters else None

    def prov(field_name: str) -> Provenance:
        return Provenance(source=Source.MANIFEST, file=manifest_file, field=f"model.{field_name}")

    if out.total is None or out.source in (None, "manifest"):
        # Nothing counted: the manifest is the only source.
        out.total = declared_total
        out.active = declared_active
        out.source = "manifest" if declared_total or declared_active else None
        out.provenance = prov("parameters") if declared_total else out.provenance
        out.active_source = None
        return out
    out.warnings = [w for w in out.warnings if not w.startswith(_MARK)]  # decided again below
    if declared_total is not None and _differs(declared_total, out.total):
        out.disagreements.append(_disagreement("total", out.total, out.provenance, declared_total, prov))
    if declared_active is not None:
        if out.active is None and (not out.experts or declared_active > out.total):
            # A dense model (or an active count above the total): the declared figure cannot stand.
            if _differs(declared_active, out.total):
                out.disagreements.append(
                    _disagreement("active", out.total, out.provenance, declared_active, prov)
                )
        elif out.active is None:
            # Experts in the files but their top-k nowhere in the config: the manifest says how many run.
            out.active = declared_active
            out.active_source = "manifest"
            if out.input_embedding is not None:
                out.active_without_input_embedding = declared_active - out.input_embedding
        elif _differs(declared_active, out.active) and (
            out.active_without_input_embedding is None
            or _differs(declared_active, out.active_without_input_embedding)
        ):
            # Neither convention (with or without the input embedding) matches the declared figure.
            out.disagreements.append(
                _disagreement("active", out.active, out.provenance, declared_active, prov)
            )
    out.warnings.extend(disagreement_text(d) for d in out.disagreements)
    return out


def _declared(manifest: Manifest, manifest_file: str | None) -> ParameterCount:
    """Nothing counted: the manifest's figures (the common manifest-only case, built directly)."""
    total, active = manifest.model.parameters, manifest.model.active_parameters
    if not total and not active:
        return ParameterCount()
    return ParameterCount(
        total=int(total) if total else None,
        active=int(active) if active else None,
        source="manifest",
        provenance=Provenance(source=Source.MANIFEST, file=manifest_file, field="model.parameters")
        if total
        else None,
    )


def _differs(declared: int, counted: int) -> bool:
    return abs(declared - counted) > TOLERANCE * max(counted, 1)


def _disagreement(
    which: Literal["total", "active"],
    counted: int,
    provenance: Provenance | None,
    declared: int,
    prov: Callable[[str], Provenance],
) -> ParameterDisagreement:
    return ParameterDisagreement(
        field=which,
        files=counted,
        files_provenance=provenance,
        manifest=declared,
        manifest_provenance=prov("parameters" if which == "total" else "active_parameters"),
        relative=(declared - counted) / max(counted, 1),
        used="files",
    )


def disagreement_text(d: ParameterDisagreement) -> str:
    """One line for reports: both figures, both sources, which one is used."""
    what = "parameters" if d.field == "total" else "active parameters"
    files_from = d.files_provenance.describe() if d.files_provenance else "the model files"
    return (
        f"{_MARK}{d.manifest_provenance.describe()} declares {d.manifest:,} {what}; "
        f"the files give {d.files:,} ({files_from}), {d.relative:+.1%}: the files' count is used "
        "everywhere (compute, rules, drafts, registry)"
    )
