"""The gate's verdict on a scan report: one word and the counts behind it (shown by every renderer)."""

from __future__ import annotations

from typing import Any

from modelwarden.records import Finding, ScanReport, Severity
from modelwarden.scan.rules import is_unverified


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
