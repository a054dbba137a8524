"""The `modelwarden` command. Thin: parse options, call a stage, render its record.

Each command lives in its own module under this package and registers itself on `app` when
imported; `main` imports the one it runs (`load_commands`). Errors derived from `ModelwardenError`
are printed as one clear message (no traceback) and exit with their exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.console import Console

from modelwarden import __version__
from modelwarden.errors import ModelwardenError
from modelwarden.safe_text import markup

app = typer.Typer(
    name="modelwarden",
    help="Inspect, scan, classify and govern AI model releases from their files, without executing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# An error message quotes file names and values read from files; a few hundred characters of a line
# (its start and end) name the problem.
MAX_ERROR_CHARS = 500
MAX_ERROR_LINES = 20

# Results go to stdout; progress and messages to stderr so that `--format json > out.json` stays clean.
out = Console(soft_wrap=True)
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelwarden {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """modelwarden: the release, safety, openness and compliance facts of an AI model, from its files."""


# The module that registers each top-level command. `main` imports only the module of the command
# being run: `modelwarden scan` then skips the gateway, registry and database commands, whose imports
# took longer than scanning a 2 GB checkpoint. Help, version, no command or an unknown one load them
# all, so listings and "no such command" suggestions are complete. tests/test_cli_startup.py checks
# this table against what the modules register.
COMMAND_MODULES = {
    "assess": "assess",
    "audit": "audit",
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
    "tiers": "tiers",
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


def main() -> None:
    load_commands(sys.argv[1:])
    try:
        app()
    except ModelwardenError as exc:
        err.print(f"[bold red]error:[/] {error_markup(exc.message)}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
