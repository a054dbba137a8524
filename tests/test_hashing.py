"""Parallel SHA-256 agrees with hashlib on every file and reports progress in bytes."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from modelwarden.hashing import CHUNK, hash_files, sha256_file


def test_parallel_digests_and_progress(tmp_path: Path) -> None:
    sizes = [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 17, 123_457]
    paths = []
    for i, size in enumerate(sizes):
        p = tmp_path / f"f{i}"
        p.write_bytes(os.urandom(size))
        paths.append(p)
    seen: list[int] = []
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            seen.append(n)

    digests = hash_files(paths, advance=advance, workers=3)
    assert digests == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert sum(seen) == sum(sizes)


def test_unreadable_file_gives_an_error_not_an_exception(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_bytes(b"x")
    gone = tmp_path / "gone"
    result = hash_files([good, gone])
    assert result[good] == sha256_file(good)
    assert isinstance(result[gone], OSError)
