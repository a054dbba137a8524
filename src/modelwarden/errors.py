"""Our own exceptions. Each carries a message written for the person at the terminal.

The CLI catches `ModelwardenError`, prints `message` (never a traceback) and exits with `exit_code`.
Library callers can catch the specific subclasses.
"""

from __future__ import annotations

from pathlib import Path


class ModelwardenError(Exception):
    """Base class: a problem we can explain to the user."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.message = f"{self.path}: {message}" if self.path else message
        super().__init__(self.message)


class UsageError(ModelwardenError):
    """The command line asks for something that cannot be done (bad option, missing path)."""


class ArtifactError(ModelwardenError):
    """A file could not be read as the format it claims or appears to be (truncated, corrupt, hostile)."""


class UnsupportedFormatError(ArtifactError):
    """No reader recognises the file's content."""


class ManifestError(ModelwardenError):
    """The release manifest (modelwarden.yaml) is missing a value, has a wrong type or an impossible one."""


class RulesError(ModelwardenError):
    """A rule file is malformed (bad YAML, unknown key, CEL that does not compile)."""


class RegistryError(ModelwardenError):
    """The registry database cannot be opened, migrated or written."""


class GatewayError(ModelwardenError):
    """Gateway configuration or administration problem."""
