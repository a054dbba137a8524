"""JSON Lines renderings: recorded assessments, one full document per line (`registry export`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from modelwarden.registry.records import StoredAssessment


def jsonl_line(stored: StoredAssessment) -> str:
    """`{"id", "recorded_at", "digest", "assessment"}`: the document exactly as recorded (its facts
    as the record's own fields, like `registry show --format json`; `registry import` reads it)."""
    document = stored.assessment.model_dump(mode="json", by_alias=True)
    record = {
        "id": stored.id,
        "recorded_at": stored.recorded_at.isoformat(),
        "digest": stored.digest,
        "assessment": document,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def stored_jsonl(rows: Iterable[StoredAssessment], **_: Any) -> str:
    return "".join(jsonl_line(stored) + "\n" for stored in rows)
