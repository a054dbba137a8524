"""The versioned REST API, `/api/v1/...`. Read routes are open; write routes need the operator's token.

Its OpenAPI document is served at `/api/v1/openapi.json`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from modelwarden import __version__
from modelwarden.model import Assessment, RegimeResult
from modelwarden.registry import (
    AssessmentSummary,
    Diff,
    Facets,
    Filters,
    Page,
    Registry,
    Sort,
    StoredAssessment,
)
from modelwarden.registry.files import MAX_WINDOW, FileRows
from modelwarden.registry.store import MAX_LIMIT
from modelwarden.web import schemas
from modelwarden.web.auth import require_token
from modelwarden.web.errors import ApiError, ErrorDetail, responses, validation_details
from modelwarden.web.submit import confine, run_assess, unchanged

PREFIX = "/api/v1"
MAX_ID = 2**62  # ids beyond any real row, bounded so no database integer overflows
FILES_DEFAULT = 1_000  # entries of each per-file list in one answer, unless asked otherwise
MAX_FILE_CHANGES = 1_000  # file changes listed in one diff (the CLI lists them all)

router = APIRouter(prefix=PREFIX, responses=responses(400, 422, 500, 503))

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def registry(request: Request) -> Registry:
    """The registry the application was created with (a route dependency)."""
    reg: Registry = request.app.state.registry
    return reg


Reg = Annotated[Registry, Depends(registry)]


class Paging(BaseModel):
    """Sort order and window of a list, as query parameters."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    sort: Sort = Sort.NAME
    """The order of the list."""
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    """At most this many items."""
    offset: int = Field(default=0, ge=0, le=10_000_000)
    """Index of the first item returned."""


class ListQuery(Filters, Paging):
    """Filters plus paging, as query parameters."""


class Health(BaseModel):
    """Whether the server and its database answer."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    status: str
    """"ok" when the database answered."""
    version: str
    """The modelwarden version serving."""
    database: str
    """The database backend (sqlite or postgresql), never its URL."""


class ModelDetail(BaseModel):
    """A model and all its recorded assessments."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    model_id: int
    """The registry's id of the model (name + version)."""
    name: str
    """The model's name."""
    latest: AssessmentSummary
    """Its latest assessment."""
    assessments: list[AssessmentSummary] = Field(description="Newest first.")


class Created(BaseModel):
    """Where a newly recorded assessment can be read."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: int
    """The assessment's id."""
    model_id: int
    """The id of its model."""
    url: str
    """The API path of the recorded assessment."""


class PathSubmission(BaseModel):
    """A request to assess a folder on the server (only inside the allowed folders)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    path: str = Field(max_length=4096, pattern="^/", description="Absolute path on the server.")
    manifest: str | None = Field(default=None, max_length=4096, pattern="^/", description="Absolute path.")
    as_of: dt.date | None = None
    """The date to apply the law as of; today when absent."""


def _filters(q: ListQuery) -> Filters:
    return Filters.model_validate(q.model_dump(include=set(Filters.model_fields)))


@router.get("/health", tags=["meta"])
def health(reg: Reg) -> Health:
    """Whether the server and its database answer."""
    reg.ping()
    return Health(status="ok", version=__version__, database=reg.dialect)


@router.get("/models", tags=["models"])
def list_models(reg: Reg, query: Annotated[ListQuery, Query()]) -> Page:
    """Each model once, with its latest assessment; filtered and paged."""
    return reg.models(_filters(query), sort=query.sort, limit=query.limit, offset=query.offset)


@router.get("/models/{model_id:int}", tags=["models"], responses=responses(404))
def get_model(reg: Reg, model_id: Id) -> ModelDetail:
    """A model and all its assessments."""
    history = reg.model_history(model_id)
    latest = next((s for s in history if s.is_latest), history[0])
    return ModelDetail(model_id=model_id, name=latest.name, latest=latest, assessments=history)


@router.get("/assessments", tags=["assessments"])
def list_assessments(reg: Reg, query: Annotated[ListQuery, Query()]) -> Page:
    """Every recorded assessment (not only the latest of each model); filtered and paged."""
    return reg.list(_filters(query), sort=query.sort, limit=query.limit, offset=query.offset)


class FilesQuery(BaseModel):
    """Which window of an assessment's per-file lists to return."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    files_offset: int = Field(default=0, ge=0, le=10_000_000, description="First entry of each list.")
    files_limit: int = Field(
        default=FILES_DEFAULT, ge=1, le=MAX_WINDOW, description="Entries of each per-file list at most."
    )


class RowsQuery(BaseModel):
    """Which window of a release's file table to return."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    offset: int = Field(default=0, ge=0, le=10_000_000)
    """Index of the first file returned."""
    limit: int = Field(default=FILES_DEFAULT, ge=1, le=MAX_WINDOW)
    """At most this many files."""


@router.get("/assessments/{assessment_id:int}", tags=["assessments"], responses=responses(404))
def get_assessment(reg: Reg, assessment_id: Id, query: Annotated[FilesQuery, Query()]) -> StoredAssessment:
    """One assessment: the registry's bookkeeping, its summary and the document as recorded.

    The per-file lists (`subject.file_hashes`, `facts.files`, `scan.files`) hold at most
    `files_limit` entries from `files_offset`; when they are cut, `files` says so and gives each
    list's length as recorded (`/assessments/{id}/files` pages through the files).
    """
    stored, _ = reg.stored_window(assessment_id, offset=query.files_offset, limit=query.files_limit)
    return stored


@router.get("/assessments/{assessment_id:int}/files", tags=["assessments"], responses=responses(404))
def get_assessment_files(reg: Reg, assessment_id: Id, query: Annotated[RowsQuery, Query()]) -> FileRows:
    """The release's files, a page at a time: path, format, size and SHA-256 of each."""
    return reg.file_rows(assessment_id, offset=query.offset, limit=query.limit)


@router.post(
    "/assessments",
    tags=["assessments"],
    status_code=201,
    dependencies=[Depends(require_token)],
    responses=responses(401, 403, 413, 415),
    openapi_extra={"requestBody": schemas.request_body()},
)
async def submit_assessment(reg: Reg, request: Request, response: Response) -> Created:
    """Record an assessment document (e.g. the output of `modelwarden assess --format json`)."""
    assessment = parse_assessment(await request.body(), request.headers.get("content-type", ""))
    ident = await run_in_threadpool(reg.save, assessment)
    return await run_in_threadpool(_created, reg, ident, response)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _merge_classifications(document: dict[str, Any]) -> None:
    """Classification fields may come flattened beside `in_force` (the JSON contract), inside
    `classification`, or both; the model reads back one form at a time, so gather them first."""
    regimes = document.get("regimes")
    for regime in regimes.values() if isinstance(regimes, dict) else ():
        if isinstance(regime, dict) and isinstance(regime.get("classification"), dict):
            known = set(RegimeResult.model_fields)
            extra = {k: regime.pop(k) for k in list(regime) if k not in known}
            regime["classification"].update(extra)


def parse_assessment(body: bytes, content_type: str) -> Assessment:
    """JSON -> schema check -> record, each failure a 4xx naming where the document is wrong."""
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the assessment as application/json")
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(422, "invalid_request", f"body: not JSON ({exc})") from None
    problems = schemas.violations(document)
    if problems:
        details = [ErrorDetail(location=where, message=message) for where, message in problems]
        raise ApiError(422, "invalid_request", f"{problems[0][0]}: {problems[0][1]}", details=details)
    _merge_classifications(document)
    try:
        return Assessment.model_validate(document)
    except ValidationError as exc:
        details = [
            ErrorDetail(location="body." + d.location, message=d.message)
            for d in validation_details(exc.errors())
        ]
        raise ApiError(
            422, "invalid_request", f"{details[0].location}: {details[0].message}", details=details
        ) from None


@router.post(
    "/assessments/from-path",
    tags=["assessments"],
    status_code=201,
    dependencies=[Depends(require_token)],
    responses=responses(401, 403, 404, 409, 413, 415, 501),
)
def submit_path(reg: Reg, submission: PathSubmission, request: Request, response: Response) -> Created:
    """Assess a model folder or file on the server's machine (inside an allowed folder) and record it."""
    roots = request.app.state.settings.submit_roots
    # Everything the stage may read is checked before it runs, and checked again before the
    # result is stored: what it extracts is readable by everyone who can read the registry.
    checked = [confine(submission.path, roots)]
    if submission.manifest:
        checked.append(confine(submission.manifest, roots, what="manifest"))
    manifest = checked[1].path if len(checked) > 1 else None
    assessment = run_assess(checked[0].path, manifest, submission.as_of)
    if not all(unchanged(c) for c in checked):
        raise ApiError(
            409, "changed_while_read", "the submitted files changed while being assessed: nothing recorded"
        )
    return _created(reg, reg.save(assessment), response)


@router.delete(
    "/assessments/{assessment_id:int}",
    tags=["assessments"],
    status_code=204,
    dependencies=[Depends(require_token)],
    responses=responses(401, 403, 404),
)
def delete_assessment(reg: Reg, assessment_id: Id) -> Response:
    """Remove one assessment; the model's previous assessment becomes its latest."""
    reg.delete(assessment_id)
    return Response(status_code=204)


@router.get("/diff", tags=["assessments"], responses=responses(404))
def diff(reg: Reg, a: Annotated[Id, Query()], b: Annotated[Id, Query()]) -> Diff:
    """What changed from assessment `a` to assessment `b` (at most 1,000 file changes, then a count)."""
    return reg.diff(a, b, max_file_changes=MAX_FILE_CHANGES)


@router.get("/facets", tags=["meta"])
def facets(reg: Reg) -> Facets:
    """Values present in the registry, for filter choices: regimes with duties, licences."""
    return reg.facets()


def _created(reg: Registry, ident: int, response: Response) -> Created:
    summary = reg.summary(ident)
    url = f"{PREFIX}/assessments/{ident}"
    response.headers["Location"] = url
    return Created(id=ident, model_id=summary.model_id, url=url)
