"""Realistic release folders built here (tiny real safetensors weights), classified end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from modelwarden.errors import ManifestError
from modelwarden.facts.gather import inspect_path
from modelwarden.manifest import load_manifest
from modelwarden.model import MofComponentStatus, YesNoReview
from modelwarden.openness import assess_openness

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "vocab_size": 16}


def release(tmp_path: Path, name: str, card: str, files: dict[str, str] | None = None) -> Path:
    root = tmp_path / name
    root.mkdir()
    save_file({"model.embed_tokens.weight": np.zeros((16, 8), np.float32)}, str(root / "model.safetensors"))
    (root / "config.json").write_text(json.dumps(CONFIG))
    (root / "README.md").write_text(card)
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def classify(root: Path, manifest: Path | None = None):  # type: ignore[no-untyped-def]
    return assess_openness(inspect_path(root), load_manifest(manifest) if manifest else None)


def test_llama_like_custom_licence_fails_every_open_framework(tmp_path: Path) -> None:
    root = release(
        tmp_path,
        "llama-like",
        "---\nlicense: llama3.1\n---\n# Llama-like\n",
        {"USE_POLICY.md": "Meta Llama 3.1 Acceptable Use Policy\nProhibited uses ...\n"},
    )
    r = classify(root)
    assert r.licence.id == "llama3.1" and r.licence.kind == "restricted"
    assert any("700,000,000 monthly active users" in x for x in r.licence.restrictions)
    assert r.components["model_parameters_final"].open is False
    assert r.osaid.pass_ is False and r.osaid.failing[0].startswith("use for any purpose")
    assert r.eu_foss_licence.verdict is YesNoReview.NO
    assert r.mof.class_ is None
    assert r.release_level == "downloadable"


def test_non_commercial_weights_do_not_qualify_for_the_eu_exemption(tmp_path: Path) -> None:
    r = classify(release(tmp_path, "nc", "---\nlicense: cc-by-nc-4.0\n---\n# NC\n"))
    assert r.licence.kind == "non_commercial"
    assert r.eu_foss_licence.verdict is YesNoReview.NO
    assert "non-commercial use only" in r.eu_foss_licence.reasons[0]


def test_apache_weights_only_release_meets_art_53_2_but_not_osaid(tmp_path: Path) -> None:
    r = classify(release(tmp_path, "apache", "---\nlicense: apache-2.0\n---\n# Weights only\n"))
    assert r.eu_foss_licence.verdict is YesNoReview.YES
    assert r.osaid.pass_ is False
    assert any("training code" in f for f in r.osaid.failing)
    assert r.mof.class_ is None and r.mof.progress["3"] < 100


def test_licence_text_alone_is_identified_when_the_card_is_silent(tmp_path: Path) -> None:
    mit = (
        "MIT License\n\nCopyright (c) 2024 X\n\nPermission is hereby granted, free of charge, to any "
        'person obtaining a copy of this software and associated documentation files (the "Software"), '
        "to deal in the Software without restriction, including without limitation the rights to use, "
        "copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to "
        "permit persons to whom the Software is furnished to do so, subject to the following conditions:"
        "\n\nThe above copyright notice and this permission notice shall be included in all copies or "
        'substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY.\n'
    )
    r = classify(release(tmp_path, "mit", "# no front matter\n", {"LICENSE": mit}))
    assert r.licence.id == "mit"
    assert r.licence.provenance is not None and r.licence.provenance.file == "LICENSE"


def test_unknown_licence_is_reported_not_guessed(tmp_path: Path) -> None:
    r = classify(release(tmp_path, "odd", "---\nlicense: other\nlicense_name: acme-model-licence\n---\n"))
    assert r.licence.kind == "unknown" and r.licence.text == "acme-model-licence"
    assert r.eu_foss_licence.verdict is YesNoReview.NEEDS_REVIEW
    assert r.components["model_parameters_final"].open is None


OLMO_MANIFEST = """
release:
  license: apache-2.0
  weights: public
training:
  hardware: {accelerator: A100-40GB, count: 256, hours: 400}
components:
  training_code: {location: "https://github.com/allenai/OLMo", license: apache-2.0}
  inference_code: {location: "https://github.com/allenai/OLMo", license: apache-2.0}
  evaluation_code: {location: "https://github.com/allenai/OLMo-Eval", license: apache-2.0}
  evaluation_data: {location: "https://github.com/allenai/OLMo-Eval", license: apache-2.0}
  evaluation_results: {location: "README.md", license: apache-2.0}
  data_preprocessing_code: {location: "https://github.com/allenai/dolma", license: apache-2.0}
  datasets: {location: "https://huggingface.co/datasets/allenai/dolma", license: odc-by}
  data_card: {location: "https://huggingface.co/datasets/allenai/dolma", license: odc-by}
  technical_report: {location: "https://arxiv.org/abs/2402.00838", license: cc-by-4.0}
  research_paper:
    {location: "https://arxiv.org/abs/2402.00838", license: cc-by-4.0, note: peer-reviewed at ACL 2024}
  model_parameters_intermediate: {location: "revisions step1000..step557000", license: apache-2.0}
  supporting_libraries: {location: "https://github.com/allenai/OLMo", license: apache-2.0}
"""


def test_olmo_like_full_release_is_open_science_and_passes_osaid(tmp_path: Path) -> None:
    root = release(
        tmp_path,
        "olmo-like",
        "---\nlicense: apache-2.0\ndatasets: [allenai/dolma]\n---\n# OLMo-like\n",
        {"modeling_olmo.py": "# model code\n"},
    )
    manifest = root / "modelwarden.yaml"
    manifest.write_text(OLMO_MANIFEST)
    r = classify(root, manifest)
    assert r.mof.class_ == 1, r.mof.reasons
    assert r.osaid.pass_, r.osaid.failing
    assert r.eu_foss_licence.verdict is YesNoReview.YES
    assert r.release_level == "fully_open"
    assert r.eosai.scores["paper"] == 1.0 and r.eosai.scores["hardware_architecture"] == 1.0
    assert r.components["training_code"].evidence[-1].provenance.source.value == "manifest"


def test_gated_weights_need_review_and_api_only_is_not_open(tmp_path: Path) -> None:
    root = release(tmp_path, "gated", "---\nlicense: apache-2.0\n---\n")
    gated = tmp_path / "gated.yaml"
    gated.write_text("release: {weights: gated}\n")
    assert classify(root, gated).eu_foss_licence.verdict is YesNoReview.NEEDS_REVIEW
    api = tmp_path / "api.yaml"
    api.write_text("release: {weights: api_only, level: api}\n")
    r = classify(root, api)
    assert r.eu_foss_licence.verdict is YesNoReview.NO
    assert r.release_level == "api"


def test_real_minilm_snapshot(minilm_dir: Path) -> None:
    r = assess_openness(inspect_path(minilm_dir), None)
    assert r.licence.id == "apache-2.0"
    assert r.components["model_parameters_final"].present and r.components["model_card"].present
    # docs/reference/openness.md §8.3: arXiv links count as the paper (under arXiv's licence), flagged as
    # possibly related work because the card tags none as its own (MiniLM's links cite its datasets' papers).
    paper = r.components["research_paper"]
    assert paper.licence == "arxiv-nonexclusive"
    assert "may be related work" in paper.evidence[0].description
    assert r.eu_foss_licence.verdict is YesNoReview.YES
    assert r.osaid.pass_ is False
    assert r.release_level == "downloadable"


def test_cli_json_contract_and_bad_manifest(tmp_path: Path) -> None:
    root = release(tmp_path, "cli", "---\nlicense: mit\n---\n")
    cmd = [sys.executable, "-m", "modelwarden", "openness", str(root), "--format", "json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    doc = json.loads(done.stdout)
    assert set(doc) >= {"components", "mof", "osaid", "eu_foss_licence", "eosai", "release_level"}
    assert set(doc["mof"]) >= {"class", "progress", "mode"} and set(doc["osaid"]) >= {"pass", "failing"}
    assert doc["eu_foss_licence"]["verdict"] == "yes"
    (root / "modelwarden.yaml").write_text("components:\n  training_kode: {}\n")
    bad = subprocess.run(cmd[:-2], capture_output=True, text=True)
    assert bad.returncode == 2 and "training_kode" in bad.stderr and "Traceback" not in bad.stderr
    with pytest.raises(ManifestError):
        load_manifest(root / "modelwarden.yaml")


def test_text_output_prints_hostile_card_text_literally(tmp_path: Path) -> None:
    root = release(
        tmp_path,
        "markup",
        "---\nlicense: other\nlicense_name: '[bold red]x[/bold red] [link=http://e]'\n---\n",
    )
    done = subprocess.run(
        [sys.executable, "-m", "modelwarden", "openness", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "[bold red]x[/bold red] [link=http://e]" in done.stdout


def test_weights_declared_public_count_even_before_files_exist() -> None:
    from modelwarden.manifest import parse_manifest

    decl = parse_manifest(
        {
            "release": {"license": "apache-2.0", "weights": "public"},
            "components": {"model_architecture": {}, "model_card": {}},
        }
    )
    r = assess_openness(None, decl)
    assert r.eu_foss_licence.verdict is YesNoReview.YES
    assert "weights declared public in the manifest (release.weights)" in r.eu_foss_licence.reasons


# --- Cases from the review of the two implementations (openness.md sections named per test) ---------


def test_the_weights_own_licence_decides_the_eu_verdict(tmp_path: Path) -> None:
    # §5: card Apache-2.0, but the manifest puts the weights under CC BY-NC.
    root = release(tmp_path, "nc-weights", "---\nlicense: apache-2.0\n---\n# model\n")
    m = tmp_path / "m.yaml"
    m.write_text("components:\n  model_parameters_final: {license: cc-by-nc-4.0}\n")
    r = classify(root, m)
    assert r.eu_foss_licence.verdict is YesNoReview.NO
    assert "non-commercial" in r.eu_foss_licence.reasons[0]


def test_free_but_not_osi_approved_code_fails_osaid(tmp_path: Path) -> None:
    # §6.2: BSD-3-Clause-Clear and WTFPL are FSF-free, not on OSI's list.
    for lic in ("bsd-3-clause-clear", "wtfpl"):
        root = release(tmp_path, lic, f"---\nlicense: {lic}\n---\n# model\n")
        r = classify(root)
        assert any("not under an OSI-approved licence" in f for f in r.osaid.failing), lic


def test_no_licence_found_is_a_question_not_a_definite_no(tmp_path: Path) -> None:
    """The licence may be published where the files do not show it (a hub page): not found is not
    "not published", so the exemption turns on review, never a definite no."""
    r = classify(release(tmp_path, "none", "# a card without front matter\n"))
    assert r.eu_foss_licence.verdict is YesNoReview.NEEDS_REVIEW
    assert r.eu_foss_licence.reasons[0].startswith("no licence found in the files and none declared")


def _manifest(tmp_path: Path, components: str) -> Path:
    m = tmp_path / "modelwarden.yaml"
    m.write_text(
        "model: {name: m}\nrelease: {license: apache-2.0, weights: public}\n" + components, encoding="utf-8"
    )
    return m


def test_undeclared_architecture_and_card_need_review_in_a_manifest_only_assessment(tmp_path: Path) -> None:
    r = assess_openness(None, load_manifest(_manifest(tmp_path, "")))
    assert r.eu_foss_licence.verdict is YesNoReview.NEEDS_REVIEW
    text = " ".join(r.eu_foss_licence.reasons)
    assert "architecture: not found in the files and not declared" in text
    assert "model card): not found in the files and not declared" in text


def test_architecture_declared_absent_is_a_definite_no(tmp_path: Path) -> None:
    m = _manifest(tmp_path, "components:\n  model_architecture: {present: false}\n")
    r = assess_openness(None, load_manifest(m))
    assert r.eu_foss_licence.verdict is YesNoReview.NO
    assert any("components.model_architecture.present: false" in x for x in r.eu_foss_licence.reasons)


def test_a_card_gate_or_a_use_policy_needs_review(tmp_path: Path) -> None:
    gated = release(
        tmp_path,
        "gated-card",
        "---\nlicense: apache-2.0\nextra_gated_prompt: Agree to share your contact\n---\n",
    )
    r = classify(gated)
    assert r.eu_foss_licence.verdict is YesNoReview.NEEDS_REVIEW
    assert any("extra_gated" in x for x in r.eu_foss_licence.reasons)
    assert r.eosai.scores["weights_endmodel"] == 0.5  # gated = partial (§3)
    aup = release(
        tmp_path, "aup", "---\nlicense: apache-2.0\n---\n", {"USE_POLICY.md": "Prohibited uses: ...\n"}
    )
    r = classify(aup)
    assert r.eu_foss_licence.verdict is YesNoReview.NEEDS_REVIEW
    assert any("USE_POLICY.md" in x for x in r.eu_foss_licence.reasons)


def test_a_card_licence_is_not_stretched_to_external_components(tmp_path: Path) -> None:
    root = release(tmp_path, "ext", "---\nlicense: apache-2.0\n---\n# model\n")
    m = tmp_path / "m.yaml"
    m.write_text("components:\n  training_code: {location: https://example.org/train}\n")
    r = classify(root, m)
    assert r.components["training_code"].present and r.components["training_code"].licence is None
    m.write_text(
        "release: {license: apache-2.0}\ncomponents:\n  training_code: {location: https://example.org/train}\n"
    )
    r = classify(root, m)  # the publisher's own release.license does cover what they declare
    assert r.components["training_code"].licence == "apache-2.0"


def test_mot_exact_mode_reads_identified_licences_as_spdx_ids(tmp_path: Path) -> None:
    root = release(tmp_path, "mot", "---\nlicense: apache-2.0\n---\n# model\n")
    normalised = assess_openness(inspect_path(root), None, mof_mode="normalised")
    exact = assess_openness(inspect_path(root), None, mof_mode="mot_exact")
    assert normalised.mof.progress == exact.mof.progress
    assert float(exact.mof.progress["3"]) > 0
    # the card's Hub id is an identifier, not words: compared as the SPDX id it names
    assert exact.mof.components["model_card"].licence == "Apache-2.0"
    m = tmp_path / "m.yaml"  # a licence a person wrote in the manifest is compared as written
    m.write_text("release: {license: Apache 2.0}\n")
    written = assess_openness(inspect_path(root), load_manifest(m), mof_mode="mot_exact")
    assert written.mof.components["model_card"] == MofComponentStatus(status="invalid", licence="Apache 2.0")


def test_code_documents_and_data_in_the_files_are_assigned_to_their_components(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    root = release(
        tmp_path,
        "research-release",
        "---\nlicense: apache-2.0\n---\n# A research release\n",
        {
            "scripts/pretrain.py": "# training loop\n",
            "scripts/evaluate.py": "# evaluation\n",
            "tools/preprocess_data.py": "# dedup and filter\n",
            "handler.py": "# inference endpoint\n",
            "tokenization_x.py": "# tokenizer code\n",
            "convert_weights.py": "# neither: not assigned to a component\n",
            "technical_report.pdf": "%PDF-1.4\n",
            "data/train-00000.jsonl": '{"text": "hello"}\n',
            "samples/generation-1.txt": "sample output\n",
        },
    )
    torch.save({"state": {0: {"exp_avg": torch.zeros(4)}}}, root / "optimizer.pt")
    r = classify(root)
    c = r.components
    for cid, path in [
        ("training_code", "scripts/pretrain.py"),
        ("evaluation_code", "scripts/evaluate.py"),
        ("data_preprocessing_code", "tools/preprocess_data.py"),
        ("inference_code", "handler.py"),
        ("technical_report", "technical_report.pdf"),
        ("datasets", "data/train-00000.jsonl"),
        ("sample_outputs", "samples/generation-1.txt"),
    ]:
        assert c[cid].present, cid
        assert any(e.provenance.file == path for e in c[cid].evidence), (cid, c[cid].evidence)
        assert c[cid].licence == "apache-2.0" and c[cid].open is True, (cid, c[cid].licence)
    assert any("tokenization_x.py" in e.description for e in c["supporting_libraries"].evidence)
    assert not any("convert_weights.py" in e.description for x in c.values() for e in x.evidence)
    # optimizer state holds tensors but is training metadata, not the model's weights
    assert all("optimizer.pt" not in e.description for e in c["model_parameters_final"].evidence)
    assert any("optimizer.pt" in e.description for e in c["model_metadata"].evidence)
    assert not c["evaluation_data"].present and not c["research_paper"].present


def test_text_output_escapes_control_characters_and_markup_in_the_title(tmp_path: Path) -> None:
    card = '---\nlicense: other\nlicense_name: "[/x]evil\\e[31m\\rok"\n---\n'
    root = release(tmp_path, "rel[bold]x", card)
    done = subprocess.run(
        [sys.executable, "-m", "modelwarden", "openness", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("rel[bold]x\n")
    assert "Licence: [/x]evil\\x1b[31m\\rok [" in done.stdout
    assert "\x1b" not in done.stdout and "\r" not in done.stdout


@pytest.mark.parametrize(
    ("licence", "clause"),
    [
        ("deepseek", 'Attachment A "Use Restrictions"'),
        ("bigscience-openrail-m", "Attachment A"),
        ("creativeml-openrail-m", "Attachment A"),
        ("openrail", "Updates and Runtime Restrictions"),
        ("gemma", "Gemma Prohibited Use Policy"),
        ("nvidia-open-model-license", "guardrail clause"),
    ],
)
def test_use_restricted_licences_need_review_naming_the_deciding_clauses(
    tmp_path: Path, licence: str, clause: str
) -> None:
    # Guidelines §4.2.1: safety-oriented use restrictions may be compatible with Art. 53(2); whether
    # these are is a reading of the clauses, so the verdict names them instead of denying.
    r = classify(release(tmp_path, licence, f"---\nlicense: {licence}\n---\n# model\n"))
    assert r.eu_foss_licence.verdict is YesNoReview.NEEDS_REVIEW, r.eu_foss_licence.reasons
    question = r.eu_foss_licence.reasons[0]
    assert "deciding clauses" in question and clause in question
    assert "safety-oriented" in question
    assert r.osaid.pass_ is False  # OSI's definition allows no use restriction at all


@pytest.mark.parametrize(
    ("licence", "why"),
    [
        ("llama3.1", "700,000,000 monthly active users"),  # AUP too, but the scale threshold decides
        ("tongyi-qianwen", "outputs may not be used"),
        ("falcon-180b-tii-license", "hosting the model as a service"),
        ("stabilityai-ai-community", "revenue"),
    ],
)
def test_thresholds_separate_licences_and_output_bans_still_exclude_art_53_2(
    tmp_path: Path, licence: str, why: str
) -> None:
    r = classify(release(tmp_path, licence, f"---\nlicense: {licence}\n---\n# model\n"))
    assert r.eu_foss_licence.verdict is YesNoReview.NO
    assert why in r.eu_foss_licence.reasons[0]


def test_weights_only_declared_are_not_said_to_be_in_the_files() -> None:
    from modelwarden.manifest import parse_manifest

    decl = parse_manifest(
        {
            "release": {"license": "Apache-2.0"},
            "components": {"model_parameters_final": {}, "model_card": {}, "model_architecture": {}},
        }
    )
    verdict = assess_openness(None, decl).eu_foss_licence
    reasons = verdict.reasons
    assert verdict.verdict is YesNoReview.YES
    assert "weights present in the release files" not in reasons
    assert any("listed as released in the release description" in r for r in reasons)
