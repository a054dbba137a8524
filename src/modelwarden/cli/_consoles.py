"""The two consoles every command prints through (rich, imported only by what prints)."""

from __future__ import annotations

from rich.console import Console

# Results go to stdout; progress and messages to stderr so that `--format json > out.json` stays clean.
out = Console(soft_wrap=True)
err = Console(stderr=True)
