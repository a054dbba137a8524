"""The scanner reads its data from JSON compiled from the YAML sources (`make scan-data`); a stale or
differently parsed JSON file would silently change the allowlist, the dangerous list or a rule's
severity, so each must equal its YAML source as the pure-Python safe loader reads it.
"""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from modelwarden.scan.policy import read_data


@pytest.mark.parametrize("name", ["pickle_policy.yaml", "rules.yaml", "format_policy.yaml"])
def test_compiled_data_equals_its_yaml_source(name: str) -> None:
    text = resources.files("modelwarden.scan").joinpath("data/" + name).read_text("utf-8")
    expected = yaml.load(text, Loader=yaml.SafeLoader)  # the pure-Python safe loader
    assert expected  # a real, non-empty document
    assert read_data(name) == expected, f"scan/data/{name} changed: run `make scan-data`"


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
