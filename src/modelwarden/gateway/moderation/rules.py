"""The built-in offline rule classifier (data/rules.yaml): regular expressions per hazard code over
normalised text, plus a de-leeted pass and decoded base64 payloads. Pure CPU, microseconds per
short prompt, no model.

Reference: docs/reference/gateway.md §7.2 (deterministic rules as step 1 of the built-in cascade), §8 signal 3
(jailbreak templates, encoding tricks).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelwarden.errors import GatewayMisconfigured
from modelwarden.gateway.files import MAX_CONFIG_BYTES, parse_yaml, read_text
from modelwarden.gateway.hazards import codes, is_code
from modelwarden.gateway.moderation.base import Classification, Hit, Role

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_WS = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_B64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
#: Bound the work an adversarial input can cause: decode at most this many base64 runs.
_MAX_B64_RUNS = 8


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    code: str
    score: float = Field(gt=0, le=1)
    confidence: Literal["high", "normal"] = "normal"
    patterns: list[str] = Field(min_length=1)
    unless: list[str] = Field(default_factory=list)
    check: Literal["luhn"] | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not is_code(value):
            raise ValueError(f"unknown hazard code {value!r}")
        return value


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1]
    rules: list[RuleSpec]


@dataclass(frozen=True)
class Rule:
    spec: RuleSpec
    pattern: re.Pattern[str]
    unless: re.Pattern[str] | None


def normalise(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    text = _CONTROL.sub(" ", text.casefold())
    return _WS.sub(" ", text).strip()


def luhn_ok(digits: str) -> bool:
    nums = [int(c) for c in digits if c.isdigit()]
    if not 13 <= len(nums) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(nums)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _decoded_payloads(text: str) -> list[str]:
    out: list[str] = []
    for m in _B64.finditer(text):
        if len(out) >= _MAX_B64_RUNS:
            break
        run = m.group(0)
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        if decoded and sum(ch.isprintable() or ch.isspace() for ch in decoded) / len(decoded) > 0.95:
            out.append(decoded)
    return out


def compile_rules(text: str, *, source: str) -> list[Rule]:
    raw = parse_yaml(text, source=source)
    try:
        parsed = RuleFile.model_validate(raw)
    except ValidationError as exc:
        raise GatewayMisconfigured(f"invalid rule file: {exc}", path=source) from None
    out: list[Rule] = []
    for spec in parsed.rules:
        try:
            pattern = re.compile("|".join(f"(?:{p})" for p in spec.patterns))
            unless = re.compile("|".join(f"(?:{p})" for p in spec.unless)) if spec.unless else None
        except re.error as exc:
            raise GatewayMisconfigured(
                f"rule {spec.id}: bad regular expression: {exc}", path=source
            ) from None
        out.append(Rule(spec, pattern, unless))
    return out


@cache
def default_rules() -> tuple[Rule, ...]:
    ref = resources.files("modelwarden.gateway").joinpath("data/rules.yaml")
    return tuple(compile_rules(ref.read_text("utf-8"), source="modelwarden/gateway/data/rules.yaml"))


class RuleClassifier:
    """Implements the classifier interface; also callable synchronously (`classify_sync`)."""

    name = "rules"
    timeout_s = 1.0

    def __init__(self, rules: tuple[Rule, ...] | None = None, path: Path | None = None) -> None:
        if path is not None:
            text = read_text(path, what="rule file", limit=MAX_CONFIG_BYTES)
            self.rules: tuple[Rule, ...] = tuple(compile_rules(text, source=str(path)))
        else:
            self.rules = rules if rules is not None else default_rules()
        self.covers = frozenset(codes())

    def classify_sync(self, text: str, *, role: Role = "user") -> Classification:
        t0 = time.perf_counter()
        norm = normalise(text)
        variants = [norm]
        leet = norm.translate(_LEET)
        if leet != norm:
            variants.append(leet)
        encoded = _decoded_payloads(text)
        variants += [normalise(p) for p in encoded]
        scores: dict[str, float] = {}
        hits: list[Hit] = []
        for rule in self.rules:
            for i, v in enumerate(variants):
                m = rule.pattern.search(v)
                if m is None:
                    continue
                if rule.spec.check == "luhn" and not any(
                    luhn_ok(x.group(0)) for x in rule.pattern.finditer(v)
                ):
                    continue
                if rule.unless is not None and rule.unless.search(v):
                    continue
                s = rule.spec.score
                if s > scores.get(rule.spec.code, 0.0):
                    scores[rule.spec.code] = s
                hits.append(Hit(rule.spec.code, s, rule.spec.id, rule.spec.confidence))
                if i >= len(variants) - len(encoded) and encoded:
                    # A harmful request hidden in base64 is itself an evasion attempt.
                    scores["JB"] = max(scores.get("JB", 0.0), 0.75)
                    hits.append(Hit("JB", 0.75, "jb-encoded-payload"))
                break
        return Classification(
            self.name, self.covers, scores, hits, latency_ms=(time.perf_counter() - t0) * 1000
        )

    async def classify(self, text: str, *, role: Role, context: str | None = None) -> Classification:
        return self.classify_sync(text, role=role)

    async def close(self) -> None:
        return None
