"""Misuse monitor: per-identity strikes with decay and the warn → throttle → suspend ladder.

Reference: docs/reference/gateway.md §8 (providers warn, throttle and suspend repeat violators; escalation is
automatic only up to throttle, suspension needs a human unless the rule is high-confidence and
high-severity, e.g. S4, S9), §11.9 (decaying counters, ladder as data per tier, a review queue,
strikes belong to the identity so a new key does not reset them).

Strikes: every blocked request adds the tier's `weights.block`, every flagged one `weights.flag`.
The score halves every `half_life_hours`. Crossing a ladder step applies it once (a score within
0.01 of a step counts as reaching it); a score that decays below a step and rises again crosses it
again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from modelwarden.gateway.moderation.base import Decision
from modelwarden.gateway.schema import identities, reviews, strikes
from modelwarden.gateway.store import Store, decayed
from modelwarden.gateway.tiers import Tier

ACTOR = "system:misuse-monitor"
EPS = 0.01


@dataclass
class StrikeOutcome:
    score: float = 0.0
    actions: list[str] = field(default_factory=list)
    warning: str | None = None


def strike_weight(tier: Tier, decision: Decision) -> float:
    if decision.action == "block":
        return tier.escalation.weights.block
    if decision.action == "flag":
        return tier.escalation.weights.flag
    return 0.0


class MisuseMonitor:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(
        self, identity_id: str, tier: Tier, decision: Decision, *, seq: int | None = None
    ) -> StrikeOutcome:
        weight = strike_weight(tier, decision)
        if weight <= 0:
            return StrikeOutcome()
        return await asyncio.to_thread(self.apply, identity_id, tier, weight, decision, seq)

    def apply(
        self, identity_id: str, tier: Tier, weight: float, decision: Decision, seq: int | None = None
    ) -> StrikeOutcome:
        esc = tier.escalation
        out = StrikeOutcome()
        codes = decision.codes
        now = time.time()
        with self.store.transaction() as tx:
            conn = tx.conn
            row = conn.execute(
                sa.select(strikes).where(strikes.c.identity_id == identity_id).with_for_update()
            ).first()
            old = decayed(row.score, row.updated_at, now, esc.half_life_hours) if row else 0.0
            new = old + weight
            out.score = new
            # EPS: two strikes a few seconds apart have decayed by a hair; they still reach a step of 2.
            crossed = [s for s in esc.ladder if old + EPS < s.at <= new + EPS]
            level = row.level if row else "none"
            evidence: dict[str, Any] = {
                "score": round(new, 3),
                "codes": codes,
                "tier": tier.name,
                "request_seq": seq,
            }
            for step in crossed:
                level = step.action
                if step.action == "warn":
                    out.actions.append("warn")
                    out.warning = (
                        f"strike score {new:.2f} reached {step.at:g}: "
                        "further violations will restrict this identity"
                    )
                    tx.log(ACTOR, "misuse.warn", identity_id, evidence)
                elif step.action == "throttle":
                    assert step.factor is not None and step.hours is not None
                    until = datetime.now(UTC) + timedelta(hours=step.hours)
                    conn.execute(
                        sa.update(identities)
                        .where(identities.c.id == identity_id)
                        .values(
                            throttle_factor=step.factor, throttle_until=until, updated_at=datetime.now(UTC)
                        )
                    )
                    out.actions.append("throttle")
                    out.warning = f"identity throttled to {step.factor:g}× its limits for {step.hours:g} h"
                    tx.log(
                        ACTOR,
                        "misuse.throttle",
                        identity_id,
                        {**evidence, "factor": step.factor, "until": until.isoformat()},
                    )
                    tx.bump = True
                elif step.action == "suspend":
                    auto = set(decision.high_confidence) & set(esc.auto_suspend_categories)
                    if auto:
                        reason = (
                            f"automatic: high-confidence {', '.join(sorted(auto))} (strike score {new:.2f})"
                        )
                        conn.execute(
                            sa.update(identities)
                            .where(identities.c.id == identity_id)
                            .values(status="suspended", status_reason=reason, updated_at=datetime.now(UTC))
                        )
                        out.actions.append("suspend")
                        out.warning = "identity suspended"
                        tx.log(
                            ACTOR,
                            "identity.suspend",
                            identity_id,
                            {**evidence, "reason": reason, "automatic": True},
                        )
                        tx.bump = True
                    else:
                        pending = conn.execute(
                            sa.select(reviews.c.id).where(
                                reviews.c.identity_id == identity_id, reviews.c.status == "pending"
                            )
                        ).first()
                        if pending is None:
                            reason = f"strike score {new:.2f} reached the suspend step ({step.at:g})"
                            rid = conn.execute(
                                sa.insert(reviews).values(
                                    identity_id=identity_id,
                                    created_at=datetime.now(UTC),
                                    reason=reason,
                                    codes=",".join(codes),
                                    score=new,
                                )
                            ).inserted_primary_key
                            out.actions.append("review")
                            out.warning = "identity referred for review; it may be suspended"
                            tx.log(
                                ACTOR,
                                "review.open",
                                identity_id,
                                {**evidence, "review": rid[0] if rid else None},
                            )
                        level = "review"
            values = {"score": new, "updated_at": now, "level": level}
            if row is None:
                conn.execute(sa.insert(strikes).values(identity_id=identity_id, **values))
            else:
                conn.execute(sa.update(strikes).where(strikes.c.identity_id == identity_id).values(**values))
        return out
