"""The scan's records, importable without pydantic (re-exported by modelwarden.model).

`modelwarden scan` runs as a short command in CI and pre-commit hooks, where interpreter start-up is
most of its wall time: importing pydantic and building the model classes took longer than scanning a
1,000-tensor checkpoint (docs/scan.md "Where the time goes"). These records are therefore standard-library
dataclasses with the part of the pydantic `BaseModel` interface the project uses on them
(`model_dump`, `model_copy`, `model_validate`); pydantic itself validates and serialises them where
they are fields of pydantic records (`Assessment.scan`, `ModelFacts.problems`), with unknown fields
rejected as on every other record (`__pydantic_config__`). Only `model_validate` imports pydantic.

Fields are keyword-only, as on pydantic records. Constructing one directly converts enum fields
given as their string values (as pydantic did) and rejects unknown values; other field types are
checked by mypy, not at run time.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal, Self


class _Record:
    """The pydantic-style methods shared by the records below (all dataclasses)."""

    # Read by pydantic when one of these is a field of a pydantic model: refuse unknown keys, like
    # modelwarden.model.Record.
    # Field docstrings become descriptions in the JSON Schema and OpenAPI documents of the records.
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid", "use_attribute_docstrings": True}

    def model_dump(
        self, *, mode: Literal["python", "json"] = "python", exclude_none: bool = False
    ) -> dict[str, Any]:
        """The fields as a dict, nested records as dicts; `mode="json"` gives enum members as their
        values (what pydantic's `model_dump` returns for the same record)."""
        out = _dump(self, mode == "json", exclude_none)
        assert isinstance(out, dict)
        return out

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A shallow copy with the fields in `update` replaced (not validated, as in pydantic)."""
        return dataclasses.replace(self, **(update or {}))  # type: ignore[type-var]

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        """`obj` (a dict, e.g. parsed JSON) validated into this record by pydantic: wrong types and
        unknown fields raise `pydantic.ValidationError`."""
        from pydantic import TypeAdapter

        return TypeAdapter(cls).validate_python(obj)


def _dump(value: Any, json_mode: bool, exclude_none: bool) -> Any:
    if isinstance(value, _Record):
        out = {}
        for f in dataclasses.fields(value):  # type: ignore[arg-type]
            v = getattr(value, f.name)
            if v is None and exclude_none:
                continue
            out[f.name] = _dump(v, json_mode, exclude_none)
        return out
    if isinstance(value, list):
        return [_dump(v, json_mode, exclude_none) for v in value]
    if json_mode and isinstance(value, enum.Enum):
        return value.value
    return value


# ---------------------------------------------------------------------------------------------------
# Problems and formats (shared with inspect)
# ---------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Problem(_Record):
    """A file that could not be (fully) read. Reported, never raised past the stage that found it."""

    file: str
    """The file, relative to the release or scan root."""
    code: str
    """Stable machine id: "truncated", "header_too_large", "invalid_json", ..."""
    message: str
    """User-facing, names the problem precisely."""
    severity: Literal["error", "warning"] = "error"
    """Error: the file (or part of it) could not be read; warning: read, with a caveat."""

    def __post_init__(self) -> None:
        if self.severity not in ("error", "warning"):
            raise ValueError(f"Problem.severity must be 'error' or 'warning', not {self.severity!r}")


class ArtifactFormat(StrEnum):
    """A file format, as detected from content."""

    SAFETENSORS = "safetensors"
    SAFETENSORS_INDEX = "safetensors_index"
    GGUF = "gguf"
    TORCH_ZIP = "torch_zip"
    TORCH_LEGACY = "torch_legacy"
    TORCHSCRIPT = "torchscript"
    PICKLE = "pickle"
    JOBLIB = "joblib"
    ONNX = "onnx"
    KERAS = "keras"  # Keras 3 .keras zip
    KERAS_H5 = "keras_h5"  # legacy HDF5 with model_config
    HDF5 = "hdf5"  # HDF5 without a Keras model_config (e.g. model.weights.h5)
    NPY = "npy"
    NPZ = "npz"
    SAVEDMODEL = "savedmodel"
    ZIP = "zip"  # a zip that is none of the above
    JSON = "json"
    TEXT = "text"
    UNKNOWN = "unknown"


# ---------------------------------------------------------------------------------------------------
# Scan
# ---------------------------------------------------------------------------------------------------


class Severity(StrEnum):
    """How serious a finding is; `--fail-on` compares against it."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Order for comparisons: info 0 … critical 4."""
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        """Whether this severity is `other` or more serious."""
        return self.rank >= other.rank


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


@dataclass(kw_only=True)
class Location(_Record):
    """Where in a file a finding is."""

    entry: str | None = None
    """Zip entry / archive member / HDF5 attribute; nested parts joined by " > "."""
    offset: int | None = None
    """Byte offset in the file (or in the entry when `entry` is set)."""
    opcode_index: int | None = None
    """N-th pickle opcode."""
    pointer: str | None = None
    """JSON pointer into a config (e.g. /config/layers/3)."""

    def describe(self) -> str:
        """One line for humans: `archive/data.pkl (byte 57, opcode 12)`."""
        parts = [self.entry] if self.entry else []
        if self.pointer:
            parts.append(self.pointer)
        at = []
        if self.offset is not None:
            at.append(f"byte {self.offset}")
        if self.opcode_index is not None:
            at.append(f"opcode {self.opcode_index}")
        if at:
            parts.append("(" + ", ".join(at) + ")")
        return " ".join(parts)


@dataclass(kw_only=True)
class Finding(_Record):
    """One thing the scan found in one file."""

    rule_id: str
    """Stable: "pickle.dangerous-import", "zip.path-traversal", ..."""
    severity: Severity
    """The rule's severity, or the policy's for this finding."""
    file: str
    """The file, relative to the scan root."""
    location: Location = field(default_factory=Location)
    """Where in the file."""
    message: str
    """What was found, for humans."""
    evidence: str | None = None
    """E.g. the resolved import "os.system"."""

    def __post_init__(self) -> None:
        self.severity = Severity(self.severity)


@dataclass(kw_only=True)
class ScannedFile(_Record):
    """One file the scan read."""

    path: str
    """Path relative to the scan root."""
    format: ArtifactFormat
    """The primary format it was analysed as."""
    size: int
    """Size in bytes."""
    sha256: str | None = None
    """SHA-256 of the file, unless hashing was turned off."""
    also_scanned_as: list[ArtifactFormat] = field(default_factory=list)
    """Polyglots: every other format it parses as."""

    def __post_init__(self) -> None:
        self.format = ArtifactFormat(self.format)
        self.also_scanned_as = [ArtifactFormat(f) for f in self.also_scanned_as]


@dataclass(kw_only=True)
class ScanReport(_Record):
    """What `scan_paths` returns: the files read, what was found in them and what could not be read."""

    files: list[ScannedFile] = field(default_factory=list)
    """Every file read."""
    findings: list[Finding] = field(default_factory=list)
    """What was found."""
    problems: list[Problem] = field(default_factory=list)
    """Files or parts that could not be read."""
    tool_version: str | None = None
    """The modelwarden version that scanned."""
    duration_seconds: float | None = None
    """Wall time of the scan."""

    def counts(self) -> dict[Severity, int]:
        """Findings per severity, every severity present (zero when none), most severe first."""
        counts = {s: 0 for s in sorted(Severity, key=lambda s: -s.rank)}
        for f in self.findings:
            counts[f.severity] += 1
        return counts

    def max_severity(self) -> Severity | None:
        """The most serious finding's severity; None when nothing was found."""
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)

    def at_or_above(self, threshold: Severity) -> list[Finding]:
        """The findings at `threshold` or more serious."""
        return [f for f in self.findings if f.severity.at_least(threshold)]


__all__ = ["ArtifactFormat", "Finding", "Location", "Problem", "ScanReport", "ScannedFile", "Severity"]
