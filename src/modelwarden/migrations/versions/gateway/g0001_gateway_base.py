"""Gateway base: identities, keys, revocation epoch, strikes, review queue, audit chain, incidents.

Revision ID: g0001
Revises:
Create Date: 2026-10-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "g0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("gateway",)
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the gateway's tables and the append-only guards of its audit log."""
    op.create_table(
        "gw_identities",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("email", sa.String(320)),
        sa.Column("tier", sa.String(64)),
        sa.Column("verification", sa.String(16), nullable=False, server_default="unverified"),
        sa.Column("verified_until", TZ),
        sa.Column("evidence_ref", sa.Text),
        sa.Column("agreement_ref", sa.Text),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("status_reason", sa.Text),
        sa.Column("throttle_factor", sa.Float),
        sa.Column("throttle_until", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "gw_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("identity_id", sa.String(40), sa.ForeignKey("gw_identities.id"), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ),
        sa.Column("revoked_at", TZ),
        sa.Column("revoked_reason", sa.Text),
        sa.Column("rotated_from", sa.String(32)),
    )
    op.create_index("ix_gw_keys_identity_id", "gw_keys", ["identity_id"])
    op.create_table(
        "gw_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "gw_strikes",
        sa.Column("identity_id", sa.String(40), sa.ForeignKey("gw_identities.id"), primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("level", sa.String(16), nullable=False, server_default="none"),
    )
    op.create_table(
        "gw_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("identity_id", sa.String(40), sa.ForeignKey("gw_identities.id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("codes", sa.String(200), nullable=False, server_default=""),
        sa.Column("score", sa.Float, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", TZ),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_gw_reviews_identity_id", "gw_reviews", ["identity_id"])
    op.create_table(
        "gw_audit",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("ix_gw_audit_action_seq", "gw_audit", ["action", "seq"])
    op.create_index("ix_gw_audit_subject_seq", "gw_audit", ["subject", "seq"])
    op.create_index("ix_gw_audit_ts", "gw_audit", ["ts"])
    op.create_table(
        "gw_audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger, nullable=False),
        sa.Column("checkpoint_at", sa.Float, nullable=False),
        sa.Column("lock_counter", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "gw_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
    )
    op.create_table(
        "gw_audit_text",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_table(
        "gw_incidents",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("identity_id", sa.String(40), sa.ForeignKey("gw_identities.id"), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("notes", sa.Text, nullable=False, server_default="[]"),
    )
    op.create_index("ix_gw_incidents_identity_id", "gw_incidents", ["identity_id"])

    op.bulk_insert(
        sa.table("gw_state", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "revocation_epoch", "value": 0}],
    )
    op.bulk_insert(
        sa.table(
            "gw_audit_head",
            sa.column("id", sa.Integer),
            sa.column("size", sa.BigInteger),
            sa.column("head_hash", sa.LargeBinary),
            sa.column("frontier", sa.LargeBinary),
            sa.column("checkpoint_size", sa.BigInteger),
            sa.column("checkpoint_at", sa.Float),
            sa.column("lock_counter", sa.BigInteger),
        ),
        [
            {
                "id": 1,
                "size": 0,
                "head_hash": bytes(32),
                "frontier": b"",
                "checkpoint_size": 0,
                "checkpoint_at": 0.0,
                "lock_counter": 0,
            }
        ],
    )

    # Append-only guard (docs/reference/gateway.md §9). It stops mistakes and ordinary users, not a database
    # superuser: tampering is *detected* by `modelwarden audit verify`, not prevented.
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for table in ("gw_audit", "gw_checkpoints"):
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif bind.dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION gw_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in ("gw_audit", "gw_checkpoints"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION gw_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION gw_append_only()"
            )


def downgrade() -> None:
    """Drop the gateway's tables."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS gw_append_only() CASCADE")
    for table in (
        "gw_incidents",
        "gw_audit_text",
        "gw_checkpoints",
        "gw_audit_head",
        "gw_audit",
        "gw_reviews",
        "gw_strikes",
        "gw_state",
        "gw_keys",
        "gw_identities",
    ):
        op.drop_table(table)
