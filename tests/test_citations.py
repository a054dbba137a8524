"""Every citation of a Markdown document resolves to a file of the repository and its section
(scripts/check_citations.py), and the old, unresolvable forms are rewritten (scripts/rewrite_citations.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


check_citations = _load("check_citations")
rewrite_citations = _load("rewrite_citations")


def pending() -> set[str]:
    """Files that still hold a citation in an old form (what scripts/rewrite_citations.py would change)."""
    out = set()
    for f in rewrite_citations.files(list(rewrite_citations.DEFAULT_PATHS)):
        rel = f.relative_to(ROOT).as_posix()
        text = f.read_text("utf-8")
        if f not in rewrite_citations.KEEP and rewrite_citations.rewrite(text) != text:
            out.add(rel)
    return out


def test_no_citation_in_an_old_form_remains() -> None:
    assert pending() == set()


def test_every_citation_in_the_repository_resolves() -> None:
    problems = check_citations.check(ROOT)
    assert not problems, "\n".join(map(str, problems))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small repository: one reference page with numbered, lettered and titled sections."""
    (tmp_path / "docs" / "reference").mkdir(parents=True)
    (tmp_path / "docs" / "reference" / "compute.md").write_text(
        "# Compute\n\n## 0. Summary\n\n1. first\n2. second\n\n## 4. Counting\n\n### 4.7 Exact counts\n\n"
        "## D. Cases\n\n## Output formats\n\n### Exit codes: the convention\n",
        encoding="utf-8",
    )
    (tmp_path / "docs" / "compute.md").write_text("# Page\n\n## Active parameters\n", encoding="utf-8")
    (tmp_path / "src").mkdir()
    return tmp_path


def _problems(tree: Path, text: str) -> list[str]:
    (tree / "src" / "mod.py").write_text(text, encoding="utf-8")
    return [p.reason for p in check_citations.check(tree, ("src",))]


@pytest.mark.parametrize(
    "citation",
    [
        "docs/reference/compute.md §4.7",
        "docs/reference/compute.md §4, §4.7",
        "docs/reference/compute.md §0 item 2",
        "docs/reference/compute.md §D",
        'docs/reference/compute.md "Output formats"',
        'docs/reference/compute.md, "Exit codes"',  # a heading that starts with the quoted words
        '(docs/compute.md "Active parameters")',
        "docs/compute.md",
        "README.md front matter",  # a release's file, not a citation
        "https://github.com/x/y/blob/main/scanners.md",  # part of a URL
    ],
)
def test_resolvable_citations_pass(tree: Path, citation: str) -> None:
    assert _problems(tree, f'"""See {citation}."""\n') == []


@pytest.mark.parametrize(
    ("citation", "reason"),
    [
        ("docs/reference/compute.md §4.8", "has no section 4.8"),
        ("docs/reference/compute.md §4.7, §9", "has no section 9"),
        ("docs/reference/compute.md §4–5", "has no section 5"),
        ("docs/reference/compute.md §0 item 7", "has no item 7"),
        ('docs/reference/compute.md "Speed"', "has no heading"),
        ("docs/reference/scanners.md §5", "no such file"),
        ("docs/compute.md §4.7", "has no section 4.7"),  # the repository page, not the reference note
        ("compute.md §4.7", "write the path from the repository root"),  # ambiguous bare name
        ("scanners.md §5", "write the path from the repository root"),
    ],
)
def test_broken_citations_fail(tree: Path, citation: str, reason: str) -> None:
    problems = _problems(tree, f"# a comment citing {citation}\n")
    assert len(problems) == 1 and reason in problems[0], problems


def test_markdown_links_and_anchors_are_checked(tree: Path) -> None:
    page = tree / "docs" / "index.md"
    page.write_text("[ok](compute.md#active-parameters) [bad](compute.md#passive) [gone](nope.md)\n")
    reasons = [p.reason for p in check_citations.check(tree, ("docs",))]
    assert len(reasons) == 2
    assert any("#passive" in r for r in reasons) and any("not a file" in r for r in reasons)


def test_the_script_exits_non_zero_and_lists_a_broken_citation(tree: Path, monkeypatch, capsys) -> None:
    (tree / "src" / "mod.py").write_text("# docs/reference/compute.md §99\n", encoding="utf-8")
    monkeypatch.setattr(check_citations, "ROOT", tree)
    monkeypatch.setattr(
        check_citations, "check", lambda: check_citations.Checker(tree).check_file(tree / "src" / "mod.py")
    )
    assert check_citations.main() == 1
    assert "src/mod.py:1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("(scanners.md technique 5)", "(docs/reference/scanners.md §5)"),
        (
            "refs: [scanners.md 1, scanners.md 2, CVE-2025-1716]",
            "refs: [docs/reference/scanners.md §1, docs/reference/scanners.md §2, CVE-2025-1716]",
        ),
        ('"scanners.md 5, 6"', '"docs/reference/scanners.md §5, §6"'),
        ("(scanners.md techniques 2-4)", "(docs/reference/scanners.md §2–4)"),
        ("(reference/scanners.md techniques 1 and 2)", "(docs/reference/scanners.md §1 and §2)"),
        ("(compute.md §4.7)", "(docs/reference/compute.md §4.7)"),
        ("(../shared/reference/compute.md §5.2)", "(docs/reference/compute.md §5.2)"),
        ("reference/regulation.md §1.11", "docs/reference/regulation.md §1.11"),
        ("(reference/compute.md §0.5)", "(docs/reference/compute.md §0 item 5)"),
        ('(formats.md "GGUF")', '(docs/reference/formats.md "GGUF")'),
        ("openness_examples.md F", "docs/reference/openness_examples.md §F"),
        ("regulation_examples.md A–D.", "docs/reference/regulation_examples.md §A–D."),
        ("(openness.md \\u00a71.2)", "(docs/reference/openness.md \\u00a71.2)"),
        ("see ARCHITECTURE.md", "see docs/ARCHITECTURE.md"),
        ('refs: [scan.md "Red-team bypasses"]', 'refs: [docs/scan.md "Red-team bypasses"]'),
        ('(docs/scan.md "Speed")', '(docs/scan.md "Where the time goes")'),
        # The repository's own pages stay as they are.
        ('(docs/compute.md "Active parameters")', '(docs/compute.md "Active parameters")'),
        ("[compute.md](compute.md#active-parameters)", "[compute.md](compute.md#active-parameters)"),
        ("(see docs/gateway.md)", "(see docs/gateway.md)"),
    ],
)
def test_rewrite_maps_old_citations_and_is_idempotent(old: str, new: str) -> None:
    assert rewrite_citations.rewrite(old) == new
    assert rewrite_citations.rewrite(new) == new


def test_rewritten_citations_resolve(tree: Path) -> None:
    """What the rewrite produces for the old `compute.md §4.7` is a citation the checker accepts."""
    assert _problems(tree, f"# {rewrite_citations.rewrite('compute.md §4.7')}\n") == []
