"""Database connection shared by the registry and the gateway.

SQLite (WAL) under the user data directory by default; any SQLAlchemy URL through `--db` or the
`MODELWARDEN_DB` environment variable (PostgreSQL through psycopg 3: `postgresql+psycopg://...`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from modelwarden.errors import RegistryError

ENV_VAR = "MODELWARDEN_DB"
APP_NAME = "modelwarden"


def default_url() -> str:
    data_dir = Path(platformdirs.user_data_dir(APP_NAME))
    return f"sqlite:///{data_dir / 'registry.sqlite3'}"


def resolve_url(url: str | None = None) -> str:
    """The flag wins over the environment, which wins over the default file."""
    chosen = url or os.environ.get(ENV_VAR) or default_url()
    try:
        parsed = make_url(chosen)
    except ArgumentError:
        raise RegistryError(f"not a database URL: {chosen!r} (expected e.g. sqlite:///file.db)") from None
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; SQLAlchemy's bare "postgresql" means psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers proceed during a write; a busy timeout makes concurrent writers queue
    # instead of failing with "database is locked".
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    resolved = resolve_url(url)
    parsed = make_url(resolved)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RegistryError(f"cannot create the folder for {database}: {exc.strerror}") from None
        engine = create_engine(resolved, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(resolved, pool_pre_ping=True, **kwargs)
