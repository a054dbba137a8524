"""The one output sink of the commands that emit a report: stdout, or the file given by `--output/-o`
(the option itself: `cli/_options.py` `OUTPUT`).

Rules (the same for every command):

- Without `--output`, the report goes to stdout. Text is printed through the command's console
  (colour and width on a terminal; `cli/_plain.py` for `scan` on a pipe); everything else is written
  as the renderer made it.
- With `--output FILE`, the report is written to a temporary file beside FILE and renamed over it at
  the end: a reader never sees half a report, and an interrupted run leaves the old FILE (or none).
  An existing regular file is replaced, as the shell's `>` would; a folder, a missing parent folder
  or an unwritable place is a usage error naming the path (exit 2). Text in a file has no colour and
  is 160 columns wide, whatever the terminal (`report/text.py` `capture`).
- A written document always ends with one newline.

Imports only the standard library at start-up (the `scan` fast path uses it: docs/scan.md "Where the time
goes"), and lives outside `modelwarden.cli` so that path loads no other command module.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from modelwarden.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from modelwarden.report.base import Registered


def ensure_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def write_file(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (temporary file in the same folder, then rename)."""
    if path.is_dir():
        raise UsageError("cannot write the report: this is a folder, give a file name", path=str(path))
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError("cannot write the report: no such folder", path=str(parent))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc.strerror or exc}", path=str(path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write the report: {exc.strerror or exc}", path=str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def emit(text: str, output: Path | None, stream: IO[str] | None = None) -> None:
    """Write a finished document to `output`, or to stdout."""
    text = ensure_newline(text)
    if output is not None:
        write_file(output, text)
        return
    target = stream if stream is not None else sys.stdout
    target.write(text)
    target.flush()


def show(
    renderer: Registered, record: Any, output: Path | None, console: Console | None = None, **options: Any
) -> None:
    """Render `record` to `output` (a file) or stdout; text on stdout goes through `console` (without
    one, it is written plain)."""
    if renderer.console_target is not None and output is None and console is not None:
        renderer.print(record, console, **options)
        return
    emit(renderer.render(record, **options), output)
