"""One interface for every classifier (docs/reference/gateway.md §11.8) and the per-tier decision over their
results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from modelwarden.gateway.tiers import ModerationPolicy

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Hit:
    """Evidence for a score: which rule (or exemplar, or upstream label) fired."""

    code: str
    score: float
    rule: str
    confidence: Literal["high", "normal"] = "normal"


@dataclass
class Classification:
    classifier: str
    #: Codes this classifier evaluates. When it fails, these codes count as unevaluated.
    covers: frozenset[str]
    scores: dict[str, float] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    latency_ms: float = 0.0
    error: str | None = None


class Classifier(Protocol):
    name: str
    covers: frozenset[str]
    timeout_s: float

    async def classify(self, text: str, *, role: Role, context: str | None = None) -> Classification: ...

    async def close(self) -> None: ...


@dataclass
class Decision:
    action: Literal["allow", "flag", "block"]
    blocked: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    #: Codes that could not be evaluated and were blocked by their fail-closed policy.
    failed_closed: list[str] = field(default_factory=list)
    #: Codes that could not be evaluated and were let through by their fail-open policy.
    failed_open: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    #: Codes with a score from a rule marked high-confidence (may suspend without review, §8).
    high_confidence: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    classifiers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return sorted(set(self.blocked) | set(self.flagged) | set(self.failed_closed), key=_code_order)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "blocked": self.blocked,
            "flagged": self.flagged,
            "failed_closed": self.failed_closed,
            "failed_open": self.failed_open,
            "scores": {k: round(v, 4) for k, v in self.scores.items() if v > 0},
            "rules": self.rules,
            "classifiers": self.classifiers,
        }


def _code_order(code: str) -> tuple[int, str]:
    return (int(code[1:]), code) if code[1:].isdigit() else (99, code)


ALLOW = Decision("allow")


def decide(policy: ModerationPolicy, results: list[Classification]) -> Decision:
    """Apply a tier's per-category action, threshold and fail policy to the classifiers' results."""
    if all(not r.scores and r.error is None for r in results):
        # The common case: nothing scored, nothing failed.
        return Decision(
            "allow",
            classifiers=[{"name": r.classifier, "latency_ms": round(r.latency_ms, 3)} for r in results],
        )
    scores: dict[str, float] = {}
    high: set[str] = set()
    rules: list[str] = []
    unevaluated: set[str] = set()
    for res in results:
        if res.error is not None:
            unevaluated |= res.covers
            continue
        for code, s in res.scores.items():
            if s > scores.get(code, 0.0):
                scores[code] = s
        for h in res.hits:
            rules.append(f"{res.classifier}:{h.rule}")
            if h.confidence == "high":
                high.add(h.code)
    d = Decision("allow", scores=scores, rules=sorted(set(rules)))
    d.classifiers = [
        {
            "name": r.classifier,
            "latency_ms": round(r.latency_ms, 3),
            **({"error": r.error} if r.error else {}),
        }
        for r in results
    ]
    for code in sorted(set(scores) | unevaluated, key=_code_order):
        pol = policy.for_code(code)
        if pol.action == "allow":
            continue
        s = scores.get(code, 0.0)
        if s >= pol.threshold:
            (d.blocked if pol.action == "block" else d.flagged).append(code)
        elif code in unevaluated:
            (d.failed_closed if pol.fail == "closed" else d.failed_open).append(code)
    d.high_confidence = sorted(high & set(d.blocked), key=_code_order)
    if d.blocked or d.failed_closed:
        d.action = "block"
    elif d.flagged:
        d.action = "flag"
    return d
