"""Adversarial review of issue 17: the openness report's Art. 53(2) verdict and the rules' open-source
exemption answer agree on every combination of licence, weights access and declared components, on a
manifest alone and on a real folder; a component declared absent is a definite no in both."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from tests.support.models import LLAMA2_7B, llama_tensors, write_config, write_sharded

from modelwarden.assess.run import Inputs, build_assessment
from modelwarden.facts.gather import inspect_path
from modelwarden.manifest import load_manifest
from modelwarden.model import Assessment, ModelFacts
from modelwarden.rules import load_rules

RULES = load_rules()
BASE = (
    "model: {generality: general}\ntraining: {compute_flop: 1e24}\n"
    "release: {monetised: false, placed_on_market: 2026-01-01, markets: [EU]%s}\n"
)


def _assess(tmp_path: Path, manifest: str, facts: ModelFacts | None = None) -> Assessment:
    path = tmp_path / "modelwarden.yaml"
    path.write_text(manifest, encoding="utf-8")
    return build_assessment(
        Inputs(facts, load_manifest(path), path), as_of=dt.date(2026, 12, 5), rules=RULES, scan=False
    )


def _answers(a: Assessment) -> tuple[str, str]:
    assert a.openness is not None
    exemption = a.regimes["eu_ai_act"].classification["open_source_exemption"]
    return a.openness.eu_foss_licence.verdict.value, exemption.value


def _manifest(licence: str | None, weights: str | None, components: dict[str, bool]) -> str:
    release = (f", license: {licence}" if licence else "") + (f", weights: {weights}" if weights else "")
    text = BASE % release
    if components:
        text += (
            "components: {"
            + ", ".join(f"{c}: {{present: {str(p).lower()}}}" for c, p in components.items())
            + "}\n"
        )
    return text


def _folder(tmp_path: Path, card: str | None) -> ModelFacts:
    root = tmp_path / "model"
    write_config(root, dict(LLAMA2_7B))
    write_sharded(root, llama_tensors(dict(LLAMA2_7B)), 1)
    if card is not None:
        (root / "README.md").write_text(card, encoding="utf-8")
    return inspect_path(root)


COMPONENTS = ["model_architecture", "model_card", "model_parameters_final"]


@pytest.mark.parametrize(
    "card", [None, "# M\nHow to use it.\n", "---\nlicense: apache-2.0\nextra_gated_prompt: agree\n---\n# M\n"]
)
def test_openness_and_rules_agree_on_art_53_2(tmp_path: Path, card: str | None) -> None:
    facts = _folder(tmp_path, card)
    for files in (None, facts):
        for licence, weights, *flags in itertools.product(
            [None, "apache-2.0", "openrail-m", "cc-by-nc-4.0", "Foo Licence"],
            [None, "public", "gated", "api_only"],
            [None, True, False], [None, True, False], [None, True, False],
        ):  # fmt: skip
            components = {c: f for c, f in zip(COMPONENTS, flags, strict=True) if f is not None}
            openness, rules = _answers(_assess(tmp_path, _manifest(licence, weights, components), files))
            agree = openness == rules or (openness == "needs_review" and rules == "insufficient_data")
            assert agree, (card, files is not None, licence, weights, components, openness, rules)


def test_weights_declared_absent_are_a_definite_no_in_both(tmp_path: Path) -> None:
    # components.model_parameters_final.present: false says the final weights are not released: Art. 53(2)
    # needs them public, so both answers are "no", not a question about whether they are available.
    components = {"model_parameters_final": False, "model_architecture": True, "model_card": True}
    assert _answers(_assess(tmp_path, _manifest("apache-2.0", None, components))) == ("no", "no")


def test_weights_declared_absent_override_files_that_hold_them(tmp_path: Path) -> None:
    facts = _folder(tmp_path, "---\nlicense: apache-2.0\n---\n# M\n")
    components = {"model_parameters_final": False}
    assert _answers(_assess(tmp_path, _manifest(None, None, components), facts)) == ("no", "no")
