"""The dashboard's Jinja2 environment: our own templates only (never a template from a model), with
autoescaping on, and filters that keep untrusted values inert (links only for http(s) URLs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)

from modelwarden import __version__
from modelwarden.model import Provenance
from modelwarden.registry import display
from modelwarden.report import html
from modelwarden.report.html import safe_url

TEMPLATES = Path(__file__).parent / "templates"


def provenance(value: Provenance | None) -> str:
    """A provenance as one line, or a dash."""
    return value.describe() if value is not None else "—"


def query(params: dict[str, Any], **changes: Any) -> str:
    """`?a=1&b=2` from the current filters with some values changed (None drops a key)."""
    merged = {k: v for k, v in (params | changes).items() if v not in (None, "")}
    return "?" + urlencode(merged) if merged else "?"


def environment(extra_template_dirs: Sequence[Path] = ()) -> Environment:
    """The Jinja environment of the dashboard (autoescaping on, undefined names are errors)."""
    # The report's templates after our own: the assessment page includes the same conclusions as
    # `assess --format html` (report/templates/_assessment_summary.html).
    loaders: list[Any] = [PackageLoader("modelwarden.web", "templates"), PackageLoader(*html.TEMPLATES)]
    loaders += [FileSystemLoader(str(d)) for d in extra_template_dirs]
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        count=display.count,
        flop=display.flop,
        band=display.band,
        mof=display.mof,
        call=display.call,
        licence_class=display.licence_class,
        severity=display.severity,
        safe_url=safe_url,
        provenance=provenance,
    )
    env.globals.update(version=__version__, query=query)
    return env


def _page_context(request: Request) -> dict[str, Any]:
    # Every page (error pages included) gets the navigation and the mount prefix.
    return {"nav": getattr(request.app.state, "nav", []), "root": request.scope.get("root_path", "")}


def templates(extra_template_dirs: Sequence[Path] = ()) -> Jinja2Templates:
    """FastAPI's templates over that environment, with the page context."""
    return Jinja2Templates(env=environment(extra_template_dirs), context_processors=[_page_context])
