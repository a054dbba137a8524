"""Two gateway instances sharing PostgreSQL and Redis (one of them with two worker processes):
revocation and suspension seen across instances on the next request, one shared rate limit with no
over-admission, one audit chain written by three processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
import yaml

from tests.gateway.harness import Deployment, Proc, chat, mock_upstream
from tests.gateway.pg import fresh_database

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str
) -> Iterator[tuple[Deployment, Proc, Proc]]:
    tmp = tmp_path_factory.mktemp("gw-multi")
    tiers = yaml.safe_load(
        resources.files("modelwarden.gateway").joinpath("data/tiers.yaml").read_text("utf-8")
    )
    tiers["tiers"]["burst"] = {**tiers["tiers"]["anonymous"], "rpm": 12, "tpm": 1_000_000}
    with mock_upstream(tmp) as mock:
        dep = Deployment.create(
            tmp / "deploy",
            mock.url,
            database=fresh_database(postgres_url, "gwmulti"),
            redis=redis_url,
            tiers=tiers,
        )
        a = dep.start()
        b = dep.start(workers=2)
        try:
            yield dep, a, b
        finally:
            dep.stop()


def test_revocation_on_one_instance_is_seen_by_the_other(cluster: tuple[Deployment, Proc, Proc]) -> None:
    dep, a, b = cluster
    with httpx.Client(timeout=30) as c:
        _, key = dep.identity_with_key("multi-revoke")
        # Warm both instances' caches (and both workers of b).
        for _ in range(4):
            assert chat(c, a.url, key, "hello").status_code == 200
            assert chat(c, b.url, key, "hello").status_code == 200
        admin = {"authorization": f"Bearer {dep.admin_token}"}
        key_id = key[:15]  # mw_ + 12 hex digits
        r = c.post(a.url + f"/admin/keys/{key_id}/revoke", json={"reason": "compromised"}, headers=admin)
        assert r.status_code == 200 and r.json()["state"] == "revoked"
        # The very next requests on the other instance (either worker) are refused.
        for _ in range(4):
            r = chat(c, b.url, key, "hello")
            assert r.status_code == 401 and r.json()["error"]["code"] == "key_revoked"


def test_suspension_from_the_cli_reaches_every_instance(cluster: tuple[Deployment, Proc, Proc]) -> None:
    dep, a, b = cluster
    with httpx.Client(timeout=30) as c:
        ident, key = dep.identity_with_key("multi-suspend")
        for p in (a, b, b):
            assert chat(c, p.url, key, "hello").status_code == 200
        cli = [
            sys.executable,
            "-m",
            "modelwarden",
            "identities",
            "suspend",
            ident,
            "--reason",
            "abuse report",
            "--config",
            str(dep.config_path),
        ]
        subprocess.run(cli, check=True, capture_output=True)
        for p in (a, b, b, a):
            r = chat(c, p.url, key, "hello")
            assert r.status_code == 403 and r.json()["error"]["code"] == "account_suspended"


def test_burst_split_over_instances_shares_one_limit(cluster: tuple[Deployment, Proc, Proc]) -> None:
    dep, a, b = cluster
    _, key = dep.identity_with_key("multi-burst", tier="burst")  # rpm 12

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as c:
            body: dict[str, Any] = {"model": "mock-small", "messages": [{"role": "user", "content": "hi"}]}
            h = {"authorization": f"Bearer {key}"}
            rs = await asyncio.gather(
                *(
                    c.post((a.url if i % 2 else b.url) + "/v1/chat/completions", json=body, headers=h)
                    for i in range(60)
                )
            )
            return [r.status_code for r in rs]

    t0 = time.monotonic()
    codes = asyncio.run(burst())
    elapsed = time.monotonic() - t0
    admitted = codes.count(200)
    assert codes.count(429) == 60 - admitted
    # One Redis bucket for three processes: the bound is the bucket's, not 3×.
    assert 12 <= admitted <= 12 + 12 * elapsed / 60


def test_one_chain_from_three_processes_verifies(cluster: tuple[Deployment, Proc, Proc]) -> None:
    dep, a, b = cluster
    with httpx.Client(timeout=30) as c:
        _, key = dep.identity_with_key("multi-audit", tier="verified", verified=True)
        for i in range(30):
            assert chat(c, (a, b)[i % 2].url, key, f"hello {i}").status_code == 200
    out = subprocess.run(
        [sys.executable, "-m", "modelwarden", "audit", "verify", "--json", "--config", str(dep.config_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    import json

    rep = json.loads(out.stdout)
    assert rep["ok"] and rep["entries"] > 60 and rep["checkpoints_verified"] >= 1
