"""How the CLI reports a library error: one message, what to do next, and the exit code.

This is the one place that turns an exception into an exit status (`exit_code`), and the one place
where CLI wording (command names) is added to a library error (`HINTS`): the library says what is
wrong and what to do in words that fit any front end; the CLI adds which command does it.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelwarden.errors import ConfigurationError, ModelwardenError, NotFoundError, RulesError, UsageError

#: Exit status for an interrupted command (128 + SIGINT), as shells report it.
INTERRUPTED = 130

#: (leading command words, kind of error) → the command that helps. The first matching row wins, so
#: a longer command comes before its group.
HINTS: tuple[tuple[tuple[str, ...], type[ModelwardenError], str], ...] = (
    (("identities", "review"), NotFoundError, "`modelwarden identities review list` shows the queue"),
    (("identities",), NotFoundError, "`modelwarden identities list` shows every identity"),
    (
        ("keys",),
        NotFoundError,
        "`modelwarden keys list` shows every key, `modelwarden identities list` every identity",
    ),
    (
        ("incidents",),
        NotFoundError,
        "`modelwarden incidents list` shows every incident, `modelwarden identities list` every identity",
    ),
    (
        ("gateway",),
        ConfigurationError,
        "`modelwarden gateway init DIR` writes a working deployment to start from",
    ),
    (("assess",), UsageError, "`modelwarden assess PATH`, `modelwarden assess --manifest FILE`, or both"),
    (("assess",), RulesError, "`--rules DIR` takes the folder that holds the rule files"),
)


def exit_code(exc: BaseException) -> int:
    """The exit status for `exc`: the class's `exit_code` for our errors (2: could not run; 1: a
    verifier found tampering), 130 for an interrupt."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, ModelwardenError):
        return exc.exit_code
    raise TypeError(f"not an error the CLI reports: {type(exc).__name__}")


def hint(exc: ModelwardenError, args: Sequence[str]) -> str | None:
    """The CLI's own suggestion for `exc` raised by the command line `args`, if any."""
    words = tuple(a for a in args if not a.startswith("-"))
    for command, kind, text in HINTS:
        if words[: len(command)] == command and isinstance(exc, kind):
            return text
    return None


def lines(exc: ModelwardenError, args: Sequence[str]) -> list[str]:
    """What to print, as plain text: the message, then `next:` and `hint:` lines when there are any."""
    out = [exc.message]
    if exc.next_step:
        out.append(f"next: {exc.next_step}")
    suggestion = hint(exc, args)
    if suggestion:
        out.append(f"hint: {suggestion}")
    return out
