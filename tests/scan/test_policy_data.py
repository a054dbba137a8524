"""The scanner's data files read the same through libyaml's safe loader as through the pure-Python one.

`read_data` prefers libyaml for start-up time; a difference between the two parsers on these files
would silently change the allowlist, the dangerous list or a rule's severity.
"""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from modelwarden.scan.policy import read_data


@pytest.mark.parametrize("name", ["pickle_policy.yaml", "rules.yaml", "format_policy.yaml"])
def test_data_file_parses_the_same_with_both_yaml_parsers(name: str) -> None:
    text = resources.files("modelwarden.scan").joinpath("data/" + name).read_text("utf-8")
    expected = yaml.load(text, Loader=yaml.SafeLoader)  # the pure-Python safe loader
    assert expected  # a real, non-empty document
    assert read_data(name) == expected


def test_generated_allowlist_is_well_formed() -> None:
    # Every entry points at a reason that exists, with a known tier and kind; the dangerous table
    # gives a reason for each name and never repeats an allowlisted one.
    import json

    text = resources.files("modelwarden.scan").joinpath("data/pickle_allowlist.json").read_text("utf-8")
    data = json.loads(text)
    reasons = data["reasons"]
    assert reasons and all(isinstance(r, str) and r.strip() for r in reasons)
    for name, (tier, kind, why, new_only) in data["entries"].items():
        assert tier in {"allow", "training", "library"}, name
        assert kind in {"class", "function", "value"}, name
        assert 0 <= why < len(reasons) and new_only in (0, 1), name
    assert data["dangerous"] and all(v.strip() for v in data["dangerous"].values())
    assert not set(data["dangerous"]) & set(data["entries"])
