"""`modelwarden assess [PATH]`: compute band, regimes in force on a date, obligations with citations."""

from __future__ import annotations

import datetime as dt
import json
import re
from enum import StrEnum
from pathlib import Path

import typer

from modelwarden.cli import app, err, out
from modelwarden.errors import UsageError
from modelwarden.untrusted.text import markup


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


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
    format: OutputFormat = typer.Option(
        OutputFormat.TEXT, "--format", "-f", help="text, json, markdown or html."
    ),
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
) -> None:
    """Estimate training compute; find the regimes in force and the obligations that follow, cited."""
    from modelwarden.assess.run import build_assessment, gather
    from modelwarden.report.assess import render_html, render_markdown, render_text, to_json
    from modelwarden.rules import load_rules

    date = _date(as_of)
    inputs = gather(path, manifest)
    a = build_assessment(inputs, as_of=date, rules=load_rules(rules or None), scan=not no_scan)
    if format is OutputFormat.JSON:
        out.print_json(json.dumps(to_json(a)))
    elif format is OutputFormat.MARKDOWN:
        print(render_markdown(a))
    elif format is OutputFormat.HTML:
        print(render_html(a))
    else:
        render_text(a, out)
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "assessment.json").write_text(
                json.dumps(to_json(a), indent=2) + "\n", encoding="utf-8"
            )
            (out_dir / "assessment.md").write_text(render_markdown(a), encoding="utf-8")
            (out_dir / "assessment.html").write_text(render_html(a), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
        err.print(f"wrote {markup(out_dir)}/assessment.json, .md and .html", highlight=False)
    if save:
        from modelwarden.registry import Registry

        with Registry(db) as registry:
            ident = registry.save(a)
            err.print(f"recorded as assessment {ident} in {markup(registry.url)}", highlight=False)
