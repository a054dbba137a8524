"""The trust chain of a release: model signatures (`signing`, the OpenSSF model-signing format, made
and checked by its library), signed assessment attestations (`attest`, in-toto Statement v1 in a DSSE
envelope) and CEL policies over them (`policy`). docs/trust.md says what each proves and what not.

`sign_model`, `attest_release` and `verify` are the interface the CLI and other front ends call; everything
needs the `signing` extra (`pip install 'modelwarden[signing]'`).
"""

from __future__ import annotations

from pathlib import Path

from modelwarden.errors import TrustInvalid
from modelwarden.trust.attest import attest_release
from modelwarden.trust.records import (
    AttestationResult,
    Check,
    SignatureResult,
    SigningKey,
    TrustAnchor,
    VerificationReport,
)
from modelwarden.trust.signing import sign_model


def _attestation_checks(
    path: Path,
    attestation: Path,
    anchor: TrustAnchor,
    verified_key: object | None,
    signature: Path | None,
) -> tuple[list[Check], dict[str, object] | None]:
    """The attestation's signature, statement and subjects; the predicate only when all three pass."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    from modelwarden.trust import attest as at
    from modelwarden.trust.signing import default_signature, file_digests, read_json

    key = verified_key
    if anchor.public_key is not None:
        key = serialization.load_pem_public_key(anchor.public_key.read_bytes())
    if not isinstance(key, EllipticCurvePublicKey):
        why = (
            "no trusted key to check it with: the model signature, whose certificate names it, did not verify"
        )
        return [Check(name="attestation signature", passed=False, detail=why)], None
    try:
        envelope = read_json(attestation, "attestation")
    except TrustInvalid as exc:
        return [Check(name="attestation signature", passed=False, detail=exc.message)], None
    sig_check, stmt = at.open_envelope(envelope, key)
    if stmt is None:
        return [sig_check], None
    st_check, subjects, pred = at.check_statement(stmt)
    checks = [sig_check, st_check]
    if pred is None:
        return checks, None
    try:
        on_disk = file_digests(path, attestation, signature or default_signature(path))
    except TrustInvalid as exc:
        checks.append(Check(name="attestation subjects", passed=False, detail=exc.message))
        return checks, None
    checks.append(at.check_subjects(subjects, on_disk))
    return checks, pred if checks[-1].passed else None


def verify(
    path: Path,
    anchor: TrustAnchor,
    *,
    signature: Path | None = None,
    attestation: Path | None = None,
    policy: Path | None = None,
) -> VerificationReport:
    """Every check on the release at `path`: its model signature; with `attestation`, the attestation's
    signature (the same key), statement and subjects (the files on disk); with `policy`, each of its
    conditions over the attested assessment. A policy needs an attestation. Errors that stop the run
    (bad key files, a policy that does not compile) raise `TrustInvalid`/`TrustUnavailable`."""
    from modelwarden.trust import policy as pol
    from modelwarden.trust.signing import verify_model

    if policy is not None and attestation is None:
        raise TrustInvalid(
            "a policy is checked against an attested assessment, and no attestation was given",
            next_step="give the attestation file the policy applies to",
        )
    if not path.exists():
        raise TrustInvalid("no such file or folder", path=path)
    compiled = pol.load_policy(policy) if policy is not None else None  # a bad policy stops before work
    report = VerificationReport(path=str(path))
    model_check, verified = verify_model(path, anchor, signature)
    report.checks.append(model_check)
    if attestation is None:
        return report
    checks, pred = _attestation_checks(
        path, attestation, anchor, verified.public_key if verified else None, signature
    )
    report.checks.extend(checks)
    if compiled is not None:
        if pred is None:
            report.checks.extend(pol.not_evaluated(compiled, "the attestation did not verify"))
        else:
            report.checks.extend(pol.evaluate(compiled, pred))
    return report


__all__ = [
    "AttestationResult",
    "Check",
    "SignatureResult",
    "SigningKey",
    "TrustAnchor",
    "VerificationReport",
    "attest_release",
    "sign_model",
    "verify",
]
