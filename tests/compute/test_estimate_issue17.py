"""Compute defects of issue 17: sparse totals, stated MFU, unknown precision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelwarden.compute import estimate_compute
from modelwarden.compute.hardware import sparsity, table
from modelwarden.compute.params import config_formula
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
    from modelwarden.facts import inspect_path
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
