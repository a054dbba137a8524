"""The real all-MiniLM-L6-v2 snapshot: a benign release must come out clean, hashed and typed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from modelwarden.model import ArtifactFormat, Severity
from modelwarden.scan import scan_paths


def test_minilm_snapshot_has_no_finding_at_or_above_low(minilm_dir: Path) -> None:
    report = scan_paths([minilm_dir])
    assert report.problems == []
    assert [f for f in report.findings if f.severity.at_least(Severity.LOW)] == []
    by_name = {Path(f.path).name: f for f in report.files}
    assert by_name["model.safetensors"].format is ArtifactFormat.SAFETENSORS
    assert by_name["config.json"].format is ArtifactFormat.JSON
    weights = minilm_dir / "model.safetensors"
    assert by_name["model.safetensors"].sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert len(report.files) == sum(1 for p in minilm_dir.rglob("*") if p.is_file())
