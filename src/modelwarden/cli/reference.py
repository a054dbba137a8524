"""The command-line reference (docs/cli.md), generated from the commands themselves.

Hand-written option lists drift: an option added to a command and never documented is invisible to
users. `python -m modelwarden.cli.reference > docs/cli.md` (`make cli-docs`) rewrites the page, and
tests/test_docs.py fails when the page and the commands disagree.
"""

from __future__ import annotations

import enum
import sys
import typing
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer

from modelwarden.cli import app, load_commands

HEADER = """# Command-line reference

Every command and option of `modelwarden`, generated from the commands themselves
(`make cli-docs`; a test fails when this page is out of date). The pages for each stage explain what
the commands do: [inspect](inspect.md), [scan](scan.md), [openness](openness.md),
[assess](assess.md), [compute](compute.md), [registry](registry.md), [gateway](gateway.md).
"""


# Only public API: `typer.main.get_command` (Typer's documented bridge to click) and the attributes
# click documents for commands and parameters (`commands`, `callback`, `params`, `opts`, `default`,
# `help`, `param_type_name`...). Typer 0.29 vendors its own copy of click, so commands and parameters
# are told apart by those attributes, not by click's classes; the value types come from the command
# function's own annotations. pyproject pins Typer to the tested minor version (0.29).
Command = Any
_TYPE_WORDS: dict[object, str] = {
    str: "text",
    int: "integer",
    float: "number",
    Path: "path",
    date: "date",
    datetime: "date-time",
}
Param = Any


def _walk(cmd: Command, path: list[str]) -> Iterator[tuple[list[str], Command]]:
    yield path, cmd
    for name in sorted(getattr(cmd, "commands", {})):
        yield from _walk(cmd.commands[name], [*path, name])


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _is_option(param: Param) -> bool:
    return bool(param.param_type_name == "option")


def _is_flag(param: Param) -> bool:
    return _is_option(param) and bool(param.is_flag)


def _default(param: Param) -> str:
    if _is_flag(param) and not param.secondary_opts:
        return ""
    value = param.default
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or callable(value) or (isinstance(value, (str, list, tuple)) and not value):
        return ""
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return f"`{value}`"


def _kind(param: Param, hints: dict[str, Any]) -> str:
    if _is_flag(param):
        return "flag"
    annotation = hints.get(param.name or "", str)
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and issubclass(arg, enum.Enum):
            return " \\| ".join(f"`{m.value}`" for m in arg)
        if arg is not type(None):
            annotation = arg
    return _TYPE_WORDS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _names(param: Param) -> str:
    if not _is_option(param):
        name = param.metavar or (param.name or "").upper()
        return f"`{name}`" + ("…" if param.nargs == -1 else "")
    opts = [*param.opts, *param.secondary_opts]
    return ", ".join(f"`{o}`" for o in opts)


def _section(path: list[str], cmd: Command) -> list[str]:
    title = " ".join(["modelwarden", *path])
    lines = [f"## `{title}`", ""]
    summary = (cmd.help or "").strip().split("\n\n")[0]
    if summary:
        lines += [" ".join(summary.split()), ""]
    if hasattr(cmd, "commands"):
        subs = ", ".join(f"`{name}`" for name in sorted(cmd.commands))
        lines += [f"Subcommands: {subs}.", ""]
        return lines
    params = [p for p in cmd.params if not getattr(p, "hidden", False)]
    if not params:
        return lines
    hints = typing.get_type_hints(cmd.callback) if cmd.callback else {}
    lines += ["| argument / option | type | default | meaning |", "|---|---|---|---|"]
    for p in params:
        help_text = getattr(p, "help", None)
        required = " (required)" if p.required and _is_option(p) else ""
        lines.append(f"| {_names(p)} | {_kind(p, hints)} | {_default(p)} | {_cell(help_text)}{required} |")
    return [*lines, ""]


def render() -> str:
    """The whole reference page as Markdown."""
    load_commands(None)
    root = typer.main.get_command(app)
    lines = [HEADER]
    for path, cmd in _walk(root, []):
        if path:
            lines += _section(path, cmd)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
