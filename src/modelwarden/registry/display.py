"""Short human forms of registry values, shared by the CLI tables and the web dashboard."""

from __future__ import annotations

from modelwarden.model import Band, Severity, ThresholdCall
from modelwarden.registry.summary import LICENCE_CLASS_LABELS, LicenceClass

MOF_LABELS = {
    1: "Class I — open science",
    2: "Class II — open tooling",
    3: "Class III — open model",
}

CALL_LABELS = {
    ThresholdCall.CLEARLY_BELOW: "clearly below",
    ThresholdCall.NEAR_BELOW: "near, below",
    ThresholdCall.UNCERTAIN: "uncertain",
    ThresholdCall.NEAR_ABOVE: "near, above",
    ThresholdCall.CLEARLY_ABOVE: "clearly above",
    ThresholdCall.INSUFFICIENT_DATA: "insufficient data",
}


def count(value: int | None) -> str:
    """22713216 -> '22.7M'; exact figures are on the model page."""
    if value is None:
        return "—"
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return str(value)


def flop(value: float | None) -> str:
    if value is None:
        return "—"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def band(value: Band | None) -> str:
    if value is None:
        return "insufficient data"
    return f"{flop(value.central)} ({flop(value.low)}–{flop(value.high)})"


def mof(value: int | None) -> str:
    return MOF_LABELS.get(value or 0, "unclassified")


def licence_class(value: LicenceClass | str) -> str:
    return LICENCE_CLASS_LABELS[LicenceClass(value)]


def call(value: ThresholdCall | str | None) -> str:
    return CALL_LABELS[ThresholdCall(value)] if value is not None else "—"


def severity(value: Severity | None, findings: int = 0) -> str:
    if findings < 0:  # summary.NOT_SCANNED: no scan ran, which is not the same as no finding
        return "not scanned"
    if value is None:
        return "none"
    return f"{value.value} ({findings})" if findings else value.value
