"""The command line loads only what the chosen command needs.

Every command starts by importing `modelwarden.cli`; pulling the database stack, the gateway's crypto
or the scanners' optional libraries in there would slow `inspect` and `scan` for everybody (it did:
1.1 s cold when the gateway commands imported Alembic at module level). `main` imports only the
module of the command it runs (`COMMAND_MODULES`), so `modelwarden scan` does not pay for the
registry, gateway and audit commands either.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

from modelwarden.cli import COMMAND_MODULES

HEAVY = ["sqlalchemy", "alembic", "cryptography", "torch", "fastapi", "uvicorn", "onnx", "h5py", "jinja2"]
# Stacks a scan of a pickle has no use for: the other commands' libraries and the scanners' optional ones.
NOT_FOR_SCAN = [*HEAVY, "numpy", "httpx", "starlette", "redis", "modelwarden.registry", "modelwarden.gateway"]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_importing_the_cli_loads_no_heavy_stack() -> None:
    code = f"import sys, json, modelwarden.cli; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    assert json.loads(_python(code).stdout) == []


def test_scan_imports_only_the_scan_command(tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    code = f"""
import json, sys
sys.argv = ["modelwarden", "scan", "--no-hash", "--format", "json", {str(model)!r}]
from modelwarden.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
loaded = sorted(sys.modules)
print(json.dumps({{"exit": code, "modules": loaded}}), file=sys.stderr)
"""
    done = _python(code)
    report = json.loads(done.stdout)
    assert report["summary"]["files"] == 1 and not report["summary"]["failed"]
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    assert loaded["exit"] == 0
    modules = set(loaded["modules"])
    commands = {m for m in modules if m.startswith("modelwarden.cli.")}
    assert commands == {"modelwarden.cli.scan"}
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in NOT_FOR_SCAN)]
    assert heavy == []


def test_command_table_matches_what_each_module_registers() -> None:
    # Imported one at a time in a fresh interpreter: each module must add exactly the command the
    # table names, or `main` would run a command line without the command it asks for.
    code = f"""
import importlib, json
from typer.main import get_command_name
from modelwarden import cli

def names():
    got = {{c.name or get_command_name(c.callback.__name__) for c in cli.app.registered_commands}}
    return got | {{g.name or g.typer_instance.info.name for g in cli.app.registered_groups}}

added = {{}}
for module in sorted(set({COMMAND_MODULES!r}.values())):
    before = names()
    importlib.import_module("modelwarden.cli." + module)
    added[module] = sorted(names() - before)
print(json.dumps(added))
"""
    added = json.loads(_python(code).stdout)
    expected: dict[str, list[str]] = {}
    for command, module in COMMAND_MODULES.items():
        expected.setdefault(module, []).append(command)
    assert added == {m: sorted(c) for m, c in expected.items()}


def test_help_still_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelwarden", "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    for command in COMMAND_MODULES:
        assert command in done.stdout


def test_version_needs_no_command() -> None:
    code = """
import json, sys
sys.argv = ["modelwarden", "--version"]
from modelwarden.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("modelwarden.cli."))), file=sys.stderr)
"""
    done = _python(code)
    assert done.stdout.startswith("modelwarden ")
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
