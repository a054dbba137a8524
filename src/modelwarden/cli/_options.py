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


def _signing_options() -> tuple[Any, Any, Any]:
    import typer

    key = typer.Option(..., "--key", "-k", help="EC private key (PEM, unencrypted; P-256, P-384 or P-521).")
    certificate = typer.Option(
        None, "--certificate", help="Signing certificate for --key (PEM): sign by certificate, not bare key."
    )
    chain = typer.Option(
        [], "--chain", help="Intermediate certificate(s) to embed with --certificate (PEM; repeatable)."
    )
    return key, certificate, chain


# The key material of `sign` and `attest` (the same options, so a release is signed and attested alike).
KEY, CERTIFICATE, CHAIN = _signing_options()
