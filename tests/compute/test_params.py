"""Config formulas against the published figures of docs/reference/compute_examples.md (Table B) and
beyond."""

from __future__ import annotations

from typing import Any

import pytest

from modelwarden.facts.config_formulas import UnsupportedConfig, config_formula, params_from_config
from tests.support.models import GPT2_SMALL, LLAMA2_7B, MIXTRAL_8X7B, QWEN3_30B_A3B

MISTRAL_7B = {
    "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 32000,
    "tie_word_embeddings": False, "sliding_window": 4096,
}  # fmt: skip
QWEN25_7B = {
    "model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
    "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False,
}  # fmt: skip
GEMMA_7B = {
    "model_type": "gemma", "hidden_size": 3072, "intermediate_size": 24576, "num_hidden_layers": 28,
    "num_attention_heads": 16, "num_key_value_heads": 16, "head_dim": 256, "vocab_size": 256000,
}  # fmt: skip
PHI3_MINI = {
    "model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064, "tie_word_embeddings": False,
}  # fmt: skip
FALCON_7B = {
    "model_type": "falcon", "hidden_size": 4544, "num_attention_heads": 71, "num_hidden_layers": 32,
    "vocab_size": 65024, "multi_query": True, "parallel_attn": True, "bias": False,
}  # fmt: skip
PYTHIA_6_9B = {
    "model_type": "gpt_neox", "hidden_size": 4096, "intermediate_size": 16384, "num_hidden_layers": 32,
    "num_attention_heads": 32, "vocab_size": 50432, "tie_word_embeddings": False,
}  # fmt: skip
DEEPSEEK_V2 = {
    "model_type": "deepseek_v2", "hidden_size": 5120, "intermediate_size": 12288,
    "moe_intermediate_size": 1536,
    "num_hidden_layers": 60, "first_k_dense_replace": 1, "num_attention_heads": 128, "q_lora_rank": 1536,
    "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "n_routed_experts": 160, "n_shared_experts": 2, "num_experts_per_tok": 6, "vocab_size": 102400,
    "moe_layer_freq": 1, "topk_method": "group_limited_greedy",
}  # fmt: skip
DEEPSEEK_V3 = {
    "model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048,
    "num_hidden_layers": 61, "first_k_dense_replace": 3, "num_attention_heads": 128, "q_lora_rank": 1536,
    "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "vocab_size": 129280,
    "moe_layer_freq": 1, "topk_method": "noaux_tc", "num_nextn_predict_layers": 1,
}  # fmt: skip


@pytest.mark.parametrize(
    ("config", "total", "active"),
    [
        pytest.param(GPT2_SMALL, 124_439_808, None, id="gpt2-small"),
        pytest.param(LLAMA2_7B, 6_738_415_616, None, id="llama-2-7b"),
        pytest.param(MISTRAL_7B, 7_241_732_096, None, id="mistral-7b-v0.1"),
        pytest.param({**MISTRAL_7B, "vocab_size": 32768}, 7_248_023_552, None, id="mistral-7b-v0.3"),
        pytest.param(MIXTRAL_8X7B, 46_702_792_704, 12_879_925_248, id="mixtral-8x7b"),
        pytest.param(QWEN25_7B, 7_615_616_512, None, id="qwen2.5-7b"),
        pytest.param(GEMMA_7B, 8_537_680_896, None, id="gemma-7b"),
        pytest.param(PHI3_MINI, 3_821_079_552, None, id="phi-3-mini"),
        pytest.param(FALCON_7B, 6_921_720_704, None, id="falcon-7b"),
        pytest.param(QWEN3_30B_A3B, 30_532_122_624, 3_353_032_704, id="qwen3-30b-a3b"),
        pytest.param(PYTHIA_6_9B, 6_857_302_016, None, id="pythia-6.9b"),
        pytest.param(DEEPSEEK_V3, 671_026_419_200, 37_552_297_472, id="deepseek-v3"),
    ],
)
def test_published_totals(config: dict[str, Any], total: int, active: int | None) -> None:
    result = config_formula(config)
    assert result.total == total
    assert result.active == active
    assert sum(result.breakdown.values()) == result.total


def test_deepseek_v2_matches_the_paper_and_has_no_router_bias() -> None:
    # docs/reference/compute_examples.md lists 235,741,444,320 / 21,375,809,760. Those exceed this by exactly
    # 59 MoE layers × 160 experts = 9,440: a per-expert router bias that DeepSeek-V2's gate does not have
    # (only V3's `noaux_tc` gate carries `e_score_correction_bias`). Both round to the paper's 236B / 21B.
    result = config_formula(DEEPSEEK_V2)
    assert result.total == 235_741_444_320 - 59 * 160
    assert result.active == 21_375_809_760 - 59 * 160
    assert round(result.total / 1e9) == 236 and round(result.active / 1e9) == 21
    with_bias = config_formula({**DEEPSEEK_V2, "topk_method": "noaux_tc"})
    assert with_bias.total == 235_741_444_320


def test_deepseek_v3_mtp_module_is_reported_beside_the_total() -> None:
    result = config_formula(DEEPSEEK_V3)
    assert result.total == 671_026_419_200
    # The Hub repository's 685B = 671B + the ~14B multi-token-prediction module.
    assert round((result.total + result.extras["mtp"]) / 1e9) == 684
    assert 13e9 < result.extras["mtp"] < 14e9


def test_non_embedding_figure_of_pythia() -> None:
    result = config_formula(PYTHIA_6_9B)
    # Pythia README: 6,444,163,072 non-embedding parameters (both vocabulary matrices excluded).
    assert result.total - result.breakdown["embedding"] - result.breakdown["head"] == 6_444_163_072


def test_llama_3_2_tied_embedding_counted_once() -> None:
    llama32_3b = {
        "model_type": "llama", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 28,
        "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
        "tie_word_embeddings": True,
    }  # fmt: skip
    result = config_formula(llama32_3b)
    assert result.total == 3_212_749_824
    # keras-hub's 3,606,752,256 counts the 394,002,432-element shared matrix twice.
    assert result.total + 128256 * 3072 == 3_606_752_256
    assert result.breakdown["head"] == 0


def test_gemma2_has_four_norms_per_layer_and_explicit_head_dim() -> None:
    gemma2_27b = {
        "model_type": "gemma2", "hidden_size": 4608, "intermediate_size": 36864, "num_hidden_layers": 46,
        "num_attention_heads": 32, "num_key_value_heads": 16, "head_dim": 128, "vocab_size": 256000,
    }  # fmt: skip
    result = config_formula(gemma2_27b)
    d, h, kv, hd, ff, L, V = 4608, 32, 16, 128, 36864, 46, 256000
    layer = d * h * hd + 2 * d * kv * hd + h * hd * d + 3 * d * ff + 4 * d
    assert result.total == V * d + L * layer + d  # tied
    assert result.total == 27_227_128_320  # Gemma 2 27B's published parameter count


def test_qwen3_dense_adds_qk_norms() -> None:
    qwen3_8b = {
        "model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
        "tie_word_embeddings": False,
    }  # fmt: skip
    assert config_formula(qwen3_8b).total == 8_190_735_360  # Qwen3-8B, as listed on its model page


def test_bert_base_and_minilm() -> None:
    bert_base = {
        "architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12, "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2,
    }  # fmt: skip
    # BertModel (with pooler) has 109,482,240 parameters; the MLM head swaps the pooler for its transform.
    base = config_formula({**bert_base, "architectures": ["BertModel"]})
    assert base.total == 109_482_240
    mlm = config_formula(bert_base)
    assert mlm.total == base.total - (768 * 768 + 768) + (768 * 768 + 768) + 2 * 768 + 30522


def test_nested_text_config_of_a_vision_language_model() -> None:
    config = {
        "model_type": "llava",
        "architectures": ["LlavaForConditionalGeneration"],
        "text_config": LLAMA2_7B,
    }
    result = config_formula(config)
    assert result.total == 6_738_415_616
    assert any("vision tower" in n for n in result.notes)
    assert all(f.startswith("text_config.") for f in result.fields)


def test_missing_size_field_is_never_guessed() -> None:
    config = {k: v for k, v in LLAMA2_7B.items() if k != "intermediate_size"}
    with pytest.raises(UnsupportedConfig, match="intermediate_size is not stated"):
        config_formula(config)
    assert params_from_config(config) is None


def test_unknown_family_and_bad_values() -> None:
    with pytest.raises(UnsupportedConfig, match="no parameter formula for model_type 'mamba'"):
        config_formula({"model_type": "mamba", "hidden_size": 768})
    with pytest.raises(UnsupportedConfig, match="not a non-negative integer"):
        config_formula({**LLAMA2_7B, "hidden_size": "4096"})
    assert params_from_config({"model_type": "llama"}) is None


def test_architecture_name_identifies_family_without_model_type() -> None:
    config = {k: v for k, v in LLAMA2_7B.items() if k != "model_type"}
    assert config_formula(config).family == "llama"


def test_fields_record_provenance() -> None:
    result = config_formula(MIXTRAL_8X7B)
    assert {"hidden_size", "num_local_experts", "num_experts_per_tok", "vocab_size"} <= set(result.fields)


def test_falcon_new_decoder_architecture() -> None:
    # docs/reference/compute.md §4.7: Falcon-40B / 180B config-derived totals 41.3B and 178.6B (vs marketed
    # 40B / 180B).
    falcon_40b = {
        "model_type": "falcon", "hidden_size": 8192, "num_attention_heads": 128, "num_kv_heads": 8,
        "num_hidden_layers": 60, "vocab_size": 65024, "new_decoder_architecture": True, "parallel_attn": True,
        "bias": False,
    }  # fmt: skip
    assert round(config_formula(falcon_40b).total / 1e8) == 413
    falcon_180b = {**falcon_40b, "hidden_size": 14848, "num_attention_heads": 232, "num_hidden_layers": 80}
    assert round(config_formula(falcon_180b).total / 1e8) == 1786
