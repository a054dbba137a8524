"""Model signatures: round trips, tampering named, and interoperability both ways with the
model_signing library's own signing and verification API (in-process; nothing of the model runs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import model_signing
import pytest

from modelwarden.errors import TrustInvalid
from modelwarden.trust import SigningKey, TrustAnchor, sign_model, verify
from modelwarden.trust.signing import SIGNATURE_NAME, file_digests, verify_model

from .conftest import Keys, Pki, make_pki


def _flip_one_byte(path: Path, offset: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _check(release: Path, anchor: TrustAnchor) -> tuple[bool, str]:
    report = verify(release, anchor)
    assert [c.name for c in report.checks] == ["model signature"]
    return report.passed, report.checks[0].detail


def test_key_round_trip(release: Path, keys: Keys) -> None:
    result = sign_model(release, SigningKey(private_key=keys.private))
    assert result.signature == release / SIGNATURE_NAME and result.files == 3
    passed, detail = _check(release, TrustAnchor(public_key=keys.public))
    assert passed, detail
    assert "3 files match" in detail


def test_certificate_round_trip(release: Path, pki: Pki) -> None:
    sign_model(release, SigningKey(private_key=pki.leaf_key.private, certificate=pki.leaf, chain=[pki.root]))
    passed, detail = _check(release, TrustAnchor(certificate_chain=[pki.root]))
    assert passed, detail
    assert "acme model signer" in detail


def test_certificate_from_another_root_fails(release: Path, pki: Pki, tmp_path: Path) -> None:
    sign_model(release, SigningKey(private_key=pki.leaf_key.private, certificate=pki.leaf, chain=[pki.root]))
    stranger = make_pki(tmp_path / "other-pki", "stranger")
    passed, _ = _check(release, TrustAnchor(certificate_chain=[stranger.root]))
    assert not passed


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (lambda r: _flip_one_byte(r / "model.safetensors"), "changed: model.safetensors"),
        (lambda r: _flip_one_byte(r / "model.safetensors", offset=20), "changed: model.safetensors"),
        (lambda r: (r / "extra.bin").write_bytes(b"\x00"), "added (not in the signature): extra.bin"),
        (lambda r: (r / "config.json").unlink(), "missing (in the signature, not on disk): config.json"),
        (lambda r: (r / "sub").mkdir() or (r / "sub" / "x.py").write_text("print(1)\n"), "sub/x.py"),
    ],
    ids=["last-byte", "header-byte", "file-added", "file-removed", "nested-file-added"],
)
def test_tampering_is_caught_and_named(release: Path, keys: Keys, tamper: object, named: str) -> None:
    sign_model(release, SigningKey(private_key=keys.private))
    tamper(release)  # type: ignore[operator]
    passed, detail = _check(release, TrustAnchor(public_key=keys.public))
    assert not passed
    assert named in detail


def test_a_different_key_fails(release: Path, keys: Keys, other_keys: Keys) -> None:
    sign_model(release, SigningKey(private_key=keys.private))
    passed, detail = _check(release, TrustAnchor(public_key=other_keys.public))
    assert not passed
    assert "key" in detail.lower()


def test_a_signature_re_signed_by_someone_else_fails(release: Path, keys: Keys, other_keys: Keys) -> None:
    # An attacker changes a file and re-signs with their own key: the trusted key rejects it.
    sign_model(release, SigningKey(private_key=keys.private))
    _flip_one_byte(release / "model.safetensors")
    sign_model(release, SigningKey(private_key=other_keys.private))
    assert not _check(release, TrustAnchor(public_key=keys.public))[0]


def test_missing_signature_fails_closed(release: Path, keys: Keys) -> None:
    passed, detail = _check(release, TrustAnchor(public_key=keys.public))
    assert not passed
    assert "no signature file" in detail


def test_a_corrupt_signature_fails(release: Path, keys: Keys) -> None:
    sign_model(release, SigningKey(private_key=keys.private))
    (release / SIGNATURE_NAME).write_text("{not json")
    passed, detail = _check(release, TrustAnchor(public_key=keys.public))
    assert not passed and "not JSON" in detail


def test_no_anchor_is_an_error_not_a_pass(release: Path, keys: Keys) -> None:
    sign_model(release, SigningKey(private_key=keys.private))
    with pytest.raises(TrustInvalid):
        verify_model(release, TrustAnchor())


def test_a_certificate_for_another_key_cannot_sign(release: Path, pki: Pki, other_keys: Keys) -> None:
    with pytest.raises(TrustInvalid, match="cannot sign"):
        sign_model(
            release, SigningKey(private_key=other_keys.private, certificate=pki.leaf, chain=[pki.root])
        )


def test_a_non_key_file_is_an_error(release: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("hello")
    with pytest.raises(TrustInvalid, match=r"bogus\.pem"):
        sign_model(release, SigningKey(private_key=bogus))


def test_single_file_release(tmp_path: Path, release: Path, keys: Keys) -> None:
    single = tmp_path / "one.safetensors"
    shutil.copy(release / "model.safetensors", single)
    result = sign_model(single, SigningKey(private_key=keys.private))
    assert result.signature == tmp_path / "one.safetensors.sig" and result.files == 1
    assert _check(single, TrustAnchor(public_key=keys.public))[0]
    _flip_one_byte(single)
    assert not _check(single, TrustAnchor(public_key=keys.public))[0]


# --- interoperability with the model_signing library itself ------------------------------------------


def test_model_signing_verifies_our_key_signature(release: Path, keys: Keys) -> None:
    sign_model(release, SigningKey(private_key=keys.private))
    config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=keys.public)
    config.verify(release, release / SIGNATURE_NAME)  # raises on any mismatch
    _flip_one_byte(release / "model.safetensors")
    with pytest.raises(ValueError, match=r"model\.safetensors"):
        config.verify(release, release / SIGNATURE_NAME)


def test_model_signing_verifies_our_certificate_signature(release: Path, pki: Pki) -> None:
    sign_model(release, SigningKey(private_key=pki.leaf_key.private, certificate=pki.leaf, chain=[pki.root]))
    config = model_signing.verifying.Config().use_certificate_verifier(certificate_chain=[pki.root])
    config.verify(release, release / SIGNATURE_NAME)
    (release / "extra.txt").write_text("added")
    with pytest.raises(ValueError, match=r"extra\.txt"):
        config.verify(release, release / SIGNATURE_NAME)


def test_we_verify_what_model_signing_signs_with_a_key(release: Path, keys: Keys, tmp_path: Path) -> None:
    sig = tmp_path / "elsewhere.sig"  # outside the folder, as model_signing's CLI often writes it
    model_signing.signing.Config().use_elliptic_key_signer(private_key=keys.private).sign(release, sig)
    report = verify(release, TrustAnchor(public_key=keys.public), signature=sig)
    assert report.passed, report.checks
    _flip_one_byte(release / "config.json", offset=0)
    report = verify(release, TrustAnchor(public_key=keys.public), signature=sig)
    assert not report.passed and "changed: config.json" in report.checks[0].detail


def test_we_verify_what_model_signing_signs_with_a_certificate(release: Path, pki: Pki) -> None:
    sig = release / SIGNATURE_NAME
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=[Path(SIGNATURE_NAME)])
    model_signing.signing.Config().use_certificate_signer(
        private_key=pki.leaf_key.private, signing_certificate=pki.leaf, certificate_chain=[pki.root]
    ).set_hashing_config(hashing).sign(release, sig)
    assert verify(release, TrustAnchor(certificate_chain=[pki.root])).passed


def test_attestation_digests_are_the_signed_digests(release: Path, keys: Keys) -> None:
    # The attestation's subjects come from file_digests: they must be exactly what the signature lists.
    sign_model(release, SigningKey(private_key=keys.private))
    check, verified = verify_model(release, TrustAnchor(public_key=keys.public))
    assert check.passed and verified is not None
    assert file_digests(release) == verified.digests


def test_certificate_signing_without_a_chain_is_an_error(release: Path, pki: Pki) -> None:
    with pytest.raises(TrustInvalid, match="issuing chain"):
        sign_model(release, SigningKey(private_key=pki.leaf_key.private, certificate=pki.leaf))


def test_a_symlink_is_refused_when_signing(release: Path, keys: Keys, tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"not part of the release")
    (release / "link.bin").symlink_to(outside)
    with pytest.raises(TrustInvalid, match="cannot sign"):
        sign_model(release, SigningKey(private_key=keys.private))


def test_a_symlink_added_after_signing_fails(release: Path, keys: Keys, tmp_path: Path) -> None:
    sign_model(release, SigningKey(private_key=keys.private))
    (release / "link.bin").symlink_to(release / "config.json")
    assert not _check(release, TrustAnchor(public_key=keys.public))[0]


def test_a_fifo_signature_neither_blocks_nor_passes(release: Path, keys: Keys) -> None:
    import os

    os.mkfifo(release / SIGNATURE_NAME)
    passed, detail = _check(release, TrustAnchor(public_key=keys.public))
    assert not passed and "no signature file" in detail
    with pytest.raises(TrustInvalid, match="not a regular file"):
        sign_model(release, SigningKey(private_key=keys.private))


def test_a_non_ec_public_key_is_a_clean_error(release: Path, keys: Keys, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    sign_model(release, SigningKey(private_key=keys.private))
    ed = tmp_path / "ed.pub"
    ed.write_bytes(
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(TrustInvalid, match="cannot use this key material"):
        verify(release, TrustAnchor(public_key=ed))
