"""Shared plumbing for the gateway's admin commands: options, opening the store, output."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic import BaseModel
from rich.table import Table

from modelwarden.cli import err as _err
from modelwarden.cli import out
from modelwarden.errors import UsageError
from modelwarden.untrusted.text import text

if TYPE_CHECKING:
    from modelwarden.gateway.config import GatewayConfig
    from modelwarden.gateway.store import Store

ConfigOpt: Any = typer.Option(
    None,
    "--config",
    "-c",
    help="gateway.yaml (default: $MODELWARDEN_GATEWAY_CONFIG or the user config folder).",
)
DbOpt: Any = typer.Option(None, "--db", help="Database URL (overrides gateway.yaml).")
JsonOpt: Any = typer.Option(False, "--json", help="Print JSON instead of a table.")


def open_store(config: Path | None, db: str | None) -> tuple[GatewayConfig, Store]:
    # Imported here: SQLAlchemy, Alembic and cryptography would otherwise load on every command's
    # start, the inspect and scan commands included.
    from modelwarden.db import make_engine
    from modelwarden.gateway.audit import AnchorFile
    from modelwarden.gateway.config import load_config
    from modelwarden.gateway.signing import load_signer
    from modelwarden.gateway.store import Store, migrate
    from modelwarden.gateway.tiers import load_tiers

    cfg = load_config(config)
    if db:
        cfg.database = db
    engine = make_engine(cfg.database)
    migrate(engine)
    signer = load_signer(cfg.audit.signing_key) if cfg.audit.signing_key else None
    anchor = AnchorFile(cfg.audit.anchor_file) if cfg.audit.anchor_file else None

    def bump() -> None:
        if cfg.redis:
            from modelwarden.gateway.auth import publish_epoch_sync

            try:
                publish_epoch_sync(cfg.redis)
            except Exception as exc:
                note(
                    "[yellow]warning:[/] could not reach Redis to publish the revocation "
                    f"({exc.__class__.__name__}); "
                    f"gateways will see it within {cfg.revocation_poll_s:g} s from the database"
                )

    return cfg, Store(engine, load_tiers(cfg.tiers), signer=signer, anchor=anchor, on_epoch_bump=bump)


def note(message: str) -> None:
    """A message for the person at the terminal (stderr), never wrapped mid-line. `message` is rich
    markup: pass names and values from the store through `safe_text.markup`."""
    _err.print(message, soft_wrap=True, highlight=False)


def emit_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    out.print_json(json.dumps(value, default=str))


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a table; the title and cells are plain text (names, reasons and titles stored by the
    admin commands are never read as console markup)."""
    t = Table(title=text(title, "table.title"), title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[text("" if v is None else v) for v in r])
    out.print(t)


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([dhmw])")
_UNITS = {"d": ("days", 1.0), "h": ("hours", 1 / 24), "m": ("minutes", 1 / 1440), "w": ("weeks", 7.0)}
# No expiry, verification or grace period is meant to outlast this; far larger ones overflow
# timedelta or the date they are added to.
MAX_DURATION_DAYS = 100 * 365
# The date first (ISO 8601 extended form, as the help says), then optionally a time and offset.
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.]+(?:Z|[+-][0-9:]+)?)?")


def parse_duration(value: str | None) -> timedelta | None:
    """`30d`, `12h`, `90m`, `2w` → timedelta."""
    if not value:
        return None
    match = _DURATION.fullmatch(value)
    if match is None:
        raise UsageError(f"not a duration: {value!r} (use e.g. 30d, 12h, 90m, 2w)")
    unit, days_per_unit = _UNITS[match[2]]
    n = float(match[1])
    if n <= 0:
        raise UsageError("a duration must be positive")
    if n * days_per_unit > MAX_DURATION_DAYS:
        raise UsageError(f"duration {value!r} is longer than 100 years")
    return timedelta(**{unit: n})


def parse_when(value: str | None) -> datetime | None:
    """A duration from now, or an ISO date (YYYY-MM-DD) with an optional time (THH:MM[:SS][+HH:MM])."""
    if not value:
        return None
    if _DURATION.fullmatch(value):
        d = parse_duration(value)
        assert d is not None
        return datetime.now(UTC) + d
    if _DATE_TIME.fullmatch(value):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    raise UsageError(f"not a date or duration: {value!r} (use YYYY-MM-DD, YYYY-MM-DDTHH:MM or e.g. 30d, 12h)")


def fmt_dt(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M") if dt else ""


def need(value: str | None, what: str) -> str:
    if not value:
        raise UsageError(f"{what} is required")
    return value
