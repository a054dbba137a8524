"""Byte ranges of a file on a Hugging Face hub, read over HTTP: the remote `ByteSource`.

`HubHttp` makes the requests (one `httpx.Client` per repository read): a `Range` GET per read that
follows the hub's redirect to its storage, checks the answer is the range asked for (206 with the
matching `Content-Range`, a body no longer than asked — a server that ignores `Range` would otherwise
send a whole shard), retries 429 and 503 honouring `Retry-After` within a bounded budget, and counts
every byte it receives. `RemoteFile` is one file of the repository as a `ByteSource`: reads are rounded
to blocks kept in a small cache, so the zip reader's and the pickle walker's many small slices cost
few requests. Nothing here imports at `modelwarden` start-up: the CLI imports it only with `--remote`.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from modelwarden.artifacts.source import SourceBuffer
from modelwarden.errors import HubNotFound, HubUnavailable
from modelwarden.limits import MAX_REMOTE_KEPT_BYTES

if TYPE_CHECKING:
    import httpx

# Reads are rounded out to blocks of this size: a zip local header (30 bytes) or a pickle opcode
# read alone would cost a request each; 64 KiB holds most headers whole and wastes little.
BLOCK = 64 * 1024
# Blocks kept per file (4 MiB): enough for a zip's directory and its pickles' neighbourhood.
CACHE_BLOCKS = 64
# A read at least this long bypasses the block cache and is fetched as one range.
DIRECT_READ = 1 << 20


class ExtentBudget:
    """Bytes of long reads the files of one repository may keep between them."""

    def __init__(self, limit: int = MAX_REMOTE_KEPT_BYTES) -> None:
        self.remaining = limit
        """Bytes still free."""

    def take(self, n: int) -> bool:
        """Reserve `n` bytes if they fit."""
        if n > self.remaining:
            return False
        self.remaining -= n
        return True


# Retries of one request answered 429/503 or failing in transport, and the longest wait honoured:
# a hub asking for more than a minute is treated as unavailable rather than waited for.
MAX_RETRIES = 5
MAX_WAIT_SECONDS = 60.0
# A small file downloaded whole (card, config, tokenizer config, licence) is capped like local JSON.
RETRY_STATUS = frozenset({429, 502, 503, 504})
TRANSPORT_RETRIES = 2
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass
class Traffic:
    """What the remote read cost: requests made and bytes received, over the whole repository."""

    requests: int = 0
    """HTTP requests sent (retries included)."""
    bytes_received: int = 0
    """Body bytes received (ranges and whole small files; metadata answers excluded)."""
    retries: int = 0
    """Requests repeated after a 429/5xx or a transport error."""
    waited_seconds: float = 0.0
    """Time spent waiting as `Retry-After` (or the backoff) asked."""
    metadata_bytes: int = 0
    """Bytes of the hub's API answers (the repository's file list)."""
    throttled: int = 0
    """Answers `429 Too Many Requests` received (each also counted in `retries` when retried)."""
    storage_refreshed: int = 0
    """Storage URLs that stopped answering (expired) and were resolved again."""


class Limiter(Protocol):
    """A request budget shared beyond one client (the crawl's one budget across all its workers)."""

    def acquire(self) -> None:
        """Block until one more request may be sent (called for every request, redirects included)."""

    def pause(self, seconds: float, *, throttled: bool) -> None:
        """The hub asked to wait `seconds` (Retry-After or backoff): hold every request of the budget.
        `throttled`: the answer was `429 Too Many Requests` (not a 5xx or a transport error)."""


class HubHttp:
    """Range and whole-file GETs against one hub, with retries and byte accounting.

    `token` is sent as a bearer token (gated and private repositories); httpx drops it on a redirect
    to another origin (the storage URL the hub redirects to is pre-signed)."""

    def __init__(
        self,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = MAX_RETRIES,
        max_wait: float = MAX_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        limiter: Limiter | None = None,
    ) -> None:
        import httpx

        from modelwarden import __version__

        headers = {"user-agent": f"modelwarden/{__version__}"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        # The limiter is asked on httpx's request hook, so a redirect followed is one more request asked.
        hooks = {"request": [lambda _request: limiter.acquire()]} if limiter is not None else {}
        self._client = httpx.Client(
            headers=headers, timeout=timeout, follow_redirects=True, event_hooks=hooks
        )
        self._limiter = limiter
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._sleep = sleep
        self._storage: dict[str, str] = {}  # resolve URL -> the storage URL it redirected to
        self.traffic = Traffic()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def get_range(self, url: str, start: int, length: int, *, total: int) -> bytes:
        """Bytes [start, start + length) of a file of `total` bytes, verified as that range.

        The storage URL a `resolve` redirected to is reused for the file's next ranges: the hub
        counts every `/resolve/` request against its rate limit, and resolving each range again
        doubled what a repository cost. A storage URL that stops answering (pre-signed URLs expire)
        is resolved afresh, once."""
        if length <= 0:
            return b""
        stored = self._storage.get(url)
        if stored is not None:
            try:
                return self._range(stored, start, length, total=total, bare=True)
            except HubNotFound:
                del self._storage[url]
                self.traffic.storage_refreshed += 1
        return self._range(url, start, length, total=total, bare=False)

    def _range(self, url: str, start: int, length: int, *, total: int, bare: bool) -> bytes:
        end = start + length - 1
        with self._send(url, {"range": f"bytes={start}-{end}"}, bare=bare) as r:
            if not bare and str(r.url) != url:
                self._storage[url] = str(r.url)
            if r.status_code != 206:
                raise HubUnavailable(
                    f"asked for bytes {start}-{end}, the hub answered {r.status_code} instead of 206 "
                    "Partial Content: it does not serve byte ranges, and the whole file is not downloaded",
                    path=url,
                    next_step="use a hub or mirror that supports HTTP Range requests, or download the "
                    "repository and read it locally",
                )
            _check_content_range(r.headers.get("content-range", ""), start, end, total, url)
            return self._body(r, length, url)

    def get_metadata(self, url: str, *, cap: int) -> bytes:
        """A JSON answer of the hub's API (not counted as file bytes); at most `cap` bytes."""
        with self._send(url, {"accept": "application/json"}) as r:
            if r.status_code != 200:
                raise HubUnavailable(f"answered {r.status_code} to a metadata request", path=url)
            before = self.traffic.bytes_received
            try:
                return self._body(r, cap, url)
            finally:
                self.traffic.metadata_bytes += self.traffic.bytes_received - before
                self.traffic.bytes_received = before

    def get_page(self, url: str, *, cap: int) -> tuple[bytes, str | None]:
        """A JSON page of a hub listing (at most `cap` bytes) and the URL of the next page, from the
        `Link: <…>; rel="next"` header (None on the last page)."""
        with self._send(url, {"accept": "application/json"}) as r:
            if r.status_code != 200:
                raise HubUnavailable(f"answered {r.status_code} to a listing request", path=url)
            following = r.links.get("next", {}).get("url")
            before = self.traffic.bytes_received
            try:
                return self._body(r, cap, url), following
            finally:
                self.traffic.metadata_bytes += self.traffic.bytes_received - before
                self.traffic.bytes_received = before

    def get_whole(self, url: str, *, cap: int) -> bytes:
        """A small file whole; refused (HubUnavailable) when the hub sends more than `cap` bytes."""
        with self._send(url, {}) as r:
            if r.status_code != 200:
                raise HubUnavailable(f"answered {r.status_code} to a GET", path=url)
            return self._body(r, cap, url)

    def _body(self, r: httpx.Response, cap: int, url: str) -> bytes:
        declared = r.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise HubUnavailable(f"the hub sent {declared} bytes where at most {cap} were asked", path=url)
        out = bytearray()
        for chunk in r.iter_bytes():
            out += chunk
            self.traffic.bytes_received += len(chunk)
            if len(out) > cap:
                raise HubUnavailable(f"the hub sent more than the {cap} bytes asked", path=url)
        return bytes(out)

    def _send(self, url: str, headers: dict[str, str], *, bare: bool = False) -> _Answer:
        """GET `url` with retries. `bare`: without the token (a pre-signed storage URL carries its own
        authorisation, and the token must not reach another host)."""
        import httpx

        attempt = 0
        while True:
            self.traffic.requests += 1
            request = self._client.build_request("GET", url, headers=headers)
            if bare:
                request.headers.pop("authorization", None)
            try:
                r = self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                # A refused connection or a DNS failure rarely heals within seconds: retried less.
                if attempt >= min(self._max_retries, TRANSPORT_RETRIES):
                    raise HubUnavailable(
                        f"no answer from the hub ({type(exc).__name__}: {exc})", path=url
                    ) from None
                self._wait(None, attempt, throttled=False)
                attempt += 1
                continue
            if r.status_code == 429:
                self.traffic.throttled += 1
            if r.status_code in RETRY_STATUS and attempt < self._max_retries:
                after = r.headers.get("retry-after")
                r.close()
                self._wait(after, attempt, throttled=r.status_code == 429)
                attempt += 1
                continue
            if r.status_code in RETRY_STATUS:
                r.close()
                raise HubUnavailable(
                    f"still answered {r.status_code} after {attempt} retries",
                    path=url,
                    next_step="wait for the hub's rate limit to reset, then read again",
                )
            if r.status_code in (401, 403, 404):
                r.close()
                raise HubNotFound(
                    f"the hub answered {r.status_code}",
                    path=url,
                    next_step="check the repository, revision and file name; a gated or private "
                    "repository needs a token with access (HF_TOKEN)",
                )
            return _Answer(r)

    def _wait(self, retry_after: str | None, attempt: int, *, throttled: bool) -> None:
        delay = _retry_after_seconds(retry_after)
        if delay is None:
            # Bounded exponential backoff with jitter: clients throttled together do not return together.
            delay = min(0.5 * 2**attempt, 8.0) * random.uniform(0.5, 1.0)  # noqa: S311 - not a secret
        if delay > self._max_wait:
            raise HubUnavailable(
                f"the hub asks to wait {delay:.0f} s (Retry-After), over the {self._max_wait:.0f} s honoured",
                next_step="wait for the hub's rate limit to reset, then read again",
            )
        self.traffic.retries += 1
        self.traffic.waited_seconds += delay
        if self._limiter is not None:
            # Every request of the shared budget waits, not this one alone.
            self._limiter.pause(delay, throttled=throttled)
        self._sleep(delay)


class _Answer:
    """A streamed response closed on leaving the `with` block."""

    def __init__(self, r: httpx.Response) -> None:
        self.r = r

    def __enter__(self) -> httpx.Response:
        return self.r

    def __exit__(self, *exc: object) -> None:
        self.r.close()


def _retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _check_content_range(header: str, start: int, end: int, total: int, url: str) -> None:
    m = _CONTENT_RANGE.match(header.strip())
    want_end = min(end, total - 1)
    if m is None or int(m.group(1)) != start or int(m.group(2)) != want_end:
        raise HubUnavailable(
            f"asked for bytes {start}-{want_end}, the hub answered Content-Range {header!r}", path=url
        )
    if m.group(3) != "*" and int(m.group(3)) != total:
        raise HubUnavailable(
            f"the hub's metadata gives {total:,} bytes but Content-Range says {m.group(3)}: the file "
            "changed under the read (or the metadata is wrong)",
            path=url,
        )


class RemoteFile:
    """One file of a hub repository as a `ByteSource`, its size from the hub's metadata."""

    def __init__(
        self, http: HubHttp, url: str, *, name: str, size: int, budget: ExtentBudget | None = None
    ) -> None:
        self._http = http
        self.url = url
        self._name = name
        self._size = size
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._extents: list[tuple[int, bytes]] = []  # long reads kept: (offset, bytes)
        self._budget = budget if budget is not None else ExtentBudget()
        self.bytes_received = 0
        """Bytes this file's reads received from the hub."""

    @property
    def name(self) -> str:
        """`hf://org/name@commit/path`, how problems and findings name the file."""
        return self._name

    @property
    def size(self) -> int:
        """The size the hub's metadata gives (checked against every Content-Range)."""
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length) clipped to the file, through the block cache."""
        if offset < 0 or length < 0:
            raise ValueError(f"{self._name}: negative read ({offset}, {length})")
        end = min(offset + length, self._size)
        if end <= offset:
            return b""
        if end - offset >= DIRECT_READ:
            return self._long_read(offset, end)
        first, last = offset // BLOCK, (end - 1) // BLOCK
        missing = [b for b in range(first, last + 1) if b not in self._blocks]
        if missing:
            lo, hi = missing[0] * BLOCK, min((missing[-1] + 1) * BLOCK, self._size)
            data = self._fetch(lo, hi - lo)
            for b in range(missing[0], missing[-1] + 1):
                self._blocks[b] = data[(b - missing[0]) * BLOCK : (b - missing[0] + 1) * BLOCK]
        parts = []
        for b in range(first, last + 1):
            self._blocks.move_to_end(b)
            parts.append(self._blocks[b])
        while len(self._blocks) > max(CACHE_BLOCKS, last - first + 1):
            self._blocks.popitem(last=False)
        joined = b"".join(parts)
        return joined[offset - first * BLOCK : end - first * BLOCK]

    def _long_read(self, offset: int, end: int) -> bytes:
        for start, data in self._extents:
            if start <= offset and end <= start + len(data):
                return data[offset - start : end - start]
        data = self._fetch(offset, end - offset)
        if self._budget.take(len(data)):
            self._extents.append((offset, data))
        return data

    def _fetch(self, start: int, length: int) -> bytes:
        data = self._http.get_range(self.url, start, length, total=self._size)
        self.bytes_received += len(data)
        if len(data) != length:
            raise HubUnavailable(
                f"asked for {length:,} bytes at {start:,}, received {len(data):,}", path=self._name
            )
        return data


class RemoteBuffer(SourceBuffer):
    """A `RemoteFile` as the `Buffer` the scan's analysers index, with a chunked `rfind` (a `View`
    without one would slice, and so download, the whole range it searches)."""

    def rfind(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        """The last offset of `sub` in [start, end), or -1 (bytes.rfind's contract), read backwards
        in chunks that start at one block and double (what is sought is usually near the end)."""
        stop = self.source.size if end is None else min(end, self.source.size)
        lo = max(0, start)
        hi = stop
        chunk = BLOCK
        while hi > lo:
            begin = max(lo, hi - chunk - len(sub) + 1)
            hit = self.source.read_at(begin, hi - begin).rfind(sub)
            if hit >= 0:
                return begin + hit
            if begin == lo:
                break
            hi = begin + len(sub) - 1
            chunk = min(2 * chunk, self._CHUNK)
        return -1
