"""The Model Openness Framework class, computed as the Model Openness Tool computes it
(docs/reference/openness.md §1.4).

Input is a MOT-style listing: the components that are included (listing one = included), each with
its own licence string or none, plus the release-wide defaults per content type and for the whole
distribution. `mode="mot_exact"` reproduces MOT: the string as written is looked up in MOT's own lists
(`mot_lists`): OSI-approved or FSF-libre in its SPDX list, or on its open-data list, counts as open;
the per-type lists only warn. `mode="normalised"` first maps Hugging Face ids and free-text names to a
licence record and counts a licence as open only when it is OSI / open-data / open-content with no
restricting clause (docs/openness.md lists where the two modes differ and why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from modelwarden.openness import mot_lists
from modelwarden.openness.licences import lookup

Mode = Literal["mot_exact", "normalised"]
Status = Literal["included", "unlicensed", "invalid", "missing"]
UNLICENSED = "unlicensed"


@dataclass(frozen=True)
class ComponentSpec:
    """One MOF component as MOT implements it (openness/data/mof.yaml)."""

    id: str
    """modelwarden's id (the manifest's `components:` key)."""
    name: str
    """MOT's exact name, as MOT model files list it."""
    type: Literal["code", "data", "document"]
    """Content type: picks the release-wide default licence and MOT's per-type list."""
    cls: int
    """The class where it first appears (3, 2 or 1)."""
    required: bool
    """Required for that class (optional components never affect the class)."""
    description: str = ""
    """The description MOT's model files carry for it."""


@cache
def components() -> dict[str, ComponentSpec]:
    """The 17 MOF components, by modelwarden id."""
    text = resources.files("modelwarden.openness").joinpath("data/mof.yaml").read_text("utf-8")
    raw: dict[str, dict[str, Any]] = yaml.safe_load(text)["components"]
    return {
        cid: ComponentSpec(
            cid, c["name"], c["type"], int(c["class"]), bool(c["required"]), c.get("description", "")
        )
        for cid, c in raw.items()
    }


@dataclass
class Listing:
    """What a MOT YAML says: included components (id → own licence, None to inherit) and defaults."""

    components: dict[str, str | None]
    distribution: str | None = None
    code: str | None = None
    data: str | None = None
    document: str | None = None


@dataclass
class MofResult:
    """The MOF evaluation: class, progress per class and each component's bucket."""

    cls: int | None  # 1, 2, 3, or None (unclassified)
    progress: dict[int, float]  # class -> percent, one decimal
    mode: Mode
    status: dict[str, Status] = field(default_factory=dict)
    licences: dict[str, str | None] = field(default_factory=dict)  # resolved licence per included component
    warnings: list[str] = field(default_factory=list)  # open but not type-appropriate
    reasons: list[str] = field(default_factory=list)


def resolve_licence(listing: Listing, cid: str) -> str | None:
    """Component licence → default for its content type → distribution default → none.

    An explicit `unlicensed` stops the fall-back (docs/reference/openness.md §1.4)."""
    own = listing.components.get(cid)
    if own is not None:
        return None if own.strip().lower() == UNLICENSED else own
    by_type = getattr(listing, components()[cid].type)
    return by_type if by_type is not None else listing.distribution


def _is_open(licence: str, mode: Mode) -> bool:
    if mode == "mot_exact":
        return mot_lists.is_open(licence)
    rec = lookup(licence)
    return rec is not None and rec.open


def _type_ok(licence: str, content: str, mode: Mode) -> bool:
    """On MOT's list for the content type; the normalised mode asks the same of the SPDX id."""
    if mode == "mot_exact":
        return mot_lists.content_type(licence) == content
    rec = lookup(licence)
    return rec is not None and rec.spdx is not None and mot_lists.content_type(rec.spdx) == content


def evaluate(listing: Listing, mode: Mode = "mot_exact") -> MofResult:
    """MOT's class and progress algorithm on a listing (docs/reference/openness.md §1.4)."""
    specs = components()
    result = MofResult(cls=None, progress={}, mode=mode)
    for cid in specs:
        if cid not in listing.components:
            result.status[cid] = "missing"
            continue
        lic = resolve_licence(listing, cid)
        result.licences[cid] = lic
        if lic is None:
            result.status[cid] = "unlicensed"
        elif _is_open(lic, mode):
            result.status[cid] = "included"
            if not _type_ok(lic, specs[cid].type, mode):
                result.warnings.append(
                    f"{specs[cid].name}: {lic} is open but not a {specs[cid].type} licence"
                )
        else:
            result.status[cid] = "invalid"

    required = {c: [s.id for s in specs.values() if s.required and s.cls == c] for c in (3, 2, 1)}
    status = result.status
    # A research paper in any state stands in for a technical report that is not included (MOT PR #104).
    substitute = status["technical_report"] != "included" and status["research_paper"] != "missing"
    per_class: dict[int, list[str]] = {3: list(required[3])}
    if substitute:
        per_class[3] = [("research_paper" if c == "technical_report" else c) for c in per_class[3]]
    per_class[2] = per_class[3] + required[2]
    per_class[1] = required[3] + required[2] + required[1]
    needed = {3: len(per_class[3]), 2: len(per_class[2]), 1: len(per_class[1])}
    if status["technical_report"] != "included" and status["research_paper"] == "included":
        # MOT: at Class I an open paper makes the report optional whenever the report is not
        # included — absent, unlicensed or under a licence that is not open alike.
        needed[1] -= 1

    complete_below = True
    for c in (3, 2, 1):
        included = sum(1 for cid in per_class[c] if status[cid] == "included")
        pct = min(100.0, 100.0 * included / needed[c]) if complete_below else 0.0
        result.progress[c] = round(pct, 1)
        if pct < 100.0:
            complete_below = False
            gaps = [f"{specs[cid].name} ({status[cid]})" for cid in per_class[c] if status[cid] != "included"]
            if gaps and all(result.progress.get(k, 100.0) == 100.0 for k in (3, 2) if k > c):
                result.reasons.append(f"Class {_roman(c)} needs: " + ", ".join(dict.fromkeys(gaps)))
        else:
            result.cls = c
    if substitute:
        result.reasons.append("research paper stands in for the technical report (MOT rule)")
    return result


def _roman(c: int) -> str:
    return {1: "I", 2: "II", 3: "III"}[c]
