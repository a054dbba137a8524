"""Who may reach the registry server, checked before any route runs (docs/registry.md, "Exposure").

- **Host header.** Only requests naming an allowed host are answered (localhost names by default,
  more with `serve --allowed-host`). A page on another site cannot use DNS rebinding (its own name
  re-pointed at 127.0.0.1) to read the registry from a visitor's browser: the browser sends that
  site's name as the Host, which is refused.
- **Read token.** When one is configured, every request except the static assets must present it
  (or the admin token): `Authorization: Bearer <token>` for programs, or HTTP Basic with the token as
  password for a browser, which then asks for it once.
- **Admin token** (the API token that enables writes): writes accept it only as a Bearer header,
  which a browser never attaches by itself, so a cross-site form cannot write with a logged-in
  browser's credentials. Pages that list operational data (the gateway page) need it too, and
  accept Basic so an operator's browser can open them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from modelwarden.web.auth import token_matches
from modelwarden.web.errors import ApiError, render

# Names that always mean this machine; they cannot be re-pointed by a DNS answer.
LOCAL_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
REALM = 'Basic realm="modelwarden registry", charset="UTF-8"'  # a browser asks for it (Bearer works too)
OPEN_PREFIXES = ("/static/",)  # styles and the script: nothing in them is private

_auth_header = HTTPBearer(auto_error=False, description="The admin token (or, for reads, the read token).")


def host_name(header: str) -> str | None:
    """The host of a Host header without its port, lower-case; None if it is not a host name."""
    if not header.isascii():  # before lower(): "\u212a".lower() is an ASCII "k"
        return None
    value = header.strip().lower()
    if value.startswith("["):  # an IPv6 literal, "[::1]:8000"
        value, bracket, port = value[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return None
        port = port[1:]
    else:
        value, _, port = value.partition(":")
    if port and not (port.isascii() and port.isdigit()):
        return None
    value = value.rstrip(".")  # "localhost." is localhost
    if not value or not value.isascii() or any(c in value for c in " /\\@?#"):
        return None
    return value


def host_allowed(name: str, allowed: Sequence[str]) -> bool:
    """Whether a Host name matches one of the allowed names (`*` and `*.example.org` patterns)."""
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def is_loopback(host: str) -> bool:
    """Whether listening on `host` keeps the server to this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def presented_token(headers: Headers, *, basic: bool = True) -> str | None:
    """The token of an `Authorization` header: Bearer, or (when `basic`) the password of Basic."""
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and basic and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _matches(presented: str | None, *expected: str | None) -> bool:
    return presented is not None and any(e is not None and token_matches(presented, e) for e in expected)


def _query_is_text(raw: bytes) -> bool:
    """Whether the query string decodes as UTF-8 (Starlette would quietly replace what does not, and a
    search for U+FFFD is not what was sent)."""
    try:
        parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        return False
    return raw.isascii()


class Access:
    """Pure ASGI middleware: the Host check, then the read token. Errors take the app's error shape."""

    def __init__(
        self, app: ASGIApp, *, allowed_hosts: Sequence[str], read_token: str | None, admin_token: str | None
    ) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)
        self.read_token = read_token
        self.admin_token = admin_token

    def _needs_read_token(self, scope: Scope) -> bool:
        return self.read_token is not None and not str(scope.get("path", "")).startswith(OPEN_PREFIXES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        name = host_name(headers.get("host", ""))
        error = None
        if name is None or not host_allowed(name, self.allowed_hosts):
            error = ApiError(
                400,
                "host_not_allowed",
                "this server does not answer for that host name (its operator may add it with "
                "--allowed-host)",
            )
        elif self._needs_read_token(scope) and not _matches(
            presented_token(headers), self.read_token, self.admin_token
        ):
            error = ApiError(
                401,
                "unauthorized",
                "this registry needs its read token: send `Authorization: Bearer <token>`",
                headers={"WWW-Authenticate": REALM},
            )
        elif not _query_is_text(scope.get("query_string", b"")):
            error = ApiError(400, "invalid_request", "the query string is not UTF-8 text")
        if error is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # no route uses one; close it rather than answer
            await send({"type": "websocket.close", "code": 1008})
            return
        await render(Request(scope), error)(scope, receive, send)


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_auth_header)]
) -> None:
    """Dependency of pages with operational data: the admin token, as Bearer or Basic."""
    expected: str | None = request.app.state.settings.token
    if expected is None:
        raise ApiError(
            403,
            "admin_token_required",
            "this page needs the admin token, and the server was started without one",
        )
    if not _matches(presented_token(request.headers), expected):
        raise ApiError(
            401,
            "unauthorized",
            "this page needs the admin token",
            headers={"WWW-Authenticate": REALM},
        )
