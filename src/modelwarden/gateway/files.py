"""Reading the operator's files: gateway.yaml, tiers, keys, the salt, anchors, incident bundles.

A path in gateway.yaml or on the command line may name a FIFO (an open blocks until a writer appears:
`gateway serve` hung, unkillable, on a FIFO salt file), a device such as /dev/zero (a whole-file read
never ends) or a folder. Every read here goes through `safe_io`, so only regular files are opened,
never blocking, and at most a cap per kind of file is read; anything else is one `GatewayMisconfigured`
naming the file and the problem.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from modelwarden.errors import GatewayMisconfigured
from modelwarden.untrusted import yaml as untrusted_yaml
from modelwarden.untrusted.io import open_regular, read_bounded

# Caps per kind of file, far above any real one: an Ed25519 PEM is ~120 bytes, a salt 65, a
# gateway.yaml or tiers file a few KB. Bundles list every audit entry of an incident with its proof.
MAX_KEY_BYTES = 16 * 1024
MAX_CONFIG_BYTES = 1_000_000
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
#: An anchor line is one checkpoint (~250 bytes); the file grows forever, so it is read line by line.
MAX_ANCHOR_LINE_BYTES = 64 * 1024


def _reason(path: Path, exc: OSError) -> str:
    if exc.errno == errno.EISDIR or (exc.errno == errno.EINVAL and path.is_dir()):
        return "is a folder, not a file"
    return exc.strerror or str(exc)


def read_bytes(path: Path, *, what: str, limit: int) -> bytes:
    """The whole file, at most `limit` bytes; GatewayMisconfigured("cannot read <what>: ...") otherwise."""
    try:
        raw = read_bounded(path, limit)
    except OSError as exc:
        raise GatewayMisconfigured(f"cannot read {what}: {_reason(path, exc)}", path=path) from None
    if len(raw) > limit:
        raise GatewayMisconfigured(
            f"cannot read {what}: larger than {limit:,} bytes (the cap for this kind of file)", path=path
        )
    return raw


def read_text(path: Path, *, what: str, limit: int) -> str:
    raw = read_bytes(path, what=what, limit=limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GatewayMisconfigured(
            f"{what} is not UTF-8 text (invalid byte at offset {exc.start})", path=path
        ) from None


def read_lines(path: Path, *, what: str, max_line: int) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line, streamed: the file may be large, a line may not be."""
    try:
        fh = open_regular(path)
    except OSError as exc:
        raise GatewayMisconfigured(f"cannot read {what}: {_reason(path, exc)}", path=path) from None
    with fh:
        for n, raw in enumerate(iter(lambda: fh.readline(max_line + 1), b""), 1):
            if len(raw) > max_line:
                raise GatewayMisconfigured(
                    f"line {n} is longer than {max_line:,} bytes: {what} holds one short record per line",
                    path=path,
                )
            try:
                yield n, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise GatewayMisconfigured(f"line {n}: not UTF-8 text", path=path) from None


def parse_yaml(text: str, *, source: str | Path) -> Any:
    """Bounded YAML (nesting, alias expansion); GatewayMisconfigured("not valid YAML ...") otherwise."""
    try:
        return untrusted_yaml.load(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise GatewayMisconfigured(untrusted_yaml.describe(exc), path=source) from None
