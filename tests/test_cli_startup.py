"""The command line loads only what the chosen command needs.

Every command starts by importing `modelwarden.cli`; pulling the database stack, the gateway's crypto
or the scanners' optional libraries in there would slow `inspect` and `scan` for everybody (it did:
1.1 s cold when the gateway commands imported Alembic at module level). `main` imports only the
module of the command it runs (`COMMAND_MODULES`), so `modelwarden scan` does not pay for the
registry, gateway and audit commands either.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

from modelwarden.cli import COMMAND_MODULES

HEAVY = ["sqlalchemy", "alembic", "cryptography", "torch", "fastapi", "uvicorn", "onnx", "h5py", "jinja2"]
# Stacks a scan of a pickle has no use for: the other commands' libraries and the scanners' optional ones.
NOT_FOR_SCAN = [*HEAVY, "numpy", "httpx", "starlette", "redis", "modelwarden.registry", "modelwarden.gateway"]
# What `scan --format json` of a pickle starts without (docs/scan.md "Where the time goes"): the CLI framework
# and the pydantic it imports, the console library, the other formats' analysers, and the hash machinery
# under --no-hash.
NOT_FOR_SCAN_JSON = [
    "typer",
    "click",
    "pydantic",
    "pydantic_core",
    "rich",
    "yaml",
    "modelwarden.model",
    "modelwarden.scan.keras_files",
    "modelwarden.scan.onnx_files",
    "modelwarden.scan.gguf_files",
    "modelwarden.scan.configs",
    "modelwarden.scan.savedmodel",
    "modelwarden.scan.folders",
    "modelwarden.hashing",
    "sqlite3",
    "concurrent.futures",
]


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
    # No other command's module: the scan ran through the Typer-free fast path (cli/_scan_fast.py).
    assert commands == {"modelwarden.cli._scan_fast"}
    heavy = [
        m for m in modules if any(m == h or m.startswith(h + ".") for h in NOT_FOR_SCAN + NOT_FOR_SCAN_JSON)
    ]
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
commands = [m for m in sys.modules if m.startswith("modelwarden.cli.") and "._" not in m]
print(json.dumps(sorted(commands)), file=sys.stderr)
"""
    done = _python(code)
    assert done.stdout.startswith("modelwarden ")
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


# ------------------------------------------------------------------------------------------------------
# The Typer-free `scan` path (cli/_scan_fast.py) must be the same command as the Typer one.
# ------------------------------------------------------------------------------------------------------


def test_fast_scan_knows_every_option_of_the_typer_command() -> None:
    # Names, defaults and choices of cli/scan.py's options, read from the Click command Typer builds.
    code = """
import enum, json
import typer.main
from modelwarden.cli import app, load_commands
load_commands(["scan"])
command = typer.main.get_command(app).commands["scan"]
params = []
for p in command.params:
    is_enum = isinstance(p.default, enum.Enum)  # Typer's choices: the members of the option's enum
    choices = [m.value for m in type(p.default)] if is_enum else None
    default = p.default.value if is_enum else p.default
    params.append({"name": p.name, "opts": p.opts, "flag": bool(getattr(p, "is_flag", False)),
                   "choices": choices, "default": default, "argument": p.param_type_name == "argument"})
print(json.dumps(params))
"""
    from modelwarden.cli import _scan_fast

    params = json.loads(_python(code).stdout)
    options = [p for p in params if not p["argument"] and p["name"] != "help"]
    assert [p["name"] for p in params if p["argument"]] == ["paths"]
    flags = {p["name"]: p for p in options if p["flag"]}
    values = {p["name"]: p for p in options if not p["flag"]}
    assert set(flags) == set(_scan_fast.FLAGS.values())
    for opt, name in _scan_fast.FLAGS.items():
        assert flags[name]["opts"] == [opt] and flags[name]["default"] is False
    assert set(values) == set(_scan_fast.VALUES)
    for name, (opts, choices, default) in _scan_fast.VALUES.items():
        assert sorted(values[name]["opts"]) == sorted(opts)
        assert values[name]["choices"] == (list(choices) if choices else None)
        assert values[name]["default"] == default


def test_fast_scan_parses_only_what_it_reads_like_click() -> None:
    from modelwarden.cli._scan_fast import parse

    got = parse(["scan", "a.pkl", "--format=json", "-o", "r.json", "--no-hash", "--", "--b.pkl"])
    assert got is not None
    assert got["paths"] == [Path("a.pkl"), Path("--b.pkl")] and got["format"] == "json"
    assert got["output"] == Path("r.json") and got["no_hash"] is True and got["fail_on"] == "medium"
    assert parse(["scan", "a", "-f", "sarif", "--fail-on", "low", "-f", "text"]) == {
        "format": "text",  # the last one wins, as in Click
        "fail_on": "low",
        "output": None,
        "no_hash": False,
        "no_hash_cache": False,
        "show_info": False,
        "remote": False,
        "paths": [Path("a")],
    }
    for declined in (
        ["scan"],  # Click's "Missing argument"
        ["scan", "--help"],
        ["scan", "a", "--format", "JSON"],  # not a choice: Click's message
        ["scan", "a", "-fjson"],
        ["scan", "a", "--fail-on"],
        ["scan", "a", "--no-hash=1"],
        ["scan", "a", "--unknown"],
        ["scan", "-"],
        ["scan", ""],
        ["scan", "a", "-o", "-"],
        ["inspect", "a"],
    ):
        assert parse(declined) is None, declined


_RUN = """
import json, sys
sys.argv = ["modelwarden", *json.loads(sys.argv[1])]
import modelwarden.cli as cli
if sys.argv[-1] == "TYPER":
    sys.argv.pop()
    cli._run_fast_scan = lambda args: False
code = 0
try:
    cli.main()
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print("\\n" + json.dumps({"exit": code, "typer": "typer" in sys.modules}), file=sys.stderr)
"""


def _both(args: list[str], tmp: Path) -> tuple[dict[str, object], dict[str, object]]:
    import re

    runs = []
    for path in ("fast", "TYPER"):
        extra = ["TYPER"] if path == "TYPER" else []
        out = tmp / "report.out"
        out.unlink(missing_ok=True)
        done = subprocess.run(
            [sys.executable, "-c", _RUN, json.dumps([*args, *extra])],
            capture_output=True,
            text=True,
            env={**os.environ, "MODELWARDEN_CACHE_DIR": str(tmp / "cache"), "COLUMNS": "120"},
        )
        err, _, tail = done.stderr.rstrip("\n").rpartition("\n")
        status = json.loads(tail)
        timing = re.compile(r"(scanned in |\"duration_seconds\": )[0-9.]+")
        runs.append(
            {
                "stdout": timing.sub(r"\1X", done.stdout),
                "stderr": err,
                "exit": status["exit"],
                "typer": status["typer"],
                "file": timing.sub(r"\1X", out.read_text()) if out.exists() else None,
            }
        )
    return runs[0], runs[1]


def test_fast_scan_prints_and_exits_as_the_typer_command(tmp_path: Path) -> None:
    benign = tmp_path / "benign.pkl"
    benign.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    # GLOBAL 'os system' + REDUCE: a malicious pickle, built by hand (never loaded).
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "model.pkl").write_bytes(evil.read_bytes())
    report = str(tmp_path / "report.out")
    cases = [
        ["scan", str(benign), "--no-hash"],
        ["scan", str(benign)],
        ["scan", str(evil), "--no-hash"],
        ["scan", str(evil), "--format", "json", "--fail-on", "critical"],
        ["scan", str(evil), "--format", "sarif", "--no-hash"],
        ["scan", str(folder), "--show-info", "--no-hash-cache"],
        ["scan", str(folder), "--format", "text", "-o", report, "--no-hash"],
        ["scan", str(folder), "-f", "json", "--output", report],
        ["scan", str(tmp_path / "missing.pkl")],
        ["scan", str(benign), "-o", str(tmp_path / "no-such-dir" / "r.json"), "--no-hash"],
    ]
    for args in cases:
        fast, slow = _both(args, tmp_path)
        assert fast["typer"] is False and slow["typer"] is True, args
        assert {k: v for k, v in fast.items() if k != "typer"} == {
            k: v for k, v in slow.items() if k != "typer"
        }, args
    # Declined command lines are Typer's: its messages and exit codes.
    fast, slow = _both(["scan", str(benign), "--format", "JSON"], tmp_path)
    assert fast == slow and fast["exit"] == 2 and "JSON" in str(fast["stderr"])


def _rich_and_plain(markup: str) -> tuple[str, str]:
    from io import StringIO

    from rich.console import Console

    from modelwarden.cli._plain import PlainConsole

    outputs = []
    for make in (lambda b: Console(file=b, soft_wrap=True), PlainConsole):
        buf = StringIO()
        try:
            make(buf).print(markup, highlight=False)
            outputs.append(buf.getvalue())
        except Exception as exc:  # rich's MarkupError must be raised by both
            outputs.append(f"{type(exc).__name__}: {exc}")
    return outputs[0], outputs[1]


def test_plain_console_prints_what_rich_prints(monkeypatch: object) -> None:
    import random

    from modelwarden.cli._plain import plain_text
    from modelwarden.untrusted.text import markup

    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "COLUMNS"):
        monkeypatch.delenv(var, raising=False)  # type: ignore[attr-defined]
    # Markup and untrusted text a renderer could print: tags, escapes, emoji codes, control characters.
    pieces = ["[", "]", "\\", "/", ":", "@", "=", " ", "a", "bold", "red", "b", "link", "\n", "\t", "é", "—"]
    pieces += [
        "[bold]",
        "[/]",
        "[/bold]",
        "[b]",
        "[/b]",
        "[red bold]",
        "[/red bold]",
        ":smile:",
        "\x1b",
        "\r",
    ]
    rng = random.Random(15)
    cases = [
        "[bold]PASS[/] (nothing at or above medium) — 1 file scanned in 0.01 s; no findings",
        "  [bold white on red]CRITICAL[/] pickle.dangerous-import  [dim]data.pkl (byte 2)[/]",
        "[bold]a[/bold] [dim]b[/dim] [/]",
        "[@click]x[/]",
        "[link=https://x]y[/link]",
    ]
    for _ in range(3000):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12)))
        cases += [raw, f"[bold]{markup(raw)}[/]  [dim]{markup(raw)}[/]", f"x {markup(raw)} y"]
    plain = 0
    for case in cases:
        expected, got = _rich_and_plain(case)
        assert got == expected, repr(case)
        try:
            plain_text(case)
            plain += 1
        except Exception:
            pass
    # Most of them (all that markup() escaped) are printed without rich.
    assert plain > len(cases) // 2


def test_rescan_of_an_unchanged_file_reads_its_digest_from_the_cache(tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    code = f"""
import json, sys
sys.argv = ["modelwarden", "scan", "--format", "json", {str(model)!r}]
from modelwarden.cli import main
try:
    main()
except SystemExit:
    pass
loaded = [m for m in ("hashlib", "_hashlib", "concurrent.futures") if m in sys.modules]
print(json.dumps(loaded), file=sys.stderr)
"""
    env = {**os.environ, "MODELWARDEN_CACHE_DIR": str(tmp_path / "cache")}
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env) for _ in "12"
    ]
    first, second = (json.loads(r.stdout)["files"][0]["sha256"] for r in runs)
    assert first == second == hashlib.sha256(model.read_bytes()).hexdigest()
    assert json.loads(runs[0].stderr.strip().splitlines()[-1]) == ["hashlib", "_hashlib"]  # hashed once
    assert json.loads(runs[1].stderr.strip().splitlines()[-1]) == []  # then looked up: no OpenSSL, no pool
