"""Reading a repository on a Hugging Face hub over HTTP, headers only (docs/hub.md).

`inspect_remote`, `scan_remote` and `assess_remote` take `hf://org/name[@rev]` (or `org/name[@rev]`)
and a `HubSettings` (default: HF_ENDPOINT and HF_TOKEN from the environment, read, never written),
and return the same records as reading a local copy, plus what the read cost (`ModelFacts.remote`).
Nothing is downloaded but the small text files and the byte ranges the readers ask for.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from modelwarden.hub.client import HubSettings, HubTarget, RepoSnapshot, parse_target
from modelwarden.hub.release import RemoteRelease, open_release

if TYPE_CHECKING:
    from modelwarden.hub.remote import Limiter
    from modelwarden.model import Assessment, ModelFacts, RemoteRead
    from modelwarden.records import ScanReport
    from modelwarden.rules.loader import RuleSet


def inspect_remote(target: str, settings: HubSettings | None = None) -> ModelFacts:
    """The facts of a hub repository, read by ranges; `facts.remote` says what was read."""
    from modelwarden.facts.gather import inspect_release

    with open_release(target, settings) as remote:
        facts = inspect_release(remote.release)
        facts.remote = remote.remote_read()
    return facts


def scan_release(remote: RemoteRelease) -> ScanReport:
    """Scan an opened hub repository: its ranged files through the analysers, its small files on disk."""
    from modelwarden.hub.remote import RemoteBuffer
    from modelwarden.scan.engine import SourceTarget, scan_sources

    ranged = [
        SourceTarget(
            display=f"{remote.display}/{rel}", name=PurePosixPath(rel).name, buffer=RemoteBuffer(src)
        )
        for rel, src in sorted(remote.sources.items())
    ]
    local = [(f.path, f"{remote.display}/{f.rel}") for f in remote.release.files if f.source is None]
    return scan_sources(ranged, local)


def scan_remote(target: str, settings: HubSettings | None = None) -> tuple[ScanReport, RemoteRead]:
    """The safety scan of a hub repository, and what the read cost."""
    with open_release(target, settings) as remote:
        report = scan_release(remote)
        return report, remote.remote_read()


def assess_remote(
    target: str,
    settings: HubSettings | None = None,
    *,
    as_of: dt.date | None = None,
    rules: RuleSet | None = None,
    scan: bool = True,
    manifest: Path | None = None,
    limiter: Limiter | None = None,
    snapshot: RepoSnapshot | None = None,
) -> Assessment:
    """The assessment of a hub repository read by ranges, with `manifest` (a local file) or else the
    repository's own `modelwarden.yaml` if it has one; `assessment.facts.remote` holds the bytes read,
    the scan's reads included. `limiter`: a request budget every request asks first (the crawl's);
    `snapshot`: the file list already fetched (see `open_release`)."""
    from modelwarden.assess.run import Inputs, build_assessment
    from modelwarden.facts.gather import inspect_release
    from modelwarden.manifest import load_manifest
    from modelwarden.rules import load_rules

    with open_release(target, settings, limiter=limiter, snapshot=snapshot) as remote:
        facts = inspect_release(remote.release)
        manifest = manifest or remote.release.manifest
        decl = load_manifest(manifest) if manifest is not None else None
        report = scan_release(remote) if scan else None
        facts.remote = remote.remote_read()
        inputs = Inputs(facts, decl, manifest)
        return build_assessment(
            inputs,
            as_of=as_of or dt.date.today(),
            rules=rules if rules is not None else load_rules(None),
            scan=scan,
            scan_report=report,
        )


__all__ = [
    "HubSettings",
    "HubTarget",
    "RemoteRelease",
    "assess_remote",
    "inspect_remote",
    "open_release",
    "parse_target",
    "scan_release",
    "scan_remote",
]
