"""The gateway's tables (SQLAlchemy Core). The migration in migrations/versions/gateway/ creates them.

Kept in step with the migration by a test that compares both. All times are stored in UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

identities = sa.Table(
    "gw_identities",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("email", sa.String(320)),
    sa.Column("tier", sa.String(64)),
    # unverified | pending | verified (docs/reference/gateway.md §1 "identity verification state")
    sa.Column("verification", sa.String(16), nullable=False, server_default="unverified"),
    sa.Column("verified_until", sa.DateTime(timezone=True)),
    sa.Column("evidence_ref", sa.Text),
    sa.Column("agreement_ref", sa.Text),
    # active | suspended
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("status_reason", sa.Text),
    sa.Column("throttle_factor", sa.Float),
    sa.Column("throttle_until", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

keys = sa.Table(
    "gw_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("identity_id", sa.String(40), sa.ForeignKey("gw_identities.id"), nullable=False, index=True),
    sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("name", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_reason", sa.Text),
    sa.Column("rotated_from", sa.String(32)),
)

state = sa.Table(
    "gw_state",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

strikes = sa.Table(
    "gw_strikes",
    metadata,
    sa.Column("identity_id", sa.String(40), sa.ForeignKey("gw_identities.id"), primary_key=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),  # unix seconds, for decay arithmetic
    sa.Column("level", sa.String(16), nullable=False, server_default="none"),
)

reviews = sa.Table(
    "gw_reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("identity_id", sa.String(40), sa.ForeignKey("gw_identities.id"), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("codes", sa.String(200), nullable=False, server_default=""),
    sa.Column("score", sa.Float, nullable=False, server_default="0"),
    # pending | approved (identity suspended) | dismissed
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("decided_by", sa.String(200)),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("note", sa.Text),
)

audit = sa.Table(
    "gw_audit",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(64)),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
    sa.Index("ix_gw_audit_action_seq", "action", "seq"),
    sa.Index("ix_gw_audit_subject_seq", "subject", "seq"),
    sa.Index("ix_gw_audit_ts", "ts"),
)

audit_head = sa.Table(
    "gw_audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.LargeBinary(32), nullable=False),
    # RFC 6962 compact range: the roots of the perfect subtrees covering entries [0, size).
    sa.Column("frontier", sa.LargeBinary, nullable=False),
    sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
    sa.Column("checkpoint_at", sa.Float, nullable=False),
    # Every append transaction bumps it first: a write that takes the lock in SQLite and Postgres alike.
    sa.Column("lock_counter", sa.BigInteger, nullable=False),
)

checkpoints = sa.Table(
    "gw_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("signature", sa.LargeBinary(64), nullable=False),
)

audit_text = sa.Table(
    "gw_audit_text",
    metadata,
    # Full prompt/output text for tiers that log text with consent. Outside the chain: the chained
    # entry carries its hash, so the text can be erased (data protection) without breaking the chain.
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)

incidents = sa.Table(
    "gw_incidents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("identity_id", sa.String(40), sa.ForeignKey("gw_identities.id"), nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("opened_by", sa.String(200), nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("notes", sa.Text, nullable=False, server_default="[]"),  # JSON list of {at, by, text}
)

APPEND_ONLY = ("gw_audit", "gw_checkpoints")
