"""The audit chain's canonical JSON is RFC 8785 (JCS), so an independent verifier can recompute every
hash; chains written before (canonicalisation version 1) still verify, and tampering with either kind
of entry is still caught (docs/gateway.md "Canonical JSON")."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
import sqlalchemy as sa
from sqlalchemy import Engine

from modelwarden import migrations
from modelwarden.db import make_engine
from modelwarden.gateway import audit, incidents
from modelwarden.gateway.audit import CheckpointPolicy, Entry
from modelwarden.gateway.signing import Signer, generate_key
from tests.gateway.test_audit import drop_guards

# RFC 8785 §3.2.3: property names sort by their UTF-16 code units, so the emoji (U+1F600, D83D DE00)
# comes before U+FB33; Python's sort_keys (code points) puts it last.
RFC_SORT_INPUT = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\U0001f600": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
}
RFC_SORT_ORDER = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]

# Numbers as ECMAScript writes them (RFC 8785 §3.2.2.3 and appendix B), by hand.
JCS_NUMBERS = [
    (1e-05, "0.00001"),
    (1.0, "1"),
    (4.50, "4.5"),
    (2e-3, "0.002"),
    (1e21, "1e+21"),
    (1e-7, "1e-7"),
    (333333333.33333329, "333333333.3333333"),
    (1e16, "10000000000000000"),
    (-0.0, "0"),
    (9007199254740991, "9007199254740991"),
]


@pytest.mark.parametrize(("value", "text"), JCS_NUMBERS)
def test_numbers_are_written_as_jcs_prescribes(value: float, text: str) -> None:
    assert audit.canonical_body({"n": value}) == '{"n":' + text + "}"
    assert audit.canonical_body({"n": value}).encode() == rfc8785.dumps({"n": value})


def test_the_old_form_wrote_floats_the_python_way() -> None:
    assert audit._legacy_body({"n": 1e-05}) == '{"n":1e-05}'  # what an independent verifier could not redo


def test_keys_sort_by_utf16_and_strings_escape_as_jcs_prescribes() -> None:
    text = audit.canonical_body(RFC_SORT_INPUT)
    assert list(json.loads(text)) == RFC_SORT_ORDER
    assert text.encode() == rfc8785.dumps(RFC_SORT_INPUT)
    assert list(json.loads(audit._legacy_body(RFC_SORT_INPUT))) != RFC_SORT_ORDER
    # Control characters as \u00xx (short forms for \b \f \n \r \t); everything else as UTF-8.
    assert audit.canonical_body({"s": "é\x1f\n\u2028😀"}) == '{"s":"é\\u001f\\n\u2028😀"}'
    # Lone surrogates cannot be UTF-8: replaced before canonicalisation, as before.
    assert audit.canonical_body({"s": "a\ud800b"}) == '{"s":"a\ufffdb"}'


def test_integers_beyond_the_exact_range_are_recorded_as_text() -> None:
    """A client may send `max_tokens: 10**30`; its clamped request must still be recorded."""
    big = {"clamped": {"max_tokens": [10**30, 256]}, "low": -(2**53), "edge": 2**53 - 1}
    text = audit.canonical_body(big)
    assert text == (
        '{"clamped":{"max_tokens":["1000000000000000000000000000000",256]},'
        '"edge":9007199254740991,"low":"-9007199254740992"}'
    )
    assert text.encode() == rfc8785.dumps(json.loads(text))
    with pytest.raises(rfc8785.IntegerDomainError):  # what rfc8785 itself says of such a number
        rfc8785.dumps({"n": 2**53})


def test_values_jcs_cannot_hold_refuse_the_entry_alone() -> None:
    for body in ({"n": float("nan")}, {"n": float("inf")}, {"o": object()}):
        with pytest.raises((ValueError, TypeError)):
            Entry("a", "b", None, body).prepare()


def test_a_new_entry_hash_is_sha256_of_the_jcs_record() -> None:
    body = audit.canonical_body({"latency": 1e-05, "tokens": 12})
    record = {"seq": 1, "ts": "t", "actor": "key:x", "action": "request.ok", "subject": None, "body": body}
    expected = hashlib.sha256(audit.GENESIS + rfc8785.dumps({**record, "canon": 2})).digest()
    assert audit.entry_hash(audit.GENESIS, 1, "t", "key:x", "request.ok", None, body) == expected
    # By hand: the bytes any JCS implementation produces for this record.
    assert audit.entry_bytes(1, "t", "key:x", "request.ok", None, body) == (
        b'{"action":"request.ok","actor":"key:x","body":"{\\"latency\\":0.00001,\\"tokens\\":12}",'
        b'"canon":2,"seq":1,"subject":null,"ts":"t"}'
    )
    legacy = audit.entry_bytes(1, "t", "a", "b", None, '{"n":1e-05}', audit.CANON_LEGACY)
    assert legacy == b'{"action":"b","actor":"a","body":"{\\"n\\":1e-05}","seq":1,"subject":null,"ts":"t"}'


# --- old chains ------------------------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrations.upgrade(eng)
    return eng


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return generate_key(tmp_path / "k.pem")


def _legacy_hash(prev: bytes, *fields: Any) -> bytes:
    return hashlib.sha256(prev + audit.entry_bytes(*fields, audit.CANON_LEGACY)).digest()


def _append(engine: Engine, signer: Signer, start: int, n: int) -> None:
    for i in range(start, start + n):
        with engine.begin() as conn:
            audit.append_entries(
                conn,
                [Entry("tester", "request.ok", "id_1", {"i": i, "latency_s": i * 1e-05, "text": "héllo"})],
                signer=signer,
                policy=CheckpointPolicy(every=5, interval_s=3600),
            )


def _old_chain(engine: Engine, signer: Signer, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Entries as the writer before RFC 8785 made them: its body text and its record, checkpoints
    signed over their hashes."""
    with monkeypatch.context() as m:
        m.setattr(audit, "canonical_body", audit._legacy_body)
        m.setattr(audit, "entry_hash", _legacy_hash)
        _append(engine, signer, 0, n)


def _verify(engine: Engine, signer: Signer) -> audit.VerifyReport:
    with engine.connect() as conn:
        return audit.verify(conn, public_key=signer.public)


def test_an_old_chain_and_new_entries_after_it_verify(
    engine: Engine, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _old_chain(engine, signer, monkeypatch, 12)
    with engine.connect() as conn:
        bodies = [r.body for r in audit.iter_rows(conn)]
    assert '"latency_s":1e-05' in bodies[1]  # really the old form
    rep = _verify(engine, signer)
    assert rep.ok and rep.entries == 12 and rep.legacy_entries == 12 and rep.checkpoints == 2
    _append(engine, signer, 12, 8)  # the upgraded gateway extends the same chain
    with engine.connect() as conn:
        assert '"latency_s":0.00012' in list(audit.iter_rows(conn))[12].body
    rep = _verify(engine, signer)
    assert rep.ok, rep.findings
    assert rep.entries == 20 and rep.legacy_entries == 12 and rep.checkpoints == 4


@pytest.mark.parametrize("seq", [3, 15])  # an old entry, a new one
def test_tampering_is_caught_in_both_forms(
    engine: Engine, signer: Signer, monkeypatch: pytest.MonkeyPatch, seq: int
) -> None:
    _old_chain(engine, signer, monkeypatch, 12)
    _append(engine, signer, 12, 8)
    drop_guards(engine)
    with engine.begin() as conn:
        r = conn.execute(sa.text("SELECT * FROM gw_audit WHERE seq = :s"), {"s": seq}).one()
        edited = r.body.replace('"text":"héllo"', '"text":"edited"')
        conn.execute(sa.text("UPDATE gw_audit SET body = :b WHERE seq = :s"), {"b": edited, "s": seq})
    rep = _verify(engine, signer)
    assert rep.first_bad_seq == seq and any(f.kind == "edited" for f in rep.findings)
    # Rewritten with its hash recomputed in either version: the next link and the signed root break.
    for canon in audit.CANON_VERSIONS:
        with engine.begin() as conn:
            h = audit.entry_hash(bytes(r.prev_hash), r.seq, r.ts, r.actor, r.action, r.subject, edited, canon)
            conn.execute(sa.text("UPDATE gw_audit SET entry_hash = :h WHERE seq = :s"), {"h": h, "s": seq})
        rep = _verify(engine, signer)
        assert rep.first_bad_seq == seq
        assert any(f.seq == seq + 1 and f.kind == "link" for f in rep.findings)
        assert any(f.kind == "root" for f in rep.findings)


def test_incident_bundles_carry_each_entry_version(
    tmp_path: Path, engine: Engine, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelwarden.gateway.store import Store
    from modelwarden.gateway.tiers import load_tiers

    store = Store(engine, load_tiers(None), signer=signer)
    ident = store.create_identity("old-and-new")
    with monkeypatch.context() as m:  # opened by the writer before RFC 8785
        m.setattr(audit, "canonical_body", audit._legacy_body)
        m.setattr(audit, "entry_hash", _legacy_hash)
        inc = incidents.open_incident(store, ident.id, "first")
    incidents.add_note(store, inc.id, "after the upgrade")
    bundle = incidents.build_bundle(store, inc.id)
    versions = [e["canon"] for e in bundle["timeline"]]
    assert audit.CANON_LEGACY in versions and audit.CANON_JCS in versions
    assert incidents.verify_bundle(bundle, signer.public) == []
    # A bundle exported before versions were recorded: no `canon`, every entry version 1.
    old = json.loads(json.dumps(bundle))
    for e in old["timeline"]:
        del e["canon"]
    problems = incidents.verify_bundle(old, signer.public)
    assert problems and all("does not match its hash" in p for p in problems)
    assert len(problems) == versions.count(audit.CANON_JCS)
    # The version is covered by the hash: relabelling an entry fails it.
    flipped = json.loads(json.dumps(bundle))
    flipped["timeline"][0]["canon"] = 3 - flipped["timeline"][0]["canon"]
    assert any("does not match its hash" in p for p in incidents.verify_bundle(flipped, signer.public))
