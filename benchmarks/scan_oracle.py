"""The long run of the loader oracle (docs/scan.md, "The loader oracle").

Generates cases (tests/scan/oracle: random pickle programs in random containers, byte mutations of
samples), scans each with `scan_paths` (in this process: it executes nothing) and loads each with its
real loaders in the sandbox (tests/support/sandbox.py: forked, audited, network-less workers). A
*disagreement* is a case whose loader did something dangerous while the scan would PASS a gate at
`--fail-on high`. Prints counts per container — cases, loader events, scan verdicts, disagreements —
the dangerous events by kind, the features of the disagreements and examples, as markdown.

Every grammar feature is on by default (`--enabled-only` restricts to what `make test` draws). The run
stops after --cases cases or --minutes minutes, whichever comes first; seeds are --seed, --seed+1, ...
(100 cases per seed), so any case can be regenerated.

Usage: .venv/bin/python benchmarks/scan_oracle.py [--cases 5000] [--minutes 60] [--seed 1]
           [--enabled-only] [--out benchmarks/results/scan_oracle.md]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.scan.oracle import cases as oracle_cases  # noqa: E402
from tests.scan.oracle.oracle import ORACLE_FAIL_ON, Tally, run_case  # noqa: E402
from tests.support.sandbox import Sandbox  # noqa: E402

PER_SEED = 100


def _table(t: Tally) -> list[str]:
    lines = [
        "| container | cases | loader did something dangerous | scan FAIL | scan PASS | disagreements "
        "| of which unexplained | load errors | timeouts |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for k in sorted(t.cases):
        lines.append(
            f"| {k} | {t.cases[k]} | {t.triggered[k]} | {t.scan_failed[k]} | {t.cases[k] - t.scan_failed[k]} "
            f"| {t.disagreements[k]} | {t.unexplained[k]} | {t.load_errors[k]} | {t.timeouts[k]} |"
        )
    total = sum(t.cases.values())
    failed = sum(t.scan_failed.values())
    lines.append(
        f"| **all** | {total} | {sum(t.triggered.values())} | {failed} | {total - failed} "
        f"| {sum(t.disagreements.values())} | {sum(t.unexplained.values())} | {sum(t.load_errors.values())} "
        f"| {sum(t.timeouts.values())} |"
    )
    return lines


def report(t: Tally, args: argparse.Namespace, features: frozenset[str], seconds: float, seeds: int) -> str:
    disabled = sorted(oracle_cases.ALL_FEATURES - features)
    total = sum(t.cases.values())
    seed_range = f"{args.seed}..{args.seed + seeds - 1}"
    out = [
        "# Loader oracle: long run",
        "",
        f"Command: `.venv/bin/python benchmarks/scan_oracle.py --cases {args.cases} --minutes {args.minutes} "
        f"--seed {args.seed}{' --enabled-only' if args.enabled_only else ''}`",
        f"Machine: {platform.machine()}, Python {platform.python_version()}; seeds {seed_range} "
        f"({PER_SEED} cases each); wall time {seconds:.0f} s ({total / max(seconds, 1e-9):.1f} cases/s).",
        f"Verdict threshold: a scan PASSes when no finding is at or above `{ORACLE_FAIL_ON.value}` and "
        "no file was unreadable (a CI gate at `--fail-on high`).",
        f"Grammar: {'every feature' if not disabled else 'disabled: ' + ', '.join(disabled)}.",
        "",
        *_table(t),
        "",
        "*Unexplained*: a disagreement whose case uses none of the features the old scanner is known to",
        "miss (`NEEDS_FIXED_SCANNER` in tests/scan/oracle/cases.py, each kept in known_bypasses.py): a new",
        "bypass.",
        "*Load errors*: the loader raised without doing anything dangerous (mutated or ill-typed samples).",
        "",
        "Dangerous loader events (each one blocked in the sandbox), by audit event:",
        "",
        *(f"- `{e}`: {n}" for e, n in t.events.most_common()),
        "",
    ]
    if t.unexplained_examples:
        out += ["Unexplained disagreements (first 40):", "", *(f"- {e}" for e in t.unexplained_examples), ""]
    if t.disagreement_features:
        known = oracle_cases.NEEDS_FIXED_SCANNER
        out += [
            "Disagreements per known-bypass feature (issue 15 class: what the old scanner misses):",
            "",
            *(f"- `{f}` ({known[f]}): {n}" for f, n in t.disagreement_features.most_common() if f in known),
            "",
            "All features of the disagreements (a case counts once per feature it used):",
            "",
            ", ".join(f"`{f}` {n}" for f, n in t.disagreement_features.most_common()),
            "",
            "Examples (first 40):",
            "",
            *(f"- {e}" for e in t.examples),
            "",
        ]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--enabled-only", action="store_true", help="only the grammar `make test` draws from")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    args = parser.parse_args()
    features = oracle_cases.ENABLED_FEATURES if args.enabled_only else oracle_cases.ALL_FEATURES
    tally = Tally()
    started = time.monotonic()
    deadline = started + args.minutes * 60
    seeds = 0
    with tempfile.TemporaryDirectory(prefix="scan-oracle-") as tmp, Sandbox() as box:
        done = 0
        while done < args.cases and time.monotonic() < deadline:
            seed = args.seed + seeds
            seeds += 1
            for case in oracle_cases.generate_cases(seed, min(PER_SEED, args.cases - done), features):
                tally.add(run_case(box, case, Path(tmp)))
                done += 1
                if time.monotonic() >= deadline:
                    break
            print(
                f"seed {seed}: {done} cases, {sum(tally.disagreements.values())} disagreements",
                file=sys.stderr,
            )
    text = report(tally, args, features, time.monotonic() - started, seeds)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
