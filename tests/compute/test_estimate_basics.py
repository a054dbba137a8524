"""estimate_compute: precedence, insufficient data, planned runs."""

from __future__ import annotations

from typing import Any

import pytest

from modelwarden.compute import estimate_compute
from modelwarden.manifest import parse_manifest
from modelwarden.model import ThresholdCall

C = ThresholdCall


def est(data: dict[str, Any]) -> Any:
    return estimate_compute(None, parse_manifest(data))


def test_nothing_known_is_insufficient_data_not_a_default() -> None:
    e = estimate_compute(None, None)
    assert e.method == "insufficient_data"
    assert e.training_flop is None and e.cumulative_flop is None
    assert set(e.thresholds.values()) == {C.INSUFFICIENT_DATA}
    assert set(e.thresholds) == {"1e23", "1e25", "1e26"}
    assert any("training.compute_flop" in w for w in e.warnings)


def test_parameters_without_tokens_is_insufficient() -> None:
    e = est({"model": {"parameters": 7_000_000_000}})
    assert e.method == "insufficient_data" and e.training_flop is None


def test_planned_405b_run_from_the_manifest_alone() -> None:
    e = est({"model": {"parameters": 405_000_000_000}, "training": {"tokens": 15.6e12, "planned": True}})
    assert e.planned and e.method == "operation_count"
    assert e.training_flop is not None
    assert e.training_flop.central == pytest.approx(6 * 405e9 * 15.6e12)
    assert e.thresholds["1e25"] is C.CLEARLY_ABOVE
    assert e.thresholds["1e26"] is C.CLEARLY_BELOW
    assert any(a.provenance.field == "training.planned" for a in e.assumptions)


@pytest.mark.parametrize(
    ("name", "precision", "tflops"),
    [
        ("A100-80GB", "bf16", 312),
        ("a100 sxm4 40gb", "bf16", 312),
        ("H100 SXM5", "fp8", 1978.9),
        ("TPU v4", "bf16", 275),
        ("MI300X", "bf16", 1307.4),  # dense, not the 2,614.9 sparse figure
        ("Ascend 910C", "bf16", 800),
    ],
)
def test_accelerator_names_resolve_to_dense_peaks(name: str, precision: str, tflops: float) -> None:
    e = est({"training": {"hardware": {"accelerator": name, "gpu_hours": 1000, "precision": precision,
                                       "utilisation": 0.5}}})  # fmt: skip
    assert e.method == "hardware" and e.hardware_flop is not None
    assert e.hardware_flop.central == pytest.approx(1000 * 3600 * tflops * 1e12 * 0.5)


def test_declared_parameters_are_reported_even_without_tokens() -> None:
    e = est({"model": {"parameters": 46_700_000_000, "active_parameters": 12_900_000_000}})
    assert e.method == "insufficient_data" and e.parameters_used == 12_900_000_000
    assert est({}).parameters_used is None
