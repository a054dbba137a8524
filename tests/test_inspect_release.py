"""Release layouts: sentence-transformers (the real MiniLM snapshot), HF cache ids, diffusers, PEFT,
duplicate formats, model cards, licence files, remote code, manifests."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from modelwarden.errors import UsageError
from modelwarden.facts.gather import inspect_path
from modelwarden.model import Layout
from modelwarden.release import resolve
from tests.support.models import LLAMA2_7B, llama_tensors, write_config, write_sparse_safetensors

MINILM_PARAMS = 22_713_216  # BertModel with pooler: (30522+512+2)·384 + 2·384 + 6 layers + pooler


def test_minilm_snapshot(minilm_dir: Path) -> None:
    facts = inspect_path(minilm_dir)
    assert facts.layout is Layout.SENTENCE_TRANSFORMERS
    assert facts.name == "all-MiniLM-L6-v2"
    pc = facts.parameters
    assert (pc.total, pc.source, pc.config_total) == (MINILM_PARAMS, "tensors", MINILM_PARAMS)
    assert pc.non_parameter_elements == 512  # embeddings.position_ids, a buffer
    assert facts.architecture is not None and facts.architecture.value == "BertModel"
    assert facts.architecture.provenance.describe() == "config.json:architectures[0]"
    assert facts.context_length is not None and facts.context_length.value == 512
    assert facts.license is not None and facts.license.id == "apache-2.0"
    assert facts.license.provenance is not None and facts.license.provenance.field == "license"
    assert len(facts.datasets) == 21 and facts.datasets[0].value == "s2orc"
    assert facts.pipeline_tag is not None and facts.pipeline_tag.value == "sentence-similarity"
    assert facts.library_name is not None and facts.library_name.value == "sentence-transformers"
    assert facts.language == ["en"]
    assert (facts.modalities.input, facts.modalities.output) == (["text"], ["embedding"])
    assert (
        facts.tokenizer is not None
        and facts.tokenizer.vocab_size == 30522
        and not facts.tokenizer.chat_template
    )
    assert [(c.name, c.path, c.parameters) for c in facts.components] == [
        ("Transformer", None, MINILM_PARAMS),
        ("Pooling", "1_Pooling", None),
        ("Normalize", "2_Normalize", None),
    ]
    assert facts.card is not None and any("arxiv.org/abs/" in link for link in facts.card.links)
    assert not facts.problems and not facts.warnings


def _fake_cache(cache: Path, repo: str, source: Path, commit: str = "c0ffee" * 6 + "abcd") -> Path:
    """The layout huggingface_hub keeps: refs/main -> commit, snapshots/<commit>/<file> -> blob."""
    org, name = repo.split("/")
    root = cache / f"models--{org}--{name}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snap = root / "snapshots" / commit
    for f in source.rglob("*"):
        if f.is_file():
            blob = root / "blobs" / f"{abs(hash(f.relative_to(source))):x}"
            blob.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f, blob)
            target = snap / f.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(blob, target.parent), target)
    return snap


def test_hugging_face_cache_id_resolves_offline(
    minilm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    _fake_cache(tmp_path, "sentence-transformers/all-MiniLM-L6-v2", minilm_dir)
    facts = inspect_path("sentence-transformers/all-MiniLM-L6-v2")
    assert facts.root.startswith("hf://sentence-transformers/all-MiniLM-L6-v2@c0ffee")
    assert facts.revision is not None and facts.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert facts.parameters.total == MINILM_PARAMS
    with pytest.raises(UsageError, match="not found in the local Hugging Face cache"):
        resolve("nobody/not-cached")


def test_unknown_target() -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        resolve("/definitely/not/here.bin")


def _tiny(d: int = 8) -> dict[str, np.ndarray]:
    return {"proj.weight": np.zeros((d, d), dtype=np.float32), "proj.bias": np.zeros(d, dtype=np.float32)}


def test_diffusers_pipeline_components(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": "StableDiffusionPipeline",
                "_diffusers_version": "0.30.0",
                "unet": ["diffusers", "UNet2DConditionModel"],
                "vae": ["diffusers", "AutoencoderKL"],
                "text_encoder": ["transformers", "CLIPTextModel"],
                "scheduler": ["diffusers", "PNDMScheduler"],
                "safety_checker": [None, None],
            }
        )
    )
    for comp, d in (("unet", 16), ("vae", 8), ("text_encoder", 4)):
        (tmp_path / comp).mkdir()
        (tmp_path / comp / "config.json").write_text(json.dumps({"_class_name": comp}))
        name = "diffusion_pytorch_model" if comp != "text_encoder" else "model"
        save_file(_tiny(d), str(tmp_path / comp / f"{name}.safetensors"))
        save_file(
            {k: v.astype(np.float16) for k, v in _tiny(d).items()},
            str(tmp_path / comp / f"{name}.fp16.safetensors"),
        )
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "scheduler_config.json").write_text("{}")
    facts = inspect_path(tmp_path)
    assert facts.layout is Layout.DIFFUSERS
    params = {c.name: c.parameters for c in facts.components}
    assert params == {"unet": 16 * 17, "vae": 8 * 9, "text_encoder": 4 * 5, "scheduler": None}
    assert facts.parameters.total == 16 * 17 + 8 * 9 + 4 * 5  # fp16 variants are alternatives, not added
    assert {f.path: f.role for f in facts.files if "fp16" in f.path} == {
        f"{c}/{n}.fp16.safetensors": "alternative"
        for c, n in (
            ("unet", "diffusion_pytorch_model"),
            ("vae", "diffusion_pytorch_model"),
            ("text_encoder", "model"),
        )
    }
    assert facts.architecture is not None and facts.architecture.value == "StableDiffusionPipeline"
    assert (facts.modalities.input, facts.modalities.output) == (["text"], ["image"])
    assert facts.library_name is not None and facts.library_name.value == "diffusers"


def test_peft_adapter(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "base_model_name_or_path": "meta-llama/Llama-2-7b-hf",
                "r": 8,
                "target_modules": ["q_proj", "v_proj"],
                "task_type": "CAUSAL_LM",
            }
        )
    )
    tensors = {}
    for i in range(2):
        for proj in ("q_proj", "v_proj"):
            p = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            tensors[f"{p}.lora_A.weight"] = np.zeros((8, 64), dtype=np.float32)
            tensors[f"{p}.lora_B.weight"] = np.zeros((64, 8), dtype=np.float32)
    save_file(tensors, str(tmp_path / "adapter_model.safetensors"))
    facts = inspect_path(tmp_path)
    assert facts.layout is Layout.PEFT_ADAPTER
    assert facts.adapter is not None
    assert (facts.adapter.peft_type, facts.adapter.rank, facts.adapter.target_modules) == (
        "LORA",
        8,
        ["q_proj", "v_proj"],
    )
    assert facts.adapter.parameters == facts.parameters.total == 2 * 2 * 2 * 8 * 64
    assert facts.parameters.breakdown == {"adapter": 2 * 2 * 2 * 8 * 64}
    [base] = facts.base_model
    assert (base.name, base.relation, base.provenance.file) == (
        "meta-llama/Llama-2-7b-hf",
        "adapter",
        "adapter_config.json",
    )


def test_same_weights_in_two_formats_are_counted_once(tmp_path: Path) -> None:
    weights = _tiny(32)
    save_file(weights, str(tmp_path / "model.safetensors"))
    torch.save({k: torch.from_numpy(v) for k, v in weights.items()}, tmp_path / "pytorch_model.bin")
    facts = inspect_path(tmp_path)
    assert facts.layout is Layout.FOLDER
    assert facts.parameters.total == 32 * 33
    roles = {f.path: (f.role, f.parameters) for f in facts.files}
    assert roles == {"model.safetensors": ("primary", 32 * 33), "pytorch_model.bin": ("alternative", 32 * 33)}


CARD = """---
license: other
license_name: llama2
license_link: LICENSE
base_model:
- meta-llama/Llama-2-7b-hf
- mistralai/Mistral-7B-v0.1
base_model_relation: merge
datasets: [allenai/c4]
language: [en, de]
pipeline_tag: text-generation
tags: [merge, arxiv:2306.01708]
---

# Tiny merge

Merged with TIES (https://arxiv.org/abs/2306.01708). See https://example.org/docs.
"""

LLAMA2_LICENSE = """LLAMA 2 COMMUNITY LICENSE AGREEMENT
Llama 2 Version Release Date: July 18, 2023
...
2. Additional Commercial Terms. If, on the Llama 2 version release date, the monthly active users of the
products or services made available by or for Licensee, or Licensee's affiliates, is greater than
700 million monthly active users in the preceding calendar month, you must request a license from Meta.
"""


def test_card_lineage_licence_file_and_remote_code(tmp_path: Path) -> None:
    cfg = {
        **LLAMA2_7B,
        "num_hidden_layers": 1,
        "auto_map": {"AutoModelForCausalLM": "modeling_tiny.TinyForCausalLM"},
    }
    write_config(tmp_path, cfg)
    write_sparse_safetensors(tmp_path / "model.safetensors", llama_tensors(cfg))
    (tmp_path / "README.md").write_text(CARD)
    (tmp_path / "LICENSE").write_text(LLAMA2_LICENSE)
    (tmp_path / "USE_POLICY.md").write_text("# Llama 2 Acceptable Use Policy\n\nMeta is committed to ...\n")
    (tmp_path / "modeling_tiny.py").write_text("raise SystemExit('never run')\n")
    (tmp_path / "generation_config.json").write_text(json.dumps({"max_length": 4096, "temperature": 0.6}))
    facts = inspect_path(tmp_path)
    assert facts.name == "Tiny merge"
    assert facts.license is not None
    assert (facts.license.id, facts.license.name, facts.license.link) == ("other", "llama2", "LICENSE")
    assert [(lf.path, lf.kind, lf.identified_as) for lf in facts.license_files] == [
        ("LICENSE", "license", "llama2"),
        ("USE_POLICY.md", "use_policy", "llama2"),
    ]
    assert [(b.name, b.relation) for b in facts.base_model] == [
        ("meta-llama/Llama-2-7b-hf", "merge"),
        ("mistralai/Mistral-7B-v0.1", "merge"),
    ]
    assert [d.value for d in facts.datasets] == ["allenai/c4"] and facts.language == ["en", "de"]
    assert facts.card is not None
    assert (
        "https://arxiv.org/abs/2306.01708" in facts.card.links
        and "https://example.org/docs" in facts.card.links
    )
    assert facts.remote_code == [
        "modeling_tiny.py",
        "auto_map.AutoModelForCausalLM = modeling_tiny.TinyForCausalLM",
    ]
    assert any("trust_remote_code" in w for w in facts.warnings)
    assert facts.generation_config == {"max_length": 4096, "temperature": 0.6}
    assert (facts.modalities.input, facts.modalities.output) == (["text"], ["text"])
    assert not [w for w in facts.warnings if "declares licence" in w]  # card and LICENSE agree


def test_card_and_licence_text_disagree(tmp_path: Path) -> None:
    write_config(tmp_path, {**LLAMA2_7B, "num_hidden_layers": 1})
    (tmp_path / "README.md").write_text("---\nlicense: apache-2.0\n---\n# x\n")
    (tmp_path / "LICENSE").write_text(LLAMA2_LICENSE)
    facts = inspect_path(tmp_path)
    assert any(
        "declares licence 'apache-2.0' but LICENSE is the text of 'llama2'" in w for w in facts.warnings
    )


def test_licence_from_the_text_when_the_card_is_silent(tmp_path: Path) -> None:
    write_config(tmp_path, {**LLAMA2_7B, "num_hidden_layers": 1})
    (tmp_path / "LICENSE").write_text(LLAMA2_LICENSE)
    facts = inspect_path(tmp_path)
    assert facts.license is not None and facts.license.id == "llama2"
    assert facts.license.provenance is not None and facts.license.provenance.file == "LICENSE"


def test_invalid_card_front_matter_is_reported_and_read_leniently(tmp_path: Path) -> None:
    write_config(tmp_path, {**LLAMA2_7B, "num_hidden_layers": 1})
    (tmp_path / "README.md").write_text("---\nlicense: [unclosed\n---\n# x\n")
    facts = inspect_path(tmp_path)
    assert [p.code for p in facts.problems] == ["invalid_card_metadata"]


def test_manifest_only_release(tmp_path: Path) -> None:
    (tmp_path / "modelwarden.yaml").write_text(
        "model:\n  name: Planned-70B\n  parameters: 7.06e10\n  context_length: 8192\n"
        "  modalities: {input: [text], output: [text]}\n"
    )
    facts = inspect_path(tmp_path)
    assert facts.layout is Layout.MANIFEST_ONLY
    assert (facts.parameters.total, facts.parameters.source) == (70_600_000_000, "manifest")
    assert facts.name == "Planned-70B"
    assert facts.context_length is not None and facts.context_length.provenance.source.value == "manifest"


def test_symlinked_snapshot_files_are_followed(tmp_path: Path, minilm_dir: Path) -> None:
    target = tmp_path / "snap"
    target.mkdir()
    for name in ("config.json", "model.safetensors"):
        os.symlink(minilm_dir / name, target / name)
    shutil.copy(minilm_dir / "README.md", target / "README.md")
    facts = inspect_path(target)
    assert facts.layout is Layout.HF_SNAPSHOT and facts.parameters.total == MINILM_PARAMS


def test_sentence_transformers_dense_module_adds_its_parameters(tmp_path: Path, minilm_dir: Path) -> None:
    for f in minilm_dir.rglob("*"):
        if f.is_file() and f.name != "modules.json":
            target = tmp_path / f.relative_to(minilm_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f, target)
    modules = json.loads((minilm_dir / "modules.json").read_text())
    modules.insert(
        2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    )
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "2_Dense").mkdir()
    (tmp_path / "2_Dense" / "config.json").write_text(json.dumps({"in_features": 384, "out_features": 256}))
    save_file(
        {
            "linear.weight": np.zeros((256, 384), dtype=np.float32),
            "linear.bias": np.zeros(256, dtype=np.float32),
        },
        str(tmp_path / "2_Dense" / "model.safetensors"),
    )
    facts = inspect_path(tmp_path)
    dense = 256 * 384 + 256
    assert facts.parameters.total == MINILM_PARAMS + dense
    assert facts.parameters.breakdown == {"Transformer": MINILM_PARAMS, "Dense": dense}
    assert {f.path: f.component for f in facts.files if f.role} == {
        "model.safetensors": "Transformer",
        "2_Dense/model.safetensors": "Dense",
    }


@pytest.mark.parametrize(
    ("text", "note"),
    [
        # JSON has no infinity; Python's parser accepts it, and int(inf) used to raise.
        ('{"model_type": "llama", "hidden_size": Infinity}', "hidden_size = inf is not a non-negative"),
        ('{"model_type": "llama", "hidden_size": 1' + "0" * 40 + "}", "implausibly large for a size field"),
    ],
)
def test_impossible_config_sizes_are_noted_not_raised(tmp_path: Path, text: str, note: str) -> None:
    (tmp_path / "config.json").write_text(text)
    facts = inspect_path(tmp_path)
    assert any(note in n for n in facts.parameters.notes), facts.parameters.notes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"vocab_size": 1' + "0" * 5_000 + "}", "integer string conversion"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
    ],
)
def test_config_json_beyond_the_parser_limits_is_a_problem(tmp_path: Path, text: str, message: str) -> None:
    write_config(tmp_path, LLAMA2_7B)
    (tmp_path / "config.json").write_text(text)
    facts = inspect_path(tmp_path)
    problems = [p for p in facts.problems if p.file == "config.json"]
    assert [p.code for p in problems] == ["invalid_json"] and message in problems[0].message
