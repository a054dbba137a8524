"""A gateway deployment for the pipeline tests (issue 16): its own tiers, a one-connection upstream
for pool exhaustion, and helpers to read the audit entries of one request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from modelwarden.db import make_engine
from modelwarden.gateway.store import Store
from modelwarden.gateway.tiers import load_tiers
from tests.gateway.harness import Deployment, Proc, mock_upstream
from tests.support.servers import free_port


def tiers() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        resources.files("modelwarden.gateway").joinpath("data/tiers.yaml").read_text("utf-8")
    )
    anon = {k: v for k, v in data["tiers"]["anonymous"].items() if k != "description"}
    # A small budget: 2,000 tokens/min, 6,000/day (the numbers of the disconnect attack in issue 16).
    data["tiers"]["small"] = {**anon, "rpm": 1000, "tpm": 2000, "daily_tokens": 6000}
    # A per-minute request limit a throttle to ×0.2 visibly shrinks.
    data["tiers"]["throttled"] = {**anon, "rpm": 12, "tpm": 1_000_000, "daily_tokens": 0}
    # Room for a fuzz run: limits never decide its answers.
    data["tiers"]["fuzz"] = {
        **anon,
        "models": ["*"],
        "rpm": 1_000_000,
        "tpm": 100_000_000,
        "daily_tokens": 0,
        "escalation": {**anon["escalation"], "ladder": [{"at": 1_000_000, "action": "warn"}]},
    }
    return data


def create(tmp: Path, mock_url: str, *, redis: str | None = None) -> Deployment:
    return Deployment.create(
        tmp,
        mock_url,
        tiers=tiers(),
        redis=redis,
        moderation={"rules": True, "stream": {"window_chars": 200, "every_chars": 40, "holdback": True}},
        limits={"max_body_bytes": 256 * 1024},
        upstream_timeout={"connect": 1.0, "read": 5.0},
        extra_upstreams=[
            {
                "name": "narrow",
                "url": mock_url + "/v1",
                "models": [{"id": "narrow-model", "tags": ["public"]}],
                "max_connections": 1,
                "timeout": {"connect": 1.0, "read": 3.0, "pool": 0.3},
            }
        ],
    )


def started(tmp: Path) -> Iterator[tuple[Deployment, Proc, Proc]]:
    with mock_upstream(tmp) as mock:
        dep = create(tmp / "deploy", mock.url)
        gw = dep.start()
        try:
            yield dep, gw, mock
        finally:
            dep.stop()


def dead_redis() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def key_without_redis(dep: Deployment, name: str) -> str:
    """A key made without publishing to Redis (for a deployment whose Redis is down)."""
    cfg = dep.cfg
    store = Store(make_engine(cfg.database), load_tiers(cfg.tiers))
    try:
        _, key = store.create_key(store.create_identity(name).id)
    finally:
        store.engine.dispose()
    return key


def entries(dep: Deployment, rid: str | None = None, prefix: str = "request.") -> list[dict[str, Any]]:
    """Request entries (as body dicts, with `action` added), optionally only those of one request id
    (the gateway's, or the `x-request-id` the client sent, kept as `client_request_id`)."""
    eng = make_engine(dep.cfg.database)
    try:
        with eng.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT action, body FROM gw_audit WHERE action LIKE :p ORDER BY seq"),
                {"p": prefix + "%"},
            ).all()
    finally:
        eng.dispose()
    out = [{**json.loads(b), "action": a} for a, b in rows]
    return [e for e in out if rid is None or rid in (e.get("rid"), e.get("client_request_id"))]


def request_count(dep: Deployment) -> int:
    eng = make_engine(dep.cfg.database)
    try:
        with eng.connect() as conn:
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM gw_audit WHERE action LIKE 'request.%'")
                ).scalar_one()
            )
    finally:
        eng.dispose()


def wait_entry(dep: Deployment, rid: str, timeout: float = 10.0) -> dict[str, Any]:
    """The one entry of `rid`, once written (a disconnect is noticed a moment after it happens)."""
    deadline = time.monotonic() + timeout
    while True:
        found = entries(dep, rid)
        if found:
            assert len(found) == 1, found
            return found[0]
        assert time.monotonic() < deadline, f"no audit entry for {rid}"
        time.sleep(0.05)
