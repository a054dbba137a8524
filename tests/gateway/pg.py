"""A fresh PostgreSQL database per test module on the session's server (tests/conftest.py)."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def fresh_database(postgres_url: str, prefix: str = "gw") -> str:
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
