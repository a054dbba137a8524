"""`modelwarden docs [PATH] [--manifest FILE] --out DIR`: drafts of the documents the law asks for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from modelwarden.cli import app, out
from modelwarden.drafts import write_drafts
from modelwarden.errors import UsageError
from modelwarden.facts import inspect_path
from modelwarden.manifest import Manifest, find_manifest, load_manifest


@app.command()
def docs(
    path: str | None = typer.Argument(
        None, help="Model folder or file. Omit it to draft from the manifest alone (a planned model)."
    ),
    manifest: Path | None = typer.Option(
        None, "--manifest", "-m", help="Release manifest (default: modelwarden.yaml next to the model)."
    ),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder to write the drafts into."),
    as_of: str | None = typer.Option(None, "--as-of", help="Date the drafts speak for (YYYY-MM-DD)."),
) -> None:
    """Write drafts: EU training-content summary, Annex XI and XII, SB 53 report, model-card gaps.

    Every prefilled value names its source; every gap is a question to answer.
    """
    date = _date(as_of)
    if path is None and manifest is None:
        raise UsageError("give a model PATH, a --manifest FILE, or both")
    facts = inspect_path(path) if path is not None else None
    mpath = manifest or (find_manifest(path) if path is not None else None)
    m: Manifest | None = load_manifest(mpath) if mpath is not None else None
    for written in write_drafts(facts, m, out_dir, as_of=date):
        out.print(str(written), highlight=False)


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not a date in the form YYYY-MM-DD") from None
