"""The web application: REST API + dashboard + static assets, served by `modelwarden serve`.

`create_app(registry, ...)` is the factory; other areas add pages through `pages` (see
`modelwarden.web.pages`). Everything the pages need (styles, script) is served from the package:
nothing is fetched from elsewhere, so the dashboard works offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelwarden import __version__
from modelwarden.registry import Registry
from modelwarden.web import api, dashboard, errors, hub, schemas, templating, trust
from modelwarden.web.access import LOCAL_HOSTS, Access, require_admin
from modelwarden.web.pages import NavItem, Page

STATIC = Path(__file__).parent / "static"

# Scripts and styles only from this server (no inline script can run, so an escaped value that
# slipped through would still be inert), no framing, no referrer leaks to links from model cards.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


@dataclass(frozen=True)
class Settings:
    """How the server is exposed (docs/registry.md, "Exposure")."""

    token: str | None = None
    """The admin token: writes and the gateway page need it. None: the server is read-only."""
    read_token: str | None = None
    """When set, every read needs it (or the admin token). None: reads are open to whoever can connect."""
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS
    """Host header values answered (no port; `*.example.org` for subdomains, `*` for any)."""
    submit_roots: tuple[Path, ...] = ()
    """Folders `from-path` submissions may read."""
    max_body_bytes: int = 32 * 1024 * 1024
    """Largest request body accepted."""


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task): adds the headers above to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Bound request bodies. A declared Content-Length over the limit is refused before anything is
    read; a body without one is cut off once it passes the limit, as it streams in (the 413 then goes
    through the app's error handlers like any other error)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.limit:,} bytes"
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            error = errors.ErrorBody(status=413, code="too_large", message=too_large)
            response = JSONResponse(errors.ErrorResponse(error=error).model_dump(), status_code=413)
            await response(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise StarletteHTTPException(413, too_large)
            return message

        await self.app(scope, counting_receive, send)


def create_app(
    registry: Registry,
    *,
    settings: Settings | None = None,
    pages: Sequence[Page] | None = None,
) -> FastAPI:
    settings = settings or Settings()
    pages = list(pages or ())  # composed by the caller: the web stage names no other area
    app = FastAPI(
        title="modelwarden registry",
        version=__version__,
        description=(
            "Recorded model assessments: list, filter and search models and assessments, read one, "
            "compare two, and (with the operator's API token) submit or delete."
        ),
        openapi_url=f"{api.PREFIX}/openapi.json",
        docs_url=None,  # the interactive docs pages load their scripts from a CDN
        redoc_url=None,
        # Nothing leaves the machine, whatever the environment says (FASTAPI_OTEL_AUTO_CONFIGURE).
        telemetry={"auto_configure": False, "tracing": False, "metrics": False, "logs": False},
    )
    app.state.registry = registry
    app.state.settings = settings
    app.state.templates = templating.templates([p.templates for p in pages if p.templates])
    app.state.nav = [
        NavItem("Models", "/"),
        NavItem("Hub", "/hub"),
        *(NavItem(p.label, p.path) for p in pages),
        NavItem("API", "/api"),
    ]

    def openapi() -> dict[str, Any]:
        # FastAPI builds and caches the document; the submitted-assessment schema (see
        # `web.schemas`) is added to it once, since that route reads its body itself.
        document = FastAPI.openapi(app)
        document.setdefault("components", {}).setdefault("schemas", {}).update(schemas.components())
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    errors.install(app)
    app.include_router(api.router)
    app.include_router(trust.router)
    app.include_router(dashboard.router)
    app.include_router(hub.api_router)
    app.include_router(hub.page_router)
    for page in pages:
        guard = [Depends(require_admin)] if page.needs_admin else []
        app.include_router(page.router(registry), dependencies=guard)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(
        Access,
        allowed_hosts=settings.allowed_hosts,
        read_token=settings.read_token,
        admin_token=settings.token,
    )
    # Outermost, around Starlette's own error middleware too: its 500 answers get the headers as well.
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build())  # type: ignore[method-assign]
    return app
