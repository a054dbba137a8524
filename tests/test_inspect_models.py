"""Exact parameter counts of real models from header-faithful replicas (real names and shapes).

Each replica is a sparse safetensors checkpoint: a real header, the full declared size, no data.
"""

from __future__ import annotations

import json
from pathlib import Path

from modelwarden.facts.gather import inspect_path
from tests.compute.test_params import DEEPSEEK_V3
from tests.support.models import (
    GPT2_SMALL,
    LLAMA2_7B,
    MIXTRAL_8X7B,
    QWEN3_30B_A3B,
    deepseek_v3_tensors,
    gpt2_tensors,
    llama_tensors,
    qwen3_moe_tensors,
    write_config,
    write_sharded,
    write_sparse_safetensors,
)


def test_llama2_7b_rotary_buffers_are_excluded(tmp_path: Path) -> None:
    write_config(tmp_path, LLAMA2_7B)
    write_sharded(tmp_path, llama_tensors(LLAMA2_7B, dtype="F16", inv_freq=True), 2)
    facts = inspect_path(tmp_path)
    pc = facts.parameters
    # HF's safetensors total is 6,738,417,664 = 6,738,415,616 + 32 layers × 64 inv_freq values.
    assert pc.total == 6_738_415_616 and pc.source == "tensors"
    assert pc.non_parameter_elements == 2_048
    assert pc.config_total == 6_738_415_616 and not pc.warnings
    assert pc.breakdown == {
        "embedding": 32000 * 4096,
        "layers": 6_738_415_616 - 2 * 32000 * 4096 - 4096,
        "norm": 4096,
        "head": 32000 * 4096,
    }
    assert facts.dtypes == {"F16": 6_738_415_616}
    assert [f.role for f in facts.files if f.format.value == "safetensors"] == ["primary", "primary"]


def test_mixtral_total_and_active_from_expert_tensors(tmp_path: Path) -> None:
    write_config(tmp_path, MIXTRAL_8X7B)
    write_sharded(tmp_path, llama_tensors(MIXTRAL_8X7B), 19)  # the Hub repo has 19 shards
    pc = inspect_path(tmp_path).parameters
    assert pc.total == 46_702_792_704
    assert pc.active == 12_879_925_248
    assert (pc.config_total, pc.config_active) == (46_702_792_704, 12_879_925_248)
    assert not pc.warnings


def test_gpt2_tied_head_and_mask_buffers(tmp_path: Path) -> None:
    write_config(tmp_path, GPT2_SMALL)
    write_sparse_safetensors(tmp_path / "model.safetensors", gpt2_tensors(GPT2_SMALL))
    pc = inspect_path(tmp_path).parameters
    assert pc.total == 124_439_808 == pc.config_total
    assert pc.non_parameter_elements == 12 * 1024 * 1024  # the h.N.attn.bias causal masks
    assert "head" not in pc.breakdown  # wte is the head: stored once


def test_qwen3_moe_replica(tmp_path: Path) -> None:
    write_config(tmp_path, QWEN3_30B_A3B)
    write_sharded(tmp_path, qwen3_moe_tensors(QWEN3_30B_A3B), 16)
    pc = inspect_path(tmp_path).parameters
    assert (pc.total, pc.active) == (30_532_122_624, 3_353_032_704)
    assert not pc.warnings


def test_deepseek_v3_layout_fp8_scales_and_mtp(tmp_path: Path) -> None:
    # DeepSeek-V3's structure at a small width: the same tensor names, FP8 weights with block scales,
    # dense first layers, a shared expert, and the MTP layer stored as model.layers.<num_hidden_layers>.
    cfg = {
        **DEEPSEEK_V3, "hidden_size": 256, "intermediate_size": 512, "moe_intermediate_size": 64,
        "num_hidden_layers": 4, "first_k_dense_replace": 1, "num_attention_heads": 4, "q_lora_rank": 96,
        "kv_lora_rank": 64, "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 32,
        "n_routed_experts": 16, "vocab_size": 1000, "architectures": ["DeepseekV3ForCausalLM"],
        "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]},
    }  # fmt: skip
    write_config(tmp_path, cfg)
    write_sharded(tmp_path, deepseek_v3_tensors(cfg), 3)
    from modelwarden.facts.config_formulas import config_formula

    expected = config_formula(cfg)
    facts = inspect_path(tmp_path)
    pc = facts.parameters
    assert pc.breakdown["mtp"] == expected.extras["mtp"]
    assert pc.total == expected.total + expected.extras["mtp"]
    assert pc.config_total == expected.total and not pc.warnings
    assert pc.active == expected.active
    assert pc.non_parameter_elements > 0  # the weight_scale_inv blocks
    assert facts.quantization is not None and facts.quantization.value == "fp8"
    assert {c.name for c in facts.components} == {"language_model", "mtp"}


def test_config_only_release(tmp_path: Path) -> None:
    write_config(tmp_path, MIXTRAL_8X7B)
    facts = inspect_path(tmp_path)
    pc = facts.parameters
    assert (pc.total, pc.active, pc.source) == (46_702_792_704, 12_879_925_248, "config")
    assert pc.provenance is not None and pc.provenance.file == "config.json"
    assert "num_local_experts" in (pc.provenance.note or "")


def test_single_config_file(tmp_path: Path) -> None:
    write_config(tmp_path, LLAMA2_7B)
    facts = inspect_path(tmp_path / "config.json")
    assert facts.parameters.total == 6_738_415_616 and facts.parameters.source == "config"


def test_disagreement_between_config_and_tensors_is_a_warning(tmp_path: Path) -> None:
    write_config(tmp_path, {**LLAMA2_7B, "num_hidden_layers": 33})  # one layer more than stored
    write_sparse_safetensors(tmp_path / "model.safetensors", llama_tensors(LLAMA2_7B))
    pc = inspect_path(tmp_path).parameters
    assert pc.total == 6_738_415_616  # tensors win
    [warning] = pc.warnings
    assert "6,738,415,616" in warning and "llama formula" in warning


def test_tied_matrix_stored_twice_is_counted_once(tmp_path: Path) -> None:
    cfg = {**LLAMA2_7B, "num_hidden_layers": 2, "tie_word_embeddings": True}
    tensors = llama_tensors({**cfg, "tie_word_embeddings": False})  # the checkpoint stores lm_head anyway
    write_config(tmp_path, cfg)
    write_sparse_safetensors(tmp_path / "model.safetensors", tensors)
    pc = inspect_path(tmp_path).parameters
    assert pc.total == pc.config_total
    assert any("tied" in n for n in pc.notes)


def test_index_naming_a_missing_shard(tmp_path: Path) -> None:
    cfg = {**LLAMA2_7B, "num_hidden_layers": 4}
    write_config(tmp_path, cfg)
    index = write_sharded(tmp_path, llama_tensors(cfg), 3)
    missing = sorted(set(index["weight_map"].values()))[1]
    (tmp_path / missing).unlink()
    facts = inspect_path(tmp_path)
    assert [p.code for p in facts.problems] == ["missing_shard"]
    assert missing in facts.problems[0].message
    assert facts.parameters.total is not None and facts.parameters.total < facts.parameters.config_total  # type: ignore[operator]
    assert facts.parameters.warnings  # the disagreement is shown


def test_index_total_size_is_bytes(tmp_path: Path) -> None:
    cfg = {**LLAMA2_7B, "num_hidden_layers": 2}
    write_config(tmp_path, cfg)
    index = write_sharded(tmp_path, llama_tensors(cfg, dtype="BF16"), 2)
    facts = inspect_path(tmp_path)
    assert index["metadata"]["total_size"] == 2 * facts.parameters.total  # type: ignore[operator]
    assert not facts.warnings
    index["metadata"]["total_size"] = facts.parameters.total  # a converter that wrote parameters
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert any("total_size is bytes" in w for w in inspect_path(tmp_path).warnings)


def test_unreadable_shard_is_named_not_called_missing(tmp_path: Path) -> None:
    cfg = {**LLAMA2_7B, "num_hidden_layers": 4}
    write_config(tmp_path, cfg)
    index = write_sharded(tmp_path, llama_tensors(cfg), 3)
    cut = sorted(set(index["weight_map"].values()))[2]
    (tmp_path / cut).write_bytes(b"\x00" * 5)
    facts = inspect_path(tmp_path)
    assert [(p.file, p.code) for p in facts.problems] == [(cut, "unknown_format")]
    assert any(cut in w and "could not be read" in w for w in facts.warnings)


def test_an_index_of_another_format_is_not_applied(tmp_path: Path) -> None:
    cfg = {**LLAMA2_7B, "num_hidden_layers": 1}
    write_config(tmp_path, cfg)
    tensors = llama_tensors(cfg)
    write_sparse_safetensors(tmp_path / "model.safetensors", tensors)
    bin_index = {"weight_map": dict.fromkeys(tensors, "pytorch_model-00001-of-00002.bin")}
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps(bin_index))
    facts = inspect_path(tmp_path)
    assert not facts.problems and facts.parameters.total == facts.parameters.config_total


def _gptq(
    tensors: dict[str, tuple[str, tuple[int, ...]]], bits: int
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """AutoGPTQ's layout: every linear layer of the blocks becomes qweight/qzeros/scales/g_idx."""
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    per_int = 32 // bits
    for name, (dtype, shape) in tensors.items():
        if ".layers." in name and name.endswith("_proj.weight"):
            stem = name[: -len(".weight")]
            rows, cols = shape  # (out, in)
            groups = cols // 128
            out[f"{stem}.qweight"] = ("I32", (cols // per_int, rows))
            out[f"{stem}.qzeros"] = ("I32", (groups, rows // per_int))
            out[f"{stem}.scales"] = ("F16", (groups, rows))
            out[f"{stem}.g_idx"] = ("I32", (cols,))
        else:
            out[name] = (dtype, shape)
    return out


def test_gptq_checkpoint_counts_like_the_unquantised_model(tmp_path: Path) -> None:
    for bits in (4, 8):
        folder = tmp_path / f"gptq-{bits}"
        cfg = {
            **LLAMA2_7B,
            "num_hidden_layers": 2,
            "quantization_config": {"quant_method": "gptq", "bits": bits},
        }
        write_config(folder, cfg)
        write_sparse_safetensors(folder / "model.safetensors", _gptq(llama_tensors(cfg, dtype="F16"), bits))
        facts = inspect_path(folder)
        assert facts.parameters.total == facts.parameters.config_total, bits
        assert not facts.parameters.warnings and facts.parameters.non_parameter_elements > 0
        assert facts.quantization is not None and facts.quantization.value == f"gptq-{bits}bit"


def test_vision_language_model_components(tmp_path: Path) -> None:
    text = {**LLAMA2_7B, "num_hidden_layers": 2}
    cfg = {
        "architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "text_config": text,
        "vision_config": {"model_type": "clip_vision_model", "hidden_size": 64},
    }  # fmt: skip
    tensors = {f"language_model.{k}": v for k, v in llama_tensors(text).items()}
    tensors["vision_tower.vision_model.embeddings.patch_embedding.weight"] = ("BF16", (64, 3, 14, 14))
    tensors["vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight"] = ("BF16", (256, 64))
    tensors["multi_modal_projector.linear_1.weight"] = ("BF16", (4096, 64))
    write_config(tmp_path, cfg)
    write_sparse_safetensors(tmp_path / "model.safetensors", tensors)
    facts = inspect_path(tmp_path)
    vision = 64 * 3 * 14 * 14 + 256 * 64 + 4096 * 64
    pc = facts.parameters
    assert pc.breakdown["vision"] == vision
    assert pc.total == pc.config_total + vision and not pc.warnings  # the formula covers the language model
    assert {c.name: c.parameters for c in facts.components} == {
        "language_model": pc.config_total,
        "vision": vision,
    }
    assert (facts.modalities.input, facts.modalities.output) == (["text", "image"], ["text"])
    assert any("vision tower" in n for n in pc.notes)
