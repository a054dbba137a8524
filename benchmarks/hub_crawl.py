"""Benchmark a hub-scale crawl: bytes read against bytes held, requests per repository, repos/s.

Generates ≥ 200 repositories of realistic sizes as sparse files (benchmarks/hubgen.py: safetensors
releases from 135M to 405B parameters sharded as published, GGUF files with real llama.cpp metadata,
small real torch checkpoints) and serves them from the local hub test server (tests/hub/server.py,
real HTTP: model info, resolve with 302 and Range). Then:

1. every repository is assessed once with `assess_remote` (inspect + scan + rules, header-only; in a
   pool of 2 processes, the accounting pass) and the read is accounted twice, side by side: the
   client's `RemoteRead` (bytes_read, requests) and the
   server's own count of file bytes served and requests received. Per layout and per format: bytes
   read as a fraction of bytes held (target < 0.1 % for safetensors and GGUF), the part of it that is
   whole text files (tokenizer.json, card, config) against weight-file ranges, requests per repository;
2. throughput, repos/s, on a sample that keeps the mix (`--sample 50`, every k-th repository):
   `assess_remote` in a loop (1 process) and in a 2-process pool, and the Ray crawl
   (`modelwarden.hub.crawl.run_crawl`) with 1 and 2 workers when that module is installed (it is on
   the crawl branch; without it the Ray rows say so).

The server runs in this process (a uvicorn thread), so in the 1-process loop client and server share
one interpreter; in the pool and Ray runs the workers are other processes. At the defaults: roughly 6
minutes on 2 idle cores (estimated from the CPU time per repository), most of it the accounting pass;
13 minutes measured under a load average of 7.

Run: .venv/bin/python benchmarks/hub_crawl.py [--repos 200] [--work DIR] [--modes loop,pool,ray]
     [--sample 50] [--requests-per-second R] [--out benchmarks/results/hub_crawl.md] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubgen import BuiltRepo, SparseHub, generate, plan
from modelwarden.hub import HubSettings, assess_remote

TARGET = 0.001  # the target: under 0.1 % of the bytes held, for safetensors and GGUF


@dataclass
class Row:
    """One repository's read."""

    repo_id: str
    kind: str
    layout: str
    files: int
    held: int
    read: int
    """RemoteRead.bytes_read (the client's count)."""
    served: int
    """Bytes the server sent for this repository's files (its own count)."""
    served_text: int
    """Of `served`, whole small text files (git files: tokenizer.json, card, configs)."""
    requests: int
    """RemoteRead.requests (the client's count, metadata call included)."""
    server_requests: int
    """Requests the server received for this repository (the 302 and the storage request count two)."""
    seconds: float
    parameters_ok: bool
    """The assessment's parameter count equals the generator's."""


def layout_of(b: BuiltRepo) -> str:
    """The table's row label: format and model (and quantisation)."""
    v = f" {b.spec.variant}" if b.spec.kind == "gguf" else ""
    return f"{b.spec.slug}{v}"


def _assess_task(rid: str, endpoint: str) -> dict[str, Any]:
    """Assess one repository (in whichever process runs it); what its RemoteRead says."""
    t0 = time.perf_counter()
    a = assess_remote(rid, HubSettings(endpoint=endpoint))
    secs = time.perf_counter() - t0
    r = a.facts.remote
    assert r is not None
    return {
        "rid": rid,
        "read": r.bytes_read,
        "held": r.bytes_held,
        "requests": r.requests,
        "parameters": a.facts.parameters.total,
        "seconds": secs,
    }


def _warm_task(_: int) -> None:
    """Import the stages and load the rules in a pool process before the clock starts."""
    from modelwarden.rules import load_rules

    load_rules(None)


def run_loop(ids: list[str], endpoint: str) -> tuple[list[dict[str, Any]], float]:
    """`assess_remote` in a loop in this process (the server's thread shares its interpreter)."""
    t0 = time.perf_counter()
    out = [_assess_task(rid, endpoint) for rid in ids]
    return out, time.perf_counter() - t0


def run_pool(ids: list[str], endpoint: str, workers: int) -> tuple[list[dict[str, Any]], float]:
    """`assess_remote` over the ids in a pool of spawned processes, warmed before the clock starts."""
    ctx = multiprocessing.get_context("spawn")  # the parent runs the server thread: no fork
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        list(pool.map(_warm_task, range(workers)))
        t0 = time.perf_counter()
        out = list(pool.map(_assess_task, ids, [endpoint] * len(ids)))
        return out, time.perf_counter() - t0


def repo_of(path: str) -> str | None:
    """The repository a request to the local hub was for (metadata, resolve or storage path)."""
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "models"] and len(parts) >= 4:
        return f"{parts[2]}/{parts[3]}"
    if parts[0] == "cdn" and len(parts) >= 3:
        return f"{parts[1]}/{parts[2]}"
    if len(parts) >= 3 and parts[2] == "resolve":
        return f"{parts[0]}/{parts[1]}"
    return None


def account(hub: SparseHub, built: list[BuiltRepo], results: list[dict[str, Any]]) -> list[Row]:
    """Rows of a pass that assessed every repository once on a fresh server: the client's numbers
    beside the server's own (bytes served per file, requests received per repository)."""
    served: Counter[str] = Counter()
    text: Counter[str] = Counter()
    for key, n in hub.served_bytes.items():
        rid, rel = key.split(":", 1)
        served[rid] += n
        if rel not in hub.repos[rid].lfs:
            text[rid] += n
    reqs = Counter(repo_of(path) for _, path, _ in hub.requests)
    by_id = {r["rid"]: r for r in results}
    rows = []
    for b in built:
        rid = b.spec.repo_id
        r = by_id[rid]
        rows.append(
            Row(
                rid,
                b.spec.kind,
                layout_of(b),
                len(hub.repos[rid].siblings),
                r["held"],
                r["read"],
                served[rid],
                text[rid],
                r["requests"],
                reqs[rid],
                r["seconds"],
                r["parameters"] == b.parameters,
            )
        )
    return rows


def throughput(
    mode: str, workers: int, results: list[dict[str, Any]], seconds: float, note: str
) -> dict[str, Any]:
    """One row of the throughput table."""
    return {
        "mode": mode,
        "workers": workers,
        "repos": len(results),
        "seconds": seconds,
        "requests": sum(r["requests"] for r in results),
        "note": note,
    }


def measure_ray(ids: list[str], endpoint: str, workers: int, work: Path, rps: float) -> dict[str, Any]:
    """The Ray crawl of the crawl branch (`run_crawl`), results in a fresh SQLite database. A local Ray
    is started here first (and timed apart): run_crawl then uses it as it is, so its `seconds` are the
    crawl's own."""
    import ray

    from modelwarden.hub.crawl import CrawlOptions, run_crawl

    db = work / f"crawl-{workers}.sqlite"
    db.unlink(missing_ok=True)
    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    started = time.perf_counter() - t0
    try:
        opts = CrawlOptions(
            ids=ids,
            db_url=f"sqlite:///{db}",
            workers=workers,
            requests_per_second=rps,
            settings=HubSettings(endpoint=endpoint),
        )
        s = run_crawl(opts)
    finally:
        ray.shutdown()
    return {
        "mode": "Ray crawl",
        "workers": workers,
        "repos": s.assessed,
        "seconds": s.seconds,
        "requests": s.requests,
        "bytes_read": s.bytes_read,
        "failed": s.failed,
        "skipped": s.skipped,
        "retries_429": s.retries_429,
        "note": f"run_crawl's seconds; Ray start {started:.1f} s apart; {s.failed} failed, "
        f"{s.retries_429} × 429; budget {rps:g} requests/s",
    }


# -- the report ----------------------------------------------------------------------------------------


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.4f} %" if b else "—"


def _size(n: float) -> str:
    for unit, div in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:,.1f} {unit}"
    return f"{n:,.0f} B"


def table_layouts(rows: list[Row]) -> list[str]:
    """Per layout: held, read (client and server), the text part, the fraction, requests."""
    out = [
        "| format | layout | repos | files | held / repo | read / repo (RemoteRead) | served / repo (server) "
        "| of which whole text files | read / held | weights ranges / held | requests / repo (client) "
        "| requests / repo (server) | s / repo (median, pool of 2) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        groups[(r.kind, r.layout)].append(r)
    for (kind, layout), g in groups.items():
        n = len(g)
        held, read, served = (sum(getattr(r, f) for r in g) / n for f in ("held", "read", "served"))
        text = sum(r.served_text for r in g) / n
        out.append(
            f"| {kind} | {layout} | {n} | {g[0].files} | {_size(held)} | {_size(read)} | {_size(served)} "
            f"| {_size(text)} | {_pct(read, held)} | {_pct(served - text, held)} "
            f"| {statistics.mean(r.requests for r in g):.1f} "
            f"| {statistics.mean(r.server_requests for r in g):.1f} "
            f"| {statistics.median(r.seconds for r in g):.2f} |"
        )
    return out


def table_formats(rows: list[Row]) -> list[str]:
    """Per format: totals, the fraction over all bytes, per repository (median, worst), the target."""
    out = [
        "| format | repos | held | read (RemoteRead) | served (server) | read / held (all bytes) "
        "| median per repo | worst repo | repos under 0.1 % | requests / repo (mean) "
        "| bytes read / repo (mean) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by[r.kind].append(r)
    by["all"] = rows
    for kind, g in by.items():
        held, read, served = (sum(getattr(r, f) for r in g) for f in ("held", "read", "served"))
        fr = [r.read / r.held for r in g]
        under = sum(1 for f in fr if f < TARGET)
        out.append(
            f"| {kind} | {len(g)} | {_size(held)} | {_size(read)} | {_size(served)} | {_pct(read, held)} "
            f"| {100 * statistics.median(fr):.4f} % | {100 * max(fr):.3f} % | {under} / {len(g)} "
            f"| {statistics.mean(r.requests for r in g):.1f} | {_size(read / len(g))} |"
        )
    return out


def table_throughput(runs: list[dict[str, Any]]) -> list[str]:
    """repos/s per mode, side by side."""
    out = [
        "| mode | workers | repos | seconds | repos/s | requests/s (client) | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if "error" in r:
            out.append(f"| {r['mode']} | {r['workers']} | — | — | — | — | {r['error']} |")
            continue
        rate = r["repos"] / r["seconds"] if r["seconds"] else 0.0
        out.append(
            f"| {r['mode']} | {r['workers']} | {r['repos']} | {r['seconds']:.1f} | {rate:.2f} "
            f"| {r['requests'] / r['seconds']:.0f} | {r.get('note', '')} |"
        )
    return out


def main() -> None:
    """Generate, serve, measure, print the tables (and write them with --out)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repos", type=int, default=200)
    ap.add_argument(
        "--work", type=Path, default=None, help="where the sparse repositories go (default: a temp dir)"
    )
    ap.add_argument("--modes", default="loop,pool,ray", help="throughput modes: loop, pool, ray")
    ap.add_argument(
        "--sample", type=int, default=50, help="repositories in the throughput runs (0: all; default 50)"
    )
    ap.add_argument(
        "--requests-per-second",
        type=float,
        default=1000.0,
        help="the Ray crawl's request budget (default 1000/s: no limit on one local server)",
    )
    ap.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    ap.add_argument("--json", type=Path, default=None, help="write the per-repository rows here")
    args = ap.parse_args()
    modes = set(args.modes.split(","))
    work = args.work or Path(tempfile.mkdtemp(prefix="hub-crawl-bench-"))

    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    built = generate(plan(args.repos), work / "repos")
    gen_secs = time.perf_counter() - t0
    disk = sum(p.stat().st_blocks * 512 for p in (work / "repos").rglob("*") if p.is_file())
    hub = SparseHub()
    for b in built:
        hub.add_built(b)
    endpoint = hub.start()
    ids = [b.spec.repo_id for b in built]
    step = max(1, len(ids) // args.sample) if args.sample else 1
    sample = ids[::step]  # the plan is grouped by layout: a stride keeps the mix
    try:
        results, secs = run_pool(ids, endpoint, 2)
        rows = account(hub, built, results)  # before any other pass adds to the server's counts
        runs: list[dict[str, Any]] = [
            throughput("accounting pass, process pool", 2, results, secs, "every repository"),
        ]
        if "loop" in modes:
            out, secs = run_loop(sample, endpoint)
            runs.append(throughput("assess_remote loop", 1, out, secs, "server thread in the same process"))
        if "pool" in modes:
            out, secs = run_pool(sample, endpoint, 2)
            runs.append(throughput("process pool", 2, out, secs, "warm processes"))
        if "ray" in modes:
            for w in (1, 2):
                try:
                    runs.append(measure_ray(sample, endpoint, w, work, args.requests_per_second))
                except ImportError as exc:
                    runs.append(
                        {
                            "mode": "Ray crawl",
                            "workers": w,
                            "error": f"not measured: cannot import {exc.name} (run_crawl: crawl branch)",
                        }
                    )
    finally:
        hub.stop()

    held = sum(r.held for r in rows)
    lines = [
        "## Hub-scale crawl: bytes read, requests, repos/s",
        "",
        f"Run: `{' '.join(['python', 'benchmarks/hub_crawl.py', *sys.argv[1:]])}` on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (finished); {os.cpu_count()} cores shared with other "
        f"jobs, load average {load_start:.1f} at the start and {os.getloadavg()[0]:.1f} at the end "
        "(timings are noisy; the byte and request counts are not).",
        "",
        f"{len(built)} repositories generated in {gen_secs:.0f} s: {_size(held)} held (apparent), "
        f"{_size(disk)} on disk (sparse weights; tokenizer.json files hard-linked, counted once per link). "
        "LFS digests are declared by the generator and served as the hub's LFS metadata (not recomputed, "
        "as on the real hub). Parameter counts of every assessment equal the generator's: "
        f"{sum(r.parameters_ok for r in rows)} / {len(rows)}. Client and server byte counts agree: "
        f"{sum(r.read == r.served for r in rows)} / {len(rows)}.",
        "",
        "### Per format",
        "",
        *table_formats(rows),
        "",
        "### Per layout (means per repository)",
        "",
        "`read / held` counts everything received (whole text files included); `weights ranges / held` "
        "only the byte ranges of weight files. Client requests count the metadata call and every range "
        "(retries included); the server counts the resolve answer (302) and the storage request apart.",
        "",
        *table_layouts(rows),
        "",
        "### Throughput (inspect + scan + rules per repository)",
        "",
        f"The accounting pass covers every repository; the other rows the same sample of {len(sample)} "
        "(every k-th repository, the mix kept). Ray rows: `run_crawl` into a fresh SQLite registry, its "
        "own `seconds` (the local Ray is started before and timed apart); their requests are the crawl's "
        "count, redirects included (the client rows count a redirected range once).",
        "",
        *table_throughput(runs),
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report)
    if args.json:
        args.json.write_text(json.dumps({"rows": [asdict(r) for r in rows], "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
