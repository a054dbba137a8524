"""`modelwarden keys`: create (shown once), list, revoke and rotate gateway API keys."""

from __future__ import annotations

from pathlib import Path

import typer

from modelwarden.cli import _gateway_common as c
from modelwarden.cli import app, out

keys_app = typer.Typer(help="Gateway API keys: keys belong to identities; shown once, stored as hashes.")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(
    identity: str = typer.Argument(..., help="Identity id or name."),
    name: str | None = typer.Option(None, "--name", help="A label for the key."),
    expires: str | None = typer.Option(
        None, "--expires", help="Expiry: a date (YYYY-MM-DD) or a duration (30d, 12h)."
    ),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Create a key for an identity. The key is printed once and cannot be shown again."""
    _, store = c.open_store(config, db)
    rec, full = store.create_key(identity, name=name, expires_at=c.parse_when(expires))
    if as_json:
        c.emit_json({**rec.model_dump(mode="json"), "key": full})
        return
    c.note(f"created {rec.id} for {rec.identity_id}; store the key now, it is not shown again:")
    out.print(full, highlight=False)


@keys_app.command("list")
def list_(
    identity: str | None = typer.Option(None, "--identity", help="Only this identity's keys."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """List keys (ids and states, never secrets)."""
    _, store = c.open_store(config, db)
    keys = store.list_keys(identity)
    if as_json:
        c.emit_json(keys)
        return
    c.table(
        "keys",
        ["key", "identity", "name", "state", "created", "expires", "revoked"],
        [
            [
                k.id,
                k.identity_id,
                k.name,
                k.state,
                c.fmt_dt(k.created_at),
                c.fmt_dt(k.expires_at),
                k.revoked_reason,
            ]
            for k in keys
        ],
    )


@keys_app.command("revoke")
def revoke(
    key: str = typer.Argument(..., help="Key id (mw_…)."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the audit log)."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Revoke a key on every gateway instance (the next request with it is refused)."""
    _, store = c.open_store(config, db)
    rec = store.revoke_key(key, reason=reason)
    if as_json:
        c.emit_json(rec)
    else:
        out.print(f"{rec.id}: {rec.state}")


@keys_app.command("rotate")
def rotate(
    key: str = typer.Argument(..., help="Key id (mw_…)."),
    grace: str | None = typer.Option(None, "--grace", help="Keep the old key valid this long (e.g. 24h)."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Issue a new key for the same identity; the old one stops now or after --grace."""
    from datetime import timedelta

    _, store = c.open_store(config, db)
    rec, full = store.rotate_key(key, grace=c.parse_duration(grace) or timedelta(0))
    if as_json:
        c.emit_json({**rec.model_dump(mode="json"), "key": full})
        return
    c.note(f"new key {rec.id} (replaces {rec.rotated_from}); store it now, it is not shown again:")
    out.print(full, highlight=False)
