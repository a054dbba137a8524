"""Identities, keys, the revocation epoch, strikes and the review queue: the gateway's admin state.

Every change is one transaction that also appends its audit entry (so the log and the state cannot
disagree) and, when it changes who may do what, bumps the revocation epoch that every gateway
instance compares on each request (docs/reference/gateway.md §11.3). Used by the CLI, the admin API and, in
threads, by the proxy itself (key loading, strikes).
"""

from __future__ import annotations

import getpass
import json
import math
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Connection, Engine

from modelwarden.errors import (
    GatewayConflict,
    GatewayInvalid,
    GatewayNotFound,
    GatewayUnavailable,
)
from modelwarden.gateway import keys as keymod
from modelwarden.gateway.audit import AnchorFile, CheckpointPolicy, Entry, append_entries
from modelwarden.gateway.schema import identities, keys, reviews, state, strikes
from modelwarden.gateway.signing import Signer
from modelwarden.gateway.tiers import TierSet, is_verified

Verification = Literal["unverified", "pending", "verified"]
EPOCH = "revocation_epoch"


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema; a database that cannot be opened (not a SQLite file, a server
    that does not answer, a schema from a newer release) is one clear error, not a traceback."""
    from alembic.util import CommandError

    from modelwarden import migrations

    try:
        migrations.upgrade(engine)
    except (sa.exc.SQLAlchemyError, CommandError) as exc:
        orig = getattr(exc, "orig", None)
        lines = str(orig if orig is not None else exc).strip().splitlines()
        url = engine.url.render_as_string(hide_password=True)
        raise GatewayUnavailable(
            f"cannot open the database at {url}: {lines[0] if lines else type(exc).__name__}"
        ) from None


def utc(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


class IdentityRecord(BaseModel):
    id: str
    name: str
    email: str | None
    tier: str | None
    effective_tier: str | None
    verification: str
    verified_until: datetime | None
    evidence_ref: str | None
    agreement_ref: str | None
    status: str
    status_reason: str | None
    throttle_factor: float | None
    throttle_until: datetime | None
    created_at: datetime
    updated_at: datetime


class KeyRecord(BaseModel):
    id: str
    identity_id: str
    name: str | None
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None
    rotated_from: str | None


class ReviewRecord(BaseModel):
    id: int
    identity_id: str
    created_at: datetime
    reason: str
    codes: list[str]
    score: float
    status: str
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class Principal:
    """What the proxy needs to know about a key, loaded once per key per revocation epoch."""

    key_id: str
    key_digest: bytes
    key_expires_at: float | None
    key_revoked: bool
    identity_id: str
    identity_name: str
    status: str
    tier: str | None
    verification: str
    verified_until: datetime | None
    agreement: bool
    throttle_factor: float | None
    throttle_until: float | None


def _ts(dt: datetime | None) -> float | None:
    dt = utc(dt)
    return dt.timestamp() if dt else None


class Store:
    def __init__(
        self,
        engine: Engine,
        tiers: TierSet,
        *,
        signer: Signer | None = None,
        anchor: AnchorFile | None = None,
        on_epoch_bump: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.tiers = tiers
        self.signer = signer
        self.anchor = anchor
        self.on_epoch_bump = on_epoch_bump

    # --- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        tx = _Tx()
        with self.engine.begin() as conn:
            tx.conn = conn
            yield tx
            if tx.entries:
                res = append_entries(conn, tx.entries, signer=self.signer, policy=CheckpointPolicy())
                tx.seqs = list(range(res.first_seq, res.last_seq + 1))
                tx.checkpoint = res.checkpoint
            if tx.bump:
                conn.execute(sa.update(state).where(state.c.name == EPOCH).values(value=state.c.value + 1))
        if tx.checkpoint and self.anchor:
            self.anchor.write(tx.checkpoint)
        if tx.bump and self.on_epoch_bump:
            self.on_epoch_bump()

    def epoch(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(state.c.value).where(state.c.name == EPOCH)).scalar_one())

    # --- identities -----------------------------------------------------------------------------

    def _identity_row(self, conn: Connection, ref: str) -> Any:
        row = conn.execute(
            sa.select(identities).where(sa.or_(identities.c.id == ref, identities.c.name == ref))
        ).first()
        if row is None:
            raise GatewayNotFound(
                f"no identity {ref!r}", next_step="give the id or the name of an existing identity"
            )
        return row

    def _record(self, row: Any) -> IdentityRecord:
        tier = self.tiers.resolve(
            row.tier,
            verified=is_verified(row.verification, utc(row.verified_until)),
            agreement=bool(row.agreement_ref),
        )
        return IdentityRecord(
            id=row.id,
            name=row.name,
            email=row.email,
            tier=row.tier,
            effective_tier=tier.name if tier else None,
            verification=row.verification,
            verified_until=utc(row.verified_until),
            evidence_ref=row.evidence_ref,
            agreement_ref=row.agreement_ref,
            status=row.status,
            status_reason=row.status_reason,
            throttle_factor=row.throttle_factor,
            throttle_until=utc(row.throttle_until),
            created_at=utc(row.created_at) or now(),
            updated_at=utc(row.updated_at) or now(),
        )

    def get_identity(self, ref: str) -> IdentityRecord:
        with self.engine.connect() as conn:
            return self._record(self._identity_row(conn, ref))

    def list_identities(self) -> list[IdentityRecord]:
        with self.engine.connect() as conn:
            return [
                self._record(r) for r in conn.execute(sa.select(identities).order_by(identities.c.created_at))
            ]

    def create_identity(
        self, name: str, *, email: str | None = None, tier: str | None = None, actor: str | None = None
    ) -> IdentityRecord:
        name = name.strip()
        if not name or len(name) > 200:
            raise GatewayInvalid("an identity name must be 1–200 characters")
        if tier is not None and tier not in self.tiers.tiers:
            raise GatewayInvalid(
                f"unknown tier {tier!r}", next_step=f"choose one of the tiers: {', '.join(self.tiers.tiers)}"
            )
        ident = "id_" + secrets.token_hex(6)
        t = now()
        with self._tx() as tx:
            if tx.conn.execute(sa.select(identities.c.id).where(identities.c.name == name)).first():
                raise GatewayConflict(
                    f"an identity named {name!r} already exists", next_step="choose another name"
                )
            tx.conn.execute(
                sa.insert(identities).values(
                    id=ident, name=name, email=email, tier=tier, created_at=t, updated_at=t
                )
            )
            tx.log(actor, "identity.create", ident, {"name": name, "email": email, "tier": tier})
        return self.get_identity(ident)

    def _update_identity(
        self,
        ref: str,
        action: str,
        actor: str | None,
        values: dict[str, Any],
        body: dict[str, Any],
        bump: bool,
    ) -> IdentityRecord:
        with self._tx() as tx:
            row = self._identity_row(tx.conn, ref)
            tx.conn.execute(
                sa.update(identities).where(identities.c.id == row.id).values(updated_at=now(), **values)
            )
            tx.log(actor, action, row.id, body)
            tx.bump = bump
        return self.get_identity(row.id)

    def set_verification(
        self,
        ref: str,
        verification: Verification,
        *,
        until: datetime | None = None,
        evidence: str | None = None,
        actor: str | None = None,
    ) -> IdentityRecord:
        if verification == "verified" and not evidence:
            raise GatewayInvalid(
                "verifying an identity needs an evidence reference",
                next_step="give the reference of the document that proves the identity",
            )
        values = {
            "verification": verification,
            "verified_until": until if verification == "verified" else None,
            "evidence_ref": evidence,
        }
        body = {
            "verification": verification,
            "until": until.isoformat() if until else None,
            "evidence": evidence,
        }
        return self._update_identity(ref, "identity.verification", actor, values, body, bump=True)

    def set_tier(self, ref: str, tier: str | None, *, actor: str | None = None) -> IdentityRecord:
        if tier is not None and tier not in self.tiers.tiers:
            raise GatewayInvalid(
                f"unknown tier {tier!r}", next_step=f"choose one of the tiers: {', '.join(self.tiers.tiers)}"
            )
        return self._update_identity(ref, "identity.tier", actor, {"tier": tier}, {"tier": tier}, bump=True)

    def set_agreement(self, ref: str, agreement: str | None, *, actor: str | None = None) -> IdentityRecord:
        return self._update_identity(
            ref,
            "identity.agreement",
            actor,
            {"agreement_ref": agreement},
            {"agreement": agreement},
            bump=True,
        )

    def suspend(self, ref: str, reason: str, *, actor: str | None = None) -> IdentityRecord:
        return self._update_identity(
            ref,
            "identity.suspend",
            actor,
            {"status": "suspended", "status_reason": reason},
            {"reason": reason},
            bump=True,
        )

    def reinstate(self, ref: str, *, actor: str | None = None, reset_strikes: bool = True) -> IdentityRecord:
        with self._tx() as tx:
            row = self._identity_row(tx.conn, ref)
            tx.conn.execute(
                sa.update(identities)
                .where(identities.c.id == row.id)
                .values(
                    status="active",
                    status_reason=None,
                    throttle_factor=None,
                    throttle_until=None,
                    updated_at=now(),
                )
            )
            if reset_strikes:
                tx.conn.execute(sa.delete(strikes).where(strikes.c.identity_id == row.id))
            tx.log(actor, "identity.reinstate", row.id, {"reset_strikes": reset_strikes})
            tx.bump = True
        return self.get_identity(row.id)

    # --- keys -----------------------------------------------------------------------------------

    def create_key(
        self,
        identity_ref: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        actor: str | None = None,
        rotated_from: str | None = None,
    ) -> tuple[KeyRecord, str]:
        """Returns the record and the full key, which is never stored and cannot be shown again."""
        key_id, full, dig = keymod.new_key()
        t = now()
        if expires_at is not None and utc(expires_at) <= t:  # type: ignore[operator]
            raise GatewayInvalid("the expiry is in the past", next_step="give a future date or a duration")
        with self._tx() as tx:
            ident = self._identity_row(tx.conn, identity_ref)
            tx.conn.execute(
                sa.insert(keys).values(
                    id=key_id,
                    identity_id=ident.id,
                    secret_hash=dig,
                    name=name,
                    created_at=t,
                    expires_at=expires_at,
                    rotated_from=rotated_from,
                )
            )
            tx.log(
                actor,
                "key.create",
                ident.id,
                {
                    "key_id": keymod.display_id(key_id),
                    "name": name,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                    "rotated_from": keymod.display_id(rotated_from) if rotated_from else None,
                },
            )
            # A key created after a key cache miss was recorded must be seen: bump.
            tx.bump = True
        return self.get_key(key_id), full

    def _key_record(self, row: Any) -> KeyRecord:
        t = now()
        exp = utc(row.expires_at)
        st: Literal["active", "expired", "revoked"] = (
            "revoked" if row.revoked_at else ("expired" if exp is not None and exp <= t else "active")
        )
        return KeyRecord(
            id=keymod.display_id(row.id),
            identity_id=row.identity_id,
            name=row.name,
            state=st,
            created_at=utc(row.created_at) or t,
            expires_at=exp,
            revoked_at=utc(row.revoked_at),
            revoked_reason=row.revoked_reason,
            rotated_from=keymod.display_id(row.rotated_from) if row.rotated_from else None,
        )

    def get_key(self, key_ref: str) -> KeyRecord:
        key_id = keymod.normalise_id(key_ref)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(keys).where(keys.c.id == key_id)).first()
        if row is None:
            raise GatewayNotFound(f"no key {key_ref!r}", next_step="give the id of an existing key")
        return self._key_record(row)

    def list_keys(self, identity_ref: str | None = None) -> list[KeyRecord]:
        with self.engine.connect() as conn:
            q = sa.select(keys).order_by(keys.c.created_at)
            if identity_ref:
                q = q.where(keys.c.identity_id == self._identity_row(conn, identity_ref).id)
            return [self._key_record(r) for r in conn.execute(q)]

    def revoke_key(self, key_ref: str, *, reason: str, actor: str | None = None) -> KeyRecord:
        key_id = keymod.normalise_id(key_ref)
        with self._tx() as tx:
            row = tx.conn.execute(sa.select(keys).where(keys.c.id == key_id)).first()
            if row is None:
                raise GatewayNotFound(f"no key {key_ref!r}", next_step="give the id of an existing key")
            if row.revoked_at is None:
                tx.conn.execute(
                    sa.update(keys).where(keys.c.id == key_id).values(revoked_at=now(), revoked_reason=reason)
                )
                tx.log(
                    actor,
                    "key.revoke",
                    row.identity_id,
                    {"key_id": keymod.display_id(key_id), "reason": reason},
                )
                tx.bump = True
        return self.get_key(key_id)

    def rotate_key(
        self, key_ref: str, *, grace: timedelta = timedelta(0), actor: str | None = None
    ) -> tuple[KeyRecord, str]:
        """A new key for the same identity (history and strikes stay); the old one expires after `grace`."""
        old = self.get_key(key_ref)
        if old.state != "active":
            raise GatewayConflict(
                f"key {old.id} is {old.state}; only an active key can be rotated",
                next_step="issue a new key for the identity instead",
            )
        old_id = keymod.normalise_id(old.id)
        record, full = self.create_key(
            old.identity_id, name=old.name, expires_at=old.expires_at, actor=actor, rotated_from=old_id
        )
        end = now() + grace
        with self._tx() as tx:
            if grace.total_seconds() <= 0:
                tx.conn.execute(
                    sa.update(keys)
                    .where(keys.c.id == old_id)
                    .values(revoked_at=now(), revoked_reason="rotated")
                )
            else:
                tx.conn.execute(sa.update(keys).where(keys.c.id == old_id).values(expires_at=end))
            tx.log(
                actor,
                "key.rotate",
                old.identity_id,
                {"old": old.id, "new": record.id, "old_valid_until": end.isoformat()},
            )
            tx.bump = True
        return record, full

    def load_principal(self, key_id: str) -> Principal | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    keys.c.id,
                    keys.c.secret_hash,
                    keys.c.expires_at,
                    keys.c.revoked_at,
                    identities.c.id.label("identity_id"),
                    identities.c.name,
                    identities.c.status,
                    identities.c.tier,
                    identities.c.verification,
                    identities.c.verified_until,
                    identities.c.agreement_ref,
                    identities.c.throttle_factor,
                    identities.c.throttle_until,
                )
                .select_from(keys.join(identities, keys.c.identity_id == identities.c.id))
                .where(keys.c.id == key_id)
            ).first()
        if row is None:
            return None
        return Principal(
            key_id=row.id,
            key_digest=bytes(row.secret_hash),
            key_expires_at=_ts(row.expires_at),
            key_revoked=row.revoked_at is not None,
            identity_id=row.identity_id,
            identity_name=row.name,
            status=row.status,
            tier=row.tier,
            verification=row.verification,
            verified_until=utc(row.verified_until),
            agreement=bool(row.agreement_ref),
            throttle_factor=row.throttle_factor,
            throttle_until=_ts(row.throttle_until),
        )

    # --- reviews --------------------------------------------------------------------------------

    def _review(self, r: Any) -> ReviewRecord:
        return ReviewRecord(
            id=r.id,
            identity_id=r.identity_id,
            created_at=utc(r.created_at) or now(),
            reason=r.reason,
            codes=[c for c in r.codes.split(",") if c],
            score=r.score,
            status=r.status,
            decided_by=r.decided_by,
            decided_at=utc(r.decided_at),
            note=r.note,
        )

    def list_reviews(self, status: str | None = "pending") -> list[ReviewRecord]:
        with self.engine.connect() as conn:
            q = sa.select(reviews).order_by(reviews.c.id)
            if status:
                q = q.where(reviews.c.status == status)
            return [self._review(r) for r in conn.execute(q)]

    def decide_review(
        self, review_id: int, *, approve: bool, actor: str | None = None, note: str | None = None
    ) -> ReviewRecord:
        """Approve = suspend the identity; dismiss = clear the strikes that led to the review."""
        with self._tx() as tx:
            r = tx.conn.execute(sa.select(reviews).where(reviews.c.id == review_id)).first()
            if r is None:
                raise GatewayNotFound(
                    f"no review {review_id}", next_step="give the id of a review in the queue"
                )
            if r.status != "pending":
                raise GatewayConflict(f"review {review_id} was already decided ({r.status})")
            status = "approved" if approve else "dismissed"
            who = actor or default_actor()
            tx.conn.execute(
                sa.update(reviews)
                .where(reviews.c.id == review_id)
                .values(status=status, decided_by=who, decided_at=now(), note=note)
            )
            if approve:
                tx.conn.execute(
                    sa.update(identities)
                    .where(identities.c.id == r.identity_id)
                    .values(
                        status="suspended", status_reason=f"review {review_id}: {r.reason}", updated_at=now()
                    )
                )
                tx.log(actor, "identity.suspend", r.identity_id, {"review": review_id, "reason": r.reason})
            else:
                tx.conn.execute(sa.delete(strikes).where(strikes.c.identity_id == r.identity_id))
            tx.log(actor, f"review.{status}", r.identity_id, {"review": review_id, "note": note})
            tx.bump = approve
        return self.get_review(review_id)

    def get_review(self, review_id: int) -> ReviewRecord:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(reviews).where(reviews.c.id == review_id)).first()
        if r is None:
            raise GatewayNotFound(f"no review {review_id}", next_step="give the id of a review in the queue")
        return self._review(r)

    # --- strikes (the write side lives in misuse.py) ----------------------------------------------

    def strike_score(self, identity_id: str, half_life_hours: float, at: float | None = None) -> float:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(strikes).where(strikes.c.identity_id == identity_id)).first()
        if r is None:
            return 0.0
        t = at if at is not None else time.time()
        return decayed(r.score, r.updated_at, t, half_life_hours)

    def transaction(self) -> Any:
        """A write transaction that may append audit entries: `with store.transaction() as tx:`."""
        return self._tx()


def decayed(score: float, since: float, at: float, half_life_hours: float) -> float:
    dt = max(0.0, at - since)
    return float(score) * math.pow(0.5, dt / (half_life_hours * 3600.0))


class _Tx:
    """The open transaction of one admin change: its connection, audit entries and epoch bump."""

    conn: Connection

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.bump = False
        self.seqs: list[int] = []
        self.checkpoint: Any = None

    def log(self, actor: str | None, action: str, subject: str | None, body: dict[str, Any]) -> None:
        self.entries.append(Entry(actor or default_actor(), action, subject, json.loads(json.dumps(body))))
