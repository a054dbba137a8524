"""Registry at scale: record 100,000 generated assessments, then time the dashboard's models page and a
filtered API query against a real `modelwarden serve` process — on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/registry_bench.py [--count 100000] [--backends sqlite,postgresql]
    .venv/bin/python benchmarks/registry_bench.py --large 200000 [--src OTHER_TREE/src]

Reports the insert rate (one save per transaction, and bulk `save_many` batches of 1,000) and p50/p95
latency measured from an HTTP client (keep-alive, one request at a time) over a rotating set of filters.
Targets (issue #6): models page p95 < 150 ms, filtered API query p95 < 50 ms at 100,000 assessments.
PostgreSQL is started the way the tests start it (tests/support/servers.py: initdb + pg_ctl, as an
unprivileged user when run as root, fsync off). Results go to stdout and benchmarks/results/registry_bench.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the generator and the PostgreSQL launcher live with the tests

import httpx  # noqa: E402
from tests.registry.factory import make_assessment  # noqa: E402
from tests.support import servers  # noqa: E402

from modelwarden.model import Assessment  # noqa: E402
from modelwarden.registry import Registry  # noqa: E402

PAGE_TARGET_MS = 150.0
API_TARGET_MS = 50.0
SINGLE_SAVES = 1_000
BATCH = 1_000

PAGE_QUERIES = [
    "",
    "?licence_class=not_open",
    "?mof_class=1",
    "?threshold=1e25%3Anear_above",
    "?threshold=1e23%3Aclearly_above&severity=high",
    "?severity=critical",
    "?duty=eu_ai_act",
    "?duty=us_ca_sb53&licence_class=needs_review",
    "?q=model-123",
    "?sort=compute",
    "?sort=parameters&mof_class=none",
    "?page=250",
    "?licence=apache-2.0&sort=recorded",
]
API_QUERIES = [
    "/api/v1/models?licence_class=open&threshold=1e23%3Aclearly_above",
    "/api/v1/models?severity=high&limit=50",
    "/api/v1/models?duty=eu_ai_act&mof_class=3",
    "/api/v1/models?threshold=1e26%3Aclearly_above",
    "/api/v1/models?q=model-77&licence_class=not_open",
    "/api/v1/assessments?threshold=1e25%3Auncertain&sort=recorded",
    "/api/v1/models?licence=llama3.1&severity=none",
    "/api/v1/assessments?duty=kr_ai_basic_act&limit=20",
]


def generated(count: int, seed: int = 2026) -> Iterator[Assessment]:
    """`count` assessments of ~count/2.5 models: a pool of varied records renamed and re-versioned."""
    rng = random.Random(seed)
    pool = [make_assessment(rng) for _ in range(2_000)]
    models = max(1, int(count / 2.5))
    for i in range(count):
        base = pool[i % len(pool)]
        m = i % models
        subject = base.subject.model_copy(update={"name": f"org-{m % 97}/model-{m}", "version": f"r{i}"})
        yield base.model_copy(update={"subject": subject})


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@contextlib.contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'registry.sqlite3'}"
    else:
        with servers.postgres_server() as url:
            yield url


@contextlib.contextmanager
def serve(url: str, src: Path | None = None, pids: list[int] | None = None) -> Iterator[str]:
    """`modelwarden serve` on `url`; from another source tree when `src` is given (a before/after
    comparison); its process id is appended to `pids` for CPU accounting."""
    port = servers.free_port()
    env = {**os.environ, "MODELWARDEN_API_TOKEN": ""}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelwarden", "serve", "--db", url, "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    if pids is not None:
        pids.append(proc.pid)
    try:
        servers._wait_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def large_assessment(hashes: int) -> Assessment:
    """One assessment of a release with `hashes` files, known by hash only (the shape of issue #16)."""
    import hashlib

    a = make_assessment(random.Random(16), name="acme/huge-release", version="1")
    a.subject.file_hashes = {
        f"shards/part-{i:06d}.bin": hashlib.sha256(str(i).encode()).hexdigest() for i in range(hashes)
    }
    return a


def run_large(hashes: int, src: Path | None, views: int) -> list[dict[str, object]]:
    """Views of one large assessment: bytes sent, wall time, and the server's CPU per view."""
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="mw-regbench-large-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'registry.sqlite3'}"
        with Registry(url) as reg:
            ident = reg.save(large_assessment(hashes))
        pids: list[int] = []
        with serve(url, src, pids) as base, httpx.Client(base_url=base, timeout=600) as client:
            for label, path in (
                ("report page", f"/assessments/{ident}"),
                ("report page, files page 2", f"/assessments/{ident}?files=2"),
                ("API assessment", f"/api/v1/assessments/{ident}"),
            ):
                for n in range(views):
                    cpu = cpu_seconds(pids[0])
                    start = time.perf_counter()
                    response = client.get(path)
                    wall = time.perf_counter() - start
                    rows.append(
                        {
                            "view": f"{label} ({'first' if n == 0 else 'again'})",
                            "status": response.status_code,
                            "bytes": len(response.content),
                            "wall_s": wall,
                            "cpu_s": cpu_seconds(pids[0]) - cpu,
                        }
                    )
    return rows


def large_table(hashes: int, label: str, rows: list[dict[str, object]]) -> str:
    lines = [
        f"Large assessment ({hashes:,} file hashes), {label}; {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at the end",
        "",
        "| view | status | size (MB) | wall (s) | server CPU (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['view']} | {r['status']} | {r['bytes'] / 1e6:.2f} "  # type: ignore[operator]
            f"| {r['wall_s']:.2f} | {r['cpu_s']:.2f} |"
        )
    return "\n".join(lines)


def timed_requests(client: httpx.Client, urls: list[str], n: int) -> list[float]:
    for url in urls:  # warm the server's caches and the database's pages once
        client.get(url).raise_for_status()
    took = []
    for i in range(n):
        start = time.perf_counter()
        response = client.get(urls[i % len(urls)])
        took.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return took


def run(backend: str, count: int, requests: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="mw-regbench-") as tmp, database(backend, Path(tmp)) as url:
        records = generated(count)
        reg = Registry(url)
        singles = []
        for _ in range(min(SINGLE_SAVES, count)):
            a = next(records)
            start = time.perf_counter()
            reg.save(a)
            singles.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        bulk = len(reg.save_many(records, batch=BATCH))
        bulk_s = time.perf_counter() - start
        total = reg.count()
        models = reg.models().total
        reg.close()
        files = Path(tmp).glob("registry.sqlite3*")
        size = sum(f.stat().st_size for f in files) if backend == "sqlite" else None
        with serve(url) as base, httpx.Client(base_url=base, timeout=30) as client:
            page = timed_requests(client, PAGE_QUERIES, requests)
            api = timed_requests(client, API_QUERIES, requests)
    return {
        "backend": backend,
        "assessments": total,
        "models": models,
        "single_rate": len(singles) / (sum(singles) / 1000),
        "single_p50": percentile(singles, 50),
        "single_p95": percentile(singles, 95),
        "bulk_rate": bulk / bulk_s if bulk else 0.0,
        "page_p50": percentile(page, 50),
        "page_p95": percentile(page, 95),
        "api_p50": percentile(api, 50),
        "api_p95": percentile(api, 95),
        "size_mb": size / 1e6 if size else None,
    }


def table(results: list[dict[str, object]], count: int) -> str:
    def ok(value: float, target: float) -> str:
        return f"{value:.1f} {'✓' if value < target else '✗'}"

    lines = [
        f"Registry benchmark: {count:,} assessments; {os.cpu_count()} cores, {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} at the end",
        "",
        "| backend | assessments | models | save, one per transaction (/s) | save p50 / p95 (ms) "
        "| bulk save_many (/s) | models page p50 (ms) | models page p95 (ms) | API query p50 (ms) "
        "| API query p95 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['assessments']:,} | {r['models']:,} | {r['single_rate']:,.0f} "
            f"| {r['single_p50']:.2f} / {r['single_p95']:.2f} | {r['bulk_rate']:,.0f} "
            f"| {r['page_p50']:.1f} | {ok(r['page_p95'], PAGE_TARGET_MS)} "  # type: ignore[arg-type]
            f"| {r['api_p50']:.1f} | {ok(r['api_p95'], API_TARGET_MS)} |"  # type: ignore[arg-type]
        )
    lines += [
        "",
        f"Targets: models page p95 < {PAGE_TARGET_MS:.0f} ms, "
        f"filtered API query p95 < {API_TARGET_MS:.0f} ms "
        "(✓ met, ✗ missed). Latency measured from an HTTP client against `modelwarden serve`, one request at "
        f"a time, {len(PAGE_QUERIES)} page and {len(API_QUERIES)} API filter combinations in rotation.",
    ]
    sizes = [f"{r['backend']} {r['size_mb']:.0f} MB" for r in results if r["size_mb"]]
    if sizes:
        lines.append("Database size: " + ", ".join(sizes) + ".")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=400, help="timed requests per kind")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "registry_bench.md")
    parser.add_argument(
        "--large", type=int, default=0, help="instead: time views of one assessment with that many hashes"
    )
    parser.add_argument("--src", type=Path, help="with --large: serve from this source tree (a 'before' run)")
    parser.add_argument("--views", type=int, default=3, help="with --large: views of each kind")
    args = parser.parse_args()
    if args.large:
        label = f"served from {args.src}" if args.src else "this tree"
        text = large_table(args.large, label, run_large(args.large, args.src, args.views))
        print(text)
        out = args.out.with_name("registry_bench_large.md")
        with out.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n\n")
        return
    results = []
    for backend in args.backends.split(","):
        print(f"{backend}: recording {args.count:,} assessments…", file=sys.stderr, flush=True)
        results.append(run(backend, args.count, args.requests))
    text = table(results, args.count)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
