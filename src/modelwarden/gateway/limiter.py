"""Admission limits: requests per minute, tokens per minute and tokens per UTC day, per identity.

Reference: docs/reference/gateway.md §11.4 and §4.2–4.3 (LiteLLM's concurrent-burst and multi-instance bugs).
Each admission is one atomic check-and-reserve of 1 request and `prompt estimate + max_tokens` tokens;
after the response the reservation is settled to the real usage (unused tokens refunded). Nothing
is ever read in one place and written in another.

rpm and tpm are token buckets: capacity = the limit, refilled continuously at limit/60 per second.
So in any interval of t seconds an identity is admitted at most `limit + limit·t/60` (requests or
tokens): that is the documented bound, and it is exact for
- `MemoryLimiter`: one process, the check and the reservation run without an await between them;
- `RedisLimiter`: one Lua script per admission (Redis runs scripts atomically) using Redis's own
  clock (TIME), so any number of gateway instances share one bucket with no over-admission.
With the memory limiter, K processes each have their own buckets: up to K × the bound. That is why
several workers or instances need Redis (`modelwarden gateway serve` refuses otherwise).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from modelwarden.errors import (
    LimiterUnavailable as LimiterUnavailable,
)  # defined with the others; raised here

Reason = Literal["ok", "rpm", "tpm", "daily", "too_large"]


@dataclass(frozen=True)
class Limits:
    rpm: float = 0
    tpm: float = 0
    daily: int = 0

    def scaled(self, factor: float | None) -> Limits:
        if not factor:
            return self
        # A throttled identity keeps at least one request per minute.
        return Limits(
            max(1.0, self.rpm * factor) if self.rpm else 0,
            max(1.0, self.tpm * factor) if self.tpm else 0,
            self.daily,
        )


@dataclass
class Reservation:
    ok: bool
    identity: str
    tokens: int
    day: str
    reason: Reason = "ok"
    retry_after: float = 0.0
    limits: Limits = Limits()
    settled: bool = False
    #: Admitted without a check because the shared limiter was unreachable and `limits.fail: open`.
    failed_open: bool = False


def utc_day(now: float | None = None) -> str:
    return datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y%m%d")


def seconds_to_midnight(now: float | None = None) -> float:
    t = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    midnight = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - t).total_seconds()


class Limiter(Protocol):
    async def reserve(self, identity: str, limits: Limits, tokens: int) -> Reservation: ...

    async def settle(self, res: Reservation, actual_tokens: int) -> None: ...

    async def close(self) -> None: ...


@dataclass
class _Bucket:
    requests: float
    r_at: float
    tokens: float
    t_at: float
    day: str
    day_used: int


class MemoryLimiter:
    """Single-process limiter (the event loop makes check-and-reserve atomic: no await inside)."""

    MAX_IDENTITIES = 100_000

    def __init__(self) -> None:
        self._b: dict[str, _Bucket] = {}

    def _bucket(self, identity: str, limits: Limits, now: float, day: str) -> _Bucket:
        b = self._b.get(identity)
        if b is None:
            if len(self._b) >= self.MAX_IDENTITIES:
                self._evict(now)
            b = _Bucket(limits.rpm, now, limits.tpm, now, day, 0)
            self._b[identity] = b
        if b.day != day:
            b.day, b.day_used = day, 0
        if limits.rpm:
            b.requests = min(limits.rpm, b.requests + (now - b.r_at) * limits.rpm / 60.0)
        b.r_at = now
        if limits.tpm:
            b.tokens = min(limits.tpm, b.tokens + (now - b.t_at) * limits.tpm / 60.0)
        b.t_at = now
        return b

    def _evict(self, now: float) -> None:
        # Buckets idle for over a minute are full again: forgetting them changes nothing.
        for k in [k for k, b in self._b.items() if now - max(b.r_at, b.t_at) > 60.0][
            : self.MAX_IDENTITIES // 10
        ]:
            del self._b[k]

    def reserve_sync(
        self, identity: str, limits: Limits, tokens: int, now: float | None = None
    ) -> Reservation:
        now = time.monotonic() if now is None else now
        day = utc_day()
        res = Reservation(False, identity, tokens, day, limits=limits)
        if limits.tpm and tokens > limits.tpm:
            res.reason = "too_large"
            return res
        b = self._bucket(identity, limits, now, day)
        if limits.rpm and b.requests < 1.0:
            res.reason, res.retry_after = "rpm", (1.0 - b.requests) * 60.0 / limits.rpm
            return res
        if limits.tpm and b.tokens < tokens:
            res.reason, res.retry_after = "tpm", (tokens - b.tokens) * 60.0 / limits.tpm
            return res
        if limits.daily and b.day_used + tokens > limits.daily:
            res.reason, res.retry_after = "daily", seconds_to_midnight()
            return res
        if limits.rpm:
            b.requests -= 1.0
        if limits.tpm:
            b.tokens -= tokens
        b.day_used += tokens
        res.ok = True
        return res

    async def reserve(self, identity: str, limits: Limits, tokens: int) -> Reservation:
        return self.reserve_sync(identity, limits, tokens)

    async def settle(self, res: Reservation, actual_tokens: int) -> None:
        if not res.ok or res.settled:
            return
        res.settled = True
        refund = res.tokens - actual_tokens
        b = self._b.get(res.identity)
        if b is None or refund == 0:
            return
        if res.limits.tpm:
            b.tokens = min(res.limits.tpm, b.tokens + refund)
        if b.day == res.day:
            b.day_used = max(0, b.day_used - refund)

    async def close(self) -> None:
        return None


# Reserve: KEYS = bucket hash, day counter; ARGV = rpm, tpm, daily, tokens, day ttl, seconds to midnight.
# Numbers are returned as strings: Redis truncates Lua floats to integers in replies.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rpm, tpm, daily, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if tpm > 0 and tokens > tpm then return {0, 'too_large', '0'} end
local st = redis.call('HMGET', KEYS[1], 'r', 'rt', 'k', 'kt')
local r, rt, k, kt = tonumber(st[1]), tonumber(st[2]), tonumber(st[3]), tonumber(st[4])
if rpm > 0 then
  if r == nil then r = rpm; rt = now end
  r = math.min(rpm, r + math.max(0, now - rt) * rpm / 60); rt = now
  if r < 1 then return {0, 'rpm', tostring((1 - r) * 60 / rpm)} end
end
if tpm > 0 then
  if k == nil then k = tpm; kt = now end
  k = math.min(tpm, k + math.max(0, now - kt) * tpm / 60); kt = now
  if k < tokens then return {0, 'tpm', tostring((tokens - k) * 60 / tpm)} end
end
if daily > 0 then
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used + tokens > daily then return {0, 'daily', ARGV[6]} end
end
if rpm > 0 then redis.call('HSET', KEYS[1], 'r', tostring(r - 1), 'rt', tostring(rt)) end
if tpm > 0 then redis.call('HSET', KEYS[1], 'k', tostring(k - tokens), 'kt', tostring(kt)) end
redis.call('EXPIRE', KEYS[1], 3600)
redis.call('INCRBY', KEYS[2], tokens)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
return {1, 'ok', '0'}
"""

# Settle: KEYS = bucket hash, day counter; ARGV = tpm, refund (negative when usage exceeded the estimate).
_SETTLE = """
local tpm, refund = tonumber(ARGV[1]), tonumber(ARGV[2])
if tpm > 0 then
  local k = tonumber(redis.call('HGET', KEYS[1], 'k'))
  if k ~= nil then redis.call('HSET', KEYS[1], 'k', tostring(math.min(tpm, k + refund))) end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local left = redis.call('DECRBY', KEYS[2], refund)
  if left < 0 then redis.call('SET', KEYS[2], '0', 'KEEPTTL') end
end
return 1
"""


class RedisLimiter:
    """Limiter shared by every worker and instance through one Redis (atomic Lua scripts)."""

    def __init__(self, url: str, *, fail: Literal["open", "closed"] = "closed", prefix: str = "mw") -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.fail = fail
        self.prefix = prefix
        self._reserve = self.redis.register_script(_RESERVE)
        self._settle = self.redis.register_script(_SETTLE)

    def _keys(self, identity: str, day: str) -> list[str]:
        # Hash tags keep both keys in one slot on Redis Cluster.
        return [f"{self.prefix}:rl:{{{identity}}}", f"{self.prefix}:day:{{{identity}}}:{day}"]

    async def reserve(self, identity: str, limits: Limits, tokens: int) -> Reservation:
        import redis.exceptions

        day = utc_day()
        res = Reservation(False, identity, tokens, day, limits=limits)
        try:
            ok, reason, retry = await self._reserve(
                keys=self._keys(identity, day),
                args=[limits.rpm, limits.tpm, limits.daily, tokens, 2 * 86400, seconds_to_midnight()],
            )
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            if self.fail == "open":
                # Nothing to settle: nothing was reserved. The audit entry records the failure.
                res.ok, res.settled, res.failed_open = True, True, True
                return res
            raise LimiterUnavailable(f"rate limiter unavailable ({exc.__class__.__name__})") from None
        res.ok = bool(int(ok))
        res.reason = reason.decode() if isinstance(reason, bytes) else str(reason)  # type: ignore[assignment]
        res.retry_after = float(retry)
        return res

    async def settle(self, res: Reservation, actual_tokens: int) -> None:
        import redis.exceptions

        if not res.ok or res.settled:
            return
        res.settled = True
        refund = res.tokens - actual_tokens
        if refund == 0:
            return
        # A lost refund only makes the limiter stricter, never looser.
        with contextlib.suppress(redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            await self._settle(keys=self._keys(res.identity, res.day), args=[res.limits.tpm, refund])

    async def close(self) -> None:
        await self.redis.aclose()
