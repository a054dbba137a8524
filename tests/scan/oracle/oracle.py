"""The oracle property: whenever a real loader does something dangerous, the scan did not PASS.

PASS means what a CI gate at `--fail-on high` lets through: no finding at or above high and no
unreadable file. The scan runs in this process (`scan_paths`, which executes nothing); every load runs
in the sandbox (tests/support/sandbox.py).
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from modelwarden.model import Severity
from modelwarden.scan import scan_paths
from tests.scan.oracle.cases import NEEDS_FIXED_SCANNER, Case
from tests.support.sandbox import LoadResult, Sandbox

ORACLE_FAIL_ON = Severity.HIGH


@dataclass
class Outcome:
    """What the scanner and the loaders made of one case."""

    case: Case
    """The sample."""
    loads: list[LoadResult]
    """One result per loader."""
    scan_max: str | None
    """The most severe finding, if any."""
    scan_passed: bool
    """The scan would PASS a gate at ORACLE_FAIL_ON (no finding at or above it, no problem)."""
    scan_rules: list[str] = field(default_factory=list)
    """Rule ids of the findings at or above ORACLE_FAIL_ON."""

    @property
    def triggered(self) -> bool:
        return any(r.triggered for r in self.loads)

    @property
    def disagreement(self) -> bool:
        """A loader did something dangerous and the scan passed: a scanner bypass."""
        return self.triggered and self.scan_passed

    def describe(self) -> str:
        events = sorted({f"{e.event} ({e.reason})" for r in self.loads for e in r.dangerous})
        verdict = "PASS" if self.scan_passed else "FAIL"
        return (
            f"{self.case.name}: loader events {events}; scan {verdict} (max {self.scan_max}); "
            f"features {sorted(self.case.features)}"
        )


def write_case(case: Case, root: Path) -> Path:
    folder = root / case.name
    if folder.exists():
        shutil.rmtree(folder)
    for rel, data in case.built.files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def run_case(box: Sandbox, case: Case, root: Path, *, keep: bool = False) -> Outcome:
    """Scan the case's folder, load its entry with each of its loaders, compare."""
    folder = write_case(case, root)
    try:
        report = scan_paths([folder], hash_files=False)
        failing = report.at_or_above(ORACLE_FAIL_ON)
        top = report.max_severity()
        loads = [box.load(folder, case.built.entry, loader) for loader in case.built.loaders]
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    return Outcome(
        case=case,
        loads=loads,
        scan_max=top.value if top else None,
        scan_passed=not failing and not report.problems,
        scan_rules=sorted({f.rule_id for f in failing}),
    )


@dataclass
class Tally:
    """Counts over many outcomes, overall and per container."""

    cases: Counter[str] = field(default_factory=Counter)
    triggered: Counter[str] = field(default_factory=Counter)
    scan_failed: Counter[str] = field(default_factory=Counter)
    disagreements: Counter[str] = field(default_factory=Counter)
    load_errors: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    disagreement_features: Counter[str] = field(default_factory=Counter)
    unexplained: Counter[str] = field(default_factory=Counter)
    """Disagreements that use none of the features the old scanner is known to miss."""
    examples: list[str] = field(default_factory=list)
    unexplained_examples: list[str] = field(default_factory=list)

    def add(self, o: Outcome) -> None:
        k = o.case.container
        self.cases[k] += 1
        self.triggered[k] += o.triggered
        self.scan_failed[k] += not o.scan_passed
        self.disagreements[k] += o.disagreement
        self.load_errors[k] += any(not r.completed and not r.triggered for r in o.loads)
        self.timeouts[k] += any(r.timed_out for r in o.loads)
        for r in o.loads:
            for e in r.dangerous:
                self.events[e.event] += 1
        if o.disagreement:
            for f in o.case.features:
                self.disagreement_features[f] += 1
            if len(self.examples) < 40:
                self.examples.append(o.describe())
            if not o.case.features & NEEDS_FIXED_SCANNER.keys():
                self.unexplained[k] += 1
                if len(self.unexplained_examples) < 40:
                    self.unexplained_examples.append(o.describe())
