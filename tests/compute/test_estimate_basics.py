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
