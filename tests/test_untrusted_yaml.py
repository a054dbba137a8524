"""Hostile YAML in files we read (cards, manifests, rule files): bounded, reported, never a crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from modelwarden.errors import ManifestError, RulesError
from modelwarden.facts.gather import inspect_path
from modelwarden.manifest import load_manifest
from modelwarden.rules.loader import load_rules
from modelwarden.untrusted import yaml as untrusted_yaml

# Ten levels of ten aliases each: 10**10 values once expanded, 600 bytes on disk.
LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 10)
)
DEEP = "k: " + "[" * 5_000 + "]" * 5_000 + "\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (LAUGHS, "expands to more than"),
        (DEEP, "nested more than"),
        ("a: &a [1, *a]\n", "recursive"),
    ],
)
def test_hostile_documents_are_yaml_errors(text: str, problem: str) -> None:
    with pytest.raises(yaml.YAMLError, match=problem):
        untrusted_yaml.load(text)


def test_ordinary_documents_load_with_shared_aliases() -> None:
    text = "base: &b {lr: 0.1, steps: [1, 2]}\nrun1: *b\nrun2: *b\n"
    assert untrusted_yaml.load(text) == yaml.safe_load(text)
    assert untrusted_yaml.load("") is None


def test_python_tags_are_still_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="constructor"):
        untrusted_yaml.load("x: !!python/object/apply:os.system ['true']\n")


@pytest.mark.parametrize("front", [LAUGHS, DEEP])
def test_card_with_hostile_front_matter_is_reported_and_its_body_kept(tmp_path: Path, front: str) -> None:
    (tmp_path / "README.md").write_text(f"---\n{front}license: mit\n---\n# Card\nhttps://example.org/paper\n")
    facts = inspect_path(tmp_path)
    codes = [(p.code, p.file) for p in facts.problems]
    assert ("invalid_card_metadata", "README.md") in codes
    assert facts.card is not None and facts.card.metadata == {}
    assert "https://example.org/paper" in facts.card.links


@pytest.mark.parametrize("text", [LAUGHS, DEEP])
def test_manifest_with_hostile_yaml_is_a_manifest_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "modelwarden.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=r"modelwarden\.yaml: not valid YAML"):
        load_manifest(path)


def test_rule_file_with_hostile_yaml_is_a_rules_error(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(LAUGHS)
    with pytest.raises(RulesError, match=r"gate\.yaml: not valid YAML: expands"):
        load_rules([tmp_path])


def test_rule_folder_holding_a_fifo_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "gate.yaml")
    with pytest.raises(RulesError, match=r"gate\.yaml: cannot read rule file: not a regular file"):
        load_rules([tmp_path])
