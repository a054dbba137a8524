"""Adversarial review of issue 17: a mixture of experts declared by its model type or family name
(`deepseek_v3`, "DeepSeek-V3", `mixtral`...) with only its total is still a sparse total."""

from __future__ import annotations

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
