"""Registry base: models, assessments (full document + indexed summary columns), duties.

Revision ID: r0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "r0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("registry",)
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias); PostgreSQL gets BIGINT.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_models",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("first_recorded_at", TZ, nullable=False),
        sa.UniqueConstraint("name", name="uq_registry_models_name"),
    )
    op.create_table(
        "registry_assessments",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column(
            "model_id",
            Id,
            sa.ForeignKey("registry_models.id", ondelete="CASCADE", name="fk_registry_assessments_model"),
            nullable=False,
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text),
        sa.Column("is_latest", sa.Boolean, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("tool_version", sa.Text, nullable=False),
        sa.Column("ruleset_version", sa.Text, nullable=False),
        sa.Column("licence", sa.Text),
        sa.Column("licence_class", sa.Text, nullable=False),
        sa.Column("mof_class", sa.SmallInteger),
        sa.Column("osaid_pass", sa.Boolean),
        sa.Column("parameters", sa.BigInteger),
        sa.Column("active_parameters", sa.BigInteger),
        sa.Column("flop_low", sa.Float),
        sa.Column("flop_central", sa.Float),
        sa.Column("flop_high", sa.Float),
        sa.Column("compute_method", sa.Text, nullable=False),
        sa.Column("call_1e23", sa.Text),
        sa.Column("call_1e25", sa.Text),
        sa.Column("call_1e26", sa.Text),
        sa.Column("worst_severity", sa.SmallInteger),
        sa.Column("findings", sa.Integer, nullable=False),
        sa.Column("duty_regimes", sa.Text, nullable=False),
        sa.Column("needs_review", sa.Integer, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("document", sa.LargeBinary, nullable=False),
    )
    t = "registry_assessments"
    op.create_index("ix_registry_assessments_latest_name", t, ["is_latest", "name"])
    op.create_index("ix_registry_assessments_model", t, ["model_id", "id"])
    op.create_index("ix_registry_assessments_licence_class", t, ["licence_class", "is_latest"])
    op.create_index("ix_registry_assessments_mof_class", t, ["mof_class", "is_latest"])
    op.create_index("ix_registry_assessments_severity", t, ["worst_severity", "is_latest"])
    for threshold in ("1e23", "1e25", "1e26"):
        op.create_index(f"ix_registry_assessments_call_{threshold}", t, [f"call_{threshold}", "is_latest"])
    op.create_table(
        "registry_duties",
        sa.Column(
            "assessment_id",
            Id,
            sa.ForeignKey(
                "registry_assessments.id", ondelete="CASCADE", name="fk_registry_duties_assessment"
            ),
            primary_key=True,
        ),
        sa.Column("regime", sa.Text, primary_key=True),
        sa.Column("obligations", sa.Integer, nullable=False),
    )
    op.create_index("ix_registry_duties_regime", "registry_duties", ["regime", "assessment_id"])


def downgrade() -> None:
    op.drop_table("registry_duties")
    op.drop_table("registry_assessments")
    op.drop_table("registry_models")
