"""`modelwarden scan PATH...`: find malicious or unsafe content in model artifacts, executing nothing.

Exit codes: 0 when no finding reaches --fail-on, 1 when one does, 2 on usage or I/O errors
(docs/reference/formats.md "Exit codes").
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from modelwarden.cli import app
from modelwarden.cli._options import OUTPUT
from modelwarden.report.base import OutputFormat, choices

if TYPE_CHECKING:
    ScanFormat = OutputFormat
else:
    ScanFormat = choices("scan")


class FailOn(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@app.command()
def scan(
    paths: list[Path] = typer.Argument(
        ..., help="Model files or folders to scan (with --remote: hub repositories)."
    ),
    format: ScanFormat = typer.Option(ScanFormat.TEXT, "--format", "-f", help="Output format."),
    fail_on: FailOn = typer.Option(
        FailOn.MEDIUM,
        "--fail-on",
        help="Exit 1 when a finding has at least this severity. What could not be verified (analysis"
        " limits, malformed or ambiguous files, imports off the exact allowlist) is high or critical, and"
        " the verdict says UNVERIFIED: only --fail-on critical lets such a file pass.",
    ),
    output: Path | None = OUTPUT,
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
    remote: bool = typer.Option(
        False,
        "--remote",
        help="PATHS are hub repositories (hf://org/name[@rev] or org/name): read over HTTP from HF_ENDPOINT"
        " (HF_TOKEN for gated ones), headers and pickles by byte ranges, weights never downloaded. Digests"
        " are the hub's LFS records, not recomputed.",
    ),
) -> None:
    """Scan model artifacts for unsafe content without loading them (pickle, zip, Keras, GGUF, ...)."""
    from modelwarden.cli._scan_fast import run_scan

    # One body for both front ends: the Typer-free path (cli/_scan_fast.py) runs the same function.
    run_scan(
        paths=paths,
        format=format.value,
        fail_on=fail_on.value,
        output=output,
        no_hash=no_hash,
        no_hash_cache=no_hash_cache,
        show_info=show_info,
        remote=remote,
    )
