"""The assess stage: facts → scan → openness → compute → rules, as one `Assessment` (`run`), and the
documents drafted from it (`drafts`). The CLI and the web app both call `assess_path`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelwarden.model import Assessment
    from modelwarden.rules import RuleSet


def assess_path(
    path: str | Path | None,
    *,
    manifest: Path | None = None,
    as_of: dt.date | None = None,
    rules: RuleSet | None = None,
    scan: bool = True,
    remote: bool = False,
) -> Assessment:
    """Assess a release folder or file (and/or a manifest alone) as of a date (today by default).

    With `remote`, `path` is a hub repository (`hf://org/name[@rev]`) read over HTTP by byte ranges
    from the hub HF_ENDPOINT names (modelwarden.hub, docs/hub.md); `facts.remote` holds the bytes read."""
    if remote:
        from modelwarden.hub import assess_remote

        if path is None:
            raise ValueError("remote=True needs a hub repository id")
        return assess_remote(str(path), as_of=as_of, rules=rules, scan=scan, manifest=manifest)
    from modelwarden.assess.run import build_assessment, gather

    inputs = gather(str(path) if path is not None else None, manifest)
    return build_assessment(inputs, as_of=as_of or dt.date.today(), rules=rules, scan=scan)


__all__ = ["assess_path"]
