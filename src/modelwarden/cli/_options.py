"""Option types shared by the commands that run a server."""

from __future__ import annotations

from enum import StrEnum


class LogLevel(StrEnum):
    """uvicorn's log levels (an unknown one fails inside uvicorn with a KeyError)."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"
    TRACE = "trace"
