"""The `modelwarden` command. Thin: parse options, call a stage, render its record.

Each command lives in its own module under this package and registers itself on `app`; the
imports at the bottom pull them in. Errors derived from `ModelwardenError` are printed as one
clear message (no traceback) and exit with their exit code.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from modelwarden import __version__
from modelwarden.errors import ModelwardenError

app = typer.Typer(
    name="modelwarden",
    help="Inspect, scan, classify and govern AI model releases from their files, without executing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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


def main() -> None:
    try:
        app()
    except ModelwardenError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


# Command modules register themselves on `app` when imported (one line per command).
from modelwarden.cli import docs as _docs  # noqa: E402,F401
from modelwarden.cli import inspect as _inspect  # noqa: E402,F401
