"""Renderers for a ScanReport: a terminal summary, the JSON contract, and SARIF (sarif.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from modelwarden.records import Finding, ScanReport, Severity
from modelwarden.scan.rules import is_unverified
from modelwarden.untrusted.text import markup

if TYPE_CHECKING:
    from rich.console import Console  # annotations only: JSON output needs no rich (docs/scan.md "Speed")

STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def unverified(report: ScanReport) -> list[Finding]:
    """Findings that mean part of a file could not be verified (rules marked `unverified`)."""
    return [f for f in report.findings if is_unverified(f.rule_id)]


def verdict(report: ScanReport, threshold: Severity) -> dict[str, Any]:
    """The gate's outcome. `verdict` is one word: fail, unverified (only reachable with --fail-on
    critical: every unverified finding is at least high), incomplete (a named file unreadable) or pass."""
    failing = report.at_or_above(threshold)
    not_verified = unverified(report)
    if failing:
        word = "fail"
    elif not_verified:
        word = "unverified"
    elif report.problems:
        word = "incomplete"
    else:
        word = "pass"
    return {
        "verdict": word,
        "fail_on": threshold.value,
        "failed": bool(failing),
        "unverified": len(not_verified),
        "findings_at_or_above": len(failing),
        "counts": {s.value: n for s, n in report.counts().items()},
        "files": len(report.files),
        "problems": len(report.problems),
    }


def to_json(report: ScanReport, threshold: Severity) -> str:
    """The ScanReport as JSON, plus a `summary` object (ScanReport.model_validate accepts it back
    once `summary` is dropped)."""
    data = report.model_dump(mode="json")
    data["summary"] = verdict(report, threshold)
    return json.dumps(data, indent=2)


def to_sarif_json(report: ScanReport) -> str:
    from modelwarden.scan.sarif import to_sarif  # only SARIF output needs it (docs/scan.md "Speed")

    return json.dumps(to_sarif(report), indent=2)


def print_text(report: ScanReport, threshold: Severity, console: Console, *, show_info: bool = False) -> None:
    shown = [f for f in report.findings if show_info or f.severity is not Severity.INFO]
    current = None
    for f in shown:
        if f.file != current:
            current = f.file
            console.print(f"[bold]{markup(f.file)}[/]")
        where = f.location.describe()
        console.print(
            f"  [{STYLE[f.severity]}]{f.severity.value.upper():8}[/] {markup(f.rule_id)}"
            + (f"  [dim]{markup(where)}[/]" if where else ""),
            highlight=False,
        )
        console.print(f"           {markup(f.message)}", highlight=False)
        if f.evidence:
            console.print(f"           [dim]evidence:[/] {markup(f.evidence)}", highlight=False)
    for p in report.problems:
        console.print(f"[red]problem[/] {markup(p.file)}: {markup(p.message)}", highlight=False)
    counts = report.counts()
    summary = ", ".join(
        f"{n} {s.value}" for s, n in counts.items() if n and (show_info or s is not Severity.INFO)
    )
    v = verdict(report, threshold)
    n_unverified = v["unverified"]
    unverified_note = (
        f"[bold red]UNVERIFIED[/]: {n_unverified} finding{'' if n_unverified == 1 else 's'} could not be"
        " verified"
    )
    if v["failed"]:
        status = f"[bold red]FAIL[/] ({v['findings_at_or_above']} at or above {threshold.value})"
        if n_unverified:
            status += f", {unverified_note}"
    elif n_unverified:
        # Only --fail-on critical gets here: the file was not fully verified, and the verdict says so.
        status = f"{unverified_note} (passing only because of --fail-on {threshold.value})"
    elif report.problems:
        # Something named could not be read: "PASS" would vouch for bytes nobody looked at.
        status = (
            f"[bold yellow]INCOMPLETE[/] ({len(report.problems)} unreadable; "
            f"nothing else at or above {threshold.value})"
        )
    else:
        status = f"[bold green]PASS[/] (nothing at or above {threshold.value})"
    n = len(report.files)
    console.print(
        f"{status} — {n} file{'' if n == 1 else 's'} scanned in {report.duration_seconds or 0:.2f} s"
        + (f"; findings: {summary}" if summary else "; no findings")
    )
