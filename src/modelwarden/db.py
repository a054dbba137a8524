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
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from modelwarden.errors import RegistryError
from modelwarden.untrusted.io import NOT_REGULAR

ENV_VAR = "MODELWARDEN_DB"
APP_NAME = "modelwarden"
#: Database backends the schema and migrations are written for.
SUPPORTED = ("sqlite", "postgresql")


def default_url() -> str:
    """The SQLite file under the user data folder, used when no URL is given."""
    data_dir = Path(platformdirs.user_data_dir(APP_NAME))
    return f"sqlite:///{data_dir / 'registry.sqlite3'}"


def resolve_url(url: str | None = None) -> str:
    """The flag wins over the environment, which wins over the default file."""
    chosen = url or os.environ.get(ENV_VAR) or default_url()
    try:
        parsed = make_url(chosen)
    except ArgumentError:
        raise RegistryError(f"not a database URL: {chosen!r} (expected e.g. sqlite:///file.db)") from None
    backend = parsed.drivername.partition("+")[0]
    if backend not in SUPPORTED:
        # Checked here, by name: SQLAlchemy would otherwise try to import a dialect (http://) or a
        # driver (mysql://) and fail with a traceback.
        raise RegistryError(
            f"unsupported database URL scheme {parsed.drivername!r} in {_redacted(parsed)}: "
            "use sqlite:///FILE or postgresql://USER@HOST/DATABASE"
        )
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


def _redacted(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _create(url: URL, **kwargs: Any) -> Engine:
    try:
        return create_engine(url, **kwargs)
    except (ImportError, NoSuchModuleError) as exc:
        raise RegistryError(
            f"cannot use {_redacted(url)}: its database driver is not installed ({exc})"
        ) from None


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine for `url` (flag, environment or default), refusing a folder or device as SQLite
    file."""
    parsed = make_url(resolve_url(url))
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            if Path(database).is_dir():
                raise RegistryError("is a folder, not a SQLite database file", path=database)
            if Path(database).exists() and not Path(database).is_file():
                raise RegistryError(f"not a SQLite database file: {NOT_REGULAR}", path=database)
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RegistryError(f"cannot create the folder for {database}: {exc.strerror}") from None
        engine = _create(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return _create(parsed, pool_pre_ping=True, **kwargs)
