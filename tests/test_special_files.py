"""FIFOs, sockets and devices under the names a release uses: every command reports them and none
blocks (opening a FIFO for reading waits for a writer forever)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from modelwarden.errors import ManifestError
from modelwarden.manifest import load_manifest
from modelwarden.untrusted.io import open_regular
from tests.support.cli import run_cli


@pytest.fixture()
def release(tmp_path: Path, minilm_dir: Path) -> Path:
    folder = tmp_path / "release"
    folder.mkdir()
    shutil.copy(minilm_dir / "model.safetensors", folder)
    for name in ("config.json", "README.md", "tokenizer.json", "LICENSE"):
        os.mkfifo(folder / name)
    return folder


def test_open_regular_refuses_fifos_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(OSError, match="not a regular file"):
        open_regular(tmp_path / "pipe")
    with pytest.raises(OSError, match="not a regular file"):
        open_regular("/dev/null")
    (tmp_path / "ok").write_bytes(b"x")
    with open_regular(tmp_path / "ok") as fh:
        assert fh.read() == b"x"


def test_inspect_reports_fifos_by_name(release: Path) -> None:
    done = run_cli("inspect", release)
    out = done.stdout + done.stderr
    assert "22,713,216" in out  # the real weights are still counted
    for name in ("README.md", "tokenizer.json", "LICENSE"):
        assert f"{name}: cannot be read (not a regular file" in out
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["openness", "assess"])
def test_stages_reading_cards_and_configs_do_not_block(release: Path, command: str) -> None:
    done = run_cli(command, release, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_a_fifo_manifest_is_an_error_not_ignored(release: Path) -> None:
    os.mkfifo(release / "modelwarden.yaml")
    with pytest.raises(ManifestError, match="not a regular file"):
        load_manifest(release / "modelwarden.yaml")
    done = run_cli("assess", release)
    assert done.returncode == 2 and "modelwarden.yaml" in done.stderr and "not a regular file" in done.stderr
