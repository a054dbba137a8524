"""Tamper-evident audit log: a hash chain with periodic Ed25519-signed Merkle checkpoints.

Reference: docs/reference/gateway.md §9. Every admin action and every request decision becomes one row of
`gw_audit`:

    entry_hash(seq) = SHA-256(prev_hash || canonical(seq, ts, actor, action, subject, body))

"canonical" is RFC 8785 (JSON Canonicalization Scheme) for the body and for the hashed record, which
then carries `"canon": 2`; entries written before that (canonicalisation version 1, a subset of JCS
that writes floats the Python way) still verify: the version of each entry is bound into its hashed
bytes, and a verifier finds it by recomputing (docs/gateway.md "Canonical JSON").

with prev_hash of the first entry = 32 zero bytes. Editing, deleting, inserting or reordering a row
breaks the recomputation at that row. Rewriting the whole tail consistently is caught by the
checkpoints: every `checkpoint_every` entries (or `checkpoint_interval_s` seconds) the RFC 6962 root
over all entry hashes is signed with a key kept outside the database, stored in `gw_checkpoints`
and appended to an anchor file the operator keeps elsewhere.

Appends take the head row's lock (an UPDATE, so the same code locks in SQLite and PostgreSQL), so
several workers and instances extend one chain. Request entries are appended in batches by
`AuditWriter` (group commit): a request is answered only after its entry is committed, so a crash
never loses an acknowledged entry.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine

from modelwarden.errors import (
    AuditUnavailable as AuditUnavailable,  # defined with the others; raised here
)
from modelwarden.errors import (
    GatewayConflict,
    GatewayError,
    GatewayInvalid,
    GatewayMisconfigured,
)
from modelwarden.gateway import merkle
from modelwarden.gateway.files import MAX_ANCHOR_LINE_BYTES, read_lines
from modelwarden.gateway.schema import audit, audit_head, audit_text, checkpoints
from modelwarden.gateway.signing import Signer, public_key_id, verify_checkpoint
from modelwarden.untrusted.io import NOT_REGULAR

log = logging.getLogger("modelwarden.gateway.audit")

GENESIS = bytes(32)


def now_ts() -> str:
    """RFC 3339 UTC with microseconds: fixed width, so text order is time order."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: Code points no UTF-8 text can carry (lone surrogates: valid in JSON escapes and Python strings)
#: and NUL (PostgreSQL text refuses it).
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def storable(text: str) -> str:
    """`text` with every code point that UTF-8 or a database text column cannot hold replaced by
    U+FFFD, so that no input (a request's model name, its prompt) can make an entry unwritable."""
    return _UNSTORABLE.sub("\ufffd", text) if _UNSTORABLE.search(text) else text


#: The integers JSON numbers hold exactly (I-JSON, RFC 7493 §2.2); RFC 8785 refuses the others.
MAX_EXACT_INT = 2**53 - 1


def _storable_value(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_EXACT_INT:
        # A client's `max_tokens: 1e30`-sized integer is recorded as its decimal text (as I-JSON
        # advises), so it cannot make the request's entry unwritable.
        return str(value)
    if isinstance(value, dict):
        return {storable(str(k)): _storable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable_value(v) for v in value]
    return value


#: Canonicalisation versions of an entry (docs/gateway.md "Canonical JSON").
#: 1: Python's sorted, compact `json.dumps` (floats as `1e-05`, keys in code-point order).
CANON_LEGACY = 1
#: 2: RFC 8785 (JCS) for the body and the hashed record; the record names the version.
CANON_JCS = 2
#: The version new entries are written with; verifiers try it first.
CANON_CURRENT = CANON_JCS
#: Every version a verifier accepts, the current one first.
CANON_VERSIONS = (CANON_JCS, CANON_LEGACY)


def canonical_body(body: dict[str, Any]) -> str:
    """The body as RFC 8785 canonical JSON: one text per value, which any JCS implementation
    reproduces (`0.00001` for 1e-05, keys in UTF-16 order).

    Strings are made storable and integers beyond 2**53 - 1 become decimal strings first; a value JCS
    cannot hold (NaN, infinity, an object) raises ValueError or TypeError for this entry alone."""
    try:
        return rfc8785.dumps(_storable_value(body)).decode("utf-8")
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(str(exc)) from None


def _legacy_body(body: dict[str, Any]) -> str:
    """Version 1 of `canonical_body`, kept to explain (and test) what old entries hold."""
    return json.dumps(
        _storable_value(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_bytes(
    seq: int,
    ts: str,
    actor: str,
    action: str,
    subject: str | None,
    body: str,
    canon: int = CANON_CURRENT,
) -> bytes:
    """The bytes an entry's hash covers. `body` is the stored canonical text, hashed as a string."""
    record: dict[str, Any] = {
        "seq": seq,
        "ts": ts,
        "actor": actor,
        "action": action,
        "subject": subject,
        "body": body,
    }
    if canon == CANON_LEGACY:
        return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if canon != CANON_JCS:
        raise ValueError(f"unknown canonicalisation version {canon!r}")
    return rfc8785.dumps({**record, "canon": CANON_JCS})


def entry_hash(
    prev: bytes,
    seq: int,
    ts: str,
    actor: str,
    action: str,
    subject: str | None,
    body: str,
    canon: int = CANON_CURRENT,
) -> bytes:
    return hashlib.sha256(prev + entry_bytes(seq, ts, actor, action, subject, body, canon)).digest()


def entry_version(
    stored: bytes, prev: bytes, seq: int, ts: str, actor: str, action: str, subject: str | None, body: str
) -> tuple[int | None, bytes]:
    """(the canonicalisation version whose hash is `stored`, or None; the hash recomputed with it, or
    with the current version when none matches). Each version's record differs, so at most one can."""
    current = b""
    for canon in CANON_VERSIONS:
        h = entry_hash(prev, seq, ts, actor, action, subject, body, canon)
        if canon == CANON_CURRENT:
            current = h
        if h == stored:
            return canon, h
    return None, current


def text_digest(salt: bytes, text: str) -> str:
    """Salted hash of prompt/output text (§9 privacy): proves text unchanged without storing it."""
    return hmac.new(salt, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


@dataclass
class Entry:
    """One audit entry before it is appended."""

    #: Who acted (`key:…`, `admin-api`, `system:gateway`).
    actor: str
    #: What happened (`request.ok`, `key.revoke`, …).
    action: str
    #: The identity the entry is about, if any.
    subject: str | None
    #: Details; stored as canonical JSON inside the hash chain.
    body: dict[str, Any]
    #: Full text kept outside the chain (only for tiers that log text with consent): kind → text.
    texts: dict[str, str] | None = None
    #: Timestamp (default: when appended).
    ts: str | None = None
    #: `body` as canonical JSON, once computed (by `AuditWriter.submit`, which checks it early).
    canonical: str | None = None

    def prepare(self) -> Entry:
        """Make the entry writable or raise (ValueError, TypeError, RecursionError) for it alone:
        strings made storable, the canonical body computed once."""
        if self.canonical is None:
            self.canonical = canonical_body(self.body)
            self.actor, self.action = storable(self.actor), storable(self.action)
            self.subject = storable(self.subject) if self.subject is not None else None
            if self.texts:
                self.texts = {storable(k): storable(v) for k, v in self.texts.items()}
        return self


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: bytes
    ts: str
    key_id: str
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "ts": self.ts,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        try:
            return cls(
                size=int(data["size"]),
                root=base64.b64decode(data["root"], validate=True),
                ts=str(data["ts"]),
                key_id=str(data["key_id"]),
                signature=base64.b64decode(data["signature"], validate=True),
            )
        except (KeyError, ValueError, TypeError, OverflowError) as exc:
            raise GatewayInvalid(f"malformed checkpoint record: {exc}") from None


@dataclass(frozen=True)
class AppendResult:
    first_seq: int
    last_seq: int
    checkpoint: Checkpoint | None


@dataclass(frozen=True)
class CheckpointPolicy:
    every: int = 1000
    interval_s: float = 60.0


# Statements built once: constructing SQLAlchemy statements per append cost more than the commit.
# The first statement of an append is a write that returns the head, so SQLite takes its write lock
# at once (no deferred read-then-upgrade, hence no SQLITE_BUSY_SNAPSHOT) and PostgreSQL a row lock.
_LOCK_HEAD = (
    sa.update(audit_head)
    .where(audit_head.c.id == 1)
    .values(lock_counter=audit_head.c.lock_counter + 1)
    .returning(
        audit_head.c.size,
        audit_head.c.head_hash,
        audit_head.c.frontier,
        audit_head.c.checkpoint_size,
        audit_head.c.checkpoint_at,
    )
)
_INSERT_ENTRY = sa.insert(audit)
_INSERT_TEXT = sa.insert(audit_text)
_SET_HEAD = (
    sa.update(audit_head)
    .where(audit_head.c.id == 1)
    .values(
        size=sa.bindparam("new_size"),
        head_hash=sa.bindparam("new_head"),
        frontier=sa.bindparam("new_frontier"),
        checkpoint_size=sa.bindparam("new_cp_size"),
        checkpoint_at=sa.bindparam("new_cp_at"),
    )
)


def _lock_head(conn: Connection) -> sa.Row[Any]:
    return conn.execute(_LOCK_HEAD).one()


def append_entries(
    conn: Connection,
    entries: Sequence[Entry],
    *,
    signer: Signer | None,
    policy: CheckpointPolicy = CheckpointPolicy(),
) -> AppendResult:
    """Extend the chain by `entries` inside the caller's transaction; sign a checkpoint when due."""
    head = _lock_head(conn)
    size: int = head.size
    prev: bytes = head.head_hash
    frontier = merkle.unpack(head.frontier)
    first = size + 1
    rows: list[dict[str, Any]] = []
    text_rows: list[dict[str, Any]] = []
    for e in entries:
        seq = size + 1
        ts = e.ts or now_ts()
        body = e.prepare().canonical
        assert body is not None
        h = entry_hash(prev, seq, ts, e.actor, e.action, e.subject, body)
        rows.append(
            {
                "seq": seq,
                "ts": ts,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "body": body,
                "prev_hash": prev,
                "entry_hash": h,
            }
        )
        for kind, text in (e.texts or {}).items():
            text_rows.append({"seq": seq, "kind": kind, "text": text})
        frontier = merkle.frontier_append(frontier, size, h)
        size = seq
        prev = h
    if rows:
        conn.execute(_INSERT_ENTRY, rows)
    if text_rows:
        conn.execute(_INSERT_TEXT, text_rows)
    cp_size, cp_at = head.checkpoint_size, head.checkpoint_at
    cp = None
    now = time.time()
    started = cp_at or now  # the interval clock starts with the first entry
    if not cp_at:
        cp_at = now
    due = size - cp_size >= policy.every or (size > cp_size and now - started >= policy.interval_s)
    if signer is not None and due:
        cp = _sign(conn, signer, size, merkle.frontier_root(frontier))
        cp_size, cp_at = size, now
    conn.execute(
        _SET_HEAD,
        {
            "new_size": size,
            "new_head": prev,
            "new_frontier": merkle.pack(frontier),
            "new_cp_size": cp_size,
            "new_cp_at": cp_at,
        },
    )
    return AppendResult(first, size, cp)


def _sign(conn: Connection, signer: Signer, size: int, root: bytes) -> Checkpoint:
    ts = now_ts()
    cp = Checkpoint(size, root, ts, signer.key_id, signer.sign(size, root, ts))
    conn.execute(
        sa.insert(checkpoints).values(size=size, root=root, ts=ts, key_id=cp.key_id, signature=cp.signature)
    )
    return cp


def checkpoint_now(
    conn: Connection, signer: Signer, *, force: bool = False, policy: CheckpointPolicy | None = None
) -> Checkpoint | None:
    """Sign the current tree head if it has grown since the last checkpoint (or the interval passed)."""
    head = _lock_head(conn)
    if head.size == head.checkpoint_size:
        return None
    if not force and policy is not None and time.time() - head.checkpoint_at < policy.interval_s:
        return None
    cp = _sign(conn, signer, head.size, merkle.frontier_root(merkle.unpack(head.frontier)))
    conn.execute(
        sa.update(audit_head)
        .where(audit_head.c.id == 1)
        .values(checkpoint_size=head.size, checkpoint_at=time.time())
    )
    return cp


def append_one(
    engine: Engine, entry: Entry, *, signer: Signer | None, anchor: AnchorFile | None = None
) -> int:
    """Append a single entry in its own transaction (admin actions from the CLI)."""
    with engine.begin() as conn:
        res = append_entries(conn, [entry], signer=signer)
    if res.checkpoint and anchor:
        anchor.write(res.checkpoint)
    return res.last_seq


# --- anchor file ------------------------------------------------------------------------------------


class AnchorFile:
    """Append-only JSON-lines copy of every checkpoint, kept where the database admin cannot rewrite it
    (a separate disk, a write-once bucket sync, a git repository): §9 "export the checkpoint"."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, cp: Checkpoint) -> None:
        line = (json.dumps(cp.to_json(), sort_keys=True) + "\n").encode()
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # O_NONBLOCK: opening a FIFO with no reader fails (ENXIO) instead of blocking the
                # audit writer; a device or folder is refused below.
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
                fd = os.open(self.path, flags, 0o644)
            except OSError as exc:
                raise GatewayMisconfigured(
                    f"cannot append to the anchor file: {exc.strerror}", path=self.path
                ) from None
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise GatewayMisconfigured(
                        f"cannot append to the anchor file: {NOT_REGULAR}", path=self.path
                    )
                # One write() of a short line with O_APPEND: lines from several processes do not interleave.
                os.write(fd, line)
            except OSError as exc:
                raise GatewayMisconfigured(
                    f"cannot append to the anchor file: {exc.strerror}", path=self.path
                ) from None
            finally:
                os.close(fd)

    def read(self) -> list[Checkpoint]:
        return read_anchors(self.path)


def read_anchors(path: Path) -> list[Checkpoint]:
    if not path.exists() and not path.is_symlink():
        return []  # no checkpoint anchored yet
    out = []
    for n, line in read_lines(path, what="the anchor file", max_line=MAX_ANCHOR_LINE_BYTES):
        if not line.strip():
            continue
        try:
            out.append(Checkpoint.from_json(json.loads(line)))
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise GatewayInvalid(f"line {n}: not a checkpoint record ({reason})", path=path) from None
        except GatewayError as exc:
            raise GatewayInvalid(f"line {n}: not a checkpoint record ({exc})", path=path) from None
    return out


# --- group-commit writer ---------------------------------------------------------------------------


def _unreachable(exc: BaseException) -> bool:
    """The database itself failed (down, locked, connection lost): every entry would fail alike."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | OSError | TimeoutError)


class AuditWriter:
    """Batches entries from concurrent requests into one transaction; resolves each entry's future
    with its sequence number once the batch is committed.

    While one batch is being committed the next one accumulates, so batch size adapts to load with
    no timer: one entry per commit when idle, hundreds under load.

    SQLite: a commit is ~0.2 ms of CPU in this process, and handing it to a thread cost more than
    that (measured: 0.25 ms per append with asyncio, 0.5 ms with uvloop, vs 0.19 ms inline). So
    batches are committed inline on a dedicated connection that never waits for a lock
    (busy_timeout 0): if another process holds SQLite's write lock, that batch goes to the thread,
    which waits as long as the engine allows. WAL checkpoints (the only fsyncs in WAL mode with
    synchronous=NORMAL) run in the thread every second, never on the event loop.
    PostgreSQL: always the thread (a network round trip).
    """

    MAX_BATCH = 2000

    def __init__(
        self,
        engine: Engine,
        *,
        signer: Signer | None,
        policy: CheckpointPolicy,
        anchor: AnchorFile | None,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.policy = policy
        self.anchor = anchor
        self._queue: asyncio.Queue[tuple[Entry, asyncio.Future[int]] | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mw-audit")
        self._task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._wal: asyncio.Task[None] | None = None
        self.inline = engine.dialect.name == "sqlite"
        self._inline_conn: Connection | None = None
        self.batches = 0
        self.entries = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")
        if self.signer is not None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="audit-checkpoints")
        if self.inline:
            self._wal = asyncio.get_running_loop().create_task(self._wal_checkpoints(), name="sqlite-wal")

    def submit(self, entry: Entry) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        try:
            entry.prepare()
        except (ValueError, TypeError, RecursionError) as exc:
            # Refused here, for this entry alone: it never joins (and never fails) a batch.
            log.error("audit entry %s cannot be encoded: %s", entry.action, exc)
            fut.set_exception(AuditUnavailable(f"audit entry cannot be encoded ({exc.__class__.__name__})"))
            return fut
        self._queue.put_nowait((entry, fut))
        return fut

    async def append(self, entry: Entry) -> int:
        return await self.submit(entry)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is None:  # stop after this batch
                    stopping = True
                    break
                batch.append(nxt)
            await self._commit(loop, batch)

    async def _commit(
        self, loop: asyncio.AbstractEventLoop, batch: list[tuple[Entry, asyncio.Future[int]]]
    ) -> None:
        """Commit a batch; if it fails for a reason other than the database being unreachable,
        commit its halves separately, so one entry the database refuses fails only itself."""
        entries = [e for e, _ in batch]
        try:
            res = None
            if self.inline:
                res = self._try_inline(entries)
            if res is None:
                res = await loop.run_in_executor(self._executor, self._write, entries)
        except Exception as exc:
            if len(batch) > 1 and not _unreachable(exc):
                half = len(batch) // 2
                await self._commit(loop, batch[:half])
                await self._commit(loop, batch[half:])
                return
            log.error("audit append failed: %s", exc)
            err = AuditUnavailable(f"audit log unavailable: {exc.__class__.__name__}")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            return
        for i, (_, fut) in enumerate(batch):
            if not fut.done():
                fut.set_result(res.first_seq + i)

    def _try_inline(self, entries: list[Entry]) -> AppendResult | None:
        """Commit on the loop's own connection; None if another writer holds the lock right now."""
        try:
            if self._inline_conn is None:
                conn = self.engine.connect()
                conn.exec_driver_sql("PRAGMA busy_timeout = 0")
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
                conn.commit()
                self._inline_conn = conn
            with self._inline_conn.begin():
                res = append_entries(self._inline_conn, entries, signer=self.signer, policy=self.policy)
        except sa.exc.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return None
            self._drop_inline()
            raise
        self.batches += 1
        self.entries += len(entries)
        if res.checkpoint and self.anchor:
            self._anchor(res.checkpoint)
        return res

    def _drop_inline(self) -> None:
        if self._inline_conn is not None:
            with contextlib.suppress(Exception):
                self._inline_conn.close()
            self._inline_conn = None

    async def _wal_checkpoints(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await loop.run_in_executor(self._executor, self._wal_checkpoint)

    def _wal_checkpoint(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def _write(self, entries: list[Entry]) -> AppendResult:
        with self.engine.begin() as conn:
            res = append_entries(conn, entries, signer=self.signer, policy=self.policy)
        self.batches += 1
        self.entries += len(entries)
        if res.checkpoint and self.anchor:
            self._anchor(res.checkpoint)
        return res

    def _anchor(self, cp: Checkpoint) -> None:
        assert self.anchor is not None
        try:
            self.anchor.write(cp)
        except GatewayError as exc:  # the checkpoint is in the database; the operator must fix the anchor
            log.error("checkpoint %d is not anchored: %s", cp.size, exc.message)

    async def _tick(self) -> None:
        # Time-based checkpoints, so a quiet log still gets its latest entries signed.
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.policy.interval_s, 5.0))
            with contextlib.suppress(Exception):
                await loop.run_in_executor(self._executor, self._checkpoint_if_due)

    def _checkpoint_if_due(self) -> None:
        assert self.signer is not None
        with self.engine.begin() as conn:
            cp = checkpoint_now(conn, self.signer, policy=self.policy)
        if cp and self.anchor:
            self._anchor(cp)

    async def stop(self) -> None:
        """Write everything queued, then stop."""
        for task in (self._ticker, self._wal):
            if task:
                task.cancel()
        if self._task:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)
        self._drop_inline()


# --- reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    seq: int
    ts: str
    actor: str
    action: str
    subject: str | None
    body: str
    prev_hash: bytes
    entry_hash: bytes

    def body_json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body)
        except json.JSONDecodeError:
            return {"_unparseable": self.body}
        return value if isinstance(value, dict) else {"_value": value}

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "body": self.body_json(),
            "prev_hash": self.prev_hash.hex(),
            "entry_hash": self.entry_hash.hex(),
        }


def _row(r: Any) -> AuditRow:
    return AuditRow(
        r.seq, r.ts, r.actor, r.action, r.subject, r.body, bytes(r.prev_hash), bytes(r.entry_hash)
    )


def iter_rows(conn: Connection, *, chunk: int = 5000) -> Iterator[AuditRow]:
    """All entries in seq order, read in keyset pages (bounded memory for any log size)."""
    last = -1
    while True:
        page = conn.execute(
            sa.select(audit).where(audit.c.seq > last).order_by(audit.c.seq).limit(chunk)
        ).all()
        if not page:
            return
        for r in page:
            yield _row(r)
        last = page[-1].seq


def tail(
    conn: Connection, n: int, *, action: str | None = None, subject: str | None = None
) -> list[AuditRow]:
    q = sa.select(audit).order_by(audit.c.seq.desc()).limit(n)
    if action:
        q = (
            q.where(audit.c.action == action)
            if not action.endswith("*")
            else q.where(audit.c.action.startswith(action[:-1]))
        )
    if subject:
        q = q.where(audit.c.subject == subject)
    return [_row(r) for r in reversed(conn.execute(q).all())]


def rows_by_seq(conn: Connection, seqs: Iterable[int]) -> list[AuditRow]:
    wanted = sorted(set(seqs))
    out: list[AuditRow] = []
    for i in range(0, len(wanted), 500):
        part = wanted[i : i + 500]
        out += [
            _row(r) for r in conn.execute(sa.select(audit).where(audit.c.seq.in_(part)).order_by(audit.c.seq))
        ]
    return out


def leaf_hashes(conn: Connection, size: int) -> list[bytes]:
    """The stored entry hashes 1..size (the Merkle leaves), for inclusion proofs."""
    out: list[bytes] = []
    last = 0
    while len(out) < size:
        page = conn.execute(
            sa.select(audit.c.seq, audit.c.entry_hash)
            .where(audit.c.seq > last, audit.c.seq <= size)
            .order_by(audit.c.seq)
            .limit(20000)
        ).all()
        if not page:
            break
        out += [bytes(r.entry_hash) for r in page]
        last = page[-1].seq
    if len(out) != size:
        raise GatewayConflict(f"the audit log has {len(out)} of the {size} entries a checkpoint covers")
    return out


def list_checkpoints(conn: Connection) -> list[Checkpoint]:
    return [
        Checkpoint(r.size, bytes(r.root), r.ts, r.key_id, bytes(r.signature))
        for r in conn.execute(sa.select(checkpoints).order_by(checkpoints.c.size))
    ]


def covering_checkpoint(conn: Connection, seq: int) -> Checkpoint | None:
    r = conn.execute(
        sa.select(checkpoints).where(checkpoints.c.size >= seq).order_by(checkpoints.c.size.desc()).limit(1)
    ).first()
    return Checkpoint(r.size, bytes(r.root), r.ts, r.key_id, bytes(r.signature)) if r else None


# --- verification --------------------------------------------------------------------------------


@dataclass
class Finding:
    seq: int | None
    kind: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "detail": self.detail}


@dataclass
class VerifyReport:
    entries: int = 0
    checkpoints: int = 0
    anchors: int = 0
    last_anchored_size: int = 0
    findings: list[Finding] = field(default_factory=list)
    #: Intact entries written with canonicalisation version 1 (before RFC 8785).
    legacy_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [f.seq for f in self.findings if f.seq is not None]
        return min(seqs) if seqs else None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints_verified": self.checkpoints,
            "anchors_verified": self.anchors,
            "last_anchored_size": self.last_anchored_size,
            "legacy_entries": self.legacy_entries,
            "first_bad_seq": self.first_bad_seq,
            "findings": [f.to_json() for f in self.findings],
        }


def verify(
    conn: Connection,
    *,
    public_key: Ed25519PublicKey | None,
    anchors: Sequence[Checkpoint] = (),
) -> VerifyReport:
    """Recompute the chain, the Merkle roots at every checkpoint, the signatures, and the agreement
    with the external anchors (§9 verifier steps 1–5); report every problem with its first seq."""
    rep = VerifyReport()
    db_cps = list_checkpoints(conn)
    by_size: dict[int, list[tuple[str, Checkpoint]]] = {}
    for cp in db_cps:
        by_size.setdefault(cp.size, []).append(("checkpoint", cp))
    for cp in anchors:
        by_size.setdefault(cp.size, []).append(("anchor", cp))
    key_id = public_key_id(public_key) if public_key else None

    expected = 1
    prev = GENESIS
    prev_intact = True
    suspect: int | None = None
    frontier: list[bytes] = []
    size = 0
    for row in iter_rows(conn):
        if row.seq != expected:
            if row.seq > expected:
                rep.findings.append(
                    Finding(expected, "missing", f"entries {expected}–{row.seq - 1} are missing (deleted)")
                )
            else:
                rep.findings.append(Finding(row.seq, "order", f"entry {row.seq} appears out of order"))
        canon, recomputed = entry_version(
            row.entry_hash, row.prev_hash, row.seq, row.ts, row.actor, row.action, row.subject, row.body
        )
        if canon == CANON_LEGACY:
            rep.legacy_entries += 1
        broken = row.prev_hash != prev
        if suspect is not None:
            # The link broke before the previous entry. If it breaks again here, the previous entry
            # itself was rewritten (its link and its hash); otherwise the one before it was.
            rep.findings.append(
                _rehashed(row.seq - 1 if broken and recomputed == row.entry_hash else suspect)
            )
            suspect = None
        if broken:
            if row.seq == expected and prev_intact and size and recomputed == row.entry_hash:
                # Both this entry and the one before match their own hashes, and the one before links
                # to its predecessor, yet this entry recorded a different hash for it: one of the two
                # was rewritten with its hash recomputed (decided at the next entry).
                suspect = row.seq - 1
            rep.findings.append(
                Finding(
                    row.seq,
                    "link",
                    f"entry {row.seq} does not link to the entry before it "
                    "(an entry was edited, deleted, inserted or moved)",
                )
            )
        if recomputed != row.entry_hash:
            rep.findings.append(
                Finding(row.seq, "edited", f"entry {row.seq}'s content does not match its hash")
            )
        prev_intact = recomputed == row.entry_hash and row.prev_hash == prev
        # The tree is built from what the content says the hashes are, so an edit whose stored hash
        # was also rewritten still changes every later root.
        frontier = merkle.frontier_append(frontier, size, recomputed)
        size += 1
        prev = row.entry_hash
        expected = row.seq + 1
        if size in by_size:
            _check_roots(rep, by_size.pop(size), merkle.frontier_root(frontier), row.seq)
    if suspect is not None:
        rep.findings.append(_rehashed(suspect))
    rep.entries = size

    for _size, items in sorted(by_size.items()):
        for source, cp in items:
            rep.findings.append(
                Finding(
                    size + 1 if size < cp.size else None,
                    "truncated",
                    f"{source} of size {cp.size} covers more entries than the log holds ({size}): "
                    "entries were deleted from the end",
                )
            )

    for cp in db_cps:
        if public_key is not None:
            if cp.key_id != key_id or not verify_checkpoint(
                public_key, cp.size, cp.root, cp.ts, cp.signature
            ):
                rep.findings.append(
                    Finding(None, "signature", f"checkpoint {cp.size} has no valid signature")
                )
            else:
                rep.checkpoints += 1
    db_index = {(cp.size, cp.root) for cp in db_cps}
    for cp in anchors:
        if public_key is not None and not verify_checkpoint(
            public_key, cp.size, cp.root, cp.ts, cp.signature
        ):
            rep.findings.append(
                Finding(None, "signature", f"anchored checkpoint {cp.size} has no valid signature")
            )
            continue
        if (cp.size, cp.root) not in db_index:
            rep.findings.append(
                Finding(
                    None,
                    "checkpoint",
                    f"anchored checkpoint {cp.size} is missing from or differs in the database",
                )
            )
        rep.anchors += 1
        rep.last_anchored_size = max(rep.last_anchored_size, cp.size)

    head = conn.execute(sa.select(audit_head).where(audit_head.c.id == 1)).one()
    if head.size != size or (size and bytes(head.head_hash) != prev):
        rep.findings.append(Finding(None, "head", f"head row says {head.size} entries; the log holds {size}"))
    rep.findings.sort(key=lambda f: (f.seq is None, f.seq or 0))
    return rep


def _rehashed(seq: int) -> Finding:
    return Finding(
        seq,
        "edited",
        f"entry {seq} was rewritten and its hash recomputed: the next entry recorded a different hash for it",
    )


def _check_roots(rep: VerifyReport, items: list[tuple[str, Checkpoint]], root: bytes, seq: int) -> None:
    for source, cp in items:
        if cp.root != root:
            rep.findings.append(
                Finding(
                    seq,
                    "root",
                    f"{source} of size {cp.size}: the entries no longer produce the signed root "
                    "(history up to this point was rewritten)",
                )
            )
