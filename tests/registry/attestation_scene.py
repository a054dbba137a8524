"""A recorded-assessment scene for the attestation tests: a real tiny release assessed by modelwarden,
attested with real keys (and a certificate whose subject is hostile HTML), shared by the registry and
web tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from modelwarden.model import Assessment
from modelwarden.trust import SigningKey, attest_release, sign_model
from tests.trust.conftest import Keys, Pki, make_keys, make_release

HOSTILE_CN = "<img src=x onerror=alert(1)>"
HOSTILE_SAN = "https://signer.example/<script>alert(2)</script>"


@dataclass(frozen=True)
class Scene:
    """A release, its assessment, and attestations of it."""

    release: Path
    assessment: Assessment
    keys: Keys
    other: Keys
    attestation: Path
    """Signed by `keys`."""
    by_other: Path
    """Signed by `other`."""
    second: Path
    """Signed by `keys` again (other bytes: ECDSA signatures are randomised)."""


def make_scene(base: Path) -> Scene:
    """Assess a fresh tiny release and attest the assessment three times."""
    from modelwarden.assess import assess_path

    release = make_release(base / "release")
    keys, other = make_keys(base / "keys", "signer"), make_keys(base / "keys", "other")
    assessment = assess_path(release)

    def attest(keys: Keys, name: str) -> Path:
        made = attest_release(
            release, SigningKey(private_key=keys.private), base / name, assessment=assessment
        )
        return made.attestation

    return Scene(
        release,
        assessment,
        keys,
        other,
        attest(keys, "a.intoto.json"),
        attest(other, "b.intoto.json"),
        attest(keys, "c.intoto.json"),
    )


def certificate_attestation(base: Path, scene: Scene) -> tuple[Pki, Path, Path]:
    """A copy of the release signed with a certificate whose subject is hostile HTML: (the PKI, the
    model signature, the attestation)."""
    release = base / "release"
    shutil.copytree(scene.release, release)
    pki = pki_with_san(base / "pki", HOSTILE_CN, HOSTILE_SAN)
    key = SigningKey(private_key=pki.leaf_key.private, certificate=pki.leaf, chain=[pki.root])
    sign_model(release, key)
    att = attest_release(release, key, base / "cert.intoto.json", assessment=scene.assessment)
    return pki, release / "model.sig", att.attestation


def pki_with_san(folder: Path, name: str, uri: str) -> Pki:
    """A root CA and a signing certificate carrying a subject alternative name (a URI and an e-mail)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def named(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    usage = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "crl_sign"), False
    )
    root = (
        x509.CertificateBuilder()
        .subject_name(named(f"{name} root"))
        .issuer_name(named(f"{name} root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                key_cert_sign=True,
                encipher_only=False,
                decipher_only=False,
                **(usage | {"crl_sign": True}),
            ),
            critical=True,
        )
        .sign(root_key, hashes.SHA256())
    )
    leaf_keys = make_keys(folder, "leaf")
    leaf = (
        x509.CertificateBuilder()
        .subject_name(named(f"{name} model signer"))
        .issuer_name(root.subject)
        .public_key(leaf_keys.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=False, encipher_only=False, decipher_only=False, **usage
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(uri), x509.RFC822Name("ci@signer.example")]
            ),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    root_path, leaf_path = folder / "root.crt", folder / "leaf.crt"
    root_path.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    leaf_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return Pki(root_path, leaf_path, leaf_keys)
