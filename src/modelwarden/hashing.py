"""SHA-256 of release files, in parallel, at the speed of the disk.

`hashlib` (OpenSSL, SHA extensions where the CPU has them) releases the GIL while it digests a
buffer and `readinto` releases it while it reads, so one thread per file keeps every core busy and a
single large file is hashed as fast as `sha256sum` does it. Buffers are reused (no allocation per
chunk). Progress is reported in bytes through a callback, so the CLI can draw a bar on stderr.

Re-hashing an unchanged multi-gigabyte checkpoint on every run costs most of a scan's time, so digests
are kept in a cache (`HashCache`, SQLite in the user's cache folder) keyed by what identifies one
version of one file: device, inode, size, modification time and status-change time (ctime). The
ctime matters: a user can set a file's mtime back with `touch -d` after editing it, but not its ctime,
which the kernel moves on every write and every metadata change. A digest is stored only when the
file's identity was the same before and after it was read, so a file edited while being hashed is
never cached with a digest of bytes it no longer holds.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from modelwarden.untrusted.io import open_regular

CHUNK = 1 << 20  # 1 MiB: large enough to amortise calls, small enough to stay in cache

Advance = Callable[[int], None]


def sha256_file(path: Path, advance: Advance | None = None) -> str:
    """SHA-256 of a regular file, read in reused buffers; `advance` is told the bytes read."""
    import hashlib  # here: loading OpenSSL is wasted on a re-scan that the cache answers

    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open_regular(path) as fh:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while n := fh.readinto(buf):
            digest.update(view[:n])
            if advance is not None:
                advance(n)
    return digest.hexdigest()


# Identity of one version of one file: (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns).
FileKey = tuple[int, int, int, int, int]


def file_key(st: os.stat_result) -> FileKey:
    """What identifies one version of one file: device, inode, size, mtime and ctime."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def default_cache_dir() -> Path:
    """`MODELWARDEN_CACHE_DIR` when set, else the platform's user cache folder."""
    env = os.environ.get("MODELWARDEN_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("modelwarden"))


class HashCache:
    """SHA-256 digests of files already hashed, valid while the file's `FileKey` is unchanged.

    Every failure to use the cache (unwritable folder, damaged database, a database another user could
    write) turns it off for this run: the files are then hashed, never trusted to a doubtful cache.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.hits = 0
        """Digests answered from the cache in this run."""
        self.misses = 0
        """Digests computed in this run."""
        with contextlib.suppress(OSError, sqlite3.Error):
            self._db = self._open((folder or default_cache_dir()) / "sha256.sqlite3")

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection | None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # A cache someone else can write could hand us any digest for any file: refuse it.
        for p in (path.parent, path):
            if p.exists():
                st = p.lstat()
                if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                    return None
                if p is path and not stat.S_ISREG(st.st_mode):
                    return None
        db = sqlite3.connect(path, check_same_thread=False, timeout=5)
        # Write-ahead log, synced at checkpoints rather than at every commit: each digest stored was an
        # fsync (15-30 ms, more than scanning a small file), and a cache may lose its last entries in
        # a power cut (they are hashed again) but is never left inconsistent.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS digest (dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER,"
            " ctime_ns INTEGER, sha256 TEXT NOT NULL, PRIMARY KEY (dev, ino))"
        )
        db.commit()
        return db

    @property
    def enabled(self) -> bool:
        """Whether the cache database could be opened."""
        return self._db is not None

    def get(self, key: FileKey) -> str | None:
        """The cached digest for this version of the file, or None."""
        if self._db is None:
            return None
        with self._lock, contextlib.suppress(sqlite3.Error):
            row = self._db.execute(
                "SELECT size, mtime_ns, ctime_ns, sha256 FROM digest WHERE dev = ? AND ino = ?", key[:2]
            ).fetchone()
            if row is not None and tuple(row[:3]) == key[2:] and _is_digest(row[3]):
                return str(row[3])
        return None

    def put(self, key: FileKey, digest: str) -> None:
        """Remember a digest for this version of the file."""
        if self._db is None:
            return
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.execute("INSERT OR REPLACE INTO digest VALUES (?, ?, ?, ?, ?, ?)", (*key, digest))
            self._db.commit()

    def close(self) -> None:
        """Close the cache database."""
        if self._db is not None:
            with self._lock:
                self._db.close()
                self._db = None


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def cached_digest(path: Path, cache: HashCache) -> str | None:
    """The digest `cache` holds for this version of `path` (counted as a hit), or None."""
    if not cache.enabled:
        return None
    known = cache.get(file_key(path.stat()))
    if known is not None:
        cache.hits += 1
    return known


def cached_sha256(path: Path, cache: HashCache | None, advance: Advance | None = None) -> str:
    """SHA-256 of `path`, from `cache` when this version of the file was hashed before."""
    if cache is None or not cache.enabled:
        return sha256_file(path, advance)
    before = file_key(path.stat())
    known = cache.get(before)
    if known is not None:
        cache.hits += 1
        if advance is not None:
            advance(before[2])
        return known
    digest = sha256_file(path, advance)
    cache.misses += 1
    if file_key(path.stat()) == before:
        cache.put(before, digest)
    return digest


def hash_files(
    paths: Sequence[Path],
    *,
    advance: Advance | None = None,
    workers: int | None = None,
    cache: HashCache | None = None,
) -> dict[Path, str | OSError]:
    """SHA-256 of each path (an OSError in place of a digest for a file that cannot be read)."""
    results: dict[Path, str | OSError] = {}
    if not paths:
        return results
    count = workers or min(len(paths), max(2, os.cpu_count() or 2), 8)
    # Largest first, so the longest job does not start last.
    order = sorted(paths, key=_size, reverse=True)

    def one(path: Path) -> tuple[Path, str | OSError]:
        try:
            return path, cached_sha256(path, cache, advance)
        except OSError as exc:
            return path, exc

    if count == 1:
        return dict(one(p) for p in order)
    from concurrent.futures import ThreadPoolExecutor  # here: `scan --no-hash` imports this module

    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="sha256") as pool:
        results.update(pool.map(one, order))
    return results


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
