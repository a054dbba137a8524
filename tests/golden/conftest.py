"""The golden tests' workspace: inputs built once per session, and the command run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.golden.inputs import AS_OF, PLAN, build, fixed_document

ENV = {**os.environ, "COLUMNS": "120", "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
for _var in ("FORCE_COLOR", "TTY_COMPATIBLE"):
    ENV.pop(_var, None)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("golden")
    build(root)
    return root


def run(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelwarden", *args],
        capture_output=True,
        text=True,
        cwd=workspace,
        env=ENV,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


@pytest.fixture(scope="session")
def registry(workspace: Path) -> Iterator[str]:
    """A SQLite registry holding the two assessments, with their clock and version pinned."""
    db = f"sqlite:///{workspace / 'registry.sqlite3'}"
    for i, source in enumerate((("--manifest", str(PLAN)), ("tiny-llama",)), start=1):
        done = run(workspace, "assess", *source, "--as-of", AS_OF, "--format", "json")
        assert done.returncode == 0, done.stderr
        doc = workspace / f"assessment-{i}.json"
        doc.write_text(fixed_document(done.stdout, workspace), encoding="utf-8")
        imported = run(workspace, "registry", "import", str(doc), "--db", db)
        assert imported.returncode == 0, imported.stderr
    yield db
