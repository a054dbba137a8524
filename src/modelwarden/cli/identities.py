"""`modelwarden identities`: who may use the gateway, their verification state, tier, suspension,
strikes and the review queue."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from modelwarden.cli import _gateway_common as c
from modelwarden.cli import app, out
from modelwarden.untrusted.text import text

ids_app = typer.Typer(help="Gateway identities: verification, tiers, suspension, strikes, reviews.")
review_app = typer.Typer(help="The review queue: suspensions proposed by the misuse monitor.")
app.add_typer(ids_app, name="identities")
ids_app.add_typer(review_app, name="review")


def _show(rec: object, as_json: bool) -> None:
    from modelwarden.gateway.store import IdentityRecord

    assert isinstance(rec, IdentityRecord)
    if as_json:
        c.emit_json(rec)
        return
    c.table(
        rec.name,
        ["field", "value"],
        [
            ["id", rec.id],
            ["email", rec.email],
            ["status", rec.status + (f" ({rec.status_reason})" if rec.status_reason else "")],
            [
                "verification",
                rec.verification + (f" until {c.fmt_dt(rec.verified_until)}" if rec.verified_until else ""),
            ],
            ["evidence", rec.evidence_ref],
            ["agreement", rec.agreement_ref],
            ["tier (assigned)", rec.tier or "default"],
            ["tier (effective)", rec.effective_tier or "none: no access"],
            [
                "throttle",
                f"×{rec.throttle_factor} until {c.fmt_dt(rec.throttle_until)}" if rec.throttle_factor else "",
            ],
        ],
    )


@ids_app.command("create")
def create(
    name: str = typer.Argument(..., help="A unique name (person, team, organisation)."),
    email: str | None = typer.Option(None, "--email", help="Contact address (kept for the operator)."),
    tier: str | None = typer.Option(
        None, "--tier", help="Assigned tier (it applies once the identity qualifies)."
    ),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Create an identity (unverified)."""
    _, store = c.open_store(config, db)
    _show(store.create_identity(name, email=email, tier=tier), as_json)


@ids_app.command("list")
def list_(config: Path | None = c.ConfigOpt, db: str | None = c.DbOpt, as_json: bool = c.JsonOpt) -> None:
    """List identities with their effective tier."""
    _, store = c.open_store(config, db)
    rows = store.list_identities()
    if as_json:
        c.emit_json(rows)
        return
    c.table(
        "identities",
        ["id", "name", "status", "verification", "tier", "effective"],
        [[r.id, r.name, r.status, r.verification, r.tier or "", r.effective_tier or "none"] for r in rows],
    )


@ids_app.command("show")
def show(
    identity: str = typer.Argument(..., help="Identity id or name."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Show one identity."""
    _, store = c.open_store(config, db)
    _show(store.get_identity(identity), as_json)


@ids_app.command("verify")
def verify(
    identity: str = typer.Argument(..., help="Identity id or name."),
    evidence: str | None = typer.Option(
        None, "--evidence", help="Reference to the evidence (ticket, document id)."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Verification expiry: a date (YYYY-MM-DD) or a duration (365d)."
    ),
    state: str = typer.Option("verified", "--state", help="verified | pending | unverified"),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Record the identity's verification state (decides which tiers it qualifies for)."""
    if state not in ("verified", "pending", "unverified"):
        raise typer.BadParameter("--state must be verified, pending or unverified")
    st: Literal["unverified", "pending", "verified"] = state  # type: ignore[assignment]
    _, store = c.open_store(config, db)
    _show(store.set_verification(identity, st, until=c.parse_when(until), evidence=evidence), as_json)


@ids_app.command("set-tier")
def set_tier(
    identity: str = typer.Argument(..., help="Identity id or name."),
    tier: str = typer.Argument(..., help="Tier name, or `default`."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Assign a tier (it applies only while the identity meets the tier's requirements)."""
    _, store = c.open_store(config, db)
    _show(store.set_tier(identity, None if tier == "default" else tier), as_json)


@ids_app.command("agreement")
def agreement(
    identity: str = typer.Argument(..., help="Identity id or name."),
    reference: str | None = typer.Argument(None, help="Agreement reference; omit to clear."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Record (or clear) the identity's signed agreement (researcher tier)."""
    _, store = c.open_store(config, db)
    _show(store.set_agreement(identity, reference), as_json)


@ids_app.command("suspend")
def suspend(
    identity: str = typer.Argument(..., help="Identity id or name."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the audit log)."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Suspend an identity on every gateway instance (all its keys stop working)."""
    _, store = c.open_store(config, db)
    _show(store.suspend(identity, reason), as_json)


@ids_app.command("reinstate")
def reinstate(
    identity: str = typer.Argument(..., help="Identity id or name."),
    keep_strikes: bool = typer.Option(False, "--keep-strikes", help="Do not reset the strike score."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Lift a suspension or throttle."""
    _, store = c.open_store(config, db)
    _show(store.reinstate(identity, reset_strikes=not keep_strikes), as_json)


@ids_app.command("strikes")
def strikes(
    identity: str = typer.Argument(..., help="Identity id or name."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """The identity's current (decayed) strike score under its effective tier."""
    _, store = c.open_store(config, db)
    rec = store.get_identity(identity)
    tier = store.tiers.tiers.get(rec.effective_tier or store.tiers.default_tier)
    half = tier.escalation.half_life_hours if tier else 24.0
    score = store.strike_score(rec.id, half)
    ladder = [f"{s.action}@{s.at:g}" for s in tier.escalation.ladder] if tier else []
    if as_json:
        c.emit_json({"identity": rec.id, "score": score, "half_life_hours": half, "ladder": ladder})
    else:
        out.print(
            text(f"{rec.name}: strike score {score:.2f} (half-life {half:g} h; ladder {', '.join(ladder)})")
        )


@review_app.command("list")
def review_list(
    all_: bool = typer.Option(False, "--all", help="Include decided reviews."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Pending reviews (suspensions the monitor proposed but may not apply on its own)."""
    _, store = c.open_store(config, db)
    rows = store.list_reviews(None if all_ else "pending")
    if as_json:
        c.emit_json(rows)
        return
    c.table(
        "reviews",
        ["#", "identity", "status", "codes", "score", "reason", "opened"],
        [
            [
                r.id,
                r.identity_id,
                r.status,
                ",".join(r.codes),
                f"{r.score:.2f}",
                r.reason,
                c.fmt_dt(r.created_at),
            ]
            for r in rows
        ],
    )


def _decide(
    review_id: int, approve: bool, note: str | None, config: Path | None, db: str | None, as_json: bool
) -> None:
    _, store = c.open_store(config, db)
    rec = store.decide_review(review_id, approve=approve, note=note)
    if as_json:
        c.emit_json(rec)
    else:
        out.print(
            f"review {rec.id}: {rec.status}" + (" (identity suspended)" if approve else " (strikes cleared)")
        )


@review_app.command("approve")
def review_approve(
    review_id: int = typer.Argument(..., help="Review id (see `identities review list`)."),
    note: str | None = typer.Option(None, "--note", help="The operator's note (recorded in the audit log)."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Approve: suspend the identity."""
    _decide(review_id, True, note, config, db, as_json)


@review_app.command("dismiss")
def review_dismiss(
    review_id: int = typer.Argument(..., help="Review id (see `identities review list`)."),
    note: str | None = typer.Option(None, "--note", help="The operator's note (recorded in the audit log)."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Dismiss: no suspension; the identity's strikes are cleared."""
    _decide(review_id, False, note, config, db, as_json)
