"""One shape for a release's facts: `inspect --format json` and the `facts` of `assess --format json`
are the same document (report/json.py `facts_dict`), and `registry import` reads it back, as it
still reads the documents `registry show`/`export` write (whose `facts` are the record's own fields)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelwarden.facts.gather import inspect_path
from modelwarden.model import Assessment, ModelFacts
from modelwarden.registry import Registry
from modelwarden.report.json import assessment_dict, facts_dict, facts_from_dict
from tests.golden.conftest import run
from tests.golden.inputs import AS_OF, FIXED_CREATED_AT


def _shape(value: Any) -> Any:
    """The keys of every object, recursively (list items merged): what a script can rely on."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            shape = _shape(item)
            if isinstance(shape, dict):
                merged |= shape
        return [merged] if merged else []
    return None


def test_inspect_json_is_the_facts_of_assess_json(workspace: Path) -> None:
    inspected = json.loads(run(workspace, "inspect", "tiny-llama", "--format", "json").stdout)
    assessed = json.loads(run(workspace, "assess", "tiny-llama", "--as-of", AS_OF, "--format", "json").stdout)
    facts = assessed["facts"]
    assert facts["schema"] == inspected["schema"] == "modelwarden.inspect/1"
    assert _shape(facts) == _shape(inspected)
    # The same values too, but for the tensor lists an assessment does not keep (their count).
    for f in inspected["files"]:
        f["tensors"] = 0
    assert facts == inspected


@pytest.mark.parametrize("tensors", [True, False])
def test_facts_document_reads_back_to_the_same_record(
    minilm_dir: Path, workspace: Path, tensors: bool
) -> None:
    for root in (minilm_dir, workspace / "tiny-llama", workspace / "scan-samples"):
        facts = inspect_path(str(root))
        if not tensors:  # what an assessment keeps
            facts = facts.model_copy(
                update={"files": [f.model_copy(update={"tensors": []}) for f in facts.files]}
            )
        back = ModelFacts.model_validate(facts_from_dict(facts_dict(facts, tensors=tensors)))
        assert back == facts, root


def test_a_release_with_problems_keeps_them_per_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}')
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    facts = inspect_path(str(tmp_path))
    assert any(f.problems for f in facts.files)
    back = ModelFacts.model_validate(facts_from_dict(facts_dict(facts)))
    assert back == facts


def test_registry_imports_old_and_new_assessment_documents_as_the_same_record(workspace: Path) -> None:
    done = run(workspace, "assess", "tiny-llama", "--as-of", AS_OF, "--format", "json")
    a = Assessment.model_validate(
        {**json.loads(done.stdout), "facts": None, "created_at": FIXED_CREATED_AT}
    )  # the assessment record, for the old document below
    full = inspect_path(str(workspace / "tiny-llama"))
    a = a.model_copy(
        update={
            "facts": full.model_copy(
                update={"files": [f.model_copy(update={"tensors": []}) for f in full.files]}
            )
        }
    )
    old = workspace / "old-shape.json"
    new = workspace / "new-shape.json"
    old.write_text(a.model_dump_json(by_alias=True, indent=2))  # what assess wrote before
    new.write_text(json.dumps(assessment_dict(a), indent=2))
    assert json.loads(old.read_text())["facts"]["architecture"]["value"] == "LlamaForCausalLM"
    assert json.loads(new.read_text())["facts"]["architecture"] == "LlamaForCausalLM"
    db = f"sqlite:///{workspace / 'shapes.sqlite3'}"
    for doc in (old, new):
        imported = run(workspace, "registry", "import", str(doc), "--db", db)
        assert imported.returncode == 0, imported.stderr
    with Registry(db) as reg:
        first, second = reg.stored(1), reg.stored(2)
    assert first.assessment == second.assessment == a
    assert first.digest == second.digest
    shown = run(workspace, "registry", "show", "1", "--db", db, "--format", "json")
    assert json.loads(shown.stdout) == json.loads(old.read_text())  # the record as stored
