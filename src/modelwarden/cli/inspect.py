"""`modelwarden inspect PATH` (being built: issue "inspect")."""

from __future__ import annotations

from pathlib import Path

import typer

from modelwarden.cli import app
from modelwarden.errors import UsageError


@app.command()
def inspect(
    path: Path = typer.Argument(..., help="Model folder, file, or Hugging Face cache repo id."),
) -> None:
    """Read a model release from its files (headers only, nothing executed)."""
    raise UsageError("inspect is not implemented yet", path=path)
