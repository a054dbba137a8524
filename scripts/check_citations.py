"""Check that every citation of a Markdown document resolves to a file of the repository and its section.

A citation is a `.md` path that is not part of a URL, optionally followed by a section:

    docs/reference/compute.md §4.7              a numbered heading (`## 4.7 ...`)
    docs/reference/compute.md §0 item 5         item 5 of the numbered list in section 0
    docs/reference/scanners.md §2–4, §6         ranges and lists: every number must exist
    docs/reference/openness_examples.md §D      a lettered heading (`## D. ...`)
    docs/scan.md "Output" / docs/scan.md, "Output" / (docs/scan.md "Output")   a heading, by its words
    [text](compute.md#active-parameters)        a Markdown link and its anchor

Paths are written from the repository root; inside a Markdown file they may also be relative to it (a
sibling page). A bare name with a section outside Markdown (`compute.md §4.7`) is ambiguous —
docs/compute.md and docs/reference/compute.md both exist — and is reported. A bare name without a
section is a file name (a release's README.md, a file the product writes, a path built in code), not a
citation. A quoted heading matches a heading equal to it or starting with it (`"Exposure"` →
`## Exposure: who can read what`).

Exit status 1 lists the unresolved citations; `make lint` and tests/test_citations.py run it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = (
    "src",
    "tests",
    "benchmarks",
    "scripts",
    "examples",
    "docs",
    "README.md",
    "pyproject.toml",
    "Makefile",
)
SUFFIXES = {".py", ".yaml", ".yml", ".json", ".md", ".toml", ".j2", ".html", ".txt", ".mako", ".cfg", ""}
SKIP_DIRS = {"__pycache__", ".git"}
# Test data quoting other repositories' paths (e.g. `nlp_models/pythia/README.md` in a provenance note).
SKIP_TEST_DATA = "data"
# Their docstrings show old or deliberately unresolvable forms.
SKIP_FILES = {
    "scripts/rewrite_citations.py",
    "scripts/check_citations.py",
    "tests/test_citations.py",
    "tests/golden/test_golden.py",  # golden file names such as "assess.md", not citations
}

# Not preceded by a path or URL character, so `https://github.com/x/y/README.md` is not a citation.
PATH = r"(?<![\w/.\\:@#-])(?P<path>(?:\.{1,2}/)*(?:[\w.-]+/)*[\w.-]+\.md)\b"
NUMBER = r"(?:\d+(?:\.\d+)*|[A-Z]\b)(?: item \d+)?"
SECTION = r"(?P<sections>§" + NUMBER + r"(?:(?:, | and |[–-])§?" + NUMBER + r")*)"
HEADING = r"(?P<heading>\"[^\"\n]{1,80}\"|\\\"[^\"\n]{1,80}\\\")"
CITATION = re.compile(PATH + r"(?P<tail>[`'\\\"]?,? \(?(?:" + SECTION + "|" + HEADING + r"))?")
LINK = re.compile(r"\]\((?P<path>[\w./-]+\.md)(?:#(?P<anchor>[\w-]+))?\)")

# Release files a model repository holds, and files the product writes: named, never cited.
NOT_CITATIONS = {
    "README.md",
    "readme.md",
    "README.MD",
    "USE_POLICY.md",
    "ACCEPTABLE_USE_POLICY.md",
    "LICENSE.md",
    "LICENCE.md",
    "MODEL_CARD.md",
    "assessment.md",
    "draft.md",
    "CHANGELOG.md",
}


@dataclass(frozen=True)
class Problem:
    """One citation that does not resolve."""

    file: str
    line: int
    citation: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.citation!r}: {self.reason}"


@dataclass
class Doc:
    """A Markdown file's headings: numbered/lettered sections, titles, GitHub anchors, list items."""

    numbers: dict[str, int]  # "4.7" / "D" → line index of its heading
    titles: set[str]
    anchors: set[str]
    lines: list[str]

    @classmethod
    def read(cls, path: Path) -> Doc:
        lines = path.read_text(encoding="utf-8").splitlines()
        numbers: dict[str, int] = {}
        titles: set[str] = set()
        anchors: set[str] = set()
        fenced = False
        for i, line in enumerate(lines):
            if line.startswith("```"):
                fenced = not fenced
            m = None if fenced else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            title = m.group(1)
            anchors.add(_anchor(title))
            num = re.match(r"(\d+(?:\.\d+)*|[A-Z])\.?\s+(.*)", title)
            if num:
                numbers[num.group(1)] = i
                titles.add(_norm(num.group(2)))
            titles.add(_norm(title))
        return cls(numbers, titles, anchors, lines)

    def has_item(self, section: str, item: str) -> bool:
        """Whether section `section` holds a numbered list item `item.`."""
        start = self.numbers.get(section)
        if start is None:
            return False
        for line in self.lines[start + 1 :]:
            if line.startswith("#"):
                return False
            if re.match(rf"\s*{re.escape(item)}\.\s", line):
                return True
        return False


def _norm(title: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[*`_\"']", "", title)).strip().lower()


def _anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", _norm(title)).replace(" ", "-")


def _section_numbers(text: str) -> list[tuple[str, str | None]]:
    """`§0 item 5, §2–4` → [("0", "5"), ("2", None), ("3", None), ("4", None)]."""
    out: list[tuple[str, str | None]] = []
    for m in re.finditer(
        r"§?(\d+(?:\.\d+)*|[A-Z]\b)(?: item (\d+))?(?:[–-]§?(\d+(?:\.\d+)*|[A-Z]\b))?", text
    ):
        first, item, last = m.group(1), m.group(2), m.group(3)
        out.append((first, item))
        if last and first.isdigit() and last.isdigit():
            out.extend((str(n), None) for n in range(int(first) + 1, int(last) + 1))
        elif last and len(first) == 1 and len(last) == 1 and first.isalpha():
            out.extend((chr(c), None) for c in range(ord(first) + 1, ord(last) + 1))
        elif last:
            out.append((last, None))
    return out


class Checker:
    """Resolves citations against the files under `root`, caching parsed documents."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.docs: dict[Path, Doc] = {}
        self.doc_names = (
            {p.name for p in (root / "docs").rglob("*.md")} if (root / "docs").is_dir() else set()
        )

    def doc(self, path: Path) -> Doc:
        if path not in self.docs:
            self.docs[path] = Doc.read(path)
        return self.docs[path]

    def resolve(self, cited: str, source: Path) -> Path | None:
        """The file a citation names: from the root, or (in Markdown) beside the citing file."""
        bases = [self.root]
        if source.suffix == ".md":
            bases.insert(0, source.parent)
        for base in bases:
            target = (base / cited).resolve()
            if target.is_file() and target.is_relative_to(self.root):
                return target
        return None

    def check_file(self, source: Path) -> list[Problem]:
        rel = source.relative_to(self.root).as_posix()
        try:
            text = source.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            return []
        problems: list[Problem] = []
        for n, line in enumerate(text.splitlines(), 1):
            links = {m.start("path") for m in LINK.finditer(line)}
            # Words in a Markdown link's text (`[docs/x.md](https://...)`) name the target, not a file here.
            texts = [range(m.start(), m.end()) for m in re.finditer(r"\[[^\]]*\]\(", line)]
            for m in LINK.finditer(line):
                base = source.parent if source.suffix == ".md" else self.root / "docs"
                target = (base / m.group("path")).resolve()
                if not target.is_file():
                    problems.append(
                        Problem(rel, n, m.group(0), "link target is not a file of the repository")
                    )
                elif m.group("anchor") and m.group("anchor") not in self.doc(target).anchors:
                    problems.append(
                        Problem(rel, n, m.group(0), f"no heading with anchor #{m.group('anchor')}")
                    )
            for m in CITATION.finditer(line):
                if m.start("path") in links or any(m.start("path") in t for t in texts):
                    continue  # a Markdown link (checked above) or its text
                problem = self.check_citation(m, source)
                if problem:
                    problems.append(Problem(rel, n, m.group(0).strip(), problem))
        return problems

    def check_citation(self, m: re.Match[str], source: Path) -> str | None:
        """Why the citation in `m` does not resolve, or None."""
        cited = m.group("path")
        bare = "/" not in cited
        sectioned = bool(m.group("sections") or m.group("heading"))
        if bare and (cited in NOT_CITATIONS or not sectioned):
            return None  # a file name (a release's README.md, an output file, a path built in code)
        if bare and source.suffix != ".md":
            return "write the path from the repository root (e.g. docs/reference/" + cited + ")"
        target = self.resolve(cited, source)
        if target is None:
            if (
                sectioned
                or cited.startswith(("docs/", "reference/", "../"))
                or Path(cited).name in self.doc_names
            ):
                return "no such file in the repository"
            return None  # a path the code writes or reads (build/..., reports/<id>.md), not a citation
        if target.suffix != ".md":
            return None
        doc = self.doc(target)
        if m.group("sections"):
            for number, item in _section_numbers(m.group("sections")):
                if number not in doc.numbers:
                    return f"{target.relative_to(self.root)} has no section {number}"
                if item and not doc.has_item(number, item):
                    return f"{target.relative_to(self.root)} §{number} has no item {item}"
        elif m.group("heading"):
            title = _norm(m.group("heading").replace('\\"', '"').strip('"'))
            if not any(t == title or re.match(re.escape(title) + r"\W", t) for t in doc.titles):
                return f"{target.relative_to(self.root)} has no heading {title!r}"
        return None


def files(root: Path, paths: tuple[str, ...] = SCANNED) -> list[Path]:
    """The text files whose citations are checked."""
    out: list[Path] = []
    for p in paths:
        path = root / p
        for f in [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []:
            rel = f.relative_to(root)
            if (
                f.is_file()
                and f.suffix in SUFFIXES
                and not any(p in SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1])  # .venv, .peers
                and not (rel.parts[0] == "tests" and SKIP_TEST_DATA in rel.parts[:-1])
                and rel.as_posix() not in SKIP_FILES
            ):
                out.append(f)
    return out


def check(root: Path = ROOT, paths: tuple[str, ...] = SCANNED) -> list[Problem]:
    """Every unresolved citation under `paths`."""
    checker = Checker(root)
    return [p for f in files(root, paths) for p in checker.check_file(f)]


def main() -> int:
    problems = check()
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} unresolved citation(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
