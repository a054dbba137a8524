"""The server-rendered dashboard: models table with filters, model and assessment pages (the full
report with provenance and citations), the diff view and an API page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from modelwarden.model import Assessment, Band
from modelwarden.registry import Filters, Registry, Sort
from modelwarden.registry.summary import THRESHOLDS, LicenceClass
from modelwarden.report import html
from modelwarden.web import charts, trust
from modelwarden.web.api import MAX_ID, registry
from modelwarden.web.errors import ApiError, validation_details

PAGE_SIZE = 50
FILES_PAGE_SIZE = 200  # rows of a report's file table per page
MAX_PAGE = 200_000

router = APIRouter(include_in_schema=False)
Reg = Annotated[Registry, Depends(registry)]


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, name, context, status_code=status)
    return response


def _int(request: Request, key: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(key)
    if raw in (None, ""):
        return default
    assert raw is not None
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 20) or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_request", f"{key}: expected a whole number from {low} to {high}")
    return int(raw)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, reg: Reg) -> Response:
    """The dashboard: filtered list of models with the compute chart."""
    raw = {k: v for k, v in request.query_params.items() if k in Filters.model_fields and v != ""}
    error = None
    try:
        filters = Filters.model_validate(raw)
    except ValidationError as exc:
        first = validation_details(exc.errors())[0]
        error = f"{first.location}: {first.message}"
        filters = Filters()
    sort_raw = request.query_params.get("sort") or Sort.NAME.value
    if sort_raw not in Sort._value2member_map_:
        choices = ", ".join(s.value for s in Sort)
        raise ApiError(400, "invalid_request", f"sort: expected one of {choices}")
    sort = Sort(sort_raw)
    page_no = _int(request, "page", 1, 1, MAX_PAGE) or 1
    page = reg.models(filters, sort=sort, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
    pages = max(1, -(-page.total // PAGE_SIZE))
    strip = charts.strip_chart(
        [
            (s.name, s.training_flop.central if s.training_flop else None, f"/models/{s.model_id}")
            for s in page.items
        ]
    )
    return _render(
        request,
        "index.html",
        {
            "page": page,
            "page_no": page_no,
            "pages": pages,
            "filters": filters,
            "params": filters.active() | ({"sort": sort.value} if sort is not Sort.NAME else {}),
            "sort": sort,
            "sorts": list(Sort),
            "facets": reg.facets(),
            "licence_classes": list(LicenceClass),
            "thresholds": THRESHOLDS,
            "error": error,
            "strip": strip,
        },
        status=400 if error else 200,
    )


def _bands(a: Assessment) -> list[tuple[str, Band]]:
    c = a.compute
    found = [
        ("training", c.training_flop),
        ("cumulative", c.cumulative_flop),
        ("modification", c.modification_flop),
    ]
    bands = [(label, band) for label, band in found if band is not None]
    # The cumulative band is drawn only when it says something the training band does not.
    if len(bands) > 1 and c.cumulative_flop == c.training_flop:
        bands = [b for b in bands if b[0] != "cumulative"]
    return bands


def _report(request: Request, reg: Registry, ident: int) -> Response:
    # One page of the per-file lists: a release of 200,000 files must not make a page of megabytes.
    files_page = _int(request, "files", 1, 1, MAX_PAGE) or 1
    offset = (files_page - 1) * FILES_PAGE_SIZE
    stored, rows = reg.stored_window(ident, offset=offset, limit=FILES_PAGE_SIZE, rows=True)
    assert rows is not None
    a = stored.assessment
    totals = stored.files.totals if stored.files else {}
    history = reg.model_history(stored.summary.model_id)
    previous = next((h for h in history if h.id < stored.id), None)
    return _render(
        request,
        "report.html",
        html.context(a)  # the conclusions, as `assess --format html` shows them
        | {
            "stored": stored,
            "a": a,
            "s": stored.summary,
            "history": history,
            "previous": previous,
            "compute_chart": charts.compute_chart(_bands(a)),
            "grid": charts.openness_grid(a.openness.components) if a.openness else [],
            "thresholds": THRESHOLDS,
            "rows": rows,
            "files_page": files_page,
            "files_pages": max(1, -(-rows.total // FILES_PAGE_SIZE)),
            "scanned": totals.get("scan.files", len(a.scan.files) if a.scan else 0),
            "trust": trust.panel(reg, stored.id),
        },
    )


@router.get("/models/{model_id:int}", response_class=HTMLResponse)
def model_page(request: Request, reg: Reg, model_id: int) -> Response:
    """A model's page: its latest assessment."""
    if not 1 <= model_id <= MAX_ID:
        raise ApiError(404, "not_found", f"no model with id {model_id}")
    history = reg.model_history(model_id, limit=1)
    return _report(request, reg, history[0].id)


@router.get("/assessments/{assessment_id:int}", response_class=HTMLResponse)
def assessment_page(request: Request, reg: Reg, assessment_id: int) -> Response:
    """One assessment's report."""
    if not 1 <= assessment_id <= MAX_ID:
        raise ApiError(404, "not_found", f"no assessment with id {assessment_id}")
    return _report(request, reg, assessment_id)


@router.get("/diff", response_class=HTMLResponse)
def diff_page(request: Request, reg: Reg) -> Response:
    """What changed between two assessments."""
    a = _int(request, "a", None, 1, MAX_ID)
    b = _int(request, "b", None, 1, MAX_ID)
    if a is None or b is None:
        raise ApiError(400, "invalid_request", "choose two assessments to compare (a and b)")
    diff = reg.diff(a, b, max_file_changes=FILES_PAGE_SIZE)
    history = reg.model_history(diff.b.model_id)
    return _render(request, "diff.html", {"diff": diff, "sections": diff.by_section(), "history": history})


@router.get("/api", response_class=HTMLResponse)
def api_page(request: Request) -> Response:
    """The API's routes, from the OpenAPI document."""
    schema = request.app.openapi()
    routes = [
        (method.upper(), path, op.get("summary", ""), op.get("description", ""), "security" in op)
        for path, ops in schema.get("paths", {}).items()
        for method, op in ops.items()
    ]
    return _render(request, "api.html", {"routes": routes, "openapi_url": request.app.openapi_url})
