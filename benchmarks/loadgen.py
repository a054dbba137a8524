"""Open-loop HTTP/1.1 load generator (asyncio + uvloop, raw sockets, keep-alive pool).

Requests are *scheduled* at a constant rate (times from perf_counter: uvloop's loop.time() has
millisecond resolution) and each latency is measured from its scheduled start,
so time spent waiting for a free connection counts (no coordinated omission: a slow server cannot
slow the generator down and hide its own tail, docs/reference/gateway.md §10).

Run one point:  python benchmarks/loadgen.py --url http://127.0.0.1:8080/v1/chat/completions \
                    --rate 500 --duration 10 --header "authorization: Bearer KEY" --body body.json
Prints one JSON object: offered/achieved rate, error rate, latency percentiles (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]


class Stale(ConnectionError):
    """A kept-alive connection the server had already closed (no byte of an answer came back):
    resending on a fresh connection is safe, as every HTTP client does."""


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = 0

    async def request(self, raw: bytes) -> int:
        self.used += 1
        try:
            self.writer.write(raw)
            line = await self.reader.readline()
        except (ConnectionResetError, BrokenPipeError):
            line = b""
        if not line:
            raise Stale("closed") if self.used > 1 else ConnectionError("closed")
        status = int(line.split(b" ", 2)[1])
        length = None
        chunked = False
        close = False
        while True:
            h = await self.reader.readline()
            if h in (b"\r\n", b""):
                break
            k, _, v = h.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
            elif k == b"connection" and b"close" in v.lower():
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length is not None:
            await self.reader.readexactly(length)
        else:
            await self.reader.read()
            close = True
        if close:
            raise ConnectionResetError("server closed the connection")
        return status


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


async def run(
    url: str,
    rate: float,
    duration: float,
    warmup: float,
    body: bytes,
    headers: list[str],
    max_conns: int,
    timeout: float,
) -> dict[str, float]:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    head = [
        f"POST {u.path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    idle: list[Conn] = []
    opened = 0
    waiters: asyncio.Queue[None] = asyncio.Queue()
    lat: list[float] = []
    errors = 0
    done_at = 0.0

    async def get_conn(fresh: bool = False) -> Conn:
        nonlocal opened
        while True:
            if idle and not fresh:
                return idle.pop()
            if opened < max_conns:
                opened += 1
                try:
                    r, w = await asyncio.open_connection(host, port)
                except OSError:
                    opened -= 1
                    raise
                return Conn(r, w)
            await waiters.get()

    def put_conn(c: Conn | None) -> None:
        nonlocal opened
        if c is None:
            opened -= 1
        else:
            idle.append(c)
        waiters.put_nowait(None)

    async def one(sched: float, measured: bool) -> None:
        nonlocal errors, done_at
        ok = False
        try:
            c = await asyncio.wait_for(get_conn(), timeout)
        except (OSError, TimeoutError):
            c = None
        for _attempt in range(2):
            if c is None:
                break
            try:
                status = await asyncio.wait_for(c.request(raw), timeout)
            except Stale:
                c.writer.close()
                put_conn(None)
                try:
                    c = await asyncio.wait_for(get_conn(fresh=True), timeout)
                except (OSError, TimeoutError):
                    c = None
                continue
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
                c.writer.close()
                put_conn(None)
            else:
                ok = status == 200
                put_conn(c)
            break
        end = time.perf_counter()
        if measured:
            done_at = max(done_at, end)
            if ok:
                lat.append(end - sched)
            else:
                errors += 1

    total = int(rate * (warmup + duration))
    n_warm = int(rate * warmup)
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        sched = start + i / rate
        delay = sched - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(sched, i >= n_warm)))
    await asyncio.gather(*tasks)
    measured_start = start + n_warm / rate
    lat.sort()
    n = len(lat) + errors
    return {
        "offered_rps": rate,
        "achieved_rps": len(lat) / max(1e-9, done_at - measured_start),
        "requests": n,
        "errors": errors,
        "error_rate": errors / n if n else 1.0,
        "p50_ms": percentile(lat, 0.50) * 1000,
        "p95_ms": percentile(lat, 0.95) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
        "max_ms": (lat[-1] if lat else float("nan")) * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--body", required=True, help="file with the JSON body")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--max-conns", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()
    with open(a.body, "rb") as fh:
        body = fh.read()
    runner = uvloop.run if uvloop else asyncio.run
    t0 = time.perf_counter()
    res = runner(run(a.url, a.rate, a.duration, a.warmup, body, a.header, a.max_conns, a.timeout))
    res["wall_s"] = time.perf_counter() - t0
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
