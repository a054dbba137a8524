"""Gateway overhead: modelwarden vs LiteLLM vs direct, measured from the client (docs/reference/gateway.md
§10).

Same mock upstream (modelwarden.gateway.mock_upstream, instant answers), same open-loop load
generator (benchmarks/loadgen.py), same request. Systems:
  (a) direct      the client talks to the mock upstream;
  (b) modelwarden auth (API key → identity → tier) + limits (rpm/tpm reservation and settlement)
                  + rule moderation of prompt and answer + the audit chain (each entry committed to
                  SQLite before the answer is sent), 1 worker;
  (c) litellm     LiteLLM proxy (pinned, hash-checked, benchmarks/peers/install_litellm.sh) with API
                  keys carrying rpm/tpm limits (custom_auth: virtual keys need LiteLLM's Prisma/Postgres
                  schema, whose engines are downloaded at run time from outside PyPI), 1 worker.

Placement: the system under test is pinned to CPU 1; the mock upstream and the load generator share
CPU 0 (taskset). The machine has 2 cores shared with other work, so every point is repeated and
the spread is reported.

Added latency = pX(system) − pX(direct) at the same offered rate, per repeat (back-to-back), then
the median over repeats. Max sustainable rate = the highest rate of a sweep with < 0.1 % errors,
achieved ≥ 97 % of offered, and p99 < 250 ms.

Usage: .venv/bin/python benchmarks/gateway_bench.py [--repeats 3] [--duration 10] [--quick]
Writes benchmarks/results/gateway_bench.json and prints Markdown tables.

Against a real model server (llama-cpp-python's server on a tiny GGUF this script writes with the
`gguf` writer; see REAL_NOTE below for the install), reporting added latency and time to first
token side by side with direct calls:
    .venv/bin/python benchmarks/gateway_bench.py --real-upstream [--requests 40] [--max-tokens 16]
Writes benchmarks/results/gateway_real_upstream.{json,md}.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
LITELLM = HERE / ".peers" / "litellm" / "bin" / "litellm"
BODY = {
    "model": "mock-small",
    "messages": [{"role": "user", "content": "Write a haiku about the sea at night."}],
    "max_tokens": 64,
}
SLO_P99_MS = 250.0
MIN_SWEEP_RPS = 25.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: str, cmd: list[str]) -> list[str]:
    return (
        ["taskset", "-c", cpu, *cmd]
        if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1
        else cmd
    )  # type: ignore[operator]


def wait_ok(url: str, timeout: float = 60.0, headers: dict[str, str] | None = None, body: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.post(url, json=body, headers=headers, timeout=5) if body else httpx.get(url, timeout=2)
            if r.status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def process(
    cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as fh:
        p = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env or os.environ.copy(),
            cwd=cwd,
            start_new_session=True,
        )
    try:
        yield p
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def env_single_thread() -> dict[str, str]:
    e = os.environ.copy()
    e.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return e


# --- systems ---------------------------------------------------------------------------------------


def modelwarden_deployment(
    work: Path,
    upstream: str,
    *,
    name: str = "modelwarden",
    models: list[dict[str, Any]] | None = None,
    moderation: dict[str, Any] | None = None,
) -> tuple[Path, str]:
    """A deployment with a `bench` tier (limits high enough not to bind, but enforced) and one key."""
    from modelwarden import migrations
    from modelwarden.db import make_engine
    from modelwarden.gateway.config import load_config
    from modelwarden.gateway.signing import generate_key
    from modelwarden.gateway.store import Store
    from modelwarden.gateway.tiers import load_tiers

    d = work / name
    d.mkdir(parents=True)
    generate_key(d / "audit-signing.key")
    (d / "audit.salt").write_text(secrets.token_hex(32))
    tiers = yaml.safe_load(
        resources.files("modelwarden.gateway").joinpath("data/tiers.yaml").read_text("utf-8")
    )
    tiers["tiers"]["bench"] = {
        **tiers["tiers"]["verified"],
        "fallback": None,
        "requires": {"verification": "none"},
        "rpm": 10_000_000,
        "tpm": 10_000_000_000,
        "daily_tokens": 0,
    }
    (d / "tiers.yaml").write_text(yaml.safe_dump(tiers, sort_keys=False))
    cfg = {
        "database": "sqlite:///gateway.sqlite3",
        "tiers": "tiers.yaml",
        "upstreams": [
            {
                "name": "upstream",
                "url": upstream + "/v1",
                "models": models or [{"id": "mock-small", "tags": ["public"]}],
            }
        ],
        "moderation": moderation or {"rules": True},
        "audit": {
            "signing_key": "audit-signing.key",
            "anchor_file": "checkpoints.jsonl",
            "salt_file": "audit.salt",
        },
        "admin": {"token_sha256": hashlib.sha256(b"bench-admin").hexdigest()},
    }
    (d / "gateway.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    c = load_config(d / "gateway.yaml")
    engine = make_engine(c.database)
    migrations.upgrade(engine)
    st = Store(engine, load_tiers(c.tiers))
    ident = st.create_identity("bench", tier="bench")
    _, key = st.create_key(ident.id)
    engine.dispose()
    return d / "gateway.yaml", key


@contextlib.contextmanager
def start_modelwarden(work: Path, upstream: str) -> Iterator[tuple[str, str]]:
    config, key = modelwarden_deployment(work, upstream)
    port = free_port()
    cmd = pinned(
        "1",
        [
            PY,
            "-m",
            "modelwarden",
            "gateway",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "--workers",
            "1",
        ],
    )
    with process(cmd, work / "modelwarden.log", env_single_thread()):
        url = f"http://127.0.0.1:{port}"
        wait_ok(url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, body=BODY)
        yield url, key


LITELLM_AUTH = '''\
"""Keys with rpm/tpm limits for the LiteLLM proxy, without its database (see gateway_bench.py)."""
import hashlib, hmac, os
from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth

KEYS = {}
for line in open(os.environ["BENCH_LITELLM_KEYS"]):
    k, rpm, tpm = line.split()
    KEYS[hashlib.sha256(k.encode()).hexdigest()] = (int(rpm), int(tpm))


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    h = hashlib.sha256(api_key.encode()).hexdigest()
    for stored, (rpm, tpm) in KEYS.items():
        if hmac.compare_digest(stored, h):
            return UserAPIKeyAuth(api_key=h, token=h, rpm_limit=rpm, tpm_limit=tpm)
    raise HTTPException(status_code=401, detail="invalid key")
'''


@contextlib.contextmanager
def start_litellm(work: Path, upstream: str) -> Iterator[tuple[str, str]]:
    if not LITELLM.exists():
        raise RuntimeError("LiteLLM is not installed: run benchmarks/peers/install_litellm.sh")
    d = work / "litellm"
    d.mkdir(parents=True)
    key = "sk-bench-" + secrets.token_hex(16)
    (d / "keys.txt").write_text(f"{key} 10000000 10000000000\n")
    (d / "custom_auth.py").write_text(LITELLM_AUTH)
    cfg = {
        "model_list": [
            {
                "model_name": "mock-small",
                "litellm_params": {
                    "model": "openai/mock-small",
                    "api_base": upstream + "/v1",
                    "api_key": "sk-mock",
                },
            }
        ],
        "general_settings": {
            "master_key": "sk-master-" + secrets.token_hex(8),
            "custom_auth": "custom_auth.user_api_key_auth",
        },
        "litellm_settings": {"telemetry": False, "set_verbose": False},
    }
    (d / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    # Same treatment as ours: no per-request access log.
    (d / "logging.json").write_text(
        json.dumps(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "loggers": {"uvicorn.access": {"level": "WARNING"}, "uvicorn.error": {"level": "WARNING"}},
            }
        )
    )
    port = free_port()
    env = env_single_thread()
    env.update(
        BENCH_LITELLM_KEYS=str(d / "keys.txt"),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_LOG="ERROR",
        PYTHONPATH=str(d),
    )
    cmd = pinned(
        "1",
        [
            str(LITELLM),
            "--config",
            str(d / "config.yaml"),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--num_workers",
            "1",
            "--log_config",
            str(d / "logging.json"),
        ],
    )
    with process(cmd, work / "litellm.log", env, cwd=d):
        url = f"http://127.0.0.1:{port}"
        wait_ok(
            url + "/v1/chat/completions", timeout=120, headers={"authorization": f"Bearer {key}"}, body=BODY
        )
        yield url, key


# --- measurement -------------------------------------------------------------------------------------


def point(
    url: str, key: str | None, rate: float, duration: float, body_file: Path, warmup: float = 2.0
) -> dict[str, Any]:
    cmd = pinned(
        "0",
        [
            PY,
            str(HERE / "loadgen.py"),
            "--url",
            url + "/v1/chat/completions",
            "--rate",
            str(rate),
            "--duration",
            str(duration),
            "--warmup",
            str(warmup),
            "--body",
            str(body_file),
        ],
    )
    if key:
        cmd += ["--header", f"Authorization: Bearer {key}"]
    load = os.getloadavg()[0]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    # The machine is shared: the 1-minute load average before each point goes with its numbers.
    return dict(json.loads(out.stdout), load_1m=load)


def settle(url: str, key: str | None, timeout: float = 120.0) -> None:
    """After a point, wait until the system answers one request quickly again (an overloaded
    server keeps working through its backlog after the client gave up)."""
    time.sleep(1.0)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = time.perf_counter()
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(url + "/v1/chat/completions", json=BODY, headers=headers, timeout=30)
            if time.perf_counter() - t < 0.05:
                return
        time.sleep(1.0)


def passes(r: dict[str, Any]) -> bool:
    return (
        r["error_rate"] < 0.001 and r["achieved_rps"] >= 0.97 * r["offered_rps"] and r["p99_ms"] < SLO_P99_MS
    )


def sweep(
    url: str, key: str | None, body_file: Path, rates: list[float], duration: float
) -> tuple[float, list[dict[str, Any]]]:
    best = 0.0
    runs = []
    for rate in rates:
        r = point(url, key, rate, duration, body_file, warmup=1.0)
        settle(url, key)
        runs.append(r)
        if not passes(r):
            break
        best = rate
    # A system that fails the sweep's first rate gets a real number too: halve down to MIN_SWEEP_RPS.
    rate = rates[0] / 2
    while best == 0.0 and rate >= MIN_SWEEP_RPS:
        r = point(url, key, rate, duration, body_file, warmup=1.0)
        settle(url, key)
        runs.append(r)
        if passes(r):
            best = rate
        rate /= 2
    return best, runs


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rates", default="100,500,1000")
    ap.add_argument("--sweep", default="250,500,750,1000,1250,1500,1750,2000,2500,3000,3500,4000")
    ap.add_argument("--sweep-duration", type=float, default=5.0)
    ap.add_argument("--systems", default="direct,modelwarden,litellm")
    ap.add_argument("--quick", action="store_true", help="1 repeat, 4 s points: a smoke run")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "gateway_bench.json")
    a = ap.parse_args()
    # Turn SIGTERM into an exception so every started server is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.quick:
        a.repeats, a.duration, a.sweep_duration = 1, 4.0, 3.0
    rates = [float(x) for x in a.rates.split(",")]
    sweep_rates = [float(x) for x in a.sweep.split(",")]
    systems = a.systems.split(",")

    work = Path(tempfile.mkdtemp(prefix="mw-gwbench-"))
    body_file = work / "body.json"
    body_file.write_text(json.dumps(BODY))
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg(),
        },
        "method": {
            "rates": rates,
            "duration_s": a.duration,
            "repeats": a.repeats,
            "slo_p99_ms": SLO_P99_MS,
            "sweep": sweep_rates,
            "sweep_duration_s": a.sweep_duration,
            "body": BODY,
        },
        "versions": {"modelwarden": _git_rev(), "litellm": _litellm_version()},
        "fixed": {s: {str(r): [] for r in rates} for s in systems},
        "sweeps": {s: [] for s in systems},
    }
    mock_port = free_port()
    upstream = f"http://127.0.0.1:{mock_port}"
    mock_cmd = pinned("0", [PY, "-m", "modelwarden.gateway.mock_upstream", "--port", str(mock_port)])
    with process(mock_cmd, work / "mock.log", env_single_thread()):
        wait_ok(upstream + "/mock/stats")
        with contextlib.ExitStack() as stack:
            targets: dict[str, tuple[str, str | None]] = {}
            if "direct" in systems:
                targets["direct"] = (upstream, None)
            if "modelwarden" in systems:
                targets["modelwarden"] = stack.enter_context(start_modelwarden(work, upstream))
            if "litellm" in systems:
                targets["litellm"] = stack.enter_context(start_litellm(work, upstream))
            for rep in range(a.repeats):
                for rate in rates:
                    for s in systems:
                        url, key = targets[s]
                        r = point(url, key, rate, a.duration, body_file)
                        settle(url, key)
                        results["fixed"][s][str(rate)].append(r)
                        print(
                            f"rep {rep + 1} {s:>11} @ {rate:>6.0f} rps: "
                            f"p50 {r['p50_ms']:7.2f}  p95 {r['p95_ms']:7.2f}  p99 {r['p99_ms']:8.2f} ms  "
                            f"err {r['error_rate']:.4f}  achieved {r['achieved_rps']:.0f}",
                            file=sys.stderr,
                            flush=True,
                        )
                for s in systems:
                    url, key = targets[s]
                    best, runs = sweep(url, key, body_file, sweep_rates, a.sweep_duration)
                    results["sweeps"][s].append({"max_rps": best, "runs": runs})
                    print(
                        f"rep {rep + 1} {s:>11} max sustainable: {best:.0f} rps", file=sys.stderr, flush=True
                    )
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    results["summary"] = summarise(results, systems, rates)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=1))
    print(render(results, systems, rates))
    shutil.rmtree(work, ignore_errors=True)


def summarise(results: dict[str, Any], systems: list[str], rates: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"added": {}, "absolute": {}, "max_rps": {}}
    for s in systems:
        out["max_rps"][s] = spread([sw["max_rps"] for sw in results["sweeps"][s]])
        out["absolute"][s] = {}
        for rate in rates:
            runs = results["fixed"][s][str(rate)]
            out["absolute"][s][str(rate)] = {
                q: spread([r[f"{q}_ms"] for r in runs]) for q in ("p50", "p95", "p99")
            } | {"error_rate": max(r["error_rate"] for r in runs)}
        if s == "direct" or "direct" not in systems:
            continue
        out["added"][s] = {}
        for rate in rates:
            mine = results["fixed"][s][str(rate)]
            base = results["fixed"]["direct"][str(rate)]
            out["added"][s][str(rate)] = {
                q: spread([m[f"{q}_ms"] - b[f"{q}_ms"] for m, b in zip(mine, base, strict=True)])
                for q in ("p50", "p95", "p99")
            }
    return out


def _fmt(sp: dict[str, float]) -> str:
    return f"{sp['median']:.2f} ({sp['min']:.2f}–{sp['max']:.2f})"


def render(results: dict[str, Any], systems: list[str], rates: list[float]) -> str:
    sm = results["summary"]
    lines = [
        f"Machine: {results['machine']['cpus']} CPUs, {results['machine']['platform']}; "
        f"{results['method']['repeats']} repeats × {results['method']['duration_s']:g} s per point; "
        "median (min–max over repeats).",
        "1-minute load average (shared machine): "
        + f"{results['machine']['load_avg_at_start'][0]:.2f} at start, "
        + f"{results['machine'].get('load_avg_at_end', [float('nan')])[0]:.2f} at end, "
        + "{:.2f}–{:.2f} before the points.".format(*_load_range(results)),
        "",
        "Added latency vs direct (ms), measured at the client:",
        "",
        "| system | rate (rps) | added p50 | added p95 | added p99 | errors |",
        "|---|---|---|---|---|---|",
    ]
    for s in sm["added"]:
        for rate in rates:
            ad = sm["added"][s][str(rate)]
            err = sm["absolute"][s][str(rate)]["error_rate"]
            lines.append(
                f"| {s} | {rate:.0f} | {_fmt(ad['p50'])} | {_fmt(ad['p95'])} | {_fmt(ad['p99'])} "
                f"| {err:.2%} |"
            )
    lines += [
        "",
        "Absolute client latency (ms):",
        "",
        "| system | rate (rps) | p50 | p95 | p99 |",
        "|---|---|---|---|---|",
    ]
    for s in systems:
        for rate in rates:
            ab = sm["absolute"][s][str(rate)]
            lines.append(f"| {s} | {rate:.0f} | {_fmt(ab['p50'])} | {_fmt(ab['p95'])} | {_fmt(ab['p99'])} |")
    lines += [
        "",
        f"Max sustainable rate (errors < 0.1 %, achieved ≥ 97 %, p99 < {SLO_P99_MS:.0f} ms):",
        "",
        "| system | max rps, median (min–max) |",
        "|---|---|",
    ]
    for s in systems:
        lines.append(f"| {s} | {_fmt(sm['max_rps'][s]).replace('.00', '')} |")
    if "modelwarden" in sm["added"] and "litellm" in sm["added"]:
        lines += [
            "",
            "Target: modelwarden's added p99 ≤ ½ LiteLLM's at every rate, and a higher max rps:",
            "",
        ]
        for rate in rates:
            mw = sm["added"]["modelwarden"][str(rate)]["p99"]["median"]
            ll = sm["added"]["litellm"][str(rate)]["p99"]["median"]
            lines.append(
                f"- {rate:.0f} rps: {mw:.2f} vs {ll:.2f} ms → {'met' if mw <= ll / 2 else 'NOT met'}"
            )
        mw_max, ll_max = sm["max_rps"]["modelwarden"]["median"], sm["max_rps"]["litellm"]["median"]
        lines.append(f"- max rps: {mw_max:.0f} vs {ll_max:.0f} → {'met' if mw_max > ll_max else 'NOT met'}")
    return "\n".join(lines)


def _load_range(results: dict[str, Any]) -> tuple[float, float]:
    loads = [
        r["load_1m"]
        for per_rate in results["fixed"].values()
        for runs in per_rate.values()
        for r in runs
        if "load_1m" in r
    ] or [float("nan")]
    return min(loads), max(loads)


def _git_rev() -> str:
    with contextlib.suppress(Exception):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    return "unknown"


def _litellm_version() -> str:
    py = LITELLM.parent / "python"
    with contextlib.suppress(Exception):
        return subprocess.run(
            [str(py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    return "not installed"


# --- against a real model server ------------------------------------------------------------------

REAL_NOTE = """\
How to install the real model server (llama-cpp-python compiles llama.cpp: ~45 min on 2 busy cores):

    CMAKE_ARGS="-DGGML_NATIVE=OFF" .venv/bin/pip install "llama-cpp-python[server]==0.3.36"

The benchmark writes its own tiny Llama-architecture GGUF (random weights, a byte-level SentencePiece
vocabulary) with the `gguf` writer, serves it with `python -m llama_cpp.server`, and compares
direct calls with calls through modelwarden. Without llama-cpp-python it measures against the
bundled mock upstream instead and labels the table so."""


def write_tiny_llama_gguf(path: Path, seed: int = 0) -> None:
    """A loadable two-layer Llama GGUF (64-wide, 4 heads) with random weights and a byte-fallback
    SentencePiece vocabulary: llama.cpp generates real (meaningless) tokens from it."""
    import numpy as np
    from gguf import GGUFWriter

    rng = np.random.default_rng(seed)
    d, ff, layers, heads = 64, 128, 2, 4
    words = ["the", "a", "sea", "night", "moon", "wave", "light", "dark", "and", "of", "is", "in", "to"]
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256))]
    tokens += ["\u2581" + w for w in words] + list("abcdefghijklmnopqrstuvwxyz") + ["\u2581"]
    vocab = len(tokens)
    w = GGUFWriter(str(path), "llama")
    w.add_name("modelwarden tiny benchmark llama")
    w.add_context_length(2048)
    w.add_embedding_length(d)
    w.add_block_count(layers)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(heads)
    w.add_rope_dimension_count(d // heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * 3 + [-1000.0] * 256 + [-float(i) for i in range(vocab - 259)])
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (vocab - 259))  # unknown, control, byte, normal
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)

    def rand(name: str, shape: tuple[int, ...]) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))

    rand("token_embd.weight", (vocab, d))
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(d, np.float32))
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            rand(f"blk.{i}.{t}.weight", (d, d))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(d, np.float32))
        rand(f"blk.{i}.ffn_gate.weight", (ff, d))
        rand(f"blk.{i}.ffn_up.weight", (ff, d))
        rand(f"blk.{i}.ffn_down.weight", (d, ff))
    w.add_tensor("output_norm.weight", np.ones(d, np.float32))
    out = rng.standard_normal((vocab, d)).astype(np.float32)
    out[2] = 0.0  # end of sequence: a zero logit among large random ones, so answers run to max_tokens
    w.add_tensor("output.weight", out)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


@contextlib.contextmanager
def start_real_upstream(work: Path) -> Iterator[tuple[str, str, str]]:
    """(url, model id, label): llama.cpp's server on the tiny GGUF, else the mock upstream."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if llama_cpp_available():
        gguf = work / "tiny-llama.gguf"
        write_tiny_llama_gguf(gguf)
        cmd = [PY, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "tiny-llama"]
        cmd += ["--port", str(port), "--n_ctx", "1024", "--n_threads", "1", "--seed", "0"]
        with process(pinned("0", cmd), work / "llama.log", env_single_thread()):
            wait_ok(url + "/v1/models", timeout=120)
            yield url, "tiny-llama", "llama-cpp-python " + _version("llama_cpp_python")
    else:
        cmd = [PY, "-m", "modelwarden.gateway.mock_upstream", "--port", str(port), "--itl", "0.005"]
        with process(pinned("0", cmd), work / "mock.log", env_single_thread()):
            wait_ok(url + "/mock/stats")
            yield url, "mock-small", "MOCK upstream (llama-cpp-python not installed)"


def _version(dist: str) -> str:
    import importlib.metadata

    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        return importlib.metadata.version(dist)
    return "?"


@contextlib.contextmanager
def start_gateway_for(
    work: Path, upstream: str, model: str, name: str, holdback: bool
) -> Iterator[tuple[str, str]]:
    config, key = modelwarden_deployment(
        work,
        upstream,
        name=name,
        models=[{"id": model, "tags": ["public"]}],
        moderation={"rules": True, "stream": {"holdback": holdback}},
    )
    port = free_port()
    cmd = [PY, "-m", "modelwarden", "gateway", "serve", "--config", str(config), "--port", str(port)]
    with process(pinned("1", cmd), work / f"{name}.log", env_single_thread()):
        url = f"http://127.0.0.1:{port}"
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        wait_ok(
            url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, body=body, timeout=120
        )
        yield url, key


def timed_call(client: httpx.Client, url: str, key: str | None, body: dict[str, Any]) -> dict[str, float]:
    """One request: total time, time to the first generated text (streams), server-side overhead."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    t0 = time.perf_counter()
    first = None
    if body.get("stream"):
        with client.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as r:
            r.raise_for_status()
            overhead = r.headers.get("x-modelwarden-overhead-ms")
            for line in r.iter_lines():
                if first is None and line.startswith("data: {") and _has_text(json.loads(line[6:])):
                    first = time.perf_counter()
    else:
        r = client.post(url + "/v1/chat/completions", json=body, headers=headers)
        r.raise_for_status()
        overhead = r.headers.get("x-modelwarden-overhead-ms")
    total = time.perf_counter() - t0
    out = {"total_ms": total * 1000}
    if first is not None:
        out["ttft_ms"] = (first - t0) * 1000
    if overhead is not None and not body.get("stream"):
        out["server_overhead_ms"] = float(overhead)
    return out


def usage_sources(db: Path) -> dict[str, int]:
    """How the gateway's entries got their usage: from the model server, or estimated (per kind)."""
    import sqlite3

    out: dict[str, int] = {}
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for (body,) in conn.execute("SELECT body FROM gw_audit WHERE action = 'request.ok'"):
            e = json.loads(body)
            k = ("stream" if e.get("stream") else "unary") + ": " + str(e.get("usage_source"))
            out[k] = out.get(k, 0) + 1
    return out


def _has_text(chunk: dict[str, Any]) -> bool:
    return any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or [])


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))] if v else float("nan")


def real_upstream(a: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="mw-gwreal-"))
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_at_start": os.getloadavg(),
        },
        "versions": {"modelwarden": _git_rev()},
        "method": {"requests_per_kind": a.requests, "max_tokens": a.max_tokens, "temperature": 0},
        "systems": {},
    }
    with contextlib.ExitStack() as stack:
        upstream, model, label = stack.enter_context(start_real_upstream(work))
        results["upstream"] = label
        targets: dict[str, tuple[str, str | None]] = {"direct": (upstream, None)}
        targets["modelwarden"] = stack.enter_context(
            start_gateway_for(work, upstream, model, "mw-holdback", True)
        )
        targets["modelwarden (holdback off)"] = stack.enter_context(
            start_gateway_for(work, upstream, model, "mw-noholdback", False)
        )
        samples: dict[str, dict[str, list[dict[str, float]]]] = {
            s: {"unary": [], "stream": []} for s in targets
        }
        prompt = "Write about the sea at night and the moon on the waves."
        with httpx.Client(timeout=120.0) as client:
            for i in range(a.requests + 3):
                for kind in ("unary", "stream"):
                    body: dict[str, Any] = {
                        "model": model,
                        "messages": [{"role": "user", "content": prompt}],
                        "max_tokens": a.max_tokens,
                        "temperature": 0,
                        "stream": kind == "stream",
                    }
                    # Interleaved, same request: each system sees the same model state and load.
                    for s, (url, key) in targets.items():
                        r = timed_call(client, url, key, body)
                        if i >= 3:  # 3 warm-up rounds
                            samples[s][kind].append(r)
                print(f"round {i + 1}/{a.requests + 3}", file=sys.stderr, flush=True)
        results["usage_sources"] = usage_sources(work / "mw-holdback" / "gateway.sqlite3")
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    for s, kinds in samples.items():
        row: dict[str, float] = {}
        for kind, field in (("unary", "total_ms"), ("stream", "ttft_ms"), ("stream", "total_ms")):
            vals = [x[field] for x in kinds[kind] if field in x]
            for q in (50, 90, 99):
                row[f"{kind}_{field}_p{q}"] = round(pct(vals, q), 2)
        ov = [x["server_overhead_ms"] for x in kinds["unary"] if "server_overhead_ms" in x]
        if ov:
            row["server_overhead_ms_p50"] = round(pct(ov, 50), 3)
            row["server_overhead_ms_p99"] = round(pct(ov, 99), 3)
        results["systems"][s] = row
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=1))
    md = render_real(results)
    a.out.with_suffix(".md").write_text(md)
    print(md)
    shutil.rmtree(work, ignore_errors=True)


def render_real(results: dict[str, Any]) -> str:
    sy = results["systems"]
    d = sy["direct"]
    lines = [
        f"# Gateway against a real model server: {results['upstream']}",
        "",
        f"modelwarden {results['versions']['modelwarden']}; "
        f"{results['method']['requests_per_kind']} requests per kind per system, interleaved, "
        f"max_tokens {results['method']['max_tokens']}, temperature 0 (identical answers); load average "
        f"{results['machine']['load_avg_at_start'][0]:.1f} → {results['machine']['load_avg_at_end'][0]:.1f} "
        f"on {results['machine']['cpus']} CPUs.",
        "",
        "| system | unary p50 | unary p90 | unary p99 | TTFT p50 | TTFT p90 | TTFT p99 | added unary p50 | "
        "added TTFT p50 | gateway's own overhead p50 / p99 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s, r in sy.items():
        added_u = r["unary_total_ms_p50"] - d["unary_total_ms_p50"]
        added_t = r["stream_ttft_ms_p50"] - d["stream_ttft_ms_p50"]
        own = (
            f"{r['server_overhead_ms_p50']:.2f} / {r['server_overhead_ms_p99']:.2f} ms"
            if "server_overhead_ms_p50" in r
            else "-"
        )
        lines.append(
            f"| {s} | {r['unary_total_ms_p50']:.1f} | {r['unary_total_ms_p90']:.1f} "
            f"| {r['unary_total_ms_p99']:.1f} | {r['stream_ttft_ms_p50']:.1f} "
            f"| {r['stream_ttft_ms_p90']:.1f} | {r['stream_ttft_ms_p99']:.1f} | "
            + ("-" if s == "direct" else f"{added_u:+.1f}")
            + " | "
            + ("-" if s == "direct" else f"{added_t:+.1f}")
            + f" | {own} |"
        )
    lines += [
        "",
        "All times in ms, measured by the client. TTFT: time to the first chunk with generated text. "
        "With hold-back (the default) the gateway releases streamed text only after the output "
        "classifier has passed the window holding it (`moderation.stream.every_chars`, 256 characters), "
        "so TTFT through the gateway includes generating that much text; `holdback: false` streams at "
        "once and stops a stream when a window trips (the tripping text may then have been shown). "
        "The gateway's own overhead is its `x-modelwarden-overhead-ms` header (time in the gateway, "
        "upstream time excluded).",
        "",
        "Where the gateway's usage came from (audit entries of the hold-back gateway): "
        + ", ".join(f"{k} × {v}" for k, v in sorted(results.get("usage_sources", {}).items()))
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main_real() -> None:
    ap = argparse.ArgumentParser(description="Gateway latency against a real OpenAI-compatible model server.")
    ap.add_argument("--real-upstream", action="store_true")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "gateway_real_upstream.json")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not llama_cpp_available():
        print(REAL_NOTE, file=sys.stderr)
    real_upstream(a)


if __name__ == "__main__":
    if "--real-upstream" in sys.argv:
        main_real()
    else:
        main()
