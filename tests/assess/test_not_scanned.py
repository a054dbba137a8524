"""A model that was not scanned says "not scanned" everywhere (issue 17): `assess org/name` used to
skip the scan silently and the dashboard then showed severity "none", as for a clean model."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelwarden.assess.run import Inputs, build_assessment, gather
from modelwarden.registry import Registry
from modelwarden.registry.display import severity
from modelwarden.registry.summary import NOT_SCANNED, columns
from modelwarden.report.assess import headline
from modelwarden.report.json import assessment_dict as to_json
from modelwarden.web import Settings, create_app

AS_OF = dt.date(2026, 12, 5)
# A protocol-0 pickle whose REDUCE would call os.system: written as bytes, never loaded.
EVIL = b"cos\nsystem\n(S'echo owned'\ntR."


def _fake_cache(cache: Path, repo: str, files: dict[str, bytes]) -> None:
    """huggingface_hub's layout: refs/main -> commit, snapshots/<commit>/<file> -> ../../blobs/<id>."""
    org, name = repo.split("/")
    root = cache / f"models--{org}--{name}"
    commit = "c0ffee" * 6 + "abcd"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True)
    (root / "blobs").mkdir()
    for i, (rel, data) in enumerate(files.items()):
        (root / "blobs" / f"blob{i}").write_bytes(data)
        os.symlink(os.path.relpath(root / "blobs" / f"blob{i}", snap), snap / rel)


@pytest.fixture
def hub_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    config = {
        "model_type": "gpt2",
        "n_embd": 8,
        "n_layer": 1,
        "n_head": 2,
        "vocab_size": 16,
        "n_positions": 8,
    }
    _fake_cache(cache, "acme/evil", {"config.json": json.dumps(config).encode(), "pytorch_model.bin": EVIL})
    return "acme/evil"


def test_a_hub_cache_id_is_scanned(hub_model: str) -> None:
    a = build_assessment(gather(hub_model, None), as_of=AS_OF)
    assert a.scan is not None and a.scan_status == "scanned"
    assert any(f.severity.value == "critical" for f in a.scan.findings)
    assert columns(a).worst_severity is not None


def _unscanned(tmp_path: Path) -> tuple[Inputs, object]:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pytorch_model.bin").write_bytes(EVIL)
    inputs = gather(str(tmp_path / "m"), None)
    return inputs, build_assessment(inputs, as_of=AS_OF, scan=False)


def test_not_scanned_is_said_in_text_json_and_registry_columns(tmp_path: Path) -> None:
    _, a = _unscanned(tmp_path)
    from modelwarden.model import Assessment

    assert isinstance(a, Assessment)
    assert a.scan is None and a.scan_status == "not scanned" and a.scan_skipped == "--no-scan"
    assert any(line.startswith("scan: not scanned") for line in headline(a))
    assert to_json(a)["scan_status"] == "not scanned"
    cols = columns(a)
    assert cols.findings == NOT_SCANNED and cols.worst_severity is None
    assert severity(None, NOT_SCANNED) == "not scanned"
    assert severity(None, 0) == "none"  # scanned and clean stays "none"


def test_a_manifest_only_assessment_is_not_scanned_either(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("model: {parameters: 1000000000}\n", encoding="utf-8")
    a = build_assessment(gather(None, plan), as_of=AS_OF)
    assert a.scan_status == "not scanned" and a.scan_skipped is not None and "manifest" in a.scan_skipped


def test_registry_and_dashboard_say_not_scanned(tmp_path: Path) -> None:
    _, a = _unscanned(tmp_path)
    from modelwarden.model import Assessment

    assert isinstance(a, Assessment)
    with Registry(f"sqlite:///{tmp_path / 'reg.sqlite3'}") as reg:
        ident = reg.save(a)
        summary = reg.summary(ident)
        assert summary.scan == "not scanned"
        assert json.loads(summary.model_dump_json())["scan"] == "not scanned"
        # The "no finding" filter means scanned and clean: an unscanned model is not in it.
        assert reg.list(severity="none").total == 0
        client = TestClient(
            create_app(reg, settings=Settings()), base_url="http://localhost", raise_server_exceptions=False
        )  # type: ignore[arg-type]
        try:
            index, detail = client.get("/"), client.get(f"/assessments/{ident}")
            assert index.status_code == 200 and detail.status_code == 200
            page, report = index.text, detail.text
        finally:
            client.close()
    assert "not scanned" in page and "sev-none" not in page
    assert "not scanned" in report


def test_the_headline_names_the_declared_sparse_total_and_the_n_used(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "model: {parameters: 671000000000, architecture: Mixture-of-Experts}\ntraining: {tokens: 1.48e13}\n",
        encoding="utf-8",
    )
    a = build_assessment(gather(None, plan), as_of=AS_OF)
    lines = headline(a)
    assert any(
        line.startswith("671,000,000,000 parameters, declared in the manifest; N = ") for line in lines
    )
    assert a.compute.thresholds["1e25"].value == "uncertain"


def test_a_hub_cache_id_s_config_reaches_the_compute_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    config = {"model_type": "mixtral", "num_local_experts": 8, "hidden_size": 4096}  # top-k not stated
    _fake_cache(cache, "acme/moe", {"config.json": json.dumps(config).encode()})
    plan = tmp_path / "plan.yaml"
    plan.write_text("model: {parameters: 46700000000}\ntraining: {tokens: 1e13}\n", encoding="utf-8")
    a = build_assessment(gather("acme/moe", plan), as_of=AS_OF)
    assert any("config.json num_local_experts = 8" in w for w in a.compute.warnings)
