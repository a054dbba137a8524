"""Rule files: validation errors name the file and key; organisation rule files join the bundled ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from modelwarden.assess.run import Inputs, build_assessment
from modelwarden.errors import RulesError
from modelwarden.manifest import parse_manifest
from modelwarden.rules import load_rules

POLICY = """
id: acme_release_gate
instrument: ACME internal release policy
jurisdiction: internal
version: "1"
effective: {from: 2026-01-01}
classifications:
  needs_board_review:
    - when: 'compute.calls["1e25"] in ["near_above", "clearly_above", "uncertain"]'
      result: "yes"
      because: anything that may cross 10^25 goes to the board
    - when: 'compute.calls["1e25"] == "insufficient_data"'
      result: needs_review
      because: no estimate
      question: What is the training compute?
    - when: 'true'
      result: "no"
      because: below the board's line
obligations:
  - id: acme.board
    title: Board sign-off before release
    citation: {article: "Policy 4.2"}
    requires: {needs_board_review: "yes"}
"""


def test_bundled_rules_load_in_contract_order() -> None:
    ids = [c.spec.id for c in load_rules().instruments]
    assert ids == [
        "eu_ai_act",
        "us_eo_14110",
        "us_bis_4e091",
        "us_ca_sb53",
        "us_ca_ab2013",
        "us_ny_raise",
        "us_il_sb315",
        "kr_ai_basic_act",
        "cn_genai",
        "eu_ai_act_art50",
        "eu_ai_act_art5",
        "us_ca_sb942",
        "us_co_sb26_189",
        "us_tx_traiga",
        "cn_anthropomorphic",
        "vn_ai_law",
    ]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("    applies_to: everyone\n", "obligations.0.applies_to"),
        ("    applies_to: developer\n    detail: 'x'\n", "obligations.0.detail: unknown key"),
    ],
)
def test_obligation_addressee_is_validated(tmp_path: Path, patch: str, message: str) -> None:
    text = POLICY.replace(
        '    citation: {article: "Policy 4.2"}\n', '    citation: {article: "Policy 4.2"}\n' + patch
    )
    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(RulesError, match=message.replace(".", r"\.")):
        load_rules([tmp_path])


def test_rule_detail_must_compile_and_names_the_deciding_facts(tmp_path: Path) -> None:
    bad = POLICY.replace(
        "question: What is the training compute?", "question: What?\n      detail: 'release.'"
    )
    (tmp_path / "p.yaml").write_text(bad)
    with pytest.raises(RulesError, match=r"classifications\.needs_board_review\[1\]\.detail"):
        load_rules([tmp_path])
    good = POLICY.replace(
        "question: What is the training compute?",
        "question: What is the training compute?\n      detail: '[\"role \" + release.role]'",
    )
    (tmp_path / "p.yaml").write_text(good)
    rules = load_rules([tmp_path])
    doc = parse_manifest({"release": {"role": "provider"}})
    a = build_assessment(Inputs(None, doc, None), as_of=dt.date(2026, 6, 1), scan=False, rules=rules)
    assert a.regimes["acme_release_gate"].needs_review == [
        "needs_board_review: What is the training compute? (role provider)"
    ]


def test_organisation_rules_are_evaluated_like_the_bundled_ones(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(POLICY)
    rules = load_rules([tmp_path])
    assert rules.instruments[-1].spec.id == "acme_release_gate" and rules.version != load_rules().version
    decl = parse_manifest({"training": {"compute_flop": 2e25}})
    a = build_assessment(Inputs(None, decl, None), as_of=dt.date(2026, 11, 22), rules=rules)
    gate = a.regimes["acme_release_gate"]
    assert gate.classification["needs_board_review"].value == "yes"
    assert [o.id for o in gate.obligations] == ["acme.board"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (POLICY.replace("instrument:", "instrumnt:"), "instrumnt: unknown key"),
        (POLICY.replace('in ["near_above"', 'inn ["near_above"'), "invalid CEL condition"),
        (POLICY.replace("from: 2026-01-01", "from: 2026-13-01"), "effective.from"),
        (
            POLICY.replace('requires: {needs_board_review: "yes"}', 'requires: {nope: "yes"}'),
            "unknown classification",
        ),
        (POLICY.replace("      question: What is the training compute?\n", ""), "must ask a question"),
        ("id: [unclosed", "not valid YAML at line 1"),
        ("- a list", "must be a mapping"),
    ],
)
def test_bad_rule_files_are_rejected_with_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(RulesError) as err:
        load_rules([tmp_path])
    assert str(bad) in err.value.message and message in err.value.message


def test_duplicate_instrument_ids_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "eu.yaml").write_text(POLICY.replace("acme_release_gate", "eu_ai_act"))
    with pytest.raises(RulesError, match="already defined"):
        load_rules([tmp_path])


def test_rules_option_must_be_a_folder_with_rule_files(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"no \*\.yaml rule files"):
        load_rules([tmp_path])
