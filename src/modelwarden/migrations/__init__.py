"""Alembic migrations for the registry and the gateway, run programmatically (no alembic.ini).

Two independent branches live in one migration environment: `registry` (assessments) and
`gateway` (identities, keys, audit log). Each has its own base revision under
`versions/<branch>/`; `upgrade()` brings every branch to its head.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).parent


def config(engine: Engine) -> Config:
    """An Alembic configuration for `engine`, with every branch's versions folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option(
        "version_locations", " ".join(str(p) for p in sorted((HERE / "versions").iterdir()) if p.is_dir())
    )
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, target: str = "heads") -> None:
    """Create or migrate the schema. Safe to call on every start: a no-op when up to date."""
    command.upgrade(config(engine), target)
