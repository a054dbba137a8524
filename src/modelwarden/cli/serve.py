"""`modelwarden serve`: the registry's dashboard and REST API on one port.

This is where the stages are composed: the web application (`modelwarden.web`) is given the gateway's
dashboard page (`modelwarden.gateway.dashboard`) here, so neither stage imports the other.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from modelwarden.cli import app, err
from modelwarden.cli._options import LogLevel
from modelwarden.errors import UsageError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from modelwarden.registry import Registry
    from modelwarden.web import Settings
    from modelwarden.web.pages import Page


def gateway_page() -> Page:
    """The gateway page of the registry dashboard: the gateway's router, mounted by the web app."""
    from modelwarden.gateway.dashboard import page_router
    from modelwarden.web.pages import Page

    # It lists identities, key ids, blocked requests and the review queue: the admin token only.
    return Page(
        label="Gateway", path="/gateway", router=lambda reg: page_router(reg.engine), needs_admin=True
    )


def registry_app(registry: Registry, settings: Settings) -> FastAPI:
    """The application `modelwarden serve` runs: the registry's dashboard and API with the gateway page."""
    from modelwarden.web import create_app

    return create_app(registry, settings=settings, pages=[gateway_page()])


def _check_port(host: str, port: int) -> None:
    # Fail with one clear line before the server starts rather than with a server log traceback.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} on {host} is already in use (choose another with --port)"
                ) from None
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _exposure(host: str, read_token: str | None, public: bool, allowed_host: list[str]) -> tuple[str, ...]:
    """Refuse to serve beyond this machine without a read token or --public; the Host names answered."""
    from modelwarden.web.access import LOCAL_HOSTS, host_name, is_loopback

    if not is_loopback(host) and read_token is None and not public:
        raise UsageError(
            f"refusing to listen on {host}: beyond this machine, reads need a read token "
            "(--read-token-file FILE or $MODELWARDEN_READ_TOKEN), or --public to publish a "
            "read-only registry to anyone who can connect"
        )
    hosts = list(LOCAL_HOSTS)
    if not is_loopback(host) and host not in ("0.0.0.0", "::", ""):  # noqa: S104 - compared, not bound
        hosts.append(host.strip("[]").lower())  # a specific address is a name clients may use
    for name in allowed_host:
        if name != "*" and not name.startswith("*.") and host_name(name) != name.lower().rstrip("."):
            raise UsageError(f"--allowed-host {name!r} is not a host name (give it without scheme or port)")
        hosts.append(name.lower().rstrip("."))
    return tuple(dict.fromkeys(hosts))


def _say(text: str) -> None:
    err.print(text, highlight=False, markup=False)


@app.command()
def serve(
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on. Beyond loopback it needs --read-token-file (or --public).",
    ),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    db: str | None = typer.Option(
        None, "--db", help="Database URL (default: $MODELWARDEN_DB or the user data file)."
    ),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        help="File holding the admin token, which enables writes and the gateway page (or set "
        "$MODELWARDEN_API_TOKEN). Without one the server is read-only.",
    ),
    read_token_file: Path | None = typer.Option(
        None,
        "--read-token-file",
        help="File holding the read token every reader must send (or set $MODELWARDEN_READ_TOKEN).",
    ),
    public: bool = typer.Option(
        False,
        "--public",
        help="Serve reads to anyone who can connect, without a read token (a public registry).",
    ),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="Host name clients use to reach the server, besides localhost names (repeatable; "
        "'*.example.org' for subdomains).",
    ),
    submit_root: list[Path] = typer.Option(
        [], "--submit-root", help="Folder whose models may be submitted by path for assessment (repeatable)."
    ),
    log_level: LogLevel = typer.Option(
        LogLevel.WARNING,
        "--log-level",
        case_sensitive=False,
        help="Server log level (info shows each request).",
    ),
) -> None:
    """Serve the registry: dashboard at /, REST API at /api/v1 (OpenAPI at /api/v1/openapi.json)."""
    import logging

    import uvicorn

    from modelwarden.registry import Registry
    from modelwarden.web import Settings
    from modelwarden.web.auth import READ_TOKEN_ENV, load_token

    token = load_token(token_file)
    read_token = load_token(read_token_file, env=READ_TOKEN_ENV, label="read token")
    if read_token is not None and public:
        raise UsageError("--public serves reads without a token: it cannot be combined with a read token")
    if read_token is not None and read_token == token:
        raise UsageError("the read token must differ from the admin token (readers would be able to write)")
    hosts = _exposure(host, read_token, public, allowed_host)
    roots = []
    for root in submit_root:
        if not root.is_dir():
            raise UsageError("--submit-root must be an existing folder", path=root)
        roots.append(root.resolve())
    _check_port(host, port)
    registry = Registry(db)
    settings = Settings(token=token, read_token=read_token, allowed_hosts=hosts, submit_roots=tuple(roots))
    application = registry_app(registry, settings)
    mode = "writes enabled (admin token set)" if token else "read-only (no admin token)"
    reads = "reads need the read token" if read_token else "reads open to anyone who can connect"
    _say(f"modelwarden registry {registry.url}: {mode}; {reads}")
    if public:
        warning = (
            f"PUBLIC REGISTRY: every assessment on {registry.url} is readable without a token by "
            f"anyone who can reach {host}:{port}"
        )
        _say(f"WARNING: {warning}")
        logging.getLogger("modelwarden.web").warning("%s", warning)
    _say(f"answering for host names: {', '.join(hosts)} (add more with --allowed-host)")
    _say(f"dashboard http://{host}:{port}/  ·  API http://{host}:{port}/api/v1/")
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=log_level.value,
        access_log=log_level is LogLevel.INFO,
    )
