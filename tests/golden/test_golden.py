"""Golden files: every public output of the command line, byte for byte, on bundled inputs.

Each case runs the real `modelwarden` command in a child process (as a user would, stdout piped) on
the inputs of `tests/golden/inputs.py`, normalises what truly varies between runs
(`tests/golden/normalise.py`: the temp folder, the version, timestamps, timings) and compares the
result with `tests/golden/data/<case>`. A renderer change that alters any output fails here, so an
output contract cannot drift unnoticed.

Regenerate after a change made on purpose (and say in the commit message what changed and why):

    MODELWARDEN_UPDATE_GOLDEN=1 python -m pytest tests/golden -q

then read `git diff tests/golden/data` before committing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.golden.conftest import run
from tests.golden.inputs import AS_OF, PLAN
from tests.golden.normalise import normalise

DATA = Path(__file__).parent / "data"
UPDATE = os.environ.get("MODELWARDEN_UPDATE_GOLDEN") == "1"


@dataclass(frozen=True)
class Case:
    """One public output."""

    name: str
    """The golden file under tests/golden/data (its extension is the output's)."""
    args: tuple[str, ...]
    """The command line after `modelwarden`; `{plan}` is the bundled example manifest, `{out}` a file
    in the workspace the command writes its report to."""
    code: int = 0
    """The exit code the command must end with."""
    writes: bool = False
    """The output is the file at `{out}` (scan -o, registry export), not stdout."""


CASES = [
    # inspect
    Case("inspect.txt", ("inspect", "tiny-llama")),
    Case("inspect-tensors.txt", ("inspect", "tiny-llama", "--tensors")),
    Case("inspect.json", ("inspect", "tiny-llama", "--format", "json")),
    Case("inspect-hash-tensors.json", ("inspect", "tiny-llama", "--format", "json", "--hash", "--tensors")),
    Case("inspect.cdx.json", ("inspect", "tiny-llama", "--format", "cyclonedx")),
    Case("inspect-hash.cdx.json", ("inspect", "tiny-llama", "--format", "cyclonedx", "--hash")),
    # scan (a finding at or above --fail-on exits 1)
    Case("scan.txt", ("scan", "scan-samples"), code=1),
    Case("scan-show-info.txt", ("scan", "scan-samples", "--show-info", "--fail-on", "critical"), code=1),
    Case("scan.json", ("scan", "scan-samples", "--format", "json"), code=1),
    Case("scan.sarif", ("scan", "scan-samples", "--format", "sarif"), code=1),
    Case("scan-output.txt", ("scan", "scan-samples", "-o", "{out}"), code=1, writes=True),
    Case("scan-clean.txt", ("scan", "tiny-llama")),
    # openness
    Case("openness.txt", ("openness", "tiny-llama")),
    Case("openness.json", ("openness", "tiny-llama", "--format", "json")),
    Case("openness-mot.yaml", ("openness", "tiny-llama", "--format", "mot-yaml")),
    # assess: a release with files, and the bundled plan (manifest only)
    Case("assess.txt", ("assess", "tiny-llama", "--as-of", AS_OF)),
    Case("assess.json", ("assess", "tiny-llama", "--as-of", AS_OF, "--format", "json")),
    Case("assess.md", ("assess", "tiny-llama", "--as-of", AS_OF, "--format", "markdown")),
    Case("assess.html", ("assess", "tiny-llama", "--as-of", AS_OF, "--format", "html")),
    Case("assess.cdx.json", ("assess", "tiny-llama", "--as-of", AS_OF, "--format", "cyclonedx")),
    Case("assess-plan.txt", ("assess", "--manifest", "{plan}", "--as-of", AS_OF)),
    Case("assess-plan.json", ("assess", "--manifest", "{plan}", "--as-of", AS_OF, "--format", "json")),
    Case("assess-plan.md", ("assess", "--manifest", "{plan}", "--as-of", AS_OF, "--format", "markdown")),
    Case("assess-plan.html", ("assess", "--manifest", "{plan}", "--as-of", AS_OF, "--format", "html")),
    Case(
        "assess-plan.cdx.json", ("assess", "--manifest", "{plan}", "--as-of", AS_OF, "--format", "cyclonedx")
    ),
    # registry (filled by the `registry` fixture: #1 the plan, #2 tiny-llama)
    Case("registry-list.txt", ("registry", "list", "--db", "{db}")),
    Case("registry-list.json", ("registry", "list", "--db", "{db}", "--format", "json")),
    Case("registry-show.txt", ("registry", "show", "2", "--db", "{db}")),
    Case("registry-show.json", ("registry", "show", "2", "--db", "{db}", "--format", "json")),
    Case("registry-diff.txt", ("registry", "diff", "1", "2", "--db", "{db}")),
    Case("registry-diff.json", ("registry", "diff", "1", "2", "--db", "{db}", "--format", "json")),
    Case("registry-export.jsonl", ("registry", "export", "{out}", "--db", "{db}"), writes=True),
    Case(
        "registry-export.csv", ("registry", "export", "{out}", "--db", "{db}", "--format", "csv"), writes=True
    ),
]
DRAFTS_CASE = "docs"  # every draft `modelwarden docs` writes, one golden file each, plus its listing


def check(name: str, actual: str, workspace: Path) -> None:
    """Compare with the golden file (or write it under MODELWARDEN_UPDATE_GOLDEN=1)."""
    text = normalise(actual, workspace)
    golden = DATA / name
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8", newline="")
        return
    assert golden.is_file(), f"no golden file {golden}: run with MODELWARDEN_UPDATE_GOLDEN=1"
    expected = golden.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file (MODELWARDEN_UPDATE_GOLDEN=1 regenerates)"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_output_matches_its_golden_file(case: Case, workspace: Path, request: pytest.FixtureRequest) -> None:
    out = workspace / "out" / case.name
    out.parent.mkdir(exist_ok=True)
    out.unlink(missing_ok=True)
    db = request.getfixturevalue("registry") if case.args[0] == "registry" else ""
    args = [a.format(plan=PLAN, out=out, db=db) for a in case.args]
    done = run(workspace, *args)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == case.code, done.stderr
    check(case.name, out.read_text(encoding="utf-8") if case.writes else done.stdout, workspace)


def test_drafts_match_their_golden_files(workspace: Path) -> None:
    out = workspace / "drafts"
    done = run(workspace, "docs", "--manifest", str(PLAN), "--as-of", AS_OF, "--out", str(out))
    assert done.returncode == 0, done.stderr
    check(f"{DRAFTS_CASE}/listing.txt", done.stdout, workspace)
    written = sorted(p.name for p in out.iterdir())
    assert written, "docs wrote no draft"
    for name in written:
        check(f"{DRAFTS_CASE}/{name}", (out / name).read_text(encoding="utf-8"), workspace)
    if not UPDATE:  # a draft that is no longer written must lose its golden file too
        assert sorted(p.name for p in (DATA / DRAFTS_CASE).iterdir() if p.name != "listing.txt") == written


def test_web_assessment_page_matches_its_golden_file(workspace: Path, registry: str) -> None:
    from fastapi.testclient import TestClient

    from modelwarden.registry import Registry
    from modelwarden.web import create_app

    with Registry(registry) as reg, TestClient(create_app(reg), base_url="http://localhost") as client:
        page = client.get("/assessments/2")
    assert page.status_code == 200
    check("web-assessment.html", page.text, workspace)


def test_openapi_document_matches_its_golden_file(workspace: Path, registry: str) -> None:
    # The REST API's contract (paths, parameters, schemas with their field descriptions) as served.
    import json

    from fastapi.testclient import TestClient

    from modelwarden.registry import Registry
    from modelwarden.web import create_app

    with Registry(registry) as reg, TestClient(create_app(reg), base_url="http://localhost") as client:
        doc = client.get("/api/v1/openapi.json")
    assert doc.status_code == 200
    check("openapi.json", json.dumps(doc.json(), indent=2, sort_keys=True) + "\n", workspace)


def test_normaliser_replaces_only_what_varies(tmp_path: Path) -> None:
    from modelwarden import __version__

    raw = (
        f'{tmp_path}/a.bin modelwarden {__version__} "created_at": "2026-12-05T23:20:01.123456Z" '
        f'recorded 2026-12-05 23:20 UTC "duration_seconds": 0.0123 scanned in 0.01 s as of 2026-11-22 '
        "sha256 0.1.00 **Draft prepared:** 2026-12-05 by "
        '"serialNumber": "urn:uuid:c610cb97-965f-4155-b11e-6174bb00bb8b"'
    )
    assert normalise(raw, tmp_path) == (
        '<TMP>/a.bin modelwarden <VERSION> "created_at": "<DATETIME>" recorded <DATETIME> UTC '
        '"duration_seconds": "<SECONDS>" scanned in <SECONDS> s as of 2026-11-22 sha256 0.1.00 '
        '**Draft prepared:** <DATE> by "serialNumber": "urn:uuid:<UUID>"'
    )
