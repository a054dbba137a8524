"""kill -9 during load loses no acknowledged audit entry: every response the client received has its
entry in the log, the chain verifies after the crash, and a restarted gateway continues it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from importlib import resources
from pathlib import Path

import httpx
import sqlalchemy as sa
import yaml

from modelwarden.db import make_engine
from tests.gateway.harness import Deployment, chat, mock_upstream


def test_kill_9_under_load_keeps_every_acknowledged_entry(tmp_path: Path) -> None:
    tiers = yaml.safe_load(
        resources.files("modelwarden.gateway").joinpath("data/tiers.yaml").read_text("utf-8")
    )
    tiers["tiers"]["unlimited"] = {**tiers["tiers"]["anonymous"], "rpm": 0, "tpm": 0, "daily_tokens": 0}
    with mock_upstream(tmp_path) as mock:
        dep = Deployment.create(tmp_path / "deploy", mock.url, tiers=tiers, audit={"checkpoint_every": 40})
        keys = [dep.identity_with_key(f"load-{i}", tier="unlimited")[1] for i in range(4)]
        try:
            _crash_and_check(dep, keys)
        finally:
            dep.stop()


def _crash_and_check(dep: Deployment, keys: list[str]) -> None:
    gw = dep.start()
    acked: dict[str, int] = {}
    failures = 0

    async def client(n: int) -> None:
        nonlocal failures
        async with httpx.AsyncClient(timeout=10) as c:
            i = 0
            while True:
                rid = f"crash-{n}-{i}"
                i += 1
                text = "how to synthesize sarin" if i % 7 == 0 else f"hello {i}"  # some blocks too
                try:
                    r = await c.post(
                        gw.url + "/v1/chat/completions",
                        json={"model": "mock-small", "messages": [{"role": "user", "content": text}]},
                        headers={"authorization": f"Bearer {keys[n % 4]}", "x-request-id": rid},
                    )
                except httpx.HTTPError:
                    failures += 1
                    return
                assert r.headers["x-client-request-id"] == rid
                acked[rid] = r.status_code

    async def load_then_kill() -> None:
        tasks = [asyncio.create_task(client(n)) for n in range(12)]
        # Kill once the load is under way (on a busy machine that takes longer than on an idle one).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while len(acked) < 60 and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # mid-flight: requests are in every stage when the process dies
        gw.proc.send_signal(signal.SIGKILL)
        await asyncio.gather(*tasks)

    asyncio.run(load_then_kill())
    gw.proc.wait()
    assert len(acked) > 50, "the load did not get going"
    assert failures == 12  # every client saw the crash
    assert {200, 400} <= set(acked.values())

    eng = make_engine(dep.cfg.database)
    with eng.connect() as conn:
        logged = {
            json.loads(b).get("client_request_id")
            for (b,) in conn.execute(sa.text("SELECT body FROM gw_audit WHERE action LIKE 'request.%'"))
        }
    eng.dispose()
    missing = set(acked) - logged
    assert not missing, f"{len(missing)} acknowledged requests have no audit entry: {sorted(missing)[:5]}"

    verify = [sys.executable, "-m", "modelwarden", "audit", "verify", "--config", str(dep.config_path)]
    out = subprocess.run(verify, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr

    # The restarted gateway extends the same chain.
    gw2 = dep.start()
    _, fresh = dep.identity_with_key("after-crash")  # the load identities were suspended for S9
    with httpx.Client(timeout=10) as c:
        assert chat(c, gw2.url, fresh, "hello again").status_code == 200
    gw2.stop()
    out = subprocess.run(verify, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
