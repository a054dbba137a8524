"""The hub view in a real browser: `modelwarden serve` as a real server process over a registry of real
assessments recorded under hub repository ids (plus organisations with hostile names), Debian's
Chromium driven by Playwright. Charts, lists, links and the organisation filter; screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from modelwarden.registry import Registry
from modelwarden.registry.hubstats import hub_stats
from tests.registry.factory import HOSTILE, make_assessment
from tests.registry.hubcorpus import EXPECTED_DECADES, EXPECTED_LISTS, fill_hub, real_profiles
from tests.support.servers import modelwarden_serve
from tests.web.test_browser import ARTIFACTS, REPO, Watch, browser  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.browser


def hostile_name(i: int, evil: str) -> str:
    """A repository id with a hostile organisation part."""
    return f"{evil} org/model-{i}"


def org(i: int, evil: str) -> str:
    """Its organisation: up to the first "/" (which may be inside the hostile text)."""
    return hostile_name(i, evil).partition("/")[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Registry]]:
    folder = tmp_path_factory.mktemp("hub-served")
    url = f"sqlite:///{folder / 'registry.sqlite3'}"
    reg = Registry(url)
    fill_hub(reg, real_profiles(folder / "profiles"))
    rng = random.Random(19)
    for i, evil in enumerate(HOSTILE):
        # Hostile organisation names, as a hub could hand them over in repository ids.
        reg.save(make_assessment(rng, name=hostile_name(i, evil), findings=1))
    try:
        with modelwarden_serve(url) as base:
            yield base, reg
    finally:
        reg.close()


def test_hub_view_charts_lists_links_and_filter(served, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, reg = served
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    watch = Watch(page, base)
    view = hub_stats(reg.engine)

    # 1. From the dashboard's navigation to the hub view.
    page.goto(base + "/")
    page.click('nav[aria-label=main] a:text-is("Hub")')
    page.wait_for_url("**/hub")
    assert page.locator("#coverage").inner_text().startswith(f"{view.models} models")
    assert f"{view.organisations} organisations" in page.locator("#coverage").inner_text()
    assert "as of" in page.locator("#coverage").inner_text()

    # 2. The compute histogram: a bar per non-empty decade, the unknowns apart, three threshold lines.
    hist = page.locator("#compute-chart")
    decades = {b.decade: b.count for b in view.compute}
    assert hist.locator("rect.hist-bar").count() == len(decades)
    counts = [
        int(c) for c in hist.locator("rect.hist-bar").evaluate_all("rs => rs.map(r => r.dataset.count)")
    ]
    assert counts == [decades[d] for d in sorted(decades)]
    assert all(decades[d] >= n for d, n in EXPECTED_DECADES.items())
    assert hist.locator("rect.hist-unknown").get_attribute("data-count") == str(view.totals.compute_unknown)
    assert hist.locator("g.threshold").count() == 3
    # Bars are drawn in order along the axis, the 10^25 line between the 10^24 and 10^25 decades.
    xs = hist.locator("rect.hist-bar").evaluate_all("rs => rs.map(r => r.getBBox().x)")
    assert xs == sorted(xs)
    assert hist.evaluate("s => s.getBoundingClientRect().width") > 600
    above = page.locator('#threshold-counts tr[data-threshold="1e25"] td.above').inner_text()
    assert int(above) == view.totals.thresholds["1e25"].above

    # 3. MOF and scan charts: one bar for all models, one per shown organisation.
    rows = 1 + len(view.top) + (1 if view.others else 0)
    for chart, field in (("#mof-chart", "mof"), ("#severity-chart", "severity")):
        bars = page.locator(f"{chart} g.bar-row")
        assert bars.count() == rows
        first = bars.nth(0)
        total = sum(
            int(n) for n in first.locator("rect.seg").evaluate_all("rs => rs.map(r => r.dataset.count)")
        )
        assert total == view.models == int(first.get_attribute("data-total") or 0)
        keys = first.locator("rect.seg").evaluate_all("rs => rs.map(r => r.dataset.key)")
        assert keys == [k for k, n in getattr(view.totals, field).model_dump().items() if n]
        # The segments of a row fill the same width: a 100 % bar.
        width_of = "rs => rs.reduce((a, r) => a + r.getBBox().width, 0)"
        widths = [bars.nth(i).locator("rect.seg").evaluate_all(width_of) for i in range(rows)]
        assert max(widths) - min(widths) < 2
    page.screenshot(path=str(ARTIFACTS / "hub-1-view.png"), full_page=True)

    # 4. The models above 10^25: above for certain first, the straddling bands marked for review.
    lst = view.lists[1]
    assert lst.threshold == "1e25"
    shown = page.locator("#above-1e25 tbody a").all_inner_texts()
    assert shown == [m.name for m in lst.models]
    assert [n for n in shown if not n.startswith(tuple(HOSTILE))] == [n for n, _ in EXPECTED_LISTS["1e25"]]
    assert page.locator("#above-1e25 tbody tr.status-straddles").count() == lst.counts.straddles >= 3
    assert page.locator("#above-1e25 tbody tr.status-above").count() == lst.counts.above >= 2
    assert "needs review" in page.locator("#above-1e25 tr.status-straddles").first.inner_text()
    page.click('#above-1e25 a:text-is("alpha/frontier")')
    page.wait_for_selector("#model-name")
    assert page.locator("#model-name").inner_text().startswith("alpha/frontier")
    page.go_back()

    # 5. The organisation filter, typed in and followed from a table link.
    page.fill("#hub-filter input[name=org]", "beta")
    page.press("#hub-filter input[name=org]", "Enter")
    page.wait_for_url("**org=beta**")
    assert parse_qs(urlsplit(page.url).query)["org"] == ["beta"]
    assert page.locator("#coverage").inner_text().startswith("4 models")
    assert page.locator("#mof-chart g.bar-row").count() == 1
    names = page.locator("#lists a").all_inner_texts()
    assert names and all(n.startswith("beta/") for n in names)
    page.screenshot(path=str(ARTIFACTS / "hub-2-filtered.png"), full_page=True)
    page.goto(base + "/hub")
    page.locator("#mof details summary").click()
    page.click('#mof details a:text-is("gamma")')
    page.wait_for_url("**org=gamma**")
    assert page.locator("#coverage").inner_text().startswith("1 model ")
    watch.assert_clean()
    page.close()


def test_hostile_organisation_names_stay_text_in_the_browser(served, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, _ = served
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    watch = Watch(page, base)
    page.goto(base + "/hub?top=50")
    labels = page.locator("#mof-chart g.bar-row").evaluate_all("gs => gs.map(g => g.dataset.org)")
    orgs = [org(i, evil) for i, evil in enumerate(HOSTILE)]
    for name in orgs:
        assert name in labels  # the organisation's name as data, never markup
    assert page.locator("#mof-chart script, #mof-chart img, #mof-chart foreignObject").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    for name in orgs:
        page.goto(base + "/hub?top=50")
        page.locator("#scan details summary").click()
        page.locator("#scan details").get_by_role("link", name=name, exact=True).click()
        page.wait_for_url("**org=**")
        assert page.locator(".org-name").inner_text() == name
        assert page.locator("#coverage").inner_text().startswith("1 model ")
    page.screenshot(path=str(ARTIFACTS / "hub-3-hostile.png"), full_page=True)
    watch.assert_clean()
    page.close()
