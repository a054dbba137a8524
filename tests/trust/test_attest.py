"""Signed attestations: DSSE exactly as specified (checked against two other implementations), the
Statement's subjects are the signed files, and every way of lying with an attestation fails."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from model_signing._signing import sign_sigstore_pb
from securesystemslib.dsse import Envelope
from securesystemslib.signer import Signature, SSlibKey

from modelwarden.trust import SigningKey, TrustAnchor, attest_release, sign_model, verify
from modelwarden.trust.attest import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    canonical,
    open_envelope,
    pae,
    sign_envelope,
)
from modelwarden.trust.signing import ATTESTATION_NAME, SIGNATURE_NAME, key_id

from .conftest import Keys, Pki, make_release

AS_OF = dt.date(2026, 9, 1)


def _names(report: Any) -> dict[str, bool]:
    return {c.name: c.passed for c in report.checks}


def _payload(att: Path) -> dict[str, Any]:
    return json.loads(base64.b64decode(json.loads(att.read_text())["payload"]))


def _signed_release(release: Path, keys: Keys) -> Path:
    sign_model(release, SigningKey(private_key=keys.private))
    attest_release(release, SigningKey(private_key=keys.private), as_of=AS_OF)
    return release / ATTESTATION_NAME


# --- DSSE ---------------------------------------------------------------------------------------------


def test_pae_is_the_spec_encoding() -> None:
    # The worked example of the DSSE v1 protocol.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    # Lengths are in bytes, not characters.
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


@pytest.mark.parametrize("payload", [b"", b"{}", b'{"a": "\xc3\xa9 \\n"}', bytes(range(256))])
def test_pae_agrees_with_securesystemslib_and_model_signing(payload: bytes) -> None:
    ours = pae(PAYLOAD_TYPE, payload)
    assert ours == Envelope(payload, PAYLOAD_TYPE, {}).pae()
    assert ours == sign_sigstore_pb.pae(payload)


def test_our_envelope_verifies_with_securesystemslib(keys: Keys) -> None:
    payload = canonical({"_type": STATEMENT_TYPE, "subject": [], "predicate": {}, "predicateType": "x"})
    env = sign_envelope(payload, keys.key)
    kid = key_id(keys.key.public_key())
    theirs = Envelope(
        base64.b64decode(env["payload"]),
        env["payloadType"],
        {kid: Signature(kid, base64.b64decode(env["signatures"][0]["sig"]).hex())},
    )
    verified = theirs.verify([SSlibKey.from_crypto(keys.key.public_key(), keyid=kid)], 1)
    assert kid in verified


def test_we_verify_the_dsse_envelope_model_signing_wrote(release: Path, keys: Keys) -> None:
    # model_signing's signature holds a DSSE envelope of the same shape: our DSSE check accepts its
    # signature and rejects it under another key — two implementations agreeing on PAE and ECDSA.
    sign_model(release, SigningKey(private_key=keys.private))
    envelope = json.loads((release / SIGNATURE_NAME).read_text())["dsseEnvelope"]
    check, stmt = open_envelope(envelope, keys.key.public_key())
    assert check.passed and stmt is not None and stmt["_type"] == STATEMENT_TYPE


def test_payload_is_canonical_json(release: Path, keys: Keys) -> None:
    att = _signed_release(release, keys)
    raw = base64.b64decode(json.loads(att.read_text())["payload"])
    assert raw == canonical(json.loads(raw))


# --- the statement --------------------------------------------------------------------------------------


def test_round_trip_and_statement_contents(release: Path, keys: Keys) -> None:
    att = _signed_release(release, keys)
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=att)
    assert report.passed, report.checks
    assert list(_names(report)) == [
        "model signature",
        "attestation signature",
        "attestation statement",
        "attestation subjects",
    ]
    stmt = _payload(att)
    assert stmt["_type"] == STATEMENT_TYPE and stmt["predicateType"] == PREDICATE_TYPE
    signed = json.loads(
        base64.b64decode(json.loads((release / SIGNATURE_NAME).read_text())["dsseEnvelope"]["payload"])
    )
    signed_digests = {r["name"]: r["digest"] for r in signed["predicate"]["resources"]}
    assert {s["name"]: s["digest"]["sha256"] for s in stmt["subject"]} == signed_digests
    pred = stmt["predicate"]
    assert pred["as_of"] == "2026-09-01"
    assert pred["scan"]["verdict"] == "PASS"
    assert pred["tool"]["name"] == "modelwarden" and pred["tool"]["version"]
    assert pred["ruleset"]
    # 64 parameters x 1e12 tokens x 6: a band around 3.84e14 FLOP from the manifest's tokens.
    band = pred["compute"]["training_flop"]
    assert band["low"] <= 6 * 64 * 1e12 <= band["high"]
    assert "eu_ai_act" in pred["obligations"]


def test_certificate_signed_attestation_verifies_with_the_root(release: Path, pki: Pki) -> None:
    key = SigningKey(private_key=pki.leaf_key.private, certificate=pki.leaf, chain=[pki.root])
    sign_model(release, key)
    result = attest_release(release, key, as_of=AS_OF)
    report = verify(release, TrustAnchor(certificate_chain=[pki.root]), attestation=result.attestation)
    assert report.passed, report.checks


# --- lies ------------------------------------------------------------------------------------------------


def test_weight_byte_changed_after_attesting(release: Path, keys: Keys) -> None:
    att = _signed_release(release, keys)
    data = bytearray((release / "model.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (release / "model.safetensors").write_bytes(bytes(data))
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=att)
    checks = {c.name: c for c in report.checks}
    assert not report.passed
    assert not checks["model signature"].passed
    assert checks["attestation subjects"].detail == "changed: model.safetensors"


def test_edited_attestation_fails(release: Path, keys: Keys) -> None:
    att = _signed_release(release, keys)
    envelope = json.loads(att.read_text())
    stmt = _payload(att)
    stmt["predicate"]["scan"]["verdict"] = "PASS"
    stmt["predicate"]["compute"]["training_flop"] = {"low": 1.0, "central": 1.0, "high": 1.0}
    envelope["payload"] = base64.b64encode(canonical(stmt)).decode()
    att.write_text(json.dumps(envelope))
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=att)
    assert _names(report) == {"model signature": True, "attestation signature": False}


def test_attestation_by_another_key_fails(release: Path, keys: Keys, other_keys: Keys) -> None:
    sign_model(release, SigningKey(private_key=keys.private))
    attest_release(release, SigningKey(private_key=other_keys.private), as_of=AS_OF)
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=release / ATTESTATION_NAME)
    assert _names(report)["attestation signature"] is False and not report.passed


def test_attestation_of_other_files_fails(tmp_path: Path, release: Path, keys: Keys) -> None:
    other = make_release(tmp_path / "other", seed=1)
    sign_model(release, SigningKey(private_key=keys.private))
    result = attest_release(other, SigningKey(private_key=keys.private), tmp_path / "other.intoto.json")
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=result.attestation)
    checks = {c.name: c for c in report.checks}
    assert checks["attestation signature"].passed  # genuinely ours, but about other bytes
    assert not checks["attestation subjects"].passed
    assert "changed: model.safetensors" in checks["attestation subjects"].detail
    assert not report.passed


def test_file_added_after_attesting_fails(release: Path, keys: Keys) -> None:
    att = _signed_release(release, keys)
    (release / "tokenizer.json").write_text("{}")
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=att)
    checks = {c.name: c for c in report.checks}
    assert "added (not in the attestation): tokenizer.json" in checks["attestation subjects"].detail


def _resign(att: Path, keys: Keys, edit: Any) -> None:
    stmt = _payload(att)
    edit(stmt)
    att.write_text(json.dumps(sign_envelope(canonical(stmt), keys.key)))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.update(predicateType="https://slsa.dev/provenance/v1"), "predicateType"),
        (lambda s: s.update(_type="https://in-toto.io/Statement/v0.1"), "_type"),
        (lambda s: s.update(subject=[]), "no subjects"),
        (lambda s: s.update(subject=s["subject"] + s["subject"][:1]), "listed twice"),
        (lambda s: s.update(predicate=None), "no predicate"),
    ],
    ids=["predicate-type", "statement-type", "no-subjects", "duplicate-subject", "no-predicate"],
)
def test_a_signed_but_malformed_statement_fails(release: Path, keys: Keys, edit: Any, expected: str) -> None:
    att = _signed_release(release, keys)
    _resign(att, keys, edit)
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=att)
    checks = {c.name: c for c in report.checks}
    assert checks["attestation signature"].passed
    assert not checks["attestation statement"].passed and expected in checks["attestation statement"].detail
    assert not report.passed


def test_wrong_payload_type_fails(release: Path, keys: Keys) -> None:
    att = _signed_release(release, keys)
    envelope = json.loads(att.read_text())
    envelope["payloadType"] = "application/json"
    att.write_text(json.dumps(envelope))
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=att)
    assert _names(report)["attestation signature"] is False


@pytest.mark.parametrize("content", ["", "[]", "{not json", '{"payloadType": 1}'])
def test_garbage_attestation_fails(release: Path, keys: Keys, content: str) -> None:
    sign_model(release, SigningKey(private_key=keys.private))
    att = release.parent / "garbage.json"
    att.write_text(content)
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=att)
    assert _names(report) == {"model signature": True, "attestation signature": False}


def test_missing_attestation_fails(release: Path, keys: Keys) -> None:
    sign_model(release, SigningKey(private_key=keys.private))
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=release / "nope.json")
    assert not report.passed


def test_certificate_attestation_without_a_valid_model_signature_fails(release: Path, pki: Pki) -> None:
    # With certificates the attestation key comes from the verified model signature: none, no pass.
    key = SigningKey(private_key=pki.leaf_key.private, certificate=pki.leaf, chain=[pki.root])
    result = attest_release(release, key, as_of=AS_OF)
    report = verify(release, TrustAnchor(certificate_chain=[pki.root]), attestation=result.attestation)
    assert _names(report) == {"model signature": False, "attestation signature": False}


def test_a_certificate_for_another_key_cannot_attest(release: Path, pki: Pki, other_keys: Keys) -> None:
    from modelwarden.errors import TrustInvalid

    with pytest.raises(TrustInvalid, match="not for this private key"):
        attest_release(
            release, SigningKey(private_key=other_keys.private, certificate=pki.leaf, chain=[pki.root])
        )


def test_a_symlink_added_after_attesting_fails(release: Path, keys: Keys) -> None:
    att = _signed_release(release, keys)
    (release / "link.json").symlink_to(release / "config.json")
    report = verify(release, TrustAnchor(public_key=keys.public), attestation=att)
    checks = {c.name: c for c in report.checks}
    assert not checks["attestation subjects"].passed and "link.json" in checks["attestation subjects"].detail
    assert not report.passed


def test_custom_signature_and_attestation_names_inside_the_folder(release: Path, keys: Keys) -> None:
    sig, att = release / "release.sig", release / "assessment.dsse.json"
    key = SigningKey(private_key=keys.private)
    sign_model(release, key, sig)
    result = attest_release(release, key, att, as_of=AS_OF, signature=sig)
    assert result.subjects == 3  # neither trust file is a subject
    report = verify(release, TrustAnchor(public_key=keys.public), signature=sig, attestation=att)
    # The model signature was made before the attestation existed, so it counts it as an added file:
    # keep attestations at the default name or outside the folder (docs/trust.md "Attestations").
    checks = {c.name: c for c in report.checks}
    assert "added (not in the signature): assessment.dsse.json" in checks["model signature"].detail
    assert checks["attestation subjects"].passed


def test_p384_keys_sign_and_attest(release: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    private, public = tmp_path / "p384.pem", tmp_path / "p384.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    sign_model(release, SigningKey(private_key=private))
    result = attest_release(release, SigningKey(private_key=private), as_of=AS_OF)
    report = verify(release, TrustAnchor(public_key=public), attestation=result.attestation)
    assert report.passed, report.checks


def test_an_encrypted_or_non_ec_key_is_a_clean_error(release: Path, keys: Keys, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from modelwarden.errors import TrustInvalid

    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(
        keys.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    ed = tmp_path / "ed.pem"
    ed.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for bad in (encrypted, ed):
        with pytest.raises(TrustInvalid, match=bad.name):
            attest_release(release, SigningKey(private_key=bad), as_of=AS_OF)
        with pytest.raises(TrustInvalid, match=bad.name):
            sign_model(release, SigningKey(private_key=bad))
