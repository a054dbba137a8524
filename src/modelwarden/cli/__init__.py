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
from modelwarden.cli import assess as _assess  # noqa: E402,F401
from modelwarden.cli import audit as _audit  # noqa: E402,F401
from modelwarden.cli import docs as _docs  # noqa: E402,F401
from modelwarden.cli import gateway as _gateway  # noqa: E402,F401
from modelwarden.cli import identities as _identities  # noqa: E402,F401
from modelwarden.cli import incidents as _incidents  # noqa: E402,F401
from modelwarden.cli import inspect as _inspect  # noqa: E402,F401
from modelwarden.cli import keys as _keys  # noqa: E402,F401
from modelwarden.cli import openness as _openness  # noqa: E402,F401
from modelwarden.cli import registry as _registry  # noqa: E402,F401
from modelwarden.cli import scan as _scan  # noqa: E402,F401
from modelwarden.cli import serve as _serve  # noqa: E402,F401
from modelwarden.cli import tiers as _tiers  # noqa: E402,F401
