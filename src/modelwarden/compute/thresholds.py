"""Where a compute band stands against a legal threshold (compute.md §0.6 and §6).

The band's edges decide whether the line is crossed — strictly ("greater than": EU, US, California,
New York) or inclusively ("or more": Korea) — and the central value how far: a factor of two separates
"near" from "clearly", the spread seen between 6ND and hardware estimates in practice.
"""

from __future__ import annotations

from modelwarden.model import Band, ThresholdCall

MARGIN = 2.0


def threshold_call(band: Band | None, threshold: float, *, inclusive: bool) -> ThresholdCall:
    if band is None:
        return ThresholdCall.INSUFFICIENT_DATA

    def above(x: float) -> bool:
        return x >= threshold if inclusive else x > threshold

    if above(band.low):
        return ThresholdCall.CLEARLY_ABOVE if band.central >= threshold * MARGIN else ThresholdCall.NEAR_ABOVE
    if not above(band.high):
        return ThresholdCall.CLEARLY_BELOW if band.central < threshold / MARGIN else ThresholdCall.NEAR_BELOW
    return ThresholdCall.UNCERTAIN
