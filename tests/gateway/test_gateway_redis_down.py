"""A gateway configured for Redis while Redis is unreachable (a real server process): limits follow
`limits.fail` (closed → 503 `limiter_unavailable`; open → served, and the audit entry says so), and
revocation still arrives through the database epoch within `revocation_poll_s`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from modelwarden.db import make_engine
from modelwarden.gateway.config import load_config
from modelwarden.gateway.store import Store
from modelwarden.gateway.tiers import load_tiers
from tests.gateway.harness import Deployment, chat, mock_upstream
from tests.support.servers import free_port


def _key(dep: Deployment, name: str) -> tuple[Store, str, str]:
    # No Redis publish on changes (Redis is down): the gateways must find them in the database.
    cfg = load_config(dep.config_path)
    store = Store(make_engine(cfg.database), load_tiers(cfg.tiers))
    ident = store.create_identity(name)
    record, key = store.create_key(ident.id)
    return store, record.id, key


def test_redis_down_fails_closed_or_open_and_revocation_still_arrives(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with mock_upstream(tmp_path) as mock, httpx.Client(timeout=30.0) as client:
        closed = Deployment.create(tmp_path / "closed", mock.url, redis=dead)
        opened = Deployment.create(tmp_path / "open", mock.url, redis=dead, limits={"fail": "open"})
        try:
            gw_closed, gw_open = closed.start(), opened.start()
            _, _, key = _key(closed, "closed-user")
            r = chat(client, gw_closed.url, key, "hello")
            assert r.status_code == 503 and r.json()["error"]["code"] == "limiter_unavailable"

            store, key_id, key = _key(opened, "open-user")
            assert chat(client, gw_open.url, key, "hello").status_code == 200
            with store.engine.connect() as conn:
                body = conn.execute(
                    sa.text("SELECT body FROM gw_audit WHERE action = 'request.ok' ORDER BY seq DESC")
                ).scalar_one()
            assert json.loads(body)["limits_failed_open"] is True

            store.revoke_key(key_id, reason="leaked")
            deadline = time.monotonic() + 5.0  # bound: revocation_poll_s (1 s) + a database read
            while chat(client, gw_open.url, key, "hello").status_code == 200:
                assert time.monotonic() < deadline, "revocation did not arrive through the database epoch"
                time.sleep(0.1)
            r = chat(client, gw_open.url, key, "hello")
            assert r.status_code == 401 and r.json()["error"]["code"] == "key_revoked"
        finally:
            closed.stop()
            opened.stop()
