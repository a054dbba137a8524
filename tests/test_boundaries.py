"""Architecture boundaries, checked on the source (an AST walk over every module of each stage):

- no stage imports the CLI (`modelwarden.cli` is the outer edge that composes stages);
- the gateway imports nothing from the web stage, and the web stage does not name the gateway (the
  gateway's dashboard page is mounted by `modelwarden serve`, in cli/serve.py);
- no library module changes the process environment (os.environ, putenv, unsetenv): only cli/ may,
  for a child process it starts;
- the Hugging Face cache is read offline without touching os.environ and without a network call.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import modelwarden

SRC = Path(modelwarden.__file__).parent
STAGES = (
    "facts",
    "scan",
    "artifacts",
    "openness",
    "compute",
    "rules",
    "assess",
    "registry",
    "gateway",
    "web",
)


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module: str) -> set[str]:
    """Every module an `import` or `from ... import` names, relative imports resolved."""
    found: set[str] = set()
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _strings(tree: ast.AST) -> list[str]:
    """Every string constant the code uses, docstrings and other bare string statements left out."""
    prose = {
        id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in prose
    ]


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_the_cli(stage: str) -> None:
    files = _modules(SRC / stage)
    assert files, stage
    offenders = [
        f"{_module_name(p)} imports {name}"
        for p in files
        for name in _imports(ast.parse(p.read_text("utf-8")), _module_name(p))
        if _within(name, "modelwarden.cli")
    ]
    assert not offenders


def test_the_gateway_imports_nothing_from_the_web_stage() -> None:
    offenders = [
        f"{_module_name(p)} imports {name}"
        for p in _modules(SRC / "gateway")
        for name in _imports(ast.parse(p.read_text("utf-8")), _module_name(p))
        if _within(name, "modelwarden.web")
    ]
    assert not offenders


def test_the_web_stage_neither_imports_nor_names_the_gateway() -> None:
    offenders = []
    for p in _modules(SRC / "web"):
        tree = ast.parse(p.read_text("utf-8"))
        offenders += [n for n in _imports(tree, _module_name(p)) if _within(n, "modelwarden.gateway")]
        # A "module:attribute" string table imported at run time is an import too.
        offenders += [s for s in _strings(tree) if "modelwarden.gateway" in s]
    assert offenders == []


def test_every_stage_module_imports() -> None:
    """The AST checks above see every module: each one imports (no module is dead or broken)."""
    for stage in STAGES:
        for p in _modules(SRC / stage):
            importlib.import_module(_module_name(p))


_MUTATORS = frozenset({"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"})


def _environ(node: ast.AST) -> bool:
    """`os.environ` or a bare `environ` (from os import environ)."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def environment_mutations(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for t in targets:
            if isinstance(t, ast.Subscript) and _environ(t.value):
                found.append(f"line {node.lineno}: writes os.environ[...]")
            if _environ(t):
                found.append(f"line {node.lineno}: replaces os.environ")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _MUTATORS and _environ(node.func.value):
                found.append(f"line {node.lineno}: os.environ.{node.func.attr}(...)")
            if node.func.attr in ("putenv", "unsetenv"):
                found.append(f"line {node.lineno}: os.{node.func.attr}(...)")
    return found


def test_the_detector_sees_each_way_of_changing_the_environment() -> None:
    for line in (
        "os.environ['A'] = '1'",
        "os.environ.setdefault('A', '1')",
        "os.environ.update(A='1')",
        "del os.environ['A']",
        "os.environ.pop('A')",
        "os.putenv('A', '1')",
        "environ['A'] = '1'",
        "os.environ |= {'A': '1'}",
    ):
        assert environment_mutations("import os\nfrom os import environ\n" + line), line
    assert not environment_mutations("import os\nx = os.environ.get('A')\ny = dict(os.environ)\n")


def test_no_library_module_changes_the_environment() -> None:
    offenders = {
        str(p.relative_to(SRC)): found
        for p in _modules(SRC)
        if "cli" not in p.relative_to(SRC).parts[:1]
        for found in [environment_mutations(p.read_text("utf-8"))]
        if found
    }
    assert offenders == {}


_OFFLINE_CHILD = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    def no_network(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto"):
            raise RuntimeError(f"network use: {event} {args!r}")

    sys.addaudithook(no_network)
    before = dict(os.environ)
    from modelwarden.errors import UsageError
    from modelwarden.facts.card import read_card
    from modelwarden.release import resolve

    release = resolve(sys.argv[1])
    try:
        resolve("nobody/not-cached")
    except UsageError as exc:
        missing = exc.message
    card = read_card(Path(sys.argv[2]), "README.md")
    print(json.dumps({
        "root": str(release.root), "revision": release.revision, "missing": missing,
        "licence": card.metadata.get("license"), "env_changed": dict(os.environ) != before,
    }))
    """
)


def test_the_cache_and_cards_are_read_offline_without_changing_the_environment(
    minilm_dir: Path, tmp_path: Path
) -> None:
    from tests.test_inspect_release import _fake_cache

    cache = tmp_path / "cache"
    snap = _fake_cache(cache, "sentence-transformers/all-MiniLM-L6-v2", minilm_dir)
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: apache-2.0\n---\n# card\n")
    # The child starts without HF_HUB_OFFLINE: staying offline must not depend on it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    proc = subprocess.run(
        [sys.executable, "-c", _OFFLINE_CHILD, "sentence-transformers/all-MiniLM-L6-v2", str(readme)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "HF_HUB_CACHE": str(cache), "PYTHONPATH": str(SRC.parent)},
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["root"] == str(snap) and result["revision"] == snap.name
    assert "not found in the local Hugging Face cache" in result["missing"]
    assert result["licence"] == "apache-2.0"
    assert result["env_changed"] is False


def _requirement(name: str) -> object:
    import tomllib

    from packaging.requirements import Requirement

    deps = tomllib.loads((SRC.parent.parent / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]
    found = [r for r in map(Requirement, deps) if r.name == name]
    assert len(found) == 1, name
    return found[0]


def test_typer_is_pinned_to_the_tested_minor_version() -> None:
    """cli/reference.py walks Typer's click command tree, whose shape changes between minors."""
    from importlib.metadata import version

    spec = _requirement("typer").specifier  # type: ignore[attr-defined]
    installed = version("typer")
    assert spec.contains(installed)
    major, minor = map(int, installed.split(".")[:2])
    assert not spec.contains(f"{major}.{minor + 1}.0") and not spec.contains(f"{major}.{minor - 1}.99")


def test_rfc8785_is_a_product_dependency() -> None:
    from importlib.metadata import version

    assert _requirement("rfc8785").specifier.contains(version("rfc8785"))  # type: ignore[attr-defined]
