"""Pages other areas add to the dashboard (e.g. the gateway's requests, blocks, strikes, suspensions).

A `Page` is a FastAPI router plus a navigation entry (and, optionally, a folder of templates that may
`{% extends "base.html" %}` to get the dashboard's header, navigation and styles). The web stage names
no other area: whoever composes the application passes the pages to `create_app(..., pages=[...])`
(`modelwarden serve` mounts the gateway's page so, in `modelwarden.cli.serve`). See docs/registry.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter

from modelwarden.registry import Registry


@dataclass(frozen=True)
class Page:
    """A page another area adds to the dashboard."""

    #: The navigation link's text.
    label: str
    #: Where the link points, e.g. "/gateway".
    path: str
    #: Builds the routes; the registry's engine is `registry.engine`.
    router: Callable[[Registry], APIRouter]
    #: Extra template folder, searched after the dashboard's own.
    templates: Path | None = None
    #: Only with the admin token (False for pages anyone who can read may see).
    needs_admin: bool = True


@dataclass(frozen=True)
class NavItem:
    """One link of the dashboard's navigation."""

    #: The link's text.
    label: str
    #: Where it points.
    path: str
