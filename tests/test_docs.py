"""The documentation says what the code does: generated reference pages are current, and the lists
that docs keep by hand (scan rules, instruments) name everything the code has."""

from __future__ import annotations

from pathlib import Path

import yaml

from modelwarden.cli import reference
from modelwarden.rules.loader import BUNDLED_ORDER

DOCS = Path(__file__).resolve().parents[1] / "docs"
SRC = Path(__file__).resolve().parents[1] / "src" / "modelwarden"


def test_cli_reference_is_current() -> None:
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert current == reference.render(), "docs/cli.md is stale: run `make cli-docs`"


def test_cli_reference_documents_every_option() -> None:
    page = reference.render()
    for needle in ("`--no-hash`", "`--fail-on`", "`--as-of`", "`--mof-mode`", "`--keep-strikes`", "`-n`"):
        assert needle in page
    assert "## `modelwarden identities review approve`" in page


def test_every_scan_rule_is_in_the_catalogue_with_its_default_severity() -> None:
    rules = yaml.safe_load((SRC / "scan" / "data" / "rules.yaml").read_text(encoding="utf-8"))
    page = (DOCS / "scan.md").read_text(encoding="utf-8")
    for rule_id, spec in rules.items():
        assert f"| `{rule_id}` | {spec['severity']} |" in page, rule_id


def test_every_bundled_instrument_is_in_the_assess_json_contract() -> None:
    page = (DOCS / "assess.md").read_text(encoding="utf-8")
    contract = page[page.index("## JSON contract") :]
    for instrument in BUNDLED_ORDER:
        assert f"`{instrument}`" in contract, instrument
