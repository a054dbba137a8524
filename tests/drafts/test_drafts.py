"""`modelwarden docs`: drafts with provenance on every prefilled value and questions for every gap."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelwarden.cli import app
from modelwarden.drafts import render_drafts, write_drafts
from modelwarden.errors import UsageError
from modelwarden.facts import inspect_path
from modelwarden.manifest import parse_manifest
from modelwarden.model import Citation, Classification, Obligation, RegimeResult

AS_OF = dt.date(2026, 11, 22)
PLANNED_405B = {
    "model": {"name": "planned-405b", "parameters": 405_000_000_000,
              "modalities": {"input": ["text"], "output": ["text"]}},
    "training": {"tokens": 15.6e12, "planned": True,
                 "hardware": {"accelerator": "H100", "count": 16384, "hours": 1900}},
    "release": {"provider": {"name": "Example AI", "established_in": "US"}, "markets": ["EU", "US-CA"],
                "weights": "public", "license": "llama3.1"},
}  # fmt: skip


def drafts(data: dict[str, Any], **kw: Any) -> dict[str, str]:
    return {d.file: d.markdown for d in render_drafts(None, parse_manifest(data), as_of=AS_OF, **kw)}


def check_every_line(markdown: str) -> None:
    """Prefilled fields carry a source; gaps are questions."""
    for line in markdown.splitlines():
        if "**GAP** —" in line:
            assert "?" in line, line
        elif re.match(r"- \*\*[^*]+:\*\* ", line):
            assert "_(source: " in line, line


def test_planned_405b_run_prefills_from_the_manifest_and_the_estimate() -> None:
    d = drafts(PLANNED_405B)
    assert set(d) == {
        "eu_training_content_summary.md",
        "eu_annex_xi_technical_documentation.md",
        "eu_annex_xii_downstream_information.md",
        "model_card_gaps.md",
        "README.md",
    }
    xi = d["eu_annex_xi_technical_documentation.md"]
    assert (
        "- **Total parameters:** 405,000,000,000 (4.05e+11) _(source: modelwarden.yaml:model.parameters)_"
        in xi
    )
    assert "- **Training compute:** 3.8e+25 FLOP (band 3.4e+25–4.4e+25), method: operation count" in xi
    assert "- **Energy consumption:** 2.8e+07 kWh" in xi  # 3.11e7 H100-hours × 0.7 kW × PUE 1.3
    assert "- **Licence:** llama3.1 _(source: modelwarden.yaml:release.license)_" in xi
    assert "1e25: clearly_above" in xi
    summary = d["eu_training_content_summary.md"]
    assert "- **Text size band (template §1.3):** more than 10 trillion tokens" in summary
    for heading in ("2.1 Publicly available datasets", "2.3 Data crawled and scraped", "2.5 Synthetic data",
                    "3.1 Respect of reservation of rights"):  # fmt: skip
        assert heading in summary
    for markdown in d.values():
        check_every_line(markdown)
    assert "not written — it does not apply (cumulative compute is clearly below 1e26" in d["README.md"]
    assert "rules engine was not consulted" in d["README.md"]


def test_sb53_report_written_above_1e26() -> None:
    data = {"training": {"compute_flop": 3e26}, "model": {"name": "frontier"}}
    d = drafts(data)
    report = d["ca_sb53_transparency_report.md"]
    assert "Whether it applies: yes" in report
    assert "3e+26 FLOP" in report
    check_every_line(report)


def test_sb53_follows_the_rules_engine_when_given() -> None:
    regime = RegimeResult(
        id="us_ca_sb53",
        instrument="California SB 53",
        in_force=True,
        classification={"frontier_model": Classification.NO},
        obligations=[
            Obligation(id="ca.sb53.framework", title="t", citation=Citation(instrument="SB 53", article="x"))
        ],
    )
    d = drafts({"training": {"compute_flop": 3e26}}, regimes={"us_ca_sb53": regime})
    assert "ca_sb53_transparency_report.md" not in d
    assert "the rules engine classifies the model as not a frontier model" in d["README.md"]


def test_sb53_before_it_took_effect() -> None:
    docs = render_drafts(
        None, parse_manifest({"training": {"compute_flop": 3e26}}), as_of=dt.date(2025, 6, 1)
    )
    assert "ca_sb53_transparency_report.md" not in {x.file for x in docs}


def test_values_from_a_release_are_never_rendered_as_templates() -> None:
    d = drafts({"model": {"name": "{{ 7*7 }} | x"}, "release": {"license": "{% raw %}"}})
    xi = d["eu_annex_xi_technical_documentation.md"]
    assert "# Technical documentation (AI Act Annex XI) — {{ 7*7 }} | x" in xi
    assert "- **Licence:** {% raw %} _(source" in xi
    assert "49" not in xi.splitlines()[0]


def test_real_minilm_snapshot(minilm_dir: Path, tmp_path: Path) -> None:
    facts = inspect_path(minilm_dir)
    paths = write_drafts(facts, None, tmp_path / "out", as_of=AS_OF)
    assert all(p.is_file() for p in paths)
    xii = (tmp_path / "out" / "eu_annex_xii_downstream_information.md").read_text()
    assert "- **Total parameters:** 22,713,216 (2.27e+07) _(source: model.safetensors" in xii
    assert "- **Licence:** apache-2.0 _(source: README.md:license)_" in xii
    assert "- **Input → output modalities:** text → embedding" in xii
    gaps = (tmp_path / "out" / "model_card_gaps.md").read_text()
    assert "What are the evaluation results?" in gaps
    assert "How much training compute was used (FLOP)?" in gaps
    assert "license:" not in gaps  # the card has a licence
    # Compute cannot be estimated without tokens, so SB 53 is written as "may apply".
    assert "uncertain — review" in (tmp_path / "out" / "ca_sb53_transparency_report.md").read_text()


def test_nothing_to_draft_from() -> None:
    with pytest.raises(UsageError, match="nothing to draft from"):
        render_drafts(None, None)


def test_cli_writes_the_drafts(tmp_path: Path) -> None:
    manifest = tmp_path / "modelwarden.yaml"
    manifest.write_text("model: {name: cli-model, parameters: 7000000000}\ntraining: {tokens: 2.0e12}\n")
    result = CliRunner().invoke(app, ["docs", "--manifest", str(manifest), "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "eu_annex_xi_technical_documentation.md" in result.output
    xi = (tmp_path / "d" / "eu_annex_xi_technical_documentation.md").read_text()
    assert "8.4e+22 FLOP" in xi


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "22/11/2026"], "is not a date in the form YYYY-MM-DD"),
        ([], "give a model PATH, a --manifest FILE, or both"),
    ],
)
def test_cli_bad_usage(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["docs", "--out", str(tmp_path / "d"), *args])
    assert result.exit_code != 0
    assert isinstance(result.exception, UsageError) and message in result.exception.message


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        write_drafts(None, parse_manifest({}), target)
