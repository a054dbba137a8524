"""Key authentication with a per-process cache that is exact under revocation.

Reference: docs/reference/gateway.md §11.3 and §4.4 (LiteLLM's per-pod key caches kept revoked keys alive,
wrote stale objects back, and let privileged keys skip the blocked check). Here the cache holds a
read-only snapshot of each key and its identity, stamped with the revocation epoch it was read
under; every request reads the current epoch (Redis, or the database) and reloads the snapshot when
it changed. Every admin change that affects access bumps the epoch in the same transaction, so a
request that starts after the change commits sees it. Nothing is ever written back from the cache.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Engine

from modelwarden.gateway import keys as keymod
from modelwarden.gateway.schema import state
from modelwarden.gateway.store import EPOCH, Principal, Store
from modelwarden.gateway.tiers import Tier, TierSet, is_verified

log = logging.getLogger("modelwarden.gateway.auth")
REDIS_EPOCH_KEY = "mw:revocation-epoch"


class EpochSource(Protocol):
    async def current(self) -> str: ...

    async def close(self) -> None: ...


class DbEpoch:
    """The epoch row read on every request. SQLite: an indexed read of one row, inline (~10 µs);
    other databases: in a thread, so a slow database cannot stall the loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.inline = engine.dialect.name == "sqlite"
        self._conn: Any = None

    def _read(self) -> str:
        if self._conn is None:
            self._conn = self.engine.raw_connection()
        try:
            cur = self._conn.cursor()
            cur.execute("SELECT value FROM gw_state WHERE name = 'revocation_epoch'")
            row = cur.fetchone()
            cur.close()
            self._conn.rollback()  # end the read transaction: the next read sees new commits
        except Exception:
            self._conn = None
            raise
        return str(row[0]) if row else "0"

    async def current(self) -> str:
        if self.inline:
            return self._read()
        return await asyncio.to_thread(self._read)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class RedisEpoch:
    """A random token in Redis, replaced on every bump (so a Redis restart also invalidates), read on
    every request; plus the database epoch polled every `poll_s` in case a bump never reached Redis."""

    def __init__(self, url: str, engine: Engine, poll_s: float) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.engine = engine
        self.poll_s = poll_s
        self.db_epoch = "0"
        self._warned = 0.0
        self._task: asyncio.Task[None] | None = None

    def _read_db(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(sa.select(state.c.value).where(state.c.name == EPOCH)).scalar_one())

    async def start(self) -> None:
        self.db_epoch = await asyncio.to_thread(self._read_db)
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                self.db_epoch = await asyncio.to_thread(self._read_db)
            except Exception as exc:
                log.warning("cannot read the revocation epoch from the database: %s", exc)

    async def current(self) -> str:
        import redis.exceptions

        try:
            token = await self.redis.get(REDIS_EPOCH_KEY)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            # Redis down: fall back to the database epoch alone (polled every poll_s), so revocations
            # still arrive within that bound; when Redis returns, its token changes the stamp again.
            now = time.monotonic()
            if now - self._warned > 10.0:
                self._warned = now
                log.warning("revocation epoch: Redis unavailable (%s); using the database epoch", exc)
            return f"?/{self.db_epoch}"
        if isinstance(token, bytes):
            token = token.decode()
        return f"{token or '-'}/{self.db_epoch}"

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        await self.redis.aclose()


def publish_epoch_sync(redis_url: str) -> None:
    """Called after an admin change commits (CLI and admin API): replace the Redis epoch token."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        client.set(REDIS_EPOCH_KEY, secrets.token_hex(8))
    finally:
        client.close()


@dataclass(frozen=True)
class AuthFailure:
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class Authenticated:
    principal: Principal
    tier: Tier


class Authenticator:
    MAX_CACHE = 50_000

    def __init__(self, store: Store, tiers: TierSet, epochs: EpochSource) -> None:
        self.store = store
        self.tiers = tiers
        self.epochs = epochs
        self._cache: dict[str, tuple[str, Principal | None]] = {}
        self._loading: dict[tuple[str, str], asyncio.Future[Principal | None]] = {}

    async def _principal(self, key_id: str, stamp: str) -> Principal | None:
        hit = self._cache.get(key_id)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        # Concurrent requests for the same key after a bump share one database read.
        flight = self._loading.get((key_id, stamp))
        if flight is not None:
            return await flight
        fut: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._loading[(key_id, stamp)] = fut
        try:
            p = await asyncio.to_thread(self.store.load_principal, key_id)
            if len(self._cache) >= self.MAX_CACHE:
                self._cache.clear()
            self._cache[key_id] = (stamp, p)
            fut.set_result(p)
            return p
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        finally:
            del self._loading[(key_id, stamp)]

    def invalidate(self) -> None:
        self._cache.clear()

    async def authenticate(self, authorization: str | None) -> Authenticated | AuthFailure:
        if not authorization:
            return AuthFailure(
                401, "missing_api_key", "No API key provided: send `Authorization: Bearer <key>`."
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return AuthFailure(
                401, "invalid_api_key", "Malformed Authorization header: expected `Bearer <key>`."
            )
        parsed = keymod.parse(token.strip())
        if parsed is None:
            return AuthFailure(401, "invalid_api_key", "Incorrect API key provided.")
        try:
            stamp = await self.epochs.current()
            p = await self._principal(parsed.key_id, stamp)
        except Exception as exc:  # the database (or its driver) failed: fail closed, never a bare 500
            log.error("cannot check API key %s: %s: %s", parsed.key_id, exc.__class__.__name__, exc)
            return AuthFailure(
                503, "auth_unavailable", "The gateway cannot check API keys right now; try again later."
            )
        if p is None or not keymod.matches(parsed, p.key_digest):
            return AuthFailure(401, "invalid_api_key", "Incorrect API key provided.")
        if p.key_revoked:
            return AuthFailure(401, "key_revoked", f"API key {keymod.display_id(p.key_id)} has been revoked.")
        if p.key_expires_at is not None and time.time() >= p.key_expires_at:
            return AuthFailure(401, "key_expired", f"API key {keymod.display_id(p.key_id)} has expired.")
        if p.status != "active":
            return AuthFailure(403, "account_suspended", "This identity is suspended. Contact the operator.")
        tier = self.tiers.resolve(
            p.tier, verified=is_verified(p.verification, p.verified_until), agreement=p.agreement
        )
        if tier is None:
            return AuthFailure(403, "no_access_tier", "This identity does not qualify for any access tier.")
        return Authenticated(p, tier)
