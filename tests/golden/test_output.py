"""The one renderer table, the one format enum and the one output sink (`--output/-o`), end to end.

Every command that emits a report writes through `report/output.py`: the same bytes to a file as to
stdout (text without colour), an existing file replaced whole, and a folder or a missing folder
refused with a message naming the path, leaving nothing behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelwarden.report.base import ALIASES, RENDERERS, SUPPORTED, OutputFormat, renderer
from tests.golden.conftest import run
from tests.golden.inputs import AS_OF

# The record kind each command renders, for the formats it declares.
KINDS = {
    "inspect": "facts",
    "scan": "scan",
    "openness": "openness",
    "assess": "assessment",
    "registry": "stored",
    "registry export": "stored",
}


def test_every_registered_renderer_imports_and_names_its_media_type() -> None:
    for (kind, fmt), r in RENDERERS.items():
        assert r.kind == kind and r.format is fmt
        assert "/" in r.media_type and r.extension and "." not in r.extension
        module, _, name = r.target.partition(":")
        assert callable(getattr(__import__(module, fromlist=[name]), name)), r.target
        if fmt is OutputFormat.TEXT:
            assert r.console_target is not None, kind


def test_every_format_a_command_declares_has_a_renderer() -> None:
    for command, formats in SUPPORTED.items():
        for fmt in formats:
            assert renderer(KINDS[command], fmt).format is ALIASES.get(fmt, fmt), (command, fmt)


def test_each_command_offers_exactly_the_formats_it_declares() -> None:
    code = """
import json, typer.main
from modelwarden.cli import app, load_commands
load_commands(None)
root = typer.main.get_command(app)
def choices(cmd):
    (p,) = [p for p in cmd.params if p.name == "format"]
    return [m.value for m in type(p.default)], p.default.value
reg = root.commands["registry"].commands
print(json.dumps({
    "inspect": choices(root.commands["inspect"]), "scan": choices(root.commands["scan"]),
    "openness": choices(root.commands["openness"]), "assess": choices(root.commands["assess"]),
    "registry": choices(reg["show"]), "registry list": choices(reg["list"]),
    "registry diff": choices(reg["diff"]), "registry export": choices(reg["export"]),
}))
"""
    got = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    for command, (values, default) in got.items():
        declared = SUPPORTED[command.replace(" list", "").replace(" diff", "")]
        assert values == [f.value for f in declared], command
        assert default == declared[0].value, command


REPORTS = [
    ("inspect", "tiny-llama", "--format", "json"),
    ("inspect", "tiny-llama"),
    ("scan", "tiny-llama", "--format", "sarif"),
    ("openness", "tiny-llama", "--format", "mot-yaml"),
    ("openness", "tiny-llama"),
    ("assess", "tiny-llama", "--as-of", AS_OF, "--format", "markdown", "--no-scan"),
    ("assess", "tiny-llama", "--as-of", AS_OF, "--no-scan"),
]


@pytest.mark.parametrize("args", REPORTS, ids=[" ".join(a[:1] + a[2:]) or a[0] for a in REPORTS])
def test_output_file_holds_what_stdout_shows(workspace: Path, args: tuple[str, ...]) -> None:
    target = workspace / "out" / ("-".join(args).replace("/", "_") + ".report")
    target.parent.mkdir(exist_ok=True)
    target.write_text("an older, longer report that must not survive in part\n" * 50)
    to_stdout = run(workspace, *args)
    to_file = run(workspace, *args, "--output", str(target))
    assert to_stdout.returncode == to_file.returncode == 0, to_file.stderr
    assert to_file.stdout == ""
    written = target.read_text(encoding="utf-8")
    assert "\x1b[" not in written and written.endswith("\n") and not written.endswith("\n\n")
    if "--format" in args:
        assert written == to_stdout.stdout
    else:  # text: the same lines, wider (a file is 160 columns, the test's terminal 120)
        assert [line.split() for line in written.splitlines()][:1] == [
            line.split() for line in to_stdout.stdout.splitlines()
        ][:1]


def test_registry_show_writes_its_report_to_a_file(workspace: Path, registry: str) -> None:
    target = workspace / "out" / "show.json"
    done = run(workspace, "registry", "show", "2", "--db", registry, "--format", "json", "-o", str(target))
    assert done.returncode == 0 and done.stdout == ""
    assert json.loads(target.read_text())["subject"]["name"] == "tiny-llama"


@pytest.mark.parametrize(
    "command", [("inspect", "tiny-llama"), ("scan", "tiny-llama"), ("openness", "tiny-llama")]
)
def test_output_to_a_folder_or_a_missing_folder_is_refused_naming_it(
    workspace: Path, command: tuple[str, ...]
) -> None:
    folder = workspace / "out" / "a-folder"
    folder.mkdir(parents=True, exist_ok=True)
    for target, named in (
        (folder, str(folder)),
        (workspace / "no-such" / "r.txt", str(workspace / "no-such")),
    ):
        done = run(workspace, *command, "-o", str(target))
        assert done.returncode == 2, done.stderr
        assert "cannot write the report" in done.stderr and named in done.stderr
        assert "Traceback" not in done.stderr
    assert list(folder.iterdir()) == []  # no temporary file left behind


def test_web_page_shows_the_conclusions_as_the_cli_html_does(workspace: Path, registry: str) -> None:
    """One HTML rendering of an assessment's conclusions: the dashboard includes the CLI's partial."""
    from fastapi.testclient import TestClient

    from modelwarden.model import Assessment
    from modelwarden.registry import Registry
    from modelwarden.report.html import _env, context
    from modelwarden.web import create_app

    with Registry(registry) as reg:
        a: Assessment = reg.stored(2).assessment
        with TestClient(create_app(reg), base_url="http://localhost") as client:
            page = client.get("/assessments/2").text
    cli_html = renderer("assessment", OutputFormat.HTML).render(a)
    assert "tiny-llama" in cli_html
    for name, marker in (
        ("_assessment_summary.html", "<h2>Summary</h2>"),
        ("_assessment_regimes.html", "eu_ai_act"),
    ):
        partial = _env().get_template(name).render(**context(a)).strip()
        assert marker in partial
        assert partial in cli_html and partial in page, name


def test_a_citation_link_that_is_not_http_is_inert_in_the_cli_html(workspace: Path, registry: str) -> None:
    from modelwarden.registry import Registry

    with Registry(registry) as reg:
        a = reg.stored(2).assessment
    regime = a.regimes["eu_ai_act"]
    first = regime.obligations[0]
    hostile = first.model_copy(
        update={"citation": first.citation.model_copy(update={"url": "javascript:alert(1)"})}
    )
    a.regimes["eu_ai_act"] = regime.model_copy(update={"obligations": [hostile, *regime.obligations[1:]]})
    html = renderer("assessment", OutputFormat.HTML).render(a)
    assert "javascript:" not in html
    assert 'class="inert"' in html
