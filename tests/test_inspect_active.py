"""Active parameters both ways (issue 17): with the input embedding (ours) and without (DeepSeek,
Kimi, gpt-oss), the convention named in the JSON and the text report."""

from __future__ import annotations

import json
from pathlib import Path

from modelwarden.facts import inspect_path
from tests.support.cli import run_cli
from tests.support.models import MIXTRAL_8X7B, llama_tensors, write_config, write_sharded

# Mixtral-8x7B: 12,879,925,248 active with its 32,000 × 4,096 input embedding (Mistral's "12.9B").
ACTIVE = 12_879_925_248
EMBEDDING = 32_000 * 4_096


def _mixtral(tmp_path: Path) -> Path:
    write_config(tmp_path, MIXTRAL_8X7B)
    write_sharded(tmp_path, llama_tensors(MIXTRAL_8X7B), 2)
    return tmp_path


def test_facts_carry_both_figures(tmp_path: Path) -> None:
    pc = inspect_path(_mixtral(tmp_path)).parameters
    assert pc.active == ACTIVE
    assert pc.input_embedding == EMBEDDING
    assert pc.active_without_input_embedding == ACTIVE - EMBEDDING


def test_json_and_text_name_the_convention(tmp_path: Path) -> None:
    root = _mixtral(tmp_path)
    done = run_cli("inspect", str(root), "--format", "json")
    assert done.returncode == 0, done.stderr
    params = json.loads(done.stdout)["parameters"]
    assert params["active"] == ACTIVE
    assert params["active_without_input_embedding"] == ACTIVE - EMBEDDING
    assert params["active_convention"] == "input embedding included"
    text = run_cli("inspect", str(root)).stdout
    assert f"{ACTIVE:,}" in text and "with the input embedding" in text
    assert f"{ACTIVE - EMBEDDING:,}" in text


def test_a_dense_model_has_no_active_figure_but_knows_its_lookup(tmp_path: Path) -> None:
    dense = {**MIXTRAL_8X7B, "model_type": "mistral", "architectures": ["MistralForCausalLM"]}
    for key in ("num_local_experts", "num_experts_per_tok"):
        dense.pop(key, None)
    write_config(tmp_path, dense)
    write_sharded(tmp_path, llama_tensors(dense), 1)
    pc = inspect_path(tmp_path).parameters
    assert pc.active is None and pc.active_without_input_embedding is None
    assert pc.input_embedding == EMBEDDING


def test_a_manifest_beside_the_files_that_disagrees_is_recorded_once(tmp_path: Path) -> None:
    root = _mixtral(tmp_path)
    (root / "modelwarden.yaml").write_text("model: {parameters: 40000000000}\n", encoding="utf-8")
    done = run_cli("inspect", str(root), "--format", "json")
    assert done.returncode == 0, done.stderr
    params = json.loads(done.stdout)["parameters"]
    assert params["total"] == 46_702_792_704  # counted beats declared
    [d] = params["disagreements"]
    assert (d["field"], d["files"], d["manifest"], d["used"]) == (
        "total",
        46_702_792_704,
        40_000_000_000,
        "files",
    )
    assert d["manifest_provenance"]["field"] == "model.parameters"
    text = run_cli("inspect", str(root)).stdout
    assert text.count("declares 40,000,000,000 parameters") == 1
