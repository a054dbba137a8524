"""Real key material and a real tiny release for the trust tests: EC P-256 keys, a root CA and a
leaf certificate made with `cryptography`, and a safetensors file written by the safetensors library."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from safetensors.numpy import save_file

MANIFEST = """
model:
  name: trust-test
training:
  tokens: 1.0e12
"""


@dataclass(frozen=True)
class Keys:
    """A key pair on disk."""

    private: Path
    public: Path
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Pki:
    """A root CA and a leaf signing certificate for `leaf_key`."""

    root: Path
    leaf: Path
    leaf_key: Keys


def make_keys(folder: Path, name: str) -> Keys:
    """A fresh EC P-256 key pair written as PEM (PKCS#8 private, SubjectPublicKeyInfo public)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
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
    return Keys(private, public, key)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(folder: Path, name: str) -> Pki:
    """A self-signed root CA and a leaf certificate it issues for signing (digitalSignature)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    root = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{name} root"))
        .issuer_name(_name(f"{name} root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(root_key, hashes.SHA256())
    )
    leaf_keys = make_keys(folder, f"{name}-leaf")
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{name} model signer"))
        .issuer_name(root.subject)
        .public_key(leaf_keys.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .sign(root_key, hashes.SHA256())
    )
    root_path, leaf_path = folder / f"{name}-root.crt", folder / f"{name}-leaf.crt"
    root_path.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    leaf_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return Pki(root_path, leaf_path, leaf_keys)


def make_release(folder: Path, seed: int = 0) -> Path:
    """A tiny release: a safetensors file, a config and a manifest stating the training tokens."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    save_file(
        {"layer.weight": rng.standard_normal((8, 8)).astype(np.float32)}, str(folder / "model.safetensors")
    )
    (folder / "config.json").write_text('{"model_type": "llama"}\n')
    (folder / "modelwarden.yaml").write_text(MANIFEST)
    return folder


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    """The signer's key pair."""
    return make_keys(tmp_path / "keys", "signer")


@pytest.fixture
def other_keys(tmp_path: Path) -> Keys:
    """Someone else's key pair."""
    return make_keys(tmp_path / "keys", "other")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """The signer's certificate and its root."""
    return make_pki(tmp_path / "pki", "acme")


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A fresh tiny release folder."""
    return make_release(tmp_path / "release")
