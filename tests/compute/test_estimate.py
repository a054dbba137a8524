"""estimate_compute beyond the worked examples: real model files, MoE, tied heads, LoRA, stages,
cumulative compute, derivatives, conflicts and missing data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from modelwarden.compute import estimate_compute
from modelwarden.facts.gather import inspect_path
from modelwarden.manifest import parse_manifest
from modelwarden.model import ComputeEstimate, ThresholdCall
from tests.support.models import (
    GPT2_SMALL,
    MIXTRAL_8X7B,
    gpt2_tensors,
    llama_tensors,
    write_config,
    write_sharded,
    write_sparse_safetensors,
)

C = ThresholdCall


def est(data: dict[str, Any], facts: Any = None) -> ComputeEstimate:
    return estimate_compute(facts, parse_manifest(data))


def test_mixtral_files_use_active_parameters_without_the_input_embedding(tmp_path: Path) -> None:
    write_config(tmp_path, MIXTRAL_8X7B)
    write_sharded(tmp_path, llama_tensors(MIXTRAL_8X7B), 3)
    facts = inspect_path(tmp_path)
    active, emb = 12_879_925_248, 32000 * 4096
    assert facts.parameters.active == active
    e = est({"training": {"tokens": 10e12}}, facts)
    assert e.training_flop is not None
    assert e.training_flop.central == pytest.approx(6 * (active - emb) * 10e12)
    assert e.training_flop.low == pytest.approx(6 * (active - 2 * emb) * 10e12)  # head excluded too
    # The upper edge adds Kaplan's attention term at the config's 32k context: 6·32·32768·4096 per token.
    attention = 6 * 32 * 32768 * 4096 * 10e12
    assert e.training_flop.high == pytest.approx(e.training_flop.central + attention)
    assert any(a.provenance.field == "max_position_embeddings" for a in e.assumptions)
    # Epoch's 7.74e23 (assumed 10T tokens) sits inside the band; total parameters would be 3.6x off.
    assert e.training_flop.low < 7.74e23 < e.training_flop.high
    assert e.thresholds["1e23"] is C.CLEARLY_ABOVE


def test_training_sequence_length_replaces_the_maximum_context(tmp_path: Path) -> None:
    write_config(tmp_path, MIXTRAL_8X7B)
    write_sharded(tmp_path, llama_tensors(MIXTRAL_8X7B), 1)
    facts = inspect_path(tmp_path)
    e = est({"training": {"tokens": 1e12, "sequence_length": 4096}}, facts)
    assert e.training_flop is not None
    share = (e.training_flop.high - e.training_flop.central) / e.training_flop.central
    assert share == pytest.approx(0.042, abs=0.002)  # docs/reference/compute.md §4.2: Mixtral @4k, 4.2%


def test_tied_head_is_counted_once_as_a_matmul(tmp_path: Path) -> None:
    write_config(tmp_path, GPT2_SMALL)
    write_sparse_safetensors(tmp_path / "model.safetensors", gpt2_tensors(GPT2_SMALL))
    facts = inspect_path(tmp_path)
    total = 124_439_808
    assert facts.parameters.total == total
    e = est({"training": {"tokens": 1e10}}, facts)
    assert e.training_flop is not None
    # The tied token table is the output head (a matmul); the learned position table (wpe) is a lookup.
    positions = 1024 * 768
    assert facts.parameters.input_embedding == positions
    assert e.training_flop.central == pytest.approx(6 * (total - positions) * 1e10)
    emb = facts.parameters.breakdown["embedding"]
    assert e.training_flop.low == pytest.approx(6 * (total - emb) * 1e10)


def test_real_minilm_snapshot(minilm_dir: Path) -> None:
    facts = inspect_path(minilm_dir)
    # The sentence-transformers card: ~1B sentence pairs; say 100B tokens seen for the arithmetic.
    e = est({"training": {"tokens": 1e11}}, facts)
    assert e.method == "operation_count"
    assert e.training_flop is not None
    # BertModel has no output head: its embedding (tied or not) is only a lookup, so it is left out.
    emb = facts.parameters.breakdown["embedding"]
    assert e.training_flop.central == pytest.approx(6 * (22_713_216 - emb) * 1e11)
    # The high edge reaches the EU Guidelines' 6·P·D with every parameter.
    assert e.training_flop.high == pytest.approx(6 * 22_713_216 * 1e11)
    assert e.training_flop.high > e.training_flop.central  # attention term from config.json (6 layers, 512)
    assert e.thresholds == {"1e23": C.CLEARLY_BELOW, "1e25": C.CLEARLY_BELOW, "1e26": C.CLEARLY_BELOW}
    assert any(a.provenance.source == "tensors" for a in e.assumptions)


def test_files_and_manifest_disagreeing_on_parameters_warns_and_files_win(minilm_dir: Path) -> None:
    facts = inspect_path(minilm_dir)
    e = est({"model": {"parameters": 33_000_000}, "training": {"tokens": 1e9}}, facts)
    assert any("declares 33,000,000 parameters; the files give 22,713,216" in w for w in e.warnings)
    emb = facts.parameters.breakdown["embedding"]
    assert e.training_flop is not None and e.training_flop.central == pytest.approx(
        6 * (22_713_216 - emb) * 1e9
    )


def test_stated_figure_conflicting_with_the_operation_count() -> None:
    e = est(
        {"model": {"parameters": 405_000_000_000}, "training": {"tokens": 15.6e12, "compute_flop": 3.8e23}}
    )
    assert e.method == "developer_stated"
    assert e.training_flop is not None and e.training_flop.central == 3.8e23
    assert any("outside the operation count" in w for w in e.warnings)
    ops = [x for x in e.estimates if x.method == "operation_count"]
    assert len(ops) == 1 and not ops[0].used


def test_stated_figure_agreeing_with_the_count_raises_no_conflict() -> None:
    e = est(
        {"model": {"parameters": 405_000_000_000}, "training": {"tokens": 15.6e12, "compute_flop": 3.8e25}}
    )
    assert not any("outside" in w for w in e.warnings)


def test_exactly_1e26_is_not_a_frontier_model_under_sb53_but_is_under_korea() -> None:
    e = est({"training": {"compute_flop": 1e26}})
    assert e.thresholds["1e26"] is C.NEAR_BELOW  # "greater than"
    assert e.other_thresholds["1e26_inclusive"] is C.NEAR_ABOVE  # "or more"
    assert any("within 30% of the 1e26 line" in w for w in e.warnings)


def test_cumulative_adds_non_public_synthetic_data_and_merged_weights_only() -> None:
    e = est(
        {
            "training": {
                "compute_flop": 6e24,
                "synthetic_data_flop": 3e24,
                "merged_or_initialising_flop": 2e24,
                "stages": [
                    {"name": "rm", "kind": "reward_model", "compute_flop": 5e24},
                    {"name": "teacher", "kind": "teacher", "compute_flop": 5e25},
                    {"name": "evals", "kind": "evaluation", "compute_flop": 1e24},
                    {
                        "name": "public-synth",
                        "kind": "synthetic_data",
                        "compute_flop": 4e24,
                        "public_output": True,
                    },
                    {"name": "private-synth", "kind": "synthetic_data", "compute_flop": 1e24},
                ],
            }
        }
    )
    assert e.training_flop is not None and e.training_flop.central == 6e24
    assert e.cumulative_flop is not None and e.cumulative_flop.central == pytest.approx(
        6e24 + 3e24 + 2e24 + 1e24
    )
    assert e.thresholds["1e23"] is C.CLEARLY_ABOVE
    assert e.thresholds["1e25"] is C.NEAR_ABOVE  # cumulative 1.2e25 crosses; training alone would not
    excluded = {s.name for s in e.stages if not s.in_cumulative}
    assert excluded == {"rm", "teacher", "evals", "public-synth"}


def test_public_synthetic_data_flag_excludes_the_top_level_figure() -> None:
    e = est({"training": {"compute_flop": 6e24, "synthetic_data_flop": 5e24, "synthetic_data_public": True}})
    assert e.cumulative_flop is not None and e.cumulative_flop.central == 6e24


def test_stages_sum_when_no_total_is_stated() -> None:
    e = est(
        {
            "model": {"parameters": 7_000_000_000},
            "training": {
                "tokens": 2e12,
                "stages": [
                    {"name": "sft", "kind": "finetuning", "tokens": 1e10},
                    {"name": "rl", "kind": "rl", "hardware": {"accelerator": "H100", "gpu_hours": 10_000}},
                ],
            },
        }
    )
    assert e.method == "combined"
    rl = 10_000 * 3600 * 989.4e12 * 0.34
    assert e.training_flop is not None
    assert e.training_flop.central == pytest.approx(6 * 7e9 * 2e12 + 6 * 7e9 * 1e10 + rl)


def test_stage_without_figures_makes_a_lower_bound() -> None:
    e = est(
        {
            "model": {"parameters": 7_000_000_000},
            "training": {"tokens": 2e12, "stages": [{"name": "rlhf", "kind": "rl"}]},
        }
    )
    assert any("lower bound" in w for w in e.warnings)


def test_lora_modification_and_one_third_rule() -> None:
    e = est(
        {
            "model": {"parameters": 8_030_000_000},
            "training": {"tokens": 2e8, "modification_method": "lora", "trainable_parameters": 42_000_000},
            "base_model": {"name": "meta-llama/Meta-Llama-3-8B", "compute_flop": 7.2e23},
            "release": {"role": "modifier"},
        }
    )
    mod = (4 * 8.03e9 + 2 * 42e6) * 2e8
    assert e.modification_flop is not None and e.modification_flop.central == pytest.approx(mod)
    assert e.training_flop is not None and e.training_flop.central == pytest.approx(7.2e23 + mod)
    assert e.method == "combined"
    assert e.modifier is not None
    assert e.modifier.basis == "base_compute" and e.modifier.threshold == pytest.approx(2.4e23)
    assert e.modifier.call is C.CLEARLY_BELOW
    assert e.thresholds["1e23"] is C.CLEARLY_ABOVE  # the base alone crosses


def test_real_peft_adapter_takes_its_trainable_parameters_from_the_files(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "base_model_name_or_path": "meta-llama/Llama-2-7b-hf",
                "r": 8,
                "target_modules": ["q_proj", "v_proj"],
                "task_type": "CAUSAL_LM",
            }
        )
    )
    tensors = {}
    for i in range(2):
        for proj in ("q_proj", "v_proj"):
            p = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            tensors[f"{p}.lora_A.weight"] = np.zeros((8, 64), dtype=np.float32)
            tensors[f"{p}.lora_B.weight"] = np.zeros((64, 8), dtype=np.float32)
    save_file(tensors, str(tmp_path / "adapter_model.safetensors"))
    facts = inspect_path(tmp_path)
    trainable = 2 * 2 * 2 * 8 * 64
    e = est({"model": {"parameters": 6_738_415_616}, "training": {"tokens": 1e9}}, facts)
    assert e.modification_flop is not None
    assert e.modification_flop.central == pytest.approx((4 * 6_738_415_616 + 2 * trainable) * 1e9)
    # Base compute unknown: no total, and the one-third rule cannot pick its fallback...
    assert e.training_flop is None and e.method == "insufficient_data"
    assert e.modifier is not None and e.modifier.basis == "unknown"
    # ...but 2.7e19 is below even 1e23/3, so both fallbacks agree.
    assert e.modifier.call is C.CLEARLY_BELOW
    assert e.thresholds["1e23"] is C.INSUFFICIENT_DATA


def test_adapter_without_base_size_cannot_be_counted(tmp_path: Path) -> None:
    e = est(
        {"training": {"tokens": 1e9, "modification_method": "qlora"}, "base_model": {"systemic_risk": True}}
    )
    assert e.modification_flop is None
    assert e.modifier is not None and e.modifier.call is C.INSUFFICIENT_DATA
    assert any("modification compute cannot be estimated" in w for w in e.warnings)


def test_large_modification_of_unknown_base_still_crosses_lines() -> None:
    e = est({"training": {"modification_flop": 3e25}, "base_model": {"name": "some-base"}})
    assert e.training_flop is None
    assert e.thresholds["1e25"] is C.CLEARLY_ABOVE  # the modification alone is a lower bound
    assert e.thresholds["1e26"] is C.INSUFFICIENT_DATA
    assert e.modifier is not None and e.modifier.call is C.CLEARLY_ABOVE  # above 1e25/3 and 1e23/3


def test_full_finetune_of_systemic_risk_base_uses_the_para_61_fallback() -> None:
    e = est(
        {
            "model": {"parameters": 70_000_000_000},
            "training": {"tokens": 1e13},
            "base_model": {"name": "big", "systemic_risk": True},
        }
    )
    assert e.modification_flop is not None and e.modification_flop.central == pytest.approx(4.2e24)
    assert e.modifier is not None and e.modifier.basis == "fallback_systemic_risk"
    assert e.modifier.call is C.NEAR_ABOVE  # 4.2e24 > 3.33e24


def test_lora_method_without_trainable_count_warns_and_counts_full_training() -> None:
    e = est(
        {
            "model": {"parameters": 7_000_000_000},
            "training": {"tokens": 1e9, "modification_method": "lora"},
            "base_model": {"compute_flop": 8e22},
        }
    )
    assert any("trainable parameter count is unknown" in w for w in e.warnings)
    assert e.modification_flop is not None and e.modification_flop.central == pytest.approx(6 * 7e9 * 1e9)


def test_unknown_accelerator_names_the_table_and_the_way_out() -> None:
    e = est({"training": {"hardware": {"accelerator": "Cerebras WSE-3", "gpu_hours": 1000}}})
    assert e.method == "insufficient_data"
    assert any(
        "'Cerebras WSE-3' is not in the hardware table" in w and "peak_flop_s" in w for w in e.warnings
    )
    e = est(
        {
            "training": {
                "hardware": {"accelerator": "Cerebras WSE-3", "gpu_hours": 1000, "peak_flop_s": 1.25e17}
            }
        }
    )
    assert e.method == "hardware"
    assert e.training_flop is not None and e.training_flop.central == pytest.approx(
        1000 * 3600 * 1.25e17 * 0.34
    )


def test_precision_missing_from_the_table_is_reported() -> None:
    e = est({"training": {"hardware": {"accelerator": "A100", "gpu_hours": 1000, "precision": "fp8"}}})
    assert e.method == "insufficient_data"
    assert any("no dense FP8 peak" in w for w in e.warnings)


def test_gpu_hours_and_count_times_hours_disagreeing() -> None:
    e = est({"training": {"hardware": {"accelerator": "H100", "gpu_hours": 1000, "count": 8, "hours": 10}}})
    assert any("differs from count × hours" in w for w in e.warnings)
    assert e.training_flop is not None
    assert e.training_flop.central == pytest.approx(1000 * 3600 * 989.4e12 * 0.34)


def test_energy_from_chip_hours_and_stated_energy_wins() -> None:
    e = est({"training": {"hardware": {"accelerator": "H100", "gpu_hours": 1000}}})
    assert e.energy_kwh is not None
    assert e.energy_kwh.central == pytest.approx(1000 * 0.7 * 1.3)
    e = est({"training": {"hardware": {"accelerator": "H100", "gpu_hours": 1000}, "energy_kwh": 5000}})
    assert e.energy_kwh is not None and e.energy_kwh.central == 5000


def test_zero_tokens_are_not_taken_as_zero_compute() -> None:
    e = est({"model": {"parameters": 1_000_000}, "training": {"tokens": 0}})
    assert e.method == "insufficient_data"
    assert any("training.tokens is 0" in w for w in e.warnings)


def test_manifest_only_band_uses_stated_fallbacks_with_provenance() -> None:
    e = est({"model": {"parameters": 100_000_000}, "training": {"tokens": 1e11}})
    assert e.training_flop is not None
    assert e.training_flop.low == pytest.approx(6e19 * 0.65)  # small model: embedding up to 35%
    assert e.training_flop.high == pytest.approx(6e19 * 1.17)
    defaults = [a for a in e.assumptions if a.provenance.source == "default"]
    assert len(defaults) == 2 and all(a.provenance.note for a in defaults)


def test_a_config_nested_too_deeply_leaves_the_estimate_to_the_weights(tmp_path: Path) -> None:
    write_config(tmp_path, GPT2_SMALL)
    write_sparse_safetensors(tmp_path / "model.safetensors", gpt2_tensors(GPT2_SMALL))
    facts = inspect_path(tmp_path)
    (tmp_path / "config.json").write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    e = est({"training": {"tokens": 1e12}}, facts)
    assert e.training_flop is not None and e.training_flop.central > 0
    assert not any(a.provenance.field == "n_positions" for a in e.assumptions)  # no config was read
