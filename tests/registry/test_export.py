"""Exports: JSON Lines carry the documents exactly; CSV carries the summary, safe for spreadsheets."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from modelwarden.errors import UsageError
from modelwarden.model import Assessment
from modelwarden.registry import Filters, Registry
from modelwarden.registry.export import CSV_COLUMNS
from tests.registry.factory import corpus, make_assessment


def test_jsonl_export_round_trips_every_document(db_url: str, tmp_path: Path) -> None:
    reg = Registry(db_url)
    records = corpus(1, 8) + corpus(2, 4, hostile=True)
    ids = [reg.save(a) for a in records]
    out = tmp_path / "all.jsonl"
    assert reg.export(out) == len(records)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(records)
    for line, ident, original in zip(lines, ids, records, strict=True):
        row = json.loads(line)
        assert row["id"] == ident
        assert Assessment.model_validate(row["assessment"]) == original
        assert row["digest"] == reg.stored(ident).digest
    reg.close()


def test_csv_export_has_the_summary_and_neutralises_formulas(tmp_path: Path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    rng = random.Random(5)
    formula = '=HYPERLINK("http://evil.example","click")'
    reg.save(make_assessment(rng, name=formula))
    reg.save(make_assessment(rng, name="@SUM(A1)"))
    reg.save(make_assessment(rng, name='org/plain, with "quotes"\nand a newline'))
    out = tmp_path / "all.csv"
    assert reg.export(out, "csv") == 3
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(CSV_COLUMNS)
    names = [r["name"] for r in rows]
    assert names == ["'" + formula, "'@SUM(A1)", 'org/plain, with "quotes"\nand a newline']
    for row in rows:
        stored = reg.stored(int(row["id"]))
        assert row["parameters"] == str(stored.summary.parameters)
        assert row["threshold_1e25"] == (
            stored.summary.thresholds["1e25"].value if "1e25" in stored.summary.thresholds else ""
        )
        assert row["digest"] == stored.digest
    reg.close()


def test_export_filters_and_latest(tmp_path: Path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    rng = random.Random(6)
    reg.save(make_assessment(rng, name="org/a", version="1"))
    reg.save(make_assessment(rng, name="org/a", version="2"))
    reg.save(make_assessment(rng, name="org/b", version="1"))
    out = tmp_path / "x.jsonl"
    assert reg.export(out, latest=True) == 2
    assert reg.export(out, filters=Filters(q="org/a")) == 2
    assert reg.export(out, filters=Filters(q="org/a"), latest=True) == 1
    assert json.loads(out.read_text())["assessment"]["subject"]["version"] == "2"
    reg.close()


def test_export_errors_leave_no_file(tmp_path: Path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    reg.save(make_assessment(random.Random(1)))
    with pytest.raises(UsageError, match="unknown export format 'xml'"):
        reg.export(tmp_path / "x.xml", "xml")
    with pytest.raises(UsageError, match="does not exist"):
        reg.export(tmp_path / "missing" / "x.jsonl")
    with pytest.raises(UsageError, match="is a folder"):
        reg.export(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("r.db")] == []
    reg.close()
