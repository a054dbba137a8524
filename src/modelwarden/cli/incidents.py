"""`modelwarden incidents`: incident records and exportable, verifiable incident bundles."""

from __future__ import annotations

from pathlib import Path

import typer

from modelwarden.cli import _gateway_common as c
from modelwarden.cli import app, out
from modelwarden.errors import BundleInvalid
from modelwarden.untrusted.text import markup, text

incidents_app = typer.Typer(
    help="Incidents: timeline, categories, actions and inclusion proofs per identity."
)
app.add_typer(incidents_app, name="incidents")


@incidents_app.command("open")
def open_(
    identity: str = typer.Argument(..., help="Identity id or name the incident is about."),
    title: str = typer.Option(..., "--title", help="One-line description of the incident."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Open an incident about an identity."""
    from modelwarden.gateway import incidents as inc

    _, store = c.open_store(config, db)
    rec = inc.open_incident(store, identity, title)
    if as_json:
        c.emit_json(rec)
    else:
        out.print(f"{rec.id} opened for {rec.identity_id}")


@incidents_app.command("list")
def list_(config: Path | None = c.ConfigOpt, db: str | None = c.DbOpt, as_json: bool = c.JsonOpt) -> None:
    """List incidents."""
    from modelwarden.gateway import incidents as inc

    _, store = c.open_store(config, db)
    rows = inc.list_incidents(store)
    if as_json:
        c.emit_json(rows)
        return
    c.table(
        "incidents",
        ["id", "identity", "status", "title", "opened", "by"],
        [[r.id, r.identity_id, r.status, r.title, c.fmt_dt(r.opened_at), r.opened_by] for r in rows],
    )


@incidents_app.command("note")
def note(
    incident: str = typer.Argument(..., help="Incident id (see `incidents list`)."),
    text: str = typer.Argument("", help="The note; may be empty with --close."),
    close: bool = typer.Option(False, "--close", help="Close the incident."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
) -> None:
    """Add an operator note (recorded in the audit log); --close closes the incident."""
    from modelwarden.gateway import incidents as inc

    _, store = c.open_store(config, db)
    rec = inc.add_note(store, incident, text, close=close)
    out.print(f"{rec.id}: {len(rec.notes)} note(s), {rec.status}")


@incidents_app.command("export")
def export(
    incident: str = typer.Argument(..., help="Incident id (see `incidents list`)."),
    out_dir: Path = typer.Option(Path("."), "--out", help="Folder for <id>.json and <id>.md."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
) -> None:
    """Write the incident bundle: timeline, categories, actions, signed checkpoint, inclusion proofs."""
    from modelwarden.gateway import incidents as inc

    _, store = c.open_store(config, db)
    jpath, mpath = inc.export_incident(store, incident, out_dir)
    out.print(text(jpath))
    out.print(text(mpath))


@incidents_app.command("verify")
def verify(
    bundle: Path = typer.Argument(..., help="An exported <id>.json."),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="The operator's public key (default: the key the bundle names; weaker)."
    ),
) -> None:
    """Check a bundle offline: entry hashes, inclusion proofs, checkpoint signature."""
    from modelwarden.gateway import incidents as inc
    from modelwarden.gateway.signing import load_public_key

    data = inc.read_bundle(bundle)
    key = load_public_key(public_key) if public_key else None
    problems = inc.verify_bundle(data, key)
    for p in problems:
        out.print(f"[red]problem:[/] {markup(p)}", highlight=False)
    if problems:
        raise BundleInvalid(f"{len(problems)} problem(s) in the bundle", path=bundle)
    n = len(data.get("timeline") or [])
    trust = "the given public key" if key else "the key embedded in the bundle (pass --public-key to pin it)"
    out.print(
        f"[green]verified[/]: {n} entries proven into checkpoint {markup(data['checkpoint']['size'])}, "
        f"signed by {trust}",
        highlight=False,
    )
