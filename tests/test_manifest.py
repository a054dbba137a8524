from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelwarden.errors import ManifestError
from modelwarden.manifest import SCHEMA_PATH, json_schema, load_manifest


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "modelwarden.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_schema_matches_the_models() -> None:
    hint = "regenerate with: python -m modelwarden.manifest --schema"
    assert json.loads(SCHEMA_PATH.read_text()) == json_schema(), hint


def test_scientific_notation_reads_as_numbers(tmp_path: Path) -> None:
    m = load_manifest(_write(tmp_path, "training: {tokens: 15.6e12, compute_flop: 3.8e25}\n"))
    assert m.training.tokens == 15.6e12
    assert m.training.compute_flop == 3.8e25


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("training: {tokens: -5}\n", "training.tokens"),
        ("release: {placed_on_market: 01/02/2026}\n", "release.placed_on_market"),
        ("model: {paramters: 7}\n", "model.paramters"),
        ("release: {weights: leaked}\n", "release.weights"),
        ("training: {hardware: {utilisation: 1.5}}\n", "training.hardware.utilisation"),
        ("components: {weights_code: {license: mit}}\n", "components.weights_code"),
        ("release: {markets: [europe]}\n", "release"),
        ("model: {parameters: 7, active_parameters: 9}\n", "model"),
    ],
)
def test_bad_values_name_the_key_path(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(tmp_path, text))
    assert where in info.value.message
    assert "modelwarden.yaml" in info.value.message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="line 3"):
        load_manifest(_write(tmp_path, "model:\n  name: [unclosed\n"))


def test_a_list_at_top_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="mapping"):
        load_manifest(_write(tmp_path, "- a\n- b\n"))


def test_impossible_date_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "modelwarden.yaml"
    bad.write_text("release:\n  placed_on_market: 2026-13-01\n")
    with pytest.raises(ManifestError, match=r"release\.placed_on_market: .*date"):
        load_manifest(bad)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("model:\n  parameters: true\n", "model.parameters", "expected a number, got a boolean"),
        ("model:\n  parameters: " + "9" * 300 + "\n", "model.parameters", "must be at most 1e+16"),
        ("training:\n  hardware:\n    hours: 1e300\n", "training.hardware.hours", "must be at most 1e+40"),
        ("model:\n  parameters: .nan\n", "model.parameters", "finite number"),
        ("training:\n  hardware:\n    utilisation: 2\n", "training.hardware.utilisation", "at most 1\n"),
    ],
)
def test_quantities_are_bounded_numbers(tmp_path: Path, text: str, where: str, message: str) -> None:
    path = tmp_path / "modelwarden.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert f"  {where}: " in info.value.message
    assert message in info.value.message + "\n"
