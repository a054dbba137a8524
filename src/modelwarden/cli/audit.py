"""`modelwarden audit`: verify the gateway's tamper-evident log, read it, sign checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from modelwarden.cli import _gateway_common as c
from modelwarden.cli import app, out
from modelwarden.errors import AuditTampered, GatewayMisconfigured, GatewayNotFound
from modelwarden.untrusted.text import markup, text

audit_app = typer.Typer(help="The gateway's audit log: a hash chain with signed Merkle checkpoints.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(
    public_key: Path | None = typer.Option(
        None, "--public-key", help="Ed25519 public key (default: the public half of audit.signing_key)."
    ),
    anchors: Path | None = typer.Option(
        None,
        "--anchors",
        help="Checkpoint anchor file kept outside the database (default: audit.anchor_file).",
    ),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """Recompute the chain, the checkpoint roots and signatures; report the first bad entry.

    Exit code 0: intact; 1: tampering detected; 2: cannot run.
    """
    from modelwarden.gateway import audit as auditmod
    from modelwarden.gateway.signing import load_public_key, public_path

    cfg, store = c.open_store(config, db)
    key = None
    if public_key is not None:
        key = load_public_key(public_key)
    elif cfg.audit.signing_key is not None:
        pub = public_path(cfg.audit.signing_key)
        key = load_public_key(pub if pub.is_file() else cfg.audit.signing_key)
    if anchors is not None and not anchors.exists():
        # Only the configured file may be absent (nothing anchored yet); a named one must be read.
        raise GatewayNotFound("anchor file not found", path=anchors)
    anchor_path = anchors or cfg.audit.anchor_file
    anchor_list = auditmod.read_anchors(anchor_path) if anchor_path else []
    with store.engine.connect() as conn:
        rep = auditmod.verify(conn, public_key=key, anchors=anchor_list)
    if as_json:
        c.emit_json(rep.to_json())
    else:
        out.print(
            f"{rep.entries} entries, {rep.checkpoints} signed checkpoints verified, "
            f"{rep.anchors} anchored checkpoints matched"
        )
        if key is None:
            c.note("[yellow]warning:[/] no public key: checkpoint signatures were not checked")
        if not anchor_list:
            c.note(
                "[yellow]warning:[/] no anchor file: a rewrite of the whole log together with its "
                "checkpoints table by someone holding the signing key would not be detected"
            )
        elif rep.entries > rep.last_anchored_size:
            c.note(
                f"note: entries after {rep.last_anchored_size} are protected by the chain only until "
                "the next anchored checkpoint"
            )
        for f in rep.findings:
            out.print(f"[red]{markup(f.kind)}[/]: {markup(f.detail)}", highlight=False)
    if not rep.ok:
        raise AuditTampered(f"audit log tampered: first bad entry {rep.first_bad_seq or '(see findings)'}")
    if not as_json:
        out.print("[green]intact[/]")


@audit_app.command("tail")
def tail(
    n: int = typer.Option(20, "-n", help="How many entries."),
    action: str | None = typer.Option(None, "--action", help="Only this action (prefix with *: request.*)."),
    subject: str | None = typer.Option(None, "--identity", help="Only entries about this identity id."),
    config: Path | None = c.ConfigOpt,
    db: str | None = c.DbOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """The latest entries."""
    from modelwarden.gateway import audit as auditmod

    _, store = c.open_store(config, db)
    with store.engine.connect() as conn:
        rows = auditmod.tail(conn, n, action=action, subject=subject)
    if as_json:
        c.emit_json([r.to_json() for r in rows])
        return
    for r in rows:
        out.print(
            text(
                f"{r.seq:>7} {r.ts[:19]} {r.action:<22} {r.actor:<28} {r.subject or '-':<16} "
                + json.dumps(r.body_json(), separators=(",", ":"))[:160]
            ),
            soft_wrap=True,
        )


@audit_app.command("checkpoint")
def checkpoint(
    config: Path | None = c.ConfigOpt, db: str | None = c.DbOpt, as_json: bool = c.JsonOpt
) -> None:
    """Sign a checkpoint of the current log now (and append it to the anchor file)."""
    from modelwarden.gateway import audit as auditmod

    _, store = c.open_store(config, db)
    if store.signer is None:
        raise GatewayMisconfigured(
            "no audit.signing_key configured", next_step="set audit.signing_key in gateway.yaml"
        )
    with store.engine.begin() as conn:
        cp = auditmod.checkpoint_now(conn, store.signer, force=True)
    if cp is None:
        out.print("nothing new since the last checkpoint")
        return
    if store.anchor:
        store.anchor.write(cp)
    if as_json:
        c.emit_json(cp.to_json())
    else:
        out.print(f"checkpoint {cp.size} root {cp.root.hex()} signed by {cp.key_id}")


@audit_app.command("checkpoints")
def checkpoints(config: Path | None = c.ConfigOpt, db: str | None = c.DbOpt) -> None:
    """Print every checkpoint as anchor-file JSON lines (copy them where the database admin cannot write)."""
    from modelwarden.gateway import audit as auditmod

    _, store = c.open_store(config, db)
    with store.engine.connect() as conn:
        for cp in auditmod.list_checkpoints(conn):
            out.print(json.dumps(cp.to_json(), sort_keys=True), markup=False, highlight=False, soft_wrap=True)


@audit_app.command("keygen")
def keygen(path: Path = typer.Argument(..., help="Where to write the private key (PEM, mode 0600).")) -> None:
    """Create an Ed25519 signing key for checkpoints (and `<path>.pub`)."""
    from modelwarden.gateway.signing import generate_key, public_path

    s = generate_key(path)
    out.print(text(f"{path} (key id {s.key_id}); public key {public_path(path)}"))
