"""The Model Openness Tool's own licence lists (`data/mot_licences.yaml`): all MOT-exact mode consults.

MOT counts a licence string as open when it is, character for character, an SPDX id its copy of the
SPDX list marks OSI-approved or FSF-libre, or one of the open-data ids its licence handler hard-codes
(docs/openness.md, "MOT-exact mode"). Its per-content-type lists only decide the "not type-appropriate"
warning. The data file is derived from MOT's `licenses.json` and `mof-licenses.json` by `build` (run
`python -m modelwarden.openness.mot_lists DIR` on a folder holding the two files); a test checks it
against the copies kept in `tests/openness/data/licence-lists/`. MOT's licence (MIT) is
`data/LICENSE-MOT`.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DATA = "data/mot_licences.yaml"


@dataclass(frozen=True)
class MotLists:
    """MOT's licence vocabulary at the snapshot named in the data file."""

    osi_approved: frozenset[str]
    """SPDX ids MOT's SPDX list marks `isOsiApproved`."""
    fsf_libre: frozenset[str]
    """SPDX ids MOT's SPDX list marks `isFsfLibre`."""
    open_data: frozenset[str]
    """Ids MOT's licence handler counts open besides the SPDX flags (written as MOT spells them)."""
    open_data_patterns: tuple[re.Pattern[str], ...]
    """CC-BY and CC-BY-SA versions and national ports, which the handler also counts open."""
    content_types: dict[str, str]
    """Licence id → the one content type (code, data, document) MOT's importer keeps for it."""


@cache
def lists() -> MotLists:
    """MOT's licence lists (openness/data/mot_licences.yaml), loaded once."""
    raw: dict[str, Any] = yaml.safe_load(
        resources.files("modelwarden.openness").joinpath(DATA).read_text("utf-8")
    )
    return MotLists(
        osi_approved=frozenset(raw["osi_approved"]),
        fsf_libre=frozenset(raw["fsf_libre"]),
        open_data=frozenset(raw["open_data"]["ids"]),
        open_data_patterns=tuple(re.compile(p) for p in raw["open_data"]["patterns"]),
        content_types=dict(raw["content_types"]),
    )


def is_open(licence: str) -> bool:
    """MOT's openness test on the string exactly as written (case, spaces and spelling included)."""
    m = lists()
    return (
        licence in m.osi_approved
        or licence in m.fsf_libre
        or licence in m.open_data
        or any(p.fullmatch(licence) for p in m.open_data_patterns)
    )


def is_open_data(licence: str) -> bool:
    """On MOT's hard-coded open-data list (used by the normalised table for SPDX ids it lacks)."""
    m = lists()
    return licence in m.open_data or any(p.fullmatch(licence) for p in m.open_data_patterns)


def content_type(licence: str) -> str | None:
    """The content type MOT lists the licence for, or None when it is on no per-type list."""
    return lists().content_types.get(licence)


def build(licenses: dict[str, Any], mof_licenses: dict[str, Any]) -> dict[str, Any]:
    """The derived parts of the data file from MOT's two JSON lists.

    `mof-licenses.json` lists CC0-1.0 and CC-PDDC twice (data, then document); MOT's importer stores
    one licence entity per id, so the last entry wins — kept here the same way."""
    entries = licenses["licenses"]
    types: dict[str, str] = {}
    for e in mof_licenses["licenses"]:
        types[e["licenseId"]] = e["ContentType"]
    return {
        "spdx_list_version": licenses.get("licenseListVersion"),
        "osi_approved": sorted(e["licenseId"] for e in entries if e.get("isOsiApproved") is True),
        "fsf_libre": sorted(e["licenseId"] for e in entries if e.get("isFsfLibre") is True),
        "content_types": dict(sorted(types.items())),
    }


def _regenerate(folder: Path) -> None:
    """Rewrite the derived lists of the data file, keeping its header and hand-kept open-data list."""
    target = Path(str(resources.files("modelwarden.openness").joinpath(DATA)))
    text = target.read_text("utf-8")
    head, _, _ = text.partition("\n# --- derived")
    derived = build(
        json.loads((folder / "licenses.json").read_text("utf-8")),
        json.loads((folder / "mof-licenses.json").read_text("utf-8")),
    )
    body = yaml.safe_dump(derived, sort_keys=False, width=110, allow_unicode=True)
    target.write_text(
        head + "\n# --- derived from licenses.json and mof-licenses.json by mot_lists.build\n" + body,
        "utf-8",
    )


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    if len(sys.argv) != 2:
        print("usage: python -m modelwarden.openness.mot_lists DIR_WITH_MOT_JSON_LISTS", file=sys.stderr)
        raise SystemExit(2)
    _regenerate(Path(sys.argv[1]))
