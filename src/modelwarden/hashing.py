"""SHA-256 of release files, in parallel, at the speed of the disk.

`hashlib` (OpenSSL, SHA extensions where the CPU has them) releases the GIL while it digests a
buffer and `readinto` releases it while it reads, so one thread per file keeps every core busy and a
single large file is hashed as fast as `sha256sum` does it. Buffers are reused (no allocation per
chunk). Progress is reported in bytes through a callback, so the CLI can draw a bar on stderr.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from modelwarden.safe_io import open_regular

CHUNK = 1 << 20  # 1 MiB: large enough to amortise calls, small enough to stay in cache

Advance = Callable[[int], None]


def sha256_file(path: Path, advance: Advance | None = None) -> str:
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


def hash_files(
    paths: Sequence[Path], *, advance: Advance | None = None, workers: int | None = None
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
            return path, sha256_file(path, advance)
        except OSError as exc:
            return path, exc

    if count == 1:
        return dict(one(p) for p in order)
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="sha256") as pool:
        results.update(pool.map(one, order))
    return results


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
