"""Threshold calls from a compute band, under a legal text's strictness (docs/reference/regulation.md §0, §8
note 4).

The EU AI Act, the former US EO 14110, California SB 53 and New York RAISE say "greater than"
(strict: a model at exactly 1e25 does not cross); Korea's AI Basic Act says "or more" (inclusive).
A line counts as crossed only if the band's low edge crosses it and as not crossed only if the high
edge does not (docs/reference/compute.md §6); "near" means the central figure is within a factor of 2 of the
line, which is how far operation-count and hardware estimates disagree in practice (docs/reference/compute.md
§0 item 6).
"""

from __future__ import annotations

from modelwarden.model import Band, ModifierRule, ThresholdCall

NEAR_FACTOR = 2.0

# Keys of ComputeEstimate.thresholds, and which band each is called on (docs/reference/regulation.md §1.11, §8
# note 1): 1e23 is the EU GPAI indicator on training compute; 1e25 (EU Art. 51(2)) and 1e26 (SB 53, RAISE,
# EO 14110, Korea) count cumulative compute.
DEFAULT_THRESHOLDS: dict[str, float] = {"1e23": 1e23, "1e25": 1e25, "1e26": 1e26}
CUMULATIVE_KEYS = frozenset({"1e25", "1e26"})

# EU Guidelines para 61: substitutes for one third of the original's compute when it is unknown.
SYSTEMIC_RISK_THRESHOLD = 1e25
GPAI_THRESHOLD = 1e23


def crosses(value: float, threshold: float, *, inclusive: bool) -> bool:
    """Whether `value` is past the line: `>=` when `inclusive`, else `>`."""
    return value >= threshold if inclusive else value > threshold


def threshold_call(band: Band | None, threshold: float, *, inclusive: bool) -> ThresholdCall:
    """Where the band lies relative to the line: `inclusive=False` for ">", True for ">="."""
    if band is None:
        return ThresholdCall.INSUFFICIENT_DATA
    if threshold <= 0:
        raise ValueError("threshold must be positive")
    # Which side: decided by the edges. How far: by the central figure, "by more than a factor 2" as in
    # docs/reference/compute_examples.md's legend (so a band whose high edge reaches within 2x of the line can
    # still be clearly below when its central figure is more than 2x away).
    if crosses(band.low, threshold, inclusive=inclusive):
        clearly = band.central > threshold * NEAR_FACTOR
        return ThresholdCall.CLEARLY_ABOVE if clearly else ThresholdCall.NEAR_ABOVE
    if not crosses(band.high, threshold, inclusive=inclusive):
        clearly = band.central < threshold / NEAR_FACTOR
        return ThresholdCall.CLEARLY_BELOW if clearly else ThresholdCall.NEAR_BELOW
    return ThresholdCall.UNCERTAIN


def one_third_rule(
    modification: Band | None, base_compute: float | None, base_systemic_risk: bool | None
) -> ModifierRule:
    """EU Guidelines paras 60-61 (docs/reference/regulation.md §1.4): does the modification exceed one third
    of the original model's training compute? Strict ">", as in the Guidelines."""
    if base_compute is not None and base_compute > 0:
        threshold = base_compute / 3
        return ModifierRule(
            threshold=threshold,
            basis="base_compute",
            call=threshold_call(modification, threshold, inclusive=False),
            explanation=f"one third of the base model's training compute {base_compute:.3g} FLOP "
            "(EU GPAI Guidelines para 60)",
        )
    if base_systemic_risk is not None:
        reference = SYSTEMIC_RISK_THRESHOLD if base_systemic_risk else GPAI_THRESHOLD
        threshold = reference / 3
        kind = "has" if base_systemic_risk else "does not have"
        return ModifierRule(
            threshold=threshold,
            basis="fallback_systemic_risk" if base_systemic_risk else "fallback_not_systemic_risk",
            call=threshold_call(modification, threshold, inclusive=False),
            explanation=f"base model compute unknown and the base {kind} systemic risk: one third of "
            f"{reference:.0e} FLOP (EU GPAI Guidelines para 61)",
        )
    # Neither the base's compute nor its risk status is known: decide only if both fallbacks agree.
    low = threshold_call(modification, GPAI_THRESHOLD / 3, inclusive=False)
    high = threshold_call(modification, SYSTEMIC_RISK_THRESHOLD / 3, inclusive=False)
    if modification is not None and high.crossed is True:
        call = high
    elif modification is not None and low.crossed is False:
        call = low
    else:
        call = ThresholdCall.INSUFFICIENT_DATA
    return ModifierRule(
        threshold=None,
        basis="unknown",
        call=call,
        explanation="base model compute and systemic-risk status unknown (state base_model.compute_flop "
        "or base_model.systemic_risk): the para 61 fallback is 1e25/3 for a systemic-risk base, "
        "1e23/3 otherwise; decided only where both give the same answer",
    )
