"""The records of the trust chain: key material, results of signing and attesting, and the
per-check verification report (docs/trust.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, computed_field

from modelwarden.model import Record, TrustFile


class SigningKey(Record):
    """What signs: an EC private key (PEM), optionally with the certificate that binds it to a name."""

    private_key: Path
    """PEM file of the EC private key (P-256, P-384 or P-521), unencrypted."""
    certificate: Path | None = None
    """PEM file of the signing certificate for `private_key`; None signs with the bare key."""
    chain: list[Path] = Field(default_factory=list)
    """PEM files of the intermediate certificates between `certificate` and a root (embedded in the
    signature so a verifier can build the path)."""

    @property
    def method(self) -> Literal["key", "certificate"]:
        """How the signature identifies its signer: by a bare key or by a certificate."""
        return "certificate" if self.certificate is not None else "key"


class TrustAnchor(Record):
    """What a verifier trusts: one public key, or the root certificates a signing certificate must
    chain to. Exactly one of the two is given."""

    public_key: Path | None = None
    """PEM file of the public key that must have made the signature."""
    certificate_chain: list[Path] = Field(default_factory=list)
    """PEM files of the trusted root (and intermediate) certificates."""

    @property
    def method(self) -> Literal["key", "certificate"]:
        """The signing method this anchor verifies."""
        return "key" if self.public_key is not None else "certificate"


class SignatureResult(Record):
    """What `sign_model` wrote."""

    signature: Path
    """The signature file (a Sigstore bundle holding a DSSE envelope, model_signing's format)."""
    method: Literal["key", "certificate"]
    """How the signer is identified."""
    files: int
    """How many files the signature covers."""


class AttestationResult(Record):
    """What `attest` wrote."""

    attestation: Path
    """The DSSE envelope file holding the signed in-toto Statement."""
    subjects: int
    """How many files the Statement names (the same files and digests the model signature covers)."""
    predicate_type: str
    """The Statement's predicateType."""


class Check(Record):
    """One check of a verification, passed or failed, with what was found."""

    name: str
    """What was checked ("model signature", "attestation signature", "policy: <condition name>", …)."""
    passed: bool
    """True only when the check ran and held; anything that could not be evaluated is False."""
    detail: str
    """What was found: the files that differ, the signer, the value a condition saw, the error."""


class VerificationReport(Record):
    """Every check `verify` ran on one release, in order."""

    path: str
    """The release folder or file verified."""
    checks: list[Check] = Field(default_factory=list)
    """The checks, in the order they ran."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """True when at least one check ran and every check passed (fail closed: no checks, no pass)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failed(self) -> list[Check]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.passed]


# TrustFile is part of `ModelFacts` (inspect reports what a release carries), so it lives in model.py.
__all__ = ["TrustFile"]
