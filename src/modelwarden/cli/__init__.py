"""The `modelwarden` command. Thin: parse options, call a stage, render its record.

Each command lives in its own module under this package and registers itself on `app` when
imported; `main` imports the one it runs (`load_commands`). Errors derived from `ModelwardenError`
are printed as one clear message (no traceback), with what to do next, and exit with the code
`_errors.exit_code` gives (the one error-to-exit-code mapping).

`app` (Typer) and the consoles `out`/`err` (rich) are attributes of this package built on first use
(`_app.py`, `_consoles.py`): a plain `modelwarden scan` command line runs through `_scan_fast`, which
needs neither Typer (and the pydantic it imports) nor, for JSON, rich (docs/scan.md "Where the time goes").
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelwarden.errors import ModelwardenError
from modelwarden.untrusted.text import markup

if TYPE_CHECKING:
    import typer
    from rich.console import Console

    app: typer.Typer
    out: Console
    err: Console

# An error message quotes file names and values read from files; a few hundred characters of a line
# (its start and end) name the problem.
MAX_ERROR_CHARS = 500
MAX_ERROR_LINES = 20


def __getattr__(name: str) -> Any:
    """`app`, `out` and `err`, imported when first asked for (PEP 562)."""
    if name == "app":
        from modelwarden.cli import _app

        return _app.app
    if name in ("out", "err"):
        from modelwarden.cli import _consoles

        return getattr(_consoles, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The module that registers each top-level command. `main` imports only the module of the command
# being run: `modelwarden scan` then skips the gateway, registry and database commands, whose imports
# took longer than scanning a 2 GB checkpoint. Help, version, no command or an unknown one load them
# all, so listings and "no such command" suggestions are complete. tests/test_cli_startup.py checks
# this table against what the modules register.
COMMAND_MODULES = {
    "assess": "assess",
    "attest": "attest",
    "audit": "audit",
    "crawl": "crawl",
    "docs": "docs",
    "gateway": "gateway",
    "identities": "identities",
    "incidents": "incidents",
    "inspect": "inspect",
    "keys": "keys",
    "openness": "openness",
    "registry": "registry",
    "scan": "scan",
    "serve": "serve",
    "sign": "sign",
    "tiers": "tiers",
    "verify": "verify",
}


def load_commands(args: Sequence[str] | None = None) -> None:
    """Register the command that `args` (a command line without the program name) runs, or every
    command when `args` is None or names none that is known."""
    import importlib

    name = next((a for a in args or () if not a.startswith("-")), None)
    modules = [COMMAND_MODULES[name]] if name in COMMAND_MODULES else sorted(set(COMMAND_MODULES.values()))
    if args is not None and name is None and "--version" in args and "--help" not in args:
        modules = []  # the eager --version option exits before any command is looked up
    for module in modules:
        importlib.import_module(f"modelwarden.cli.{module}")


def error_markup(message: str) -> str:
    """`message` for the console: control characters escaped, long lines shortened, and the lines
    after the first indented, so that a line break inside a quoted value cannot print a line that
    looks like output of its own (some messages list several problems, one per line)."""
    lines = message.split("\n")
    shown = [markup(line, limit=MAX_ERROR_CHARS) for line in lines[:MAX_ERROR_LINES]]
    if len(lines) > MAX_ERROR_LINES:
        shown.append(f"… {len(lines) - MAX_ERROR_LINES} more lines")
    return "\n  ".join(shown)


def _run_fast_scan(args: list[str]) -> bool:
    from modelwarden.cli._scan_fast import run

    return run(args)


def main() -> None:
    args = sys.argv[1:]
    try:
        if not (args[:1] == ["scan"] and _run_fast_scan(args)):
            from modelwarden.cli._app import app

            load_commands(args)
            app()
    except ModelwardenError as exc:
        from modelwarden.cli import _errors
        from modelwarden.cli._consoles import err

        first, *rest = _errors.lines(exc, args)
        err.print(f"[bold red]error:[/] {error_markup(first)}", highlight=False)
        for line in rest:
            err.print(f"  {error_markup(line)}", highlight=False)
        sys.exit(_errors.exit_code(exc))
    except KeyboardInterrupt as exc:
        from modelwarden.cli import _errors
        from modelwarden.cli._consoles import err

        err.print("interrupted")
        sys.exit(_errors.exit_code(exc))
