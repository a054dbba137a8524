"""The rule catalogue (data/rules.yaml): every rule id a finding can carry, its severity and help text.

Severities live here and nowhere else, so the SARIF rule table, the docs and the findings agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from modelwarden.records import Severity
from modelwarden.scan.policy import read_data


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    title: str
    help: str
    refs: tuple[str, ...] = ()
    unverified: bool = False  # a "could not verify" result: the text verdict says UNVERIFIED


@cache
def catalogue() -> dict[str, Rule]:
    raw = read_data("rules.yaml")
    return {
        rid: Rule(
            id=rid,
            severity=Severity(spec["severity"]),
            title=spec["title"],
            help=" ".join(str(spec.get("help", spec["title"])).split()),
            refs=tuple(spec.get("refs", ())),
            unverified=bool(spec.get("unverified", False)),
        )
        for rid, spec in raw.items()
    }


def is_unverified(rule_id: str) -> bool:
    """True for rules that mean part of a file could not be verified (fail closed)."""
    r = catalogue().get(rule_id)
    return r is None or r.unverified


def rule(rule_id: str) -> Rule:
    try:
        return catalogue()[rule_id]
    except KeyError:  # a programming error: every id used in code must be in the catalogue
        raise KeyError(f"unknown scan rule {rule_id!r}: add it to scan/data/rules.yaml") from None
