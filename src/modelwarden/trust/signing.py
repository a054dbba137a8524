"""Model signatures in the OpenSSF model-signing format, made and checked by the `model_signing`
library itself (the `signing` extra), so that its own tool verifies what we sign and we verify what it
signs (docs/trust.md "Model signatures").

A signature is a Sigstore bundle (media type v0.3) holding a DSSE envelope whose payload is an in-toto
Statement: one subject (the model's name and a SHA-256 over all file digests) and, in the predicate,
every file with its SHA-256. The files are hashed by the library; we only choose which files are left
out (the signature itself, the default attestation file, git metadata) and never follow symlinks.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwarden.errors import TrustInvalid, TrustUnavailable
from modelwarden.trust.records import Check, SignatureResult, SigningKey, TrustAnchor
from modelwarden.untrusted.io import read_bounded

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

#: model_signing's default signature file name (its CLI writes `model.sig`).
SIGNATURE_NAME = "model.sig"
#: The attestation file `modelwarden attest` writes into a release folder by default.
ATTESTATION_NAME = "model.intoto.json"
#: Cap on a signature or attestation file read from a release. A bundle is a few kilobytes plus one
#: line per file (~150 bytes); 64 MiB is room for ~400,000 files and bounds what a hostile file costs.
MAX_SIGNATURE_BYTES = 64 * 1024 * 1024

_INSTALL = "install the signing extra: pip install 'modelwarden[signing]'"


def _library() -> Any:
    try:
        import model_signing
    except ImportError:
        raise TrustUnavailable(
            "model signing needs the model-signing library, which is not installed", next_step=_INSTALL
        ) from None
    return model_signing


@dataclass(frozen=True)
class Verified:
    """A model signature that verified: who signed and what they signed."""

    public_key: EllipticCurvePublicKey
    signer: str
    digests: dict[str, str]


def default_signature(path: Path) -> Path:
    """Where a release's signature lives: `model.sig` inside a folder, `<file>.sig` beside a file."""
    return path / SIGNATURE_NAME if path.is_dir() else path.with_name(path.name + ".sig")


def default_attestation(path: Path) -> Path:
    """Where a release's attestation lives by default: `model.intoto.json` inside a folder,
    `<file>.intoto.json` beside a file."""
    return path / ATTESTATION_NAME if path.is_dir() else path.with_name(path.name + ".intoto.json")


def _inside(root: Path, paths: list[Path]) -> list[Path]:
    """`paths` that lie inside the folder `root`, relative to it (what model_signing ignores; it
    records them in the signature so its verifier leaves out the same files)."""
    if not root.is_dir():
        return []
    base = root.resolve()
    out = []
    for p in paths:
        try:
            out.append(p.resolve().relative_to(base))
        except ValueError:
            continue
    return sorted(set(out))


def trust_files(path: Path, *extra: Path) -> list[Path]:
    """The files of a release folder that are never signed: the signature and attestation files (at
    their default names and wherever `extra` puts them inside the folder)."""
    return _inside(path, [default_signature(path), default_attestation(path), *extra])


def _hashing(path: Path, ignored: list[Path]) -> Any:
    ms = _library()
    return (
        ms.hashing.Config().set_ignored_paths(paths=ignored, ignore_git_paths=True).set_allow_symlinks(False)
    )


def file_digests(path: Path, *extra_ignored: Path) -> dict[str, str]:
    """SHA-256 of every file of the release as model_signing hashes them for a signature (same
    names, same files left out): relative POSIX path → hex digest."""
    try:
        manifest = _hashing(path, trust_files(path, *extra_ignored)).hash(path)
    except (ValueError, OSError) as exc:
        # model_signing refuses symlinks (and special files) with ValueError; unreadable files are OSError.
        raise TrustInvalid(f"cannot hash the release's files: {exc}", path=path) from None
    return {str(rd.identifier): rd.digest.digest_hex for rd in manifest.resource_descriptors()}


def writable_target(path: Path) -> None:
    """Refuse to write a signature or attestation over anything but a regular file (a FIFO would block,
    a symlink would write elsewhere)."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise TrustInvalid("exists and is not a regular file; refusing to write over it", path=path)


def _must_exist(path: Path, what: str) -> None:
    if not path.is_file():
        raise TrustInvalid(f"{what} not found", path=path, next_step=f"give the path of an existing {what}")


def sign_model(path: Path, key: SigningKey, signature: Path | None = None) -> SignatureResult:
    """Sign the release at `path` with `key`; write the signature to `signature` (default
    `default_signature(path)`). Files outside the signature: `trust_files` and git metadata."""
    ms = _library()
    if not path.exists():
        raise TrustInvalid("no such file or folder", path=path)
    sig = signature or default_signature(path)
    _must_exist(key.private_key, "private key")
    for cert in [key.certificate, *key.chain] if key.certificate else []:
        _must_exist(cert, "certificate")
    if key.certificate is not None and not key.chain:
        # model_signing 1.1.1 fails on an empty chain; the issuer's certificate is what a verifier
        # needs to build the path anyway (an embedded root is never trusted by itself).
        raise TrustInvalid(
            "signing with a certificate needs its issuing chain",
            path=key.certificate,
            next_step="give the issuer's certificate (at least the root that issued it) as the chain",
        )
    config = ms.signing.Config()
    try:
        if key.certificate is None:
            config.use_elliptic_key_signer(private_key=key.private_key)
        else:
            config.use_certificate_signer(
                private_key=key.private_key, signing_certificate=key.certificate, certificate_chain=key.chain
            )
    except (ValueError, TypeError, AttributeError) as exc:  # AttributeError: not an EC key (no curve)
        # Not a PEM key, an encrypted one, not an EC key, or a certificate for another key.
        raise TrustInvalid(
            f"cannot sign with this key material: {exc}", path=key.certificate or key.private_key
        ) from None
    writable_target(sig)
    config.set_hashing_config(_hashing(path, trust_files(path, sig)))
    try:
        config.sign(path, sig)
    except (ValueError, OSError) as exc:
        # A symlink in the release (refused: its target is not part of the release) or an unreadable file.
        raise TrustInvalid(f"cannot sign the release: {exc}", path=path) from None
    return SignatureResult(signature=sig, method=key.method, files=len(_signed_digests(_read_bundle(sig))))


def read_json(path: Path, what: str) -> Any:
    """A signature or attestation file's JSON, read through the bounded, regular-file-only opener."""
    try:
        raw = read_bounded(path, MAX_SIGNATURE_BYTES)
    except OSError as exc:
        raise TrustInvalid(f"cannot read the {what}: {exc.strerror or exc}", path=path) from None
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise TrustInvalid(f"the {what} is larger than {MAX_SIGNATURE_BYTES} bytes", path=path)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrustInvalid(f"the {what} is not JSON: {exc}", path=path) from None


def _read_bundle(sig: Path) -> dict[str, Any]:
    bundle = read_json(sig, "signature")
    if not isinstance(bundle, dict):
        raise TrustInvalid("not a signature bundle (not a JSON object)", path=sig)
    return bundle


def _signed_digests(bundle: dict[str, Any]) -> dict[str, str]:
    """The file digests a bundle's payload lists (read without checking the signature: call only on a
    bundle that verified, or to count)."""
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return {r["name"]: r["digest"] for r in payload["predicate"]["resources"]}


def _verifier(anchor: TrustAnchor) -> Any:
    ms = _library()
    config = ms.verifying.Config()
    try:
        if anchor.public_key is not None:
            _must_exist(anchor.public_key, "public key")
            config.use_elliptic_key_verifier(public_key=anchor.public_key)
        elif anchor.certificate_chain:
            for cert in anchor.certificate_chain:
                _must_exist(cert, "certificate")
            config.use_certificate_verifier(certificate_chain=anchor.certificate_chain)
        else:
            # Without an anchor model_signing would fall back to the operating system's roots; we do
            # not trust a signature nobody chose to trust.
            raise TrustInvalid(
                "no public key or certificate chain to verify against",
                next_step="give the signer's public key or the root certificates to trust",
            )
    except (ValueError, TypeError, AttributeError) as exc:  # AttributeError: not an EC key (no curve)
        raise TrustInvalid(f"cannot use this key material to verify: {exc}") from None
    return config


def _signer(anchor: TrustAnchor, bundle: dict[str, Any]) -> tuple[EllipticCurvePublicKey, str]:
    """The public key that made a verified bundle and how to name it: the anchor's key, or the leaf of
    the certificate chain model_signing just validated."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    if anchor.public_key is not None:
        key = serialization.load_pem_public_key(anchor.public_key.read_bytes())
        who = f"public key {anchor.public_key.name} (key id {key_id(key)[:16]}…)"  # type: ignore[arg-type]
    else:
        leaf = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"]
        cert = x509.load_der_x509_certificate(base64.b64decode(leaf))
        key = cert.public_key()
        who = f"certificate {cert.subject.rfc4514_string()} (serial {cert.serial_number:x})"
    if not isinstance(key, EllipticCurvePublicKey):
        raise TrustInvalid("the signer's key is not an elliptic-curve key")
    return key, who


def key_id(public_key: EllipticCurvePublicKey) -> str:
    """SHA-256 of the key's SubjectPublicKeyInfo PEM, hex: the key hint model_signing writes in a
    bundle, used as the DSSE `keyid` of our attestations so both name a key the same way."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def verify_model(
    path: Path, anchor: TrustAnchor, signature: Path | None = None
) -> tuple[Check, Verified | None]:
    """Check the release at `path` against its model signature with model_signing's verifier: the
    signature was made by `anchor`'s key (or a certificate chaining to its roots) and every file on
    disk has the digest it signed, none added or missing. A failure is a failed `Check` naming why."""
    name = "model signature"
    sig = signature or default_signature(path)
    if not sig.is_file():
        return Check(name=name, passed=False, detail=f"no signature file at {sig}"), None
    config = _verifier(anchor)
    bundle: dict[str, Any] = {}
    try:
        bundle = _read_bundle(sig)
        config.verify(path, sig)
    except Exception as exc:
        detail = _describe(exc)
        if isinstance(exc, ValueError) and str(exc).startswith("Signature mismatch"):
            # The envelope verified (model_signing checks it first) but the files differ: name them.
            try:
                detail = "files differ from what was signed: " + "; ".join(_mismatch(path, bundle))
            except Exception:
                detail = "files differ from what was signed"
        return Check(name=name, passed=False, detail=detail), None
    key, who = _signer(anchor, bundle)
    digests = _signed_digests(bundle)
    detail = f"signed by {who}; {len(digests)} files match"
    return Check(name=name, passed=True, detail=detail), Verified(key, who, digests)


def diff_digests(expected: dict[str, str], actual: dict[str, str], signed: str) -> list[str]:
    """What differs between the digests `signed` lists (`expected`) and those on disk (`actual`)."""
    out = []
    changed = sorted(n for n in expected.keys() & actual.keys() if expected[n] != actual[n])
    added = sorted(actual.keys() - expected.keys())
    missing = sorted(expected.keys() - actual.keys())
    if changed:
        out.append("changed: " + ", ".join(changed))
    if added:
        out.append(f"added (not in {signed}): " + ", ".join(added))
    if missing:
        out.append(f"missing (in {signed}, not on disk): " + ", ".join(missing))
    return out


def _mismatch(path: Path, bundle: dict[str, Any]) -> list[str]:
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    ignored = [Path(p) for p in payload["predicate"]["serialization"].get("ignore_paths", [])]
    manifest = _hashing(path, ignored).hash(path)
    actual = {str(rd.identifier): rd.digest.digest_hex for rd in manifest.resource_descriptors()}
    return diff_digests(_signed_digests(bundle), actual, "the signature") or ["(no difference found)"]


def _describe(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    if type(exc).__name__ == "InvalidSignature":
        text = "the signature was not made by the trusted key"
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, ValueError) else text
