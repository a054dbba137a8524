"""Rewrite citations of documents that are not in the repository to the docs/ files that now hold them.

Before issue 18 the code cited research notes kept outside the repository (`scanners.md 5`,
`compute.md §4.7`, `reference/regulation.md §1.11`, `formats.md "GGUF"`, `ARCHITECTURE.md`...). Their facts
now live in docs/reference/ (same section numbers) and the design in docs/ARCHITECTURE.md. This script maps
every old form to the new one (`docs/reference/scanners.md §5`, `docs/reference/compute.md §4.7`, ...).

It is idempotent: a citation already written from the repository root (`docs/...`) is left alone, so it
can be re-run over the whole tree after other branches are merged. Usage:

    python scripts/rewrite_citations.py [PATH ...]
    # default: src tests benchmarks scripts examples docs README.md pyproject.toml

scripts/check_citations.py then verifies that every citation resolves.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = ("src", "tests", "benchmarks", "scripts", "examples", "docs", "README.md", "pyproject.toml")
SUFFIXES = {
    ".py",
    ".yaml",
    ".yml",
    ".json",
    ".jsonl",
    ".sarif",
    ".md",
    ".toml",
    ".j2",
    ".html",
    ".txt",
    ".mako",
    ".cfg",
}
SKIP_PARTS = {"__pycache__", ".git", "node_modules"}
# This script, the checker and their test show the old forms on purpose.
KEEP = {
    ROOT / "scripts" / "rewrite_citations.py",
    ROOT / "scripts" / "check_citations.py",
    ROOT / "tests" / "test_citations.py",
}

# Research notes that now live in docs/reference/ under the same name.
REFERENCE = (
    r"(?:scanners|formats|regulation|openness|gateway|compute"
    r"|compute_examples|regulation_examples|openness_examples)"
)
# Names that also exist directly under docs/ with different content: bare, they are only rewritten when a
# section number (§) follows, because `docs/compute.md "Active parameters"` and `(docs/compute.md)` are
# already citations of the repository's own page.
AMBIGUOUS = {"compute", "openness", "gateway"}

# Not preceded by a character that would make the match part of a longer path or URL.
START = r"(?<![\w/.\\-])"
# Optional old prefixes: ../shared/reference/, shared/reference/, reference/.
PREFIX = r"(?:\.\./)?(?:shared/)?(?P<ref>reference/)?"

CITATION = re.compile(
    START
    + PREFIX
    + r"(?P<name>"
    + REFERENCE
    + r")\.md(?P<after>[\"'`]?,? ?(?:§|\\u00a7|\(|\"|[A-F](?:[–-][A-F])?\b|techniques? |\d)?)"
)

# "scanners.md 5", "scanners.md technique 5", "scanners.md techniques 2-4", "scanners.md techniques 5, 6",
# "scanners.md techniques 1 and 2" (after the path has been rewritten).
SCANNER_NUMBERS = re.compile(
    r"docs/reference/scanners\.md (?:techniques? )?(?P<a>\d+)(?:(?P<sep>-|–|, | and )(?P<b>\d+))?(?![\d.])"
)
# "openness_examples.md F", "regulation_examples.md A–D": lettered sections of the worked examples.
LETTER_SECTIONS = re.compile(
    r"docs/reference/(?P<name>\w+_examples)\.md (?P<a>[A-H])(?:(?P<sep>[–-])(?P<b>[A-H]))?\b(?![.\w])"
)
OTHER = [
    # The design document moved into docs/.
    (re.compile(START + r"ARCHITECTURE\.md"), "docs/ARCHITECTURE.md"),
    # Headings of docs/scan.md cited under names they never had.
    (re.compile(r'docs/scan\.md(,? \(?\\?")Speed(\\?")'), r"docs/scan.md\1Where the time goes\2"),
    (
        re.compile(r'docs/scan\.md(,? \(?\\?")The exact allowlist(\\?")'),
        r"docs/scan.md\1Severities and the exact allowlist\2",
    ),
    # "compute.md §0.5" meant item 5 of the numbered list in §0.
    (re.compile(r"(docs/reference/compute\.md §0)\.(\d)\b"), r"\1 item \2"),
    # Bare repository pages cited with a quoted heading (`scan.md "Red-team bypasses"` in the scan rules).
    (re.compile(START + r"(?P<n>scan|assess|inspect|registry|cli)\.md(?= \\?\")"), r"docs/\g<n>.md"),
]


def _rewrite_reference(m: re.Match[str]) -> str:
    name, after = m.group("name"), m.group("after") or ""
    if not after and m.string[m.end() : m.end() + 1] in ("]", ")", "#"):
        return m.group(0)  # a Markdown link or its text (`[compute.md](compute.md)`), relative to its page
    if name in AMBIGUOUS and not m.group("ref") and not after.lstrip("\"'`, ").startswith(("§", "\\u00a7")):
        return m.group(0)  # a bare `compute.md` without § names the repository page docs/compute.md
    return f"docs/reference/{name}.md{after}"


def _scanner_sections(m: re.Match[str]) -> str:
    a, sep, b = m.group("a"), m.group("sep"), m.group("b")
    if not b:
        return f"docs/reference/scanners.md §{a}"
    if sep in ("-", "–"):
        return f"docs/reference/scanners.md §{a}–{b}"
    return f"docs/reference/scanners.md §{a}{sep}§{b}"


def _letter_sections(m: re.Match[str]) -> str:
    name, a, b = m.group("name"), m.group("a"), m.group("b")
    return f"docs/reference/{name}.md §{a}" + (f"–{b}" if b else "")


def rewrite(text: str) -> str:
    """Return `text` with every old citation replaced by its resolvable form."""
    text = CITATION.sub(_rewrite_reference, text)
    text = SCANNER_NUMBERS.sub(_scanner_sections, text)
    # "docs/reference/scanners.md §1, scanners.md 2" in rule refs was written as two citations already.
    text = LETTER_SECTIONS.sub(_letter_sections, text)
    for pattern, replacement in OTHER:
        text = pattern.sub(replacement, text)
    return text


LINE_LIMIT = 110  # ruff's line-length (pyproject.toml)

# String literals the rewrite makes too long, which `ruff format` cannot split: split by hand here.
_INDENT = " " * 24
FIXUPS = {
    _INDENT
    + 'f"tier {name!r} does not block {code} (docs/reference/gateway.md §11.5 blocks it for everyone)"': (
        _INDENT
        + 'f"tier {name!r} does not block {code} "\n'
        + _INDENT
        + '"(docs/reference/gateway.md §11.5 blocks it for everyone)"'
    ),
}


def _docstring_lines(source: str) -> set[int]:
    """1-based numbers of the lines that are inside docstrings (text that may be re-wrapped)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    out: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.end_lineno:
                out.update(range(value.lineno, value.end_lineno + 1))
    return out


def _prefix(line: str, in_docstring: bool) -> str | None:
    """The part a continuation line repeats: a comment's `# ` with its indent, a docstring's indent."""
    m = re.match(r"(\s*# )", line)
    if m:
        return m.group(1)
    if in_docstring:
        return re.match(r"\s*", line).group(0)  # type: ignore[union-attr]
    return None


def rewrap(old: str, new: str) -> str:
    """Re-wrap the comment and docstring lines the rewrite made longer than LINE_LIMIT.

    The overflow moves to the start of the next line when that line continues the same comment or
    docstring paragraph, else to a new line; code lines are left alone (reported by ruff if too long)."""
    if old == new:
        return new
    lines = new.split("\n")
    docs = _docstring_lines(new)
    i = 0
    while i < len(lines):
        line = lines[i]
        prefix = _prefix(line, i + 1 in docs)
        trailing = (
            re.match(r"(\s*)(\S.*?)  (# .*)$", line) if len(line) > LINE_LIMIT and prefix is None else None
        )
        balanced = (
            trailing and trailing.group(2).count('"') % 2 == 0 and trailing.group(2).count("'") % 2 == 0
        )
        if trailing and balanced and i + 1 not in docs:
            # A comment after code that grew too long goes on its own line above the code.
            indent, code, comment = trailing.groups()
            lines[i : i + 1] = [indent + comment, indent + code]
            docs = _docstring_lines("\n".join(lines))
            continue
        if (
            len(line) <= LINE_LIMIT
            or prefix is None
            or (i + 1 not in docs and not line.lstrip().startswith("#"))
        ):
            i += 1
            continue
        cut = line.rfind(" ", len(prefix) + 1, LINE_LIMIT + 1)
        if cut <= len(prefix):
            i += 1
            continue
        head, tail = line[:cut], line[cut + 1 :]
        lines[i] = head
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        same = (
            nxt is not None
            and _prefix(nxt, i + 2 in docs) == prefix
            and nxt[len(prefix) :].strip()
            and not nxt.strip().startswith(('"""', "- ", "* ", "|"))
            and not tail.endswith('"""')
        )
        if same:
            lines[i + 1] = prefix + tail + " " + nxt[len(prefix) :]
        else:
            lines.insert(i + 1, prefix + tail)
            docs = _docstring_lines("\n".join(lines))
        i += 1
    return "\n".join(lines)


def files(paths: list[str]) -> list[Path]:
    """Every text file under `paths` that may hold a citation."""
    out: list[Path] = []
    for p in paths:
        path = (ROOT / p) if not Path(p).is_absolute() else Path(p)
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for f in candidates:
            if (
                f.is_file()
                and f.suffix in SUFFIXES
                and not SKIP_PARTS & set(f.parts)
                and not any(part.startswith(".") for part in f.relative_to(ROOT).parts[:-1])  # .venv, .peers
            ):
                out.append(f)
    return out


def main(argv: list[str]) -> int:
    """Rewrite in place; print each changed file."""
    changed = 0
    for f in files(argv or list(DEFAULT_PATHS)):
        if f.resolve() in KEEP:
            continue  # they show the old forms on purpose
        try:
            old = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = rewrap(old, rewrite(old)) if f.suffix == ".py" else rewrite(old)
        for long_line, split in FIXUPS.items():
            new = new.replace(long_line, split)
        if f.suffix == ".py":
            for n, line in enumerate(new.split("\n"), 1):
                if len(line) > LINE_LIMIT and line not in old:
                    print(
                        f"{f}:{n}: still longer than {LINE_LIMIT} characters: run ruff format",
                        file=sys.stderr,
                    )
        if new != old:
            f.write_text(new, encoding="utf-8")
            changed += 1
            print(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f)
    print(f"{changed} file(s) rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
