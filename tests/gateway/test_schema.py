"""The Alembic migration and the Core tables the code queries describe the same schema."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from modelwarden import migrations
from modelwarden.db import make_engine
from modelwarden.gateway.schema import metadata


def test_migration_matches_schema_module(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    migrations.upgrade(engine)
    migrations.upgrade(engine)  # idempotent
    insp = sa.inspect(engine)
    for table in metadata.sorted_tables:
        cols = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(cols) == {c.name for c in table.columns}, table.name
        for c in table.columns:
            assert cols[c.name]["nullable"] == c.nullable or c.primary_key, (table.name, c.name)
        pk = insp.get_pk_constraint(table.name)["constrained_columns"]
        assert pk == [c.name for c in table.primary_key.columns], table.name
        indexed = {tuple(i["column_names"]) for i in insp.get_indexes(table.name)}
        for ix in table.indexes:
            assert tuple(c.name for c in ix.columns) in indexed, (table.name, ix.name)
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT value FROM gw_state WHERE name = 'revocation_epoch'")).scalar_one()
            == 0
        )
        assert conn.execute(sa.text("SELECT size FROM gw_audit_head WHERE id = 1")).scalar_one() == 0
