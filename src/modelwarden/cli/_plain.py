"""What rich prints for a markup string on a stream that is not a terminal, without importing rich.

When stdout is a pipe or a file (CI logs, `| tee`, pre-commit), rich's `Console(soft_wrap=True)`
prints a markup string as its plain text: tags removed, escaped brackets unescaped, one line per call,
no wrapping, no colour. Importing rich for that was a fifth of `modelwarden scan`'s start-up
(docs/scan.md "Where the time goes"). `PlainConsole` does the common case itself and hands every call it is
not certain about to a real rich console on the same stream: emoji codes (`:name:`), control characters or
tabs, link or handler tags, and closing tags that do not match (rich raises `MarkupError` there).
tests/test_cli_startup.py compares it with rich on the scan's output and on generated strings.
"""

from __future__ import annotations

import os
import re
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# rich.markup.RE_TAGS: a tag, with the backslashes before it.
_TAGS = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
# What rich's emoji replacement looks for (rich._emoji_replace): left to rich when present.
_EMOJI = re.compile(r":\S*?:")
# rich strips some control codes, expands tabs and splits lines: left to rich when present.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PLAIN_STYLES = {"bold", "dim", "italic", "underline", "red", "green", "yellow", "blue", "cyan", "magenta"}


class _Unsure(Exception):
    """rich may print this string differently from its plain text: let rich print it."""


def is_plain(stream: IO[str], environ: dict[str, str] | None = None) -> bool:
    """Whether rich would print to `stream` without colour or terminal codes: not a terminal, and no
    variable that makes rich treat it as one (FORCE_COLOR, TTY_COMPATIBLE)."""
    env = os.environ if environ is None else environ
    if "FORCE_COLOR" in env or "TTY_COMPATIBLE" in env:
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is not None and not isatty()
    except ValueError:  # a closed stream: let rich decide
        return False


def plain_text(markup: str) -> str:
    """The text rich renders for `markup` (tags removed, escapes resolved); raises `_Unsure` when
    rich could render it otherwise."""
    if _CONTROL.search(markup):
        raise _Unsure
    out: list[str] = []
    stack: list[str] = []
    position = 0

    def text(segment: str) -> None:
        segment = segment.replace("\\[", "[")
        if _EMOJI.search(segment):
            raise _Unsure
        out.append(segment)

    for match in _TAGS.finditer(markup):
        full, escapes, tag = match.groups()
        start, end = match.span()
        if start > position:
            text(markup[position:start])
        position = end
        if escapes:
            backslashes, escaped = divmod(len(escapes), 2)
            if backslashes:
                out.append("\\" * backslashes)
            if escaped:
                text(full[len(escapes) :])
                continue
        name = tag.partition("=")[0]
        if name.startswith("/"):
            closing = name[1:].strip()
            if not closing and stack:
                stack.pop()
            elif closing in _PLAIN_STYLES and closing in stack:
                # rich matches an explicit closing tag to an open one by normalised style ("[/b]"
                # closes "[bold]"); for these names the normal form is the name itself, for others
                # rich decides.
                del stack[len(stack) - 1 - stack[::-1].index(closing)]
            else:
                raise _Unsure  # nothing to close (rich's MarkupError) or a name rich normalises
        elif name.startswith("@") or name in ("link", "/link"):
            raise _Unsure  # handlers and links: rich evaluates them
        else:
            stack.append(name)
    if position < len(markup):
        text(markup[position:])
    return "".join(out)


class PlainConsole:
    """The `print` of `rich.console.Console(soft_wrap=True)` on a stream that is not a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._rich: Console | None = None

    def print(self, markup: str, **options: Any) -> None:
        try:
            if not set(options) <= {"highlight"}:  # no colour, so highlighting changes nothing
                raise _Unsure
            line = plain_text(markup)
        except _Unsure:
            self._fallback().print(markup, **options)
            return
        self._stream.write(line + "\n")
        self._stream.flush()

    def _fallback(self) -> Console:
        if self._rich is None:
            from rich.console import Console

            self._rich = Console(file=self._stream, soft_wrap=True)
        return self._rich
