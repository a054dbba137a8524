"""Adversarial review of issue 17: a mixture of experts declared by its model type or family name
(`deepseek_v3`, "DeepSeek-V3", `mixtral`...) with only its total is still a sparse total."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwarden.compute import estimate_compute
from modelwarden.compute.hardware import sparsity
from modelwarden.manifest import parse_manifest
from modelwarden.model import ThresholdCall as C


@pytest.mark.parametrize(
    "architecture",
    [
        "deepseek_v3",
        "DeepSeek-V3",
        "deepseek_v2",
        "mixtral",
        "Mixtral 8x22B",
        "qwen3_moe",
        "gpt_oss",
        "kimi_k2",
    ],
)
def test_a_moe_model_type_as_architecture_marks_a_sparse_total(architecture: str) -> None:
    # DeepSeek-V3's total and tokens: the dense reading (6 x 671B x 14.8T = 6e25) is clearly above 1e25,
    # the true figure (37B active: 3.3e24) is below it. Only "uncertain" is right from the total alone.
    m = parse_manifest({"model": {"parameters": 671_000_000_000, "architecture": architecture},
                        "training": {"tokens": 14.8e12}})  # fmt: skip
    e = estimate_compute(None, m)
    assert e.thresholds["1e25"] is C.UNCERTAIN, architecture
    assert e.other_thresholds["1e25_inclusive"] is C.UNCERTAIN
    assert any("mixture of experts" in w for w in e.warnings)


@pytest.mark.parametrize("architecture", ["llama", "LlamaForCausalLM", "deepseek", "qwen2", "mistral"])
def test_dense_model_types_are_not_read_as_sparse(architecture: str) -> None:
    m = parse_manifest({"model": {"parameters": 70_000_000_000, "architecture": architecture},
                        "training": {"tokens": 15e12}})  # fmt: skip
    e = estimate_compute(None, m)
    assert not any("mixture of experts" in w for w in e.warnings)
    assert e.thresholds["1e23"] is C.CLEARLY_ABOVE


def test_the_sparse_model_types_are_data() -> None:
    assert {"deepseek_v3", "mixtral", "qwen3_moe"} <= set(sparsity().model_types)


def test_experts_seen_in_the_tensors_without_a_config_mark_a_sparse_total(tmp_path: Path) -> None:
    # Mixtral-8x7B's weights with no config.json: the tensors show 8 experts but not how many run.
    # 6 x 46.7B total x 1.2e14 tokens = 3.4e25 reads "clearly above" 1e25; with its 12.9B active the
    # run is 9.3e24, below the line. From the total alone the answer is uncertain, with a warning.
    from modelwarden.facts.gather import inspect_path
    from tests.support.models import MIXTRAL_8X7B, llama_tensors, write_sharded

    write_sharded(tmp_path, llama_tensors(dict(MIXTRAL_8X7B)), 2)
    facts = inspect_path(tmp_path)
    assert facts.parameters.experts == 8 and facts.parameters.active is None
    e = estimate_compute(facts, parse_manifest({"training": {"tokens": 1.2e14}}))
    assert e.thresholds["1e25"] is C.UNCERTAIN
    assert e.training_flop is not None and e.training_flop.low < 6 * 12.9e9 * 1.2e14 < e.training_flop.high
    assert any("mixture of experts" in w and "8 experts" in w for w in e.warnings)
