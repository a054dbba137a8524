"""`modelwarden serve`: the registry's dashboard and REST API on one port."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import typer

from modelwarden.cli import app, err
from modelwarden.cli._options import LogLevel
from modelwarden.errors import UsageError


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


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    db: str | None = typer.Option(
        None, "--db", help="Database URL (default: $MODELWARDEN_DB or the user data file)."
    ),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        help="File holding the API token that enables writes (or set $MODELWARDEN_API_TOKEN). "
        "Without one the server is read-only.",
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
    import uvicorn

    from modelwarden.registry import Registry
    from modelwarden.web import Settings, create_app
    from modelwarden.web.auth import load_token

    token = load_token(token_file)
    roots = []
    for root in submit_root:
        if not root.is_dir():
            raise UsageError("--submit-root must be an existing folder", path=root)
        roots.append(root.resolve())
    _check_port(host, port)
    registry = Registry(db)
    application = create_app(registry, settings=Settings(token=token, submit_roots=tuple(roots)))
    mode = "writes enabled (API token set)" if token else "read-only (no API token)"
    err.print(f"modelwarden registry {registry.url}: {mode}", highlight=False, markup=False)
    err.print(
        f"dashboard http://{host}:{port}/  ·  API http://{host}:{port}/api/v1/", highlight=False, markup=False
    )
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=log_level.value,
        access_log=log_level is LogLevel.INFO,
    )
