"""`modelwarden assess` and `modelwarden docs` as a user runs them: real processes, files and SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modelwarden.registry import Registry

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "120"}
PLAN = """
model:
  name: frontier-405b-plan
  parameters: 405000000000
  modalities: {input: [text], output: [text]}
  generality: general
training:
  planned: true
  tokens: 15.6e12
release:
  role: provider
  provider: {name: Example Labs, established_in: US, revenue_usd: 2.0e9}
  markets: [EU, US-CA]
  weights: public
  license: llama3.1
"""


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelwarden", *args], capture_output=True, text=True, env=ENV, check=check
    )


def test_manifest_only_plan_json_contract(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    doc = json.loads(
        run("assess", "--manifest", str(plan), "--as-of", "2026-11-22", "--format", "json").stdout
    )
    assert doc["as_of"] == "2026-11-22"
    assert set(doc["compute"]["thresholds"]) == {"1e23", "1e25", "1e26"}
    assert {"low", "central", "high"} == set(doc["compute"]["training_flop"])
    assert list(doc["regimes"]) == [
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
    eu = doc["regimes"]["eu_ai_act"]
    assert eu["systemic_risk"] == "yes" and eu["in_force"] is True
    assert {o["id"] for o in eu["obligations"]} >= {"eu.art52.1", "eu.art55", "eu.art54"}
    assert all({"instrument", "article"} <= set(o["citation"]) for o in eu["obligations"])


def test_real_snapshot_text_summary_then_details(minilm_dir: Path, tmp_path: Path) -> None:
    done = run("assess", str(minilm_dir), "--as-of", "2026-11-22", "--out", str(tmp_path / "out"))
    first = done.stdout.splitlines()[0]
    assert first.startswith("all-MiniLM-L6-v2 — assessed as of 2026-11-22")
    assert "22,713,216 parameters" in done.stdout and "insufficient data" in done.stdout
    assert "not legal advice" in done.stdout
    for name in ("assessment.json", "assessment.md", "assessment.html"):
        assert (tmp_path / "out" / name).stat().st_size > 500
    html = (tmp_path / "out" / "assessment.html").read_text()
    assert "<h1>all-MiniLM-L6-v2" in html and "EU AI Act" in html


def test_save_records_the_assessment_in_the_registry(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    db = f"sqlite:///{tmp_path / 'reg.db'}"
    done = run("assess", "--manifest", str(plan), "--as-of", "2026-11-22", "--save", "--db", db)
    assert "recorded as assessment 1" in done.stderr
    with Registry(db) as reg:
        stored = reg.get(1)
    assert stored.subject.name == "frontier-405b-plan"
    assert stored.regimes["eu_ai_act"].classification["systemic_risk"].value == "yes"


def test_html_output_escapes_hostile_names(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("frontier-405b-plan", "<script>alert(1)</script>"))
    html = run("assess", "--manifest", str(plan), "--format", "html").stdout
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_bad_inputs_fail_cleanly(tmp_path: Path) -> None:
    none = run("assess", check=False)
    assert none.returncode == 2 and "--manifest" in none.stderr and "Traceback" not in none.stderr
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    date = run("assess", "--manifest", str(plan), "--as-of", "22/11/2026", check=False)
    assert date.returncode == 2 and "YYYY-MM-DD" in date.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  tokens: -5\n")
    neg = run("assess", "--manifest", str(bad), check=False)
    assert neg.returncode == 2 and "training.tokens" in neg.stderr and "Traceback" not in neg.stderr
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "x.yaml").write_text("id: x\n")
    r = run("assess", "--manifest", str(plan), "--rules", str(rules), check=False)
    assert r.returncode == 2 and "x.yaml" in r.stderr and "instrument" in r.stderr


def test_docs_drafts_with_provenance_and_questions(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("15.6e12", "40e12"))  # 9.7e25 → near 1e26: SB 53 needs review
    out = tmp_path / "drafts"
    done = run("docs", "--manifest", str(plan), "--out", str(out), "--as-of", "2026-11-22")
    names = sorted(p.name for p in out.iterdir())
    assert "eu_training_content_summary.md" in names and "model_card_gaps.md" in names
    assert (
        "eu_annex_xi_technical_documentation.md" in names
        and "eu_annex_xii_downstream_information.md" in names
    )
    assert "open question" in done.stdout
    xi = (out / "eu_annex_xi_technical_documentation.md").read_text()
    assert "405,000,000,000 total _(source: modelwarden.yaml:model.parameters)_" in xi
    assert "Annex XI §2" in xi  # systemic risk adds the §2 section
    assert "❓ **Gap** — What is the model architecture" in xi


def test_sb53_report_only_where_it_may_apply(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("tokens: 15.6e12", "compute_flop: 2.0e26"))
    run("docs", "--manifest", str(plan), "--out", str(tmp_path / "a"))
    report = (tmp_path / "a" / "ca_sb53_transparency_report.md").read_text()
    assert "Large frontier developers" in report
    plan.write_text(PLAN)
    run("docs", "--manifest", str(plan), "--out", str(tmp_path / "b"))
    assert not (tmp_path / "b" / "ca_sb53_transparency_report.md").exists()


def test_ab2013_summary_drafted_where_the_statute_may_apply(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    text = PLAN.replace(
        "  tokens: 15.6e12\n",
        "  tokens: 15.6e12\n  synthetic_data_flop: 1.0e22\n  datasets:\n"
        "    - {name: licensed-news, public: false, license: proprietary}\n"
        "    - {name: fineweb, public: true}\n",
    )
    plan.write_text(text)
    run("docs", "--manifest", str(plan), "--out", str(tmp_path / "ca"), "--as-of", "2026-11-22")
    draft = (tmp_path / "ca" / "ca_ab2013_training_data_summary.md").read_text()
    assert "§22757.20" in draft
    assert "licensed-news, fineweb _(source:" in draft  # sources, from the manifest
    assert "licensed-news (proprietary) _(source: modelwarden.yaml:training.datasets[public=false])_" in draft
    assert "about 1.56e+13 tokens" in draft and "Synthetic data generation:** yes" in draft
    assert "❓ **Gap** — Do the datasets include personal information" in draft

    # An embedding model is not generative; a market outside California is not covered.
    for variant, name in (
        (text.replace("output: [text]", "output: [embedding]"), "emb"),
        (text.replace("markets: [EU, US-CA]", "markets: [EU]"), "eu"),
    ):
        plan.write_text(variant)
        run("docs", "--manifest", str(plan), "--out", str(tmp_path / name), "--as-of", "2026-11-22")
        assert not (tmp_path / name / "ca_ab2013_training_data_summary.md").exists()


def test_text_output_shows_hostile_manifest_values_literally(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        PLAN.replace("frontier-405b-plan", '"[/x]\\e[31mred\\nFAKE"').replace("Example Labs", '"[/bold]x"')
    )
    text = run("assess", "--manifest", str(plan))
    assert "[/x]\\x1b[31mred\\nFAKE — assessed as of" in text.stdout
    assert "\x1b" not in text.stdout and "\nFAKE" not in text.stdout
    for format in ("markdown", "html"):
        assert "\x1b" not in run("assess", "--manifest", str(plan), "--format", format).stdout
    out_dir = tmp_path / "a[" / "y]"  # "…a[/y]" reads as a closing markup tag
    written = run("assess", "--manifest", str(plan), "--out", str(out_dir))
    assert f"wrote {out_dir}/assessment.json" in written.stderr.replace("\n", "")
    drafts = tmp_path / "d[" / "x]"
    docs = run("docs", "--manifest", str(plan), "--out", str(drafts))
    assert f"{drafts}/eu_training_content_summary.md" in docs.stdout


def test_an_enormous_value_in_an_error_is_shortened(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    done = run("assess", "--manifest", str(plan), "--as-of", "9" * 5000, check=False)
    message = " ".join(done.stderr.split())
    assert done.returncode == 2 and "characters omitted" in message and "YYYY-MM-DD" in message
    assert len(done.stderr) < 1000
    # A line break in a quoted name is shown, but cannot start a line of its own.
    (tmp_path / "file").touch()
    out_dir = tmp_path / "file" / "x\x1b[2J\nPASS"
    done = run("assess", "--manifest", str(plan), "--no-scan", "--out", str(out_dir), check=False)
    assert done.returncode == 2 and "\x1b" not in done.stderr and "\nPASS" not in done.stderr
    assert "x\\x1b[2J\n  PASS: Not a directory" in done.stderr


def test_as_of_must_be_yyyy_mm_dd(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    # date.fromisoformat also takes the basic, week and ordinal forms; the option promises YYYY-MM-DD.
    for value in ("20250101", "2025-W01-1", "2025-001", "2025-02-30"):
        for command in ("assess", "docs"):
            args = [command, "--manifest", str(plan), "--as-of", value]
            done = run(*args, *(["--out", str(tmp_path / "d")] if command == "docs" else []), check=False)
            assert done.returncode == 2 and "YYYY-MM-DD" in done.stderr, (command, value, done.stderr)
    assert not (tmp_path / "d").exists()
    assert run("assess", "--manifest", str(plan), "--as-of", "2025-01-01", "--format", "json").returncode == 0
