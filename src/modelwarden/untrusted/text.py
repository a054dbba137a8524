"""Untrusted text made safe to print on a terminal.

Names and values read from model files (pickle globals, zip entries, file names, card and manifest
values, registry and gateway records) are chosen by whoever made the file. Printed as they are, an
escape sequence can clear the screen or recolour a line, a carriage return or newline can fake a
"PASS" line, and rich reads "[...]" as console markup (restyling or hiding text, or raising
`MarkupError`). Every renderer of text output passes such values through one of these functions;
JSON and SARIF need none of this, their encoders escape control characters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

# C0 controls, DEL and C1 controls (a terminal takes 0x9b as CSI, like ESC [), plus the bidi
# overrides and isolates that reorder what follows them on terminals that implement bidi.
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _CONTROLS} | {
    ord("\t"): "\\t",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
}

# A single value longer than this is shortened in the middle: a 5,000-digit integer or a 2,000-level
# JSON path says nothing a few hundred characters do not, and would push the rest off the screen.
MAX_CHARS = 1000


def visible(value: object, *, limit: int | None = MAX_CHARS) -> str:
    """`value` as one line of plain text: control characters written as escapes (`\\x1b`, `\\n`),
    and the middle of anything longer than `limit` characters replaced by how much was left out."""
    s = str(value)
    if limit is not None and len(s) > limit:
        head = limit * 2 // 3
        tail = limit - head
        s = f"{s[:head]} … ({len(s) - limit:,} characters omitted) … {s[-tail:]}"
    return s.translate(_ESCAPES)


def markup(value: object, *, limit: int | None = MAX_CHARS) -> str:
    """`visible(value)` escaped for interpolation into a rich markup string."""
    from rich.markup import escape  # here: `modelwarden scan --format json` prints without rich

    return escape(visible(value, limit=limit))


def text(value: object, style: str = "", *, limit: int | None = MAX_CHARS) -> Text:
    """`visible(value)` as a rich Text (never parsed as markup), e.g. for a table cell or title."""
    from rich.text import Text

    return Text(visible(value, limit=limit), style=style)


_DOCUMENT_ESCAPES = {c: e for c, e in _ESCAPES.items() if chr(c) not in "\t\n"}


def document(s: str) -> str:
    """A whole Markdown or HTML document whose line breaks and tabs are its own: every other control
    character written as an escape (the document may be printed on a terminal)."""
    return s.translate(_DOCUMENT_ESCAPES)
