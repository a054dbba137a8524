"""Tiers as data: what an identity of a given trust level may do (data/tiers.yaml).

Reference: docs/reference/gateway.md §11.5 (tier fields and suggested defaults), §11.7 (fail policy per
category, after Cloudflare's guardrails), §11.9 (escalation ladder), §8 (identity verification decides access,
as in KYC schemes and OpenAI's verified organisations).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelwarden.errors import GatewayMisconfigured
from modelwarden.gateway.files import MAX_CONFIG_BYTES, parse_yaml, read_text
from modelwarden.gateway.hazards import codes, is_code

Action = Literal["block", "flag", "allow"]
FailPolicy = Literal["open", "closed"]
#: Categories the reference says to block for everyone (§11.5); a tier that does not is reported.
ALWAYS_BLOCK = ("S4", "S9")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Requirement(_Model):
    """What an identity must have for the tier to apply."""

    verification: Literal["none", "verified"] = "none"
    agreement: bool = False


class CategoryPolicy(_Model):
    action: Action
    threshold: float = Field(0.5, gt=0.0, le=1.0)
    fail: FailPolicy = "closed"


class ModerationPolicy(_Model):
    default: CategoryPolicy
    categories: dict[str, CategoryPolicy] = Field(default_factory=dict)

    @field_validator("categories")
    @classmethod
    def _known_codes(cls, value: dict[str, CategoryPolicy]) -> dict[str, CategoryPolicy]:
        unknown = sorted(c for c in value if not is_code(c))
        if unknown:
            raise ValueError(f"unknown hazard code(s) {unknown}; known: {', '.join(codes())}")
        return value

    def for_code(self, code: str) -> CategoryPolicy:
        return self.categories.get(code, self.default)


class LadderStep(_Model):
    at: float = Field(gt=0, description="strike score at which the step applies")
    action: Literal["warn", "throttle", "suspend"]
    factor: float | None = Field(None, gt=0, lt=1, description="throttle: fraction of the tier's limits")
    hours: float | None = Field(None, gt=0, description="throttle: how long")

    @model_validator(mode="after")
    def _throttle_fields(self) -> LadderStep:
        if self.action == "throttle" and (self.factor is None or self.hours is None):
            raise ValueError("a throttle step needs `factor` (0–1) and `hours`")
        return self


class StrikeWeights(_Model):
    block: float = Field(1.0, ge=0)
    flag: float = Field(0.25, ge=0)


class Escalation(_Model):
    half_life_hours: float = Field(24.0, gt=0)
    weights: StrikeWeights = StrikeWeights()
    ladder: tuple[LadderStep, ...] = ()
    auto_suspend_categories: tuple[str, ...] = ALWAYS_BLOCK

    @field_validator("ladder")
    @classmethod
    def _ordered(cls, value: tuple[LadderStep, ...]) -> tuple[LadderStep, ...]:
        ats = [s.at for s in value]
        if ats != sorted(ats) or len(set(ats)) != len(ats):
            raise ValueError("ladder steps must have strictly increasing `at`")
        return value

    @field_validator("auto_suspend_categories")
    @classmethod
    def _codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(c for c in value if not is_code(c))
        if unknown:
            raise ValueError(f"unknown hazard code(s) {unknown}")
        return value


class Tier(_Model):
    name: str = ""
    description: str = ""
    requires: Requirement = Requirement()
    fallback: str | None = None
    models: tuple[str, ...] = ("*",)
    max_tokens_cap: int = Field(gt=0)
    rpm: int = Field(ge=0, description="requests per minute; 0 = unlimited")
    tpm: int = Field(ge=0, description="tokens per minute (prompt estimate + max_tokens); 0 = unlimited")
    daily_tokens: int = Field(0, ge=0, description="tokens per UTC day; 0 = unlimited")
    stream_allowed: bool = True
    logprobs_allowed: bool = False
    log_level: Literal["hash", "text"] = "hash"
    moderation: ModerationPolicy
    escalation: Escalation = Escalation()

    def allows_model(self, model: str, tags: Iterable[str] = ()) -> bool:
        """Glob patterns match the model id; `@tag` matches models carrying that tag in gateway.yaml."""
        tagset = set(tags)
        for pattern in self.models:
            if pattern.startswith("@"):
                if pattern[1:] in tagset:
                    return True
            elif fnmatch.fnmatchcase(model, pattern):
                return True
        return False


class TierSet(_Model):
    version: Literal[1]
    default_tier: str
    tiers: dict[str, Tier]

    @model_validator(mode="after")
    def _links(self) -> TierSet:
        if self.default_tier not in self.tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not a tier")
        for name, tier in self.tiers.items():
            seen = {name}
            nxt = tier.fallback
            while nxt is not None:
                if nxt not in self.tiers:
                    raise ValueError(f"tier {name!r}: fallback {nxt!r} is not a tier")
                if nxt in seen:
                    raise ValueError(f"tier {name!r}: fallback chain loops through {nxt!r}")
                seen.add(nxt)
                nxt = self.tiers[nxt].fallback
        # Give every tier its own name so a Tier can travel alone.
        object.__setattr__(
            self, "tiers", {n: t.model_copy(update={"name": n}) for n, t in self.tiers.items()}
        )
        return self

    def warnings(self) -> list[str]:
        """Policy choices the reference advises against; `tiers check` prints them."""
        out = []
        for name, tier in self.tiers.items():
            for code in ALWAYS_BLOCK:
                if tier.moderation.for_code(code).action != "block":
                    out.append(
                        f"tier {name!r} does not block {code} "
                        "(docs/reference/gateway.md §11.5 blocks it for everyone)"
                    )
        return out

    def resolve(
        self,
        assigned: str | None,
        *,
        verified: bool,
        agreement: bool,
    ) -> Tier | None:
        """The tier an identity gets: its assigned tier if it qualifies, else down the fallback chain.

        Returns None when no tier in the chain is satisfied (the identity has no access).
        """
        name: str | None = assigned if assigned in self.tiers else self.default_tier
        while name is not None:
            tier = self.tiers[name]
            need = tier.requires
            if (need.verification == "none" or verified) and (not need.agreement or agreement):
                return tier
            name = tier.fallback
        return None


def is_verified(verification: str, verified_until: datetime | None, now: datetime | None = None) -> bool:
    if verification != "verified":
        return False
    if verified_until is None:
        return True
    now = now or datetime.now(UTC)
    if verified_until.tzinfo is None:
        verified_until = verified_until.replace(tzinfo=UTC)
    return verified_until > now


def _format_error(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"])
        parts.append(f"{loc}: {e['msg']}" if loc else e["msg"])
    return "; ".join(parts)


def parse_tiers(text: str, *, source: str) -> TierSet:
    raw = parse_yaml(text, source=source)
    if not isinstance(raw, dict):
        raise GatewayMisconfigured(
            "expected a mapping with `version`, `default_tier` and `tiers`", path=source
        )
    try:
        return TierSet.model_validate(raw)
    except ValidationError as exc:
        raise GatewayMisconfigured(f"invalid tiers: {_format_error(exc)}", path=source) from None


@cache
def default_tiers() -> TierSet:
    ref = resources.files("modelwarden.gateway").joinpath("data/tiers.yaml")
    return parse_tiers(ref.read_text("utf-8"), source="modelwarden/gateway/data/tiers.yaml")


def load_tiers(path: Path | None) -> TierSet:
    if path is None:
        return default_tiers()
    text = read_text(path, what="tiers file", limit=MAX_CONFIG_BYTES)
    return parse_tiers(text, source=str(path))
