"""The synthetic MOT rule cases of docs/reference/openness_examples.md §D, computed in MOT-exact mode, plus
the normalised mode on the licence strings of §F."""

from __future__ import annotations

import pytest

from modelwarden.openness.mof import Listing, evaluate

III = ["model_architecture", "model_parameters_final", "evaluation_results", "model_card", "data_card"]
II = ["training_code", "inference_code", "evaluation_code", "evaluation_data"]
I_ = ["datasets", "data_preprocessing_code", "model_parameters_intermediate", "research_paper"]


# MOT's per-type lists at the snapshot (data/mot_licences.yaml) list Apache-2.0 for code only, so an
# Apache-2.0 default warns on every data and document component; OpenMDW-1.0 is on no list yet.
PF, DOCS, TR = (
    "Model parameters (Final)",
    ["Evaluation results", "Model card", "Data card"],
    "Technical report",
)


def listing(names: list[str], own: dict[str, str] | None = None, **defaults: str | None) -> Listing:
    comps: dict[str, str | None] = dict.fromkeys(names)
    comps.update(own or {})
    defaults.setdefault("distribution", "Apache-2.0")
    return Listing(components=comps, **defaults)


CASES = {
    "S1": (listing([*III, "technical_report"]), 3, (100.0, 60.0, 0.0), [PF, *DOCS, TR]),
    "S2": (listing([*III, "research_paper"], {"research_paper": "CC-BY-4.0"}), 3, (100.0, 60.0, 0.0), None),
    "S3": (
        listing(
            [*III, "research_paper"], {"research_paper": "arXiv.org perpetual non-exclusive license 1.0"}
        ),
        None,
        (83.3, 0.0, 0.0),
        None,
    ),
    "S4": (
        listing([*III, "technical_report"], {"model_parameters_final": "Llama 2 Community License"}),
        None,
        (83.3, 0.0, 0.0),
        [*DOCS, TR],
    ),
    "S5": (listing([*III, "technical_report"], distribution="apache-2.0"), None, (0.0, 0.0, 0.0), []),
    "S6": (listing([*III, "technical_report"], {"model_card": "unlicensed"}), None, (83.3, 0.0, 0.0), None),
    "S7": (
        listing([*III, "technical_report", *II]),
        2,
        (100.0, 100.0, 71.4),
        [PF, *DOCS, TR, "Evaluation data"],
    ),
    "S8": (
        listing([*III, *II, *I_], {"research_paper": "CC-BY-4.0"}),
        1,
        (100.0, 100.0, 100.0),
        [PF, *DOCS, "Evaluation data", "Datasets", "Model parameters (Intermediate)"],
    ),
    "S9": (
        listing(
            [*III, "technical_report", *II, *I_], {"datasets": "PDDL-1.0", "research_paper": "CC-BY-4.0"}
        ),
        2,
        (100.0, 100.0, 92.9),
        None,
    ),
    "S10": (
        listing(
            [*III, "technical_report", *II, *I_],
            {"datasets": "CC0-1.0", "research_paper": "CC-BY-4.0"},
            data="CDLA-Permissive-2.0",
        ),
        1,
        (100.0, 100.0, 100.0),
        [*DOCS, TR, "Datasets"],  # CC0-1.0 is on MOT's document list only
    ),
    "S11": (listing([*III[:-1], "technical_report", *II]), None, (83.3, 0.0, 0.0), None),
    "S12": (
        listing(["model_architecture", "model_parameters_final"], distribution="MIT"),
        None,
        (33.3, 0.0, 0.0),
        ["Model parameters (Final)"],
    ),
    "S13": (
        listing([*III, "technical_report"], distribution="OpenMDW-1.0"),
        3,
        (100.0, 60.0, 0.0),
        ["Model architecture", PF, *DOCS, TR],
    ),
    "S14": (
        listing([*III, "technical_report"], {"model_parameters_final": "CC-BY-NC-4.0"}),
        None,
        (83.3, 0.0, 0.0),
        [*DOCS, TR],
    ),
    "S15": (
        listing(
            [*III, "technical_report"],
            distribution=None,
            code="MIT",
            document="CC-BY-4.0",
            data="CDLA-Permissive-2.0",
        ),
        3,
        (100.0, 60.0, 0.0),
        [],
    ),
    "S16": (listing([*III, "technical_report"], distribution=None, code="MIT"), None, (16.7, 0.0, 0.0), []),
}


@pytest.mark.parametrize("case", sorted(CASES, key=lambda c: int(c[1:])))
def test_mot_exact_reproduces_the_synthetic_cases(case: str) -> None:
    lst, cls, progress, warned = CASES[case]
    result = evaluate(lst, "mot_exact")
    assert result.cls == cls
    assert (result.progress[3], result.progress[2], result.progress[1]) == progress
    if warned is not None:
        assert [w.split(":")[0] for w in result.warnings] == warned


@pytest.mark.parametrize(
    ("text", "exact_open", "normalised_open"),
    [
        ("Apache-2.0", True, True),
        ("Apache 2.0", False, True),
        ("apache-2.0", False, True),
        ("Apache license 2.0", False, True),
        ("MIT license", False, True),
        ("BSD-3", False, True),
        ("CC BY-SA 4.0", False, True),
        ("CC-BY-NC-4.0", False, False),
        ("Meta Llama 3 Community License Agreement", False, False),
        ("Gemma Terms of Use", False, False),
        ("arXiv.org perpetual non-exclusive license 1.0", False, False),
        ("Component not included", False, False),
        ("pubmed", False, False),
    ],
)
def test_modes_differ_only_where_mot_matches_strings_exactly(
    text: str, exact_open: bool, normalised_open: bool
) -> None:
    lst = listing(["model_architecture"], {"model_architecture": text}, distribution=None)
    assert (evaluate(lst, "mot_exact").status["model_architecture"] == "included") is exact_open
    assert (evaluate(lst, "normalised").status["model_architecture"] == "included") is normalised_open


def test_normalising_changes_progress_but_not_this_class() -> None:
    lst = listing([*III, "technical_report"], distribution="apache-2.0")
    assert evaluate(lst, "mot_exact").cls is None
    normal = evaluate(lst, "normalised")
    assert normal.cls == 3 and normal.mode == "normalised"


@pytest.mark.parametrize("report", [None, "LicenseRef-proprietary", "unlicensed"])
def test_an_open_paper_stands_in_for_a_report_that_is_not_included_at_class_one(report: str | None) -> None:
    # MOT's evaluator: at Class I one fewer component is required whenever the technical report is
    # not included (absent, invalid or unlicensed alike) and the research paper is.
    own = {"research_paper": "CC-BY-4.0"}
    names = [*III, *II, *I_]
    if report is not None:
        names.append("technical_report")
        own["technical_report"] = report
    result = evaluate(listing(names, own))
    assert result.cls == 1 and result.progress[1] == 100.0
    assert result.status["technical_report"] == {None: "missing", "unlicensed": "unlicensed"}.get(
        report, "invalid"
    )


def test_without_an_open_paper_a_report_that_is_not_open_blocks_class_one() -> None:
    own = {
        "research_paper": "arXiv.org perpetual non-exclusive license 1.0",
        "technical_report": "unlicensed",
    }
    result = evaluate(listing([*III, *II, *I_, "technical_report"], own))
    assert result.cls is None and result.progress[3] < 100.0


@pytest.mark.parametrize(
    ("spdx", "is_open"),  # MOT's own lists decide, not the SPDX list installed here
    [
        ("GPL-3.0-or-later", True),  # OSI-approved in the SPDX list, not in modelwarden's table
        ("X11", True),
        ("Apache-1.1", True),
        ("GFDL-1.3", True),  # FSF-libre
        ("CC-BY-SA-2.0", True),  # MOT's open-data list, older version
        ("CC-BY-3.0-AT", True),  # a CC-BY port
        ("OGL-UK-3.0", True),
        ("ODC-PDDL-1.0", True),  # MOT's own spelling...
        ("PDDL-1.0", False),  # ...so the SPDX id is not open to MOT (quirk 7)
        ("Elastic-2.0", False),  # listed by SPDX, neither OSI nor FSF
        ("gpl-3.0-or-later", False),  # MOT compares exactly
        # Newer SPDX lists flag these FSF-libre; MOT's copy of the list does not, so MOT does not count them
        ("curl", False),
        ("CDDL-1.1", False),
    ],
)
def test_mot_exact_knows_every_spdx_id(spdx: str, is_open: bool) -> None:
    result = evaluate(listing(III, distribution=spdx), "mot_exact")
    assert (result.status["model_parameters_final"] == "included") is is_open
