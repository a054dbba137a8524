"""Compute defects of issue 17: sparse totals, stated MFU, unknown precision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelwarden.compute import estimate_compute
from modelwarden.compute.hardware import sparsity, table
from modelwarden.facts.config_formulas import config_formula
from modelwarden.manifest import parse_manifest
from modelwarden.model import ComputeEstimate
from modelwarden.model import ThresholdCall as C

DATA = Path(__file__).parent / "data" / "real-model-configs"


def est(data: dict[str, Any]) -> ComputeEstimate:
    return estimate_compute(None, parse_manifest(data))


DEEPSEEK_V3 = {"parameters": 671_000_000_000, "architecture": "Mixture-of-Experts transformer (MLA)"}


def test_a_sparse_total_is_never_clearly_above_1e25() -> None:
    # DeepSeek-V3: 671B total, 37B active, 14.8T tokens -> ~3.3e24 FLOP, below 1e25.
    e = est({"model": DEEPSEEK_V3, "training": {"tokens": 14.8e12}})
    assert e.training_flop is not None
    assert e.thresholds["1e25"] not in (C.CLEARLY_ABOVE, C.NEAR_ABOVE)
    assert e.thresholds["1e25"] is C.UNCERTAIN
    assert e.training_flop.low < 3.3e24 < e.training_flop.high  # the true figure is inside the band
    assert any("model.active_parameters" in w and "mixture of experts" in w for w in e.warnings)


def test_with_its_active_count_the_same_model_is_called_below() -> None:
    model = {**DEEPSEEK_V3, "active_parameters": 37_000_000_000}
    e = est({"model": model, "training": {"tokens": 14.8e12}})
    assert e.thresholds["1e25"].crossed is False
    assert not any("only its total parameters" in w for w in e.warnings)


def test_a_dense_total_is_not_treated_as_sparse() -> None:
    e = est({"model": {"parameters": 671_000_000_000, "architecture": "decoder-only transformer"},
             "training": {"tokens": 14.8e12}})  # fmt: skip
    assert e.thresholds["1e25"] is C.CLEARLY_ABOVE
    assert not any("mixture of experts" in w for w in e.warnings)


@pytest.mark.parametrize("word", ["MoE", "sparse MoE decoder", "mixture of experts", "64 experts"])
def test_declared_architecture_words_mark_a_sparse_total(word: str) -> None:
    e = est({"model": {"parameters": 1e12, "architecture": word}, "training": {"tokens": 3e13}})
    assert e.thresholds["1e25"] is not C.CLEARLY_ABOVE
    assert any("mixture of experts" in w for w in e.warnings)


def test_even_a_huge_sparse_total_is_only_near_above() -> None:
    # Crossed even at 2.5% active, yet the active share is unknown: crossed, but not "clearly".
    e = est({"model": {"parameters": 5e13, "architecture": "MoE"}, "training": {"tokens": 1e14}})
    assert e.thresholds["1e25"] is C.NEAR_ABOVE


def test_config_experts_without_k_mark_a_sparse_total(tmp_path: Path) -> None:
    from modelwarden.facts.gather import inspect_path
    from tests.support.models import MIXTRAL_8X7B, llama_tensors, write_config, write_sharded

    config = {k: v for k, v in MIXTRAL_8X7B.items() if k != "num_experts_per_tok"}
    write_config(tmp_path, config)
    write_sharded(tmp_path, llama_tensors(MIXTRAL_8X7B), 1)
    facts = inspect_path(tmp_path)
    assert facts.parameters.active is None
    e = estimate_compute(facts, parse_manifest({"training": {"tokens": 1e13}}))
    assert any("num_local_experts = 8" in w for w in e.warnings)


def test_the_sparsity_table_is_what_the_configs_say() -> None:
    sp = sparsity()
    for slug, ratio in sp.observed.items():
        c = config_formula(json.loads((DATA / slug / "config.json").read_text(encoding="utf-8")))
        assert c.active is not None
        assert c.active / c.total == pytest.approx(ratio, abs=1e-4), slug
    assert sp.low < min(sp.observed.values())
    values = sorted(sp.observed.values())
    assert values[len(values) // 2 - 1] <= sp.central <= values[len(values) // 2]


def test_a_stated_mfu_leaves_room_above() -> None:
    hw = {"accelerator": "H100", "gpu_hours": 1e6, "precision": "bf16", "utilisation": 0.4}
    e = est({"training": {"hardware": hw}})
    assert e.training_flop is not None
    capacity = 1e6 * 3600 * 989.4e12
    assert e.training_flop.central == pytest.approx(capacity * 0.4)
    assert e.training_flop.high > e.training_flop.central
    assert e.training_flop.high == pytest.approx(capacity * 0.4 * table().utilisation.stated_high_factor)


@pytest.mark.parametrize(("chip", "low_precision"), [("A100", "tf32"), ("V100", "fp32"), ("H100", "tf32")])
def test_unknown_precision_widens_down_to_full_precision(chip: str, low_precision: str) -> None:
    acc = table().find(chip)
    assert acc is not None
    unknown = est({"training": {"hardware": {"accelerator": chip, "gpu_hours": 1e5}}}).training_flop
    precision = "bf16" if "bf16" in acc.peak_tflops else "fp16"
    hw = {"accelerator": chip, "gpu_hours": 1e5, "precision": precision}
    known = est({"training": {"hardware": hw}}).training_flop
    assert unknown is not None and known is not None
    assert unknown.central == pytest.approx(known.central)
    low_u = table().utilisation.low
    assert unknown.low == pytest.approx(1e5 * 3600 * acc.peak_tflops[low_precision] * 1e12 * low_u)
    assert unknown.low < known.low


def test_a_stated_precision_does_not_widen() -> None:
    e = est({"training": {"hardware": {"accelerator": "A100", "gpu_hours": 1e5, "precision": "tf32"}}})
    assert e.training_flop is not None
    assert e.training_flop.central == pytest.approx(1e5 * 3600 * 156e12 * 0.34)


# -- encoder-decoders, shared layers, initialising models ------------------------------------------


def test_an_encoder_decoder_counts_about_half_the_parameters_per_token() -> None:
    dense = est({"model": {"parameters": 11e9}, "training": {"tokens": 1e12}}).training_flop
    t5 = est({"model": {"parameters": 11e9, "architecture": "encoder-decoder transformer (T5)"},
              "training": {"tokens": 1e12}})  # fmt: skip
    assert dense is not None and t5.training_flop is not None
    assert t5.training_flop.central == pytest.approx(dense.central * 0.5)
    assert t5.training_flop.low == pytest.approx(dense.low * 0.4)
    assert t5.training_flop.high >= 6 * 11e9 * 1e12  # every token through both halves
    assert any("encoder-decoder" in a.value for a in t5.assumptions)


def test_an_encoder_decoder_config_is_recognised(tmp_path: Path) -> None:
    from modelwarden.facts.gather import inspect_path

    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "t5", "is_encoder_decoder": True, "d_model": 512}), encoding="utf-8"
    )
    facts = inspect_path(tmp_path)
    e = estimate_compute(facts, parse_manifest({"model": {"parameters": 60e6}, "training": {"tokens": 1e11}}))
    assert any("is_encoder_decoder" in a.value for a in e.assumptions)
    assert e.training_flop is not None and e.training_flop.central == pytest.approx(6 * 30e6 * 1e11)


def test_albert_shared_layers_multiply_the_layer_compute(tmp_path: Path) -> None:
    from modelwarden.facts.gather import inspect_path

    config = {"model_type": "albert", "num_hidden_layers": 12, "num_hidden_groups": 1, "hidden_size": 768}
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    facts = inspect_path(tmp_path)
    m = parse_manifest({"model": {"parameters": 12_000_000}, "training": {"tokens": 1e10}})
    e = estimate_compute(facts, m)
    plain = estimate_compute(None, m)
    assert e.training_flop is not None and plain.training_flop is not None
    # Each token runs the one stored layer group 12 times: far more than 6·N·D.
    assert e.training_flop.low > plain.training_flop.high
    assert any("12 times" in a.value or "run 12 times" in a.value for a in e.assumptions)


def test_declared_sharing_without_a_factor_opens_the_high_edge() -> None:
    m = {"model": {"parameters": 3.5e9, "architecture": "recurrent depth (looped transformer)"},
         "training": {"tokens": 8e11}}  # fmt: skip
    e = est(m)
    plain = est({"model": {"parameters": 3.5e9}, "training": {"tokens": 8e11}})
    assert e.training_flop is not None and plain.training_flop is not None
    assert e.training_flop.high > 30 * plain.training_flop.high
    assert e.training_flop.central == pytest.approx(plain.training_flop.central)
    assert any("parameter sharing" in w for w in e.warnings)


def test_an_initialising_model_of_unknown_compute_makes_cumulative_a_lower_bound(tmp_path: Path) -> None:
    from modelwarden.facts.gather import inspect_path

    (tmp_path / "README.md").write_text(
        "---\nbase_model: org/teacher-70b\n---\n# Student\n", encoding="utf-8"
    )
    facts = inspect_path(tmp_path)
    assert facts.base_model
    data = {"release": {"role": "provider"}, "model": {"parameters": 1e9}, "training": {"tokens": 1e12}}
    e = estimate_compute(facts, parse_manifest(data))
    assert e.thresholds["1e23"].crossed is False  # training compute alone: 6e21
    assert e.thresholds["1e25"] is C.UNCERTAIN  # cumulative: the initialising model's share is unknown
    assert any("lower bound" in w for w in e.warnings)
    stated = {**data, "training": {**data["training"], "merged_or_initialising_flop": 1e24}}
    e2 = estimate_compute(facts, parse_manifest(stated))
    assert e2.thresholds["1e25"].crossed is False


def test_a_stated_figure_is_not_weakened_by_a_sparse_total() -> None:
    # The developer states the compute: the active share of the total does not enter the call.
    e = est({"model": {"parameters": 2e12, "architecture": "MoE"},
             "training": {"compute_flop": 5e25, "tokens": 1e13}})  # fmt: skip
    assert e.method == "developer_stated"
    assert e.thresholds["1e25"] is C.CLEARLY_ABOVE
