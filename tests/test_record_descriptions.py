"""Every field of the published schemas carries a description: the manifest's JSON Schema, the records'
JSON Schemas and the web API's OpenAPI document (fields are documented by attribute docstrings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from modelwarden.manifest import SCHEMA_PATH, Manifest
from modelwarden.model import Assessment, ComputeEstimate, ModelFacts, OpennessReport, Record, ScanReport


def undescribed(schema: dict[str, Any]) -> list[str]:
    """`Model.field` for every property without a description, in the schema and its definitions."""
    defs = {"(root)": schema, **schema.get("$defs", {}), **schema.get("components", {}).get("schemas", {})}
    return [
        f"{model}.{name}"
        for model, body in defs.items()
        for name, prop in body.get("properties", {}).items()
        if not prop.get("description")
    ]


def test_the_published_manifest_schema_describes_every_key() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert undescribed(schema) == []
    assert undescribed(Manifest.model_json_schema()) == []


@pytest.mark.parametrize("record", [Assessment, ModelFacts, OpennessReport, ComputeEstimate])
def test_record_schemas_describe_every_field(record: type) -> None:
    assert undescribed(record.model_json_schema()) == []


def test_scan_records_describe_every_field() -> None:
    # Standard-library dataclasses (start-up time); pydantic reads their attribute docstrings too.
    assert undescribed(TypeAdapter(ScanReport).json_schema()) == []


def test_the_openapi_document_describes_every_field(tmp_path: Path) -> None:
    from modelwarden.registry import Registry
    from modelwarden.web.app import create_app

    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        document = create_app(registry).openapi()
    finally:
        registry.close()
    assert len(document["components"]["schemas"]) > 50  # the records are really in it
    assert undescribed(document) == []


class _Half(Record):
    described: int
    """Has a description."""
    bare: int


def test_the_check_fails_on_an_undescribed_field() -> None:
    assert undescribed(_Half.model_json_schema()) == ["(root).bare"]
