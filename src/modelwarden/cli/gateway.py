"""`modelwarden gateway`: set up and run the structured-access gateway."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import typer
import yaml

from modelwarden.cli import _gateway_common as c
from modelwarden.cli import app, out
from modelwarden.cli._options import LogLevel
from modelwarden.errors import GatewayConflict, GatewayInvalid, GatewayMisconfigured
from modelwarden.untrusted.text import markup

gateway_app = typer.Typer(
    help="The structured-access gateway: an OpenAI-compatible proxy with tiers and audit."
)
app.add_typer(gateway_app, name="gateway")


@gateway_app.command("init")
def init(
    folder: Path = typer.Argument(..., help="Deployment folder to create (config, keys, database)."),
    upstream: str = typer.Option(
        "http://127.0.0.1:8000/v1", "--upstream", help="OpenAI-compatible base URL."
    ),
    model: list[str] = typer.Option(
        ["my-model"], "--model", help="Model id served by the upstream (repeatable)."
    ),
    public: list[str] = typer.Option(
        [], "--public", help="Model ids the anonymous tier may use (tag `public`)."
    ),
    redis: str | None = typer.Option(None, "--redis", help="redis:// URL for several workers or instances."),
    database: str | None = typer.Option(
        None, "--database", help="Database URL (default: SQLite in the folder)."
    ),
    port: int = typer.Option(
        8080, "--port", min=1, max=65535, help="Port the gateway will listen on (written to gateway.yaml)."
    ),
) -> None:
    """Create gateway.yaml, the audit signing key, a salt and the database; print the admin token once."""
    from modelwarden.db import make_engine, resolve_url
    from modelwarden.gateway.config import load_config
    from modelwarden.gateway.signing import generate_key
    from modelwarden.gateway.store import migrate

    if folder.exists() and not folder.is_dir():
        raise GatewayInvalid("exists and is not a folder", path=folder)
    if database:
        resolve_url(database)  # an unsupported URL fails before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    cfg_path = folder / "gateway.yaml"
    if cfg_path.exists():
        raise GatewayConflict("already initialised (gateway.yaml exists)", path=cfg_path)
    key = generate_key(folder / "audit-signing.key")
    salt = folder / "audit.salt"
    fd = os.open(salt, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    token = "mwadm_" + secrets.token_urlsafe(32)
    import hashlib

    cfg = {
        "database": database or "sqlite:///gateway.sqlite3",
        **({"redis": redis} if redis else {}),
        "host": "127.0.0.1",
        "port": port,
        # One worker per core needs the shared (Redis) limiter; without it one process is exact.
        "workers": (os.cpu_count() or 1) if redis else 1,
        "upstreams": [
            {
                "name": "local",
                "url": upstream,
                "models": [{"id": m, "tags": ["public"] if m in public else []} for m in model],
            }
        ],
        "moderation": {"rules": True, "embeddings": {"enabled": False}},
        "audit": {
            "signing_key": "audit-signing.key",
            "anchor_file": "checkpoints.jsonl",
            "salt_file": "audit.salt",
            "checkpoint_every": 1000,
            "checkpoint_interval_s": 60,
        },
        "admin": {"token_sha256": hashlib.sha256(token.encode()).hexdigest()},
    }
    header = (
        "# modelwarden gateway configuration (docs/gateway.md). Relative paths are relative to this file.\n"
        "# Keep audit-signing.key and checkpoints.jsonl where the database admin cannot rewrite them.\n"
    )
    cfg_path.write_text(header + yaml.safe_dump(cfg, sort_keys=False), "utf-8")
    loaded = load_config(cfg_path)
    migrate(make_engine(loaded.database))  # a database that cannot be opened: one error line
    c.note(
        f"wrote {markup(cfg_path)}, {markup(folder / 'audit-signing.key')} (key id {key.key_id}), "
        f"{markup(salt)}"
    )
    c.note("admin API token (shown once; only its SHA-256 is stored):")
    out.print(token, highlight=False)


@gateway_app.command("serve")
def serve(
    config: Path | None = typer.Option(None, "--config", "-c", help="gateway.yaml."),
    host: str | None = typer.Option(
        None, "--host", help="Address to listen on (default: gateway.yaml's host)."
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port to listen on (default: gateway.yaml's port)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes (one per core; >1 needs Redis)."
    ),
    log_level: LogLevel = typer.Option(
        LogLevel.WARNING, "--log-level", case_sensitive=False, help="uvicorn log level."
    ),
) -> None:
    """Run the gateway (uvicorn, uvloop, httptools)."""
    import uvicorn

    from modelwarden.db import make_engine
    from modelwarden.gateway.app import preflight
    from modelwarden.gateway.config import ENV_CONFIG, load_config
    from modelwarden.gateway.store import migrate

    cfg = load_config(config, required=True)
    assert cfg.source is not None
    preflight(cfg)
    n = workers or cfg.workers
    if n > 1 and not cfg.redis:
        raise GatewayMisconfigured(
            "several workers need `redis:` in gateway.yaml: with in-process limits each worker would admit "
            "the full limit (docs/gateway.md, over-admission bound)"
        )
    if not cfg.upstreams:
        raise GatewayMisconfigured(
            "no upstreams in gateway.yaml",
            path=cfg.source,
            next_step="add an `upstreams:` entry naming the model server and its models",
        )
    # Migrate once here, not concurrently in every worker.
    migrate(make_engine(cfg.database))
    os.environ[ENV_CONFIG] = str(cfg.source.resolve())
    # One worker per core: keep numeric libraries in each worker single-threaded.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    c.note(f"modelwarden gateway on http://{markup(host or cfg.host)}:{port or cfg.port} ({n} worker(s))")
    guarded = sum(1 for u in cfg.upstreams for m in u.models if m.trust or cfg.trust.require_verified)
    if guarded:
        c.note(
            f"{guarded} model(s) are served only once verified (signature, attestation, policy); each "
            "refusal is logged, and GET /admin/trust shows every model's state"
        )
    uvicorn.run(
        "modelwarden.gateway.app:create_app",
        factory=True,
        host=host or cfg.host,
        port=port or cfg.port,
        workers=n,
        loop="uvloop" if sys.platform != "win32" else "auto",
        http="httptools",
        lifespan="on",
        log_level=log_level.value,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


@gateway_app.command("mock-upstream")
def mock_upstream(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(9000, "--port", min=1, max=65535, help="Port to listen on."),
    ttft: float = typer.Option(0.0, "--ttft", min=0.0, help="Seconds before the first byte."),
    itl: float = typer.Option(0.0, "--itl", min=0.0, help="Seconds between streamed chunks."),
) -> None:
    """A deterministic OpenAI-compatible mock model server (for trying the gateway and for tests)."""
    from modelwarden.gateway.mock_upstream import main

    main(["--host", host, "--port", str(port), "--ttft", str(ttft), "--itl", str(itl)])
