"""Active parameters both ways (issue 17): with the input embedding (ours) and without (DeepSeek,
Kimi, gpt-oss), the convention named in the JSON and the text report."""

from __future__ import annotations

import json
from pathlib import Path

from modelwarden.facts.gather import inspect_path
from tests.support.cli import run_cli
from tests.support.models import (
    MIXTRAL_8X7B,
    Spec,
    llama_tensors,
    write_config,
    write_sharded,
    write_sparse_safetensors,
)

# Mixtral-8x7B: 12,879,925,248 active with its 32,000 × 4,096 input embedding (Mistral's "12.9B").
ACTIVE = 12_879_925_248
EMBEDDING = 32_000 * 4_096


def _mixtral(tmp_path: Path) -> Path:
    write_config(tmp_path, MIXTRAL_8X7B)
    write_sharded(tmp_path, llama_tensors(MIXTRAL_8X7B), 2)
    return tmp_path


def test_facts_carry_both_figures(tmp_path: Path) -> None:
    pc = inspect_path(_mixtral(tmp_path)).parameters
    assert pc.active == ACTIVE
    assert pc.input_embedding == EMBEDDING
    assert pc.active_without_input_embedding == ACTIVE - EMBEDDING


def test_json_and_text_name_the_convention(tmp_path: Path) -> None:
    root = _mixtral(tmp_path)
    done = run_cli("inspect", str(root), "--format", "json")
    assert done.returncode == 0, done.stderr
    params = json.loads(done.stdout)["parameters"]
    assert params["active"] == ACTIVE
    assert params["active_without_input_embedding"] == ACTIVE - EMBEDDING
    assert params["active_convention"] == "input embedding included"
    text = run_cli("inspect", str(root)).stdout
    assert f"{ACTIVE:,}" in text and "with the input embedding" in text
    assert f"{ACTIVE - EMBEDDING:,}" in text


def test_a_dense_model_has_no_active_figure_but_knows_its_lookup(tmp_path: Path) -> None:
    dense = {**MIXTRAL_8X7B, "model_type": "mistral", "architectures": ["MistralForCausalLM"]}
    for key in ("num_local_experts", "num_experts_per_tok"):
        dense.pop(key, None)
    write_config(tmp_path, dense)
    write_sharded(tmp_path, llama_tensors(dense), 1)
    pc = inspect_path(tmp_path).parameters
    assert pc.active is None and pc.active_without_input_embedding is None
    assert pc.input_embedding == EMBEDDING


def test_a_manifest_beside_the_files_that_disagrees_is_recorded_once(tmp_path: Path) -> None:
    root = _mixtral(tmp_path)
    (root / "modelwarden.yaml").write_text("model: {parameters: 40000000000}\n", encoding="utf-8")
    done = run_cli("inspect", str(root), "--format", "json")
    assert done.returncode == 0, done.stderr
    params = json.loads(done.stdout)["parameters"]
    assert params["total"] == 46_702_792_704  # counted beats declared
    [d] = params["disagreements"]
    assert (d["field"], d["files"], d["manifest"], d["used"]) == (
        "total",
        46_702_792_704,
        40_000_000_000,
        "files",
    )
    assert d["manifest_provenance"]["field"] == "model.parameters"
    text = run_cli("inspect", str(root)).stdout
    assert text.count("declares 40,000,000,000 parameters") == 1


def _gpt_oss_tensors(d: int, h: int, hd: int, kv: int, e: int, ff: int, layers: int, vocab: int) -> Spec:
    """gpt-oss as transformers stores it: biased attention with sinks, fused experts with fused biases."""
    t: Spec = {"model.embed_tokens.weight": ("BF16", (vocab, d)), "model.norm.weight": ("BF16", (d,)),
               "lm_head.weight": ("BF16", (vocab, d))}  # fmt: skip
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = ("BF16", (d,))
        t[p + "post_attention_layernorm.weight"] = ("BF16", (d,))
        for name, rows in (("q_proj", h * hd), ("k_proj", kv * hd), ("v_proj", kv * hd)):
            t[p + f"self_attn.{name}.weight"] = ("BF16", (rows, d))
            t[p + f"self_attn.{name}.bias"] = ("BF16", (rows,))
        t[p + "self_attn.o_proj.weight"] = ("BF16", (d, h * hd))
        t[p + "self_attn.o_proj.bias"] = ("BF16", (d,))
        t[p + "self_attn.sinks"] = ("BF16", (h,))
        t[p + "mlp.router.weight"] = ("BF16", (e, d))
        t[p + "mlp.router.bias"] = ("BF16", (e,))
        t[p + "mlp.experts.gate_up_proj"] = ("BF16", (e, d, 2 * ff))
        t[p + "mlp.experts.gate_up_proj_bias"] = ("BF16", (e, 2 * ff))
        t[p + "mlp.experts.down_proj"] = ("BF16", (e, ff, d))
        t[p + "mlp.experts.down_proj_bias"] = ("BF16", (e, d))
    return t


def test_gpt_oss_tensors_agree_with_the_formula_active_included(tmp_path: Path) -> None:
    # A small gpt-oss: 4 experts, 2 per token. Fused expert biases are routed too (not always active).
    config = {"architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "hidden_size": 8,
              "num_attention_heads": 2, "head_dim": 4, "num_key_value_heads": 1, "num_local_experts": 4,
              "num_experts_per_tok": 2, "intermediate_size": 8, "num_hidden_layers": 2, "vocab_size": 16,
              "tie_word_embeddings": False}  # fmt: skip
    write_config(tmp_path, config)
    write_sparse_safetensors(tmp_path / "model.safetensors", _gpt_oss_tensors(8, 2, 4, 1, 4, 8, 2, 16))
    pc = inspect_path(tmp_path).parameters
    assert pc.total == pc.config_total == 2532
    assert pc.active == pc.config_active == 1668
    assert pc.warnings == []
    assert pc.active_without_input_embedding == 1668 - 16 * 8
