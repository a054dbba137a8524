"""Ed25519 keys for signed audit checkpoints (docs/reference/gateway.md §9: the key lives outside the
database).

A checkpoint signs a small text note in the spirit of C2SP `tlog-checkpoint`: an origin line, the
tree size, the base64 tree root and the UTC time. Anyone holding the public key can check a
checkpoint, an exported anchor file or an incident bundle without access to the database.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from modelwarden.errors import GatewayConflict, GatewayInvalid, GatewayMisconfigured
from modelwarden.gateway.files import MAX_KEY_BYTES, read_bytes

ORIGIN = "modelwarden.gateway.audit/v1"


def checkpoint_note(size: int, root: bytes, ts: str) -> bytes:
    return f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n{ts}\n".encode()


def public_key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return public_key_id(self.public)

    def sign(self, size: int, root: bytes, ts: str) -> bytes:
        return self.private.sign(checkpoint_note(size, root, ts))


def verify_checkpoint(public: Ed25519PublicKey, size: int, root: bytes, ts: str, signature: bytes) -> bool:
    try:
        public.verify(signature, checkpoint_note(size, root, ts))
    except InvalidSignature:
        return False
    return True


def generate_key(path: Path) -> Signer:
    """Write a new private key (PEM, mode 0600) and its public key beside it (`<name>.pub`)."""
    pub = public_path(path)
    for target, what in ((path, "signing key"), (pub, "public key")):
        if target.is_dir():
            raise GatewayInvalid(f"is a folder; give a file name for the {what}", path=target)
        if target.exists() or target.is_symlink():
            raise GatewayConflict(
                f"refusing to overwrite an existing {what}",
                path=target,
                next_step="choose another file name, or move the old key away first",
            )
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: a file created between the checks above and here is never overwritten.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    except OSError as exc:
        raise GatewayMisconfigured(f"cannot write the signing key: {exc.strerror}", path=path) from None
    try:
        fd = os.open(pub, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(public_pem(private.public_key()))
    except OSError as exc:
        raise GatewayMisconfigured(f"cannot write the public key: {exc.strerror}", path=pub) from None
    return Signer(private)


def public_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name + ".pub")


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_signer(path: Path) -> Signer:
    data = read_bytes(path, what="the audit signing key", limit=MAX_KEY_BYTES)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise GatewayMisconfigured(f"not a PEM private key: {exc}", path=path) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise GatewayMisconfigured("the audit signing key must be an Ed25519 key", path=path)
    return Signer(key)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key file, or the public half of a private key file."""
    data = read_bytes(path, what="the public key", limit=MAX_KEY_BYTES)
    try:
        if b"PRIVATE KEY" in data:
            return load_signer(path).public
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise GatewayInvalid(f"not a PEM public key: {exc}", path=path) from None
    if not isinstance(key, Ed25519PublicKey):
        raise GatewayInvalid("the audit public key must be an Ed25519 key", path=path)
    return key


def public_key_from_pem(text: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise GatewayInvalid(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise GatewayInvalid("the audit public key must be an Ed25519 key")
    return key
