"""The audit chain: appends from concurrent writers, checkpoints, and detection of direct database
tampering (edit, delete, reorder, truncation, consistent rewrite, forged checkpoints) on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from modelwarden import migrations
from modelwarden.db import make_engine
from modelwarden.gateway import audit, merkle
from modelwarden.gateway.audit import AnchorFile, AuditWriter, CheckpointPolicy, Entry
from modelwarden.gateway.signing import Signer, generate_key
from tests.gateway.pg import fresh_database


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_url"), "gwaudit")
    eng = make_engine(url)
    migrations.upgrade(eng)
    return eng


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return generate_key(tmp_path / "k.pem")


def fill(
    engine: Engine, signer: Signer, n: int, *, every: int = 10, anchor: AnchorFile | None = None
) -> None:
    for i in range(n):
        with engine.begin() as conn:
            res = audit.append_entries(
                conn,
                [Entry("tester", "request.ok", f"id_{i % 3}", {"i": i, "text": "héllo"})],
                signer=signer,
                policy=CheckpointPolicy(every=every, interval_s=3600),
            )
        if res.checkpoint and anchor:
            anchor.write(res.checkpoint)


def drop_guards(engine: Engine) -> None:
    """What an attacker with database access does first: the append-only triggers stop mistakes only."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for t in (
                "gw_audit_no_update",
                "gw_audit_no_delete",
                "gw_checkpoints_no_update",
                "gw_checkpoints_no_delete",
            ):
                conn.execute(sa.text(f"DROP TRIGGER {t}"))
        else:
            conn.execute(sa.text("DROP FUNCTION gw_append_only() CASCADE"))


def check(engine: Engine, signer: Signer, anchor: AnchorFile | None = None) -> audit.VerifyReport:
    with engine.connect() as conn:
        return audit.verify(conn, public_key=signer.public, anchors=anchor.read() if anchor else [])


def test_intact_log_verifies_with_checkpoints_and_anchors(
    engine: Engine, signer: Signer, tmp_path: Path
) -> None:
    anchor = AnchorFile(tmp_path / "anchors.jsonl")
    fill(engine, signer, 35, every=10, anchor=anchor)
    rep = check(engine, signer, anchor)
    assert rep.ok, rep.findings
    assert rep.entries == 35
    assert rep.checkpoints == 3 and rep.anchors == 3  # at 10, 20, 30
    assert rep.last_anchored_size == 30
    with engine.connect() as conn:
        cps = audit.list_checkpoints(conn)
        leaves = audit.leaf_hashes(conn, 30)
    assert [c.size for c in cps] == [10, 20, 30]
    assert cps[-1].root == merkle.root(leaves)


def test_append_only_triggers_refuse_update_and_delete(engine: Engine, signer: Signer) -> None:
    fill(engine, signer, 2)
    for stmt in ("UPDATE gw_audit SET actor = 'x' WHERE seq = 1", "DELETE FROM gw_audit WHERE seq = 2"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(stmt))


def test_edited_entry_is_found(engine: Engine, signer: Signer) -> None:
    fill(engine, signer, 25)
    drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE gw_audit SET body = :b WHERE seq = 8"), {"b": '{"i":7,"text":"nothing to see"}'}
        )
    rep = check(engine, signer)
    assert not rep.ok
    assert rep.first_bad_seq == 8
    kinds = {(f.seq, f.kind) for f in rep.findings}
    assert (8, "edited") in kinds
    assert any(f.kind == "root" for f in rep.findings)  # the checkpoints at 10 and 20 no longer match


def test_edit_with_recomputed_hash_breaks_the_next_link_and_the_signed_root(
    engine: Engine, signer: Signer
) -> None:
    fill(engine, signer, 25)
    drop_guards(engine)
    with engine.begin() as conn:
        r = conn.execute(sa.text("SELECT * FROM gw_audit WHERE seq = 12")).one()
        body = '{"i":11,"text":"rewritten"}'
        h = audit.entry_hash(bytes(r.prev_hash), r.seq, r.ts, r.actor, r.action, r.subject, body)
        conn.execute(
            sa.text("UPDATE gw_audit SET body = :b, entry_hash = :h WHERE seq = 12"), {"b": body, "h": h}
        )
    rep = check(engine, signer)
    # The edited entry itself is named, not the one after it (issue 16, defect 10).
    assert rep.first_bad_seq == 12
    assert any(f.seq == 12 and f.kind == "edited" and "recomputed" in f.detail for f in rep.findings)
    assert any(f.seq == 13 and f.kind == "link" for f in rep.findings)
    assert any(f.kind == "root" and f.seq == 20 for f in rep.findings)


def test_rewritten_link_with_recomputed_hash_names_that_entry(engine: Engine, signer: Signer) -> None:
    fill(engine, signer, 25)
    drop_guards(engine)
    # Entry 12's prev_hash (and then its own hash) rewritten: 12 is to blame, not 11.
    with engine.begin() as conn:
        r = conn.execute(sa.text("SELECT * FROM gw_audit WHERE seq = 12")).one()
        fake_prev = bytes(32)
        h = audit.entry_hash(fake_prev, r.seq, r.ts, r.actor, r.action, r.subject, r.body)
        conn.execute(
            sa.text("UPDATE gw_audit SET prev_hash = :p, entry_hash = :h WHERE seq = 12"),
            {"p": fake_prev, "h": h},
        )
    rep = check(engine, signer)
    assert rep.first_bad_seq == 12
    assert [f.seq for f in rep.findings if f.kind == "edited"] == [12]


def test_deleted_entry_is_found(engine: Engine, signer: Signer) -> None:
    fill(engine, signer, 25)
    drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM gw_audit WHERE seq = 5"))
    rep = check(engine, signer)
    assert rep.first_bad_seq == 5
    assert any(f.kind == "missing" and "5–5" in f.detail for f in rep.findings)


def test_reordered_entries_are_found(engine: Engine, signer: Signer) -> None:
    fill(engine, signer, 25)
    drop_guards(engine)
    # Swap two entries' positions by exchanging their sequence numbers.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE gw_audit SET seq = -1 WHERE seq = 3"))
        conn.execute(sa.text("UPDATE gw_audit SET seq = 3 WHERE seq = 4"))
        conn.execute(sa.text("UPDATE gw_audit SET seq = 4 WHERE seq = -1"))
    rep = check(engine, signer)
    assert rep.first_bad_seq == 3
    assert {f.seq for f in rep.findings if f.kind in ("edited", "link")} >= {3, 4}


def test_truncated_tail_is_found_by_the_checkpoint(engine: Engine, signer: Signer) -> None:
    fill(engine, signer, 25)
    drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM gw_audit WHERE seq > 15"))
        conn.execute(sa.text("UPDATE gw_audit_head SET size = 15"))
    rep = check(engine, signer)
    assert any(f.kind == "truncated" and "size 20" in f.detail for f in rep.findings)


def test_consistent_rewrite_is_caught_by_signed_roots_and_anchors(
    engine: Engine, signer: Signer, tmp_path: Path
) -> None:
    anchor = AnchorFile(tmp_path / "anchors.jsonl")
    fill(engine, signer, 25, anchor=anchor)
    drop_guards(engine)
    # Rewrite history from entry 5 on and recompute every hash and the head: the chain itself verifies.
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT * FROM gw_audit ORDER BY seq")).all()
        prev = bytes(rows[3].entry_hash)
        for r in rows[4:]:
            body = r.body.replace("héllo", "bye")
            h = audit.entry_hash(prev, r.seq, r.ts, r.actor, r.action, r.subject, body)
            conn.execute(
                sa.text("UPDATE gw_audit SET body = :b, prev_hash = :p, entry_hash = :h WHERE seq = :s"),
                {"b": body, "p": prev, "h": h, "s": r.seq},
            )
            prev = h
        conn.execute(sa.text("UPDATE gw_audit_head SET head_hash = :h"), {"h": prev})
    rep = check(engine, signer, anchor)
    assert not any(f.kind in ("edited", "link") for f in rep.findings)
    assert any(f.kind == "root" and f.seq == 10 for f in rep.findings)
    # Deleting the checkpoints too leaves the anchors, kept outside the database.
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM gw_checkpoints"))
    rep = check(engine, signer, anchor)
    assert any(f.kind == "checkpoint" for f in rep.findings)
    assert any(f.kind == "root" and "anchor" in f.detail for f in rep.findings)


def test_checkpoint_signed_by_another_key_is_rejected(engine: Engine, signer: Signer, tmp_path: Path) -> None:
    fill(engine, signer, 12)
    other = generate_key(tmp_path / "other.pem")
    drop_guards(engine)
    with engine.begin() as conn:
        cp = conn.execute(sa.text("SELECT * FROM gw_checkpoints WHERE size = 10")).one()
        sig = other.sign(cp.size, bytes(cp.root), cp.ts)
        conn.execute(
            sa.text("UPDATE gw_checkpoints SET signature = :s, key_id = :k"), {"s": sig, "k": other.key_id}
        )
    rep = check(engine, signer)
    assert any(f.kind == "signature" for f in rep.findings)


def test_concurrent_writers_share_one_gapless_chain(engine: Engine, signer: Signer) -> None:
    """Two writers (as two worker processes would) with their own engines and connections."""
    url = engine.url.render_as_string(hide_password=False)

    def worker(tag: str) -> None:
        async def run() -> None:
            eng = make_engine(url)
            w = AuditWriter(
                eng, signer=signer, policy=CheckpointPolicy(every=25, interval_s=3600), anchor=None
            )
            w.start()
            seqs = await asyncio.gather(
                *(w.append(Entry(tag, "request.ok", None, {"n": i})) for i in range(150))
            )
            assert len(set(seqs)) == 150
            await w.stop()
            assert w.batches < 150  # group commit really batched
            eng.dispose()

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rep = check(engine, signer)
    assert rep.ok, rep.findings
    assert rep.entries == 300
    with engine.connect() as conn:
        actors = conn.execute(sa.text("SELECT actor, count(*) FROM gw_audit GROUP BY actor")).all()
    assert dict(actors) == {"a": 150, "b": 150}


def test_writer_reports_a_dead_database(tmp_path: Path, signer: Signer) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'never-migrated.db'}")

    async def run() -> None:
        w = AuditWriter(eng, signer=signer, policy=CheckpointPolicy(), anchor=None)
        w.start()
        with pytest.raises(audit.AuditUnavailable, match="audit log unavailable"):
            await w.append(Entry("t", "x", None, {}))
        await w.stop()

    asyncio.run(run())
