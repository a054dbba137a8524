"""`modelwarden assess [PATH]`: compute band, regimes in force on a date, obligations with citations."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from modelwarden.cli import app, err, out
from modelwarden.cli._options import OUTPUT
from modelwarden.errors import UsageError
from modelwarden.report.base import OutputFormat, choices
from modelwarden.untrusted.text import markup

if TYPE_CHECKING:
    AssessFormat = OutputFormat
else:
    AssessFormat = choices("assess")


def _date(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    # fromisoformat alone also takes 20250101 and 2025-W01-1.
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass  # 2025-02-30
    raise UsageError(f"--as-of {value!r} is not a date in the form YYYY-MM-DD")


@app.command()
def assess(
    path: str | None = typer.Argument(
        None, help="Model folder, file or org/name; omit to assess the manifest alone."
    ),
    manifest: Path | None = typer.Option(
        None, "--manifest", "-m", help="Release manifest (default: modelwarden.yaml next to the model)."
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate the law as of this date (YYYY-MM-DD)."),
    format: AssessFormat = typer.Option(
        AssessFormat.TEXT,
        "--format",
        "-f",
        help="text, json, markdown, html, or cyclonedx (a CycloneDX 1.6 ML-BOM).",
    ),
    output: Path | None = OUTPUT,
    out_dir: Path | None = typer.Option(
        None, "--out", help="Also write assessment.json, assessment.md and assessment.html here."
    ),
    rules: list[Path] = typer.Option(
        [], "--rules", help="Folder of extra rule files (organisation policy gates)."
    ),
    save: bool = typer.Option(False, "--save", help="Record the assessment in the registry."),
    db: str | None = typer.Option(
        None, "--db", help="Registry database URL (default: MODELWARDEN_DB or local file)."
    ),
    no_scan: bool = typer.Option(False, "--no-scan", help="Skip the safety scan of the files."),
    remote: bool = typer.Option(
        False,
        "--remote",
        help="PATH is a hub repository (hf://org/name[@rev] or org/name): read and scanned over HTTP from"
        " HF_ENDPOINT (HF_TOKEN for gated ones) by byte ranges, weights never downloaded.",
    ),
) -> None:
    """Estimate training compute; find the regimes in force and the obligations that follow, cited."""
    from modelwarden.assess import assess_path
    from modelwarden.report.base import renderer
    from modelwarden.report.output import emit, show
    from modelwarden.rules import load_rules

    date = _date(as_of)
    if remote:
        if path is None:
            raise UsageError("--remote needs a hub repository (hf://org/name[@revision])")
        from modelwarden.hub.cli import assess_target

        a = assess_target(
            path, manifest=manifest, as_of=date, rules=load_rules(rules or None), scan=not no_scan
        )
    else:
        a = assess_path(
            path, manifest=manifest, as_of=date, rules=load_rules(rules or None), scan=not no_scan
        )
    show(renderer("assessment", format), a, output, console=out)
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
        for fmt in (OutputFormat.JSON, OutputFormat.MARKDOWN, OutputFormat.HTML):
            chosen = renderer("assessment", fmt)
            emit(chosen.render(a), out_dir / f"assessment.{chosen.extension}")
        err.print(f"wrote {markup(out_dir)}/assessment.json, .md and .html", highlight=False)
    if save:
        from modelwarden.registry import Registry

        with Registry(db) as registry:
            ident = registry.save(a)
            err.print(f"recorded as assessment {ident} in {markup(registry.url)}", highlight=False)
