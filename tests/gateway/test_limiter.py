"""Admission limits under concurrent bursts: exact in one process, exact across instances with Redis
(two limiters on two event loops stand for two gateway instances); settlement refunds."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from modelwarden.gateway.limiter import LimiterUnavailable, Limits, MemoryLimiter, RedisLimiter
from tests.support.servers import free_port


def test_memory_burst_admits_exactly_the_bucket() -> None:
    lim = MemoryLimiter()

    async def burst() -> int:
        res = await asyncio.gather(*(lim.reserve("id_a", Limits(rpm=10), 1) for _ in range(100)))
        return sum(r.ok for r in res)

    assert asyncio.run(burst()) == 10


def test_memory_bucket_refills_continuously() -> None:
    lim = MemoryLimiter()
    t0 = 1000.0
    ok = [lim.reserve_sync("id", Limits(rpm=60), 1, now=t0).ok for _ in range(61)]
    assert ok.count(True) == 60
    r = lim.reserve_sync("id", Limits(rpm=60), 1, now=t0)
    assert not r.ok and r.reason == "rpm" and 0.9 < r.retry_after <= 1.0
    assert lim.reserve_sync("id", Limits(rpm=60), 1, now=t0 + 1.01).ok


def test_memory_tokens_reserve_then_settle_refunds() -> None:
    lim = MemoryLimiter()

    async def run() -> None:
        a = await lim.reserve("id", Limits(tpm=1000), 800)
        assert a.ok
        b = await lim.reserve("id", Limits(tpm=1000), 300)
        assert not b.ok and b.reason == "tpm"
        await lim.settle(a, 100)  # used far less than reserved
        c = await lim.reserve("id", Limits(tpm=1000), 300)
        assert c.ok
        big = await lim.reserve("id", Limits(tpm=1000), 1001)
        assert not big.ok and big.reason == "too_large"

    asyncio.run(run())


def test_memory_daily_budget() -> None:
    lim = MemoryLimiter()
    assert lim.reserve_sync("id", Limits(daily=100), 60).ok
    r = lim.reserve_sync("id", Limits(daily=100), 60)
    assert not r.ok and r.reason == "daily" and r.retry_after > 0


def test_throttle_scales_limits() -> None:
    assert Limits(100, 1000, 5).scaled(0.1) == Limits(10, 100, 5)
    assert Limits(5, 0, 0).scaled(0.01) == Limits(1.0, 0, 0)


@pytest.mark.redis
def test_redis_burst_across_two_instances_never_over_admits(redis_url: str) -> None:
    """Two limiters on two event loops in two threads (two gateway instances) share one bucket."""
    limits = Limits(rpm=30, tpm=3000)
    identity = f"id_burst_{time.time_ns()}"
    admitted: list[int] = []
    t0 = time.monotonic()

    def instance() -> None:
        async def run() -> None:
            lim = RedisLimiter(redis_url)
            res = await asyncio.gather(*(lim.reserve(identity, limits, 50) for _ in range(60)))
            admitted.append(sum(r.ok for r in res))
            await lim.close()

        asyncio.run(run())

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    # Bound: capacity + refill during the burst (rpm/60 per second), for both requests and tokens.
    bound = min(30 + 30 * elapsed / 60, (3000 + 3000 * elapsed / 60) / 50)
    assert sum(admitted) <= bound + 1e-9
    assert sum(admitted) >= 30  # and the whole capacity was usable (tokens: 60 × 50 = 3000)


@pytest.mark.redis
def test_redis_settle_refunds_and_daily(redis_url: str) -> None:
    async def run() -> None:
        lim = RedisLimiter(redis_url)
        ident = f"id_settle_{time.time_ns()}"
        a = await lim.reserve(ident, Limits(tpm=1000, daily=5000), 900)
        assert a.ok
        b = await lim.reserve(ident, Limits(tpm=1000, daily=5000), 500)
        assert not b.ok and b.reason == "tpm"
        await lim.settle(a, 100)
        c = await lim.reserve(ident, Limits(tpm=1000, daily=5000), 500)
        assert c.ok, c
        d = await lim.reserve(ident, Limits(daily=1000), 500)
        assert not d.ok and d.reason == "daily"
        await lim.close()

    asyncio.run(run())


def test_redis_unreachable_fails_closed_or_open() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"

    async def run() -> None:
        closed = RedisLimiter(url, fail="closed")
        with pytest.raises(LimiterUnavailable, match="rate limiter unavailable"):
            await closed.reserve("id", Limits(rpm=1), 1)
        await closed.close()
        opened = RedisLimiter(url, fail="open")
        r = await opened.reserve("id", Limits(rpm=1), 1)
        assert r.ok and r.settled and r.failed_open
        await opened.close()

    asyncio.run(run())
