"""`modelwarden inspect PATH`: read a model release from its files (headers only, nothing executed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from modelwarden.cli import app, err, out
from modelwarden.cli._options import OUTPUT
from modelwarden.errors import UsageError
from modelwarden.report.base import OutputFormat, choices
from modelwarden.untrusted.text import markup

if TYPE_CHECKING:
    from modelwarden.hashing import Advance
    from modelwarden.release import Release
    from modelwarden.trust.records import TrustAnchor

    InspectFormat = OutputFormat
else:
    InspectFormat = choices("inspect")


@app.command()
def inspect(
    path: str = typer.Argument(
        ..., help="Model folder, single file, or org/name[@revision] of the local Hugging Face cache."
    ),
    format: InspectFormat = typer.Option(
        InspectFormat.TABLE,
        "--format",
        "-f",
        help="table (human; also called text), json, or cyclonedx (a CycloneDX 1.6 ML-BOM).",
    ),
    hash_: bool = typer.Option(
        False, "--hash", help="Also compute the SHA-256 of every file (reads all data)."
    ),
    tensors: bool = typer.Option(False, "--tensors", help="List every tensor (name, dtype, shape, kind)."),
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        help="Verify the release's model signature and attestations against this public key (PEM).",
    ),
    certificate_chain: list[Path] = typer.Option(
        [],
        "--certificate-chain",
        help="Verify them against these trusted root/intermediate certificates (PEM; repeatable).",
    ),
    output: Path | None = OUTPUT,
    remote: bool = typer.Option(
        False,
        "--remote",
        help="PATH is a hub repository (hf://org/name[@rev] or org/name): read over HTTP from HF_ENDPOINT"
        " (HF_TOKEN for gated ones), headers only, weights never downloaded.",
    ),
) -> None:
    """Read a model release from its files: parameters, architecture, licence, lineage, files.

    Only headers are read — never tensor data (except with --hash) — and nothing is executed.

    Exit codes: 0 when anything could be read, even if some files have problems (a truncated or \
corrupt shard is listed as an error, and in the JSON "problems", but the rest of the release is \
still reported); 2 when nothing at all could be read or the path does not exist. To fail on \
damaged files, check "problems" in --format json, or use `modelwarden scan`.
    """
    # Imported here so other commands start without loading every reader (CLI start-up time).
    from modelwarden.facts.gather import inspect_release, nothing_readable
    from modelwarden.release import resolve
    from modelwarden.report.base import renderer
    from modelwarden.report.output import show

    anchor = _anchor(public_key, certificate_chain)
    if remote:
        from modelwarden.hub.cli import inspect_target

        facts = inspect_target(path, hash_files=hash_)
    else:
        release = resolve(path)
        with _hash_progress(release, enabled=hash_) as advance:
            facts = inspect_release(release, hash_files=hash_, advance=advance, trust_anchor=anchor)
    show(renderer("facts", format), facts, output, console=out, tensors=tensors)
    if nothing_readable(facts):
        first = facts.problems[0].message if facts.problems else "no model files"
        err.print(
            f"[bold red]error:[/] nothing could be read from {markup(path)} ({markup(first)})",
            highlight=False,
        )
        raise typer.Exit(2)


def _anchor(public_key: Path | None, chain: list[Path]) -> TrustAnchor | None:
    """The trust anchor given on the command line, if any (at most one kind)."""
    if public_key is None and not chain:
        return None
    if public_key is not None and chain:
        raise UsageError("give --public-key or --certificate-chain, not both")
    from modelwarden.trust.records import TrustAnchor

    return TrustAnchor(public_key=public_key, certificate_chain=chain)


@contextmanager
def _hash_progress(release: Release, *, enabled: bool) -> Iterator[Advance | None]:
    """A byte progress bar for --hash; otherwise a spinner while headers are read (terminals only)."""
    if not enabled:
        if err.is_terminal and len(release.files) > 20:
            with err.status(f"reading the headers of {len(release.files):,} files"):
                yield None
        else:
            yield None
        return
    from modelwarden.facts.gather import bytes_to_hash

    progress = Progress(
        TextColumn("sha256"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task("hash", total=bytes_to_hash(release))
    with progress:
        yield lambda n: progress.update(task, advance=n)
