"""`modelwarden crawl [IDS_FILE]`: assess many hub repositories on Ray into the registry (docs/crawl.md).

Thin: read the ids (a file, one per line) or the listing options, run `hub.crawl.run_crawl` with a
progress line on standard error, print the summary. Exit 0 when every repository was assessed or
skipped, 1 when some failed (they are in the crawl log and tried again next run), 2 when the crawl
could not run (bad options, Ray not installed or unreachable, the database, the listing).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from modelwarden.cli import app, err, out
from modelwarden.cli.assess import _date
from modelwarden.errors import UsageError
from modelwarden.limits import MAX_TEXT_BYTES

if TYPE_CHECKING:
    from modelwarden.hub.crawl import CrawlProgress, CrawlSummary

# Ids read from one file: a list longer than this is split into several crawls.
MAX_IDS = 1_000_000


# Without a terminal, a progress line at most this often (a crawl of hours logs a few hundred lines).
LOG_EVERY_SECONDS = 30.0


class _Ticker:
    """Progress as plain lines on standard error, the first at once and then at most one per interval."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last: float | None = None

    def __call__(self, p: CrawlProgress) -> None:
        import time

        now = time.monotonic()
        if self._last is None or now - self._last >= self._interval:
            self._last = now
            err.print(_line(p), highlight=False)


class CrawlFormat(StrEnum):
    """Formats of the crawl's summary."""

    TEXT = "text"
    JSON = "json"


def read_ids(path: Path) -> list[str]:
    """Repository ids from a file: one per line; blank lines and `#` comments ignored."""
    from modelwarden.untrusted.io import read_bounded

    cap = MAX_TEXT_BYTES * 16
    try:
        raw = read_bounded(path, cap)
    except OSError as exc:
        raise UsageError(f"cannot read the ids file: {exc.strerror or exc}", path=path) from None
    if len(raw) > cap:
        raise UsageError(f"the ids file is over {cap:,} bytes: split it", path=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the ids file is not UTF-8 text", path=path) from None
    ids = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    ids = [i for i in ids if i]
    if not ids:
        raise UsageError("the ids file names no repository", path=path)
    if len(ids) > MAX_IDS:
        raise UsageError(f"the ids file names over {MAX_IDS:,} repositories: split it", path=path)
    return ids


def _line(p: CrawlProgress) -> str:
    from modelwarden.untrusted.text import markup

    return (
        f"{p.done}/{p.listed} repos  {p.repos_per_second:.2f} repos/s  {p.bytes_read:,} bytes read  "
        f"{p.requests} requests  {p.assessed} assessed  {p.skipped} skipped  {p.failed} errors"
        + (f"  ({markup(p.last)})" if p.last else "")
    )


def _show(summary: CrawlSummary) -> None:
    from rich.table import Table

    from modelwarden.untrusted.text import markup

    table = Table(title="crawl", show_header=False)
    for label, value in (
        ("listed", f"{summary.listed:,}"),
        ("assessed", f"{summary.assessed:,}"),
        ("skipped (already recorded)", f"{summary.skipped:,}"),
        ("failed", f"{summary.failed:,}"),
        ("bytes read / held", f"{summary.bytes_read:,} / {summary.bytes_held:,}"),
        ("requests", f"{summary.requests:,}"),
        ("429 answers waited out", f"{summary.retries_429:,}"),
        ("seconds", f"{summary.seconds:.1f}"),
    ):
        table.add_row(label, value)
    out.print(table)
    if not summary.listing_complete:
        out.print("the listing was cut at the page cap: crawl again with --limit or narrower filters")
    for f in summary.failures:
        where = f"{f.repo}@{f.revision}" if f.revision else f.repo
        out.print(f"failed {markup(where)}: {markup(f.kind)}: {markup(f.error)}", highlight=False)


@app.command()
def crawl(
    ids_file: Path | None = typer.Argument(
        None, help="File of repository ids (org/name[@revision]), one per line; omit to crawl a hub listing."
    ),
    author: str | None = typer.Option(
        None, "--author", help="Listing: this user's or organisation's models."
    ),
    search: str | None = typer.Option(None, "--search", help="Listing: ids containing this text."),
    sort: str = typer.Option("downloads", "--sort", help="Listing: sort key, most first."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Listing: at most this many repositories."),
    db: str | None = typer.Option(
        None, "--db", help="Registry URL (default: $MODELWARDEN_DB or the user data file)."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Ray cluster (ray://HEAD:10001, auto); default: a local Ray."
    ),
    workers: int = typer.Option(2, "--workers", min=1, help="Repositories read at once."),
    rate: float = typer.Option(10.0, "--rate", help="Requests per second to the hub, all workers together."),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate the law as of this date (YYYY-MM-DD)."),
    no_scan: bool = typer.Option(False, "--no-scan", help="Skip the safety scan."),
    fmt: CrawlFormat = typer.Option(CrawlFormat.TEXT, "--format", "-f", help="Summary format."),
) -> None:
    """Assess many hub repositories (a file of ids or a hub listing) on Ray into the registry."""
    from modelwarden.hub.crawl import CrawlOptions, run_crawl

    if ids_file is not None and (author or search or limit):
        raise UsageError("give either IDS_FILE or listing options (--author, --search, --limit), not both")
    options = CrawlOptions(
        ids=read_ids(ids_file) if ids_file is not None else None,
        author=author,
        search=search,
        sort=sort,
        limit=limit,
        db_url=db,
        ray_address=ray_address,
        workers=workers,
        requests_per_second=rate,
        as_of=_date(as_of),
        scan=not no_scan,
    )
    if err.is_terminal:
        with err.status("crawl: starting Ray…") as status:
            summary = run_crawl(options, progress=lambda p: status.update(_line(p)))
    else:  # a log (a RayJob's, CI's): a line now and then, not a spinner
        summary = run_crawl(options, progress=_Ticker(LOG_EVERY_SECONDS))
    err.print(_line_final(summary), highlight=False)
    if fmt is CrawlFormat.JSON:
        out.print_json(json.dumps(summary.to_dict()))
    else:
        _show(summary)
    if summary.failed:
        raise typer.Exit(1)


def _line_final(s: CrawlSummary) -> str:
    rate = (s.assessed + s.skipped + s.failed) / s.seconds if s.seconds else 0.0
    return (
        f"crawl: {s.assessed} assessed, {s.skipped} skipped, {s.failed} errors of {s.listed} in "
        f"{s.seconds:.1f} s ({rate:.2f} repos/s, {s.bytes_read:,} bytes read, {s.requests} requests)"
    )
