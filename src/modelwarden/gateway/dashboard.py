"""The gateway page of the web dashboard: requests, blocks, strikes, suspensions and the review queue,
read from the gateway's own tables. A self-contained FastAPI router plus one Jinja template, so the
registry dashboard can mount it (`router(engine)`) and the gateway's admin API serves it too.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine

from modelwarden.gateway import keys as keymod
from modelwarden.gateway.schema import audit, identities, reviews, strikes
from modelwarden.gateway.store import decayed, utc

_env = Environment(
    loader=PackageLoader("modelwarden.gateway", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dashboard_data(engine: Engine, *, hours: float = 24.0, half_life_hours: float = 24.0) -> dict[str, Any]:
    now = datetime.now(UTC)
    since = _ts(now - timedelta(hours=hours))
    with engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                sa.select(audit.c.action, sa.func.count())
                .where(audit.c.ts >= since, audit.c.action.startswith("request."))
                .group_by(audit.c.action)
            ).all()
        )
        blocked_rows = conn.execute(
            sa.select(audit.c.seq, audit.c.ts, audit.c.subject, audit.c.body)
            .where(audit.c.ts >= since, audit.c.action == "request.blocked")
            .order_by(audit.c.seq.desc())
            .limit(500)
        ).all()
        names = dict(conn.execute(sa.select(identities.c.id, identities.c.name)).all())
        strike_rows = conn.execute(sa.select(strikes)).all()
        suspended = conn.execute(
            sa.select(identities.c.id, identities.c.name, identities.c.status_reason, identities.c.updated_at)
            .where(identities.c.status == "suspended")
            .order_by(identities.c.updated_at.desc())
        ).all()
        throttled = conn.execute(
            sa.select(
                identities.c.id, identities.c.name, identities.c.throttle_factor, identities.c.throttle_until
            ).where(identities.c.throttle_until.is_not(None))
        ).all()
        pending = conn.execute(
            sa.select(reviews).where(reviews.c.status == "pending").order_by(reviews.c.created_at)
        ).all()
    categories: Counter[str] = Counter()
    recent: list[dict[str, Any]] = []
    for r in blocked_rows:
        body = json.loads(r.body)
        codes: list[str] = []
        for key in ("moderation_input", "moderation_output"):
            m = body.get(key) or {}
            codes += m.get("blocked", []) + m.get("failed_closed", [])
        categories.update(codes)
        if len(recent) < 20:
            recent.append(
                {
                    "seq": r.seq,
                    "ts": r.ts,
                    "identity": names.get(r.subject, r.subject),
                    "key": body.get("key"),
                    "model": body.get("model"),
                    "codes": codes,
                    "reason": body.get("reason"),
                }
            )
    t = time.time()
    strike_list = sorted(
        (
            {
                "identity": names.get(s.identity_id, s.identity_id),
                "identity_id": s.identity_id,
                "score": round(decayed(s.score, s.updated_at, t, half_life_hours), 2),
                "level": s.level,
            }
            for s in strike_rows
        ),
        key=lambda x: -float(x["score"]),
    )
    total = sum(counts.values())
    return {
        "generated_at": now.isoformat(),
        "window_hours": hours,
        "requests": {
            "total": total,
            "ok": counts.get("request.ok", 0),
            "flagged": counts.get("request.flagged", 0),
            "blocked": counts.get("request.blocked", 0),
            "rejected": counts.get("request.rejected", 0),
            "error": counts.get("request.error", 0),
        },
        "categories": dict(categories.most_common()),
        "recent_blocks": recent,
        "strikes": strike_list[:50],
        "suspended": [
            {
                "identity": s.name,
                "identity_id": s.id,
                "reason": s.status_reason,
                "since": str(utc(s.updated_at)),
            }
            for s in suspended
        ],
        "throttled": [
            {
                "identity": s.name,
                "identity_id": s.id,
                "factor": s.throttle_factor,
                "until": str(utc(s.throttle_until)),
            }
            for s in throttled
            if utc(s.throttle_until) and utc(s.throttle_until) > now  # type: ignore[operator]
        ],
        "reviews": [
            {
                "id": r.id,
                "identity": names.get(r.identity_id, r.identity_id),
                "identity_id": r.identity_id,
                "reason": r.reason,
                "codes": [c for c in r.codes.split(",") if c],
                "opened": str(utc(r.created_at)),
            }
            for r in pending
        ],
        "key_prefix": keymod.PREFIX,
    }


def render(data: dict[str, Any]) -> str:
    return _env.get_template("gateway.html").render(**data)  # safe: packaged template


def router(
    engine: Engine | Callable[[], Engine],
    *,
    dependencies: list[Any] | None = None,
    path: str = "/gateway",
) -> APIRouter:
    """The dashboard page (`GET {path}`) and its data (`GET {path}.json`).

    `engine` may be a callable, for apps that create their engine at startup.
    """
    r = APIRouter(dependencies=[Depends(d) for d in dependencies or []])

    def _engine() -> Engine:
        return engine() if callable(engine) else engine

    @r.get(path, response_class=HTMLResponse, include_in_schema=False)
    def gateway_page() -> HTMLResponse:
        return HTMLResponse(render(dashboard_data(_engine())))

    @r.get(path + ".json", include_in_schema=False)  # page data, not part of the versioned REST API
    def gateway_page_data() -> JSONResponse:
        return JSONResponse(dashboard_data(_engine()))

    return r


def gateway_database_url() -> str | None:
    """The database the gateway writes to, as the registry dashboard should read it:
    `MODELWARDEN_GATEWAY_DB`, else the `database:` of the gateway config that `modelwarden gateway`
    would use (`$MODELWARDEN_GATEWAY_CONFIG` or the user config folder), else None."""
    url = os.environ.get("MODELWARDEN_GATEWAY_DB")
    if url:
        return url
    from modelwarden.gateway.config import load_config

    return load_config(required=False).database


def page_router(fallback: Engine) -> APIRouter:
    """The routes of the gateway page of the registry dashboard (`modelwarden serve` mounts them).

    They read the gateway's tables from the gateway's database (`gateway_database_url`), otherwise
    from `fallback` (the registry's own database); the gateway schema is created there if missing, so
    a registry without a gateway shows an empty page rather than an error.
    """
    from modelwarden.db import make_engine
    from modelwarden.migrations import upgrade

    url = gateway_database_url()
    engine = make_engine(url) if url else fallback
    upgrade(engine, "gateway@head")
    return router(engine)
