"""Manifest-only estimates against docs/reference/compute_examples.md and
docs/reference/regulation_examples.md (EU/CA/KR edge cases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelwarden.compute import estimate_compute, threshold_call
from modelwarden.facts.gather import inspect_path
from modelwarden.manifest import parse_manifest
from modelwarden.model import Band, ThresholdCall

Y = {ThresholdCall.NEAR_ABOVE, ThresholdCall.CLEARLY_ABOVE}
N = {ThresholdCall.CLEARLY_BELOW}
n = {ThresholdCall.NEAR_BELOW}
Q = {ThresholdCall.INSUFFICIENT_DATA}


def manifest(
    params: float | None = None,
    active: float | None = None,
    tokens: float | None = None,
    stated: float | None = None,
    acc: str | None = None,
    gpu_hours: float | None = None,
    **training: Any,
) -> Any:
    model: dict[str, Any] = {}
    if params:
        model["parameters"] = int(params)
    if active:
        model["active_parameters"] = int(active)
    t: dict[str, Any] = dict(training)
    if tokens:
        t["tokens"] = tokens
    if stated:
        t["compute_flop"] = stated
    if acc:
        t["hardware"] = {"accelerator": acc, "gpu_hours": gpu_hours}
    return parse_manifest({"model": model, "training": t})


# docs/reference/compute_examples.md "Model cases": (row, manifest, calls for 1e23 / 1e25 / 1e26, implied MFU
# or None)
CASES = [
    ("3 GPT-3", manifest(175e9, None, 300e9, 3.14e23), (Y, N, N), None),
    ("5 Chinchilla", manifest(70e9, None, 1.4e12, 5.76e23), (Y, N, N), None),
    ("8 BLOOM", manifest(176e9, None, 366e9, None, "A100", 1_082_880), (Y, N, N), 0.32),
    ("9 LLaMA-7B", manifest(6.74e9, None, 1.0e12, None, "A100", 82_432), (N, N, N), 0.44),
    ("13 Llama 2 7B", manifest(6.74e9, None, 2.0e12, None, "A100", 184_320), (n, N, N), 0.39),
    ("16 Llama 3 8B", manifest(8.03e9, None, 15e12, None, "H100", 1.3e6), (Y, N, N), 0.16),
    ("20 Llama 3.1 405B", manifest(406e9, None, 15.6e12, 3.8e25, "H100", 30.84e6), (Y, Y, N), 0.35),
    ("25 Falcon-7B", manifest(6.92e9, None, 1.5e12, None, "A100-40GB", 129_000), (n, N, N), 0.43),
    ("29 Mixtral 8x7B", manifest(46.7e9, 12.9e9), (Q, Q, Q), None),
    ("31 Gemma 2B", manifest(2.51e9, None, 3e12), (N, N, N), None),
    ("36 Qwen2.5-7B", manifest(7.62e9, None, 18e12), (Y, N, N), None),
    ("40 DeepSeek-V2", manifest(236e9, 21e9, 8.1e12, None, "H800", 1.4e6), (Y, N, N), 0.20),
    ("43 OLMo-7B", manifest(6.89e9, None, 2.46e12, 1.03e23), (Y, N, N), None),
    ("47 Pythia-6.9B", manifest(6.86e9, None, 299.9e9, None, "A100-40GB", 33_500), (N, N, N), 0.33),
    ("49 Phi-3-mini", manifest(3.82e9, None, 3.3e12, None, "H100-80GB", 86_000), (n, N, N), 0.25),
    ("54 MPT-30B", manifest(30e9, None, 1.05e12, 1.89e23), (Y, N, N), None),
    ("56 DBRX", manifest(132e9, 36e9, 12e12), (Y, N, N), None),
    ("59 Nemotron-4 15B", manifest(15e9, None, 8e12), (Y, N, N), None),
]


@pytest.mark.parametrize(("row", "decl", "calls", "mfu"), CASES, ids=[c[0] for c in CASES])
def test_compute_examples(
    row: str, decl: Any, calls: tuple[set[ThresholdCall], ...], mfu: float | None
) -> None:
    est = estimate_compute(None, decl)
    got = (est.thresholds["1e23"], est.thresholds["1e25"], est.thresholds["1e26"])
    assert all(g in want for g, want in zip(got, calls, strict=True)), (row, got)
    if mfu is not None:
        assert est.implied_utilisation == pytest.approx(mfu, abs=0.015)
        assert not any("utilisation" in w for w in est.warnings)


def test_operation_count_uses_active_parameters_for_mixture_of_experts() -> None:
    # EU-50: Llama 4 Maverick, 17B active of 400B, ~22T tokens, 2.38M H100-hours.
    est = estimate_compute(None, manifest(400e9, 17e9, 22e12, None, "H100", 2.38e6))
    assert est.method == "operation_count" and est.parameters_used == 17_000_000_000
    assert est.training_flop is not None and est.training_flop.central == pytest.approx(2.244e24, rel=1e-3)
    assert est.thresholds["1e25"] == ThresholdCall.CLEARLY_BELOW
    assert (
        est.hardware_flop is not None
        and est.hardware_flop.low < est.training_flop.central < est.hardware_flop.high
    )


def test_hardware_only_estimate_with_stated_utilisation() -> None:
    # EU-52: 1,000 H100 for 30 days at 40 % → 1.03e24, robustly above 1e23.
    decl = parse_manifest(
        {"training": {"hardware": {"accelerator": "H100", "count": 1000, "hours": 720, "utilisation": 0.4}}}
    )
    est = estimate_compute(None, decl)
    assert est.method == "hardware"
    assert est.training_flop is not None and est.training_flop.central == pytest.approx(1.026e24, rel=1e-2)
    assert est.thresholds["1e23"] == ThresholdCall.CLEARLY_ABOVE
    assert est.thresholds["1e25"] == ThresholdCall.CLEARLY_BELOW


def test_misread_gpu_hours_are_flagged_by_implied_utilisation() -> None:
    # DeepSeek-V2's 172.8K GPU-hours are per trillion tokens; read as the total they imply >100 % MFU.
    est = estimate_compute(None, manifest(236e9, 21e9, 8.1e12, None, "H800", 172_800))
    assert est.implied_utilisation is not None and est.implied_utilisation > 1
    assert any("exceeds the hardware's peak" in w for w in est.warnings)


def test_non_public_synthetic_data_counts_towards_cumulative_compute() -> None:
    # EU-54: 8e24 of updates + 3e24 generating non-public synthetic data → 1.1e25 > 1e25.
    est = estimate_compute(None, manifest(stated=8e24, synthetic_data_flop=3e24))
    assert est.cumulative_flop is not None and est.cumulative_flop.central == pytest.approx(1.1e25)
    assert est.thresholds["1e25"] in Y and est.thresholds["1e23"] in Y
    public = estimate_compute(
        None, manifest(stated=8e24, synthetic_data_flop=3e24, synthetic_data_public=True)
    )
    assert public.thresholds["1e25"] == ThresholdCall.NEAR_BELOW


def test_stages_sum_and_auxiliary_models_are_excluded() -> None:
    # CA-06: own base 9e25 plus own RL 2e25 → 1.1e26 > 1e26; a reward model does not count.
    stages = [
        {"name": "pre", "kind": "pretraining", "compute_flop": 9e25},
        {"name": "rl", "kind": "rl", "compute_flop": 2e25},
        {"name": "rm", "kind": "reward_model", "compute_flop": 5e25},
    ]
    est = estimate_compute(None, parse_manifest({"training": {"stages": stages}}))
    assert est.method == "combined"  # two stages summed
    assert est.cumulative_flop is not None and est.cumulative_flop.central == pytest.approx(1.1e26)
    assert est.thresholds["1e26"] == ThresholdCall.NEAR_ABOVE
    [rm] = [s for s in est.stages if s.kind == "reward_model"]
    assert not rm.in_training and not rm.in_cumulative and "reward models" in rm.reason


def test_korea_counts_exactly_1e26_while_strict_regimes_do_not() -> None:
    est = estimate_compute(None, manifest(stated=1e26))
    assert est.thresholds["1e26"] == ThresholdCall.NEAR_BELOW
    assert est.other_thresholds["1e26_inclusive"] == ThresholdCall.NEAR_ABOVE


@pytest.mark.parametrize(
    ("base", "mod", "threshold", "call"),
    [
        ({"compute_flop": 3.8e25}, 1e24, 3.8e25 / 3, ThresholdCall.CLEARLY_BELOW),  # EU-20
        ({"name": "x", "systemic_risk": False}, 5e22, 1e23 / 3, ThresholdCall.NEAR_ABOVE),  # EU-25
        ({"name": "x"}, 5e22, None, ThresholdCall.INSUFFICIENT_DATA),  # risk status unknown: no default
        ({"systemic_risk": True}, 5e22, 1e25 / 3, ThresholdCall.CLEARLY_BELOW),
    ],
)
def test_one_third_rule_for_modifiers(
    base: dict[str, Any], mod: float, threshold: float | None, call: ThresholdCall
) -> None:
    decl = parse_manifest(
        {"release": {"role": "modifier"}, "base_model": base, "training": {"modification_flop": mod}}
    )
    est = estimate_compute(None, decl)
    assert est.modification_threshold == (None if threshold is None else pytest.approx(threshold))
    assert est.other_thresholds["modification_one_third"] == call


def test_lora_modification_uses_the_parameter_efficient_formula() -> None:
    decl = parse_manifest(
        {
            "model": {"parameters": 7_000_000_000},
            "release": {"role": "modifier"},
            "training": {"tokens": 1e8, "trainable_parameters": 4_000_000},
        }
    )
    est = estimate_compute(None, decl)
    assert est.modification_flop is not None
    assert est.modification_flop.central == pytest.approx((4 * 7e9 + 2 * 4e6) * 1e8)


def test_nothing_known_is_insufficient_data_never_a_default() -> None:
    est = estimate_compute(None, parse_manifest({"model": {"parameters": 1000}}))
    assert est.method == "insufficient_data" and est.training_flop is None
    assert set(est.thresholds.values()) == {ThresholdCall.INSUFFICIENT_DATA}
    assert "tokens" in est.warnings[0]


def test_counts_from_files_exclude_the_input_embedding(minilm_dir: Path) -> None:
    facts = inspect_path(minilm_dir)
    emb = facts.parameters.breakdown["embedding"]
    est = estimate_compute(facts, parse_manifest({"training": {"tokens": 1e9}}))
    assert est.training_flop is not None and facts.parameters.total is not None
    assert est.training_flop.central == pytest.approx(6 * (facts.parameters.total - emb) * 1e9)
    # The high edge is the larger of the attention term from the real config.json (6 layers, 12 heads
    # of 32, 512 positions) and the EU Guidelines' 6·P·D over every parameter.
    attention = est.training_flop.central + 6 * 6 * 512 * 384 * 1e9
    assert est.training_flop.high == pytest.approx(max(attention, 6 * facts.parameters.total * 1e9))


def test_unknown_accelerator_is_a_warning_not_a_guess() -> None:
    est = estimate_compute(None, manifest(acc="Z9000", gpu_hours=1000.0))
    assert est.method == "insufficient_data" and any("Z9000" in w for w in est.warnings)


@pytest.mark.parametrize(
    ("band", "inclusive", "call"),
    [
        ((1e25, 1e25, 1e25), False, ThresholdCall.NEAR_BELOW),
        ((1e25, 1e25, 1e25), True, ThresholdCall.NEAR_ABOVE),
        ((1.01e25, 1.1e25, 1.2e25), False, ThresholdCall.NEAR_ABOVE),
        ((2e25, 2e25, 3e25), False, ThresholdCall.NEAR_ABOVE),  # exactly 2x is not "more than 2x"
        ((2e25, 2.1e25, 3e25), False, ThresholdCall.CLEARLY_ABOVE),
        ((0.8e25, 1.0e25, 1.2e25), False, ThresholdCall.UNCERTAIN),
        ((1e24, 4.9e24, 6e24), False, ThresholdCall.CLEARLY_BELOW),
        ((1e24, 5e24, 6e24), False, ThresholdCall.NEAR_BELOW),
    ],
)
def test_threshold_call_boundaries(
    band: tuple[float, float, float], inclusive: bool, call: ThresholdCall
) -> None:
    assert threshold_call(Band(low=band[0], central=band[1], high=band[2]), 1e25, inclusive=inclusive) == call


def test_threshold_call_without_band() -> None:
    assert threshold_call(None, 1e25, inclusive=True) == ThresholdCall.INSUFFICIENT_DATA
