"""Attestations over HTTP: list an assessment's attestations, attach one (with the operator's token),
read a stored envelope back; and the report page's "Trust" panel (docs/trust.md "Attestations in the
registry")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from modelwarden.limits import MAX_ATTESTATION_BYTES
from modelwarden.registry import Registry
from modelwarden.registry import attestations as atts
from modelwarden.registry.attestations import Anchor, StoredAttestation
from modelwarden.web.api import PREFIX, Id, Reg
from modelwarden.web.auth import require_token
from modelwarden.web.errors import responses

MAX_PEM_CHARS = 64 * 1024  # a PEM key or certificate is a few kilobytes
MAX_CHAIN = 8

router = APIRouter(prefix=PREFIX, tags=["attestations"], responses=responses(400, 422, 500, 503))


class AttestationSubmission(BaseModel):
    """An attestation to attach, and optionally what to verify it against."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    envelope: str = Field(max_length=MAX_ATTESTATION_BYTES)
    """The DSSE envelope file's text (`modelwarden attest`), stored as these UTF-8 bytes."""
    public_key: str | None = Field(default=None, max_length=MAX_PEM_CHARS)
    """PEM public key to verify against (key method)."""
    certificate_chain: list[str] = Field(default_factory=list, max_length=MAX_CHAIN)
    """PEM root certificates to verify against (certificate method; needs `signature`)."""
    signature: str | None = Field(default=None, max_length=MAX_ATTESTATION_BYTES)
    """The model signature bundle's text (certificate method: it holds the signing certificate)."""

    def anchor(self) -> Anchor | None:
        """The trust anchor given, if any."""
        chain = tuple(c.encode() for c in self.certificate_chain)
        if self.public_key is None and not chain:
            return None
        anchor = Anchor(
            public_key=self.public_key.encode() if self.public_key else None, certificate_chain=chain
        )
        anchor.check()
        return anchor


def _known(reg: Registry, assessment_id: int) -> None:
    reg.summary(assessment_id)  # 404 for an unknown assessment


@router.get("/assessments/{assessment_id:int}/attestations", responses=responses(404))
def list_attestations(reg: Reg, assessment_id: Id) -> list[StoredAttestation]:
    """The attestations attached to an assessment, each with its latest verification: verified
    (against the anchor named), failed, or not verified (no anchor was given)."""
    _known(reg, assessment_id)
    return atts.for_assessment(reg, assessment_id)


@router.post(
    "/assessments/{assessment_id:int}/attestations",
    status_code=201,
    dependencies=[Depends(require_token)],
    responses=responses(401, 403, 404, 413),
)
async def attach_attestation(
    reg: Reg, assessment_id: Id, submission: AttestationSubmission, response: Response
) -> StoredAttestation:
    """Attach a signed attestation of this assessment (201; 200 when the same envelope is already
    attached). It must attest this assessment of the same files, or it is refused (422)."""
    anchor = submission.anchor()
    bundle = submission.signature.encode() if submission.signature is not None else None
    att, new = await run_in_threadpool(
        atts.attach, reg, assessment_id, submission.envelope.encode(), anchor=anchor, signature_bundle=bundle
    )
    if not new:
        response.status_code = 200
    response.headers["Location"] = f"{PREFIX}/attestations/{att.id}/envelope"
    return att


@router.get(
    "/attestations/{attestation_id:int}/envelope",
    responses=responses(404) | {200: {"content": {"application/json": {}}}},
    response_class=Response,
)
def get_envelope(reg: Reg, attestation_id: Id) -> Response:
    """The stored envelope, byte for byte as it was attached."""
    return Response(atts.envelope(reg, attestation_id), media_type="application/json")


def panel(reg: Registry, assessment_id: int) -> dict[str, Any]:
    """The report page's Trust panel: the attestations and what an attestation does not say."""
    return {"attestations": atts.for_assessment(reg, assessment_id), "not_said": atts.NOT_SAID}
