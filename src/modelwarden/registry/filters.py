"""The filters shared by `modelwarden registry list`, the REST API and the dashboard.

One record validates them for all three front ends, so each rejects a bad value with the same message.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from modelwarden.model import Severity, ThresholdCall
from modelwarden.registry.summary import THRESHOLDS, LicenceClass

# "<threshold>:<call>", e.g. "1e25:clearly_above": one parameter, so that a schema can say exactly which
# values are valid (two coupled parameters cannot be described in OpenAPI).
THRESHOLD_PATTERN = "^({}):({})$".format(
    "|".join(THRESHOLDS).replace(".", r"\."), "|".join(c.value for c in ThresholdCall)
)


class MofFilter(StrEnum):
    """The MOF class filter: a class, or none reached."""

    CLASS_1 = "1"
    CLASS_2 = "2"
    CLASS_3 = "3"
    NONE = "none"  # no MOF class reached (or no openness report)


class SeverityFilter(StrEnum):
    """Worst finding at least this severe; `none`: no finding at all."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"
    NONE = "none"


class AttestedFilter(StrEnum):
    """Assessments with an attestation attached: `verified` (its latest check passed) or `any`."""

    VERIFIED = "verified"
    ANY = "any"


class Sort(StrEnum):
    """The orders a list can be sorted in."""

    NAME = "name"
    RECORDED = "recorded"  # most recent first
    PARAMETERS = "parameters"  # largest first
    COMPUTE = "compute"  # largest central training compute first


# No control characters (PostgreSQL text cannot hold NUL; none belongs in a name): said in the schema
# itself, so that API clients and generated tests know the rule.
TEXT = r"^[^\x00-\x1f\x7f]*$"


class Filters(BaseModel):
    """Which assessments a list shows (query parameters of the API and the dashboard)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: str | None = Field(
        default=None, max_length=200, pattern=TEXT, description="Model name contains (case-insensitive)."
    )
    name: str | None = Field(default=None, max_length=1000, pattern=TEXT, description="Exact model name.")
    licence: str | None = Field(
        default=None, max_length=200, pattern=TEXT, description="Licence id, e.g. apache-2.0."
    )
    licence_class: LicenceClass | None = Field(
        default=None, description="EU AI Act Art. 53(2) licence verdict of the openness stage."
    )
    mof_class: MofFilter | None = Field(default=None, description="Model Openness Framework class.")
    threshold: str | None = Field(
        default=None,
        pattern=THRESHOLD_PATTERN,
        description="Threshold call, `<threshold>:<call>`, e.g. `1e25:clearly_above` or `1e23:uncertain`.",
    )
    severity: SeverityFilter | None = Field(
        default=None, description="Worst scan finding at least this severe; `none`: no finding."
    )
    duty: str | None = Field(
        default=None,
        max_length=64,
        pattern=TEXT,
        description="Regime id under which obligations are in force, e.g. eu_ai_act.",
    )
    attested: AttestedFilter | None = Field(
        default=None,
        description="With an attestation attached: `verified` (against a trust anchor) or `any`.",
    )

    def threshold_call(self) -> tuple[str, ThresholdCall] | None:
        """The threshold filter split into its threshold and call; None when unset."""
        if self.threshold is None:
            return None
        name, call = self.threshold.split(":")
        return name, ThresholdCall(call)

    def active(self) -> dict[str, str]:
        """The filters that are set, as query parameters (for links that keep them)."""
        return {k: str(v.value if isinstance(v, StrEnum) else v) for k, v in self if v not in (None, "")}


def severity_rank(value: SeverityFilter) -> int | None:
    """The rank of a severity filter; None for "no findings"."""
    return None if value is SeverityFilter.NONE else Severity(value.value).rank
