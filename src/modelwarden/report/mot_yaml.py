"""MOT YAML renderings: an openness report as a Model Openness Tool model file (openness/mot.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelwarden.model import OpennessReport


def openness_mot(report: OpennessReport, **details: Any) -> str:
    """The MOT model file of `report`; `details` are `mot.dump`'s (name, version, producer,
    distribution, locations), which come from the release, not the report."""
    from modelwarden.openness import mot

    document: str = mot.dump(report, **details)
    return document
