"""`modelwarden openness PATH`: what a release opens, component by component, and the framework verdicts."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from modelwarden.cli import app, out
from modelwarden.cli._options import OUTPUT
from modelwarden.report.base import OutputFormat, choices

if TYPE_CHECKING:
    OpennessFormat = OutputFormat
else:
    OpennessFormat = choices("openness")


class MofMode(StrEnum):
    NORMALISED = "normalised"
    MOT_EXACT = "mot_exact"


@app.command()
def openness(
    path: str = typer.Argument(
        ...,
        help="Model folder, single file, org/name of the local Hugging Face cache, or a Model Openness "
        "Tool model file (YAML, recognised by its content).",
    ),
    manifest: Path | None = typer.Option(
        None,
        "--manifest",
        "-m",
        help="Release manifest, or a MOT model file (default: modelwarden.yaml next to the model).",
    ),
    format: OpennessFormat = typer.Option(
        OpennessFormat.TEXT,
        "--format",
        "-f",
        help="text, json, or mot-yaml (a MOT model file of the release, from a MOT-exact assessment).",
    ),
    mof_mode: MofMode | None = typer.Option(
        None,
        "--mof-mode",
        help="normalised (map licence names first) or mot_exact (MOT's rules on the licence strings as "
        "written). Default: mot_exact for a MOT model file or --format mot-yaml, else normalised.",
    ),
    output: Path | None = OUTPUT,
    remote: bool = typer.Option(
        False,
        "--remote",
        help="PATH is a hub repository (hf://org/name[@rev] or org/name): read over HTTP from HF_ENDPOINT"
        " (HF_TOKEN for gated ones), headers only, weights never downloaded.",
    ),
) -> None:
    """Classify what a release opens: per-component evidence, licence, MOF class, OSAID, EU Art. 53(2)."""
    from modelwarden.errors import UsageError
    from modelwarden.facts.gather import inspect_path
    from modelwarden.manifest import Manifest, find_manifest, load_manifest
    from modelwarden.model import ModelFacts
    from modelwarden.openness import assess_openness, mot
    from modelwarden.openness.evidence import licence_as_written
    from modelwarden.report.base import renderer
    from modelwarden.report.output import show

    facts: ModelFacts | None = None
    read = None if remote else mot.read(path)  # a MOT model file is the release description itself
    if read is None:
        if remote:
            from modelwarden.hub.cli import inspect_target

            facts = inspect_target(path)
        else:
            facts = inspect_path(path)
        if manifest is None and not facts.root.startswith("hf://"):
            manifest = find_manifest(facts.root)
        if manifest is not None:
            read = mot.read(manifest)
    decl: Manifest | None = read[1] if read is not None else None
    if read is None and manifest is not None:
        decl = load_manifest(manifest)
    wants_mot = format == OutputFormat.MOT_YAML
    if wants_mot and mof_mode is MofMode.NORMALISED:
        raise UsageError(
            "--format mot-yaml writes the licence strings MOT compares: use --mof-mode mot_exact"
        )
    mode = mof_mode or (MofMode.MOT_EXACT if read is not None or wants_mot else MofMode.NORMALISED)
    report = assess_openness(facts, decl, mof_mode=mode.value)
    name = (read[0].name if read else None) or (facts.name if facts else None) or path
    chosen = renderer("openness", format)
    if wants_mot:
        details: dict[str, Any] = {
            "name": name,
            "version": decl.model.version if decl else None,
            "producer": decl.release.provider.name if decl and decl.release.provider else None,
            "distribution": licence_as_written(facts, decl),
            "locations": mot.locations(report, decl),
        }
        show(chosen, report, output, console=out, **details)
    else:
        show(chosen, report, output, console=out, title=name)
