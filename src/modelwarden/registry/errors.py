"""The registry's own errors (both are `RegistryError`s with a message for the user)."""

from __future__ import annotations

from modelwarden.errors import RegistryError


class AssessmentNotFound(RegistryError):
    """No assessment with that id (or no model with that name or id)."""


class InvalidAssessment(RegistryError):
    """An assessment the registry refuses to record: it could not be stored or read back faithfully."""
