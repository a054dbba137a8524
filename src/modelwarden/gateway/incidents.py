"""Incident records and exportable incident bundles with inclusion proofs.

Reference: docs/reference/gateway.md §9 "Incident reports" (identity, tier, key ids; a timeline of flagged
events with their audit seq numbers and entry hashes; S-codes and scores; actions, who took them and when;
operator notes; the covering signed checkpoint and an inclusion proof for each cited entry, so that
anyone holding the public key can check the report against the log) and §8 ("Deployment
corrections": prepare, monitor, execute, follow up).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel

from modelwarden.errors import GatewayError, GatewayInvalid, GatewayMisconfigured, GatewayNotFound
from modelwarden.gateway import merkle
from modelwarden.gateway.audit import (
    CANON_CURRENT,
    CANON_LEGACY,
    CANON_VERSIONS,
    Checkpoint,
    checkpoint_now,
    covering_checkpoint,
    entry_hash,
    entry_version,
    leaf_hashes,
    rows_by_seq,
)
from modelwarden.gateway.files import MAX_BUNDLE_BYTES, read_bytes
from modelwarden.gateway.schema import audit, incidents
from modelwarden.gateway.signing import public_key_from_pem, public_key_id, public_pem, verify_checkpoint
from modelwarden.gateway.store import Store, default_actor, utc

#: Audit actions that belong in an identity's incident timeline.
TIMELINE_ACTIONS = (
    "request.blocked",
    "request.flagged",
    "misuse.warn",
    "misuse.throttle",
    "review.open",
    "review.approved",
    "review.dismissed",
    "identity.suspend",
    "identity.reinstate",
    "identity.tier",
    "identity.verification",
    "key.create",
    "key.revoke",
    "key.rotate",
    "incident.open",
    "incident.note",
    "incident.close",
)
ACTION_ENTRIES = ("misuse.", "identity.suspend", "identity.reinstate", "review.", "key.revoke")
MAX_TIMELINE = 2000
BUNDLE_FORMAT = "modelwarden.incident/v1"


class IncidentRecord(BaseModel):
    id: str
    identity_id: str
    title: str
    status: str
    opened_by: str
    opened_at: datetime
    notes: list[dict[str, str]]


def _record(r: Any) -> IncidentRecord:
    return IncidentRecord(
        id=r.id,
        identity_id=r.identity_id,
        title=r.title,
        status=r.status,
        opened_by=r.opened_by,
        opened_at=utc(r.opened_at) or datetime.now(UTC),
        notes=json.loads(r.notes or "[]"),
    )


def open_incident(store: Store, identity_ref: str, title: str, *, actor: str | None = None) -> IncidentRecord:
    who = actor or default_actor()
    ident = store.get_identity(identity_ref)
    inc_id = "inc_" + secrets.token_hex(5)
    with store.transaction() as tx:
        tx.conn.execute(
            sa.insert(incidents).values(
                id=inc_id,
                identity_id=ident.id,
                title=title,
                opened_by=who,
                opened_at=datetime.now(UTC),
                notes="[]",
            )
        )
        tx.log(who, "incident.open", ident.id, {"incident": inc_id, "title": title})
    return get_incident(store, inc_id)


def get_incident(store: Store, incident_id: str) -> IncidentRecord:
    with store.engine.connect() as conn:
        r = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).first()
    if r is None:
        raise GatewayNotFound(f"no incident {incident_id!r}", next_step="give the id of an existing incident")
    return _record(r)


def list_incidents(store: Store) -> list[IncidentRecord]:
    with store.engine.connect() as conn:
        return [_record(r) for r in conn.execute(sa.select(incidents).order_by(incidents.c.opened_at))]


def add_note(
    store: Store, incident_id: str, text: str, *, actor: str | None = None, close: bool = False
) -> IncidentRecord:
    who = actor or default_actor()
    inc = get_incident(store, incident_id)
    notes = (
        [*inc.notes, {"at": datetime.now(UTC).isoformat(), "by": who, "text": text}] if text else inc.notes
    )
    with store.transaction() as tx:
        tx.conn.execute(
            sa.update(incidents)
            .where(incidents.c.id == incident_id)
            .values(notes=json.dumps(notes), status="closed" if close else inc.status)
        )
        if text:
            tx.log(who, "incident.note", inc.identity_id, {"incident": incident_id, "text": text})
        if close:
            tx.log(who, "incident.close", inc.identity_id, {"incident": incident_id})
    return get_incident(store, incident_id)


def build_bundle(store: Store, incident_id: str) -> dict[str, Any]:
    """Everything an outside reviewer needs, with proofs; signs a fresh checkpoint if none covers it."""
    inc = get_incident(store, incident_id)
    ident = store.get_identity(inc.identity_id)
    if store.signer is None:
        raise GatewayMisconfigured(
            "exporting an incident needs the audit signing key",
            next_step="set audit.signing_key in gateway.yaml",
        )
    with store.engine.connect() as conn:
        seqs = [
            r.seq
            for r in conn.execute(
                sa.select(audit.c.seq)
                .where(audit.c.subject == ident.id, audit.c.action.in_(TIMELINE_ACTIONS))
                .order_by(audit.c.seq.desc())
                .limit(MAX_TIMELINE)
            )
        ]
    seqs.sort()
    last = max(seqs) if seqs else 0
    with store.engine.begin() as conn:
        cp = covering_checkpoint(conn, last) if last else None
        if last and cp is None:
            cp = checkpoint_now(conn, store.signer, force=True)
            if cp is not None and store.anchor is not None:
                store.anchor.write(cp)
    with store.engine.connect() as conn:
        rows = rows_by_seq(conn, seqs)
        leaves = leaf_hashes(conn, cp.size) if cp else []
    codes: Counter[str] = Counter()
    timeline = []
    actions = []
    for r in rows:
        body = r.body_json()
        for key in ("moderation_input", "moderation_output"):
            m = body.get(key)
            if isinstance(m, dict):
                codes.update(m.get("blocked", []) + m.get("flagged", []) + m.get("failed_closed", []))
        item = {
            "seq": r.seq,
            "ts": r.ts,
            "actor": r.actor,
            "action": r.action,
            "subject": r.subject,
            "body": r.body,
            "prev_hash": r.prev_hash.hex(),
            "entry_hash": r.entry_hash.hex(),
            # The canonicalisation version the hash was made with (1 before RFC 8785): the verifier
            # recomputes with it. An entry that matches none is exported as current and fails there.
            "canon": entry_version(
                r.entry_hash, r.prev_hash, r.seq, r.ts, r.actor, r.action, r.subject, r.body
            )[0]
            or CANON_CURRENT,
            "inclusion_proof": [h.hex() for h in merkle.inclusion_proof(r.seq - 1, leaves)] if cp else [],
        }
        timeline.append(item)
        if r.action.startswith(ACTION_ENTRIES):
            actions.append({"seq": r.seq, "ts": r.ts, "action": r.action, "by": r.actor, "details": body})
    keys = store.list_keys(ident.id)
    return {
        "format": BUNDLE_FORMAT,
        "generated_at": datetime.now(UTC).isoformat(),
        "incident": json.loads(inc.model_dump_json()),
        "identity": json.loads(ident.model_dump_json()),
        "keys": [json.loads(k.model_dump_json()) for k in keys],
        "categories": dict(sorted(codes.items())),
        "actions": actions,
        "timeline": timeline,
        "checkpoint": cp.to_json() if cp else None,
        "public_key": public_pem(store.signer.public).decode(),
        "public_key_id": public_key_id(store.signer.public),
        "how_to_verify": (
            "Each timeline entry's entry_hash = SHA-256(prev_hash || RFC 8785 canonical JSON of seq, ts, "
            "actor, action, subject, body and canon=2) when its canon is 2; when its canon is 1 (or "
            "absent), the record without canon, serialised by Python's json.dumps with sorted keys, "
            "',' and ':' separators and non-ASCII kept; its inclusion_proof (RFC 9162) leads from leaf "
            "SHA-256(0x00 || entry_hash) at index seq-1 to the checkpoint root; the checkpoint's "
            "Ed25519 signature covers the note "
            "'modelwarden.gateway.audit/v1\\n<size>\\n<base64 root>\\n<ts>\\n'. "
            "`modelwarden incidents verify <bundle.json> --public-key <key>` does all three."
        ),
    }


def read_bundle(path: Path) -> dict[str, Any]:
    """An exported bundle from disk: a JSON object, read within a cap."""
    raw = read_bytes(path, what="the bundle", limit=MAX_BUNDLE_BYTES)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise GatewayInvalid("not an incident bundle: JSON nested too deeply", path=path) from None
    except UnicodeDecodeError:
        raise GatewayInvalid("not an incident bundle: not UTF-8 text", path=path) from None
    except ValueError as exc:
        raise GatewayInvalid(f"not an incident bundle: not valid JSON ({exc})", path=path) from None
    if not isinstance(data, dict):
        raise GatewayInvalid(
            f"not an incident bundle: expected a JSON object, got {type(data).__name__}", path=path
        )
    return data


def verify_bundle(bundle: dict[str, Any], public_key: Ed25519PublicKey | None = None) -> list[str]:
    """Problems found (empty: the bundle is consistent with a log signed by the key)."""
    problems: list[str] = []
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        return [f"not a {BUNDLE_FORMAT} bundle"]
    if public_key is not None:
        key = public_key
        if bundle.get("public_key_id") != public_key_id(public_key):
            problems.append("the bundle names a different signing key than the one given")
    else:
        pem = bundle.get("public_key")
        if not isinstance(pem, str):
            return ["the bundle holds no public key (pass --public-key)"]
        try:
            key = public_key_from_pem(pem)
        except GatewayError as exc:
            return [f"the bundle's public key: {exc}"]
    cp_raw = bundle.get("checkpoint")
    timeline = bundle.get("timeline") or []
    if not isinstance(timeline, list):
        return [*problems, "timeline: expected a list of entries"]
    if cp_raw is None:
        # An export always cites at least the incident's opening, so an empty bundle proves nothing.
        return [*problems, "entries but no checkpoint" if timeline else "no entries and no checkpoint"]
    try:
        cp = Checkpoint.from_json(cp_raw)
    except GatewayError as exc:
        return [*problems, f"checkpoint: {exc}"]
    if not verify_checkpoint(key, cp.size, cp.root, cp.ts, cp.signature):
        problems.append(f"checkpoint {cp.size}: bad signature")
    for n, e in enumerate(timeline, 1):
        if not isinstance(e, dict):
            problems.append(f"timeline entry {n}: malformed (not an object)")
            continue
        try:
            seq = int(e["seq"])
            # Bundles exported before RFC 8785 name no version: all their entries are version 1.
            canon = e.get("canon", CANON_LEGACY)
            if canon not in CANON_VERSIONS or isinstance(canon, bool):
                raise ValueError(f"unknown canonicalisation version {canon!r}")
            h = entry_hash(
                bytes.fromhex(e["prev_hash"]),
                seq,
                e["ts"],
                e["actor"],
                e["action"],
                e["subject"],
                e["body"],
                canon,
            )
            proof = [bytes.fromhex(x) for x in e["inclusion_proof"]]
        except (KeyError, ValueError, TypeError, OverflowError) as exc:
            problems.append(f"entry {e.get('seq')}: malformed ({exc})")
            continue
        if h.hex() != e.get("entry_hash"):
            problems.append(f"entry {seq}: content does not match its hash")
            continue
        if not merkle.verify_inclusion(seq - 1, cp.size, h, proof, cp.root):
            problems.append(f"entry {seq}: inclusion proof does not lead to the checkpoint root")
    return problems


def render_markdown(bundle: dict[str, Any]) -> str:
    inc, ident = bundle["incident"], bundle["identity"]
    cp = bundle.get("checkpoint")
    lines = [
        f"# Incident {inc['id']}: {inc['title']}",
        "",
        f"- Status: {inc['status']}; opened {inc['opened_at']} by {inc['opened_by']}",
        f"- Identity: {ident['name']} (`{ident['id']}`), status {ident['status']}, tier "
        f"{ident['effective_tier']} (assigned {ident['tier'] or 'default'}), "
        f"verification {ident['verification']}",
        "- Keys: " + (", ".join(f"`{k['id']}` ({k['state']})" for k in bundle["keys"]) or "none"),
        f"- Generated {bundle['generated_at']}; signing key `{bundle['public_key_id']}`",
        "",
        "## Categories",
        "",
    ]
    lines += [f"- {code}: {n} event(s)" for code, n in bundle["categories"].items()] or ["- none recorded"]
    lines += ["", "## Actions taken", ""]
    lines += [f"- seq {a['seq']} {a['ts']}: {a['action']} by {a['by']}" for a in bundle["actions"]] or [
        "- none"
    ]
    lines += [
        "",
        "## Timeline",
        "",
        "| seq | time | action | actor | detail | entry hash |",
        "|---|---|---|---|---|---|",
    ]
    for e in bundle["timeline"]:
        body = json.loads(e["body"])
        detail = body.get("reason") or ",".join(
            (body.get("moderation_input") or body.get("moderation_output") or {}).get("blocked", [])
        )
        cells = [str(e["seq"]), e["ts"], e["action"], e["actor"], detail or "", f"`{e['entry_hash'][:16]}…`"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Notes", ""]
    lines += [f"- {n['at']} {n['by']}: {n['text']}" for n in inc["notes"]] or ["- none"]
    lines += ["", "## Proof", ""]
    if cp:
        lines.append(
            f"Checkpoint: size {cp['size']}, root `{base64.b64decode(cp['root']).hex()}`, signed {cp['ts']} "
            f"by key `{cp['key_id']}`. Every timeline entry carries an RFC 9162 inclusion proof into it."
        )
    lines += ["", bundle["how_to_verify"], ""]
    return "\n".join(lines)


def export_incident(
    store: Store, incident_id: str, out_dir: Path, *, actor: str | None = None
) -> tuple[Path, Path]:
    bundle = build_bundle(store, incident_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath = out_dir / f"{incident_id}.json"
    mpath = out_dir / f"{incident_id}.md"
    data = json.dumps(bundle, indent=2, sort_keys=True)
    jpath.write_text(data + "\n", "utf-8")
    mpath.write_text(render_markdown(bundle), "utf-8")
    inc = bundle["incident"]
    with store.transaction() as tx:
        tx.log(
            actor,
            "incident.export",
            inc["identity_id"],
            {"incident": incident_id, "bundle_sha256": hashlib.sha256(data.encode()).hexdigest()},
        )
    return jpath, mpath
