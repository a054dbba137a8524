"""Real processes for the gateway tests: the mock OpenAI-compatible upstream and the gateway itself
(`python -m modelwarden gateway serve`, i.e. uvicorn), each on a free loopback port."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from modelwarden import migrations
from modelwarden.db import make_engine
from modelwarden.gateway.audit import AnchorFile
from modelwarden.gateway.auth import publish_epoch_sync
from modelwarden.gateway.config import load_config
from modelwarden.gateway.signing import generate_key, load_signer
from modelwarden.gateway.store import Store
from modelwarden.gateway.tiers import load_tiers
from tests.support.servers import free_port

ENV = {
    **os.environ,
    "PYTHONUNBUFFERED": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
}


def wait_http(
    url: str, timeout: float = 90.0, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            detail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered:\n{detail}")
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(url, timeout=1.0)
            if r.status_code == 200 and r.json().get("status", "ok") == "ok":
                return
        time.sleep(0.1)
    detail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{url} did not answer within {timeout}s\n{detail}")


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@contextlib.contextmanager
def mock_upstream(tmp: Path, *, ttft: float = 0.0, itl: float = 0.0) -> Iterator[Proc]:
    port = free_port()
    log = tmp / f"mock-{port}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelwarden.gateway.mock_upstream",
                "--port",
                str(port),
                "--ttft",
                str(ttft),
                "--itl",
                str(itl),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
    p = Proc(proc, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(p.url + "/mock/stats", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("mock upstream did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.05)
        yield p
    finally:
        p.stop()


@dataclass
class Deployment:
    """A gateway deployment folder: gateway.yaml, signing key, salt, admin token, database."""

    folder: Path
    config: dict[str, Any]
    admin_token: str = field(default_factory=lambda: "mwadm_" + secrets.token_urlsafe(24))
    procs: list[Proc] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        folder: Path,
        upstream_url: str,
        *,
        database: str | None = None,
        redis: str | None = None,
        tiers: dict[str, Any] | None = None,
        moderation: dict[str, Any] | None = None,
        audit: dict[str, Any] | None = None,
        limits: dict[str, Any] | None = None,
        upstream_timeout: dict[str, float] | None = None,
        extra_upstreams: list[dict[str, Any]] | None = None,
    ) -> Deployment:
        folder.mkdir(parents=True, exist_ok=True)
        generate_key(folder / "audit-signing.key")
        (folder / "audit.salt").write_text(secrets.token_hex(32))
        dep = cls(folder, {})
        cfg: dict[str, Any] = {
            "database": database or "sqlite:///gateway.sqlite3",
            "upstreams": [
                {
                    "name": "mock",
                    "url": upstream_url + "/v1",
                    "models": [{"id": "mock-small", "tags": ["public"]}, {"id": "mock-large"}],
                    "timeout": upstream_timeout or {"connect": 2.0, "read": 10.0},
                },
                *(extra_upstreams or []),
            ],
            "moderation": moderation or {"rules": True},
            "audit": {
                "signing_key": "audit-signing.key",
                "anchor_file": "checkpoints.jsonl",
                "salt_file": "audit.salt",
                "checkpoint_every": 50,
                "checkpoint_interval_s": 60,
                **(audit or {}),
            },
            "admin": {"token_sha256": hashlib.sha256(dep.admin_token.encode()).hexdigest()},
            "revocation_poll_s": 1.0,
        }
        if redis:
            cfg["redis"] = redis
        if limits:
            cfg["limits"] = limits
        if tiers is not None:
            (folder / "tiers.yaml").write_text(yaml.safe_dump(tiers, sort_keys=False))
            cfg["tiers"] = "tiers.yaml"
        dep.config = cfg
        (folder / "gateway.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        migrations.upgrade(make_engine(dep.cfg.database))
        return dep

    @property
    def config_path(self) -> Path:
        return self.folder / "gateway.yaml"

    @property
    def cfg(self):  # type: ignore[no-untyped-def]
        return load_config(self.config_path)

    def store(self) -> Store:
        cfg = self.cfg
        redis = cfg.redis
        return Store(
            make_engine(cfg.database),
            load_tiers(cfg.tiers),
            signer=load_signer(cfg.audit.signing_key),
            anchor=AnchorFile(cfg.audit.anchor_file),
            on_epoch_bump=(lambda: publish_epoch_sync(redis)) if redis else None,
        )

    def identity_with_key(self, name: str, **kw: Any) -> tuple[str, str]:
        """Create an identity (optionally verified / tiered) and a key; returns (identity id, key)."""
        st = self.store()
        tier = kw.pop("tier", None)
        ident = st.create_identity(name, tier=tier)
        if kw.pop("verified", False):
            st.set_verification(ident.id, "verified", evidence="test-evidence")
        if kw.pop("agreement", None):
            st.set_agreement(ident.id, "agreement-1")
        _, key = st.create_key(ident.id, **kw)
        st.engine.dispose()
        return ident.id, key

    def start(self, *, workers: int = 1) -> Proc:
        port = free_port()
        log = self.folder / f"gateway-{port}.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "modelwarden",
                    "gateway",
                    "serve",
                    "--config",
                    str(self.config_path),
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                    "--log-level",
                    "warning",
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=ENV,
            )
        p = Proc(proc, f"http://127.0.0.1:{port}", log)
        self.procs.append(p)
        try:
            wait_http(p.url + "/healthz", proc=proc, log=log)
        except RuntimeError:
            p.stop()
            raise
        return p

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


def chat(
    client: httpx.Client,
    base: str,
    key: str | None,
    content: str,
    *,
    model: str = "mock-small",
    **extra: Any,
) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return client.post(base + "/v1/chat/completions", json=body, headers=headers)


def sse_events(text: str) -> list[Any]:
    """Parse an SSE body into JSON objects (and the string "[DONE]")."""
    import json

    out: list[Any] = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data:"):
                data = line[5:].strip()
                out.append("[DONE]" if data == "[DONE]" else json.loads(data))
    return out
