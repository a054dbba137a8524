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


def test_jsonl_export_imports_back_exactly(filled: tuple[str, list[int]], tmp_path: Path) -> None:
    url, ids = filled
    out = tmp_path / "all.jsonl"
    assert run("registry", "export", str(out), "--db", url).returncode == 0
    other = f"sqlite:///{tmp_path / 'copy.db'}"
    done = run("registry", "import", str(out), "--db", other)
    assert done.returncode == 0, done.stderr
    new_ids = [json.loads(line)["id"] for line in done.stdout.splitlines()]
    src, dst = Registry(url), Registry(other)
    assert [dst.stored(i).assessment for i in new_ids] == [src.stored(i).assessment for i in ids]
    assert [dst.stored(i).digest for i in new_ids] == [src.stored(i).digest for i in ids]
    src.close()
    dst.close()
    # One record of the export, alone in a .json file, is one document too.
    single = tmp_path / "one.json"
    single.write_text(out.read_text().splitlines()[1] + "\n")
    assert run("registry", "import", str(single), "--db", other).returncode == 0


def test_import_errors_name_the_file_and_the_line(filled: tuple[str, list[int]], tmp_path: Path) -> None:
    url, _ = filled
    export = tmp_path / "all.jsonl"
    run("registry", "export", str(export), "--db", url)
    first = export.read_bytes().splitlines()[0]
    cases = {
        b'\n{"assessment": {"subject": 3}}\n': "line 3: not an assessment document: subject: Input should be",
        b"\n" + b"[" * 100_000 + b"\n": "line 3: not valid JSON: nested too deeply",
        b"\ncaf\xe9\n": "line 3: not UTF-8 text",
        b"\n{oops\n": "line 3: not valid JSON: Expecting property name",
    }
    target = tmp_path / "never.db"
    for tail, message in cases.items():
        bad = tmp_path / "bad.jsonl"
        bad.write_bytes(first + b"\n" + tail)
        done = run("registry", "import", str(bad), "--db", f"sqlite:///{target}")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"{bad}: {message}" in " ".join(done.stderr.split()), done.stderr
    assert not target.exists()  # nothing recorded, not even an empty registry
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    done = run("registry", "import", str(empty), "--db", f"sqlite:///{target}")
    assert done.returncode == 2 and f"{empty}: no assessments in the file" in done.stderr


def test_csv_exports_are_refused_by_name(filled: tuple[str, list[int]], tmp_path: Path) -> None:
    url, _ = filled
    out = tmp_path / "summary.csv"
    run("registry", "export", str(out), "--db", url, "--format", "csv")
    renamed = tmp_path / "summary.txt"  # recognised by its header row too
    renamed.write_bytes(out.read_bytes())
    for path in (out, renamed):
        done = run("registry", "import", str(path), "--db", f"sqlite:///{tmp_path / 'x.db'}")
        assert done.returncode == 2
        assert f"{path}: a CSV export holds only summary columns" in " ".join(done.stderr.split())


def test_import_of_a_fifo_or_folder_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jsonl")
    for path, reason in ((tmp_path / "pipe.jsonl", "not a regular file"), (tmp_path, "is a folder")):
        done = run("registry", "import", str(path), "--db", f"sqlite:///{tmp_path / 'x.db'}")
        assert done.returncode == 2 and f"{path}: cannot read: {reason}" in done.stderr


def test_imports_too_large_for_one_transaction_are_refused(tmp_path: Path) -> None:
    from modelwarden.errors import UsageError
    from modelwarden.registry.importing import MAX_IMPORT_BYTES, check_total_size

    parts = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for part in parts:
        with part.open("wb") as fh:
            fh.truncate(MAX_IMPORT_BYTES // 2 + 1)  # sparse: no disk used
    check_total_size(parts[:1])
    with pytest.raises(UsageError, match="over the 268,435,456 recorded in one transaction"):
        check_total_size(parts)


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "http://example.org/x"])
def test_unsupported_database_urls_are_one_line(url: str) -> None:
    done = run("registry", "list", "--db", url)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert "unsupported database URL scheme" in message and "sqlite:///FILE or postgresql://" in message
    assert "secret" not in message


def test_a_folder_given_as_the_database_is_named(filled: tuple[str, list[int]], tmp_path: Path) -> None:
    url, _ = filled
    doc = tmp_path / "all.jsonl"
    run("registry", "export", str(doc), "--db", url)
    folder = tmp_path / "db"
    folder.mkdir()
    for args in (["list"], ["import", str(doc)]):
        done = run("registry", *args, "--db", f"sqlite:///{folder}")
        assert done.returncode == 2
        assert f"{folder}: is a folder, not a SQLite database file" in " ".join(done.stderr.split())
