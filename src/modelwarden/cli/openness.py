"""`modelwarden openness PATH`: what a release opens, component by component, and the framework verdicts."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from modelwarden.cli import app, out


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class MofMode(StrEnum):
    NORMALISED = "normalised"
    MOT_EXACT = "mot_exact"


@app.command()
def openness(
    path: str = typer.Argument(
        ..., help="Model folder, single file, or org/name of the local Hugging Face cache."
    ),
    manifest: Path | None = typer.Option(
        None, "--manifest", "-m", help="Release manifest (default: modelwarden.yaml next to the model)."
    ),
    format: OutputFormat = typer.Option(OutputFormat.TEXT, "--format", "-f", help="text or json."),
    mof_mode: MofMode = typer.Option(
        MofMode.NORMALISED,
        "--mof-mode",
        help="normalised (map licence names first) or mot_exact (MOT's exact SPDX matching).",
    ),
) -> None:
    """Classify what a release opens: per-component evidence, licence, MOF class, OSAID, EU Art. 53(2)."""
    from modelwarden.facts import inspect_path
    from modelwarden.manifest import find_manifest, load_manifest
    from modelwarden.openness import assess_openness
    from modelwarden.openness.render import render, to_json

    facts = inspect_path(path)
    if manifest is None and not facts.root.startswith("hf://"):
        manifest = find_manifest(facts.root)
    decl = load_manifest(manifest) if manifest is not None else None
    report = assess_openness(facts, decl, mof_mode=mof_mode.value)
    if format is OutputFormat.JSON:
        out.print_json(json.dumps(to_json(report)))
    else:
        render(report, out, title=facts.name or path)
