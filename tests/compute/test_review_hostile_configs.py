"""Adversarial review of issue 17: odd or hostile config.json values give no formula with a reason,
never a traceback or a confident wrong count; the real configs stay exact."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from modelwarden.facts.config_formulas import UnsupportedConfig, config_formula

DATA = Path("/work/shared/data/real-model-configs")
if not DATA.is_dir():
    DATA = Path(__file__).parent / "data" / "real-model-configs"
SLUGS = sorted(p.name for p in DATA.iterdir() if p.is_dir())


def _config(slug: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / slug / "config.json").read_text(encoding="utf-8"))
    return data


def _flags(cfg: dict[str, Any]) -> list[str]:
    """The true/false keys the formula reads."""
    read = set(config_formula(cfg).fields)
    return [k for k, v in cfg.items() if isinstance(v, bool) and k in read]


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("value", ["false", "true", "8", None, [], {}])
def test_a_flag_that_is_not_true_or_false_gives_no_formula(slug: str, value: object) -> None:
    # transformers would read the string "false" as true: whatever the count, it is a guess.
    cfg = _config(slug)
    for key in _flags(cfg):
        hostile = {**cfg, key: value}
        if value is None:
            continue  # an explicit null is "not stated": the documented default applies
        with pytest.raises(UnsupportedConfig, match=key):
            config_formula(hostile)


DIMENSIONS = {
    "hidden_size", "n_embd", "d_model", "num_hidden_layers", "n_layer", "num_layers", "num_attention_heads",
    "n_head", "vocab_size", "padded_vocab_size", "intermediate_size", "num_local_experts",
}  # fmt: skip


@pytest.mark.parametrize("slug", SLUGS)
def test_a_zero_model_dimension_gives_no_formula(slug: str) -> None:
    cfg = _config(slug)
    base = config_formula(cfg)
    for key in base.fields:
        name = key.removeprefix("text_config.")
        if name not in DIMENSIONS:
            continue
        hostile = copy.deepcopy(cfg)
        (hostile["text_config"] if key.startswith("text_config.") else hostile)[name] = 0
        with pytest.raises(UnsupportedConfig):
            config_formula(hostile)


@pytest.mark.parametrize("slug", [s for s in SLUGS if config_formula(_config(s)).active is not None])
def test_more_experts_per_token_than_experts_gives_no_formula(slug: str) -> None:
    cfg = _config(slug)
    [key] = [k for k in config_formula(cfg).fields if k in ("num_experts_per_tok", "experts_per_token")]
    hostile = {**cfg, key: 10_000}
    with pytest.raises(UnsupportedConfig):
        config_formula(hostile)
    with pytest.raises(UnsupportedConfig, match="cannot be zero"):
        config_formula({**cfg, key: 0})  # no expert runs: an attention-only "active" count


@pytest.mark.parametrize("slug", SLUGS)
def test_any_single_hostile_value_is_a_reason_or_a_sane_count(slug: str) -> None:
    cfg = _config(slug)
    for key in list(cfg):
        for value in (0, -1, "8", 1.5, 10**13, True, [], {}, float("nan"), 2**63):
            hostile = {**cfg, key: value}
            try:
                got = config_formula(hostile)
            except UnsupportedConfig as exc:
                assert str(exc)
                continue
            assert got.total > 0, (slug, key, value)
            assert got.active is None or 0 < got.active <= got.total, (slug, key, value)
