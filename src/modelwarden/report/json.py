"""JSON renderings: one serializer per record, one encoder for all of them.

Contracts (stable for scripts; new keys may be added, existing keys keep their meaning):

- the facts of a release (`inspect --format json`, schema `modelwarden.inspect/1`): plain values at
  the top (`parameters.total`, `architecture`, `license.id`, ...) and the provenance of each fact
  beside it (`provenance.<field>`, `license.source`, `parameters.provenance`);
- a scan report (`scan --format json`): the `ScanReport` plus a `summary` verdict (docs/scan.md);
- an openness report and an assessment: their records as documented in docs/openness.md and
  docs/assess.md; a registry record, page or diff: as recorded (docs/registry.md).

Every document is encoded by `dumps`: two-space indent, non-ASCII kept as UTF-8.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelwarden.model import ArtifactInfo, Assessment, Fact, ModelFacts, OpennessReport, Provenance
    from modelwarden.records import ScanReport, Severity
    from modelwarden.registry import Diff, StoredAssessment
    from modelwarden.registry.records import Page


def dumps(data: Any) -> str:
    """The one JSON encoding of every document the command line writes."""
    return json.dumps(data, indent=2, ensure_ascii=False)


SCHEMA = "modelwarden.inspect/1"
# What `parameters.active` counts (docs/compute.md "Active parameters"): vendors differ.
ACTIVE_CONVENTION = "input embedding included"
MAX_FILE_ROWS = 30


# Fields of `ModelFacts` that are a `Fact` (a value with its provenance): the document gives the value
# at the top and the provenance under `provenance.<field>`.
_FACT_FIELDS = (
    "architecture",
    "model_type",
    "context_length",
    "pipeline_tag",
    "library_name",
    "quantization",
)
_PROVENANCE_KEYS = ("source", "file", "field", "quote", "note")


def facts_dict(facts: ModelFacts, *, tensors: bool = False) -> dict[str, Any]:
    """The facts of a release as the `modelwarden.inspect/1` document (`--tensors`: every tensor)."""
    pc = facts.parameters
    lic = facts.license
    return {
        "schema": SCHEMA,
        "name": facts.name,
        "root": facts.root,
        "layout": facts.layout.value,
        "revision": facts.revision,
        "parameters": {
            "total": pc.total,
            "active": pc.active,
            "active_convention": ACTIVE_CONVENTION,
            "active_without_input_embedding": pc.active_without_input_embedding,
            "input_embedding": pc.input_embedding,
            "experts": pc.experts,
            "active_source": pc.active_source,
            "source": pc.source,
            "config_total": pc.config_total,
            "config_active": pc.config_active,
            "breakdown": pc.breakdown,
            "non_parameter_elements": pc.non_parameter_elements,
            "provenance": _prov(pc.provenance),
            "notes": pc.notes,
            "warnings": pc.warnings,
            "disagreements": [d.model_dump(mode="json") for d in pc.disagreements],
        },
        "architecture": _value(facts.architecture),
        "model_type": _value(facts.model_type),
        "modalities": {"input": facts.modalities.input, "output": facts.modalities.output},
        "context_length": _value(facts.context_length),
        "license": None
        if lic is None
        else {"id": lic.id, "name": lic.name, "link": lic.link, **(_prov(lic.provenance) or {})},
        "license_files": [lf.model_dump(mode="json") for lf in facts.license_files],
        "base_model": [
            {"name": b.name, "relation": b.relation, **(_prov(b.provenance) or {})} for b in facts.base_model
        ],
        "datasets": [d.value for d in facts.datasets],
        "language": facts.language,
        "pipeline_tag": _value(facts.pipeline_tag),
        "library_name": _value(facts.library_name),
        "tags": facts.tags,
        "tokenizer": facts.tokenizer.model_dump(mode="json") if facts.tokenizer else None,
        "quantization": _value(facts.quantization),
        "dtypes": facts.dtypes,
        "card": None
        if facts.card is None
        else {
            "path": facts.card.path,
            "links": facts.card.links,
            "metadata": facts.card.metadata,
            "text_chars": facts.card.text_chars,
        },
        "components": [c.model_dump(mode="json") for c in facts.components],
        "adapter": facts.adapter.model_dump(mode="json") if facts.adapter else None,
        "generation_config": facts.generation_config,
        "remote_code": facts.remote_code,
        "trust": [f.model_dump(mode="json") for f in facts.trust],
        "files": [_file(f, tensors=tensors) for f in facts.files],
        "provenance": {
            name: _prov(fact.provenance)
            for name in _FACT_FIELDS
            if (fact := getattr(facts, name)) is not None
        }
        | ({"modalities": _prov(facts.modalities.provenance)} if facts.modalities.provenance else {})
        | ({"datasets": _prov(facts.datasets[0].provenance)} if facts.datasets else {}),
        "problems": [p.model_dump(mode="json") for p in facts.problems],
        "warnings": facts.warnings,
        # Only for a release read from a hub (--remote): local reports are unchanged.
        **({"remote": facts.remote.model_dump(mode="json")} if facts.remote is not None else {}),
    }


def _file(f: ArtifactInfo, *, tensors: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": f.path,
        "format": f.format.value,
        "size": f.size,
        "sha256": f.sha256,
        "role": f.role,
        "component": f.component,
        "tensors": len(f.tensors),
        "parameters": f.parameters,
        "bytes_read": f.bytes_read,
        "problems": len(f.problems),
    }
    if tensors:
        out["tensor_list"] = [t.model_dump(mode="json") for t in f.tensors]
    if f.metadata:
        out["metadata"] = f.metadata
    return out


def _value(fact: Fact[Any] | None) -> Any:
    return None if fact is None else fact.value


def _prov(p: Provenance | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {k: v for k, v in p.model_dump(mode="json").items() if v is not None}


def facts_from_dict(doc: dict[str, Any]) -> dict[str, Any]:
    """The `ModelFacts` fields of a `modelwarden.inspect/1` document (what `facts_dict` wrote), for
    `ModelFacts.model_validate`: how `registry import` reads an assessment whose `facts` are in this
    shape. Lossless for what the document holds; a file's tensors come back only when the document
    lists them (`--tensors`), its problems from the release's list of problems."""
    prov = doc.get("provenance") or {}
    params = {k: v for k, v in (doc.get("parameters") or {}).items() if k != "active_convention"}
    facts: dict[str, Any] = {
        key: doc.get(key)
        for key in (
            "name", "root", "layout", "revision", "license_files", "language", "tags", "tokenizer",
            "dtypes", "components", "adapter", "generation_config", "remote_code", "trust", "problems",
            "warnings",
        )
        if key in doc
    }  # fmt: skip
    facts["parameters"] = params
    for name in _FACT_FIELDS:
        if doc.get(name) is not None:
            facts[name] = {"value": doc[name], "provenance": prov.get(name)}
    modalities = doc.get("modalities") or {}
    facts["modalities"] = {**modalities, "provenance": prov.get("modalities")}
    facts["datasets"] = [{"value": d, "provenance": prov.get("datasets")} for d in doc.get("datasets") or []]
    facts["license"] = None if doc.get("license") is None else _split_provenance(doc["license"])
    facts["base_model"] = [_split_provenance(b) for b in doc.get("base_model") or []]
    facts["card"] = doc.get("card")
    problems = [p for p in doc.get("problems") or [] if isinstance(p, dict)]
    facts["files"] = [_file_from_dict(f, problems) for f in doc.get("files") or []]
    return facts


def _split_provenance(item: dict[str, Any]) -> dict[str, Any]:
    """`{"name": .., "source": .., "file": ..}` -> `{"name": .., "provenance": {"source": .., ...}}`."""
    own = {k: v for k, v in item.items() if k not in _PROVENANCE_KEYS}
    prov = {k: v for k, v in item.items() if k in _PROVENANCE_KEYS}
    return own | {"provenance": prov or None}


def _file_from_dict(f: dict[str, Any], problems: list[dict[str, Any]]) -> dict[str, Any]:
    out = {k: v for k, v in f.items() if k not in ("tensors", "tensor_list", "problems")}
    out["tensors"] = f.get("tensor_list") or []
    count = f.get("problems") if isinstance(f.get("problems"), int) else 0
    out["problems"] = [p for p in problems if p.get("file") == f.get("path")][:count]
    return out


def facts_json(facts: ModelFacts, *, tensors: bool = False) -> str:
    return dumps(facts_dict(facts, tensors=tensors))


def scan_dict(report: ScanReport, threshold: Severity) -> dict[str, Any]:
    """The ScanReport plus a `summary` object (ScanReport.model_validate accepts it back once
    `summary` is dropped)."""
    from modelwarden.scan.verdict import verdict

    data = report.model_dump(mode="json")
    data["summary"] = verdict(report, threshold)
    return data


def scan_json(report: ScanReport, threshold: Severity, **_: Any) -> str:
    return dumps(scan_dict(report, threshold=threshold))


def openness_dict(report: OpennessReport) -> dict[str, Any]:
    data: dict[str, Any] = report.model_dump(mode="json", by_alias=True)
    return data


def openness_json(report: OpennessReport, **_: Any) -> str:
    return dumps(openness_dict(report))


def assessment_dict(a: Assessment) -> dict[str, Any]:
    """The assessment document (docs/assess.md "JSON contract"; what `registry import` reads). Its
    `facts` are the `inspect --format json` document of the release (`facts_dict`), the one shape
    of a release's facts everywhere."""
    doc: dict[str, Any] = json.loads(a.model_dump_json(by_alias=True))
    if a.facts is not None:
        doc["facts"] = facts_dict(a.facts)
    return doc


def assessment_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """An assessment document as `Assessment.model_validate` reads it: `facts` in the inspect shape
    (this version's documents) are turned back into `ModelFacts` fields; older documents, whose
    `facts` are the record's own fields, pass unchanged."""
    facts = doc.get("facts")
    if isinstance(facts, dict) and facts.get("schema") == SCHEMA:
        return doc | {"facts": facts_from_dict(facts)}
    return doc


def assessment_json(a: Assessment, **_: Any) -> str:
    return dumps(assessment_dict(a))


def stored_json(stored: StoredAssessment, **_: Any) -> str:
    """A recorded assessment: the document exactly as recorded (its facts as the record's own fields,
    the registry's contract, docs/registry.md), not re-shaped like `assess --format json`."""
    return dumps(json.loads(stored.assessment.model_dump_json(by_alias=True)))


def page_json(page: Page, **_: Any) -> str:
    return dumps(json.loads(page.model_dump_json()))


def diff_json(diff: Diff, **_: Any) -> str:
    return dumps(json.loads(diff.model_dump_json()))
