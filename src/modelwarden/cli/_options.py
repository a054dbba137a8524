"""Option types and options shared by several commands."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class LogLevel(StrEnum):
    """uvicorn's log levels (an unknown one fails inside uvicorn with a KeyError)."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"
    TRACE = "trace"


def _output_option() -> Any:
    import typer

    return typer.Option(
        None,
        "--output",
        "-o",
        help="Write the report to this file (replaced atomically) instead of stdout.",
    )


# `--output/-o FILE` of every command that emits a report (cli/_output.py says how it is written).
OUTPUT: Any = _output_option()
