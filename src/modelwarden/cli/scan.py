"""`modelwarden scan PATH...`: find malicious or unsafe content in model artifacts, executing nothing.

Exit codes: 0 when no finding reaches --fail-on, 1 when one does, 2 on usage or I/O errors
(reference/formats.md "Exit codes").
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from modelwarden.cli import app, err, out
from modelwarden.records import Severity
from modelwarden.safe_text import markup


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"


class FailOn(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@app.command()
def scan(
    paths: list[Path] = typer.Argument(..., help="Model files or folders to scan."),
    format: OutputFormat = typer.Option(OutputFormat.TEXT, "--format", "-f", help="Output format."),
    fail_on: FailOn = typer.Option(
        FailOn.MEDIUM,
        "--fail-on",
        help="Exit 1 when a finding has at least this severity. What could not be verified (analysis"
        " limits, malformed or ambiguous files, imports off the exact allowlist) is high or critical, and"
        " the verdict says UNVERIFIED: only --fail-on critical lets such a file pass.",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to this file."),
    no_hash: bool = typer.Option(
        False,
        "--no-hash",
        help="Skip the SHA-256 of each file. Hashing reads every byte (about 1.5 GB/s per core) and is most"
        " of the time on big files; without it the report no longer names the exact bytes it judged.",
    ),
    no_hash_cache: bool = typer.Option(
        False,
        "--no-hash-cache",
        help="Read and hash every file even when an earlier run hashed this version of it (same device,"
        " inode, size, mtime and ctime). The cache lives in the user cache folder or $MODELWARDEN_CACHE_DIR.",
    ),
    show_info: bool = typer.Option(False, "--show-info", help="Also list informational findings (text)."),
) -> None:
    """Scan model artifacts for unsafe content without loading them (pickle, zip, Keras, GGUF, ...)."""
    from modelwarden.scan import scan_paths
    from modelwarden.scan.render import print_text, to_json, to_sarif_json

    threshold = Severity(fail_on.value)
    report = scan_paths(paths, hash_files=not no_hash, hash_cache=not no_hash_cache)
    if format is OutputFormat.TEXT and output is None:
        print_text(report, threshold, out, show_info=show_info)
    else:
        if format is OutputFormat.JSON:
            text = to_json(report, threshold)
        elif format is OutputFormat.SARIF:
            text = to_sarif_json(report)
        else:
            from io import StringIO

            from rich.console import Console

            buf = StringIO()
            print_text(report, threshold, Console(file=buf, width=160, no_color=True), show_info=show_info)
            text = buf.getvalue()
        if output is not None:
            try:
                output.write_text(text + ("\n" if not text.endswith("\n") else ""), encoding="utf-8")
            except OSError as exc:
                err.print(
                    f"[bold red]error:[/] cannot write {markup(output)}: {markup(exc.strerror or exc)}",
                    highlight=False,
                )
                sys.exit(2)
        else:
            sys.stdout.write(text + "\n")
    if format is not OutputFormat.TEXT or output is not None:  # text on the terminal already lists them
        for p in report.problems:
            err.print(f"[red]problem:[/] {markup(p.file)}: {markup(p.message)}", highlight=False)
    if report.problems:
        sys.exit(2)
    sys.exit(1 if report.at_or_above(threshold) else 0)
