"""Signed assessment attestations: an in-toto Statement (v1) whose subjects are the release's files
(the digests the model signature covers) and whose predicate summarises an `Assessment`, in a DSSE
envelope signed with the same key material as the model signature (docs/trust.md "Attestations").

The payload is the Statement as RFC 8785 canonical JSON, so the bytes signed are one function of the
Statement; the signature is ECDSA over DSSE's pre-authentication encoding (`pae`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwarden.errors import TrustInvalid
from modelwarden.trust.records import AttestationResult, Check, SigningKey

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey

    from modelwarden.model import Assessment

#: DSSE payloadType of an in-toto Statement.
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: The in-toto Statement layer, version 1.
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: Our predicate: a modelwarden assessment summary (fields in docs/trust.md "The assessment predicate").
PREDICATE_TYPE = "https://modelwarden.dev/attestation/assessment/v1"
#: The scan severity the predicate's verdict is taken at: the `modelwarden scan` default.
SCAN_FAIL_ON = "medium"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, each
    LEN the byte length in ASCII decimal. The signature covers these bytes, never the payload alone, so
    a signature cannot be replayed under another payload type."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _scan_summary(a: Assessment) -> dict[str, Any]:
    from modelwarden.records import Severity
    from modelwarden.scan.verdict import verdict

    if a.scan is None:
        return {"status": "not scanned", "verdict": "NOT_SCANNED", "reason": a.scan_skipped}
    v = verdict(a.scan, Severity(SCAN_FAIL_ON))
    return {
        "status": "scanned",
        "verdict": str(v["verdict"]).upper(),
        "fail_on": SCAN_FAIL_ON,
        "counts": v["counts"],
        "unverified": v["unverified"],
        "files": v["files"],
        "problems": v["problems"],
    }


def _openness_summary(a: Assessment) -> dict[str, Any] | None:
    o = a.openness
    if o is None:
        return None
    return {
        "licence": o.licence.id,
        "licence_kind": o.licence.kind,
        "mof_class": o.mof.class_,
        "osaid_pass": o.osaid.pass_,
        "eu_foss_licence": str(o.eu_foss_licence.verdict),
        "release_level": o.release_level,
    }


def _band(b: Any) -> dict[str, float] | None:
    return None if b is None else {"low": b.low, "central": b.central, "high": b.high}


def _compute_summary(a: Assessment) -> dict[str, Any]:
    c = a.compute
    return {
        "method": c.method,
        "training_flop": _band(c.training_flop),
        "cumulative_flop": _band(c.cumulative_flop),
        "thresholds": {k: str(v) for k, v in c.thresholds.items()},
    }


def _obligations_summary(a: Assessment) -> dict[str, Any]:
    return {
        rid: {
            "instrument": r.instrument,
            "in_force": r.in_force,
            "classification": {k: str(v) for k, v in r.classification.items()},
            "obligations": sorted(o.id for o in r.obligations),
            "count": len(r.obligations),
            "needs_review": len(r.needs_review),
        }
        for rid, r in a.regimes.items()
    }


def predicate(a: Assessment) -> dict[str, Any]:
    """The assessment predicate: what a policy can test (docs/trust.md "The assessment predicate")."""
    return {
        "tool": {"name": "modelwarden", "version": a.tool_version},
        "ruleset": a.ruleset_version,
        "as_of": a.as_of.isoformat(),
        "created_at": a.created_at.astimezone(dt.UTC).isoformat(),
        "scan": _scan_summary(a),
        "openness": _openness_summary(a),
        "compute": _compute_summary(a),
        "obligations": _obligations_summary(a),
    }


def statement(digests: dict[str, str], pred: dict[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1: one subject per file (relative path, SHA-256), sorted by name."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": n, "digest": {"sha256": d}} for n, d in sorted(digests.items())],
        "predicateType": PREDICATE_TYPE,
        "predicate": pred,
    }


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON: the bytes a signature or digest over JSON is taken on."""
    import rfc8785

    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError) as exc:
        raise TrustInvalid(f"the statement cannot be written as canonical JSON: {exc}") from None


def _hash_for(key: EllipticCurvePublicKey) -> Any:
    from cryptography.hazmat.primitives import hashes

    # The curve's matching hash, as model_signing pairs them (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512).
    size = key.curve.key_size
    return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[size]


def load_private_key(path: Path) -> EllipticCurvePrivateKey:
    """An unencrypted PEM elliptic-curve private key on P-256, P-384 or P-521."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise TrustInvalid(f"not a usable PEM private key: {exc}", path=path) from None
    if not isinstance(key, EllipticCurvePrivateKey) or key.curve.key_size not in (256, 384, 521):
        raise TrustInvalid("the private key must be an EC key on P-256, P-384 or P-521", path=path)
    return key


def _check_certificate(key: SigningKey, private: EllipticCurvePrivateKey) -> None:
    """With a certificate, it must be the private key's: verifiers take the key from the certificate."""
    if key.certificate is None:
        return
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(key.certificate.read_bytes())
    except (OSError, ValueError) as exc:
        raise TrustInvalid(f"not a usable PEM certificate: {exc}", path=key.certificate) from None
    if cert.public_key() != private.public_key():
        raise TrustInvalid("the certificate is not for this private key", path=key.certificate)


def sign_envelope(payload: bytes, key: EllipticCurvePrivateKey) -> dict[str, Any]:
    """A DSSE envelope over `payload` (type `PAYLOAD_TYPE`) with one ECDSA signature; `keyid` is the
    key hint model_signing uses (`signing.key_id`)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from modelwarden.trust.signing import key_id

    sig = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(_hash_for(key.public_key())))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": key_id(key.public_key()), "sig": base64.b64encode(sig).decode("ascii")}],
    }


def attest_release(
    path: Path,
    key: SigningKey,
    out: Path | None = None,
    *,
    as_of: dt.date | None = None,
    assessment: Assessment | None = None,
    signature: Path | None = None,
) -> AttestationResult:
    """Assess the release at `path` (or take `assessment`), and write a signed attestation of it to
    `out` (default `signing.default_attestation(path)`). `signature` names a model signature kept in
    the folder under another name than `model.sig`, so that it is left out of the subjects too."""
    from modelwarden.trust.signing import default_attestation, file_digests, writable_target

    target = out or default_attestation(path)
    writable_target(target)
    private = load_private_key(key.private_key)
    _check_certificate(key, private)
    if assessment is None:
        from modelwarden.assess import assess_path

        assessment = assess_path(path, as_of=as_of)
    ignored = [target] + ([signature] if signature is not None else [])
    stmt = statement(file_digests(path, *ignored), predicate(assessment))
    envelope = sign_envelope(canonical(stmt), private)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    return AttestationResult(attestation=target, subjects=len(stmt["subject"]), predicate_type=PREDICATE_TYPE)


# --- verification -----------------------------------------------------------------------------------


def open_envelope(envelope: Any, key: EllipticCurvePublicKey) -> tuple[Check, dict[str, Any] | None]:
    """Check the envelope's form and that one of its signatures was made by `key` over PAE; return the
    decoded Statement only when it was (nothing of an unverified payload is ever read)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    name = "attestation signature"

    def fail(why: str) -> tuple[Check, None]:
        return Check(name=name, passed=False, detail=why), None

    if not isinstance(envelope, dict) or not isinstance(envelope.get("signatures"), list):
        return fail("not a DSSE envelope (payloadType, payload, signatures)")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        return fail(f"payloadType is {envelope.get('payloadType')!r}, expected {PAYLOAD_TYPE!r}")
    try:
        payload = base64.b64decode(str(envelope.get("payload")), validate=True)
    except ValueError:
        return fail("payload is not base64")
    message = pae(PAYLOAD_TYPE, payload)
    for entry in envelope["signatures"]:
        try:
            sig = base64.b64decode(str(entry.get("sig")), validate=True)
            key.verify(sig, message, ec.ECDSA(_hash_for(key)))
        except (InvalidSignature, ValueError, AttributeError):
            continue
        try:
            stmt = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return fail("the signed payload is not JSON")
        return Check(name=name, passed=True, detail="signed by the trusted key"), stmt
    return fail(f"none of its {len(envelope['signatures'])} signature(s) was made by the trusted key")


def check_statement(stmt: dict[str, Any]) -> tuple[Check, dict[str, str], dict[str, Any] | None]:
    """The Statement's type, predicate type and subjects: (check, subject name → sha256, predicate)."""
    name = "attestation statement"
    problems = []
    if not isinstance(stmt, dict):
        return Check(name=name, passed=False, detail="the payload is not a JSON object"), {}, None
    if stmt.get("_type") != STATEMENT_TYPE:
        problems.append(f"_type is {stmt.get('_type')!r}, expected {STATEMENT_TYPE!r}")
    if stmt.get("predicateType") != PREDICATE_TYPE:
        problems.append(f"predicateType is {stmt.get('predicateType')!r}, expected {PREDICATE_TYPE!r}")
    subjects: dict[str, str] = {}
    raw = stmt.get("subject")
    for s in raw if isinstance(raw, list) else []:
        digest = s.get("digest") if isinstance(s, dict) else None
        if not isinstance(digest, dict) or not isinstance(s.get("name"), str) or "sha256" not in digest:
            problems.append(f"a subject without a name and a sha256 digest: {s!r}"[:200])
            continue
        if s["name"] in subjects:
            problems.append(f"subject {s['name']!r} is listed twice")
        subjects[s["name"]] = str(digest["sha256"])
    if not subjects:
        problems.append("no subjects")
    pred = stmt.get("predicate")
    if not isinstance(pred, dict):
        problems.append("no predicate object")
        pred = None
    if problems:
        return Check(name=name, passed=False, detail="; ".join(problems)), subjects, None
    detail = f"{PREDICATE_TYPE}, {len(subjects)} subjects, assessed as of {pred.get('as_of')}"  # type: ignore[union-attr]
    return Check(name=name, passed=True, detail=detail), subjects, pred


def check_subjects(subjects: dict[str, str], on_disk: dict[str, str]) -> Check:
    """The attestation names exactly the files on disk, with the same digests."""
    from modelwarden.trust.signing import diff_digests

    differences = diff_digests(subjects, on_disk, "the attestation")
    if differences:
        return Check(name="attestation subjects", passed=False, detail="; ".join(differences))
    return Check(name="attestation subjects", passed=True, detail=f"all {len(subjects)} files match on disk")
