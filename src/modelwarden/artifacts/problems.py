"""What a reader raises when a file cannot be read, and the caps that bound untrusted lengths.

A reader raises `ArtifactProblem` for a problem that stops it (the file's tensors cannot be known);
problems that leave the rest readable are appended to `ArtifactInfo.problems` instead. The inspect
stage turns every `ArtifactProblem` into a `Problem` record naming the file and goes on with the
other files: one bad shard never hides the rest of a release.
"""

from __future__ import annotations

from typing import Literal

from modelwarden.errors import ArtifactError
from modelwarden.records import Problem

# Caps on lengths an untrusted file declares, checked before anything is allocated.
SAFETENSORS_MAX_HEADER = 100_000_000  # the reference implementation's own cap (formats.md)
JSON_MAX_BYTES = 64 * 1024 * 1024  # config / index / tokenizer JSON (DeepSeek-V3's index is ~9 MB)
CARD_MAX_BYTES = 8 * 1024 * 1024  # README.md model cards
TEXT_MAX_BYTES = 4 * 1024 * 1024  # LICENSE / USE_POLICY texts
PICKLE_MAX_BYTES = 512 * 1024 * 1024  # a checkpoint's data.pkl (object graph, not tensor data)
# Tensors read from one file: 2.5x the most a real checkpoint file holds (~100k; DeepSeek-V3 has ~92k
# in all its 163 shards). Each tensor costs ~2 KB through inspect (JSON entry, TensorInfo, facts), so
# the cap bounds a file's cost at ~0.5 GB; at 2,000,000 a 77 MB safetensors header of 1.3M tiny
# tensors took 2.5 GB and 25 s.
MAX_TENSORS = 250_000
MAX_DIMS = 32
ZIP_MAX_RATIO = 200  # declared/compressed size ratio above which a zip entry is treated as a bomb
ZIP_BOMB_MIN_BYTES = 64 * 1024 * 1024  # ...when it would also expand beyond this


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
