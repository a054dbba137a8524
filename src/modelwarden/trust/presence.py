"""Which signatures and attestations a release carries, and — given a trust anchor — whether they
verify (docs/trust.md "Finding what a release carries"). A file is found by its name (model_signing's
`model.sig`, `*.intoto.json`) and recognised by its content, never trusted for either alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelwarden.errors import TrustInvalid
from modelwarden.model import Fact, Provenance, Source
from modelwarden.trust.records import TrustAnchor, TrustFile

#: Cap on the attestation files looked at in one folder (names ending `.intoto.json`).
MAX_ATTESTATIONS = 64
_SUFFIX = ".intoto.json"


def _candidates(path: Path) -> list[tuple[str, Path]]:
    from modelwarden.trust.signing import default_attestation, default_signature

    if not path.is_dir():
        found = [("model signature", default_signature(path)), ("attestation", default_attestation(path))]
        return [(k, p) for k, p in found if p.is_file()]
    out: list[tuple[str, Path]] = []
    sig = default_signature(path)
    if sig.is_file():
        out.append(("model signature", sig))
    atts = sorted(p for p in path.iterdir() if p.name.endswith(_SUFFIX) and p.is_file())
    out += [("attestation", p) for p in atts[:MAX_ATTESTATIONS]]
    return out


def _recognise(kind: str, file: Path) -> tuple[bool, str, str]:
    """(recognised, the field its format was read from, what it is)."""
    from modelwarden.trust.attest import PAYLOAD_TYPE
    from modelwarden.trust.signing import read_json

    try:
        data: Any = read_json(file, kind)
    except TrustInvalid as exc:
        return False, "", exc.message
    if not isinstance(data, dict):
        return False, "", "not a JSON object"
    if kind == "model signature":
        media = data.get("mediaType")
        ok = isinstance(media, str) and media.startswith("application/vnd.dev.sigstore.bundle")
        ok = ok and isinstance(data.get("dsseEnvelope"), dict)
        return ok, "mediaType", f"Sigstore bundle {media}" if ok else "not a model-signing bundle"
    ok = data.get("payloadType") == PAYLOAD_TYPE
    return ok, "payloadType", "in-toto DSSE envelope" if ok else "not an in-toto DSSE envelope"


def _verify(
    path: Path, kind: str, file: Path, anchor: TrustAnchor, signature: Path | None
) -> tuple[bool, str]:
    from modelwarden.trust import verify

    if kind == "model signature":
        report = verify(path, anchor, signature=file)
        checks = report.checks
    else:
        report = verify(path, anchor, signature=signature, attestation=file)
        checks = [c for c in report.checks if c.name.startswith("attestation")]
    failed = [c for c in checks if not c.passed]
    if failed:
        return False, "; ".join(f"{c.name}: {c.detail}" for c in failed)
    return True, "; ".join(c.detail for c in checks)


def trust_files(path: Path, anchor: TrustAnchor | None = None) -> list[TrustFile]:
    """The signature and attestations of the release at `path`; each verified when `anchor` is given."""
    root = path if path.is_dir() else path.parent
    found = _candidates(path)
    signature = next((f for k, f in found if k == "model signature"), None)
    out = []
    for kind, file in found:
        recognised, field, what = _recognise(kind, file)
        rel = file.relative_to(root).as_posix()
        fact = Fact[str](value=rel, provenance=Provenance(source=Source.FILE, file=rel, field=field or None))
        verified: bool | None = None
        detail = what
        if anchor is not None:
            verified, detail = (
                (False, what) if not recognised else _verify(path, kind, file, anchor, signature)
            )
        out.append(TrustFile(kind=kind, file=fact, recognised=recognised, verified=verified, detail=detail))
    return out
