"""The hub view over HTTP (the application in process): /api/v1/hub against hubstats, the page's
charts and lists, bad queries, hostile organisation names, a registry of thousands of organisations,
and the read token."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from fastapi.testclient import TestClient

from modelwarden.model import Assessment
from modelwarden.registry import Registry
from modelwarden.registry.hubstats import hub_stats
from tests.registry.factory import HOSTILE, make_assessment
from tests.registry.hubcorpus import EXPECTED_DECADES, EXPECTED_LISTS, fill_hub, real_profiles, renamed
from tests.web.test_escaping import check_inert


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Assessment]:
    return real_profiles(tmp_path_factory.mktemp("profiles"))


@pytest.fixture
def hub(registry: Registry, profiles: dict[str, Assessment]) -> Iterator[Registry]:
    fill_hub(registry, profiles)
    yield registry


def test_api_matches_hubstats_and_is_in_the_openapi_document(
    hub: Registry, make_client: Callable[..., TestClient]
) -> None:
    client = make_client()
    for params, kwargs in (
        ({}, {}),
        ({"org": "beta"}, {"org": "beta"}),
        ({"top": "2", "list_limit": "1"}, {"top": 2, "list_limit": 1}),
        ({"org": "(local)"}, {"org": "(local)"}),
    ):
        r = client.get("/api/v1/hub", params=params)
        assert r.status_code == 200, r.text
        assert r.json() == hub_stats(hub.engine, **kwargs).model_dump(mode="json")  # type: ignore[arg-type]
    body = client.get("/api/v1/hub").json()
    assert body["models"] == 11 and [g["org"] for g in body["top"]] == ["alpha", "beta", "(local)", "gamma"]
    doc = client.get("/api/v1/openapi.json").json()
    op = doc["paths"]["/api/v1/hub"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HubStats"
    }
    assert {p["name"] for p in op["parameters"]} == {"org", "top", "list_limit"}
    assert "straddles" in doc["components"]["schemas"]["ThresholdCounts"]["properties"]


@pytest.mark.parametrize(
    "query",
    [
        "top=0",
        "top=51",
        "top=x",
        "list_limit=-1",
        "list_limit=501",
        "org=a%00b",
        "org=" + "x" * 201,
        "bogus=1",
    ],
)
def test_bad_queries_are_refused_with_a_clear_answer(
    hub: Registry, make_client: Callable[..., TestClient], query: str
) -> None:
    client = make_client()
    api = client.get("/api/v1/hub?" + query)
    assert api.status_code == 422 and api.json()["error"]["code"] == "invalid_request", api.text
    page = client.get("/hub?" + query)
    if query == "bogus=1":  # the page ignores parameters it does not know, as the dashboard does
        assert page.status_code == 200
    else:
        assert page.status_code == 400 and "Traceback" not in page.text
        assert query.split("=")[0] in page.text


def _count(html: str, pattern: str) -> int:
    return len(re.findall(pattern, html))


def test_page_draws_the_charts_and_lists_from_the_numbers(
    hub: Registry, make_client: Callable[..., TestClient]
) -> None:
    html = make_client().get("/hub").text
    text = check_inert(html)
    assert "11 models" in text and "4 organisations" in text and "as of" in text
    assert _count(html, r'<rect class="hist-bar"') == len(EXPECTED_DECADES)
    assert re.search(r'<rect class="hist-unknown" data-count="2"', html)
    assert _count(html, r'<g class="threshold">') == 3
    assert "(AI Act Art. 51(2)): 2 above, 3 straddling (review), 2 unknown</title>" in html
    # One row for all models plus one per organisation, in both stacked charts.
    for chart in ("mof-chart", "severity-chart"):
        svg = html.split(f'id="{chart}"')[1].split("</svg>")[0]
        assert _count(svg, r'<g class="bar-row"') == 5
        assert re.findall(r'data-org="([^"]*)"', svg) == ["(all)", "alpha", "beta", "(local)", "gamma"]
    for threshold, listed in EXPECTED_LISTS.items():
        section = html.split(f'id="above-{threshold}"')[1].split("</section>")[0]
        assert re.findall(r'<a href="/models/\d+">([^<]*)</a>', section) == [n for n, _ in listed]
        assert section.count("above for certain</span>") == sum(s == "above" for _, s in listed)
        straddling = [n for n, s in listed if s == "straddles"]
        assert section.count("band straddles — needs review") == len(
            [n for n in straddling if n != "beta/liar"]
        )
        # The forged document's band does not straddle: its call contradicts it, and the page says so.
        assert section.count("call contradicts the band — needs review") == ("beta/liar" in straddling)
    # Every listed model's link opens its report.
    client = make_client()
    for ident in set(re.findall(r'href="(/models/\d+)"', html)):
        assert client.get(ident).status_code == 200
    filtered = make_client().get("/hub?org=beta").text
    assert "4 models" in check_inert(filtered)
    assert _count(filtered, r'<g class="bar-row"') == 2  # the organisation's own row in each chart
    assert "alpha/frontier" not in filtered and "beta/liar" in filtered


def test_hostile_organisation_names_stay_text(
    registry: Registry, make_client: Callable[..., TestClient]
) -> None:
    rng = random.Random(3)
    for i, evil in enumerate(HOSTILE):
        registry.save(make_assessment(rng, name=f"{evil}/model-{i}", findings=1))
    # The organisation is the name up to its first "/" (a closing tag's slash cuts it short).
    orgs = Counter(f"{evil}/model".partition("/")[0] for evil in HOSTILE)
    html = make_client().get("/hub").text
    text = check_inert(html)
    for org in orgs:
        assert org in text  # shown, as text
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
    # The filter links carry the name URL-encoded; following one selects exactly that organisation.
    client = make_client()
    links = re.findall(r'<a href="/hub\?org=([^"]*)">', html)  # in the MOF and the scan tables
    assert len(links) == 2 * len(orgs) and {unquote_plus(unescape(q)) for q in links} == set(orgs)
    for org, n in orgs.items():
        page = client.get("/hub", params={"org": org})
        assert page.status_code == 200 and f"{n} model{'' if n == 1 else 's'} " in check_inert(page.text)


def test_hundreds_of_organisations_make_a_bounded_page(
    registry: Registry, profiles: dict[str, Assessment], make_client: Callable[..., TestClient]
) -> None:
    base = profiles["straddle_1e25"]
    registry.save_many((renamed(base, f"org-{i:05d}/m") for i in range(800)), batch=400)
    client = make_client()
    r = client.get("/hub")
    assert r.status_code == 200 and len(r.content) < 400_000
    assert _count(r.text, r'<g class="bar-row"') == 2 * (1 + 12 + 1)  # all, the top 12, the others
    assert "(others)" in r.text and "788" in r.text
    api = client.get("/api/v1/hub", params={"list_limit": 500}).json()
    assert len(api["top"]) == 12 and api["others"]["organisations"] == 788
    assert all(len(lst["models"]) <= 500 for lst in api["lists"])
    assert api["lists"][1]["counts"]["straddles"] == 800 and api["lists"][1]["truncated"]


def test_reads_need_the_read_token_when_one_is_set(
    hub: Registry, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(read_token="read-token-0123456789abcdef")
    assert client.get("/hub").status_code == 401
    assert client.get("/api/v1/hub").status_code == 401
    ok = client.get("/api/v1/hub", headers={"Authorization": "Bearer read-token-0123456789abcdef"})
    assert ok.status_code == 200 and ok.json()["models"] == 11


def test_empty_registry(registry: Registry, make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    client = make_client()
    page = client.get("/hub")
    assert page.status_code == 200 and "No model" in page.text and "<svg" not in page.text
    assert client.get("/api/v1/hub").json()["models"] == 0
