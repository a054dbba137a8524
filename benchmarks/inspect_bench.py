"""Benchmark `modelwarden inspect`: header-only reading of huge checkpoints, and `--hash` throughput.

Replicas are header-faithful and sparse: every shard has the real safetensors header (the real
tensor names and shapes of the model) and its full declared size, but the data region is a hole, so
a 405B-parameter checkpoint (811 GB apparent) takes a few megabytes of disk.

1. Inspect time and bytes read for
   - Llama 3.1 405B: 191 shards, 1,137 tensors (as on the Hub);
   - Llama 3.1 70B: 30 shards, 723 tensors;
   - a toy model with the 70B's tensor names and shard count but tiny shapes — the same header work
     on a thousand times less weight, to show that time does not depend on weight size;
   - DeepSeek-V3: 163 shards, 91,991 tensors (as on the Hub): FP8 weights with `weight_scale_inv`
     block scales, MLA attention, 3 dense then 58 MoE layers (256 routed experts, 8 per token, one
     shared expert) and the multi-token-prediction module stored as layer 61. The parameter counts are
     checked against the published figures: 684,489,845,504 in all = 671,026,419,200 main +
     13,463,426,304 MTP, 37,552,297,472 active.
   Measured warm (headers in the page cache) and cold (the replicas' pages evicted first with
   posix_fadvise(DONTNEED), which touches only these files). Peer: a loop over the shards with the
   safetensors library's own header reader (`safe_open(...).keys()` + `get_slice().get_shape()`).
   Bytes read come from /proc/self/io (`rchar`: every byte returned by read(2)).
2. GGUF: a file with a Llama-3-sized vocabulary (128,256 tokens: `tokenizer.ggml.tokens`, `.scores`
   and `.token_type` arrays) and tiny tensors, written by the `gguf` package (llama.cpp's own writer).
   `inspect_path` on it vs constructing `gguf.GGUFReader(path)` (which builds a numpy view per array
   element), best of 3 each.
3. Hashing: `sha256_file` on a 2 GB file vs `sha256sum`, and `hash_files` on four 512 MB files vs
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

import numpy as np
from gguf import GGUFReader, GGUFWriter
from safetensors import safe_open
from tests.support.models import Spec, deepseek_v3_tensors, llama_tensors, write_config, write_sharded

from modelwarden.facts.config_formulas import config_formula
from modelwarden.facts.gather import inspect_path
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

# DeepSeek-V3's config.json (deepseek-ai/DeepSeek-V3), the fields that shape the weights and a few more.
DEEPSEEK_V3 = {
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": 7168,
    "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
    "first_k_dense_replace": 3, "num_attention_heads": 128, "num_key_value_heads": 128,
    "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
    "v_head_dim": 128, "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8,
    "n_group": 8, "topk_group": 4, "routed_scaling_factor": 2.5, "norm_topk_prob": True,
    "scoring_func": "sigmoid", "topk_method": "noaux_tc", "moe_layer_freq": 1,
    "num_nextn_predict_layers": 1, "vocab_size": 129280, "tie_word_embeddings": False,
    "max_position_embeddings": 163840, "rope_theta": 10000, "torch_dtype": "bfloat16",
    "rope_scaling": {
        "type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
        "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0,
    },
    "quantization_config": {
        "quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
        "weight_block_size": [128, 128],
    },
}  # fmt: skip
# Published figures: the Hub's 685B (671B main model + the MTP module) and the paper's 37B active.
DEEPSEEK_V3_TOTAL, DEEPSEEK_V3_MAIN, DEEPSEEK_V3_MTP = 684_489_845_504, 671_026_419_200, 13_463_426_304
DEEPSEEK_V3_ACTIVE = 37_552_297_472
LLAMA3_VOCAB = 128_256


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


def bench_replica(
    name: str,
    cfg: dict[str, object],
    shards: int,
    work: Path,
    spec: Spec | None = None,
    expected: tuple[int, int | None] | None = None,
) -> tuple[list[str], str]:
    """One row of the replica table, and a line on the parameter counts found."""
    folder = work / name
    if folder.exists():
        shutil.rmtree(folder)
    write_config(folder, cfg)
    spec = spec if spec is not None else llama_tensors(cfg)
    write_sharded(folder, spec, shards)
    written = len(list(folder.glob("*.safetensors")))
    assert written == shards, (written, shards)
    apparent = sum(p.stat().st_size for p in folder.iterdir())
    on_disk = sum(p.stat().st_blocks * 512 for p in folder.iterdir())
    inspect_path(folder)  # warm-up: imports, page cache
    start = rchar()
    facts = inspect_path(folder)
    read = rchar() - start
    pc = facts.parameters
    if expected is None:
        formula = config_formula(cfg)
        expected = (formula.total, formula.active)
    assert (pc.total, pc.active) == expected, ((pc.total, pc.active), expected)
    assert not facts.problems and not pc.warnings, (facts.problems, pc.warnings)
    warm = best_of(5, lambda: inspect_path(folder))
    cold = best_of(3, lambda: inspect_path(folder), before=lambda: evict(folder))
    peer = best_of(5, lambda: library_peer(folder))
    cli = [sys.executable, "-m", "modelwarden", "inspect", str(folder), "--format", "json"]
    end_to_end = best_of(3, lambda: subprocess.run(cli, check=True, capture_output=True))
    parts = ", ".join(f"{k} {v:,}" for k, v in pc.breakdown.items())
    note = (
        f"- {name}: {pc.total:,} parameters"
        + (f" (config formula {pc.config_total:,})" if pc.config_total is not None else "")
        + (f", active {pc.active:,}" if pc.active is not None else "")
        + (f", {pc.non_parameter_elements:,} non-parameter elements" if pc.non_parameter_elements else "")
        + f"; breakdown: {parts}."
    )
    row = [
        name,
        f"{shards}",
        f"{len(spec):,}",
        f"{apparent / 1e9:,.1f} GB ({on_disk / 1e6:.1f} MB on disk)",
        f"{pc.total:,}",
        f"{warm * 1000:,.0f} ms",
        f"{cold * 1000:,.0f} ms",
        f"{read / 1e6:.2f} MB",
        f"{header_bytes(folder) / 1e6:.2f} MB",
        f"{peer * 1000:,.0f} ms",
        f"{end_to_end * 1000:,.0f} ms",
    ]
    print(" | ".join(row), flush=True)
    shutil.rmtree(folder)
    return row, note


def bench_deepseek_v3(work: Path) -> tuple[list[str], str]:
    row, note = bench_replica(
        "deepseek-v3",
        DEEPSEEK_V3,
        163,
        work,
        spec=deepseek_v3_tensors(DEEPSEEK_V3),
        expected=(DEEPSEEK_V3_TOTAL, DEEPSEEK_V3_ACTIVE),
    )
    assert row[2] == "91,991", row[2]
    formula = config_formula(DEEPSEEK_V3)
    assert (formula.total, formula.extras["mtp"]) == (DEEPSEEK_V3_MAIN, DEEPSEEK_V3_MTP)
    assert DEEPSEEK_V3_MAIN + DEEPSEEK_V3_MTP == DEEPSEEK_V3_TOTAL
    note += (
        f" Main model {DEEPSEEK_V3_MAIN:,} + MTP module {DEEPSEEK_V3_MTP:,} = {DEEPSEEK_V3_TOTAL:,};"
        " the non-parameter elements are the FP8 `weight_scale_inv` blocks."
    )
    return row, note


def write_vocab_gguf(path: Path, vocab: int = LLAMA3_VOCAB) -> int:
    """A two-layer Llama-architecture GGUF with Llama 3's vocabulary size and tiny tensors; returns the
    parameter count. Tokens are distinct byte-level-BPE-style strings (the GPT-2 "Ġ" space marker)."""
    d, ff, layers = 16, 32, 2
    w = GGUFWriter(str(path), "llama")
    w.add_name("Llama-3-vocabulary GGUF benchmark")
    w.add_context_length(8192)
    w.add_embedding_length(d)
    w.add_block_count(layers)
    w.add_feed_forward_length(ff)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(["\u0120" + "ab"[: i % 3] + f"tok{i}" for i in range(vocab)])
    w.add_token_scores([0.0] * vocab)
    w.add_token_types([1] * (vocab - 256) + [3] * 256)
    params = 0

    def add(name: str, shape: tuple[int, ...]) -> None:
        nonlocal params
        w.add_tensor(name, np.zeros(shape, dtype=np.float32))
        params += math.prod(shape)

    add("token_embd.weight", (vocab, d))
    for i in range(layers):
        add(f"blk.{i}.attn_norm.weight", (d,))
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            add(f"blk.{i}.{t}.weight", (d, d))
        add(f"blk.{i}.ffn_norm.weight", (d,))
        add(f"blk.{i}.ffn_gate.weight", (ff, d))
        add(f"blk.{i}.ffn_up.weight", (ff, d))
        add(f"blk.{i}.ffn_down.weight", (d, ff))
    add("output_norm.weight", (d,))
    add("output.weight", (vocab, d))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return params


def bench_gguf(work: Path) -> list[str]:
    path = work / "llama3-vocab.gguf"
    params = write_vocab_gguf(path)
    facts = inspect_path(path)  # also the warm-up: imports, page cache
    [gguf_file] = [f for f in facts.files if f.path.endswith(".gguf")]
    walked = gguf_file.bytes_read or 0  # the reader maps the file: /proc/self/io does not see it
    assert facts.tokenizer is not None and facts.tokenizer.vocab_size == LLAMA3_VOCAB, facts.tokenizer
    assert facts.parameters.total == params and not facts.problems
    ours = best_of(3, lambda: inspect_path(path))
    reader = GGUFReader(str(path))
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == LLAMA3_VOCAB
    del reader
    peer = best_of(3, lambda: GGUFReader(str(path)))
    row = [
        f"{LLAMA3_VOCAB:,} tokens (tokens, scores, token_type)",
        f"{path.stat().st_size / 1e6:.1f} MB",
        f"{walked / 1e6:.2f} MB",
        f"{ours:.3f} s",
        f"{peer:.2f} s",
        f"{peer / ours:,.0f}×",
    ]
    print(" | ".join(row), flush=True)
    path.unlink()
    return row


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
    try:
        results = [
            bench_replica("llama-3.1-405b", LLAMA31_405B, 191, work),
            bench_replica("llama-3.1-70b", LLAMA31_70B, 30, work),
            bench_replica("toy (70B names)", TOY_70B_NAMES, 30, work),
            bench_deepseek_v3(work),
        ]
        out = [
            "## inspect: header-only reading of sharded safetensors replicas\n",
            f"Machine: {os.cpu_count()} shared cores; warm best of 5, cold (pages evicted) best of 3, "
            "peer best of 5, CLI best of 3.\n",
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
                [row for row, _ in results],
            ),
            "\nParameter counts reported by `inspect` (asserted against the config formula, and for "
            "DeepSeek-V3 against the published figures):\n",
            *(note for _, note in results),
            "\n## GGUF: header walk vs gguf.GGUFReader (best of 3)\n",
            table(
                [
                    "vocabulary",
                    "file",
                    "header walked by inspect (mmap)",
                    "modelwarden inspect",
                    "gguf.GGUFReader(path)",
                    "ratio",
                ],
                [bench_gguf(work)],
            ),
        ]
        if not args.skip_hash:
            out += [
                "\n## --hash: SHA-256 throughput (files in page cache, best of 3)\n",
                table(
                    [
                        "files",
                        "sha256sum",
                        "sha256sum, 2 in parallel",
                        "modelwarden --hash",
                        "vs best sha256sum",
                    ],
                    bench_hashing(work),
                ),
            ]
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(out)
    print(text)
    results_dir = Path(__file__).parent / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "inspect_bench.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
