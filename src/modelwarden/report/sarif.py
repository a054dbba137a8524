"""SARIF renderings: a scan report as SARIF 2.1.0 for GitHub code scanning (docs/reference/formats.md
"Output formats").

What GitHub needs beyond the schema: a rule table with `security-severity` scores (to rank alerts),
a `region.startLine` on every location (binary files have no lines, so line 1 plus the byte offset),
stable `partialFingerprints` (else every upload duplicates alerts), and URIs relative to the checkout.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Any

from modelwarden import __version__
from modelwarden.records import Finding, ScanReport, Severity
from modelwarden.scan.rules import catalogue, is_unverified

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/modelwarden/modelwarden"

LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub maps security-severity to its labels: >= 9.0 critical, >= 7.0 high, >= 4.0 medium, else low.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.INFO: "0.5",
}


def scan_sarif(report: ScanReport, **_: Any) -> str:
    """The SARIF log as a document (the same encoding as the JSON renderers)."""
    from modelwarden.report.json import dumps

    return dumps(to_sarif(report))


def to_sarif(report: ScanReport) -> dict[str, Any]:
    rules = sorted(catalogue().values(), key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(rules)}
    artifacts = [
        {
            "location": {"uri": _uri(f.path)},
            "length": f.size,
            **({"hashes": {"sha-256": f.sha256}} if f.sha256 else {}),
            "properties": {"format": f.format.value},
        }
        for f in report.files
    ]
    artifact_index = {f.path: i for i, f in enumerate(report.files)}
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "modelwarden",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(r.id) for r in rules],
                    }
                },
                "artifacts": artifacts,
                "results": [_result(f, index, artifact_index) for f in report.findings],
                "invocations": [
                    {
                        "executionSuccessful": not report.problems,
                        "toolExecutionNotifications": [
                            {"level": "error", "message": {"text": f"{p.file}: {p.message}"}}
                            for p in report.problems
                        ],
                    }
                ],
                "columnKind": "unicodeCodePoints",
                # The same verdict facts as the JSON summary (scan/verdict.py), for SARIF consumers.
                "properties": {"unverified": sum(is_unverified(f.rule_id) for f in report.findings)},
            }
        ],
    }


def _rule(rule_id: str) -> dict[str, Any]:
    r = catalogue()[rule_id]
    refs = f" References: {', '.join(r.refs)}." if r.refs else ""
    return {
        "id": r.id,
        "name": "".join(part.capitalize() for part in r.id.replace("-", ".").split(".")),
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": r.help},
        "help": {"text": r.help + refs, "markdown": f"**{r.title}**\n\n{r.help}{refs}"},
        "defaultConfiguration": {"level": LEVEL[r.severity]},
        "properties": {
            "tags": ["security", "machine-learning", r.id.split(".", 1)[0]],
            "security-severity": SECURITY_SEVERITY[r.severity],
            "precision": "high",
            "problem.severity": LEVEL[r.severity] if r.severity is not Severity.INFO else "recommendation",
            "unverified": r.unverified,
        },
    }


def _result(f: Finding, index: dict[str, int], artifact_index: dict[str, int]) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": 1}
    if f.location.offset is not None and f.location.entry is None:
        region["byteOffset"] = f.location.offset
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(f.file)},
            "region": region,
        }
    }
    if f.file in artifact_index:
        location["physicalLocation"]["artifactLocation"]["index"] = artifact_index[f.file]
    where = f.location.describe()
    if where:
        location["logicalLocations"] = [{"fullyQualifiedName": where, "kind": "member"}]
    text = f.message + (f" [{where}]" if where else "") + (f" Evidence: {f.evidence}" if f.evidence else "")
    properties: dict[str, Any] = {"severity": f.severity.value, "unverified": is_unverified(f.rule_id)}
    for key, value in f.location.model_dump(exclude_none=True).items():
        properties[key] = value
    if f.evidence:
        properties["evidence"] = f.evidence
    return {
        "ruleId": f.rule_id,
        "ruleIndex": index[f.rule_id],
        "level": LEVEL[f.severity],
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"modelwardenFinding/v1": _fingerprint(f)},
        "properties": properties,
    }


def _fingerprint(f: Finding) -> str:
    # Stable across runs and independent of message wording: rule, file, place inside it, evidence.
    key = "\x1f".join([f.rule_id, f.file, f.location.entry or "", f.location.pointer or "", f.evidence or ""])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _uri(path: str) -> str:
    """A relative URI (as GitHub expects) when the path is inside the working directory."""
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.relative_to(Path.cwd())
        except ValueError:
            return p.as_uri()
    return str(PurePosixPath(*p.parts)).replace("%", "%25").replace(" ", "%20").replace("#", "%23")
