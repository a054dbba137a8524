"""The commands' `--remote` option end to end: a child `modelwarden` process against the local hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.hub.server import LocalHub


def run_remote(hub: LocalHub, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m modelwarden ARGS` with HF_ENDPOINT naming the local hub (the child's environment)."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    return subprocess.run(
        [sys.executable, "-m", "modelwarden", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**child, "COLUMNS": "250", "HF_ENDPOINT": hub.endpoint, **env},
        stdin=subprocess.DEVNULL,
    )


def test_inspect_remote_json(hub: LocalHub, repos: dict[str, Path]) -> None:
    r = run_remote(hub, "inspect", "hf://org/sharded", "--remote", "-f", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    local = json.loads(run_remote(hub, "inspect", repos["org/sharded"], "-f", "json").stdout)
    assert doc["parameters"] == local["parameters"]
    assert doc["remote"]["repo_id"] == "org/sharded"
    assert 0 < doc["remote"]["bytes_read"] < doc["remote"]["bytes_held"] / 50
    assert "remote" not in local  # local reports are unchanged
    assert "read " in r.stderr and "bytes" in r.stderr


def test_without_remote_stays_offline(hub: LocalHub) -> None:
    before = len(hub.requests)
    r = run_remote(hub, "inspect", "org/sharded", "-f", "json", HF_HUB_OFFLINE="1", HF_HOME="/nonexistent")
    assert r.returncode == 2
    assert "local Hugging Face cache" in r.stderr
    assert len(hub.requests) == before  # no request without --remote


def test_scan_remote_exit_codes(hub: LocalHub) -> None:
    bad = run_remote(hub, "scan", "hf://org/torch-model", "--remote", "-f", "json")
    assert bad.returncode == 1, bad.stderr
    doc = json.loads(bad.stdout)
    assert any(f["file"].endswith("/evil.pkl") and f["severity"] == "critical" for f in doc["findings"])
    good = run_remote(hub, "scan", "hf://org/gguf-model", "--remote")
    assert good.returncode == 0, good.stdout + good.stderr


def test_assess_and_openness_remote(hub: LocalHub) -> None:
    r = run_remote(hub, "assess", "hf://org/sharded", "--remote", "-f", "json", "--as-of", "2026-12-01")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["facts"]["remote"]["repo_id"] == "org/sharded"
    assert doc["scan"] is not None and doc["scan"]["files"]
    o = run_remote(hub, "openness", "hf://org/sharded", "--remote", "-f", "json")
    assert o.returncode == 0, o.stderr
    assert "apache-2.0" in o.stdout


def test_unknown_repo_is_a_clear_error(hub: LocalHub) -> None:
    r = run_remote(hub, "inspect", "hf://org/absent", "--remote")
    assert r.returncode != 0
    assert "org/absent" in r.stderr and "Traceback" not in r.stderr
