"""Benchmark `modelwarden inspect`: header-only reading of huge checkpoints, and `--hash` throughput.

Replicas are header-faithful and sparse: every shard has the real safetensors header (the real
tensor names and shapes of the model) and its full declared size, but the data region is a hole, so
a 405B-parameter checkpoint (811 GB apparent) takes a few megabytes of disk.

1. Inspect time and bytes read for
   - Llama 3.1 405B: 191 shards, 1,137 tensors (as on the Hub);
   - Llama 3.1 70B: 30 shards, 723 tensors;
   - a toy model with the 70B's tensor names and shard count but tiny shapes — the same header work
     on a thousand times less weight, to show that time does not depend on weight size.
   Measured warm (headers in the page cache) and cold (the replicas' pages evicted first with
   posix_fadvise(DONTNEED), which touches only these files). Peer: a loop over the shards with the
   safetensors library's own header reader (`safe_open(...).keys()` + `get_slice().get_shape()`).
   Bytes read come from /proc/self/io (`rchar`: every byte returned by read(2)).
2. Hashing: `sha256_file` on a 2 GB file vs `sha256sum`, and `hash_files` on four 512 MB files vs
   `sha256sum` over the same four (best of three runs each, files in the page cache).

Run: .venv/bin/python benchmarks/inspect_bench.py [--work DIR] [--skip-hash]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support (replica writers)

from safetensors import safe_open
from tests.support.models import llama_tensors, write_config, write_sharded

from modelwarden.compute.params import config_formula
from modelwarden.facts import inspect_path
from modelwarden.hashing import hash_files, sha256_file

LLAMA31_405B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16384,
    "intermediate_size": 53248, "num_hidden_layers": 126, "num_attention_heads": 128,
    "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False,
    "max_position_embeddings": 131072,
}  # fmt: skip
LLAMA31_70B = {
    **LLAMA31_405B, "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80,
    "num_attention_heads": 64,
}  # fmt: skip
TOY_70B_NAMES = {
    **LLAMA31_70B,
    "hidden_size": 64,
    "intermediate_size": 224,
    "num_attention_heads": 8,
    "vocab_size": 512,
}


def rchar() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


def evict(folder: Path) -> None:
    for p in folder.iterdir():
        with p.open("rb") as fh:
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def best_of(n: int, fn: Callable[[], object], before: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(n):
        if before:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def library_peer(folder: Path) -> int:
    total = 0
    for p in sorted(folder.glob("*.safetensors")):
        with safe_open(str(p), framework="numpy") as f:
            for k in f.keys():  # noqa: SIM118 - safe_open has no __iter__
                total += math.prod(f.get_slice(k).get_shape())
    return total


def header_bytes(folder: Path) -> int:
    total = 0
    for p in folder.glob("*.safetensors"):
        with p.open("rb") as fh:
            total += 8 + int.from_bytes(fh.read(8), "little")
    return total


def bench_replica(name: str, cfg: dict[str, object], shards: int, work: Path) -> list[str]:
    folder = work / name
    if folder.exists():
        shutil.rmtree(folder)
    write_config(folder, cfg)
    spec = llama_tensors(cfg)
    write_sharded(folder, spec, shards)
    apparent = sum(p.stat().st_size for p in folder.iterdir())
    on_disk = sum(p.stat().st_blocks * 512 for p in folder.iterdir())
    inspect_path(folder)  # warm-up: imports, page cache
    start = rchar()
    facts = inspect_path(folder)
    read = rchar() - start
    expected = config_formula(cfg).total
    assert facts.parameters.total == expected, (facts.parameters.total, expected)
    assert not facts.problems and not facts.parameters.warnings
    warm = best_of(5, lambda: inspect_path(folder))
    cold = best_of(3, lambda: inspect_path(folder), before=lambda: evict(folder))
    peer = best_of(5, lambda: library_peer(folder))
    cli = [sys.executable, "-m", "modelwarden", "inspect", str(folder), "--format", "json"]
    end_to_end = best_of(3, lambda: subprocess.run(cli, check=True, capture_output=True))
    return [
        name,
        f"{shards}",
        f"{len(spec):,}",
        f"{apparent / 1e9:,.1f} GB ({on_disk / 1e6:.1f} MB on disk)",
        f"{facts.parameters.total:,}",
        f"{warm * 1000:.0f} ms",
        f"{cold * 1000:.0f} ms",
        f"{read / 1e6:.2f} MB",
        f"{header_bytes(folder) / 1e6:.2f} MB",
        f"{peer * 1000:.0f} ms",
        f"{end_to_end * 1000:.0f} ms",
    ]


def write_data(path: Path, size: int) -> None:
    block = os.urandom(16 * 1024 * 1024)
    with path.open("wb") as fh:
        for _ in range(size // len(block)):
            fh.write(block)


def sha256sum(paths: list[Path], jobs: int = 1) -> None:
    cmd = ["xargs", "-n", "1", "-P", str(jobs), "sha256sum"]
    subprocess.run(cmd, input="\n".join(map(str, paths)), text=True, check=True, capture_output=True)


def bench_hashing(work: Path) -> list[list[str]]:
    big = work / "big.bin"
    parts = [work / f"part{i}.bin" for i in range(4)]
    write_data(big, 2 * 1024**3)
    for p in parts:
        write_data(p, 512 * 1024**2)
    rows = []
    size = big.stat().st_size
    one = best_of(3, lambda: sha256sum([big]))
    ours = best_of(3, lambda: sha256_file(big))
    rows.append(["1 × 2 GiB", _rate(size, one), "—", _rate(size, ours), f"{one / ours:.0%}"])
    total = sum(p.stat().st_size for p in parts)
    one = best_of(3, lambda: sha256sum(parts))
    two = best_of(3, lambda: sha256sum(parts, jobs=2))
    ours = best_of(3, lambda: hash_files(parts))
    rows.append(
        [
            "4 × 512 MiB",
            _rate(total, one),
            _rate(total, two),
            _rate(total, ours),
            f"{min(one, two) / ours:.0%}",
        ]
    )
    big.unlink()
    for p in parts:
        p.unlink()
    return rows


def _rate(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:,.0f} MB/s"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--skip-hash", action="store_true", help="skip the 4 GB hashing benchmark")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mw-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; scratch: {work}\n", flush=True)
    rows = [
        bench_replica("llama-3.1-405b", LLAMA31_405B, 191, work),
        bench_replica("llama-3.1-70b", LLAMA31_70B, 30, work),
        bench_replica("toy (70B names)", TOY_70B_NAMES, 30, work),
    ]
    out = [
        "## inspect: header-only reading of sharded safetensors replicas\n",
        table(
            [
                "replica",
                "shards",
                "tensors",
                "size",
                "parameters",
                "inspect (warm)",
                "inspect (cold)",
                "bytes read",
                "header bytes",
                "safe_open loop (peer)",
                "CLI end to end",
            ],
            rows,
        ),
    ]
    if not args.skip_hash:
        out += [
            "\n## --hash: SHA-256 throughput (files in page cache, best of 3)\n",
            table(
                ["files", "sha256sum", "sha256sum, 2 in parallel", "modelwarden --hash", "vs best sha256sum"],
                bench_hashing(work),
            ),
        ]
    text = "\n".join(out)
    print(text)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "inspect_bench.md").write_text(text + "\n")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
