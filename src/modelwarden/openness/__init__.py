"""Openness: what a release really opens — per-component evidence and framework verdicts."""

from modelwarden.openness.report import assess_openness

__all__ = ["assess_openness"]
