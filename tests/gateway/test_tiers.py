"""Tiers as data: the shipped defaults, resolution by verification state, validation errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
import yaml

from modelwarden.errors import GatewayError
from modelwarden.gateway.tiers import default_tiers, is_verified, load_tiers, parse_tiers


def test_defaults_ship_three_tiers_that_block_s4_and_s9_everywhere() -> None:
    ts = default_tiers()
    assert list(ts.tiers) == ["anonymous", "verified", "researcher"]
    assert ts.warnings() == []
    for t in ts.tiers.values():
        assert t.moderation.for_code("S4").action == "block"
        assert t.moderation.for_code("S9").action == "block"
    anon, ver, res = ts.tiers["anonymous"], ts.tiers["verified"], ts.tiers["researcher"]
    assert anon.max_tokens_cap < ver.max_tokens_cap < res.max_tokens_cap
    assert anon.rpm < ver.rpm < res.rpm
    assert anon.log_level == "hash" and res.log_level == "text"
    assert res.logprobs_allowed and not anon.logprobs_allowed
    assert ver.moderation.for_code("S6").action == "allow"
    assert res.moderation.for_code("S2").action == "flag"
    assert anon.moderation.for_code("JB").action == "block"


def test_resolution_follows_verification_agreement_and_fallbacks() -> None:
    ts = default_tiers()
    assert ts.resolve(None, verified=False, agreement=False).name == "anonymous"
    assert ts.resolve("researcher", verified=True, agreement=True).name == "researcher"
    assert ts.resolve("researcher", verified=True, agreement=False).name == "verified"
    assert ts.resolve("researcher", verified=False, agreement=True).name == "anonymous"
    assert ts.resolve("verified", verified=False, agreement=False).name == "anonymous"
    assert ts.resolve("no-such-tier", verified=True, agreement=True).name == "anonymous"


def test_verification_expires() -> None:
    now = datetime(2026, 10, 1, tzinfo=UTC)
    assert is_verified("verified", None, now)
    assert is_verified("verified", now + timedelta(days=1), now)
    assert not is_verified("verified", now - timedelta(seconds=1), now)
    assert not is_verified("pending", None, now)
    assert is_verified("verified", (now + timedelta(hours=1)).replace(tzinfo=None), now)


def test_model_patterns_and_tags() -> None:
    anon = default_tiers().tiers["anonymous"]
    assert anon.allows_model("mock-small", ["public"])
    assert not anon.allows_model("mock-large", [])
    assert default_tiers().tiers["verified"].allows_model("anything", [])


def _base() -> dict:
    return yaml.safe_load(
        resources.files("modelwarden.gateway").joinpath("data/tiers.yaml").read_text("utf-8")
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["tiers"]["anonymous"]["moderation"]["categories"].update(
                {"S99": {"action": "block"}}
            ),
            "S99",
        ),
        (lambda d: d["tiers"]["verified"].update({"fallback": "nowhere"}), "fallback 'nowhere'"),
        (lambda d: d["tiers"]["anonymous"].update({"fallback": "researcher"}), "loops"),
        (
            lambda d: d["tiers"]["anonymous"]["escalation"]["ladder"].append({"at": 9, "action": "throttle"}),
            "factor",
        ),
        (lambda d: d["tiers"]["anonymous"].update({"rpm": -1}), "rpm"),
        (lambda d: d["tiers"]["anonymous"].update({"surprise": 1}), "surprise"),
        (lambda d: d.update({"default_tier": "gold"}), "default_tier"),
    ],
)
def test_invalid_tiers_are_named_precisely(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = _base()
    mutate(data)
    with pytest.raises(GatewayError) as exc:
        parse_tiers(yaml.safe_dump(data), source="t.yaml")
    assert message in exc.value.message
    assert exc.value.message.startswith("t.yaml: ")


def test_advisory_when_a_tier_does_not_block_s9(tmp_path: Path) -> None:
    data = _base()
    data["tiers"]["researcher"]["moderation"]["categories"]["S9"]["action"] = "flag"
    f = tmp_path / "tiers.yaml"
    f.write_text(yaml.safe_dump(data))
    ts = load_tiers(f)
    assert ts.warnings() == [
        "tier 'researcher' does not block S9 (docs/reference/gateway.md §11.5 blocks it for everyone)"
    ]


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(GatewayError, match="cannot read tiers file"):
        load_tiers(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers: [unclosed")
    with pytest.raises(GatewayError, match="not valid YAML"):
        load_tiers(bad)
