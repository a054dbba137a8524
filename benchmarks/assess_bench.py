"""Throughput of compute + rules: 10,000 generated fact sets, one core, rules compiled once.

    .venv/bin/python benchmarks/assess_bench.py [--count 10000] [--seed 7] [--out FILE]

Target (issue #5): at least 2,000 assessments per second on one core. Manifests are generated and
validated before the clock starts; the timed part is what `assess` does per model after reading
files: the compute estimate, the rule context, and every bundled instrument evaluated as of a date.
`estimate_compute` is also timed alone over the same manifests (best of three passes). The table is
printed and written to benchmarks/results/assess_bench.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

from modelwarden.compute import estimate_compute
from modelwarden.manifest import Manifest, parse_manifest
from modelwarden.openness import assess_openness
from modelwarden.rules import evaluate, load_rules
from modelwarden.rules.context import build_context

TARGET = 2000.0
RESULTS = Path(__file__).resolve().parent / "results" / "assess_bench.md"
OUTPUTS = [["text"], ["text", "code"], ["image"], ["embedding"], ["speech"], []]
LICENCES = ["apache-2.0", "mit", "llama3.1", "cc-by-nc-4.0", "gemma", None]


def generate(rng: random.Random) -> Manifest:
    params = int(10 ** rng.uniform(8, 12))
    doc: dict[str, Any] = {"model": {"parameters": params}, "training": {}, "release": {}}
    if rng.random() < 0.3:
        doc["model"]["active_parameters"] = max(1, params // rng.choice([4, 8, 16]))
    out = rng.choice(OUTPUTS)
    if out:  # some single-task patterns (transcription, TTS) reach the Guidelines para 20 question
        inputs = ["speech"] if out == ["text"] and rng.random() < 0.2 else ["text"]
        doc["model"]["modalities"] = {"input": inputs, "output": out}
    if rng.random() < 0.2:
        doc["model"]["generality"] = rng.choice(["general", "narrow"])
    r = rng.random()
    if r < 0.5:
        doc["training"]["tokens"] = 10 ** rng.uniform(10, 13.5)
    elif r < 0.7:
        doc["training"]["compute_flop"] = 10 ** rng.uniform(21, 27)
    elif r < 0.9:
        doc["training"]["hardware"] = {
            "accelerator": rng.choice(["H100", "A100", "TPUv5p"]),
            "gpu_hours": 10 ** rng.uniform(3, 7.5),
        }
    if rng.random() < 0.3:
        doc["training"]["synthetic_data_flop"] = 10 ** rng.uniform(21, 25)
    doc["release"]["role"] = rng.choice(["provider", "provider", "modifier", "deployer", None])
    if doc["release"]["role"] == "modifier":
        doc["training"]["modification_flop"] = 10 ** rng.uniform(20, 25)
        doc["base_model"] = (
            {"compute_flop": 10 ** rng.uniform(22, 26)}
            if rng.random() < 0.5
            else {"systemic_risk": rng.random() < 0.3}
        )
    if rng.random() < 0.6:
        doc["release"]["provider"] = {
            "established_in": rng.choice(["US", "DE", "FR", "CN", "KR"]),
            "revenue_usd": 10 ** rng.uniform(5, 11),
        }
    if rng.random() < 0.5:
        doc["release"]["markets"] = rng.sample(["EU", "US", "US-CA", "US-NY", "KR", "CN"], rng.randint(1, 4))
    lic = rng.choice(LICENCES)
    if lic:
        doc["release"]["license"] = lic
    if rng.random() < 0.3:
        doc["release"]["monetised"] = rng.random() < 0.3
    if rng.random() < 0.5:  # either side of the EU legacy cut-off (2025-08-02)
        doc["release"]["placed_on_market"] = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 1200))
    if rng.random() < 0.3:
        doc["release"]["weights"] = rng.choice(["public", "gated", "api_only", "closed"])
    doc["release"] = {k: v for k, v in doc["release"].items() if v is not None}
    return parse_manifest(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=RESULTS, help="results markdown (default: %(default)s)")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    rng = random.Random(args.seed)
    manifests = [generate(rng) for _ in range(args.count)]
    t0 = time.perf_counter()
    rules = load_rules()
    load_ms = (time.perf_counter() - t0) * 1000
    as_of = dt.date(2026, 11, 22)
    per: list[float] = []
    outcomes: dict[str, int] = {}
    start = time.perf_counter()
    for m in manifests:
        t = time.perf_counter()
        compute = estimate_compute(None, m)
        regimes = evaluate(rules, build_context(as_of, None, m, compute, None), as_of)
        per.append(time.perf_counter() - t)
        sr = regimes["eu_ai_act"].classification["systemic_risk"].value
        outcomes[sr] = outcomes.get(sr, 0) + 1
    total = time.perf_counter() - start
    rate = args.count / total
    # The whole manifest-only path of `assess` (openness classification included), for comparison.
    full_n = min(args.count, 2_000)
    full_start = time.perf_counter()
    for m in manifests[:full_n]:
        openness = assess_openness(None, m)
        compute = estimate_compute(None, m)
        evaluate(rules, build_context(as_of, None, m, compute, openness), as_of)
    full_rate = full_n / (time.perf_counter() - full_start)
    # estimate_compute alone over the same manifests: best of three passes.
    compute_passes = []
    for _ in range(3):
        t = time.perf_counter()
        for m in manifests:
            estimate_compute(None, m)
        compute_passes.append(time.perf_counter() - t)
    compute_best = min(compute_passes)
    compute_rate = args.count / compute_best
    per.sort()
    p50 = statistics.median(per) * 1e3
    p99 = per[int(len(per) * 0.99)] * 1e3
    mark = "✓" if rate >= TARGET else "✗"
    n_instruments = len(rules.instruments)
    lines = [
        f"assess benchmark: {args.count:,} generated fact sets, one core, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}",
        "",
        "| stage | assessments | seconds | assessments/s | p50 ms | p99 ms | target |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| compute + {n_instruments} instruments | {args.count:,} | {total:.2f} | {rate:,.0f} "
        f"| {p50:.3f} | {p99:.3f} "
        f"| ≥ {TARGET:,.0f}/s {mark} |",
        f"| openness + compute + {n_instruments} instruments | {full_n:,} | {full_n / full_rate:.2f} "
        f"| {full_rate:,.0f} "
        "| | | (manifest-only `assess` path) |",
        f"| `estimate_compute` alone | {args.count:,} | {compute_best:.2f} | {compute_rate:,.0f} "
        "| | | (estimates/s, best of 3 passes: "
        + ", ".join(f"{args.count / s:,.0f}" for s in compute_passes)
        + ") |",
        "",
        f"Rules loaded and CEL compiled once in {load_ms:.0f} ms. EU systemic-risk outcomes: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())),
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
