"""GGUF files: the scan's checks over the shared header reader (artifacts/gguf.py).

The header is walked once, by the same reader inspect uses, with every count and length bounded by the
file size and the caps of `modelwarden.limits` (docs/reference/formats.md "GGUF"; docs/reference/scanners.md
§10 and 14). What llama.cpp would refuse is a `gguf.malformed` finding; every `tokenizer.chat_template*`
string is analysed as a Jinja template (parsed, never rendered).
"""

from __future__ import annotations

from modelwarden.artifacts.gguf import loader_checks, read_header
from modelwarden.artifacts.source import BufferSource
from modelwarden.scan.context import Buffer, Ctx, Scope


def analyse_gguf(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    header = read_header(BufferSource(buf, scope.file))
    for defect in header.defects:
        ctx.add(scope, "gguf.malformed", defect.message, offset=defect.offset)
    if header.fatal is not None:
        ctx.add(scope, "gguf.malformed", header.fatal.message, offset=header.fatal.offset)
    else:
        for tensor, _kind, problem in loader_checks(header):
            ctx.add(
                scope,
                "gguf.malformed",
                f"tensor {tensor.name[:80]!r}: {problem}",
                offset=tensor.at,
                evidence=tensor.name[:80],
            )
    for key, text, offset, length in header.templates:
        label = f"{key} (metadata value at byte {offset})"
        if text is None:  # beyond what the reader reads, so beyond what the analysis takes
            ctx.add(
                scope,
                "template.suspicious",
                f"{length:,} bytes, beyond the {ctx.limits.max_template_chars} characters analysed",
                entry=label,
            )
        else:
            analyse_template(text, scope, ctx, label=label)


def analyse_template(source: str, scope: Scope, ctx: Ctx, *, label: str) -> None:
    # jinja2 is imported only when a file carries a template: most scans never need it.
    from modelwarden.scan.templates import analyse_template as analyse

    analyse(source, scope, ctx, label=label)
