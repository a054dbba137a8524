"""The gateway dashboard page, mounted the way the web dashboard mounts it (a router on a FastAPI
app), rendered from real tables: requests, blocks, strikes, suspensions and the review queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelwarden import migrations
from modelwarden.db import make_engine
from modelwarden.gateway import dashboard
from modelwarden.gateway.audit import Entry, append_entries
from modelwarden.gateway.misuse import MisuseMonitor
from modelwarden.gateway.moderation.base import Decision
from modelwarden.gateway.store import Store
from modelwarden.gateway.tiers import default_tiers

ADMIN = "admin-token-0123456789abcdef"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}


def test_page_shows_requests_blocks_strikes_suspensions_and_reviews(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrations.upgrade(engine)
    store = Store(engine, default_tiers())
    alice = store.create_identity("alice <script>")
    bob = store.create_identity("bob")
    store.suspend(bob.id, "abuse report #12")
    with engine.begin() as conn:
        append_entries(
            conn,
            [Entry("key:mw_a", "request.ok", alice.id, {"rid": f"ok{i}"}) for i in range(5)]
            + [
                Entry(
                    "key:mw_a",
                    "request.blocked",
                    alice.id,
                    {"rid": "b1", "key": "mw_a", "model": "m", "moderation_input": {"blocked": ["S9"]}},
                ),
                Entry("key:mw_a", "request.flagged", alice.id, {"rid": "f1"}),
                Entry("anonymous", "request.rejected", None, {"rid": "r1", "reason": "invalid_api_key"}),
            ],
            signer=None,
        )
    # Enough S10 blocks for the review step of the anonymous ladder (no automatic suspension for S10).
    tier = default_tiers().tiers["anonymous"]
    for _ in range(5):
        MisuseMonitor(store).apply(alice.id, tier, 1.0, Decision("block", blocked=["S10"]))

    app = FastAPI()
    app.include_router(dashboard.router(engine))
    client = TestClient(app)
    data = client.get("/gateway.json").json()
    assert data["requests"] == {"total": 8, "ok": 5, "flagged": 1, "blocked": 1, "rejected": 1, "error": 0}
    assert data["categories"] == {"S9": 1}
    assert data["strikes"][0]["identity"] == "alice <script>" and data["strikes"][0]["level"] == "review"
    assert [s["identity"] for s in data["suspended"]] == ["bob"]
    assert data["reviews"][0]["codes"] == ["S10"]
    assert data["throttled"][0]["factor"] == 0.2

    html = client.get("/gateway")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    page = html.text
    assert 'data-metric="blocked"><b>1</b>' in page
    assert "abuse report #12" in page and "Review queue" in page
    assert "alice &lt;script&gt;" in page and "<script>" not in page  # autoescaped


def test_router_accepts_an_engine_factory_and_dependencies(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrations.upgrade(engine)
    calls: list[int] = []

    def guard() -> None:
        calls.append(1)

    app = FastAPI()
    app.include_router(dashboard.router(lambda: engine, dependencies=[guard], path="/ops/gw"))
    client = TestClient(app)
    assert client.get("/ops/gw").status_code == 200
    assert calls == [1]
    assert "No blocked requests" in client.get("/ops/gw").text


def test_registry_dashboard_mounts_the_gateway_page(tmp_path: Path) -> None:
    from modelwarden.cli.serve import registry_app as create_app
    from modelwarden.registry import Registry
    from modelwarden.web.app import Settings

    # The page lists identities and key ids: the registry's admin token is needed (tests/web has more).
    app = lambda reg: create_app(reg, Settings(token=ADMIN))  # noqa: E731
    with (
        Registry(f"sqlite:///{tmp_path / 'reg.db'}") as reg,
        TestClient(app(reg), base_url="http://localhost", headers=ADMIN_AUTH) as client,
    ):
        home = client.get("/")
        assert home.status_code == 200 and 'href="/gateway"' in home.text
        page = client.get("/gateway")
        assert page.status_code == 200
        assert client.get("/gateway", headers={"Authorization": ""}).status_code == 401
        data = client.get("/gateway.json").json()
        assert isinstance(data, dict) and data  # an empty gateway: zero counts, no rows


def test_registry_page_reads_the_database_named_by_the_gateway_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelwarden.cli.serve import registry_app as create_app
    from modelwarden.registry import Registry
    from modelwarden.web.app import Settings

    gw = make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    migrations.upgrade(gw)
    with gw.begin() as conn:
        append_entries(conn, [Entry("key:mw_a", "request.ok", None, {"rid": "x"})], signer=None)
    (tmp_path / "gateway.yaml").write_text("database: sqlite:///gw.db\n")  # relative to the file
    monkeypatch.delenv("MODELWARDEN_GATEWAY_DB", raising=False)
    monkeypatch.setenv("MODELWARDEN_GATEWAY_CONFIG", str(tmp_path / "gateway.yaml"))
    with (
        Registry(f"sqlite:///{tmp_path / 'reg.db'}") as reg,
        TestClient(
            create_app(reg, Settings(token=ADMIN)), base_url="http://localhost", headers=ADMIN_AUTH
        ) as client,
    ):
        assert client.get("/gateway.json").json()["requests"]["ok"] == 1
