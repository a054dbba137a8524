"""Benchmark `modelwarden scan` against picklescan, modelscan, fickling and ModelAudit.

1. Installs the peers (pinned) into their own virtualenv, benchmarks/.peers (git-ignored), with the
   extras that let them read the formats of the corpus (h5py, onnx, safetensors, joblib, 7z) — not
   TensorFlow or PyTorch wheels, which would pull gigabytes of CUDA packages.
2. Builds the test corpus (tests/scan/corpus.py: malicious techniques and benign artifacts, made with
   the real libraries) and runs every tool on every sample, each as its own process, as a user would.
3. Times every tool on ~2 GB artifacts generated here: a PyTorch zip checkpoint, a legacy PyTorch
   checkpoint, a sharded safetensors folder and a folder of PyTorch shards (the large files are deleted
   afterwards). Each timing is the best of --repeat runs on a warm page cache.

With --walk-sweep the script does none of the above: it times, in process (one warm process per tool
and checkpoint, imports excluded, best of 20), modelwarden `scan_paths([path], hash_files=False)` against
picklescan `scan_file_path` on small PyTorch checkpoints of 64, 1,000 and 10,000 tiny tensors, zip and
legacy formats — the pickle walk alone, which grows with the tensor count while the weights stay
negligible — and writes benchmarks/results/scan_walk_sweep.md.

ModelAudit sends telemetry by default; PROMPTFOO_DISABLE_TELEMETRY=1 (its documented opt-out) is set
for every peer run. With `strace` available, the script also checks that modelwarden opens no socket.

With --speed the script only times whole command lines as users run them, side by side in one run
(interleaved, rotated, medians of 21): `modelwarden scan` with --no-hash, with hashing and an empty or
a warm hash cache, and with --no-hash-cache, against picklescan and `sha256sum`, on a 47-byte pickle,
a 1,000-tensor checkpoint and a ~1 GiB checkpoint of random bytes; it installs only picklescan and
writes benchmarks/results/scan_speed.md.

Usage: .venv/bin/python benchmarks/scan_bench.py [--skip-install] [--skip-large] [--size-gb 2] [--repeat 3]
       .venv/bin/python benchmarks/scan_bench.py --walk-sweep [--skip-install]
       .venv/bin/python benchmarks/scan_bench.py --speed [--skip-install] [--size-gb 1] [--repeat 21]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEERS_DIR = ROOT / "benchmarks" / ".peers"
WORK = ROOT / "benchmarks" / ".work"
RESULTS = ROOT / "benchmarks" / "results"
OURS = Path(sys.executable).parent / "modelwarden"
PEER_SPECS = [
    "picklescan[7z]==1.0.5",
    "modelscan[h5py]==0.8.8",
    "fickling[archive]==0.1.12",
    "modelaudit[h5,onnx,safetensors,joblib,sevenzip,dill]==0.2.54",
]
PEER_ENV = {
    "PROMPTFOO_DISABLE_TELEMETRY": "1",  # ModelAudit's documented telemetry opt-out
    "NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "PROMPTFOO_DISABLE_UPDATE": "1",
}
TIMEOUT = 900
TOOLS = ["modelwarden", "picklescan", "modelscan", "fickling", "modelaudit"]


# ------------------------------------------------------------------------------------------------------
# Running tools
# ------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    verdict: str  # "hit", "miss", "error", "skip", "timeout"
    seconds: float
    rss_kb: int = 0
    detail: str = ""


def _exec(cmd: list[str], *, cwd: Path | None = None) -> tuple[int, str, str, float, int]:
    """Run under /usr/bin/time to get the peak RSS; returns (code, stdout, stderr, seconds, rss KB)."""
    env = {**os.environ, **PEER_ENV, "COLUMNS": "200"}
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        timed = (
            ["/usr/bin/time", "-o", tf.name, "-f", "%e %M", *cmd] if Path("/usr/bin/time").exists() else cmd
        )
        start = time.perf_counter()
        try:
            proc = subprocess.run(timed, capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, env=env)
        except subprocess.TimeoutExpired:
            return -9, "", "timeout", float(TIMEOUT), 0
        elapsed = time.perf_counter() - start
        rss = 0
        try:
            parts = Path(tf.name).read_text().split()
            rss = int(parts[-1])
        except (ValueError, IndexError, OSError):
            pass
    return proc.returncode, proc.stdout, proc.stderr, elapsed, rss


def run_modelwarden(path: Path, *, no_hash: bool = False) -> Run:
    cmd = [str(OURS), "scan", str(path), "--format", "json"] + (["--no-hash"] if no_hash else [])
    code, out, err, secs, rss = _exec(cmd)
    if code not in (0, 1):
        return Run("error", secs, rss, err.strip()[-200:])
    summary = json.loads(out)["summary"]
    return Run("hit" if summary["failed"] else "miss", secs, rss)


def run_picklescan(path: Path) -> Run:
    code, out, err, secs, rss = _exec([str(PEERS_DIR / "bin" / "picklescan"), "--path", str(path)])
    counts = {}
    for line in out.splitlines():
        if ":" in line and line.split(":")[0] in (
            "Scanned files",
            "Infected files",
            "Dangerous globals",
            "Suspicious globals",
        ):
            key, _, value = line.partition(":")
            counts[key] = int(value.strip() or 0)
    flagged = (
        counts.get("Infected files", 0)
        + counts.get("Dangerous globals", 0)
        + counts.get("Suspicious globals", 0)
    )
    if flagged:
        return Run("hit", secs, rss)
    if code == 2 or code < 0:
        return Run("error", secs, rss, (err or out).strip()[-200:])
    if counts.get("Scanned files", 0) == 0:
        return Run("skip", secs, rss, "no file scanned")
    return Run("miss", secs, rss)


def run_modelscan(path: Path) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        code, out, err, secs, rss = _exec(
            [str(PEERS_DIR / "bin" / "modelscan"), "scan", "-p", str(path), "-r", "json", "-o", str(report)],
            cwd=Path(tmp),
        )
        data = json.loads(report.read_text()) if report.exists() else {}
    summary = data.get("summary", {})
    if summary.get("total_issues", 0):
        return Run("hit", secs, rss)
    if data.get("errors"):
        return Run("error", secs, rss, str(data["errors"])[:200])
    if code == 3 or not summary.get("scanned", {}).get("total_scanned"):
        return Run("skip", secs, rss, "skipped")
    if code not in (0, 1):
        return Run("error", secs, rss, (err or out).strip()[-200:])
    return Run("miss", secs, rss)


_FICKLING_HITS = {
    "POSSIBLY_UNSAFE",
    "SUSPICIOUS",
    "LIKELY_UNSAFE",
    "LIKELY_OVERTLY_MALICIOUS",
    "OVERTLY_MALICIOUS",
}


def run_fickling(path: Path) -> Run:
    # fickling takes one pickle file; a folder is scanned file by file.
    files = (
        [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    )
    total, rss_max, errors, hit = 0.0, 0, 0, False
    for f in files:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "f.json"
            _, _, _, secs, rss = _exec(
                [str(PEERS_DIR / "bin" / "fickling"), "--check-safety", "--json-output", str(report), str(f)]
            )
            total += secs
            rss_max = max(rss_max, rss)
            severity = ""
            if report.exists():
                try:
                    severity = json.loads(report.read_text()).get("severity", "")
                except ValueError:
                    severity = ""
            if severity in _FICKLING_HITS:
                hit = True
            elif not severity:
                errors += 1  # "failed to parse": fickling's non-zero exit on non-pickles is not a verdict
    if hit:
        return Run("hit", total, rss_max)
    if files and errors == len(files):
        return Run("error", total, rss_max, "could not parse")
    return Run("miss", total, rss_max)


def run_modelaudit(path: Path) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        code, out, err, secs, rss = _exec(
            [
                str(PEERS_DIR / "bin" / "modelaudit"),
                "scan",
                str(path),
                "--format",
                "json",
                "--output",
                str(report),
                "--no-cache",
            ]
        )
        try:
            data = json.loads(report.read_text()) if report.exists() else json.loads(out)
        except ValueError:
            data = {}
    issues = [
        i for i in data.get("issues", []) if str(i.get("severity", "")).lower() in ("critical", "warning")
    ]
    if issues:
        return Run("hit", secs, rss)
    if code == 2 or code < 0 or not data:
        return Run("error", secs, rss, (err or out).strip()[-200:])
    return Run("miss", secs, rss)


RUNNERS: dict[str, Callable[[Path], Run]] = {
    "modelwarden": run_modelwarden,
    "picklescan": run_picklescan,
    "modelscan": run_modelscan,
    "fickling": run_fickling,
    "modelaudit": run_modelaudit,
}


# ------------------------------------------------------------------------------------------------------
# In-process timing: the scan itself, without interpreter start-up and imports
# ------------------------------------------------------------------------------------------------------

# Each tool's library entry point, run by its own interpreter (ours, or the peers' virtualenv) on one
# artifact: imports once (timed), one untimed call to warm caches, then the best of up to `repeat`
# calls (fewer when they exceed a time budget: fickling reads whole files into memory). Prints
# {"import_ms", "best_ms", "runs"} or {"error"}.
_DRIVER = """
import json, sys, time
from pathlib import Path
tool, path, repeat, budget = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
t0 = time.perf_counter()
try:
    if tool == "modelwarden":
        from modelwarden.scan import scan_paths
        call = lambda: scan_paths([Path(path)], hash_files=False)
    elif tool == "modelwarden+sha256":
        from modelwarden.scan import scan_paths
        call = lambda: scan_paths([Path(path)])
    elif tool == "picklescan":
        from picklescan.scanner import scan_directory_path, scan_file_path
        call = lambda: (scan_directory_path if Path(path).is_dir() else scan_file_path)(path)
    elif tool == "modelscan":
        from modelscan.modelscan import ModelScan
        call = lambda: ModelScan().scan(path)
    elif tool == "modelaudit":
        from modelaudit.core import scan_model_directory_or_file
        # cache_enabled=False: the CLI runs used --no-cache; a warm result cache would skip the work.
        call = lambda: scan_model_directory_or_file(path, cache_enabled=False)
    elif tool == "fickling":
        import zipfile
        import fickling

        def one(f):
            if zipfile.is_zipfile(f):
                return fickling.scan_zip_archive(str(f), graceful=True)
            return fickling.scan_file(str(f), graceful=True)

        p = Path(path)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        call = lambda: [one(f) for f in files]
    else:
        raise SystemExit(json.dumps({"error": "unknown tool"}))
    imported = time.perf_counter() - t0
    call()  # warm: first-use initialisation (schemas, policies) is start-up, not per-artifact work
    times = []
    spent = time.perf_counter()
    while len(times) < repeat and (not times or time.perf_counter() - spent < budget):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    print(json.dumps({"import_ms": imported * 1000, "best_ms": min(times) * 1000, "runs": len(times)}))
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:200]}))
"""
IN_PROCESS_BUDGET_S = 60.0


def in_process(tool: str, path: Path, repeat: int) -> dict[str, float | str]:
    python = sys.executable if tool.startswith("modelwarden") else str(PEERS_DIR / "bin" / "python")
    env = {**os.environ, **PEER_ENV}
    proc = subprocess.run(
        [python, "-c", _DRIVER, tool, str(path), str(repeat), str(IN_PROCESS_BUDGET_S)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        cwd=WORK,
    )
    try:
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {"error": (proc.stderr or proc.stdout).strip()[-200:] or f"exit {proc.returncode}"}


# How each CLI is started without scanning anything: its top-level help, and the help of the command
# that scans (modelwarden, modelscan and ModelAudit load per-command code there; picklescan and fickling
# have no sub-commands).
START_UP = {
    "modelwarden": (["--help"], ["scan", "--help"]),
    "picklescan": (["--help"], None),
    "modelscan": (["--help"], ["scan", "--help"]),
    "fickling": (["--help"], None),
    "modelaudit": (["--help"], ["scan", "--help"]),
}


def start_up(tool: str, args: list[str], repeat: int) -> float:
    """Best wall time of `TOOL ARGS`: interpreter start, imports and argument parsing, no scan."""
    exe = OURS if tool == "modelwarden" else PEERS_DIR / "bin" / tool
    times = []
    for _ in range(repeat):
        _code, _out, _err, secs, _rss = _exec([str(exe), *args])
        times.append(secs)
    return min(times)


def compile_ours() -> None:
    """Byte-compile modelwarden's sources, as pip does when it installs a package.

    The peers were installed by pip, so their modules load from compiled bytecode; an editable install
    under PYTHONDONTWRITEBYTECODE=1 (set on this machine) would otherwise recompile every module on
    every run and charge modelwarden ~40 ms of start-up that no installed copy pays.
    """
    import modelwarden

    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(modelwarden.__file__).parent)],
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )


# ------------------------------------------------------------------------------------------------------
# Setup
# ------------------------------------------------------------------------------------------------------


def ensure_peers(skip: bool) -> dict[str, str]:
    py = PEERS_DIR / "bin" / "python"
    if not skip or not py.exists():
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_DIR)], check=True)
        proc = subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", *PEER_SPECS], capture_output=True, text=True
        )
        if proc.returncode != 0:
            print("peer installation failed:\n" + proc.stderr[-2000:], file=sys.stderr)
    versions = {}
    for name in ("picklescan", "modelscan", "fickling", "modelaudit"):
        out = subprocess.run(
            [str(py), "-c", f"import importlib.metadata as m; print(m.version('{name}'))"],
            capture_output=True,
            text=True,
        )
        versions[name] = out.stdout.strip() or "not installed"
    return versions


def build_corpus() -> tuple[list, list]:
    from tests.scan import corpus

    shutil.rmtree(WORK / "corpus", ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import logging

        logging.getLogger("absl").setLevel(logging.ERROR)
        malicious = corpus.build_malicious(WORK / "corpus" / "malicious")
        benign = corpus.build_benign(WORK / "corpus" / "benign")
        benign.append(corpus.build_training_args(WORK / "corpus" / "benign"))
    return malicious, benign


# ------------------------------------------------------------------------------------------------------
# Large artifacts
# ------------------------------------------------------------------------------------------------------


@dataclass
class Large:
    name: str
    path: Path
    size: int = 0
    files: int = 0
    runs: dict[str, Run] = field(default_factory=dict)
    ours_no_hash: Run | None = None
    malicious_twin: str | None = None  # the corpus sample with a payload in the same format


def _state_dict(total_bytes: int, tensors: int):  # type: ignore[no-untyped-def]
    import torch

    per = max(1, total_bytes // tensors // 4)
    return {
        f"layers.{i}.weight": torch.full((per,), float(i % 7), dtype=torch.float32) for i in range(tensors)
    }


def make_large(size_gb: float) -> list[Large]:
    import safetensors.torch
    import torch

    base = WORK / "large"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    total = int(size_gb * (1 << 30))
    out = []
    sd = _state_dict(total, 64)
    torch.save(sd, base / "pytorch_model.bin")
    out.append(
        Large("PyTorch zip checkpoint (1 file)", base / "pytorch_model.bin", malicious_twin="torch-zip")
    )
    torch.save(sd, base / "legacy_model.pt", _use_new_zipfile_serialization=False)
    out.append(
        Large("PyTorch legacy checkpoint (1 file)", base / "legacy_model.pt", malicious_twin="torch-legacy")
    )
    del sd
    st_dir = base / "safetensors-sharded"
    st_dir.mkdir()
    weight_map = {}
    for i in range(4):
        shard = _state_dict(total // 4, 16)
        shard = {f"s{i}.{k}": v for k, v in shard.items()}
        name = f"model-{i + 1:05d}-of-00004.safetensors"
        safetensors.torch.save_file(shard, st_dir / name, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
    (st_dir / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map})
    )
    (st_dir / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    )
    out.append(Large("sharded safetensors folder (4 shards)", st_dir))
    pt_dir = base / "torch-sharded"
    pt_dir.mkdir()
    n = 16
    weight_map = {}
    for i in range(n):
        shard = {f"p{i}.{k}": v for k, v in _state_dict(total // n, 8).items()}
        name = f"pytorch_model-{i + 1:05d}-of-{n:05d}.bin"
        torch.save(shard, pt_dir / name)
        weight_map.update(dict.fromkeys(shard, name))
    (pt_dir / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map})
    )
    out.append(Large(f"folder of {n} PyTorch zip shards", pt_dir, malicious_twin="torch-zip"))
    for item in out:
        files = [item.path] if item.path.is_file() else [p for p in item.path.rglob("*") if p.is_file()]
        item.files = len(files)
        item.size = sum(p.stat().st_size for p in files)
    return out


def warm(path: Path) -> None:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for f in files:
        with f.open("rb") as fh:
            while fh.read(1 << 24):
                pass


def best(fn: Callable[[], Run], repeat: int) -> Run:
    runs = [fn() for _ in range(repeat)]
    top = min(runs, key=lambda r: r.seconds)
    top.rss_kb = max(r.rss_kb for r in runs)
    return top


# ------------------------------------------------------------------------------------------------------
# Reporting
# ------------------------------------------------------------------------------------------------------

MARK = {"hit": "✓", "miss": "✗", "error": "error", "skip": "skipped", "timeout": "timeout"}


def detection_table(samples: list, results: dict[str, dict[str, Run]], benign: bool) -> list[str]:
    head = "| sample | technique | " + " | ".join(TOOLS) + " |"
    lines = [head, "|" + "---|" * (len(TOOLS) + 2)]
    for s in samples:
        cells = []
        for tool in TOOLS:
            r = results[s.id][tool]
            if benign:
                cells.append(
                    {
                        "hit": "**FP**",
                        "miss": "ok",
                        "error": "error",
                        "skip": "skipped",
                        "timeout": "timeout",
                    }[r.verdict]
                )
            else:
                cells.append(MARK[r.verdict])
        lines.append(f"| {s.id} | {s.technique} | " + " | ".join(cells) + " |")
    return lines


def no_sockets(path: Path) -> str:
    if not shutil.which("strace"):
        return "strace not available: not checked"
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as tf:
        subprocess.run(
            [
                "strace",
                "-f",
                "-e",
                "trace=socket,connect",
                "-o",
                tf.name,
                str(OURS),
                "scan",
                str(path),
                "--format",
                "json",
            ],
            capture_output=True,
            timeout=TIMEOUT,
        )
        calls = [
            line for line in Path(tf.name).read_text().splitlines() if "socket(" in line or "connect(" in line
        ]
    return "no socket() or connect() call" if not calls else f"{len(calls)} socket calls: {calls[:3]}"


IN_PROCESS_TOOLS = ["modelwarden", "picklescan", "modelscan", "fickling", "modelaudit"]


def start_up_section(repeat: int) -> list[str]:
    reps = max(10, repeat)
    tiny = WORK / "tiny.pkl"
    tiny.write_bytes(pickle.dumps({"weights": [0.5, 1.5], "step": 3}, protocol=4))
    lines = [
        "",
        "## Start-up",
        "",
        f"Best of {reps} runs of each command line: asking for help (interpreter start, imports, argument "
        "parsing and help rendering; nothing scanned), and scanning a 40-byte benign pickle (the fixed "
        "cost of every scan: start-up plus the scanner's own imports; modelwarden with its default "
        "SHA-256). Every tool's bytecode is compiled, as pip leaves it.",
        "",
        "| tool | `TOOL --help` | `TOOL scan --help` | scan of a 40-byte pickle |",
        "|---|---|---|---|",
    ]
    for tool in TOOLS:
        top, sub = START_UP[tool]
        top_s = start_up(tool, top, reps)
        sub_s = f"{start_up(tool, sub, reps) * 1000:.0f} ms" if sub else "—"
        scan = best(lambda tool=tool: RUNNERS[tool](tiny), reps)
        note = "" if scan.verdict in ("hit", "miss") else f" ({MARK[scan.verdict]})"
        lines.append(f"| {tool} | {top_s * 1000:.0f} ms | {sub_s} | {scan.seconds * 1000:.0f} ms{note} |")
        print(f"start-up {tool}: {lines[-1]}", flush=True)
    return lines


def in_process_section(large: list[Large], repeat: int, detections: dict[str, dict[str, str]]) -> list[str]:
    """The work itself, apart from start-up: on one big file the wall time above is mostly start-up."""
    reps = max(10, repeat)
    tools = [*IN_PROCESS_TOOLS, "modelwarden+sha256"]
    lines = [
        "",
        "## Work, in process",
        "",
        "Each tool's library entry point called in one warm process: imports excluded (their time is "
        f"shown apart), one untimed call first, then the best of {reps} calls (fewer for a tool whose "
        f"calls exceed {IN_PROCESS_BUDGET_S:.0f} s in all). modelwarden `scan_paths(paths, "
        "hash_files=False)` (and with hashing, its default, in the last column), picklescan "
        "`scan_file_path` / `scan_directory_path`, modelscan `ModelScan().scan`, fickling `scan_zip_archive` "
        "for zips and `scan_file` otherwise (file by file in a folder), ModelAudit "
        "`scan_model_directory_or_file(path, cache_enabled=False)`. Milliseconds per artifact; "
        "*(skipped)* or *(error)* repeats what the tool's command line reported for that artifact. The "
        "last column compares with the fastest peer that scanned the artifact and detects the malicious "
        "sample of the same format in the corpus above (torch-zip, torch-legacy), and names it.",
        "",
        "| artifact | " + " | ".join(tools) + " | modelwarden vs the fastest peer that does the work |",
        "|" + "---|" * (len(tools) + 2),
    ]
    imports: dict[str, float] = {}
    for item in large:
        got = {t: in_process(t, item.path, reps) for t in tools}
        cells = []
        for t in tools:
            r = got[t]
            if "best_ms" not in r:
                cells.append(f"error ({str(r.get('error'))[:60]})")
                continue
            imports[t] = float(r["import_ms"])
            verdict = item.runs[t].verdict if t in item.runs else "miss"
            note = "" if verdict in ("hit", "miss") else f" *({MARK[verdict]})*"
            cells.append(f"{float(r['best_ms']):.2f}{note}")
        # A peer counts when it scanned the artifact and, where the corpus has the malicious variant
        # of the same format, detects it: reading less of the file than the payload needs is not the
        # same work (modelscan reads only the first of a legacy checkpoint's five pickles).
        sample = item.malicious_twin
        peers = {
            t: float(got[t]["best_ms"])
            for t in IN_PROCESS_TOOLS[1:]
            if "best_ms" in got[t]
            and item.runs[t].verdict in ("hit", "miss")
            and (sample is None or detections.get(sample, {}).get(t) == "hit")
        }
        ours = got["modelwarden"].get("best_ms")
        ratio = "no peer scanned it"
        if peers and isinstance(ours, float):
            fastest = min(peers, key=lambda t: peers[t])
            ratio = f"{peers[fastest] / ours:.1f}× ({fastest})"
        lines.append(f"| {item.name} | " + " | ".join(cells) + f" | {ratio} |")
        print(f"in-process {item.name}: {got}", flush=True)
    lines += [
        "",
        "Importing each library's entry point in a started interpreter (from the first artifact's run): "
        + ", ".join(f"{t} {imports[t]:.0f} ms" for t in IN_PROCESS_TOOLS if t in imports)
        + ".",
    ]
    return lines


# ------------------------------------------------------------------------------------------------------
# --walk-sweep: the pickle walk against picklescan as the tensor count grows
# ------------------------------------------------------------------------------------------------------

WALK_SWEEP_TENSORS = (64, 1_000, 10_000)
WALK_SWEEP_REPEAT = 20


def make_walk_sweep(base: Path) -> list[tuple[str, int, Path]]:
    """torch.save'd state dicts of `n` tiny tensors (torch.zeros(4), each its own storage), zip and legacy."""
    import torch

    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    out = []
    for n in WALK_SWEEP_TENSORS:
        sd = {f"model.layers.{i}.weight": torch.zeros(4) for i in range(n)}
        zipped = base / f"zip-{n}.bin"
        torch.save(sd, zipped)
        out.append(("zip", n, zipped))
        legacy = base / f"legacy-{n}.pt"
        torch.save(sd, legacy, _use_new_zipfile_serialization=False)
        out.append(("legacy", n, legacy))
    return out


def walk_sweep(out: Path, skip_install: bool) -> None:
    versions = ensure_peers(skip_install)
    compile_ours()
    import modelwarden

    print(f"tools: modelwarden {modelwarden.__version__}, picklescan {versions['picklescan']}", flush=True)
    base = WORK / "walk-sweep"
    rows = []
    imports: dict[str, list[float]] = {"modelwarden": [], "picklescan": []}
    try:
        for fmt, n, path in make_walk_sweep(base):
            # Both must read the checkpoint as clean (scanned, nothing flagged) for the timing to count.
            verdicts = {
                "modelwarden": run_modelwarden(path, no_hash=True),
                "picklescan": run_picklescan(path),
            }
            got = {t: in_process(t, path, WALK_SWEEP_REPEAT) for t in ("modelwarden", "picklescan")}
            print(
                f"{fmt:6} {n:6,} tensors: {got} verdicts {[r.verdict for r in verdicts.values()]}", flush=True
            )
            cells = []
            for t in ("modelwarden", "picklescan"):
                r = got[t]
                if "best_ms" not in r:
                    cells.append(f"error ({str(r.get('error'))[:60]})")
                    continue
                imports[t].append(float(r["import_ms"]))
                runs = int(r["runs"])
                note = "" if runs == WALK_SWEEP_REPEAT else f" (best of {runs})"
                if verdicts[t].verdict != "miss":
                    note += f" *({verdicts[t].verdict})*"
                cells.append(f"{float(r['best_ms']):.2f}{note}")
            ours, theirs = got["modelwarden"].get("best_ms"), got["picklescan"].get("best_ms")
            ratio = (
                f"{float(theirs) / float(ours):.1f}×"
                if isinstance(ours, float) and isinstance(theirs, float)
                else "—"
            )
            size = path.stat().st_size
            rows.append(f"| {fmt} | {n:,} | {size / 1024:,.0f} KiB | " + " | ".join(cells) + f" | {ratio} |")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    lines = [
        "# modelwarden scan: pickle walk vs picklescan, by tensor count",
        "",
        f"Run on {time.strftime('%Y-%m-%d')}: modelwarden {modelwarden.__version__}, "
        f"picklescan {versions['picklescan']}. Machine: {os.cpu_count()} CPUs (shared), "
        f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}.",
        "",
        "PyTorch checkpoints written by `torch.save` of a state dict of N tensors `torch.zeros(4)` (each its "
        "own storage), in the zip format and the legacy format (`_use_new_zipfile_serialization=False`). "
        "Each tool's library entry point in one warm process per checkpoint: imports excluded, one untimed "
        f"call, then the best of {WALK_SWEEP_REPEAT} calls. modelwarden `scan_paths([path], "
        "hash_files=False)` (modelwarden.scan.engine), picklescan `scan_file_path(path)`. Milliseconds per "
        "checkpoint; the ratio is picklescan's time over modelwarden's. Both tools' command lines report "
        "every checkpoint as clean (an *(italic)* note otherwise).",
        "",
        "| format | tensors | file size | modelwarden (ms) | picklescan (ms) | ratio |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Importing each library's entry point in a started interpreter (median over the runs): "
        + ", ".join(f"{t} {sorted(v)[len(v) // 2]:.0f} ms" for t, v in imports.items() if v)
        + ".",
    ]
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


# ------------------------------------------------------------------------------------------------------
# --speed: whole-process wall time as users see it, side by side with picklescan and sha256sum
# ------------------------------------------------------------------------------------------------------

SPEED_REPEAT = 21


@dataclass
class SpeedCase:
    """One command line timed on one file: a label, the command, and an optional per-run setup
    (a fresh or a prepared hash cache) that is not timed."""

    label: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[], dict[str, str]] | None = None
    times: list[float] = field(default_factory=list)
    codes: set[int] = field(default_factory=set)


def ensure_picklescan(skip: bool) -> str:
    """picklescan (pinned, PEER_SPECS) in benchmarks/.peers; installs only it when it is missing."""
    py = PEERS_DIR / "bin" / "python"
    exe = PEERS_DIR / "bin" / "picklescan"
    if not exe.exists():
        if skip and not py.exists():
            raise SystemExit("benchmarks/.peers has no picklescan; run without --skip-install")
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_DIR)], check=True)
        spec = next(s for s in PEER_SPECS if s.startswith("picklescan"))
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", spec], check=True)
    out = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('picklescan'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def make_speed_files(base: Path, size_gb: float) -> list[tuple[str, Path]]:
    """A 47-byte pickle (start-up alone), a 1,000-tensor PyTorch zip checkpoint (`torch.zeros(4)`
    each: the pickle walk with negligible weights) and a ~`size_gb` GiB PyTorch zip checkpoint of
    real bytes (64 tensors of random float32, written in full: no sparse regions for anyone to skip)."""
    import torch

    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    small = base / "small.pkl"
    small.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    thousand = base / "zip-1000.bin"
    torch.save({f"model.layers.{i}.weight": torch.zeros(4) for i in range(1_000)}, thousand)
    big = base / "big.bin"
    per = int(size_gb * (1 << 30)) // 64 // 4
    gen = torch.Generator().manual_seed(0)
    torch.save({f"layers.{i}.weight": torch.rand(per, generator=gen) for i in range(64)}, big)
    return [("47-byte pickle", small), ("1,000-tensor PyTorch checkpoint", thousand), ("big", big)]


def _speed_cases(path: Path, cache_root: Path) -> list[SpeedCase]:
    ours = [str(OURS), "scan", str(path)]
    warm_dir = cache_root / "warm"

    def fresh() -> dict[str, str]:
        d = Path(tempfile.mkdtemp(dir=cache_root))
        return {"MODELWARDEN_CACHE_DIR": str(d)}

    # The warm cache holds this file's digest: one untimed run fills it before the timed runs.
    subprocess.run(
        [*ours, "--format", "json"],
        env={**os.environ, "MODELWARDEN_CACHE_DIR": str(warm_dir)},
        capture_output=True,
        check=False,
    )
    return [
        SpeedCase("modelwarden --no-hash", [*ours, "--no-hash"]),
        SpeedCase("modelwarden (default, empty hash cache)", ours, setup=fresh),
        SpeedCase("modelwarden --no-hash-cache", [*ours, "--no-hash-cache"]),
        SpeedCase(
            "modelwarden (default, warm hash cache)", ours, env={"MODELWARDEN_CACHE_DIR": str(warm_dir)}
        ),
        SpeedCase("picklescan", [str(PEERS_DIR / "bin" / "picklescan"), "--path", str(path)]),
        SpeedCase("sha256sum", ["sha256sum", str(path)]),
    ]


def _time_once(case: SpeedCase) -> None:
    env = {**os.environ, **PEER_ENV, **case.env}
    if case.setup is not None:
        env.update(case.setup())
    start = time.perf_counter()
    proc = subprocess.run(case.cmd, env=env, capture_output=True, check=False)
    case.times.append(time.perf_counter() - start)
    case.codes.add(proc.returncode)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def speed(out: Path, size_gb: float, repeat: int, skip_install: bool) -> None:
    version = ensure_picklescan(skip_install)
    compile_ours()
    import modelwarden

    base = WORK / "speed"
    load_before = os.getloadavg()
    lines: list[str] = []
    try:
        files = make_speed_files(base, size_gb)
        rows = []
        ratios = []
        for label, path in files:
            size = path.stat().st_size
            if label == "big":
                label = f"{size / (1 << 30):.2f} GiB PyTorch checkpoint (64 random tensors)"
            warm(path)
            cache_root = base / f"cache-{path.stem}"
            cache_root.mkdir()
            cases = _speed_cases(path, cache_root)
            for rep in range(repeat):
                # Interleaved, the order rotated every round: load from other processes on a shared
                # machine falls on every tool alike.
                k = rep % len(cases)
                for case in cases[k:] + cases[:k]:
                    _time_once(case)
            print(
                f"{label}: " + ", ".join(f"{c.label} {_median(c.times) * 1000:.0f} ms" for c in cases),
                flush=True,
            )
            med = {c.label: _median(c.times) for c in cases}
            for c in cases:
                rows.append(
                    f"| {label} | {size:,} | {c.label} | {med[c.label] * 1000:,.0f} | "
                    f"{min(c.times) * 1000:,.0f} | {max(c.times) * 1000:,.0f} | "
                    f"{', '.join(str(x) for x in sorted(c.codes))} |"
                )
            sha = med["sha256sum"]
            ps = med["picklescan"]
            ratios.append(
                f"| {label} | {ps / med['modelwarden --no-hash']:.2f}× | "
                f"{sha / med['modelwarden (default, empty hash cache)']:.0%} | "
                f"{sha / med['modelwarden --no-hash-cache']:.0%} | "
                f"{med['modelwarden (default, warm hash cache)'] / ps:.2f} |"
            )
        load_after = os.getloadavg()
        lines = [
            "# modelwarden scan: whole-process wall time, side by side",
            "",
            f"Run on {time.strftime('%Y-%m-%d %H:%M')}: modelwarden {modelwarden.__version__}, "
            f"picklescan {version}, GNU coreutils sha256sum. Machine: {os.cpu_count()} CPUs shared with "
            f"other jobs, Python {sys.version.split()[0]}; 1-minute load average {load_before[0]:.1f} "
            f"before, {load_after[0]:.1f} after (the numbers below are medians for that reason).",
            "",
            f"Each command line is run {repeat} times as its own process, stdout and stderr piped, the page "
            "cache warm; the runs of all command lines on one file are interleaved and the order rotated "
            "each round, so the load of the machine falls on every tool alike. modelwarden prints its "
            "default text report. *empty hash cache*: a new, empty MODELWARDEN_CACHE_DIR for each run (a "
            "first scan); "
            "*warm hash cache*: a cache filled by one earlier untimed run (the file re-scanned unchanged); "
            "`--no-hash-cache`: every byte read and hashed, nothing stored. modelwarden's sources are "
            "byte-compiled first, as an installed copy is. Generated by "
            "`benchmarks/scan_bench.py --speed`.",
            "",
            "| file | bytes | command | median (ms) | min (ms) | max (ms) | exit codes |",
            "|---|---:|---|---:|---:|---:|---|",
            *rows,
            "",
            "Ratios of the medians. *speed-up vs picklescan*: picklescan's time over `modelwarden --no-hash` "
            "(≥ 1 means modelwarden is as fast or faster). *hashing-bound*: modelwarden's throughput with "
            "hashing over sha256sum's on the same bytes, i.e. sha256sum's time over modelwarden's (target "
            "≥ 90% on the big file; on small files start-up dominates both). *warm / picklescan*: "
            "modelwarden re-scanning an unchanged file (digest from the cache) over picklescan's time "
            "(target ≤ 1).",
            "",
            "| file | --no-hash speed-up vs picklescan | hashing-bound (empty cache) | hashing-bound "
            "(--no-hash-cache) | warm / picklescan |",
            "|---|---:|---:|---:|---:|",
            *ratios,
        ]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-install", action="store_true", help="reuse benchmarks/.peers as it is")
    ap.add_argument("--skip-large", action="store_true", help="detection only")
    ap.add_argument("--size-gb", type=float, default=None, help="large artifacts (default 2; --speed: 1)")
    ap.add_argument(
        "--repeat", type=int, default=None, help=f"runs per timing (default 3; --speed: {SPEED_REPEAT})"
    )
    ap.add_argument("--out", type=Path, default=None, help="results markdown (default: scan_bench.md)")
    ap.add_argument(
        "--walk-sweep",
        action="store_true",
        help="only time the pickle walk vs picklescan on 64/1,000/10,000-tensor checkpoints "
        "(results/scan_walk_sweep.md)",
    )
    ap.add_argument(
        "--speed",
        action="store_true",
        help="only time whole command lines (modelwarden, picklescan, sha256sum) on a small pickle, a "
        "1,000-tensor checkpoint and a --size-gb checkpoint (results/scan_speed.md)",
    )
    args = ap.parse_args()
    if args.speed:
        WORK.mkdir(parents=True, exist_ok=True)
        speed(
            args.out or RESULTS / "scan_speed.md",
            args.size_gb or 1.0,
            args.repeat or SPEED_REPEAT,
            args.skip_install,
        )
        return
    args.size_gb = args.size_gb or 2.0
    args.repeat = args.repeat or 3
    if args.walk_sweep:
        WORK.mkdir(parents=True, exist_ok=True)
        walk_sweep(args.out or RESULTS / "scan_walk_sweep.md", args.skip_install)
        return
    args.out = args.out or RESULTS / "scan_bench.md"

    versions = ensure_peers(args.skip_install)
    compile_ours()
    import modelwarden

    versions = {"modelwarden": modelwarden.__version__, **versions}
    print("tools:", versions, flush=True)
    malicious, benign = build_corpus()
    results: dict[str, dict[str, Run]] = {}
    for s in malicious + benign:
        results[s.id] = {tool: RUNNERS[tool](s.path) for tool in TOOLS}
        print(f"{s.id:34} " + " ".join(f"{t}={results[s.id][t].verdict}" for t in TOOLS), flush=True)

    lines = ["# modelwarden scan benchmark", ""]
    lines.append(
        f"Run on {time.strftime('%Y-%m-%d')}: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."
    )
    lines.append(f"Machine: {os.cpu_count()} CPUs (shared), Python {sys.version.split()[0]}.")
    lines += ["", "## Detection (malicious corpus)", ""]
    lines += detection_table(malicious, results, benign=False)
    totals = {t: sum(results[s.id][t].verdict == "hit" for s in malicious) for t in TOOLS}
    lines += ["", "Detected: " + ", ".join(f"{t} {totals[t]}/{len(malicious)}" for t in TOOLS) + "."]
    union = {s.id for s in malicious for t in TOOLS[1:] if results[s.id][t].verdict == "hit"}
    ours = {s.id for s in malicious if results[s.id]["modelwarden"].verdict == "hit"}
    lines.append(
        f"Detected by at least one peer: {len(union)}; of those, missed by modelwarden: "
        f"{sorted(union - ours) or 'none'}."
    )
    lines.append(f"Detected by modelwarden and by no peer: {len(ours - union)}.")
    lines += ["", "## False positives (benign corpus)", ""]
    lines += detection_table(benign, results, benign=True)
    fps = {t: sum(results[s.id][t].verdict == "hit" for s in benign) for t in TOOLS}
    lines += [
        "",
        "Flagged benign artifacts: " + ", ".join(f"{t} {fps[t]}/{len(benign)}" for t in TOOLS) + ".",
    ]
    errors = {t: sum(results[s.id][t].verdict == "error" for s in malicious + benign) for t in TOOLS}
    lines.append(
        "Errors (tool failed or could not parse the input): "
        + ", ".join(f"{t} {errors[t]}" for t in TOOLS)
        + "."
    )
    mean = {
        t: sum(results[s.id][t].seconds for s in malicious + benign) / len(malicious + benign) for t in TOOLS
    }
    lines.append(
        "Mean wall time per sample (process start included): "
        + ", ".join(f"{t} {mean[t]:.2f} s" for t in TOOLS)
        + "."
    )

    if not args.skip_large:
        need = args.size_gb * 4.5 * (1 << 30)
        free = shutil.disk_usage(WORK.parent).free
        print(f"disk free: {free / (1 << 30):.1f} GiB, need about {need / (1 << 30):.1f} GiB", flush=True)
        if free < need * 1.5:
            lines += ["", f"## Timing skipped: only {free / (1 << 30):.1f} GiB free"]
        else:
            large = make_large(args.size_gb)
            try:
                for item in large:
                    warm(item.path)
                    for tool in TOOLS:
                        item.runs[tool] = best(
                            lambda tool=tool, item=item: RUNNERS[tool](item.path), args.repeat
                        )
                        print(
                            f"{item.name:40} {tool:12} {item.runs[tool].seconds:7.2f} s "
                            f"{item.runs[tool].verdict}",
                            flush=True,
                        )
                    item.ours_no_hash = best(
                        lambda item=item: run_modelwarden(item.path, no_hash=True), args.repeat
                    )
                lines += ["", "## Timing on large artifacts", ""]
                lines.append(
                    f"Wall time of one command-line run (best of {args.repeat}, warm page cache, "
                    "process start included), peak RSS in MiB. modelwarden hashes every file "
                    "(SHA-256) by default; `--no-hash` is shown separately."
                )
                lines += [
                    "",
                    "| artifact | size | "
                    + " | ".join(TOOLS)
                    + " | modelwarden --no-hash | speed-up vs fastest peer that scanned it |",
                    "|" + "---|" * (len(TOOLS) + 4),
                ]
                for item in large:
                    cells = []
                    for tool in TOOLS:
                        r = item.runs[tool]
                        note = "" if r.verdict in ("hit", "miss") else f" ({MARK[r.verdict]})"
                        cells.append(f"{r.seconds:.2f} s, {r.rss_kb // 1024} MiB{note}")
                    nh = item.ours_no_hash
                    scanned = [
                        item.runs[t].seconds for t in TOOLS[1:] if item.runs[t].verdict in ("hit", "miss")
                    ]
                    fastest = min(scanned) if scanned else None
                    ratio = (
                        f"{fastest / item.runs['modelwarden'].seconds:.1f}× (default), "
                        f"{fastest / nh.seconds:.1f}× (--no-hash)"
                        if fastest and nh
                        else "no peer scanned it"
                    )
                    lines.append(
                        f"| {item.name} | {item.size / (1 << 30):.2f} GiB, {item.files} files | "
                        + " | ".join(cells)
                        + f" | {nh.seconds:.2f} s, {nh.rss_kb // 1024} MiB | {ratio} |"
                    )
                lines += start_up_section(args.repeat)
                detections = {sid: {t: r.verdict for t, r in runs.items()} for sid, runs in results.items()}
                lines += in_process_section(large, args.repeat, detections)
                lines += [
                    "",
                    "Verdicts on the large artifacts (all benign): "
                    + "; ".join(
                        f"{item.name}: " + ", ".join(f"{t} {item.runs[t].verdict}" for t in TOOLS)
                        for item in large
                    ),
                ]
            finally:
                shutil.rmtree(WORK / "large", ignore_errors=True)
    lines += [
        "",
        f"Network check (strace on modelwarden scanning the corpus): {no_sockets(WORK / 'corpus')}.",
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    (args.out.with_suffix(".json")).write_text(
        json.dumps({sid: {t: r.__dict__ for t, r in runs.items()} for sid, runs in results.items()}, indent=1)
    )
    print(text)
    shutil.rmtree(WORK / "corpus", ignore_errors=True)


if __name__ == "__main__":
    main()
