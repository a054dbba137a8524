"""Identify LICENSE / USE_POLICY texts of well-known licences by fingerprints of distinctive phrases.

The fingerprints live in `data/licence_fingerprints.yaml`. A text is normalised (lower case, runs
of anything but letters, digits and `+` collapsed to one space) and matched phrase by phrase on word
boundaries. Unknown text stays unknown: identification never falls back to similarity scores. When
a file holds several licence texts (a LICENSE followed by third-party notices), the one whose
fingerprint starts earliest is the file's licence and the others are named in `method`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from modelwarden.limits import MAX_TEXT_BYTES
from modelwarden.model import LicenseFile
from modelwarden.untrusted.io import open_regular

Kind = Literal["license", "use_policy", "notice", "acceptable_use"]
_NORMALISE = re.compile(r"[^a-z0-9+]+")
_LICENCE_NAME = re.compile(r"^(?:licen[cs]e|copying)(?:[-_. ].*)?$", re.IGNORECASE)
_USE_POLICY = re.compile(r"^use[-_ ]?policy(?:\..*)?$", re.IGNORECASE)
_ACCEPTABLE_USE = re.compile(r"^(?:acceptable|prohibited)[-_ ]?use(?:[-_ ]?policy)?(?:\..*)?$", re.IGNORECASE)
_NOTICE = re.compile(r"^notice(?:\..*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class _Fingerprint:
    id: str
    phrases: tuple[tuple[str, ...], ...]  # alternatives, each a conjunction of phrases
    unless: tuple[str, ...]


@dataclass(frozen=True)
class Identification:
    """What a licence text was identified as, and how."""

    id: str | None
    method: str | None


def kind_of(filename: str) -> Kind | None:
    """Which kind of licence-related file a (top-level) file name denotes, if any."""
    name = Path(filename).name
    if _USE_POLICY.match(name):
        return "use_policy"
    if _ACCEPTABLE_USE.match(name):
        return "acceptable_use"
    if _NOTICE.match(name):
        return "notice"
    if _LICENCE_NAME.match(name):
        return "license"
    return None


def normalise(text: str) -> str:
    """Lower-case text, punctuation and runs of space collapsed, padded with spaces for phrase matching."""
    return " " + _NORMALISE.sub(" ", text.lower()).strip() + " "


FINGERPRINTS_PATH = Path(__file__).parent / "data" / "licence_fingerprints.yaml"


@cache
def _fingerprints() -> tuple[tuple[_Fingerprint, ...], tuple[_Fingerprint, ...]]:
    raw: dict[str, list[dict[str, Any]]] = yaml.safe_load(FINGERPRINTS_PATH.read_text("utf-8"))

    def phrases(items: list[Any]) -> tuple[str, ...]:
        return tuple(normalise(str(p)).strip() for p in items)

    def load(entries: list[dict[str, Any]]) -> tuple[_Fingerprint, ...]:
        return tuple(
            _Fingerprint(
                str(e["id"]), tuple(phrases(fp) for fp in e["fingerprints"]), phrases(e.get("unless", []))
            )
            for e in entries
        )

    return load(raw["licences"]), load(raw["use_policies"])


def identify(text: str, kind: Kind = "license") -> Identification:
    """The licence id a text is, or `Identification(None, ...)` when it is not a known text."""
    norm = normalise(text)
    licences, policies = _fingerprints()
    table = policies + licences if kind in ("use_policy", "acceptable_use") else licences + policies
    matches: list[tuple[int, str, int]] = []  # (position, id, fingerprint number)
    for fp in table:
        if any(f" {u} " in norm for u in fp.unless):
            continue
        for number, phrases in enumerate(fp.phrases, start=1):
            positions = [norm.find(f" {p} ") for p in phrases]
            if all(pos >= 0 for pos in positions):
                matches.append((min(positions), fp.id, number))
                break
    if not matches:
        return Identification(None, None)
    matches.sort()
    first = matches[0]
    others = sorted({m[1] for m in matches[1:]} - {first[1]})
    method = f"fingerprint {first[1]}#{first[2]}"
    if others:
        method += f"; also contains text of: {', '.join(others)}"
    return Identification(first[1], method)


def read_licence_file(path: Path, rel: str) -> tuple[LicenseFile | None, str | None]:
    """A LicenseFile for a licence-related file (None if the name is not one), plus a problem message."""
    kind = kind_of(rel)
    if kind is None:
        return None, None
    try:
        with open_regular(path) as fh:
            data = fh.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:
        return LicenseFile(path=rel, kind=kind), f"cannot be read ({exc.strerror or exc})"
    if len(data) > MAX_TEXT_BYTES:
        return LicenseFile(path=rel, kind=kind), f"over {MAX_TEXT_BYTES:,} bytes: not identified"
    found = identify(data.decode("utf-8", errors="replace"), kind)
    return LicenseFile(path=rel, kind=kind, identified_as=found.id, method=found.method), None
