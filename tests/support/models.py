"""Builders of model files for inspect tests: real tensor names and shapes, tiny or header-only.

Header-only ("sparse") safetensors files have a real header and the full declared size, but the
data region is a hole (`truncate`): a 7B replica takes a few kilobytes of disk. `safe_open` accepts
them (a test checks it), so they are valid safetensors files, just full of zeros.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I8": 1, "U8": 1, "F8_E4M3": 1, "BOOL": 1}

Spec = dict[str, tuple[str, tuple[int, ...]]]  # name -> (dtype, shape)


def write_sparse_safetensors(path: Path, tensors: Spec, metadata: dict[str, str] | None = None) -> int:
    """Write a header-faithful safetensors file whose data region is a hole; returns the file size."""
    header: dict[str, Any] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the reference writer pads the header to 8 bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        fh.truncate(8 + len(raw) + offset)
    return 8 + len(raw) + offset


def shard(tensors: Spec, count: int) -> list[Spec]:
    """Split tensors into `count` shards of roughly equal bytes, in order (as HF's sharding does)."""
    total = sum(math.prod(s) * BYTES[d] for d, s in tensors.values())
    target = total / count
    shards: list[Spec] = [{}]
    size = 0
    for name, spec in tensors.items():
        nbytes = math.prod(spec[1]) * BYTES[spec[0]]
        if size + nbytes > target * 1.0001 and shards[-1] and len(shards) < count:
            shards.append({})
            size = 0
        shards[-1][name] = spec
        size += nbytes
    return shards


def write_sharded(folder: Path, tensors: Spec, count: int, *, stem: str = "model") -> dict[str, Any]:
    """Sparse shards `model-0000i-of-0000N.safetensors` plus `model.safetensors.index.json`."""
    parts = shard(tensors, count)
    weight_map: dict[str, str] = {}
    total_size = 0
    for i, part in enumerate(parts, start=1):
        name = f"{stem}-{i:05d}-of-{len(parts):05d}.safetensors"
        write_sparse_safetensors(folder / name, part, {"format": "pt"})
        total_size += sum(math.prod(s) * BYTES[d] for d, s in part.values())
        weight_map.update(dict.fromkeys(part, name))
    index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
    (folder / f"{stem}.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return index


# ---------------------------------------------------------------------------------------------------
# Real tensor layouts (Hugging Face transformers naming)
# ---------------------------------------------------------------------------------------------------


def llama_tensors(cfg: dict[str, Any], *, dtype: str = "BF16", inv_freq: bool = False) -> Spec:
    d, ff, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    h = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", h)
    hd = cfg.get("head_dim") or d // h
    out: Spec = {"model.embed_tokens.weight": (dtype, (vocab, d))}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        out[f"{p}.input_layernorm.weight"] = (dtype, (d,))
        out[f"{p}.self_attn.q_proj.weight"] = (dtype, (h * hd, d))
        out[f"{p}.self_attn.k_proj.weight"] = (dtype, (kv * hd, d))
        out[f"{p}.self_attn.v_proj.weight"] = (dtype, (kv * hd, d))
        out[f"{p}.self_attn.o_proj.weight"] = (dtype, (d, h * hd))
        if inv_freq:
            out[f"{p}.self_attn.rotary_emb.inv_freq"] = ("F32", (hd // 2,))
        out.update(_moe_or_mlp(cfg, p, d, ff, dtype))
        out[f"{p}.post_attention_layernorm.weight"] = (dtype, (d,))
    out["model.norm.weight"] = (dtype, (d,))
    if not cfg.get("tie_word_embeddings", False):
        out["lm_head.weight"] = (dtype, (vocab, d))
    return out


def _moe_or_mlp(cfg: dict[str, Any], p: str, d: int, ff: int, dtype: str) -> Spec:
    out: Spec = {}
    experts = cfg.get("num_local_experts") or cfg.get("num_experts")
    if not experts:
        out[f"{p}.mlp.gate_proj.weight"] = (dtype, (ff, d))
        out[f"{p}.mlp.up_proj.weight"] = (dtype, (ff, d))
        out[f"{p}.mlp.down_proj.weight"] = (dtype, (d, ff))
        return out
    if cfg.get("model_type") == "mixtral":
        out[f"{p}.block_sparse_moe.gate.weight"] = (dtype, (experts, d))
        for e in range(experts):
            q = f"{p}.block_sparse_moe.experts.{e}"
            out[f"{q}.w1.weight"] = (dtype, (ff, d))
            out[f"{q}.w2.weight"] = (dtype, (d, ff))
            out[f"{q}.w3.weight"] = (dtype, (ff, d))
        return out
    ffe = cfg["moe_intermediate_size"]
    out[f"{p}.mlp.gate.weight"] = (dtype, (experts, d))
    for e in range(experts):
        q = f"{p}.mlp.experts.{e}"
        out[f"{q}.gate_proj.weight"] = (dtype, (ffe, d))
        out[f"{q}.up_proj.weight"] = (dtype, (ffe, d))
        out[f"{q}.down_proj.weight"] = (dtype, (d, ffe))
    return out


def qwen3_moe_tensors(cfg: dict[str, Any], *, dtype: str = "BF16") -> Spec:
    out = llama_tensors(cfg, dtype=dtype)
    hd = cfg["head_dim"]
    for i in range(cfg["num_hidden_layers"]):
        out[f"model.layers.{i}.self_attn.q_norm.weight"] = (dtype, (hd,))
        out[f"model.layers.{i}.self_attn.k_norm.weight"] = (dtype, (hd,))
    return out


def gpt2_tensors(cfg: dict[str, Any], *, mask_buffers: bool = True) -> Spec:
    d, vocab, n_pos = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    out: Spec = {"wte.weight": ("F32", (vocab, d)), "wpe.weight": ("F32", (n_pos, d))}
    for i in range(cfg["n_layer"]):
        p = f"h.{i}"
        if mask_buffers:
            out[f"{p}.attn.bias"] = ("F32", (1, 1, n_pos, n_pos))  # the causal-mask buffer
        out[f"{p}.ln_1.weight"] = ("F32", (d,))
        out[f"{p}.ln_1.bias"] = ("F32", (d,))
        out[f"{p}.attn.c_attn.weight"] = ("F32", (d, 3 * d))
        out[f"{p}.attn.c_attn.bias"] = ("F32", (3 * d,))
        out[f"{p}.attn.c_proj.weight"] = ("F32", (d, d))
        out[f"{p}.attn.c_proj.bias"] = ("F32", (d,))
        out[f"{p}.ln_2.weight"] = ("F32", (d,))
        out[f"{p}.ln_2.bias"] = ("F32", (d,))
        out[f"{p}.mlp.c_fc.weight"] = ("F32", (d, 4 * d))
        out[f"{p}.mlp.c_fc.bias"] = ("F32", (4 * d,))
        out[f"{p}.mlp.c_proj.weight"] = ("F32", (4 * d, d))
        out[f"{p}.mlp.c_proj.bias"] = ("F32", (d,))
    out["ln_f.weight"] = ("F32", (d,))
    out["ln_f.bias"] = ("F32", (d,))
    return out


def deepseek_v3_tensors(cfg: dict[str, Any], *, fp8: bool = True) -> Spec:
    """DeepSeek-V3 layout: MLA attention, dense first layers, MoE with a shared expert, FP8 weights with
    `weight_scale_inv` blocks, and the multi-token-prediction layer stored as layer `num_hidden_layers`."""
    d, vocab, h = cfg["hidden_size"], cfg["vocab_size"], cfg["num_attention_heads"]
    ql, kvl = cfg["q_lora_rank"], cfg["kv_lora_rank"]
    nope, rope, v = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    E, S, ffm, ff = (
        cfg["n_routed_experts"],
        cfg["n_shared_experts"],
        cfg["moe_intermediate_size"],
        cfg["intermediate_size"],
    )
    w = "F8_E4M3" if fp8 else "BF16"
    out: Spec = {"model.embed_tokens.weight": ("BF16", (vocab, d))}

    def linear(name: str, rows: int, cols: int) -> None:
        out[f"{name}.weight"] = (w, (rows, cols))
        if fp8:
            out[f"{name}.weight_scale_inv"] = ("F32", (math.ceil(rows / 128), math.ceil(cols / 128)))

    def layer(p: str, moe: bool) -> None:
        out[f"{p}.input_layernorm.weight"] = ("BF16", (d,))
        linear(f"{p}.self_attn.q_a_proj", ql, d)
        out[f"{p}.self_attn.q_a_layernorm.weight"] = ("BF16", (ql,))
        linear(f"{p}.self_attn.q_b_proj", h * (nope + rope), ql)
        linear(f"{p}.self_attn.kv_a_proj_with_mqa", kvl + rope, d)
        out[f"{p}.self_attn.kv_a_layernorm.weight"] = ("BF16", (kvl,))
        linear(f"{p}.self_attn.kv_b_proj", h * (nope + v), kvl)
        linear(f"{p}.self_attn.o_proj", d, h * v)
        out[f"{p}.post_attention_layernorm.weight"] = ("BF16", (d,))
        if not moe:
            for proj, (r, c) in {"gate_proj": (ff, d), "up_proj": (ff, d), "down_proj": (d, ff)}.items():
                linear(f"{p}.mlp.{proj}", r, c)
            return
        out[f"{p}.mlp.gate.weight"] = ("BF16", (E, d))
        out[f"{p}.mlp.gate.e_score_correction_bias"] = ("F32", (E,))
        for e in range(E):
            for proj, (r, c) in {"gate_proj": (ffm, d), "up_proj": (ffm, d), "down_proj": (d, ffm)}.items():
                linear(f"{p}.mlp.experts.{e}.{proj}", r, c)
        for proj, (r, c) in {
            "gate_proj": (S * ffm, d),
            "up_proj": (S * ffm, d),
            "down_proj": (d, S * ffm),
        }.items():
            linear(f"{p}.mlp.shared_experts.{proj}", r, c)

    L = cfg["num_hidden_layers"]
    for i in range(L):
        layer(f"model.layers.{i}", i >= cfg["first_k_dense_replace"])
    out["model.norm.weight"] = ("BF16", (d,))
    out["lm_head.weight"] = ("BF16", (vocab, d))
    for j in range(cfg.get("num_nextn_predict_layers", 0)):
        p = f"model.layers.{L + j}"
        out[f"{p}.embed_tokens.weight"] = ("BF16", (vocab, d))
        out[f"{p}.enorm.weight"] = ("BF16", (d,))
        out[f"{p}.hnorm.weight"] = ("BF16", (d,))
        out[f"{p}.eh_proj.weight"] = ("BF16", (d, 2 * d))
        layer(p, True)
        out[f"{p}.shared_head.norm.weight"] = ("BF16", (d,))
        out[f"{p}.shared_head.head.weight"] = ("BF16", (vocab, d))
    return out


def write_config(folder: Path, config: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))


# Configs of real models (values from their config.json files; docs/reference/compute_examples.md, Table B).
LLAMA2_7B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
    "tie_word_embeddings": False, "max_position_embeddings": 4096, "torch_dtype": "float16",
}  # fmt: skip
MIXTRAL_8X7B = {
    "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "vocab_size": 32000, "num_local_experts": 8, "num_experts_per_tok": 2, "tie_word_embeddings": False,
    "max_position_embeddings": 32768,
}  # fmt: skip
GPT2_SMALL = {
    "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12,
    "n_positions": 1024, "n_ctx": 1024, "vocab_size": 50257,
}  # fmt: skip
QWEN3_30B_A3B = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": 2048,
    "intermediate_size": 6144, "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 4,
    "head_dim": 128, "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768,
    "vocab_size": 151936, "tie_word_embeddings": False, "decoder_sparse_step": 1, "mlp_only_layers": [],
    "max_position_embeddings": 40960,
}  # fmt: skip
