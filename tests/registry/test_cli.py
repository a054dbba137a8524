"""`modelwarden registry ...` from the command line, as a user runs it."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from modelwarden.registry import Registry
from tests.registry.factory import make_assessment


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so that table cells are not folded across lines.
    env = {**(env or os.environ), "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "modelwarden", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[int]]:
    path = tmp_path_factory.mktemp("cli") / "r.db"
    url = f"sqlite:///{path}"
    reg = Registry(url)
    rng = random.Random(12)
    ids = [
        reg.save(make_assessment(rng, name="org/model", version="1.0", findings=0)),
        reg.save(make_assessment(rng, name="org/model", version="2.0", findings=2)),
        reg.save(make_assessment(rng, name="[bold]rich[/bold] <b>markup</b>", hostile=True)),
    ]
    reg.close()
    return url, ids


def test_list_as_json_and_as_a_table(filled: tuple[str, list[int]]) -> None:
    url, ids = filled
    result = run("registry", "list", "--db", url, "--format", "json")
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout)
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == sorted(ids, reverse=True)
    latest = json.loads(run("registry", "list", "--db", url, "--latest", "--format", "json").stdout)
    assert latest["total"] == 2
    table = run("registry", "list", "--db", url)
    assert table.returncode == 0
    # Names are printed as text, never interpreted as rich markup.
    assert "[bold]rich[/bold]" in table.stdout and "org/model" in table.stdout


def test_list_filters_and_bad_filters(filled: tuple[str, list[int]]) -> None:
    url, _ = filled
    page = json.loads(run("registry", "list", "--db", url, "-q", "ORG/", "--format", "json").stdout)
    assert {i["name"] for i in page["items"]} == {"org/model"}
    bad = run("registry", "list", "--db", url, "--threshold", "1e24:above")
    assert bad.returncode == 2
    assert "--threshold" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_show_text_and_json(filled: tuple[str, list[int]]) -> None:
    url, ids = filled
    reg = Registry(url)
    expected = reg.get(ids[1])
    reg.close()
    as_json = run("registry", "show", str(ids[1]), "--db", url, "--format", "json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == json.loads(expected.model_dump_json(by_alias=True))
    text = run("registry", "show", str(ids[1]), "--db", url)
    assert text.returncode == 0
    assert "org/model" in text.stdout and "2.0" in text.stdout and "threshold 1e25" in text.stdout
    for regime in expected.regimes.values():
        assert regime.instrument in text.stdout


def test_show_missing_is_one_clear_line(filled: tuple[str, list[int]]) -> None:
    url, _ = filled
    result = run("registry", "show", "999", "--db", url)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no assessment with id 999"


def test_diff_text_and_json(filled: tuple[str, list[int]]) -> None:
    url, ids = filled
    result = run("registry", "diff", str(ids[0]), str(ids[1]), "--db", url, "--format", "json")
    assert result.returncode == 0
    diff = json.loads(result.stdout)
    assert diff["a"]["id"] == ids[0] and diff["b"]["id"] == ids[1] and diff["same_model"]
    assert {"section": "release", "item": "version", "kind": "changed"}.items() <= diff["changes"][0].items()
    text = run("registry", "diff", str(ids[0]), str(ids[1]), "--db", url)
    assert "~ version: 1.0 → 2.0" in text.stdout
    assert "\nfindings\n" in text.stdout and "+ new " in text.stdout


def test_export_import_round_trip(filled: tuple[str, list[int]], tmp_path: Path) -> None:
    url, ids = filled
    out = tmp_path / "x.csv"
    result = run("registry", "export", str(out), "--db", url, "--format", "csv")
    assert result.returncode == 0 and "wrote 3 assessment(s)" in result.stderr
    with out.open(newline="") as f:
        assert [int(r["id"]) for r in csv.DictReader(f)] == ids
    # A document from `show --format json` is recorded again by `import` into another registry.
    doc = tmp_path / "a.json"
    doc.write_text(run("registry", "show", str(ids[2]), "--db", url, "--format", "json").stdout)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    imported = run("registry", "import", str(doc), "--db", other)
    assert imported.returncode == 0, imported.stderr
    new_id = json.loads(imported.stdout)["id"]
    reg, src = Registry(other), Registry(url)
    assert reg.get(new_id) == src.get(ids[2])
    reg.close()
    src.close()
    garbage = tmp_path / "bad.json"
    garbage.write_text('{"subject": {"name": 1}}')
    refused = run("registry", "import", str(doc), str(garbage), "--db", other)
    assert refused.returncode == 2 and "bad.json: not an assessment document" in refused.stderr
    assert Registry(other).count() == 1  # nothing recorded when one file is bad


def test_delete(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    reg = Registry(url)
    ident = reg.save(make_assessment(random.Random(1)))
    result = run("registry", "delete", str(ident), "--db", url)
    assert result.returncode == 0
    assert reg.count() == 0
    again = run("registry", "delete", str(ident), "--db", url)
    assert again.returncode == 2 and "no assessment with id" in again.stderr
    reg.close()


def test_environment_variable_selects_the_database(filled: tuple[str, list[int]]) -> None:
    url, _ = filled
    result = run("registry", "list", "--format", "json", env={**os.environ, "MODELWARDEN_DB": url})
    assert json.loads(result.stdout)["total"] == 3


def test_reading_commands_do_not_create_a_registry(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "registry.db"
    for args in (["list"], ["show", "1"], ["export", str(tmp_path / "out.csv"), "--format", "csv"]):
        done = run("registry", *args, "--db", f"sqlite:///{missing}")
        assert done.returncode == 2, (args, done.stderr)
        assert "no registry here" in done.stderr and str(missing) in done.stderr.replace("\n", "")
    assert not missing.parent.exists()  # neither the file nor its folder was created


def test_list_stays_legible_in_a_narrow_terminal(filled: tuple[str, list[int]]) -> None:
    url, ids = filled
    narrow = subprocess.run(
        [sys.executable, "-m", "modelwarden", "registry", "list", "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert narrow.returncode == 0
    lines = narrow.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if " model " in line)
    assert header.split() == ["id", "model", "as", "of", "MOF", "1e25", "findings", "duties"]
    assert all(str(i) in narrow.stdout for i in ids)


def test_recorded_names_cannot_drive_the_terminal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    reg = Registry(url)
    ident = reg.save(make_assessment(random.Random(3), name="evil\x1b[2J\rPASS", version="1"))
    reg.close()
    for args in (["list"], ["show", str(ident)]):
        done = run("registry", *args, "--db", url)
        assert done.returncode == 0 and "evil\\x1b[2J\\rPASS" in done.stdout, args
        assert "\x1b" not in done.stdout and "\r" not in done.stdout, args
    # `import` echoes each file name: one that reads as a closing markup tag is printed as it is.
    doc = tmp_path / "i[" / "x].json"
    doc.parent.mkdir()
    doc.write_text(run("registry", "show", str(ident), "--db", url, "--format", "json").stdout)
    imported = run("registry", "import", str(doc), "--db", f"sqlite:///{tmp_path / 'other.db'}")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["file"] == str(doc)
