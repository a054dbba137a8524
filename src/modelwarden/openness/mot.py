"""Model Openness Tool model files: recognised by content, read as the release description, and
written from an assessment (docs/openness.md, "MOT model files").

A MOT model file (the YAML MOT publishes per model) describes a release as `release:` with a `license:`
mapping (the distribution licence and per-content-type defaults, each `{name, path}`) and a
`components:` list; listing a component means it is included. Reading one gives a release manifest
whose components carry the licence string MOT's evaluator would compare — the component's own, else
its content type's default, else the distribution licence, with `unlicensed` stopping the fall-back —
exactly as written, so MOT-exact mode answers as MOT does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelwarden.errors import ManifestError
from modelwarden.manifest import MAX_MANIFEST_BYTES, Component, Manifest, parse_manifest
from modelwarden.model import OpennessReport
from modelwarden.openness.mof import components as mof_components
from modelwarden.untrusted import yaml as untrusted_yaml
from modelwarden.untrusted.io import read_bounded

FRAMEWORK = {"name": "Model Openness Framework", "version": "1.0", "date": "2024-12-15"}
LICENCE_SCOPES = ("distribution", "code", "data", "document")
UNLICENSED = "unlicensed"


@dataclass(frozen=True)
class MotComponent:
    """One entry of `release.components`."""

    id: str
    """modelwarden's component id for MOT's component name."""
    licence: str | None
    """The component's own `license`, exactly as written; None when it has none (it inherits)."""
    location: str | None
    """`component_path`, when given."""


@dataclass(frozen=True)
class MotFile:
    """What a MOT model file says about a release."""

    name: str
    """`release.name`."""
    version: str | None
    """`release.version`."""
    producer: str | None
    """`release.producer`."""
    licences: dict[str, str]
    """`release.license`: scope (distribution, code, data, document) → licence name as written."""
    components: tuple[MotComponent, ...]
    """The included components, in file order."""

    def resolved(self, c: MotComponent) -> str | None:
        """MOT's resolution: own licence → content-type default → distribution → none."""
        if c.licence is not None:
            return c.licence
        kind = mof_components()[c.id].type
        return self.licences.get(kind) or self.licences.get("distribution")


def looks_like_mot(data: Any) -> bool:
    """A mapping with a `release` that lists `components`, from the MOF framework or with a licence."""
    if not isinstance(data, dict) or not isinstance(data.get("release"), dict):
        return False
    release = data["release"]
    framework = data.get("framework")
    named = isinstance(framework, dict) and str(framework.get("name", "")).startswith(FRAMEWORK["name"])
    return "components" in release and (named or "license" in release)


def sniff(path: str | Path) -> Any | None:
    """The parsed document when `path` is a small regular file holding a MOT model file, else None.

    Anything that is not one (a weights file, a folder, text that is not YAML) is left to the other
    readers, which report their own errors. A file that says it is one (`_claims_mot`) but cannot be
    read safely (too large, nested too deep, an alias bomb, not UTF-8, broken YAML) is a ManifestError
    naming it: read as a model folder it would report an empty release and exit 0."""
    p = Path(path)
    try:
        if not p.is_file():
            return None
        raw = read_bounded(p, MAX_MANIFEST_BYTES)
    except OSError:
        return None
    try:
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ValueError(
                f"larger than {MAX_MANIFEST_BYTES:,} bytes (a MOT model file is a few kilobytes)"
            )
        data = untrusted_yaml.load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        if _claims_mot(raw):
            raise ManifestError(f"cannot be read as a MOT model file: {_problem(exc)}", path=str(p)) from None
        return None
    return data if looks_like_mot(data) else None


# What a MOT model file says of itself near its start: the framework's name, or `release:` with a
# `components:` list under it (the shape `looks_like_mot` accepts).
_MOT_MARKS = (re.compile(rb"Model Openness Framework"), re.compile(rb"(?ms)^release:.*^\s+components:"))


def _claims_mot(raw: bytes) -> bool:
    head = raw[:65_536]
    return b"\x00" not in head and any(m.search(head) for m in _MOT_MARKS)


def _problem(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    if isinstance(exc, untrusted_yaml.YamlTooComplex):
        return f"the YAML is {exc.problem}"
    if isinstance(exc, yaml.YAMLError):
        return "invalid YAML (" + " ".join(str(exc).split())[:200] + ")"
    return str(exc)


def _text(value: Any, where: str, origin: str) -> str | None:
    """A scalar as written (numbers as their text); empty means absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool | dict | list):
        raise ManifestError(f"{where}: expected text, got {type(value).__name__}", path=origin)
    return str(value)


def _licences(raw: Any, origin: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ManifestError(
            "release.license: expected a mapping of distribution/code/data/document", path=origin
        )
    out: dict[str, str] = {}
    for scope, entry in raw.items():
        if scope not in LICENCE_SCOPES:
            raise ManifestError(
                f"release.license.{scope}: unknown scope (one of {', '.join(LICENCE_SCOPES)})", path=origin
            )
        value = entry.get("name") if isinstance(entry, dict) else entry
        name = _text(value, f"release.license.{scope}.name", origin)
        if name is not None:
            out[str(scope)] = name
    return out


def _components(raw: Any, origin: str) -> tuple[MotComponent, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ManifestError("release.components: expected a list", path=origin)
    by_name = {spec.name: cid for cid, spec in mof_components().items()}
    found: dict[str, MotComponent] = {}
    for i, entry in enumerate(raw):
        where = f"release.components[{i}]"
        if not isinstance(entry, dict):
            raise ManifestError(f"{where}: expected a mapping with a name", path=origin)
        name = _text(entry.get("name"), f"{where}.name", origin)
        # MOT maps an unknown name to its first component without a word (a typo moves a licence);
        # here it is an error that names the allowed spellings.
        cid = by_name.get(name or "")
        if cid is None:
            raise ManifestError(
                f"{where}.name: {name!r} is not a MOF component (one of: {', '.join(by_name)})", path=origin
            )
        if cid in found:
            raise ManifestError(f"{where}.name: {name!r} is listed twice", path=origin)
        found[cid] = MotComponent(
            id=cid,
            licence=_text(entry.get("license"), f"{where}.license", origin),
            location=_text(entry.get("component_path"), f"{where}.component_path", origin),
        )
    return tuple(found.values())


def parse(data: Any, *, origin: str) -> MotFile:
    """A parsed MOT model file (see `looks_like_mot`) → `MotFile`; ManifestError naming the problem."""
    if not looks_like_mot(data):
        raise ManifestError("not a Model Openness Tool model file (no release.components)", path=origin)
    release = data["release"]
    name = _text(release.get("name"), "release.name", origin)
    if name is None:
        raise ManifestError("release.name: required", path=origin)
    return MotFile(
        name=name,
        version=_text(release.get("version"), "release.version", origin),
        producer=_text(release.get("producer"), "release.producer", origin),
        licences=_licences(release.get("license"), origin),
        components=_components(release.get("components"), origin),
    )


def to_manifest(mot: MotFile, *, origin: str) -> Manifest:
    """The release manifest a MOT file amounts to: each listed component with MOT's resolved licence."""
    components: dict[str, dict[str, Any]] = {}
    for c in mot.components:
        decl: dict[str, Any] = {"present": True}
        licence = mot.resolved(c)
        if licence is not None:
            decl["license"] = licence
        if c.location is not None:
            decl["location"] = c.location
        components[c.id] = decl
    release: dict[str, Any] = {}
    if "distribution" in mot.licences:
        release["license"] = mot.licences["distribution"]
    if mot.producer is not None:
        release["provider"] = {"name": mot.producer}
    model = {"name": mot.name} | ({"version": mot.version} if mot.version else {})
    return parse_manifest({"model": model, "release": release, "components": components}, origin=origin)


def read(path: str | Path) -> tuple[MotFile, Manifest] | None:
    """The MOT file at `path` and its manifest, or None when the file is not a MOT model file."""
    data = sniff(path)
    if data is None:
        return None
    mot = parse(data, origin=str(path))
    return mot, to_manifest(mot, origin=str(path))


def dump(
    report: OpennessReport,
    *,
    name: str,
    version: str | None = None,
    producer: str | None = None,
    distribution: str | None = None,
    locations: dict[str, str] | None = None,
) -> str:
    """A MOT model file for an assessment made in MOT-exact mode.

    Every included component carries the licence string the evaluator compared (`unlicensed` when it
    had none), so MOT — and `read` — resolve nothing and reach the same class and progress."""
    if report.mof.mode != "mot_exact":
        raise ValueError("a MOT model file needs the licence strings of a MOT-exact assessment")
    listed: list[dict[str, str]] = []
    for cid, spec in mof_components().items():
        status = report.mof.components.get(cid)
        if status is None or status.status == "missing":
            continue
        entry = {"name": spec.name, "description": spec.description}
        if locations and locations.get(cid):
            entry["component_path"] = locations[cid]
        entry["license"] = status.licence if status.licence is not None else UNLICENSED
        listed.append(entry)
    release: dict[str, Any] = {"name": name, "version": version or "", "producer": producer or ""}
    release["license"] = {"distribution": {"name": distribution, "path": ""}} if distribution else {}
    release["components"] = listed
    head = "# Model Openness Tool model file written by modelwarden (openness --format mot-yaml)\n"
    return head + yaml.safe_dump(
        {"framework": dict(FRAMEWORK), "release": release}, sort_keys=False, allow_unicode=True, width=110
    )


def locations(report: OpennessReport, manifest: Manifest | None) -> dict[str, str]:
    """Where each included component is: the manifest's `location`, else the first file evidence."""
    found: dict[str, str] = {}
    for cid, ev in report.components.items():
        decl = manifest.components.get(Component(cid)) if manifest is not None else None
        if decl is not None and decl.location:
            found[cid] = decl.location
            continue
        where = next((e.provenance.file for e in ev.evidence if e.provenance.file), None)
        if ev.present and where:
            found[cid] = where
    return found
