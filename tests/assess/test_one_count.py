"""One parameter count for every stage (issue 17): files and manifest disagreeing are decided once,
the disagreement is recorded with both provenances, and compute, the rules context, the drafts and
the registry all see the same figure."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from tests.support.models import LLAMA2_7B, MIXTRAL_8X7B, llama_tensors, write_config, write_sharded

from modelwarden.assess.drafts import build_drafts
from modelwarden.assess.run import Inputs, build_assessment
from modelwarden.manifest import load_manifest
from modelwarden.model import Assessment, Source
from modelwarden.registry.summary import columns
from modelwarden.rules.context import build_context, model_parameters

# Llama-2-7B shapes with Llama 3's 128,256-token vocabulary and 14,336 MLP: 8,030,261,248 (Llama 3.1 8B).
LLAMA31_8B = {**LLAMA2_7B, "vocab_size": 128_256, "intermediate_size": 14_336, "num_key_value_heads": 8}
FILES = 8_030_261_248


def _release(tmp_path: Path, manifest: str, config: dict[str, object] = LLAMA31_8B) -> Inputs:
    root = tmp_path / "model"
    write_config(root, dict(config))
    write_sharded(root, llama_tensors(dict(config)), 2)
    path = tmp_path / "modelwarden.yaml"
    path.write_text(manifest, encoding="utf-8")
    from modelwarden.facts.gather import inspect_path

    return Inputs(inspect_path(root), load_manifest(path), path)


def _assess(inputs: Inputs) -> Assessment:
    return build_assessment(inputs, as_of=dt.date(2026, 12, 5), scan=False)


def test_eight_billion_in_the_files_seven_in_the_manifest_is_one_decision(tmp_path: Path) -> None:
    inputs = _release(tmp_path, "model: {parameters: 7000000000}\ntraining: {tokens: 1.5e13}\n")
    a = _assess(inputs)
    assert a.parameters is not None and a.parameters.total == FILES
    [d] = a.parameters.disagreements
    assert (d.field, d.files, d.manifest, d.used) == ("total", FILES, 7_000_000_000, "files")
    assert d.manifest_provenance.source is Source.MANIFEST
    assert d.manifest_provenance.field == "model.parameters"
    assert d.files_provenance is not None and d.files_provenance.source is Source.TENSORS
    assert d.relative == pytest.approx(7e9 / FILES - 1)
    # Compute, the policies' context, the drafts and the registry all see the files' 8.03B.
    assert any(
        "declares 7,000,000,000 parameters; the files give 8,030,261,248" in w for w in a.compute.warnings
    )
    ctx = build_context(a.as_of, inputs.facts, inputs.manifest, a.compute, a.openness)
    assert ctx["model"]["parameters"] == FILES
    assert columns(a).parameters == FILES
    params = next(
        i
        for d in build_drafts(a, inputs.manifest)
        for s in d.sections
        for i in s.items
        if i.label == "Number of parameters"
    )
    assert params.value is not None and params.value.startswith(f"{FILES:,} total")
    assert "the manifest declares 7,000,000,000" in params.value


def test_within_the_tolerance_nothing_is_recorded(tmp_path: Path) -> None:
    a = _assess(_release(tmp_path, "model: {parameters: 8030000000}\n"))
    assert a.parameters is not None and a.parameters.disagreements == []


def test_manifest_only_the_declared_figure_is_used_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("model: {parameters: 7000000000}\ntraining: {tokens: 1e12}\n", encoding="utf-8")
    inputs = Inputs(None, load_manifest(path), path)
    a = _assess(inputs)
    assert a.parameters is not None and a.parameters.total == 7_000_000_000
    assert a.parameters.source == "manifest"
    assert model_parameters(None, inputs.manifest) == 7_000_000_000
    assert columns(a).parameters == 7_000_000_000


def test_a_vendor_active_figure_without_the_embedding_is_not_a_disagreement(tmp_path: Path) -> None:
    # Mixtral: 12,879,925,248 active with the input embedding, 12,748,853,248 without.
    a = _assess(_release(tmp_path, "model: {active_parameters: 12748853248}\n", MIXTRAL_8X7B))
    assert a.parameters is not None
    assert a.parameters.active == 12_879_925_248
    assert a.parameters.disagreements == []


def test_a_manifest_active_count_fills_what_the_files_do_not_say(tmp_path: Path) -> None:
    config = {k: v for k, v in MIXTRAL_8X7B.items() if k != "num_experts_per_tok"}
    a = _assess(
        _release(tmp_path, "model: {active_parameters: 12879925248}\ntraining: {tokens: 1e12}\n", config)
    )
    assert a.parameters is not None
    assert a.parameters.active == 12_879_925_248 and a.parameters.active_source == "manifest"
    assert not any("only its total parameters" in w for w in a.compute.warnings)
    assert a.compute.parameters_used is not None and a.compute.parameters_used < 13e9


def test_the_assessment_json_carries_the_decision(tmp_path: Path) -> None:
    a = _assess(_release(tmp_path, "model: {parameters: 7000000000}\n"))
    data = json.loads(a.model_dump_json())
    assert data["parameters"]["total"] == FILES
    assert data["parameters"]["disagreements"][0]["manifest"] == 7_000_000_000


def test_an_active_count_declared_for_a_dense_model_is_a_disagreement_not_a_fill(tmp_path: Path) -> None:
    a = _assess(_release(tmp_path, "model: {active_parameters: 3000000000}\ntraining: {tokens: 1e12}\n"))
    assert a.parameters is not None
    assert a.parameters.active is None  # dense: every parameter runs
    [d] = a.parameters.disagreements
    assert (d.field, d.files, d.manifest) == ("active", FILES, 3_000_000_000)
    assert a.compute.parameters_used is not None and a.compute.parameters_used > 7e9


def test_an_active_count_above_the_files_total_is_not_taken(tmp_path: Path) -> None:
    config = {k: v for k, v in MIXTRAL_8X7B.items() if k != "num_experts_per_tok"}
    a = _assess(_release(tmp_path, "model: {active_parameters: 90000000000}\n", config))
    assert a.parameters is not None and a.parameters.active is None
    assert [d.field for d in a.parameters.disagreements] == ["active"]
