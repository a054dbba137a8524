"""`modelwarden scan` without Typer: the command line most runs use, parsed here, the rest left to Typer.

`modelwarden scan` runs in CI jobs and pre-commit hooks, often once per file, so its start-up is what
users wait for: Typer (which imports pydantic) and rich took three times as long to import as the scan
of a small checkpoint (docs/scan.md "Where the time goes"). `run` therefore handles a `scan` command line made
only of the options below, each in a form Click parses the same way, and returns False for anything else —
`--help`, an unknown option or value, a missing path, combined short options — which `main` then
hands to Typer, so every message and exit code of the full parser is unchanged.

The option table mirrors `modelwarden.cli.scan` (names, defaults, choices); both front ends run the
same body, `run_scan`. tests/test_cli_startup.py checks the table against the Typer command's parameters and
runs command lines through both paths, comparing output and exit codes: a change there that is not
made here fails those tests.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from rich.console import Console

from modelwarden.report.base import SUPPORTED

# name -> (option names, choices or None for a path, default). Flags are listed in FLAGS.
VALUES: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None, str | None]] = {
    "format": (("--format", "-f"), tuple(f.value for f in SUPPORTED["scan"]), SUPPORTED["scan"][0].value),
    "fail_on": (("--fail-on",), ("critical", "high", "medium", "low"), "medium"),
    "output": (("--output", "-o"), None, None),
}
FLAGS: dict[str, str] = {
    "--no-hash": "no_hash",
    "--no-hash-cache": "no_hash_cache",
    "--show-info": "show_info",
    "--remote": "remote",
}
_BY_NAME = {opt: name for name, (opts, _, _) in VALUES.items() for opt in opts}


class _Declined(Exception):
    """A command line this parser does not take on: Typer parses it."""


def parse(args: Sequence[str]) -> dict[str, object] | None:
    """The scan command's parameters from `args` (the command line after the program name), or None
    when `args` is not a `scan` command line this parser handles exactly as Click would."""
    if not args or args[0] != "scan":
        return None
    try:
        return _parse(list(args[1:]))
    except _Declined:
        return None


def _parse(rest: list[str]) -> dict[str, object]:
    values: dict[str, object] = {name: default for name, (_, _, default) in VALUES.items()}
    values |= dict.fromkeys(FLAGS.values(), False)
    paths: list[Path] = []
    only_paths = False
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if only_paths or not arg.startswith("-") or arg == "-":
            if not arg or arg == "-":
                raise _Declined  # "" and "-" mean things of their own to Click's path type
            paths.append(Path(arg))
        elif arg == "--":
            only_paths = True
        elif arg in FLAGS:
            values[FLAGS[arg]] = True
        else:
            opt, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            name = _BY_NAME.get(opt)
            if name is None:
                raise _Declined  # --help, unknown options, -fjson, -o=x: Typer's parser decides
            if not eq:
                if i >= len(rest):
                    raise _Declined
                value = rest[i]
                i += 1
            if not value or value.startswith("-"):
                raise _Declined  # an empty value, or one Click might read as an option or stdin
            choices = VALUES[name][1]
            if choices is None:
                values[name] = Path(value)
            elif value in choices:
                values[name] = value
            else:
                raise _Declined
    if not paths:
        raise _Declined  # Click's "Missing argument" message
    values["paths"] = paths
    return values


def run(args: Sequence[str]) -> bool:
    """Run `modelwarden scan` for `args` when `parse` takes them (exits the process); False otherwise."""
    params = parse(args)
    if params is None:
        return False
    try:
        run_scan(**params)  # type: ignore[arg-type]
    except (EOFError, KeyboardInterrupt):
        # What Click's standalone mode does for a command interrupted by Ctrl-C.
        sys.stderr.write("\nAborted!\n")
        sys.exit(1)
    return True  # pragma: no cover - run_scan always exits


def _out() -> Console:
    """The `out` console, or for a pipe or file its plain text printed without importing rich."""
    from modelwarden.cli._plain import PlainConsole, is_plain

    if is_plain(sys.stdout):
        return cast("Console", PlainConsole(sys.stdout))  # the one method print_text calls
    from modelwarden.cli._consoles import out

    return out


def run_scan(
    *,
    paths: list[Path],
    format: str,
    fail_on: str,
    output: Path | None,
    no_hash: bool,
    no_hash_cache: bool,
    show_info: bool,
    remote: bool = False,
) -> None:
    """The body of `modelwarden scan`, shared by the Typer command (`modelwarden.cli.scan.scan`) and
    this module's parser."""
    from modelwarden.records import Severity
    from modelwarden.report.base import renderer
    from modelwarden.report.output import show
    from modelwarden.scan import scan_paths
    from modelwarden.untrusted.text import markup

    threshold = Severity(fail_on)
    if remote:
        # Hub repositories read by byte ranges (modelwarden.hub, imported only here).
        from modelwarden.hub.cli import scan_remote_targets

        report = scan_remote_targets([str(p) for p in paths])
    else:
        report = scan_paths(paths, hash_files=not no_hash, hash_cache=not no_hash_cache)
    text_on_stdout = format == "text" and output is None
    chosen = renderer("scan", format)
    show(chosen, report, output, _out() if text_on_stdout else None, threshold=threshold, show_info=show_info)
    if not text_on_stdout:  # text on the terminal already lists them
        for p in report.problems:
            from modelwarden.cli._consoles import err

            err.print(f"[red]problem:[/] {markup(p.file)}: {markup(p.message)}", highlight=False)
    if report.problems:
        sys.exit(2)
    sys.exit(1 if report.at_or_above(threshold) else 0)
