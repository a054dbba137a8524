"""`assess`: facts → scan → openness → compute → rules, as one `Assessment` record.

With no path the manifest alone describes the model (a planned run: the EU expects notification as
soon as crossing 10^25 FLOP is foreseeable, docs/reference/regulation.md §1.5).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from modelwarden import __version__
from modelwarden.compute import estimate_compute
from modelwarden.errors import UsageError
from modelwarden.facts.parameter_count import resolve
from modelwarden.manifest import Manifest, find_manifest, load_manifest
from modelwarden.model import Assessment, Layout, ModelFacts, ScanReport, Subject
from modelwarden.openness import assess_openness
from modelwarden.rules import RuleSet, evaluate, load_rules
from modelwarden.rules.context import build_context


@dataclass
class Inputs:
    """What an assessment starts from: the release's facts, its manifest and where the manifest was."""

    facts: ModelFacts | None
    manifest: Manifest | None
    manifest_path: Path | None


def gather(path: str | None, manifest: Path | None) -> Inputs:
    """Read the release (if any) and its manifest (explicit, or `modelwarden.yaml` beside the model)."""
    from modelwarden.facts.gather import inspect_path

    if path is None and manifest is None:
        raise UsageError(
            "nothing to assess: neither a model path nor a manifest was given",
            next_step="give a model folder or file, a manifest describing the model, or both",
        )
    facts = inspect_path(path) if path is not None else None
    if manifest is None and facts is not None and not facts.root.startswith("hf://"):
        manifest = find_manifest(facts.root)
    decl = load_manifest(manifest) if manifest is not None else None
    return Inputs(facts, decl, manifest)


def _subject(inputs: Inputs) -> Subject:
    facts, decl = inputs.facts, inputs.manifest
    name = (decl.model.name if decl else None) or (facts.name if facts else None)
    if name is None and inputs.manifest_path is not None:
        name = inputs.manifest_path.parent.name or inputs.manifest_path.stem
    version = (decl.model.version if decl else None) or (facts.revision if facts else None)
    hashes = {f.path: f.sha256 for f in (facts.files if facts else []) if f.sha256}
    return Subject(
        name=name or "unnamed model", version=version, root=facts.root if facts else None, file_hashes=hashes
    )


def build_assessment(
    inputs: Inputs,
    *,
    as_of: dt.date,
    rules: RuleSet | None = None,
    scan: bool = True,
    scan_report: ScanReport | None = None,
) -> Assessment:
    """Run scan, openness, compute and rules on the inputs as of `as_of`: one `Assessment`.

    `scan_report`: the scan already made of files that are not on this disk (a hub repository read by
    ranges, modelwarden.hub), used instead of scanning `facts.root`."""
    rules = rules or load_rules()
    facts, decl = inputs.facts, inputs.manifest
    report, skipped = (scan_report, None) if scan and scan_report is not None else _scan(facts, scan)
    openness = assess_openness(facts, decl) if facts is not None or decl is not None else None
    where = inputs.manifest_path.name if inputs.manifest_path is not None else None
    parameters = resolve(facts, decl, manifest_file=where)  # the one decision every stage uses
    compute = estimate_compute(facts, decl, parameters=parameters)
    ctx = build_context(as_of, facts, decl, compute, openness)
    regimes = evaluate(rules, ctx, as_of)
    stored_facts = (
        facts.model_copy(
            update={
                "files": [f.model_copy(update={"tensors": []}) for f in facts.files],
                # Reports and the dashboard show the facts' count: the decided one, not the raw one.
                **({"parameters": parameters} if not _is_adapter(facts) else {}),
            }
        )
        if facts
        else None
    )
    return Assessment(
        subject=_subject(inputs),
        as_of=as_of,
        created_at=dt.datetime.now(dt.UTC),
        tool_version=__version__,
        ruleset_version=rules.version,
        facts=stored_facts,
        scan=report,
        openness=openness,
        compute=compute,
        regimes=regimes,
        parameters=parameters,
        scan_status="scanned" if report is not None else "not scanned",
        scan_skipped=skipped,
    )


def _is_adapter(facts: ModelFacts) -> bool:
    """An adapter's files count the adapter: its facts keep that count (the model's is the manifest's)."""
    return facts.layout is Layout.PEFT_ADAPTER or facts.adapter is not None


def _scan(facts: ModelFacts | None, wanted: bool) -> tuple[ScanReport | None, str | None]:
    """The safety scan of the release's files, or why there is none (never silently skipped)."""
    if facts is None:
        return None, "no model files: a manifest-only assessment"
    if not wanted:
        return None, "--no-scan"
    from modelwarden.scan import scan_paths

    if not facts.root.startswith("hf://"):
        return scan_paths([Path(facts.root)], hash_files=False), None
    # A local Hugging Face cache snapshot: its files are links into the cache's blob store, so each
    # file is scanned by its path (what the links point to), not the snapshot folder as a tree.
    from modelwarden.release import resolve as resolve_release

    try:
        release = resolve_release(facts.root)
        report = scan_paths([f.path for f in release.files], hash_files=False)
    except (UsageError, OSError) as exc:
        return None, f"the cached snapshot could not be scanned: {exc}"
    return report, None
