"""Threshold calls at and around the line, for strict (">", EU/US/CA/NY) and inclusive (">=", Korea) texts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelwarden.compute import one_third_rule, threshold_call
from modelwarden.model import Band, ThresholdCall

T = 1e25
C = ThresholdCall


def band(low: float, central: float | None = None, high: float | None = None) -> Band:
    central = low if central is None else central
    return Band(low=low, central=central, high=central if high is None else high)


@pytest.mark.parametrize(
    ("b", "strict", "inclusive"),
    [
        pytest.param(band(T), C.NEAR_BELOW, C.NEAR_ABOVE, id="exactly-on-the-line"),
        pytest.param(band(T * 1.0000001), C.NEAR_ABOVE, C.NEAR_ABOVE, id="just-above"),
        pytest.param(band(T * 0.9999999), C.NEAR_BELOW, C.NEAR_BELOW, id="just-below"),
        pytest.param(band(T * 2), C.NEAR_ABOVE, C.NEAR_ABOVE, id="twice-is-still-near"),
        pytest.param(band(T * 2.01), C.CLEARLY_ABOVE, C.CLEARLY_ABOVE, id="beyond-twice"),
        pytest.param(band(T / 2), C.NEAR_BELOW, C.NEAR_BELOW, id="half-is-still-near"),
        pytest.param(band(T / 2.01), C.CLEARLY_BELOW, C.CLEARLY_BELOW, id="below-half"),
        pytest.param(band(T * 0.8, T, T * 1.2), C.UNCERTAIN, C.UNCERTAIN, id="straddles"),
        pytest.param(band(T * 0.5, T * 0.8, T), C.NEAR_BELOW, C.UNCERTAIN, id="high-edge-on-the-line"),
        pytest.param(band(T, T * 1.5, T * 3), C.UNCERTAIN, C.NEAR_ABOVE, id="low-edge-on-the-line"),
        pytest.param(band(T * 3, T * 4, T * 9), C.CLEARLY_ABOVE, C.CLEARLY_ABOVE, id="wide-above"),
    ],
)
def test_threshold_call_boundaries(b: Band, strict: ThresholdCall, inclusive: ThresholdCall) -> None:
    assert threshold_call(b, T, inclusive=False) is strict
    assert threshold_call(b, T, inclusive=True) is inclusive


def test_no_band_is_insufficient_data() -> None:
    assert threshold_call(None, 1e26, inclusive=False) is C.INSUFFICIENT_DATA
    assert threshold_call(None, 1e26, inclusive=True) is C.INSUFFICIENT_DATA


@given(
    low=st.floats(min_value=1e18, max_value=1e28),
    spread=st.floats(min_value=1.0, max_value=10.0),
    threshold=st.sampled_from([1e23, 1e25, 1e26]),
)
def test_calls_agree_with_the_edges(low: float, spread: float, threshold: float) -> None:
    b = Band(low=low, central=low * spread**0.5, high=low * spread)
    for inclusive in (False, True):
        call = threshold_call(b, threshold, inclusive=inclusive)
        if call.crossed is True:
            assert b.low >= threshold
        elif call.crossed is False:
            assert b.high <= threshold
        else:
            assert b.low <= threshold <= b.high
        # Inclusive texts catch at least what strict ones catch.
        if threshold_call(b, threshold, inclusive=False).crossed is True:
            assert threshold_call(b, threshold, inclusive=True).crossed is True


def test_one_third_of_known_base_compute_is_strict() -> None:
    rule = one_third_rule(band(1e24), 3e24, None)
    assert rule.basis == "base_compute" and rule.threshold == pytest.approx(1e24)
    assert rule.call is C.NEAR_BELOW  # exactly one third does not exceed it
    assert one_third_rule(band(1.01e24), 3e24, True).call is C.NEAR_ABOVE


@pytest.mark.parametrize(
    ("risk", "basis", "threshold"),
    [(True, "fallback_systemic_risk", 1e25 / 3), (False, "fallback_not_systemic_risk", 1e23 / 3)],
)
def test_one_third_fallbacks_para_61(risk: bool, basis: str, threshold: float) -> None:
    rule = one_third_rule(band(1e24), None, risk)
    assert rule.basis == basis and rule.threshold == pytest.approx(threshold)
    assert rule.call is (C.CLEARLY_BELOW if risk else C.CLEARLY_ABOVE)


@pytest.mark.parametrize(
    ("modification", "call"),
    [
        (1e20, C.CLEARLY_BELOW),
        (1e26, C.CLEARLY_ABOVE),
        (1e24, C.INSUFFICIENT_DATA),
        (None, C.INSUFFICIENT_DATA),
    ],
)
def test_one_third_with_nothing_known_decides_only_when_both_fallbacks_agree(
    modification: float | None, call: ThresholdCall
) -> None:
    rule = one_third_rule(band(modification) if modification else None, None, None)
    assert rule.basis == "unknown" and rule.threshold is None
    assert rule.call is call
