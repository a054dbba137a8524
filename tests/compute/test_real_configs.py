"""Config formulas against 69 released models' own config.json files and their true counts.

The data (tests/compute/data/real-model-configs, README there) holds the config as the publisher
ships it and the count held to be true: the checkpoint's tensor total, an official table, or a
rounded model-card figure with how far it may be off. Every row must be exact or within that rounding.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from modelwarden.facts.config_formulas import SUPPORTED_MODEL_TYPES, config_formula

DATA = Path(__file__).parent / "data" / "real-model-configs"
ROWS: list[dict[str, Any]] = json.loads((DATA / "truth.json").read_text(encoding="utf-8"))


def _config(slug: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / slug / "config.json").read_text(encoding="utf-8"))
    return doc


def test_the_data_set_is_complete() -> None:
    assert len(ROWS) == 69
    assert all((DATA / r["slug"] / "config.json").is_file() for r in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[r["slug"] for r in ROWS])
def test_total_is_exact_or_within_the_published_rounding(row: dict[str, Any]) -> None:
    result = config_formula(_config(row["slug"]))
    truth = int(row["gt_total"])
    assert sum(result.breakdown.values()) == result.total
    if row["gt_kind"].startswith("exact") and row["rounded_tolerance"] is None:
        assert result.total == truth
    elif row["gt_kind"] == "exact-checkpoint":
        # Exact tensor totals whose row still carries a tolerance (very large checkpoints): be exact.
        assert result.total == truth
    else:
        assert abs(result.total - truth) <= row["rounded_tolerance"], f"{result.total:,} vs {truth:,}"


def test_every_model_type_of_the_data_set_has_a_formula() -> None:
    types = {_config(r["slug"]).get("model_type") for r in ROWS}
    missing = {t for t in types if t not in SUPPORTED_MODEL_TYPES and t not in ("kimi_k2",)}
    assert not missing


def _last_digit_unit(figure: float) -> int:
    """The place value of the last significant digit of a quoted figure: 2.4e9 -> 1e8, 39e9 -> 1e9."""
    exponent = Decimal(repr(figure)).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return int(10**exponent)


MOE_ROWS = [r for r in ROWS if r["gt_active"] is not None]

# Which convention each vendor's "active parameters" figure follows, as the figures themselves show
# (docs/compute.md "Active parameters"): True = input embedding included.
VENDOR_INCLUDES_EMBEDDING = {
    "mixtral-8x7b-v0.1": True,
    "qwen1.5-moe-a2.7b": True,
    "qwen3-30b-a3b": True,
    "deepseek-v2-lite": False,
    "gpt-oss-20b": False,
}


@pytest.mark.parametrize("row", MOE_ROWS, ids=[r["slug"] for r in MOE_ROWS])
def test_the_vendor_active_figure_is_one_of_our_two_conventions(row: dict[str, Any]) -> None:
    result = config_formula(_config(row["slug"]))
    assert result.active is not None and result.active_without_input_embedding is not None
    vendor = float(row["gt_active"])
    unit = _last_digit_unit(vendor)
    # Vendors round or truncate to their last quoted digit: within one unit of it.
    near_with = abs(result.active - vendor) < unit
    near_without = abs(result.active_without_input_embedding - vendor) < unit
    assert near_with or near_without
    if row["slug"] in VENDOR_INCLUDES_EMBEDDING:
        assert near_with if VENDOR_INCLUDES_EMBEDDING[row["slug"]] else near_without
        assert not (near_without if VENDOR_INCLUDES_EMBEDDING[row["slug"]] else near_with)


def test_gpt_oss_active_without_the_input_embedding_is_the_card_figure() -> None:
    result = config_formula(_config("gpt-oss-20b"))
    # Card: 3.61B active, input embedding excluded; ours includes it (+201,088 × 2,880).
    assert result.active_without_input_embedding == 3_608_307_264
    assert result.active == 3_608_307_264 + 201_088 * 2_880


def test_a_tied_matrix_is_not_a_lookup_but_a_position_table_is() -> None:
    gpt2 = config_formula(_config("gpt2"))
    assert gpt2.input_lookup == 1024 * 768  # wpe only: wte is the output head too
    untied = config_formula(_config("llama-2-7b"))
    assert untied.input_lookup == 32000 * 4096
