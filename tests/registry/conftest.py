from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registry.support import fresh_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty registry database: a SQLite file, or a fresh database on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}"
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url
