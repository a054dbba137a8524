"""Signed attestations attached to recorded assessments (docs/trust.md "Attestations in the registry").

An attestation is the DSSE envelope `modelwarden attest` writes (`trust.attest`): an in-toto Statement
whose subjects are the release's files and whose predicate summarises an assessment. The registry
stores the envelope's bytes exactly as received, next to the assessment it belongs to, with what it
states and the outcome of its latest verification.

Which assessment it belongs to is decided from what both say, and an envelope that belongs to
another release or states another outcome is refused:

- the predicate must equal the recorded assessment's predicate (`trust.attest.predicate`) in every
  field but `created_at` and the count of files scanned (`scan.files`, which counts signature and
  attestation files present at the time): the same tool and rule set, the same as-of date, the same
  scan verdict and finding counts, openness, compute and obligations;
- the subjects must be the assessment's files: with the file hashes recorded
  (`subject.file_hashes`, `assess --hash`), the same names with the same SHA-256 digests; without
  them, the same file names (`facts.files`), and the link says that digests were not compared.
  Signature and attestation files (`*.sig`, `*.intoto.json`) and git metadata, which a signature
  never covers, are left out of the comparison.

Verification reuses the trust chain's own checks: `trust.attest.open_envelope` for the DSSE
signature, model-signing's certificate verifier for a certificate chain (through the model signature
bundle, which holds the signing certificate; the attestation itself names no certificate). Without a
trust anchor nothing is verified: the attestation is stored as "not verified".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from modelwarden.errors import AssessmentNotFound, RegistryError, TrustInvalid
from modelwarden.limits import MAX_ATTESTATION_BYTES
from modelwarden.model import Assessment
from modelwarden.registry.models import AssessmentRow, AttestationRow
from modelwarden.registry.store import db_reason

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    from modelwarden.registry.store import Registry

#: Cap on a PEM key or certificate file given as an anchor (a real one is a few kilobytes).
MAX_PEM_BYTES = 1 << 20

Status = Literal["verified", "failed", "not verified"]
Link = Literal["file digests", "file names"]

#: Files a model signature or attestation never covers, left out when subjects are compared with the
#: assessment's files (model_signing ignores git metadata; trust files are written after the files).
_TRUST_SUFFIXES = (".sig", ".intoto.json")
_GIT = (".git/", ".github/")
_GIT_FILES = (".gitattributes", ".gitignore")
NOT_SAID = (
    "An attestation says that the holder of the signing key ran (or claims to have run) this "
    "assessment as of its date, with that tool and rule set. It is not a safety verdict and does not "
    "make the release safe to load; it proves nothing about who trained the model or on what; a later "
    "rule set or scanner can reach another outcome; and it is worth what the signer's key is worth to you."
)


# --- records --------------------------------------------------------------------------------------


class PredicateSummary(BaseModel):
    """What an attestation's predicate says, in the fields the dashboard shows."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    as_of: str | None = None
    """The date the law was applied as of."""
    created_at: str | None = None
    """When the attested assessment was made."""
    tool_version: str | None = None
    """The modelwarden version that made it."""
    ruleset: str | None = None
    """The rule set's version and digest."""
    scan_verdict: str | None = None
    """PASS, FAIL, UNVERIFIED, INCOMPLETE or NOT_SCANNED."""
    compute_band: str | None = None
    """The training-compute band in FLOP ("low – high"), or None when nothing supported one."""
    openness: str | None = None
    """The licence and MOF class, e.g. "apache-2.0, MOF class 3"."""


class StoredAttestation(BaseModel):
    """An attestation attached to a recorded assessment, with its latest verification."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: int
    """The attestation's id in the registry."""
    assessment_id: int
    """The recorded assessment it belongs to."""
    envelope_sha256: str
    """SHA-256 of the envelope's bytes as received (and stored)."""
    predicate_type: str
    """The Statement's predicateType."""
    subjects: dict[str, str] = Field(description="The Statement's subjects: file name -> SHA-256.")
    link: Link
    """How it was matched to the assessment: by file digests, or by file names only (the assessment
    recorded no file hashes)."""
    status: Status
    """verified (against `anchor`), failed, or not verified (no trust anchor was given)."""
    detail: str
    """What the latest verification found."""
    signer: str | None = None
    """Who signed, as the verification established it: the key's fingerprint, or the signing
    certificate's subject, issuer and SAN. None unless verified."""
    signer_fingerprint: str | None = None
    """SHA-256 of the signing key's SubjectPublicKeyInfo (DER), hex. None unless verified."""
    anchor: str | None = None
    """The trust anchor the latest verification used; None when none was given."""
    verified_at: dt.datetime | None = None
    """When the latest verification ran; None when none ran."""
    attached_at: dt.datetime
    """When it was attached."""
    summary: PredicateSummary
    """What the predicate says (as signed when verified; an unverified claim otherwise)."""
    has_signature_bundle: bool = False
    """Whether the model signature bundle (certificate method) is stored with it."""


@dataclass(frozen=True)
class Anchor:
    """What a verifier trusts: one public key (PEM), or root certificates (PEM) that the signing
    certificate of the model signature must chain to."""

    public_key: bytes | None = None
    """PEM of the public key that must have made the signature."""
    certificate_chain: tuple[bytes, ...] = ()
    """PEM of the trusted root (and intermediate) certificates."""

    @classmethod
    def from_files(
        cls, public_key: Path | None = None, certificate_chain: list[Path] | None = None
    ) -> Anchor:
        """An anchor from PEM files, read with a size bound."""
        from modelwarden.untrusted.io import read_bounded

        def read(path: Path) -> bytes:
            try:
                raw = read_bounded(path, MAX_PEM_BYTES)
            except OSError as exc:
                raise TrustInvalid(f"cannot read: {exc.strerror or exc}", path=path) from None
            if len(raw) > MAX_PEM_BYTES:
                raise TrustInvalid("larger than 1 MiB: not a PEM key or certificate", path=path)
            return raw

        chain = tuple(read(p) for p in certificate_chain or [])
        anchor = cls(public_key=read(public_key) if public_key is not None else None, certificate_chain=chain)
        anchor.check()
        return anchor

    def check(self) -> None:
        """Exactly one of the two is given."""
        if (self.public_key is None) == (not self.certificate_chain):
            raise TrustInvalid(
                "give either a public key or a certificate chain to verify against, not both",
                next_step="--public-key KEY or --certificate-chain ROOT",
            )


@dataclass(frozen=True)
class Outcome:
    """The result of one verification."""

    status: Status
    """verified, failed, or not verified (no anchor)."""
    detail: str
    """What the check found."""
    signer: str | None = None
    """Who signed, when verified: "key sha256:…" or the certificate's subject, issuer and SAN."""
    fingerprint: str | None = None
    """SHA-256 of the signing key's SubjectPublicKeyInfo (DER), when verified."""
    anchor: str | None = None
    """The anchor the check used, described; None without one."""


@dataclass(frozen=True)
class Parsed:
    """An envelope read (not verified): the JSON, the Statement's subjects and predicate."""

    envelope: dict[str, Any]
    """The envelope's JSON (payloadType, payload, signatures)."""
    subjects: dict[str, str]
    """The Statement's subjects: file name -> SHA-256."""
    predicate: dict[str, Any]
    """The Statement's predicate (an unverified claim until a check passes)."""
    predicate_type: str
    """The Statement's predicateType."""


# --- reading an envelope --------------------------------------------------------------------------


def parse_envelope(raw: bytes) -> Parsed:
    """Read a DSSE envelope holding an in-toto Statement of our predicate type, without trusting it:
    what it states is used to find the assessment it belongs to, never as a verified claim."""
    from modelwarden.trust import attest as at

    if len(raw) > MAX_ATTESTATION_BYTES:
        raise TrustInvalid(f"the attestation is larger than {MAX_ATTESTATION_BYTES:,} bytes: refused")
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise TrustInvalid(f"the attestation is not JSON: {exc}") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), str):
        raise TrustInvalid("not a DSSE envelope: expected an object with payloadType, payload, signatures")
    if envelope.get("payloadType") != at.PAYLOAD_TYPE:
        raise TrustInvalid(f"payloadType is {envelope.get('payloadType')!r}, expected {at.PAYLOAD_TYPE!r}")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise TrustInvalid("the envelope holds no signatures")
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        stmt = json.loads(payload)
    except (binascii.Error, ValueError):
        raise TrustInvalid("the envelope's payload is not base64 of a JSON Statement") from None
    except RecursionError:
        raise TrustInvalid("the envelope's payload nests too deeply") from None
    check, subjects, pred = at.check_statement(stmt)
    if pred is None:
        raise TrustInvalid(f"not a modelwarden assessment attestation: {check.detail}")
    return Parsed(envelope, subjects, pred, str(stmt["predicateType"]))


# --- which assessment it belongs to ---------------------------------------------------------------


def _covered(name: str) -> bool:
    """Whether a signature or attestation would cover the file (see the module docstring)."""
    base = name.rsplit("/", 1)[-1]
    return not (
        base.endswith(_TRUST_SUFFIXES) or base in _GIT_FILES or name.startswith(_GIT) or name == ".git"
    )


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n[:200]) for n in items[:limit])  # names come from the envelope: bounded
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _comparable(pred: dict[str, Any]) -> dict[str, Any]:
    """A predicate without what differs between two runs over the same release with the same outcome:
    `created_at`, and the number of files the scan read (`scan.files`), which counts the signature and
    attestation files present at the time (the files themselves are compared through the subjects)."""
    out = {k: v for k, v in pred.items() if k != "created_at"}
    if isinstance(out.get("scan"), dict):
        out["scan"] = {k: v for k, v in out["scan"].items() if k != "files"}
    return out


def link(assessment: Assessment, parsed: Parsed) -> Link:
    """How the attestation belongs to `assessment`; raises `TrustInvalid` naming the difference when
    it states another assessment or other files."""
    from modelwarden.trust import attest as at

    expected, stated = _comparable(at.predicate(assessment)), _comparable(parsed.predicate)
    differ = sorted(
        k
        for k in expected.keys() | stated.keys()
        if at.canonical(expected.get(k)) != at.canonical(stated.get(k))
    )
    if differ:
        raise TrustInvalid(
            f"the attestation states another assessment: its {', '.join(differ)} differ from the "
            "recorded one",
            next_step="attach it to the assessment it was made from (same as-of date, tool and rule set)",
        )
    hashes = {n: d for n, d in assessment.subject.file_hashes.items() if _covered(n)}
    subjects = parsed.subjects
    if hashes:
        changed = sorted(n for n in hashes.keys() & subjects.keys() if hashes[n] != subjects[n])
        only_a = sorted(hashes.keys() - subjects.keys())
        only_s = sorted(subjects.keys() - hashes.keys())
        kind: Link = "file digests"
    else:
        files = {f.path for f in (assessment.facts.files if assessment.facts else []) if _covered(f.path)}
        if not files:
            raise TrustInvalid(
                "the recorded assessment lists no files, so no attestation can be matched to it",
                next_step="record an assessment of the release's files (assess PATH --save)",
            )
        changed, only_a, only_s = [], sorted(files - subjects.keys()), sorted(subjects.keys() - files)
        kind = "file names"
    problems = []
    if changed:
        problems.append(f"other digests for {_names(changed)}")
    if only_s:
        problems.append(f"files the assessment does not have: {_names(only_s)}")
    if only_a:
        problems.append(f"the assessment's files {_names(only_a)} are not subjects")
    if problems:
        raise TrustInvalid(
            "the attestation is for other files than the recorded assessment: " + "; ".join(problems),
            next_step="attach it to the assessment of the release it names",
        )
    return kind


def summarise(pred: dict[str, Any]) -> PredicateSummary:
    """The dashboard's reading of a predicate (missing or odd fields become None, never an error)."""

    def get(*path: str) -> Any:
        value: Any = pred
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    band = get("compute", "training_flop")
    band_text = None
    if isinstance(band, dict) and all(isinstance(band.get(k), int | float) for k in ("low", "high")):
        band_text = f"{band['low']:.2g} – {band['high']:.2g} FLOP"
    licence, mof = get("openness", "licence"), get("openness", "mof_class")
    openness = None
    if get("openness") is not None:
        openness = f"{licence or 'licence unknown'}, " + (
            f"MOF class {mof}" if mof is not None else "no MOF class"
        )

    def text(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str | int | float | bool):
            return "(not a plain value)"  # a nested value would be printed recursively, whole
        return str(value)[:500]

    return PredicateSummary(
        as_of=text(get("as_of")),
        created_at=text(get("created_at")),
        tool_version=text(get("tool", "version")),
        ruleset=text(get("ruleset")),
        scan_verdict=text(get("scan", "verdict")),
        compute_band=band_text,
        openness=openness,
    )


# --- verification ---------------------------------------------------------------------------------


def fingerprint(key: Any) -> str:
    """SHA-256 of a public key's SubjectPublicKeyInfo in DER, hex (what
    `openssl pkey -pubin -in KEY -outform DER | sha256sum` prints)."""
    from cryptography.hazmat.primitives import serialization

    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _anchor_key(anchor: Anchor) -> EllipticCurvePublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    assert anchor.public_key is not None
    try:
        key = serialization.load_pem_public_key(anchor.public_key)
    except (ValueError, TypeError) as exc:
        raise TrustInvalid(f"the trust anchor is not a PEM public key: {exc}") from None
    if not isinstance(key, EllipticCurvePublicKey):
        raise TrustInvalid("the trust anchor is not an elliptic-curve public key")
    return key


def _certificate_text(cert: Any) -> str:
    from cryptography import x509

    who = f"certificate subject {cert.subject.rfc4514_string()}; issuer {cert.issuer.rfc4514_string()}"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(getattr(n, "value", n)) for n in san]
        who += "; SAN " + ", ".join(names)
    except x509.ExtensionNotFound:
        pass
    return who[:2000]


def _chain_text(anchor: Anchor) -> str:
    from cryptography import x509

    roots = []
    for pem in anchor.certificate_chain:
        try:
            certs = x509.load_pem_x509_certificates(pem)
        except ValueError as exc:
            raise TrustInvalid(f"the certificate chain is not PEM certificates: {exc}") from None
        roots += [c.subject.rfc4514_string() for c in certs]
    return "certificate chain: " + "; ".join(roots)


def _verify_bundle(bundle: bytes, anchor: Anchor) -> tuple[Any, dict[str, str]]:
    """The model signature bundle checked by model-signing's own certificate verifier against the
    anchor's roots (the chain and the signature over its payload; no files are read): the signing
    certificate and the file digests it signed. Raises ValueError (and others) when it fails."""
    from cryptography import x509
    from model_signing._signing import sign_sigstore_pb

    from modelwarden.trust.records import TrustAnchor
    from modelwarden.trust.signing import _verifier

    with tempfile.TemporaryDirectory(prefix="modelwarden-anchor-") as tmp:
        chain = []
        for i, pem in enumerate(anchor.certificate_chain):
            chain.append(Path(tmp) / f"root{i}.pem")
            chain[-1].write_bytes(pem)
        sig = Path(tmp) / "model.sig"
        sig.write_bytes(bundle)
        config = _verifier(TrustAnchor(certificate_chain=chain))
        # verifying.Config.verify would also hash the release's files, which the registry does not
        # have: its verifier checks the bundle alone (chain, signature, payload) and returns what was signed.
        manifest = config._verifier.verify(sign_sigstore_pb.Signature.read(sig))
    digests = {str(rd.identifier): rd.digest.digest_hex for rd in manifest.resource_descriptors()}
    raw = json.loads(bundle)["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"]
    return x509.load_der_x509_certificate(base64.b64decode(raw)), digests


def check(parsed: Parsed, anchor: Anchor | None, bundle: bytes | None) -> Outcome:
    """Verify an attestation against `anchor` with the trust chain's checks; never "verified"
    without an anchor."""
    from modelwarden.trust import attest as at
    from modelwarden.trust.signing import diff_digests

    if anchor is None:
        return Outcome("not verified", "present, not verified: no trust anchor was given")
    anchor.check()
    if anchor.public_key is not None:
        key = _anchor_key(anchor)
        described = f"public key sha256:{fingerprint(key)}"
        sig_check, _ = at.open_envelope(parsed.envelope, key)
        if not sig_check.passed:
            return Outcome("failed", sig_check.detail, anchor=described)
        return Outcome(
            "verified", sig_check.detail, f"key sha256:{fingerprint(key)}", fingerprint(key), described
        )
    described = _chain_text(anchor)
    if bundle is None:
        why = (
            "a certificate chain verifies an attestation through the model signature, which holds the "
            "signing certificate, and none is stored with it"
        )
        return Outcome("failed", why, anchor=described)
    try:
        cert, signed = _verify_bundle(bundle, anchor)
    except Exception as exc:  # the library raises ValueError, OpenSSL and protobuf errors alike
        return Outcome(
            "failed", f"model signature: {str(exc).strip() or type(exc).__name__}"[:2000], anchor=described
        )
    sig_check, _ = at.open_envelope(parsed.envelope, cert.public_key())
    if not sig_check.passed:
        return Outcome("failed", sig_check.detail + " (the model signature's certificate)", anchor=described)
    differences = diff_digests(parsed.subjects, signed, "the attestation")
    if differences:
        why = "the model signature covers other files than the attestation: " + "; ".join(differences)
        return Outcome("failed", why[:2000], anchor=described)
    who = _certificate_text(cert)
    return Outcome(
        "verified",
        "signed by the model signature's certificate",
        who,
        fingerprint(cert.public_key()),
        described,
    )


# --- storage --------------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _outcome_columns(outcome: Outcome, ran: bool) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "detail": outcome.detail,
        "signer": outcome.signer,
        "signer_fingerprint": outcome.fingerprint,
        "anchor": outcome.anchor,
        "verified_at": _now() if ran else None,
    }


def attach(
    reg: Registry,
    assessment_id: int,
    envelope: bytes,
    *,
    anchor: Anchor | None = None,
    signature_bundle: bytes | None = None,
) -> tuple[StoredAttestation, bool]:
    """Attach an attestation to a recorded assessment: (the stored attestation, whether it is new).

    The same envelope attached again is the same attestation (no duplicate); given an anchor then, it
    is verified again. An envelope that does not belong to the assessment is refused (`TrustInvalid`)."""
    if signature_bundle is not None and len(signature_bundle) > MAX_ATTESTATION_BYTES:
        raise TrustInvalid(f"the model signature is larger than {MAX_ATTESTATION_BYTES:,} bytes: refused")
    recorded = reg.get(assessment_id)  # an unknown assessment is named before the envelope is read
    parsed = parse_envelope(envelope)
    kind = link(recorded, parsed)
    outcome = check(parsed, anchor, signature_bundle)
    digest = hashlib.sha256(envelope).hexdigest()
    row = {
        "assessment_id": assessment_id,
        "envelope": envelope,
        "envelope_sha256": digest,
        "signature_bundle": signature_bundle,
        "predicate_type": parsed.predicate_type,
        "subjects": json.dumps(parsed.subjects, sort_keys=True),
        "summary": summarise(parsed.predicate).model_dump_json(),
        "link": kind,
        "attached_at": _now(),
        **_outcome_columns(outcome, anchor is not None),
    }
    t = AttestationRow
    insert = postgresql.insert if reg.dialect == "postgresql" else sqlite.insert
    try:
        with reg._write() as conn, conn.begin():
            if (
                conn.execute(select(AssessmentRow.id).where(AssessmentRow.id == assessment_id)).first()
                is None
            ):
                raise AssessmentNotFound(f"no assessment with id {assessment_id}")
            new = conn.execute(insert(t).on_conflict_do_nothing().returning(t.id), row).scalar()
            if new is None:
                found = t.assessment_id == assessment_id, t.envelope_sha256 == digest
                ident = conn.execute(select(t.id).where(*found)).scalar_one()
                if anchor is not None or signature_bundle is not None:
                    values = _outcome_columns(outcome, anchor is not None)
                    if signature_bundle is not None:
                        values["signature_bundle"] = signature_bundle
                    conn.execute(update(t).where(t.id == ident).values(**values))
            else:
                ident = int(new)
    except SQLAlchemyError as exc:
        raise RegistryError(f"cannot attach the attestation in {reg.url}: {db_reason(exc)}") from None
    return get(reg, ident), new is not None


def _record(row: Any) -> StoredAttestation:
    def utc(value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    attached = utc(row.attached_at)
    assert attached is not None
    return StoredAttestation(
        id=row.id,
        assessment_id=row.assessment_id,
        envelope_sha256=row.envelope_sha256,
        predicate_type=row.predicate_type,
        subjects=json.loads(row.subjects),
        link=row.link,
        status=row.status,
        detail=row.detail,
        signer=row.signer,
        signer_fingerprint=row.signer_fingerprint,
        anchor=row.anchor,
        verified_at=utc(row.verified_at),
        attached_at=attached,
        summary=PredicateSummary.model_validate_json(row.summary),
        has_signature_bundle=row.has_bundle,
    )


_COLUMNS = [c for c in AttestationRow.__table__.columns if c.name not in ("envelope", "signature_bundle")]


def _select() -> Any:
    t = AttestationRow
    return select(*_COLUMNS, t.signature_bundle.is_not(None).label("has_bundle"))


def _read(reg: Registry, stmt: Any) -> list[Any]:
    try:
        with reg.engine.connect() as conn:
            return list(conn.execute(stmt).all())
    except SQLAlchemyError as exc:
        raise RegistryError(f"cannot read the registry at {reg.url}: {db_reason(exc)}") from None


def get(reg: Registry, ident: int) -> StoredAttestation:
    """One stored attestation."""
    rows = _read(reg, _select().where(AttestationRow.id == ident))
    if not rows:
        raise AssessmentNotFound(f"no attestation with id {ident}")
    return _record(rows[0])


def for_assessment(reg: Registry, assessment_id: int) -> list[StoredAttestation]:
    """The attestations of one assessment, in the order they were attached."""
    t = AttestationRow
    return [_record(r) for r in _read(reg, _select().where(t.assessment_id == assessment_id).order_by(t.id))]


def envelope(reg: Registry, ident: int) -> bytes:
    """The envelope's bytes as stored."""
    rows = _read(reg, select(AttestationRow.envelope).where(AttestationRow.id == ident))
    if not rows:
        raise AssessmentNotFound(f"no attestation with id {ident}")
    return bytes(rows[0].envelope)


def reverify(reg: Registry, anchor: Anchor, *, assessment_id: int | None = None) -> list[StoredAttestation]:
    """Check the stored envelopes again against `anchor` (all, or one assessment's) and record each
    outcome. An envelope whose stored bytes no longer read or verify is recorded as failed."""
    anchor.check()
    described = (
        f"public key sha256:{fingerprint(_anchor_key(anchor))}" if anchor.public_key else _chain_text(anchor)
    )
    t = AttestationRow
    stmt = select(t.id, t.assessment_id, t.envelope, t.envelope_sha256, t.signature_bundle).order_by(t.id)
    if assessment_id is not None:
        stmt = stmt.where(t.assessment_id == assessment_id)
    done = []
    for row in _read(reg, stmt):
        values: dict[str, Any]
        try:
            if hashlib.sha256(bytes(row.envelope)).hexdigest() != row.envelope_sha256:
                raise TrustInvalid("its bytes changed since it was attached (the SHA-256 differs)")
            parsed = parse_envelope(bytes(row.envelope))
            outcome = check(
                parsed, anchor, None if row.signature_bundle is None else bytes(row.signature_bundle)
            )
            if outcome.status == "verified":
                link(reg.get(row.assessment_id), parsed)  # what was signed must still be this assessment's
            values = {
                "subjects": json.dumps(parsed.subjects, sort_keys=True),
                "summary": summarise(parsed.predicate).model_dump_json(),
                "predicate_type": parsed.predicate_type,
            }
        except TrustInvalid as exc:
            outcome, values = Outcome("failed", f"the stored envelope: {exc.message}", anchor=described), {}
        values |= _outcome_columns(outcome, True)
        try:
            with reg._write() as conn, conn.begin():
                conn.execute(update(t).where(t.id == row.id).values(**values))
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot record the verification in {reg.url}: {db_reason(exc)}") from None
        done.append(get(reg, row.id))
    return done
