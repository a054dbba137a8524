"""End to end in a real browser: `modelwarden serve` as a real server process, Debian's Chromium driven by
Playwright. Open the dashboard, filter, open a model, view a diff; screenshots go to test-artifacts/.

The page may reach nothing but the server (every other request fails the test), must raise no
JavaScript error or Content-Security-Policy violation, and no hostile record may open a dialog.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from modelwarden.registry import Registry
from tests.support.servers import _wait_port, free_port, modelwarden_serve
from tests.web.conftest import fill

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int], Registry]]:
    folder = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{folder / 'registry.sqlite3'}"
    reg = Registry(url)
    ids = fill(reg)
    try:
        with modelwarden_serve(url) as base:
            yield base, ids, reg
    finally:
        reg.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("/usr/bin/chromium is required: `make test` installs it (scripts/system-services)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


class Watch:
    """Everything that must not happen on a page."""

    def __init__(self, page, base: str) -> None:  # type: ignore[no-untyped-def]
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

        def route(r):  # type: ignore[no-untyped-def]
            if r.request.url.startswith(base):
                r.continue_()
            else:
                self.outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)

    def assert_clean(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors
        assert self.outside == [], self.outside


def test_dashboard_filter_model_and_diff(served, browser) -> None:  # type: ignore[no-untyped-def]
    base, ids, reg = served
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    watch = Watch(page, base)

    # 1. The dashboard: every model once, newest assessment of each.
    page.goto(base + "/")
    total = reg.models().total
    assert page.locator("#models tbody tr").count() == total
    assert page.locator("#total").inner_text().startswith(f"{total} models")
    assert page.locator("svg.chart .dot").count() > 0
    page.screenshot(path=str(ARTIFACTS / "registry-1-dashboard.png"), full_page=True)

    # 2. Filter: choosing a licence class applies at once (the small script submits the form).
    page.select_option("select[name=licence_class]", "not_open")
    page.wait_for_url("**licence_class=not_open**")
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"licence_class": ["not_open"]}  # empty fields are left out of the URL
    rows = page.locator("#models tbody tr")
    expected = reg.models(licence_class="not_open", limit=500)
    assert rows.count() == expected.total > 0
    assert page.locator("#models tbody tr .lic-not_open").count() == expected.total
    page.select_option("select[name=threshold]", "1e23:clearly_above")
    page.wait_for_url("**threshold=1e23%3Aclearly_above**")
    both = reg.models(licence_class="not_open", threshold="1e23:clearly_above", limit=500)
    assert rows.count() == both.total
    page.screenshot(path=str(ARTIFACTS / "registry-2-filtered.png"), full_page=True)

    # A search typed into the name field.
    page.goto(base + "/")
    page.fill("input[name=q]", "DEMO-model")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**q=DEMO-model**")
    assert page.locator("#models tbody tr").count() == 1

    # 3. Open the model: the full report with provenance, charts and citations.
    page.click('#models a:text-is("acme/demo-model")')
    page.wait_for_selector("#model-name")
    assert page.locator("#model-name").inner_text().startswith("acme/demo-model")
    assert page.locator("#compute svg.chart .band").count() >= 1
    assert page.locator("#compute svg.chart .threshold").count() == 3
    assert page.locator(".openness-grid .cell").count() == 17
    assert page.locator("#regimes article.regime").count() == len(reg.get(ids["v2"]).regimes)
    assert page.locator("#facts .prov").count() > 3  # where each fact came from
    assert page.locator("#history tbody tr").count() == 2
    page.screenshot(path=str(ARTIFACTS / "registry-3-model.png"), full_page=True)

    # 4. The diff view, from the compare form (previous version → this one).
    assert page.locator("#compare select[name=a]").input_value() == str(ids["v1"])
    page.click("#compare button")
    page.wait_for_url("**/diff?a=*")
    assert parse_qs(urlsplit(page.url).query) == {"a": [str(ids["v1"])], "b": [str(ids["v2"])]}
    diff = reg.diff(ids["v1"], ids["v2"])
    assert page.locator("#summary").inner_text().startswith(f"{len(diff.changes)} changes")
    assert page.locator("table.diff tbody tr").count() == len(diff.changes)
    assert page.locator("#diff-release").inner_text().count("version: 1.0 → 2.0") == 1
    page.screenshot(path=str(ARTIFACTS / "registry-4-diff.png"), full_page=True)
    watch.assert_clean()
    page.close()


def test_hostile_records_stay_text_in_the_browser(served, browser) -> None:  # type: ignore[no-untyped-def]
    base, ids, reg = served
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    watch = Watch(page, base)
    hostile = sorted(i for k, i in ids.items() if k.startswith("hostile"))
    for n, ident in enumerate(hostile):
        page.goto(f"{base}/assessments/{ident}")
        name = reg.get(ident).subject.name
        assert page.locator("#model-name").inner_text().startswith(name.strip())
        # A javascript: link from the model card is shown as inert text, never as a link.
        assert page.locator("a[href^='javascript']").count() == 0
        if n == 0:
            page.screenshot(path=str(ARTIFACTS / "registry-5-hostile.png"), full_page=True)
    page.goto(f"{base}/diff?a={hostile[0]}&b={hostile[1]}")
    page.goto(base + "/?q=" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert page.locator("input[name=q]").input_value() == "<script>alert(1)</script>"
    page.goto(base + "/")
    watch.assert_clean()
    page.close()


def test_rebinding_and_tokens_in_a_real_browser(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Chromium resolves evil.example to 127.0.0.1 (as a DNS rebinding attack makes it): the registry
    must not answer it. With tokens configured, the browser gets in only with credentials (HTTP Basic),
    and the gateway page only with the admin token."""
    from tests.web.conftest import TOKEN

    read_token = "read-token-abcdefghijklmnop"
    (tmp_path / "read").write_text(read_token)
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    with Registry(url) as reg:
        fill(reg)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "modelwarden", "serve", "--db", url, "--port", str(port),
         "--read-token-file", str(tmp_path / "read")],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MODELWARDEN_API_TOKEN": TOKEN, "MODELWARDEN_READ_TOKEN": ""},
    )  # fmt: skip
    try:
        _wait_port(port)
        rules = [*FLAGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"]
        # A second Chromium of the same Playwright session, with the resolver rule.
        b = browser.browser_type.launch(executable_path=CHROMIUM, args=rules)
        try:
            reader = b.new_context(http_credentials={"username": "reader", "password": read_token})
            page = reader.new_page()
            rebound = page.goto(f"http://evil.example:{port}/")
            assert rebound is not None and rebound.status == 400
            assert "acme/demo-model" not in page.content()
            ok = page.goto(f"http://localhost:{port}/")
            assert ok is not None and ok.status == 200 and "acme/demo-model" in page.content()
            gateway = page.goto(f"http://localhost:{port}/gateway")
            assert gateway is not None and gateway.status == 401  # the read token is not enough
            # Without credentials (a headless browser cannot show the prompt, so ask without a page).
            denied = b.new_context().request.get(f"http://localhost:{port}/")
            assert denied.status == 401 and "acme/demo-model" not in denied.text()
            admin = b.new_context(http_credentials={"username": "operator", "password": TOKEN}).new_page()
            opened = admin.goto(f"http://localhost:{port}/gateway")
            assert opened is not None and opened.status == 200
        finally:
            b.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
