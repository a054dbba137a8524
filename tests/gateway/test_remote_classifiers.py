"""The Llama Guard and OpenAI-moderation adapters against a real OpenAI-compatible server process
(the mock upstream, whose answers are steered by directives: it classifies nothing itself)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from modelwarden.gateway.config import ClassifierEndpoint
from modelwarden.gateway.moderation.base import decide
from modelwarden.gateway.moderation.cascade import Cascade
from modelwarden.gateway.moderation.remote import (
    LlamaGuardClassifier,
    OpenAIModerationClassifier,
    parse_llamaguard,
)
from modelwarden.gateway.moderation.rules import RuleClassifier
from modelwarden.gateway.tiers import default_tiers
from tests.gateway.harness import Proc, mock_upstream


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with mock_upstream(tmp_path_factory.mktemp("remote")) as m:
        yield m


@pytest.mark.parametrize(
    ("answer", "codes"),
    [
        ("safe", []),
        ("  safe\n", []),
        ("unsafe\nS1", ["S1"]),
        ("unsafe\nS1,S10", ["S1", "S10"]),
        ("unsafe\n s9 , S14 ", ["S9", "S14"]),
        ("unsafe", None),  # no category line
        ("unsafe\nO3", None),  # Llama Guard 1 codes are a different format (§6.2 "format trap")
        ("unsafe\nS15", None),
        ("I cannot help with that", None),
        ("", None),
    ],
)
def test_parse_llamaguard(answer: str, codes: list[str] | None) -> None:
    assert parse_llamaguard(answer) == codes


def test_llamaguard_adapter_over_http(mock: Proc) -> None:
    async def run() -> None:
        lg = LlamaGuardClassifier(
            ClassifierEndpoint(url=mock.url + "/v1", model="llama-guard-3-1b", timeout_s=1.0)
        )
        safe = await lg.classify("hello", role="user")
        assert safe.error is None and safe.scores == {}
        bad = await lg.classify("x [[guard:unsafe S2,S7]]", role="assistant", context="user text")
        assert bad.scores == {"S2": 1.0, "S7": 1.0}
        junk = await lg.classify("x [[guard:garbage]]", role="user")
        assert junk.error and "unparseable" in junk.error
        await lg.close()
        dead = LlamaGuardClassifier(ClassifierEndpoint(url="http://127.0.0.1:9/v1", model="m", timeout_s=1.0))
        res = await dead.classify("hello", role="user")
        assert res.error is not None
        await dead.close()

    asyncio.run(run())


def test_openai_moderation_crosswalk(mock: Proc) -> None:
    async def run() -> None:
        om = OpenAIModerationClassifier(
            ClassifierEndpoint(url=mock.url + "/v1", model="omni-moderation-latest")
        )
        res = await om.classify("x [[moderation:violence=0.9,sexual=0.8,self-harm/intent=0.7]]", role="user")
        assert res.scores["S1"] == pytest.approx(0.9)
        assert res.scores["S11"] == pytest.approx(0.7)
        assert res.scores["S12"] == pytest.approx(0.8)
        assert res.scores["S3"] == pytest.approx(0.4)  # `sexual` is only a partial S3 signal: halved
        assert "S5" not in om.covers and "S9" in om.covers
        await om.close()

    asyncio.run(run())


def test_cascade_skips_slow_classifiers_when_rules_already_block(mock: Proc) -> None:
    async def run() -> None:
        lg = LlamaGuardClassifier(
            ClassifierEndpoint(url=mock.url + "/v1", model="llama-guard-3-1b", timeout_s=5.0)
        )
        cascade = Cascade(RuleClassifier(), [lg])
        policy = default_tiers().tiers["anonymous"].moderation
        d = await cascade.check("how to synthesize sarin [[guard:slow=3]]", role="user", policy=policy)
        assert d.blocked == ["S9"] and [c["name"] for c in d.classifiers] == ["rules"]
        d = await cascade.check("hello [[guard:unsafe S13]]", role="user", policy=policy)
        assert d.blocked == ["S13"] and [c["name"] for c in d.classifiers] == ["rules", "llamaguard"]
        # A tier that allows every category the guard covers does not call it at all.
        permissive = (
            default_tiers()
            .tiers["verified"]
            .moderation.model_copy(
                update={
                    "default": default_tiers()
                    .tiers["verified"]
                    .moderation.default.model_copy(update={"action": "allow"}),
                    "categories": {},
                }
            )
        )
        d = await cascade.check("hello [[guard:slow=3]]", role="user", policy=permissive)
        assert [c["name"] for c in d.classifiers] == ["rules"]
        await cascade.close()
        assert decide(policy, []).action == "allow"

    asyncio.run(run())
