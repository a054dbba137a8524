"""No XSS from model names, model cards, file names, findings or legal text: every page is parsed as a
browser would and must hold no element, attribute or link that the data put there."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from modelwarden.registry import Registry
from tests.registry.factory import HOSTILE
from tests.web.conftest import fill

ALLOWED_SCHEMES = ("/", "?", "#", "http://", "https://")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_inert(html: str) -> str:
    """Assert nothing in the page can run; return its text."""
    page = Page()
    page.feed(html)
    for tag, attrs in page.tags:
        names = {name for name, _ in attrs}
        assert tag not in ("img", "iframe", "object", "embed", "base", "meta") or (
            tag == "meta"
            and names
            <= {
                "charset",
                "name",
                "content",
            }
        ), (tag, attrs)
        if tag == "script":
            assert attrs == [("src", "/static/app.js"), ("defer", None)], attrs
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name, value)
            assert name != "style", (tag, name, value)
            if name in ("href", "src", "action", "xlink:href", "formaction"):
                assert value is not None and value.startswith(ALLOWED_SCHEMES), (tag, name, value)
                assert "javascript:" not in value.lower()
    return "".join(page.text)


def test_hostile_content_is_shown_as_text_everywhere(
    registry: Registry, make_client: Callable[..., TestClient]
) -> None:
    ids = fill(registry)
    client = make_client()
    hostile = [ids[k] for k in ids if k.startswith("hostile")]
    model_ids = {registry.summary(i).model_id for i in hostile}
    urls = [
        "/",
        "/?sort=parameters",
        "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        '/?q="><svg onload=alert(1)>',
        "/?threshold=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        "/api",
        *(f"/assessments/{i}" for i in hostile),
        *(f"/models/{m}" for m in model_ids),
        f"/diff?a={hostile[0]}&b={hostile[1]}",
        f"/diff?a={ids['v1']}&b={hostile[2]}",
        "/models/%3Cscript%3E",
        "/nowhere/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ]
    shown: list[str] = []
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 400, 404, 422), (url, response.status_code)
        shown.append(check_inert(response.text))
    text = "\n".join(shown)
    # The hostile strings really were rendered (as text), so the checks above had something to catch.
    for evil in HOSTILE:
        assert evil in text, evil
    assert "javascript:alert(document.cookie)" in text  # a card link shown, not linked


def test_filter_values_are_echoed_escaped(registry: Registry, make_client: Callable[..., TestClient]) -> None:
    fill(registry)
    response = make_client().get("/", params={"q": '"><script>alert(1)</script>'})
    assert response.status_code == 200
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text
    check_inert(response.text)
