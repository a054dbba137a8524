"""Crawl log: one row per repository and revision a crawl read (assessed or failed, and why).

Revision ID: r0002_crawl
Revises: r0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "r0002_crawl"
down_revision: str | None = "r0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the crawl log."""
    op.create_table(
        "crawl_repos",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("repo", sa.Text, nullable=False),
        sa.Column("revision", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("error_kind", sa.Text),
        sa.Column("bytes_read", sa.BigInteger, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("assessment_id", sa.BigInteger),
        sa.Column("crawled_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("repo", "revision", name="uq_crawl_repos_repo_revision"),
    )
    op.create_index("ix_crawl_repos_status", "crawl_repos", ["status", "repo"])


def downgrade() -> None:
    """Drop the crawl log."""
    op.drop_index("ix_crawl_repos_status", table_name="crawl_repos")
    op.drop_table("crawl_repos")
