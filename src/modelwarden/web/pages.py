"""Pages other areas add to the dashboard (e.g. the gateway's requests, blocks, strikes, suspensions).

A `Page` is a FastAPI router plus a navigation entry (and, optionally, a folder of templates that may
`{% extends "base.html" %}` to get the dashboard's header, navigation and styles). To plug one in,
either pass it to `create_app(..., pages=[...])`, or add its "module:attribute" to `PAGES` below so
that `modelwarden serve` mounts it whenever that module is importable. See docs/registry.md.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter

from modelwarden.registry import Registry

log = logging.getLogger("modelwarden.web")


@dataclass(frozen=True)
class Page:
    label: str  # the navigation link's text
    path: str  # where the link points, e.g. "/gateway"
    router: Callable[[Registry], APIRouter]  # builds the routes; the registry's engine is `registry.engine`
    templates: Path | None = None  # extra template folder, searched after the dashboard's own
    needs_admin: bool = True  # only with the admin token (False for pages anyone who can read may see)


# "module:attribute" of a `Page` (or of a function returning one), mounted when the module imports.
PAGES: tuple[str, ...] = ("modelwarden.gateway.dashboard:dashboard_page",)


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str


def discover(entries: tuple[str, ...] = PAGES) -> list[Page]:
    found: list[Page] = []
    for entry in entries:
        module_name, _, attribute = entry.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            log.warning("dashboard page %s not mounted: %s", entry, exc)
            continue
        page = target() if callable(target) and not isinstance(target, Page) else target
        if isinstance(page, Page):
            found.append(page)
    return found
