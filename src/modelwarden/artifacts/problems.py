"""What a reader raises when a file cannot be read (the caps that bound untrusted lengths: `limits`).

A reader raises `ArtifactProblem` for a problem that stops it (the file's tensors cannot be known);
problems that leave the rest readable are appended to `ArtifactInfo.problems` instead. The inspect
stage turns every `ArtifactProblem` into a `Problem` record naming the file and goes on with the
other files: one bad shard never hides the rest of a release.
"""

from __future__ import annotations

from typing import Literal

from modelwarden.errors import ArtifactError
from modelwarden.records import Problem


class ArtifactProblem(ArtifactError):
    """A file-level problem with a stable machine code (see `Problem.code`)."""

    def __init__(self, code: str, message: str, *, severity: str = "error") -> None:
        super().__init__(message)
        self.code = code
        self.severity = severity

    def to_problem(self, file: str) -> Problem:
        severity: Literal["error", "warning"] = "warning" if self.severity == "warning" else "error"
        return Problem(file=file, code=self.code, message=self.message, severity=severity)


def problem(file: str, code: str, message: str, *, warning: bool = False) -> Problem:
    return Problem(file=file, code=code, message=message, severity="warning" if warning else "error")
