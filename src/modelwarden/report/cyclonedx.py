"""CycloneDX 1.6 ML-BOM renderings: the facts of a release (`inspect --format cyclonedx`) and an
assessment (`assess --format cyclonedx`). The mapping, field by field, is docs/cyclonedx.md.

The document is built with cyclonedx-python-lib (metadata, tools, components, licences, hashes,
properties, dependencies, serial number). Version 11 of the library has no model for a component's
`modelCard` or `data` (both are TODOs in its `Component`), so those two objects are added to the
library's JSON output here, and the whole document is then checked against the CycloneDX 1.6 JSON
schema the library ships (offline): a BOM that fails its schema is never written (fail closed).

What the files did not show is never filled in: no learning approach is guessed, a hash that was not
computed is a `modelwarden:sha256` property saying so (never a made-up digest), a licence string that
is not an SPDX id is a licence *name*, and only http(s) links become URLs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cyclonedx.model import HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.schema.schema import SchemaVersion1Dot6
from cyclonedx.spdx import fixup_id
from cyclonedx.validation.json import JsonStrictValidator

from modelwarden import __version__
from modelwarden.errors import ModelwardenError

if TYPE_CHECKING:
    from modelwarden.model import Assessment, ModelFacts, ParameterCount, Provenance

NS = "modelwarden"
"""The namespace of every property this renderer writes (docs/cyclonedx.md "Properties")."""
MODEL_REF = "model"
"""The bom-ref of the model component (metadata.component)."""
SCAN_THRESHOLD = "medium"
"""The severity the scan verdict is taken at: the `scan` command's default `--fail-on`."""
NOT_COMPUTED = "not computed"

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_HTTP = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)


@dataclass
class _Licence:
    """One licence statement and where it was read."""

    text: str
    """The identifier as the source gave it (or its name when it gave no identifier)."""
    name: str | None
    """The licence's full name, when the source gave one beside the identifier."""
    acknowledgement: LicenseAcknowledgement
    """Declared (a card, config or manifest says so) or concluded (identified from a licence text)."""
    properties: list[tuple[str, str]] = field(default_factory=list)
    """Provenance as (name, value) properties."""
    link: str | None = None
    """A URL the source gave for the licence."""


@dataclass
class _File:
    """One file of the release."""

    path: str
    """Path relative to the release root."""
    sha256: str | None
    """The SHA-256 when it was computed."""
    properties: list[tuple[str, str]]
    """Format, size, role, parameters."""


@dataclass
class _Subject:
    """What the BOM describes, gathered from a facts record or an assessment."""

    name: str
    """The model's name."""
    version: str | None
    """Release version or revision."""
    properties: list[tuple[str, str]] = field(default_factory=list)
    """The model component's properties."""
    licences: list[_Licence] = field(default_factory=list)
    """Every licence statement found."""
    files: list[_File] = field(default_factory=list)
    """Every file read."""
    datasets: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    """Dataset names with their provenance properties."""
    model_parameters: dict[str, Any] = field(default_factory=dict)
    """The model card's `modelParameters` (without datasets)."""
    card_properties: list[tuple[str, str]] = field(default_factory=list)
    """The model card's properties (the assessment's results)."""


# ------------------------------------------------------------------------------------------------
# Renderers (report/base.py RENDERERS)
# ------------------------------------------------------------------------------------------------


def facts_cyclonedx(facts: ModelFacts, **_: Any) -> str:
    """The facts of a release as a CycloneDX 1.6 ML-BOM (JSON); its timestamp is the moment of writing."""
    subject = _from_facts(facts, facts.parameters)
    return _document(subject, timestamp=dt.datetime.now(dt.UTC))


def assessment_cyclonedx(a: Assessment, **_: Any) -> str:
    """An assessment as a CycloneDX 1.6 ML-BOM (JSON); its timestamp is the assessment's `created_at`
    (when the facts were gathered), the law's as-of date is a property."""
    if a.facts is not None:
        subject = _from_facts(a.facts, a.parameters or a.facts.parameters, name=a.subject.name)
        subject.version = a.subject.version or subject.version
        if a.parameters is not None and a.facts.parameters.total != a.parameters.total:
            # An adapter: the files count the adapter, the assessment the model (docs/cyclonedx.md).
            subject.properties += _opt("parameters:files:total", a.facts.parameters.total)
        _add_hashes(subject, a.subject.file_hashes)
    else:
        subject = _Subject(name=a.subject.name, version=a.subject.version)
        subject.properties += [(_n("files"), "none read: the assessment is of a manifest alone")]
        if a.parameters is not None:
            subject.properties += _parameter_properties(a.parameters)
    subject.licences += _openness_licence(a)
    subject.card_properties = _assessment_properties(a)
    return _document(subject, timestamp=a.created_at)


# ------------------------------------------------------------------------------------------------
# Gathering
# ------------------------------------------------------------------------------------------------


def _n(name: str) -> str:
    return f"{NS}:{name}"


def _opt(name: str, value: object) -> list[tuple[str, str]]:
    """A property when the value is known (never "None")."""
    return [] if value is None or value == "" else [(_n(name), str(value))]


def _prov(p: Provenance | None, prefix: str = "provenance") -> list[tuple[str, str]]:
    if p is None:
        return []
    return [
        *_opt(f"{prefix}:source", p.source.value),
        *_opt(f"{prefix}:file", p.file),
        *_opt(f"{prefix}:field", p.field),
    ]


def _parameter_properties(pc: ParameterCount) -> list[tuple[str, str]]:
    out = [*_opt("parameters:total", pc.total), *_opt("parameters:active", pc.active)]
    if pc.active is not None:
        from modelwarden.report.json import ACTIVE_CONVENTION

        out += _opt("parameters:active_convention", ACTIVE_CONVENTION)
    return out + _opt("parameters:source", pc.source)


def _from_facts(facts: ModelFacts, parameters: ParameterCount, *, name: str | None = None) -> _Subject:
    subject = _Subject(name=name or facts.name or facts.root, version=facts.revision)
    props = subject.properties
    props += _opt("layout", facts.layout.value)
    props += _parameter_properties(parameters)
    props += _opt("context_length", facts.context_length.value if facts.context_length else None)
    props += _opt("library_name", facts.library_name.value if facts.library_name else None)
    props += _opt("quantization", facts.quantization.value if facts.quantization else None)
    props += [(_n("language"), lang) for lang in facts.language]
    props += [
        (_n("base_model"), b.name if b.relation is None else f"{b.name} ({b.relation})")
        for b in facts.base_model
    ]
    props += [(_n("remote_code"), path) for path in facts.remote_code]
    props += _opt("problems", len(facts.problems) or None)

    if facts.license is not None and (facts.license.id or facts.license.name):
        lic = facts.license
        subject.licences.append(
            _Licence(
                text=lic.id or lic.name or "",
                name=lic.name,
                acknowledgement=LicenseAcknowledgement.DECLARED,
                properties=_prov(lic.provenance),
                link=lic.link,
            )
        )
    for lf in facts.license_files:
        if lf.identified_as:
            subject.licences.append(
                _Licence(
                    text=lf.identified_as,
                    name=None,
                    acknowledgement=LicenseAcknowledgement.CONCLUDED,
                    properties=[
                        (_n("provenance:source"), "file"),
                        (_n("provenance:file"), lf.path),
                        *_opt("provenance:method", lf.method),
                    ],
                )
            )

    for f in facts.files:
        file_props = [
            *_opt("file:format", f.format.value),
            *_opt("file:size", f.size),
            *_opt("file:role", f.role),
            *_opt("file:parameters", f.parameters),
            *_opt("file:problems", len(f.problems) or None),
        ]
        subject.files.append(_File(f.path, f.sha256, file_props))

    subject.datasets = [(d.value, _prov(d.provenance)) for d in facts.datasets]
    card: dict[str, Any] = {}
    if facts.pipeline_tag is not None:
        card["task"] = facts.pipeline_tag.value
    if facts.model_type is not None:
        card["architectureFamily"] = facts.model_type.value
    if facts.architecture is not None:
        card["modelArchitecture"] = facts.architecture.value
    if facts.modalities.input:
        card["inputs"] = [{"format": m} for m in facts.modalities.input]
    if facts.modalities.output:
        card["outputs"] = [{"format": m} for m in facts.modalities.output]
    subject.model_parameters = card
    return subject


def _add_hashes(subject: _Subject, hashes: dict[str, str]) -> None:
    """Hashes recorded in the assessment's subject fill files whose facts have none."""
    for f in subject.files:
        if f.sha256 is None and f.path in hashes:
            f.sha256 = hashes[f.path]


def _openness_licence(a: Assessment) -> list[_Licence]:
    """The licence the openness stage assessed (it may come from the manifest)."""
    lic = a.openness.licence if a.openness is not None else None
    if lic is None or not (lic.id or lic.text or lic.name):
        return []
    return [
        _Licence(
            text=lic.id or lic.text or lic.name or "",
            name=lic.name,
            acknowledgement=LicenseAcknowledgement.DECLARED,
            properties=_prov(lic.provenance),
        )
    ]


def _assessment_properties(a: Assessment) -> list[tuple[str, str]]:
    props = [*_opt("assessment:as_of", a.as_of.isoformat()), *_opt("assessment:ruleset", a.ruleset_version)]
    props += _opt("scan:status", a.scan_status)
    props += _opt("scan:skipped", a.scan_skipped)
    if a.scan is not None:
        from modelwarden.records import Severity
        from modelwarden.scan.verdict import verdict

        v = verdict(a.scan, Severity(SCAN_THRESHOLD))
        props += [
            (_n("scan:verdict"), str(v["verdict"])),
            (_n("scan:fail_on"), SCAN_THRESHOLD),
            (_n("scan:findings_at_or_above"), str(v["findings_at_or_above"])),
            (_n("scan:unverified"), str(v["unverified"])),
        ]
    if a.openness is not None:
        o = a.openness
        props += [
            (_n("openness:mof_class"), "none" if o.mof.class_ is None else str(o.mof.class_)),
            (_n("openness:osaid"), "pass" if o.osaid.pass_ else "fail"),
            (_n("openness:eu_foss_licence"), o.eu_foss_licence.verdict.value),
            *_opt("openness:release_level", o.release_level),
        ]
    c = a.compute
    props += _opt("compute:method", c.method)
    if c.training_flop is not None:
        props += [
            (_n("compute:training_flop:low"), repr(c.training_flop.low)),
            (_n("compute:training_flop:central"), repr(c.training_flop.central)),
            (_n("compute:training_flop:high"), repr(c.training_flop.high)),
        ]
    props += [(_n(f"compute:threshold:{line}"), call.value) for line, call in c.thresholds.items()]
    for rid, regime in a.regimes.items():
        props.append((_n(f"regime:{rid}:in_force"), "true" if regime.in_force else "false"))
        props += [(_n(f"regime:{rid}:obligation"), f"{ob.id}: {ob.title}") for ob in regime.obligations]
    return props


# ------------------------------------------------------------------------------------------------
# The document
# ------------------------------------------------------------------------------------------------


def _properties(pairs: Iterable[tuple[str, str]]) -> list[Property]:
    return [Property(name=name, value=value) for name, value in pairs]


def _licence(lic: _Licence) -> DisjunctiveLicense:
    """An SPDX id only when the text is one (case-insensitive, the SPDX list the library ships);
    anything else, an expression or a look-alike included, is a licence name."""
    spdx = fixup_id(lic.text.strip())
    url = XsUri(lic.link) if lic.link and _HTTP.fullmatch(lic.link) else None
    full_name = lic.name if lic.name and lic.name != lic.text else None
    if spdx is not None:
        props = _properties([*_opt("licence:name", full_name), *lic.properties])
        return DisjunctiveLicense(id=spdx, url=url, acknowledgement=lic.acknowledgement, properties=props)
    # Not an SPDX id: the name is the full name when the source gave one, its identifier beside it.
    props = _properties([*_opt("licence:id", lic.text if full_name else None), *lic.properties])
    return DisjunctiveLicense(
        name=full_name or lic.text, url=url, acknowledgement=lic.acknowledgement, properties=props
    )


def _hash_properties(subject: _Subject) -> list[tuple[str, str]]:
    done = sum(1 for f in subject.files if _valid_sha256(f.sha256))
    if not subject.files:
        return []
    if done == len(subject.files):
        return [(_n("hashes"), "sha256 of every file")]
    if done == 0:
        return [(_n("hashes"), NOT_COMPUTED)]
    return [(_n("hashes"), f"sha256 of {done} of {len(subject.files)} files")]


def _hashes(value: str | None) -> list[HashType]:
    """The file's SHA-256 when it was computed; nothing otherwise (never a made-up digest)."""
    if value is None or not _valid_sha256(value):
        return []
    return [HashType(alg=HashAlgorithm.SHA_256, content=value.lower())]


def _valid_sha256(value: str | None) -> bool:
    return value is not None and _SHA256.fullmatch(value) is not None


def _bom(subject: _Subject, timestamp: dt.datetime) -> Bom:
    """The envelope and the model: metadata (timestamp, tools), the model component, serial number."""
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=subject.name,
        version=subject.version,
        bom_ref=MODEL_REF,
        licenses=[_licence(lic) for lic in subject.licences],
        properties=_properties([*subject.properties, *_hash_properties(subject)]),
    )
    tool = Component(type=ComponentType.APPLICATION, name="modelwarden", version=__version__)
    return Bom(
        metadata=BomMetaData(
            tools=ToolRepository(components=[tool]), component=model, timestamp=timestamp.astimezone(dt.UTC)
        )
    )


def _parts(subject: _Subject) -> list[dict[str, Any]]:
    """The files (in release order) and the datasets, each built by the library's `Component` and
    serialised on its own: the library's `Bom` keeps components in a sorted set and registers
    dependencies in quadratic time (2,000 files: 30 s), one component at a time is linear."""
    parts: list[dict[str, Any]] = []
    for i, f in enumerate(subject.files, start=1):
        props = f.properties if _valid_sha256(f.sha256) else [*f.properties, (_n("sha256"), NOT_COMPUTED)]
        component = Component(
            type=ComponentType.FILE,
            name=f.path,
            bom_ref=f"file-{i}",
            hashes=_hashes(f.sha256),
            properties=_properties(props),
        )
        parts.append(_json(component))
    for i, (name, props) in enumerate(subject.datasets, start=1):
        component = Component(
            type=ComponentType.DATA, name=name, bom_ref=f"dataset-{i}", properties=_properties(props)
        )
        # `data` is not in the library's model (see the module's docstring).
        parts.append(_json(component) | {"data": [_data(name)]})
    return parts


def _json(component: Component) -> dict[str, Any]:
    """One component as the library writes it in a CycloneDX 1.6 document."""
    # `as_json` is added by py-serializable's class decorator, which mypy cannot see.
    text: str = component.as_json(view_=SchemaVersion1Dot6)  # type: ignore[attr-defined]
    out: dict[str, Any] = json.loads(text)
    return out


def _data(name: str) -> dict[str, str]:
    return {"type": "dataset", "name": name}


def _document(subject: _Subject, *, timestamp: dt.datetime) -> str:
    doc: dict[str, Any] = json.loads(JsonV1Dot6(_bom(subject, timestamp)).output_as_string())
    parts = _parts(subject)
    doc["metadata"]["component"]["modelCard"] = _card(subject)
    if parts:
        doc["components"] = parts
        refs = [p["bom-ref"] for p in parts]
        doc["dependencies"] = [{"ref": MODEL_REF, "dependsOn": refs}, *({"ref": r} for r in refs)]
    # The library writes keys in its own order; the envelope first reads better and diffs the same.
    head = ("$schema", "bomFormat", "specVersion", "serialNumber", "version", "metadata")
    doc = {k: doc[k] for k in head if k in doc} | {k: v for k, v in doc.items() if k not in head}
    _check(_sample(doc))
    return json.dumps(doc, indent=2, ensure_ascii=False)


def _card(subject: _Subject) -> dict[str, Any]:
    """The model card (not in the library's model): what the files say, and the assessment's results."""
    card: dict[str, Any] = {"bom-ref": "model-card"}
    parameters = dict(subject.model_parameters)
    if subject.datasets:
        parameters["datasets"] = [{"ref": f"dataset-{i}"} for i in range(1, len(subject.datasets) + 1)]
    if parameters:
        card["modelParameters"] = parameters
    if subject.card_properties:
        card["properties"] = [{"name": n, "value": v} for n, v in subject.card_properties]
    return card


CHECKED_PARTS = 100
"""Components checked against the schema before writing (the validator's `uniqueItems` check is
quadratic: 2,000 components take 24 s). Every file component comes from the same code in `_parts`;
the values the schema constrains in it (the hash pattern, the type) are enforced there."""


def _sample(doc: dict[str, Any]) -> str:
    """The document with at most CHECKED_PARTS files and datasets each (the first), for `_check`."""
    parts = doc.get("components", [])
    files = [p for p in parts if p["type"] == "file"][:CHECKED_PARTS]
    data = [p for p in parts if p["type"] == "data"][:CHECKED_PARTS]
    if len(files) + len(data) == len(parts):
        return json.dumps(doc, ensure_ascii=False)
    kept = [*files, *data]
    refs = [p["bom-ref"] for p in kept]
    sample = doc | {"components": kept, "dependencies": [{"ref": MODEL_REF, "dependsOn": refs}]}
    sample["dependencies"] += [{"ref": r} for r in refs]
    card = sample["metadata"]["component"]["modelCard"]
    if "datasets" in card.get("modelParameters", {}):
        params = card["modelParameters"] | {"datasets": [{"ref": p["bom-ref"]} for p in data]}
        component = sample["metadata"]["component"] | {"modelCard": card | {"modelParameters": params}}
        sample["metadata"] = sample["metadata"] | {"component": component}
    return json.dumps(sample, ensure_ascii=False)


def _check(text: str) -> None:
    """Fail closed: a document the CycloneDX 1.6 schema rejects is a bug here, never written."""
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise ModelwardenError(
            f"the CycloneDX document does not validate against the CycloneDX 1.6 schema: {error}",
            next_step="report this as a bug; the JSON format carries the same facts meanwhile",
        )
