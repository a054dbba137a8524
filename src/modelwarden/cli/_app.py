"""The Typer application and the consoles, built on first use (see `modelwarden.cli.__getattr__`).

Kept out of `modelwarden/cli/__init__.py` so that the `scan` fast path (`_scan_fast`) starts without
importing Typer (which imports pydantic) or rich.
"""

from __future__ import annotations

import typer

from modelwarden import __version__
from modelwarden.cli._consoles import err, out

app = typer.Typer(
    name="modelwarden",
    help="Inspect, scan, classify and govern AI model releases from their files, without executing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


__all__ = ["app", "err", "out"]
