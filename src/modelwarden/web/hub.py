"""The hub view: the latest assessment of every model counted by organisation — training compute
against the legal thresholds, MOF classes, worst scan findings, and the models above each threshold.

`GET /hub` is the page (inline SVG charts with table fallbacks); `GET /api/v1/hub` the same numbers as
JSON (`registry.hubstats.HubStats`). Both take `org` (one organisation), `top` and `list_limit`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwarden.registry import Registry
from modelwarden.registry.filters import TEXT
from modelwarden.registry.hubstats import (
    LOCAL,
    MAX_LIST,
    MAX_TOP,
    GroupStats,
    HubStats,
    hub_stats,
)
from modelwarden.web import hub_charts
from modelwarden.web.api import PREFIX, registry
from modelwarden.web.charts import THRESHOLD_LINES
from modelwarden.web.errors import ApiError, responses, validation_details
from modelwarden.web.templating import query

Reg = Annotated[Registry, Depends(registry)]

MOF_LEGEND = (
    ("class_1", "Class I — open science"),
    ("class_2", "Class II — open tooling"),
    ("class_3", "Class III — open model"),
    ("no_class", "no class reached"),
    ("not_classified", "not classified"),
)
SEVERITY_LEGEND = (
    ("critical", "critical"),
    ("high", "high"),
    ("medium", "medium"),
    ("low", "low"),
    ("info", "info"),
    ("none", "no finding"),
    ("not_scanned", "not scanned"),
)


class HubQuery(BaseModel):
    """Which part of the registry the hub view covers, and how much of it is listed."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    org: str | None = Field(
        default=None,
        max_length=200,
        pattern=TEXT,
        description=f"Only this organisation (the name's part before '/'); `{LOCAL}`: names without one.",
    )
    top: int = Field(default=12, ge=1, le=MAX_TOP)
    """Organisations shown one by one (by model count); the rest are folded into `(others)`."""
    list_limit: int = Field(default=100, ge=0, le=MAX_LIST)
    """Models listed per threshold (the counts always cover all)."""


def stats(reg: Registry, q: HubQuery) -> HubStats:
    """The hub numbers for a query."""
    return hub_stats(reg.engine, org=q.org or None, top=q.top, list_limit=q.list_limit)


api_router = APIRouter(prefix=PREFIX, responses=responses(400, 422, 500, 503))


@api_router.get("/hub", tags=["hub"])
def hub_view(reg: Reg, q: Annotated[HubQuery, Query()]) -> HubStats:
    """The hub view's numbers: latest assessments by organisation — compute against the thresholds,
    MOF classes, worst scan findings, and the models above (or straddling) each threshold."""
    return stats(reg, q)


page_router = APIRouter(include_in_schema=False)


def _query(request: Request) -> HubQuery:
    raw = {k: v for k, v in request.query_params.items() if k in HubQuery.model_fields and v != ""}
    try:
        return HubQuery.model_validate(raw)
    except ValidationError as exc:
        first = validation_details(exc.errors())[0]
        raise ApiError(400, "invalid_request", f"{first.location}: {first.message}") from None


def _rows(view: HubStats, params: dict[str, str]) -> list[tuple[GroupStats, str | None]]:
    # The totals first (linking to the unfiltered view), then each organisation, then the rest.
    rows: list[tuple[GroupStats, str | None]] = [(view.totals, query(params, org=None))]
    if view.org is None:
        rows += [(g, query(params, org=g.org)) for g in view.top]
        if view.others is not None:
            rows.append((view.others, None))
    return rows


@page_router.get("/hub", response_class=HTMLResponse)
def hub_page(request: Request, reg: Reg) -> Response:
    """The hub view page."""
    q = _query(request)
    view = stats(reg, q)
    params = {k: str(v) for k, v in q.model_dump(exclude_defaults=True).items() if v not in (None, "")}
    rows = _rows(view, params)
    context: dict[str, Any] = {
        "view": view,
        "q": q,
        "params": params,
        "rows": rows,
        "lines": {f"{v:.0e}".replace("+", ""): (label, title) for v, label, title in THRESHOLD_LINES},
        "histogram": hub_charts.histogram(view.compute, view.totals.compute_unknown, view.totals.thresholds),
        "mof_chart": hub_charts.stacked(rows, MOF_LEGEND, "mof"),
        "severity_chart": hub_charts.stacked(rows, SEVERITY_LEGEND, "severity"),
        "mof_legend": MOF_LEGEND,
        "severity_legend": SEVERITY_LEGEND,
    }
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, "hub.html", context)
    return response
