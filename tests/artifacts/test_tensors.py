"""Which stored tensors are parameters, and how many each holds (docs/reference/compute.md §4.7 pitfalls)."""

from __future__ import annotations

from modelwarden.artifacts.tensors import ClassifyContext, classify, component_of, mark_tied
from modelwarden.model import TensorInfo, TensorKind


def _t(name: str, dtype: str, *shape: int) -> TensorInfo:
    return TensorInfo(name=name, dtype=dtype, shape=shape, parameters=0)


def _classify(tensors: list[TensorInfo], **ctx: object) -> dict[str, tuple[TensorKind, int]]:
    classify(tensors, ClassifyContext(**ctx))  # type: ignore[arg-type]
    return {t.name: (t.kind, t.parameters) for t in tensors}


def test_gptq_qweight_is_unpacked_and_auxiliaries_excluded() -> None:
    # GPTQ 4-bit: a 4096x4096 linear stored as int32 [4096/8, 4096]; scales/qzeros/g_idx alongside.
    p = "model.layers.0.self_attn.q_proj"
    got = _classify(
        [
            _t(f"{p}.qweight", "I32", 512, 4096),
            _t(f"{p}.qzeros", "I32", 32, 512),
            _t(f"{p}.scales", "F16", 32, 4096),
            _t(f"{p}.g_idx", "I32", 4096),
            _t(f"{p}.bias", "F16", 4096),
        ]
    )
    assert got[f"{p}.qweight"] == (TensorKind.PARAMETER, 4096 * 4096)
    assert {got[f"{p}.{x}"][0] for x in ("qzeros", "scales", "g_idx")} == {TensorKind.QUANT_AUX}
    assert got[f"{p}.bias"] == (TensorKind.PARAMETER, 4096)


def test_awq_and_8bit_gptq_packing_follows_bits() -> None:
    got = _classify([_t("l.qweight", "I32", 4096, 512)], quant_bits=4)  # AWQ packs the output dim
    assert got["l.qweight"][1] == 4096 * 4096
    got = _classify([_t("l.qweight", "I32", 1024, 4096)], quant_bits=8)
    assert got["l.qweight"][1] == 4096 * 4096


def test_bitsandbytes_4bit() -> None:
    w = "model.layers.0.mlp.down_proj.weight"
    got = _classify(
        [
            _t(w, "U8", 4096 * 11008 // 2, 1),
            _t(f"{w}.absmax", "F32", 4096 * 11008 // 64),
            _t(f"{w}.quant_map", "F32", 16),
            _t(f"{w}.quant_state.bitsandbytes__nf4", "U8", 100),
        ]
    )
    assert got[w] == (TensorKind.PARAMETER, 4096 * 11008)
    assert {got[n][0] for n in got if n != w} == {TensorKind.QUANT_AUX}


def test_fp8_block_scales_and_compressed_tensors() -> None:
    got = _classify(
        [
            _t("a.weight", "F8_E4M3", 1536, 7168),
            _t("a.weight_scale_inv", "F32", 12, 56),
            _t("b.weight_packed", "I32", 4096, 512),
            _t("b.weight_scale", "BF16", 4096, 32),
            _t("b.weight_shape", "I64", 2),
            _t("self_attn.k_scale", "F32"),
        ]
    )
    assert got["a.weight"] == (TensorKind.PARAMETER, 1536 * 7168)
    assert got["a.weight_scale_inv"][0] is TensorKind.QUANT_AUX
    assert got["b.weight_packed"] == (TensorKind.PARAMETER, 4096 * 4096)
    assert got["b.weight_scale"][0] is got["b.weight_shape"][0] is TensorKind.QUANT_AUX
    assert got["self_attn.k_scale"][0] is TensorKind.QUANT_AUX


def test_a_scales_parameter_without_qweight_stays_a_parameter() -> None:
    got = _classify([_t("block.scales", "F32", 64)])
    assert got["block.scales"] == (TensorKind.PARAMETER, 64)


def test_buffers() -> None:
    got = _classify(
        [
            _t("model.layers.0.self_attn.rotary_emb.inv_freq", "F32", 64),
            _t("embeddings.position_ids", "I64", 1, 512),
            _t("h.0.attn.bias", "F32", 1, 1, 1024, 1024),
            _t("h.0.attn.c_attn.bias", "F32", 2304),
            _t("bn.running_mean", "F32", 8),
            _t("bn.num_batches_tracked", "I64"),
        ]
    )
    assert got["h.0.attn.c_attn.bias"] == (TensorKind.PARAMETER, 2304)
    assert {k for k, (kind, _) in got.items() if kind is TensorKind.BUFFER} == {
        "model.layers.0.self_attn.rotary_emb.inv_freq",
        "embeddings.position_ids",
        "h.0.attn.bias",
        "bn.running_mean",
        "bn.num_batches_tracked",
    }


def test_components() -> None:
    ctx = ClassifyContext(num_layers=61)
    cases = {
        "model.embed_tokens.weight": "embedding",
        "model.layers.3.mlp.experts.7.up_proj.weight": "layers",
        "model.layers.61.eh_proj.weight": "mtp",  # DeepSeek-V3's MTP layer sits after the main stack
        "model.layers.61.embed_tokens.weight": "mtp",
        "model.norm.weight": "norm",
        "lm_head.weight": "head",
        "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight": "vision",
        "multi_modal_projector.linear_1.weight": "vision",
        "audio_tower.layers.0.fc1.weight": "audio",
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": "adapter",
        "transformer.h.0.mlp.c_fc.weight": "layers",
        "transformer.ln_f.weight": "norm",
        "embeddings.LayerNorm.weight": "embedding",
        "pooler.dense.weight": "head",
        "token_embd.weight": "embedding",
        "output.weight": "head",
        "output_norm.weight": "norm",
        "mtp.layers.0.input_layernorm.weight": "mtp",
        "encoder.layer.0.attention.output.dense.weight": "layers",
    }
    assert {name: component_of(name, ctx) for name in cases} == cases


def test_training_state_paths() -> None:
    got = _classify([_t("optimizer.state.0.exp_avg", "F32", 10), _t("state_dict.w", "F32", 10)])
    assert got["optimizer.state.0.exp_avg"][0] is TensorKind.TRAINING_STATE
    assert got["state_dict.w"] == (TensorKind.PARAMETER, 10)


def test_tied_head_is_marked_only_when_the_config_says_so() -> None:
    tensors = [_t("model.embed_tokens.weight", "BF16", 100, 8), _t("lm_head.weight", "BF16", 100, 8)]
    classify(tensors)
    assert mark_tied(tensors, None) is None and mark_tied(tensors, False) is None
    head = mark_tied(tensors, True)
    assert head is not None and head.kind is TensorKind.TIED and head.parameters == 0
    other = [_t("model.embed_tokens.weight", "BF16", 100, 8), _t("lm_head.weight", "BF16", 99, 8)]
    classify(other)
    assert mark_tied(other, True) is None  # different shapes cannot be the same matrix
