"""`modelwarden docs [PATH] --out DIR`: Markdown drafts of the documents the law asks for."""

from __future__ import annotations

from pathlib import Path

import typer

from modelwarden.cli import app, out
from modelwarden.untrusted.text import text


@app.command()
def docs(
    path: str | None = typer.Argument(
        None, help="Model folder, file or org/name; omit to use the manifest alone."
    ),
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the drafts into."),
    manifest: Path | None = typer.Option(
        None, "--manifest", "-m", help="Release manifest (default: modelwarden.yaml next to the model)."
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate the law as of this date (YYYY-MM-DD)."),
) -> None:
    """Draft the EU training-content summary, Annex XI and XII documentation, the SB 53 transparency
    report and AB 2013 training-data summary (where they may apply) and a model-card gap list,
    prefilled with provenance."""
    from modelwarden.assess.drafts import write_drafts
    from modelwarden.assess.run import build_assessment, gather
    from modelwarden.cli.assess import _date
    from modelwarden.errors import UsageError

    inputs = gather(path, manifest)
    a = build_assessment(inputs, as_of=_date(as_of), scan=False)
    try:
        written = write_drafts(a, inputs.manifest, out_dir)
    except OSError as exc:
        raise UsageError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
    for p, d in written:
        out.print(text(f"{p}  ({d.gaps} open question{'s' if d.gaps != 1 else ''})"))
