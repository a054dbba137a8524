"""What the commands' `--remote` option runs: hub reads with a one-line account of the bytes read.

Kept out of `modelwarden.cli` so the commands import it (and httpx, huggingface_hub) only with
`--remote`; the account goes to standard error, so standard output stays the report alone.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from modelwarden.hub import HubSettings, open_release, scan_release
from modelwarden.hub.client import parse_target

if TYPE_CHECKING:
    import datetime as dt
    from pathlib import Path

    from modelwarden.model import Assessment, ModelFacts, RemoteRead
    from modelwarden.records import ScanReport
    from modelwarden.rules.loader import RuleSet


def account(read: RemoteRead) -> str:
    """`read 131,892 of 67,642,620 bytes (0.195%) of hf://org/name@commit from ENDPOINT in 6 requests`."""
    share = 100 * read.bytes_read / read.bytes_held if read.bytes_held else 0.0
    return (
        f"read {read.bytes_read:,} of {read.bytes_held:,} bytes ({share:.3f}%) of "
        f"hf://{read.repo_id}@{read.commit} from {read.endpoint} in {read.requests} requests; "
        f"{len(read.not_verified)} file digest(s) taken from the hub's records, not recomputed"
    )


def say(read: RemoteRead) -> None:
    """Print the account on standard error."""
    from modelwarden.untrusted.text import visible

    sys.stderr.write(visible(account(read)) + "\n")


def scan_remote_targets(targets: list[str], settings: HubSettings | None = None) -> ScanReport:
    """Scan each repository; one report of them all (a `Path` made `hf://` into `hf:/`: both parse)."""
    from modelwarden.records import ScanReport

    settings = settings or HubSettings.from_env()
    reports = []
    for target in targets:
        parse_target(target)  # a usage error before any request
    for target in targets:
        with open_release(target, settings) as remote:
            reports.append(scan_release(remote))
            say(remote.remote_read())
    if len(reports) == 1:
        return reports[0]
    return ScanReport(
        files=[f for r in reports for f in r.files],
        findings=[f for r in reports for f in r.findings],
        problems=[p for r in reports for p in r.problems],
        tool_version=reports[0].tool_version,
        duration_seconds=round(sum(r.duration_seconds or 0.0 for r in reports), 3),
    )


def inspect_target(target: str, *, hash_files: bool = False) -> ModelFacts:
    """`inspect --remote`: the facts, with `facts.remote`; the account on standard error."""
    from modelwarden.facts.gather import inspect_release

    with open_release(target, HubSettings.from_env()) as remote:
        facts = inspect_release(remote.release, hash_files=hash_files)
        facts.remote = remote.remote_read()
    say(facts.remote)
    return facts


def assess_target(
    target: str, *, manifest: Path | None, as_of: dt.date, rules: RuleSet, scan: bool
) -> Assessment:
    """`assess --remote`: the assessment; the account on standard error."""
    from modelwarden.hub import assess_remote

    a = assess_remote(target, HubSettings.from_env(), as_of=as_of, rules=rules, scan=scan, manifest=manifest)
    if a.facts is not None and a.facts.remote is not None:
        say(a.facts.remote)
    return a
