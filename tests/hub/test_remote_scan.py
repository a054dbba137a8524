"""scan over HTTP: the same findings and verdicts as scanning the same files locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwarden.hub import HubSettings, scan_remote
from modelwarden.records import ScanReport
from modelwarden.scan import scan_paths
from tests.hub.server import LocalHub


def findings_by_file(report: ScanReport, prefix: str) -> set[tuple[str, str, str, str | None]]:
    """(file relative to the release, rule, severity, entry) of every finding."""
    return {
        (f.file.removeprefix(prefix), f.rule_id, f.severity.value, f.location.entry) for f in report.findings
    }


@pytest.mark.parametrize(
    "repo_id",
    ["org/torch-model", "org/sharded", "org/gguf-model", "org/onnx-model", "org/keras-model", "org/polyglot"],
)
def test_remote_scan_equals_local(
    repo_id: str, repos: dict[str, Path], hub: LocalHub, settings: HubSettings
) -> None:
    folder = repos[repo_id]
    local = scan_paths([folder], hash_files=False)
    before = hub.bytes_for(repo_id)
    remote, read = scan_remote(f"hf://{repo_id}", settings)
    served = hub.bytes_for(repo_id) - before
    prefix = f"hf://{repo_id}@{read.commit}/"
    assert findings_by_file(remote, prefix) == findings_by_file(local, f"{folder}/")
    assert {(f.path.removeprefix(prefix), f.format, f.size) for f in remote.files} == {
        (f.path.removeprefix(f"{folder}/"), f.format, f.size) for f in local.files
    }
    assert read.bytes_read == served
    if repo_id == "org/keras-model":
        # The scan checks the CRC of every member of a generic zip, the weights member of a .keras
        # included (docs/hub.md "What the scan reads"): that reads it whole, once (the block cache and
        # direct reads never fetch a byte twice), never more than the repository.
        assert served <= read.bytes_held * 1.01, (served, read.bytes_held)
    else:
        assert served < read.bytes_held / 20, (served, read.bytes_held)


def test_malicious_pickle_found_remotely(settings: HubSettings) -> None:
    report, _read = scan_remote("hf://org/torch-model", settings)
    evil = [f for f in report.findings if f.file.endswith("/evil.pkl")]
    assert any(f.severity.value == "critical" for f in evil), evil
    assert any("system" in (f.message + str(f.evidence)) for f in evil)


def test_polyglot_payload_found_remotely(settings: HubSettings) -> None:
    """A zip appended to a safetensors file is read from the end, as torch.load would, over HTTP."""
    report, read = scan_remote("hf://org/polyglot", settings)
    hits = [f for f in report.findings if f.file.endswith("/model.safetensors")]
    assert any(f.severity.value == "critical" for f in hits), hits
    assert read.bytes_read < read.bytes_held / 20
