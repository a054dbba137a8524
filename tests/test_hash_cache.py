"""The digest cache answers only for the exact version of a file it hashed, and is never trusted when
it could have been written by someone else or is damaged."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from modelwarden.hashing import HashCache, cached_sha256
from tests.support.cli import run_cli


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_unchanged_file_is_answered_from_the_cache(tmp_path: Path) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(os.urandom(100_000))
    first = HashCache(tmp_path / "cache")
    assert cached_sha256(f, first) == _sha(f)
    assert (first.hits, first.misses) == (0, 1)
    first.close()
    second = HashCache(tmp_path / "cache")
    assert cached_sha256(f, second) == _sha(f)
    assert (second.hits, second.misses) == (1, 0)


def test_edit_with_mtime_restored_is_not_served_from_the_cache(tmp_path: Path) -> None:
    """An attacker edits a checkpoint and sets its mtime back (`touch -d`): same size, same mtime.
    The ctime moved, so the cache must miss and the new bytes be hashed."""
    f = tmp_path / "w.bin"
    f.write_bytes(b"A" * 4096)
    st = f.stat()
    cache = HashCache(tmp_path / "cache")
    old = cached_sha256(f, cache)
    f.write_bytes(b"B" * 4096)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_mtime_ns == st.st_mtime_ns and f.stat().st_size == st.st_size
    new = cached_sha256(f, cache)
    assert new == _sha(f) != old
    assert cache.hits == 0


def test_replaced_file_is_rehashed(tmp_path: Path) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(b"one")
    cache = HashCache(tmp_path / "cache")
    cached_sha256(f, cache)
    (tmp_path / "new").write_bytes(b"two")
    (tmp_path / "new").replace(f)
    assert cached_sha256(f, cache) == _sha(f)
    assert cache.hits == 0


def test_cache_writable_by_others_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    f = tmp_path / "w.bin"
    f.write_bytes(b"x" * 10)
    HashCache(folder).close()
    (folder / "sha256.sqlite3").chmod(0o666)
    cache = HashCache(folder)
    assert not cache.enabled
    assert cached_sha256(f, cache) == _sha(f)


def test_forged_row_for_another_version_is_ignored(tmp_path: Path) -> None:
    """A row whose size/mtime/ctime do not match the file as it is now is never used."""
    import sqlite3

    folder = tmp_path / "cache"
    f = tmp_path / "w.bin"
    f.write_bytes(b"payload")
    HashCache(folder).close()
    st = f.stat()
    db = sqlite3.connect(folder / "sha256.sqlite3")
    db.execute(
        "INSERT INTO digest VALUES (?, ?, ?, ?, ?, ?)",
        (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns - 1, "0" * 64),
    )
    db.commit()
    db.close()
    cache = HashCache(folder)
    assert cached_sha256(f, cache) == _sha(f)
    assert cache.hits == 0


def test_damaged_cache_is_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    (folder / "sha256.sqlite3").write_bytes(b"not a database" * 100)
    f = tmp_path / "w.bin"
    f.write_bytes(b"x")
    cache = HashCache(folder)
    assert cached_sha256(f, cache) == _sha(f)


def test_scan_cli_reports_the_same_digest_from_the_cache(tmp_path: Path) -> None:
    f = tmp_path / "model.safetensors"
    header = json.dumps({"__metadata__": {}}).encode()
    f.write_bytes(len(header).to_bytes(8, "little") + header)
    runs = [run_cli("scan", f, "--format", "json") for _ in range(2)]
    digests = [json.loads(r.stdout)["files"][0]["sha256"] for r in runs]
    assert digests == [_sha(f), _sha(f)]
    no_cache = json.loads(run_cli("scan", f, "--format", "json", "--no-hash-cache").stdout)
    assert no_cache["files"][0]["sha256"] == _sha(f)
