"""One interface for every rendering of a record, one enum of output formats, one table of renderers.

A record (the facts of a release, a scan report, an openness report, an assessment, a registry page…)
is rendered by the renderer registered for its kind and an `OutputFormat`. Renderers live one module
per format (`report/text.py`, `json.py`, `markdown.py`, `html.py`, `sarif.py`, `csv.py`, `jsonl.py`,
`cyclonedx.py`);
this table names them as "module:function" strings, imported only when used, so that `modelwarden
scan` starts without rich, Jinja2 or pydantic (docs/scan.md "Where the time goes"; tests/test_cli_startup.py).

Each command declares the formats it supports (`SUPPORTED`); `choices` builds the Typer option type
from them, so the choices a command offers are always members of the one `OutputFormat`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console


class OutputFormat(StrEnum):
    """Every output format of the command line."""

    TEXT = "text"
    TABLE = "table"  # `inspect`'s name for its text rendering (kept: scripts pass it)
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"
    SARIF = "sarif"
    MOT_YAML = "mot-yaml"
    JSONL = "jsonl"
    CSV = "csv"
    CYCLONEDX = "cyclonedx"


class Renderer(Protocol):
    """How a record becomes a document in one format."""

    @property
    def format(self) -> OutputFormat: ...

    @property
    def media_type(self) -> str:
        """The document's media type (for HTTP responses and file associations)."""
        ...

    @property
    def extension(self) -> str:
        """The usual file extension, without the dot."""
        ...

    def render(self, record: Any, **options: Any) -> str:
        """The whole document for `record`; options are the command's (e.g. `tensors=True`)."""
        ...


@dataclass(frozen=True)
class Registered:
    """A renderer from the table: its function is imported on first use."""

    kind: str
    """The record it renders: facts, scan, openness, assessment, stored, page, diff."""
    format: OutputFormat
    """The format it writes."""
    media_type: str
    """The document's media type."""
    extension: str
    """The usual file extension, without the dot."""
    target: str
    """"module:function" returning the document as a string."""
    console_target: str | None = None
    """For text: "module:function" printing to a rich console (colour and width of a terminal)."""

    def render(self, record: Any, **options: Any) -> str:
        result: str = _load(self.target)(record, **options)
        return result

    def print(self, record: Any, console: Console, **options: Any) -> None:
        """Print to `console` (text renderers); others print their document."""
        if self.console_target is None:
            console.file.write(_ensure_newline(self.render(record, **options)))
            return
        _load(self.console_target)(record, console, **options)


def _load(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _ensure_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


_R = "modelwarden.report"
_TEXT = ("text/plain; charset=utf-8", "txt")
_JSON = ("application/json", "json")
_CYCLONEDX = ("application/vnd.cyclonedx+json", "json")  # the media type CycloneDX registered


def _text(kind: str) -> Registered:
    return Registered(kind, OutputFormat.TEXT, *_TEXT, f"{_R}.text:{kind}_text", f"{_R}.text:print_{kind}")


def _json(kind: str) -> Registered:
    return Registered(kind, OutputFormat.JSON, *_JSON, f"{_R}.json:{kind}_json")


# The one table: (record kind, format) -> renderer.
RENDERERS: dict[tuple[str, OutputFormat], Registered] = {
    (r.kind, r.format): r
    for r in (
        _text("facts"),
        _json("facts"),
        _text("scan"),
        _json("scan"),
        Registered("scan", OutputFormat.SARIF, "application/sarif+json", "sarif", f"{_R}.sarif:scan_sarif"),
        _text("openness"),
        _json("openness"),
        Registered(
            "openness", OutputFormat.MOT_YAML, "application/yaml", "yaml", f"{_R}.mot_yaml:openness_mot"
        ),
        _text("assessment"),
        _json("assessment"),
        Registered(
            "assessment",
            OutputFormat.MARKDOWN,
            "text/markdown; charset=utf-8",
            "md",
            f"{_R}.markdown:assessment_markdown",
        ),
        Registered(
            "assessment", OutputFormat.HTML, "text/html; charset=utf-8", "html", f"{_R}.html:assessment_html"
        ),
        _text("stored"),
        _json("stored"),
        _text("page"),
        _json("page"),
        _text("diff"),
        _json("diff"),
        Registered("facts", OutputFormat.CYCLONEDX, *_CYCLONEDX, f"{_R}.cyclonedx:facts_cyclonedx"),
        Registered("assessment", OutputFormat.CYCLONEDX, *_CYCLONEDX, f"{_R}.cyclonedx:assessment_cyclonedx"),
        Registered("stored", OutputFormat.JSONL, "application/jsonl", "jsonl", f"{_R}.jsonl:stored_jsonl"),
        Registered("stored", OutputFormat.CSV, "text/csv; charset=utf-8", "csv", f"{_R}.csv:stored_csv"),
    )
}
# Names a command accepts for a format of the table (inspect's historical "table" is its text).
ALIASES = {OutputFormat.TABLE: OutputFormat.TEXT}

# What each command writes (the first is its default). docs/cli.md lists them from here.
SUPPORTED: dict[str, tuple[OutputFormat, ...]] = {
    "inspect": (OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.TEXT, OutputFormat.CYCLONEDX),
    "scan": (OutputFormat.TEXT, OutputFormat.JSON, OutputFormat.SARIF),
    "openness": (OutputFormat.TEXT, OutputFormat.JSON, OutputFormat.MOT_YAML),
    "assess": (
        OutputFormat.TEXT,
        OutputFormat.JSON,
        OutputFormat.MARKDOWN,
        OutputFormat.HTML,
        OutputFormat.CYCLONEDX,
    ),
    "registry": (OutputFormat.TEXT, OutputFormat.JSON),
    "registry export": (OutputFormat.JSONL, OutputFormat.CSV),
}


def renderer(kind: str, format: OutputFormat | str) -> Registered:
    """The renderer of `kind` records in `format` (aliases resolved); KeyError when there is none."""
    chosen = OutputFormat(format)
    return RENDERERS[(kind, ALIASES.get(chosen, chosen))]


def as_renderer(registered: Registered) -> Renderer:
    """Every table entry is a `Renderer` (checked by mypy here)."""
    return registered


def choices(command: str) -> type[StrEnum]:
    """The Typer option type of `command`'s --format: an enum of exactly the formats it supports,
    each a value of `OutputFormat` (Typer lists an enum's members as the choices)."""
    members = {f.name: f.value for f in SUPPORTED[command]}
    return StrEnum(f"{command.title().replace(' ', '')}Format", members)  # type: ignore[return-value]
