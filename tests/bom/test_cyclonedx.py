"""`--format cyclonedx` (issue 20): a CycloneDX 1.6 ML-BOM that validates against the schema the
library ships (offline) and carries the facts of the JSON output — every parameter figure, file hash,
licence and dataset — and nothing the files do not show."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.spdx import fixup_id
from cyclonedx.validation.json import JsonStrictValidator

from modelwarden.assess.run import build_assessment, gather
from modelwarden.errors import ModelwardenError
from modelwarden.facts.gather import inspect_path
from modelwarden.report import cyclonedx
from modelwarden.report.base import SUPPORTED, OutputFormat, renderer
from modelwarden.report.json import assessment_dict, facts_dict
from tests.golden.inputs import CARD, MANIFEST, TINY_CONFIG
from tests.support.cli import run_cli
from tests.support.models import (
    MIXTRAL_8X7B,
    llama_tensors,
    write_config,
    write_sharded,
    write_sparse_safetensors,
)

AS_OF = dt.date(2026, 11, 22)
VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)


def _valid(text: str) -> dict[str, Any]:
    """The document, after the CycloneDX 1.6 schema has accepted it."""
    error = VALIDATOR.validate_str(text)
    assert error is None, str(error)
    doc: dict[str, Any] = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    # `format: date-time` is checked only with jsonschema's optional checkers, not installed here
    assert dt.datetime.fromisoformat(doc["metadata"]["timestamp"]).tzinfo is not None
    return doc


def _tiny(root: Path, card: str = CARD, config: dict[str, Any] | None = None) -> Path:
    model = root / "tiny-llama"
    cfg = config or TINY_CONFIG
    write_config(model, cfg)
    write_sparse_safetensors(model / "model.safetensors", llama_tensors(TINY_CONFIG), {"format": "pt"})
    (model / "README.md").write_text(card, encoding="utf-8")
    return model


def _props(item: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["name"], p.get("value", "")) for p in item.get("properties", [])]


def _model(doc: dict[str, Any]) -> dict[str, Any]:
    model: dict[str, Any] = doc["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    return model


def _licences(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["license"] for entry in _model(doc).get("licenses", [])]


def _files(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc.get("components", []) if c["type"] == "file"]


def _datasets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc.get("components", []) if c["type"] == "data"]


def _bom_hashes(doc: dict[str, Any]) -> dict[str, str]:
    out = {}
    for f in _files(doc):
        for h in f.get("hashes", []):
            assert h["alg"] == "SHA-256"
            out[f["name"]] = h["content"]
    return out


def _check_same_facts(bom: dict[str, Any], facts: dict[str, Any]) -> None:
    """Every parameter figure, file hash, licence and dataset of the JSON facts is in the BOM, and the
    BOM has none the JSON does not."""
    model_props = dict(_props(_model(bom)))
    pc = facts["parameters"]
    for key in ("total", "active"):
        if pc[key] is None:
            assert f"modelwarden:parameters:{key}" not in model_props
        else:
            assert model_props[f"modelwarden:parameters:{key}"] == str(pc[key])
    # files: same paths, same hashes, same per-file parameter figures; no hash the JSON lacks
    json_files = {f["path"]: f for f in facts["files"]}
    assert {f["name"] for f in _files(bom)} == set(json_files)
    assert _bom_hashes(bom) == {p: f["sha256"] for p, f in json_files.items() if f["sha256"]}
    for f in _files(bom):
        props = dict(_props(f))
        expected = json_files[f["name"]]["parameters"]
        assert props.get("modelwarden:file:parameters") == (None if expected is None else str(expected))
        assert props.get("modelwarden:file:size") == str(json_files[f["name"]]["size"])
        if not json_files[f["name"]]["sha256"]:
            assert props["modelwarden:sha256"] == "not computed" and "hashes" not in f
    # datasets: exactly the JSON's, each referenced from the model card
    refs = [d["ref"] for d in _model(bom)["modelCard"].get("modelParameters", {}).get("datasets", [])]
    by_ref = {d["bom-ref"]: d for d in _datasets(bom)}
    assert sorted(refs) == sorted(by_ref)
    assert [by_ref[r]["name"] for r in refs] == facts["datasets"]
    for d in _datasets(bom):
        assert d["data"] == [{"type": "dataset", "name": d["name"]}]
    # licences: the declared one and every identified licence file; no other
    wanted = []
    if facts["license"] is not None:
        wanted.append(facts["license"]["id"] or facts["license"]["name"])
    wanted += [lf["identified_as"] for lf in facts["license_files"] if lf["identified_as"]]
    got = _licences(bom)
    assert len(got) == len(wanted)
    for lic, text in zip(sorted(got, key=lambda x: x["acknowledgement"], reverse=True), wanted, strict=True):
        spdx = fixup_id(text)
        if spdx is not None:
            assert lic["id"] == spdx and "name" not in lic
        else:
            assert "id" not in lic and text in (lic["name"], dict(_props(lic)).get("modelwarden:licence:id"))


def test_inspect_bom_validates_and_carries_the_facts_of_the_json(tmp_path: Path) -> None:
    model = _tiny(tmp_path)
    (model / "LICENSE").write_text("GNU GENERAL PUBLIC LICENSE\n Version 3, 29 June 2007\n", encoding="utf-8")
    facts = inspect_path(model, hash_files=True)
    bom = _valid(cyclonedx.facts_cyclonedx(facts))
    doc = facts_dict(facts)
    assert len(_bom_hashes(bom)) == len(doc["files"]) == 4  # README, config, weights, LICENSE
    _check_same_facts(bom, doc)
    card = _model(bom)["modelCard"]["modelParameters"]
    assert card["modelArchitecture"] == "LlamaForCausalLM"
    assert card["architectureFamily"] == "llama"
    assert card["task"] == "text-generation"
    assert "approach" not in card  # the files do not say how it was trained: nothing is guessed
    # the card's licence is declared with where it was read; the LICENSE text's is concluded
    by_ack = {lic["acknowledgement"]: lic for lic in _licences(bom)}
    assert by_ack["declared"]["id"] == "Apache-2.0"
    assert ("modelwarden:provenance:file", "README.md") in _props(by_ack["declared"])
    assert by_ack["concluded"]["id"] == fixup_id("gpl-3.0")
    assert ("modelwarden:provenance:file", "LICENSE") in _props(by_ack["concluded"])
    tools = bom["metadata"]["tools"]["components"]
    assert [(t["name"], t["version"]) for t in tools] == [("modelwarden", cyclonedx.__version__)]
    assert bom["serialNumber"].startswith("urn:uuid:")


def test_without_hash_no_digest_is_claimed(tmp_path: Path) -> None:
    facts = inspect_path(_tiny(tmp_path))
    bom = _valid(cyclonedx.facts_cyclonedx(facts))
    assert _bom_hashes(bom) == {}
    assert all(("modelwarden:sha256", "not computed") in _props(f) for f in _files(bom))
    assert ("modelwarden:hashes", "not computed") in _props(_model(bom))
    _check_same_facts(bom, facts_dict(facts))


def test_active_parameters_of_a_mixture_of_experts_are_exact(tmp_path: Path) -> None:
    write_config(tmp_path, MIXTRAL_8X7B)
    write_sharded(tmp_path, llama_tensors(MIXTRAL_8X7B), 2)
    facts = inspect_path(tmp_path)
    bom = _valid(cyclonedx.facts_cyclonedx(facts))
    props = dict(_props(_model(bom)))
    assert props["modelwarden:parameters:active"] == "12879925248"
    assert props["modelwarden:parameters:active_convention"] == "input embedding included"
    _check_same_facts(bom, facts_dict(facts))


def test_assessment_bom_carries_the_assessment(tmp_path: Path) -> None:
    model = _tiny(tmp_path)
    (model / "modelwarden.yaml").write_text(MANIFEST, encoding="utf-8")
    a = build_assessment(gather(str(model), None), as_of=AS_OF)
    bom = _valid(cyclonedx.assessment_cyclonedx(a))
    doc = assessment_dict(a)
    _check_same_facts_of_assessment(bom, doc)
    # the timestamp is when the assessment was made; the law's date is a property
    assert dt.datetime.fromisoformat(bom["metadata"]["timestamp"]) == a.created_at
    card = dict(_props(_model(bom)["modelCard"]))
    assert card["modelwarden:assessment:as_of"] == "2026-11-22"
    assert card["modelwarden:scan:status"] == "scanned" and card["modelwarden:scan:verdict"] == "pass"
    assert card["modelwarden:openness:osaid"] == ("pass" if doc["openness"]["osaid"]["pass"] else "fail")
    assert card["modelwarden:openness:mof_class"] == str(doc["openness"]["mof"]["class"] or "none")
    band = doc["compute"]["training_flop"]
    assert [float(card[f"modelwarden:compute:training_flop:{k}"]) for k in ("low", "central", "high")] == [
        band["low"],
        band["central"],
        band["high"],
    ]
    obligations = [v for n, v in _props(_model(bom)["modelCard"]) if n.endswith(":obligation")]
    assert [o.split(":")[0] for o in obligations] == [
        ob["id"] for r in doc["regimes"].values() for ob in r["obligations"]
    ]


def _check_same_facts_of_assessment(bom: dict[str, Any], doc: dict[str, Any]) -> None:
    facts = doc["facts"]
    # The openness licence (here from the manifest) is a second declared licence with its provenance.
    declared = [lic for lic in _licences(bom) if ("modelwarden:provenance:source", "manifest") in _props(lic)]
    assert [lic["id"] for lic in declared] == [fixup_id(doc["openness"]["licence"]["id"])]
    rest = {**bom, "metadata": {**bom["metadata"], "component": {**_model(bom)}}}
    rest["metadata"]["component"]["licenses"] = [
        {"license": lic} for lic in _licences(bom) if lic not in declared
    ]
    _check_same_facts(rest, facts | {"parameters": doc["parameters"]})


def test_an_unscanned_assessment_says_so(tmp_path: Path) -> None:
    a = build_assessment(gather(str(_tiny(tmp_path)), None), as_of=AS_OF, scan=False)
    card = dict(_props(_model(_valid(cyclonedx.assessment_cyclonedx(a)))["modelCard"]))
    assert card["modelwarden:scan:status"] == "not scanned"
    assert "modelwarden:scan:verdict" not in card


def test_a_manifest_only_assessment_lists_no_file(tmp_path: Path) -> None:
    plan = Path(__file__).resolve().parents[2] / "examples" / "planned-405b" / "modelwarden.yaml"
    a = build_assessment(gather(None, plan), as_of=AS_OF)
    bom = _valid(cyclonedx.assessment_cyclonedx(a))
    assert _files(bom) == [] and _datasets(bom) == []
    props = dict(_props(_model(bom)))
    assert props["modelwarden:parameters:total"] == str(assessment_dict(a)["parameters"]["total"])
    assert "modelwarden:hashes" not in props


HOSTILE = "\x00\x07\x1b[31m<script>alert('x')</script>&amp;\"quoted\"\\ ]]> \u202e"


def test_hostile_card_and_config_give_a_valid_bom_that_claims_nothing_more(tmp_path: Path) -> None:
    card = (
        "---\n"
        f"license: {json.dumps('MIT-Proprietary-Plus')}\n"
        f"license_name: {json.dumps(HOSTILE + 'x' * 50_000)}\n"
        'license_link: "javascript:alert(document.cookie)"\n'
        f"datasets: [{json.dumps('javascript:alert(1)')}, {json.dumps(HOSTILE)}, "
        f"{json.dumps('y' * 100_000)}]\n"
        f"pipeline_tag: {json.dumps(HOSTILE)}\n"
        "---\n# hostile\n"
    )
    config = {**TINY_CONFIG, "architectures": [HOSTILE], "model_type": '</model_type>"}{'}
    facts = inspect_path(_tiny(tmp_path, card, config))
    text = cyclonedx.facts_cyclonedx(facts)
    bom = _valid(text)
    _check_same_facts(bom, facts_dict(facts))
    (lic,) = _licences(bom)
    assert "id" not in lic  # a look-alike is not an SPDX id
    assert "url" not in lic  # javascript: is not a licence URL
    assert lic["name"] == HOSTILE + "x" * 50_000  # kept exactly, escaped by the JSON encoding
    assert dict(_props(lic))["modelwarden:licence:id"] == "mit-proprietary-plus"
    assert "javascript:alert(document.cookie)" not in text
    assert sorted(d["name"] for d in _datasets(bom)) == sorted(
        ["javascript:alert(1)", HOSTILE, "y" * 100_000]
    )
    assert not any("externalReferences" in c for c in [_model(bom), *bom["components"]])
    assert _model(bom)["modelCard"]["modelParameters"]["modelArchitecture"] == HOSTILE
    assert "\x00" not in text and "\x1b" not in text  # control characters are escaped, never raw


@pytest.mark.parametrize(
    ("declared", "expected_id"),
    [
        ("apache-2.0", "Apache-2.0"),
        ("MIT", "MIT"),
        ("mit OR gpl-3.0", None),
        ("other", None),
        ("llama3.1", None),
    ],
)
def test_only_an_spdx_id_is_written_as_one(tmp_path: Path, declared: str, expected_id: str | None) -> None:
    card = f"---\nlicense: {json.dumps(declared)}\n---\n"
    facts = inspect_path(_tiny(tmp_path, card))
    (lic,) = _licences(_valid(cyclonedx.facts_cyclonedx(facts)))
    assert lic.get("id") == expected_id
    if expected_id is None:
        assert lic["name"] == declared.lower()


def test_a_document_the_schema_rejects_is_never_written() -> None:
    bad = json.dumps(
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "x", "name": "y"}]}
    )
    with pytest.raises(ModelwardenError, match=r"CycloneDX 1\.6 schema"):
        cyclonedx._check(bad)


def test_the_format_is_registered_for_inspect_and_assess_only() -> None:
    offered = {command for command, formats in SUPPORTED.items() if OutputFormat.CYCLONEDX in formats}
    assert offered == {"inspect", "assess"}
    for kind in ("facts", "assessment"):
        r = renderer(kind, "cyclonedx")
        assert r.media_type == "application/vnd.cyclonedx+json" and r.extension == "json"


def test_cli_writes_the_bom_and_scan_never_loads_the_library(tmp_path: Path) -> None:
    model = _tiny(tmp_path)
    out = tmp_path / "bom.cdx.json"
    done = run_cli("inspect", model, "--format", "cyclonedx", "--hash", "-o", out)
    assert done.returncode == 0, done.stderr
    assert len(_bom_hashes(_valid(out.read_text(encoding="utf-8")))) == 3
    # `scan` (its fast path and its JSON) must start without the BOM library (report/base.py)
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        f"sys.argv = ['modelwarden', 'scan', '--format', 'json', {str(model)!r}]\n"
        "from modelwarden.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "loaded = [m for m in sys.modules if m.startswith(('cyclonedx', 'modelwarden.report.cyclonedx'))]\n"
        "print(json.dumps(sorted(loaded)), file=sys.stderr)\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert json.loads(ran.stderr.strip().splitlines()[-1]) == []


def test_a_release_of_more_files_than_are_sampled_keeps_every_file(tmp_path: Path) -> None:
    many = cyclonedx.CHECKED_PARTS + 50
    names = [f"org/set-{i}" for i in range(many)]
    facts = inspect_path(_tiny(tmp_path, f"---\ndatasets: {json.dumps(names)}\n---\n"), hash_files=True)
    weights = next(f for f in facts.files if f.path == "model.safetensors")
    shards = [weights.model_copy(update={"path": f"shard-{i:04d}.safetensors"}) for i in range(many)]
    big = facts.model_copy(update={"files": shards})
    bom = _valid(cyclonedx.facts_cyclonedx(big))  # the whole document, not the renderer's sample
    assert [f["name"] for f in _files(bom)] == [s.path for s in shards]  # in release order
    assert set(_bom_hashes(bom).values()) == {weights.sha256}
    files = [f"file-{i}" for i in range(1, many + 1)]
    sets = [f"dataset-{i}" for i in range(1, many + 1)]
    assert bom["dependencies"][0] == {"ref": "model", "dependsOn": [*files, *sets]}
    assert [d["name"] for d in _datasets(bom)] == names


def _all_property_names(bom: dict[str, Any]) -> set[str]:
    model = _model(bom)
    items = [model, model["modelCard"], *bom.get("components", []), *_licences(bom)]
    return {p["name"] for item in items for p in item.get("properties", [])}


def test_every_property_written_is_documented(tmp_path: Path) -> None:
    model = _tiny(tmp_path)
    (model / "LICENSE").write_text("GNU GENERAL PUBLIC LICENSE\n Version 3, 29 June 2007\n", encoding="utf-8")
    (model / "modelwarden.yaml").write_text(MANIFEST, encoding="utf-8")
    plan = Path(__file__).resolve().parents[2] / "examples" / "planned-405b" / "modelwarden.yaml"
    names: set[str] = set()
    for a in (
        build_assessment(gather(str(model), None), as_of=AS_OF),
        build_assessment(gather(str(model), None), as_of=AS_OF, scan=False),
        build_assessment(gather(None, plan), as_of=AS_OF),
    ):
        names |= _all_property_names(_valid(cyclonedx.assessment_cyclonedx(a)))
    names |= _all_property_names(_valid(cyclonedx.facts_cyclonedx(inspect_path(model))))
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cyclonedx.md").read_text(encoding="utf-8")
    generic = {
        re.sub(r"^(modelwarden:regime:)[^:]+(:.+)$", r"\1<id>\2", re.sub(r"(:threshold:).+$", r"\1<line>", n))
        for n in names
    }
    assert len(generic) > 30
    assert sorted(n for n in generic if f"`{n}`" not in doc) == []


def test_an_adapter_names_its_base_and_keeps_both_counts(tmp_path: Path) -> None:
    cfg = {"peft_type": "LORA", "base_model_name_or_path": "meta-llama/Llama-2-7b-hf", "r": 8}
    (tmp_path / "adapter_config.json").write_text(json.dumps({**cfg, "target_modules": ["q_proj"]}))
    tensors = {
        f"base_model.model.model.layers.{i}.self_attn.q_proj.lora_{ab}.weight": ("F32", shape)
        for i in range(2)
        for ab, shape in (("A", (8, 64)), ("B", (64, 8)))
    }
    write_sparse_safetensors(tmp_path / "adapter_model.safetensors", tensors)
    a = build_assessment(gather(str(tmp_path), None), as_of=AS_OF, scan=False)
    bom = _valid(cyclonedx.assessment_cyclonedx(a))
    doc = assessment_dict(a)
    props = _props(_model(bom))
    assert ("modelwarden:base_model", "meta-llama/Llama-2-7b-hf (adapter)") in props
    assert ("modelwarden:layout", "peft_adapter") in props
    own, used = doc["facts"]["parameters"]["total"], (doc["parameters"] or {}).get("total")
    assert own == 2 * 2 * 8 * 64
    figures = {n: v for n, v in props if n.startswith("modelwarden:parameters:") and n.endswith("total")}
    # the assessment's count (the model's: unknown here without a manifest) and the adapter's own
    expected = {"modelwarden:parameters:files:total": str(own)} if used != own else {}
    if used is not None:
        expected["modelwarden:parameters:total"] = str(used)
    assert figures == expected
