"""Attestations in the registry: attached to the assessment they attest, stored as received, verified
against a trust anchor (never without one), verified again later. Real keys, real certificates, a real
tiny release assessed and attested by modelwarden, a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from modelwarden.errors import TrustInvalid
from modelwarden.limits import MAX_ATTESTATION_BYTES
from modelwarden.registry import Registry
from modelwarden.registry.attestations import (
    Anchor,
    attach,
    envelope,
    fingerprint,
    for_assessment,
    reverify,
)
from modelwarden.registry.models import AttestationRow
from modelwarden.trust import SigningKey, attest_release
from tests.registry.attestation_scene import HOSTILE_SAN, Scene, certificate_attestation, make_scene
from tests.registry.test_cli import run
from tests.trust.conftest import Keys, Pki, make_keys, make_pki, make_release


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    return make_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture
def reg(db_url: str) -> Iterator[Registry]:
    registry = Registry(db_url)
    yield registry
    registry.close()


def key_anchor(keys: Keys) -> Anchor:
    return Anchor.from_files(public_key=keys.public)


def test_verified_with_the_signers_key_names_the_key(reg: Registry, scene: Scene) -> None:
    ident = reg.save(scene.assessment)
    raw = scene.attestation.read_bytes()
    att, new = attach(reg, ident, raw, anchor=key_anchor(scene.keys))
    assert new and att.status == "verified"
    expected = fingerprint(scene.keys.key.public_key())
    assert att.signer_fingerprint == expected and att.signer == f"key sha256:{expected}"
    assert att.anchor == f"public key sha256:{expected}" and att.verified_at is not None
    assert att.link == "file names"  # assess records no file hashes unless asked
    assert set(att.subjects) == {"config.json", "model.safetensors", "modelwarden.yaml"}
    from modelwarden.trust.attest import predicate

    assert att.summary.scan_verdict == predicate(scene.assessment)["scan"]["verdict"] is not None
    assert att.summary.as_of == scene.assessment.as_of.isoformat()
    # Stored exactly as received.
    assert envelope(reg, att.id) == raw
    assert att.envelope_sha256 == hashlib.sha256(raw).hexdigest()


def test_without_an_anchor_it_is_present_not_verified(reg: Registry, scene: Scene) -> None:
    ident = reg.save(scene.assessment)
    att, _ = attach(reg, ident, scene.attestation.read_bytes())
    assert att.status == "not verified"
    assert att.signer is None and att.signer_fingerprint is None and att.anchor is None
    assert att.verified_at is None
    assert "no trust anchor" in att.detail


def test_signed_by_another_key_than_the_anchor_fails(reg: Registry, scene: Scene) -> None:
    ident = reg.save(scene.assessment)
    att, _ = attach(reg, ident, scene.by_other.read_bytes(), anchor=key_anchor(scene.keys))
    assert att.status == "failed" and att.signer is None
    assert "trusted key" in att.detail
    # Its own signer's key verifies it.
    again, new = attach(reg, ident, scene.by_other.read_bytes(), anchor=key_anchor(scene.other))
    assert not new and again.id == att.id and again.status == "verified"


def test_the_same_envelope_twice_is_one_attestation(reg: Registry, scene: Scene) -> None:
    ident = reg.save(scene.assessment)
    first, new1 = attach(reg, ident, scene.attestation.read_bytes())
    second, new2 = attach(reg, ident, scene.attestation.read_bytes())
    assert new1 and not new2 and first.id == second.id
    assert len(for_assessment(reg, ident)) == 1
    # Attached again with an anchor, the same row is verified.
    third, _ = attach(reg, ident, scene.attestation.read_bytes(), anchor=key_anchor(scene.keys))
    assert third.id == first.id and third.status == "verified"
    assert [a.status for a in for_assessment(reg, ident)] == ["verified"]


def test_an_attestation_of_other_files_is_refused(reg: Registry, scene: Scene, tmp_path: Path) -> None:
    from modelwarden.assess import assess_path

    ident = reg.save(scene.assessment)
    # Another release (another weights file, an extra file), attested with the same predicate.
    other = make_release(tmp_path / "other", seed=1)
    (other / "extra.bin").write_bytes(b"\0" * 16)
    made = attest_release(
        other, SigningKey(private_key=scene.keys.private), tmp_path / "o.json", assessment=scene.assessment
    )
    with pytest.raises(TrustInvalid, match=r"other files.*extra\.bin"):
        attach(reg, ident, made.attestation.read_bytes(), anchor=key_anchor(scene.keys))
    # With file hashes recorded, a changed digest under the same name is refused too.
    hashed = scene.assessment.model_copy(deep=True)
    hashed.subject.file_hashes = {
        "config.json": "0" * 64,
        "model.safetensors": "1" * 64,
        "modelwarden.yaml": "2" * 64,
    }
    with pytest.raises(TrustInvalid, match="other digests"):
        attach(reg, reg.save(hashed), scene.attestation.read_bytes())
    # An attestation of another assessment (other findings) of these files is refused.
    later = assess_path(scene.release, as_of=scene.assessment.as_of.replace(year=2030))
    with pytest.raises(TrustInvalid, match="another assessment: its as_of"):
        attach(reg, reg.save(later), scene.attestation.read_bytes())
    assert for_assessment(reg, ident) == []


def test_file_digests_link_when_the_assessment_has_them(reg: Registry, scene: Scene) -> None:
    from modelwarden.trust.signing import file_digests

    hashed = scene.assessment.model_copy(deep=True)
    hashed.subject.file_hashes = file_digests(scene.release)
    att, _ = attach(reg, reg.save(hashed), scene.attestation.read_bytes(), anchor=key_anchor(scene.keys))
    assert att.link == "file digests" and att.status == "verified"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a DSSE envelope"),
        (
            b'{"payloadType": "application/vnd.in-toto+json", "payload": "@@@", "signatures": [{}]}',
            "not base64",
        ),
        (b'{"payloadType": "text/plain", "payload": "", "signatures": [{}]}', "payloadType"),
        (
            b'{"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}',
            "no signatures",
        ),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 100_000, "not JSON|nests"),
    ],
)
def test_malformed_envelopes_get_a_clear_error(reg: Registry, scene: Scene, raw: bytes, message: str) -> None:
    ident = reg.save(scene.assessment)
    with pytest.raises(TrustInvalid, match=message):
        attach(reg, ident, raw)
    assert for_assessment(reg, ident) == []


def test_a_statement_of_another_kind_is_refused(reg: Registry, scene: Scene) -> None:
    env = json.loads(scene.attestation.read_bytes())
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicateType"] = "https://slsa.dev/provenance/v1"
    env["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    with pytest.raises(TrustInvalid, match="predicateType"):
        attach(reg, reg.save(scene.assessment), json.dumps(env).encode())


def test_an_oversized_envelope_is_refused_before_parsing(reg: Registry, scene: Scene) -> None:
    ident = reg.save(scene.assessment)
    raw = scene.attestation.read_bytes()
    padded = raw[:-2] + b" " * (MAX_ATTESTATION_BYTES - len(raw) + 1) + raw[-2:]
    assert len(padded) == MAX_ATTESTATION_BYTES + 1
    with pytest.raises(TrustInvalid, match="larger than"):
        attach(reg, ident, padded)


def test_a_tampered_stored_envelope_fails_on_reverification(reg: Registry, scene: Scene) -> None:
    ident = reg.save(scene.assessment)
    att, _ = attach(reg, ident, scene.attestation.read_bytes(), anchor=key_anchor(scene.keys))
    assert att.status == "verified"
    # Someone with access to the database rewrites the statement (a passing scan verdict) and keeps
    # the signature; the stored digest is updated too, as a careful attacker would.
    env = json.loads(scene.attestation.read_bytes())
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"]["compute"]["method"] = "forged"
    env["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    forged = json.dumps(env).encode()
    t = AttestationRow
    with reg.engine.begin() as conn:
        conn.execute(
            update(t)
            .where(t.id == att.id)
            .values(envelope=forged, envelope_sha256=hashlib.sha256(forged).hexdigest())
        )
    [after] = reverify(reg, key_anchor(scene.keys))
    assert after.status == "failed" and after.signer is None
    assert "trusted key" in after.detail and after.verified_at is not None
    # Bytes edited without the digest: the changed bytes are named.
    with reg.engine.begin() as conn:
        conn.execute(update(t).where(t.id == att.id).values(envelope=scene.attestation.read_bytes() + b" "))
    [after] = reverify(reg, key_anchor(scene.keys))
    assert after.status == "failed" and "bytes changed" in after.detail
    # Restored (bytes and digest), it verifies again.
    with reg.engine.begin() as conn:
        conn.execute(
            update(t)
            .where(t.id == att.id)
            .values(envelope=scene.attestation.read_bytes(), envelope_sha256=att.envelope_sha256)
        )
    [after] = reverify(reg, key_anchor(scene.keys))
    assert after.status == "verified"
    # Against another key, the latest check records a failure.
    [after] = reverify(reg, key_anchor(scene.other))
    assert after.status == "failed"


def test_deleting_the_assessment_deletes_its_attestations(reg: Registry, scene: Scene) -> None:
    ident = reg.save(scene.assessment)
    attach(reg, ident, scene.attestation.read_bytes())
    reg.delete(ident)
    with reg.engine.connect() as conn:
        assert conn.execute(select(AttestationRow.id)).all() == []


# --- certificate method ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_by_certificate(tmp_path_factory: pytest.TempPathFactory, scene: Scene) -> tuple[Pki, Path, Path]:
    """A copy of the release signed with a certificate whose subject is hostile HTML, its attestation."""
    return certificate_attestation(tmp_path_factory.mktemp("pki"), scene)


def test_certificate_chain_through_the_model_signature(
    reg: Registry, scene: Scene, signed_by_certificate: tuple[Pki, Path, Path], tmp_path: Path
) -> None:
    pki, sig, att_file = signed_by_certificate
    ident = reg.save(scene.assessment)
    anchor = Anchor.from_files(certificate_chain=[pki.root])
    att, _ = attach(reg, ident, att_file.read_bytes(), anchor=anchor, signature_bundle=sig.read_bytes())
    assert att.status == "verified", att.detail
    from cryptography import x509

    leaf = x509.load_pem_x509_certificate(pki.leaf.read_bytes())
    subject, issuer = leaf.subject.rfc4514_string(), leaf.issuer.rfc4514_string()
    assert (
        att.signer == f"certificate subject {subject}; issuer {issuer}; SAN {HOSTILE_SAN}, ci@signer.example"
    )
    assert "<img src=x onerror=alert(1)" in att.signer  # RFC 4514 escapes only the brackets' meaning
    assert att.signer_fingerprint == fingerprint(pki.leaf_key.key.public_key())
    # Without the model signature there is no certificate to check it with: failed, not verified.
    bare, _ = attach(reg, reg.save(scene.assessment), att_file.read_bytes(), anchor=anchor)
    assert bare.status == "failed" and "model signature" in bare.detail
    # Another root: the chain does not verify.
    stranger = make_pki(tmp_path / "stranger", "stranger")
    [first, second] = reverify(reg, Anchor.from_files(certificate_chain=[stranger.root]))
    assert first.status == second.status == "failed"
    [first, _] = reverify(reg, anchor)
    assert first.status == "verified"


# --- command line ---------------------------------------------------------------------------------


def test_cli_attach_list_and_reverify(db_url: str, scene: Scene) -> None:
    with Registry(db_url) as reg:
        ident = reg.save(scene.assessment)
    db = ["--db", db_url]
    key, other = ["--public-key", str(scene.keys.public)], ["--public-key", str(scene.other.public)]
    ok = run("registry", "attach", str(ident), str(scene.attestation), *db, *key)
    assert ok.returncode == 0, ok.stderr
    assert "verified ✓" in ok.stdout and fingerprint(scene.keys.key.public_key()) in ok.stdout
    again = run("registry", "attach", str(ident), str(scene.attestation), *db)
    assert again.returncode == 0 and "not stored twice" in again.stderr
    bad = run("registry", "attach", str(ident), str(scene.by_other), *db, *key)
    assert bad.returncode == 1 and "FAILED ✗" in bad.stdout
    listed = run("registry", "attestations", str(ident), *db, "--format", "json")
    assert [a["status"] for a in json.loads(listed.stdout)] == ["verified", "failed"]
    check = run("registry", "verify-attestations", *db, *other)
    assert check.returncode == 1 and "1 of 2 attestation(s) verified" in check.stderr
    none = run("registry", "verify-attestations", *db)
    assert none.returncode == 2 and "nothing to verify against" in none.stderr
    junk = run("registry", "attach", str(ident), str(scene.keys.public), *db)
    assert junk.returncode == 2 and "not JSON" in junk.stderr


def test_a_deeply_nested_payload_is_refused_or_summarised_without_recursion() -> None:
    from modelwarden.registry.attestations import parse_envelope, summarise

    def envelope_with(predicate: str) -> bytes:
        stmt = (
            '{"_type": "https://in-toto.io/Statement/v1", "predicateType": '
            '"https://modelwarden.dev/attestation/assessment/v1", "subject": [{"name": "a", "digest": '
            '{"sha256": "00"}}], "predicate": ' + predicate + "}"
        )
        payload = base64.b64encode(stmt.encode()).decode()
        return json.dumps(
            {"payloadType": "application/vnd.in-toto+json", "payload": payload, "signatures": [{"sig": ""}]}
        ).encode()

    with pytest.raises(TrustInvalid, match="nests too deeply"):
        parse_envelope(envelope_with('{"scan": ' + "[" * 50_000 + "]" * 50_000 + "}"))
    nested = "[" * 900 + "]" * 900
    parsed = parse_envelope(envelope_with('{"scan": {"verdict": ' + nested + '}, "as_of": "<b>"}'))
    summary = summarise(parsed.predicate)
    assert summary.scan_verdict == "(not a plain value)" and summary.as_of == "<b>"


def test_lists_filter_on_attested_and_verified(reg: Registry, scene: Scene) -> None:
    plain = reg.save(scene.assessment)
    unanchored = reg.save(scene.assessment)
    attach(reg, unanchored, scene.attestation.read_bytes())
    verified = reg.save(scene.assessment)
    attach(reg, verified, scene.attestation.read_bytes(), anchor=key_anchor(scene.keys))
    failed = reg.save(scene.assessment)
    attach(reg, failed, scene.by_other.read_bytes(), anchor=key_anchor(scene.keys))
    ids = {a.id for a in reg.list().items}
    assert ids == {plain, unanchored, verified, failed}
    assert {a.id for a in reg.list(attested="verified").items} == {verified}
    assert {a.id for a in reg.list(attested="any").items} == {unanchored, verified, failed}
    # The verification recorded later moves it in or out.
    reverify(reg, key_anchor(scene.other))
    assert {a.id for a in reg.list(attested="verified").items} == {failed}


def test_the_command_line_workflow_sign_attest_assess_attach(tmp_path: Path) -> None:
    """The order a publisher uses: sign, attest into the folder, record the assessment, attach. The
    recorded assessment scanned one more file (the attestation) and still matches."""
    import subprocess

    release = make_release(tmp_path / "release")
    keys = make_keys(tmp_path / "keys", "signer")
    db = ["--db", f"sqlite:///{tmp_path / 'r.db'}"]
    assert run("sign", str(release), "--key", str(keys.private)).returncode == 0
    assert run("attest", str(release), "--key", str(keys.private)).returncode == 0
    saved = run("assess", str(release), "--save", *db, "--format", "json")
    assert saved.returncode == 0, saved.stderr
    [ident] = [a.id for a in Registry(db[1]).list().items]
    attached = run(
        "registry",
        "attach",
        str(ident),
        str(release / "model.intoto.json"),
        *db,
        "--public-key",
        str(keys.public),
    )
    assert attached.returncode == 0, attached.stderr
    # The fingerprint shown is what openssl prints for the public key.
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(keys.public), "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    assert f"signer: key sha256:{hashlib.sha256(der).hexdigest()}" in attached.stdout
