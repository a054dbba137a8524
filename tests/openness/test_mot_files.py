"""MOT's own model files (tests/openness/data, see its README): read as release descriptions, MOT-exact
mode must reproduce MOT's class and progress on every one; MOT YAML written back reads the same."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml
from tests.support.cli import run_cli

from modelwarden.errors import ManifestError
from modelwarden.manifest import Manifest, parse_manifest
from modelwarden.model import OpennessReport
from modelwarden.openness import assess_openness, mot, mot_lists
from modelwarden.openness.mof import Mode

DATA = Path(__file__).parent / "data"
ROWS = list(csv.DictReader((DATA / "expected.csv").open(encoding="utf-8")))


def figures(report: OpennessReport) -> tuple[int, float, float, float]:
    m = report.mof
    return (m.class_ or 0, m.progress["3"], m.progress["2"], m.progress["1"])


def classify(path: Path, mode: Mode = "mot_exact") -> OpennessReport:
    read = mot.read(path)
    assert read is not None, path
    return assess_openness(None, read[1], mof_mode=mode)


def test_expected_csv_covers_every_model_file() -> None:
    listed = {row["file"] for row in ROWS}
    on_disk = {f"models/{p.name}" for p in (DATA / "models").glob("*.yml")}
    assert listed == on_disk and len(listed) == 273


def test_every_mot_model_file_matches_mot_in_mot_exact_mode() -> None:
    wrong: list[str] = []
    classes = 0
    for row in ROWS:
        want = (
            int(row["mot_class"]),
            float(row["progress_class3"]),
            float(row["progress_class2"]),
            float(row["progress_class1"]),
        )
        got = figures(classify(DATA / row["file"]))
        classes += got[0] == want[0]
        if got != want:
            wrong.append(f"{row['file']}: MOT {want}, modelwarden {got}")
    assert classes == len(ROWS)
    assert wrong == [], f"{len(ROWS) - len(wrong)}/{len(ROWS)} match:\n" + "\n".join(wrong)


def test_mot_fixture_files_match_mot_rest_output() -> None:
    text = (DATA / "Test_Data" / "expected_results.json").read_text(encoding="utf-8")
    models = json.loads(re.sub(r",(\s*[}\]])", r"\1", text))["models"]  # MOT's file has trailing commas
    expected = {m["release"]["name"]: m["classification"] for m in models}
    files = sorted((DATA / "Test_Data").glob("*.yml"))
    assert len(files) == len(expected) == 27
    for f in files:
        report = classify(f)
        want = expected[yaml.safe_load(f.read_text(encoding="utf-8"))["release"]["name"]]
        progress = want["progress"]
        assert figures(report) == (
            int(want["class"]),
            round(float(progress["3"]), 1),
            round(float(progress["2"]), 1),
            round(float(progress["1"]), 1),
        ), f.name


def test_mot_written_back_reads_the_same_on_every_model_file(tmp_path: Path) -> None:
    for row in ROWS:
        source = DATA / row["file"]
        read = mot.read(source)
        assert read is not None
        first = assess_openness(None, read[1], mof_mode="mot_exact")
        copy = tmp_path / "copy.yml"
        copy.write_text(mot.dump(first, name=read[0].name), encoding="utf-8")
        again = classify(copy)
        assert again.mof.components == first.mof.components, row["file"]
        assert figures(again) == figures(first), row["file"]


def test_pythia_70m_file_on_the_command_line_is_class_one() -> None:
    done = run_cli("openness", DATA / "models" / "Pythia-70M.yml", "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["mof"]["mode"] == "mot_exact" and doc["mof"]["class"] == 1
    assert doc["licence"]["text"] == "Apache-2.0"
    # per component: the status and the licence string the evaluator compared, as the file wrote it
    assert doc["mof"]["components"]["data_preprocessing_code"] == {"status": "included", "licence": "MIT"}
    assert doc["mof"]["components"]["research_paper"] == {"status": "included", "licence": "CC-BY-SA-4.0"}
    assert doc["mof"]["components"]["sample_outputs"] == {"status": "missing", "licence": None}
    text = run_cli("openness", DATA / "models" / "Pythia-70M.yml")
    assert "MOF (mot_exact): Class I " in text.stdout


def test_cli_writes_mot_yaml_that_reads_back_the_same(tmp_path: Path) -> None:
    source = DATA / "models" / "Falcon-40B.yml"  # code "Apache 2.0", weights unlicensed: MOT says 0/0/0
    done = run_cli("openness", source, "--format", "mot-yaml")
    assert done.returncode == 0, done.stderr
    written = tmp_path / "falcon.yml"
    written.write_text(done.stdout, encoding="utf-8")
    doc = yaml.safe_load(done.stdout)
    assert doc["release"]["name"] == "Falcon-40B"
    licences = {c["name"]: c["license"] for c in doc["release"]["components"]}
    assert licences["Model parameters (Final)"] == "unlicensed"
    assert "Apache 2.0" in licences.values()
    assert figures(classify(written)) == figures(classify(source)) == (0, 0.0, 0.0, 0.0)
    refused = run_cli("openness", source, "--format", "mot-yaml", "--mof-mode", "normalised")
    assert refused.returncode == 2 and "mot_exact" in refused.stderr


@pytest.mark.parametrize(
    ("component", "problem"),
    [
        ("- {name: Model weights, license: MIT}", "'Model weights' is not a MOF component"),
        ("- {name: Model card}\n    - {name: Model card}", "listed twice"),
        ("- {name: Model card, license: [MIT]}", "components[0].license: expected text"),
        ("- Model card", "components[0]: expected a mapping"),
    ],
)
def test_a_broken_mot_file_is_an_error_naming_the_file(tmp_path: Path, component: str, problem: str) -> None:
    bad = tmp_path / "bad-mot.yml"
    bad.write_text(
        f"release:\n  name: x\n  license: {{}}\n  components:\n    {component}\n", encoding="utf-8"
    )
    done = run_cli("openness", bad)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "bad-mot.yml" in done.stderr and problem in done.stderr


def test_a_mot_file_given_as_the_manifest_of_a_folder_is_read_as_mot(tmp_path: Path) -> None:
    folder = tmp_path / "empty-release"
    folder.mkdir()
    (folder / "README.md").write_text("# no weights here\n", encoding="utf-8")
    done = run_cli("openness", folder, "--manifest", DATA / "models" / "Pythia-70M.yml", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mof"]["class"] == 1


# --- MOT-exact compares strings as written; the normalised mode reads intent ---------------------


def _manifest(release_licence: str, paper: dict[str, str] | None = None) -> Manifest:
    comps: dict[str, dict[str, str]] = {
        c: {}
        for c in (
            "model_architecture",
            "model_parameters_final",
            "evaluation_results",
            "model_card",
            "data_card",
            "technical_report",
        )
    }
    if paper is not None:
        comps = {k: v for k, v in comps.items() if k != "technical_report"} | {"research_paper": paper}
    return parse_manifest({"release": {"license": release_licence}, "components": comps})


@pytest.mark.parametrize(
    "written", ["Apache 2.0", "BSD-3", "MIT license", "apache-2.0", "Apache license 2.0"]
)
def test_mot_exact_does_not_normalise_licence_strings_written_in_a_manifest(written: str) -> None:
    decl = _manifest(written)
    exact = assess_openness(None, decl, mof_mode="mot_exact")
    assert exact.mof.class_ is None and exact.mof.progress["3"] == 0.0
    assert exact.mof.components["model_card"].status == "invalid"
    assert exact.mof.components["model_card"].licence == written
    normalised = assess_openness(None, decl, mof_mode="normalised")
    assert normalised.mof.class_ == 3


def test_a_paper_without_its_own_licence_takes_the_release_licence_in_mot_exact_mode() -> None:
    decl = _manifest("Apache-2.0", paper={"location": "https://arxiv.org/abs/2312.06550"})
    exact = assess_openness(None, decl, mof_mode="mot_exact")
    assert exact.mof.components["research_paper"].licence == "Apache-2.0"
    assert exact.mof.class_ == 3
    # Normalised: the release licence is not stretched to a paper that usually sits under arXiv's
    # own licence (docs/openness.md), so the paper is unlicensed there.
    normalised = assess_openness(None, decl, mof_mode="normalised")
    assert normalised.mof.components["research_paper"].status == "unlicensed"
    assert normalised.mof.class_ is None


def test_mot_lists_data_is_derived_from_mots_own_lists() -> None:
    derived = mot_lists.build(
        json.loads((DATA / "licence-lists" / "licenses.json").read_text(encoding="utf-8")),
        json.loads((DATA / "licence-lists" / "mof-licenses.json").read_text(encoding="utf-8")),
    )
    lists = mot_lists.lists()
    assert lists.osi_approved == frozenset(derived["osi_approved"])
    assert lists.fsf_libre == frozenset(derived["fsf_libre"])
    assert lists.content_types == derived["content_types"]
    assert lists.content_types["CC0-1.0"] == "document"  # listed twice; MOT's importer keeps the last


def test_unknown_yaml_is_not_taken_for_a_mot_file(tmp_path: Path) -> None:
    other = tmp_path / "other.yml"
    other.write_text("release: {license: apache-2.0}\n", encoding="utf-8")
    assert mot.read(other) is None
    with pytest.raises(ManifestError, match="not a Model Openness Tool model file"):
        mot.parse({"release": {"name": "x"}}, origin="x.yml")


def test_an_assessed_release_folder_written_as_mot_yaml_reads_back_the_same(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    root = tmp_path / "release"
    root.mkdir()
    save_file({"w": np.zeros((4, 4), np.float32)}, str(root / "model.safetensors"))
    (root / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}')
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# A release\n")
    (root / "modelwarden.yaml").write_text(
        "components:\n"
        "  training_code: {location: 'https://example.org/train', license: MIT license}\n"
        "  research_paper: {location: 'https://arxiv.org/abs/2402.00838', license: CC-BY-4.0}\n"
        "  datasets: {location: 'https://example.org/data'}\n"
    )
    direct = run_cli("openness", root, "--format", "json", "--mof-mode", "mot_exact")
    written = run_cli("openness", root, "--format", "mot-yaml")
    assert direct.returncode == 0 and written.returncode == 0, written.stderr
    mot_file = tmp_path / "release.yml"
    mot_file.write_text(written.stdout, encoding="utf-8")
    doc = yaml.safe_load(written.stdout)
    by_name = {c["name"]: c for c in doc["release"]["components"]}
    assert by_name["Training code"]["license"] == "MIT license"  # as the manifest wrote it
    assert by_name["Model parameters (Final)"]["license"] == "Apache-2.0"  # the card's Hub id, as SPDX
    assert by_name["Datasets"]["license"] == "unlicensed"  # none known: no fall-back to the card's
    assert by_name["Training code"]["component_path"] == "https://example.org/train"
    back = run_cli("openness", mot_file, "--format", "json")
    assert json.loads(back.stdout)["mof"] == json.loads(direct.stdout)["mof"]


def test_recognition_is_by_content_not_by_name(tmp_path: Path) -> None:
    doc = yaml.safe_load((DATA / "models" / "Pythia-70M.yml").read_text(encoding="utf-8"))
    as_json = tmp_path / "pythia.release"  # MOT's API serves the same document as JSON
    as_json.write_text(json.dumps(doc), encoding="utf-8")
    read = mot.read(as_json)
    assert read is not None and read[0].name == "Pythia-70M"
    assert assess_openness(None, read[1], mof_mode="mot_exact").mof.class_ == 1
    binary = tmp_path / "weights.yml"
    binary.write_bytes(b"\x00\xff" * 64)
    assert mot.read(binary) is None  # left to the model readers
    assert mot.read(tmp_path) is None
