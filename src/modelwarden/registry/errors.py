"""The registry's own errors, defined with every other public exception in `modelwarden.errors`."""

from __future__ import annotations

from modelwarden.errors import AssessmentNotFound, InvalidAssessment

__all__ = ["AssessmentNotFound", "InvalidAssessment"]
