"""Attestations over the REST API and in the report's Trust panel: attached with the token, listed with
their verification, the envelope served back byte for byte; in a real Chromium, the panel shows a
verified, a failed and an unanchored attestation for what they are, and a hostile certificate subject
stays text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelwarden.registry import Registry
from modelwarden.registry.attestations import Anchor, attach, fingerprint
from tests.registry.attestation_scene import (
    HOSTILE_CN,
    HOSTILE_SAN,
    Scene,
    certificate_attestation,
    make_scene,
)
from tests.support.servers import modelwarden_serve
from tests.trust.conftest import Pki
from tests.web.conftest import TOKEN
from tests.web.test_browser import ARTIFACTS, REPO, Watch, browser  # noqa: F401 (the browser fixture)

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    return make_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory, scene: Scene) -> tuple[Pki, Path, Path]:
    return certificate_attestation(tmp_path_factory.mktemp("pki"), scene)


def _post(client: TestClient, ident: int, envelope: bytes, **extra: object) -> Any:
    return client.post(
        f"/api/v1/assessments/{ident}/attestations",
        json={"envelope": envelope.decode(), **extra},
        headers=AUTH,
    )


def test_attach_list_and_read_back_over_the_api(
    registry: Registry, make_client: Callable[..., TestClient], scene: Scene
) -> None:
    ident = registry.save(scene.assessment)
    client = make_client(token=TOKEN)
    raw = scene.attestation.read_bytes()
    url = f"/api/v1/assessments/{ident}/attestations"
    assert client.post(url, json={"envelope": raw.decode()}).status_code == 401
    assert make_client().post(url, json={"envelope": raw.decode()}, headers=AUTH).status_code == 403

    made = client.post(
        url, json={"envelope": raw.decode(), "public_key": scene.keys.public.read_text()}, headers=AUTH
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "verified"
    assert body["signer_fingerprint"] == fingerprint(scene.keys.key.public_key())
    again = client.post(url, json={"envelope": raw.decode()}, headers=AUTH)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    unanchored = client.post(url, json={"envelope": scene.second.read_text()}, headers=AUTH)
    assert unanchored.status_code == 201 and unanchored.json()["status"] == "not verified"

    listed = client.get(url)
    assert listed.status_code == 200
    assert [a["status"] for a in listed.json()] == ["verified", "not verified"]
    back = client.get(made.headers["location"])
    assert back.status_code == 200 and back.content == raw
    assert client.get("/api/v1/assessments/999999/attestations").status_code == 404
    assert client.get("/api/v1/attestations/999999/envelope").status_code == 404


def test_the_api_refuses_what_does_not_belong_or_does_not_parse(
    registry: Registry, make_client: Callable[..., TestClient], scene: Scene, tmp_path: Path
) -> None:
    from modelwarden.trust import SigningKey, attest_release
    from tests.trust.conftest import make_release

    ident = registry.save(scene.assessment)
    client = make_client(token=TOKEN)
    other = make_release(tmp_path / "other", seed=3)
    (other / "more.bin").write_bytes(b"1")
    foreign = attest_release(
        other, SigningKey(private_key=scene.keys.private), tmp_path / "f.json", assessment=scene.assessment
    )
    refused = _post(client, ident, foreign.attestation.read_bytes())
    assert refused.status_code == 422
    assert "other files" in refused.json()["error"]["message"]
    bad = _post(client, ident, b'{"payloadType": "application/vnd.in-toto+json", "payload": "%%"}')
    assert bad.status_code == 422 and "no signatures" in bad.json()["error"]["message"]
    both = _post(
        client,
        ident,
        scene.attestation.read_bytes(),
        public_key=scene.keys.public.read_text(),
        certificate_chain=[scene.keys.public.read_text()],
    )
    assert both.status_code == 422
    not_pem = _post(client, ident, scene.attestation.read_bytes(), public_key="not a key")
    assert not_pem.status_code == 422
    small = make_client(token=TOKEN, max_body_bytes=1000)
    assert _post(small, ident, scene.attestation.read_bytes()).status_code == 413
    assert client.get(f"/api/v1/assessments/{ident}/attestations").json() == []


def _three(reg: Registry, scene: Scene, certified: tuple[Pki, Path, Path]) -> int:
    """An assessment with a verified, a failed, an unanchored and a certificate-verified attestation."""
    ident = reg.save(scene.assessment)
    key = Anchor.from_files(public_key=scene.keys.public)
    attach(reg, ident, scene.attestation.read_bytes(), anchor=key)
    attach(reg, ident, scene.by_other.read_bytes(), anchor=key)
    attach(reg, ident, scene.second.read_bytes())
    pki, sig, att = certified
    chain = Anchor.from_files(certificate_chain=[pki.root])
    attach(reg, ident, att.read_bytes(), anchor=chain, signature_bundle=sig.read_bytes())
    return ident


def test_report_page_escapes_signers(
    registry: Registry,
    make_client: Callable[..., TestClient],
    scene: Scene,
    certified: tuple[Pki, Path, Path],
) -> None:
    ident = _three(registry, scene, certified)
    page = make_client().get(f"/assessments/{ident}")
    assert page.status_code == 200
    html = page.text
    assert html.count('class="attestation"') == 4
    assert "onerror=alert(1)" in html and HOSTILE_CN not in html  # escaped, never markup
    assert "&lt;img src=x onerror=alert(1)" in html
    assert HOSTILE_SAN not in html and "&lt;script&gt;alert(2)&lt;/script&gt;" in html


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, scene: Scene, certified: tuple[Pki, Path, Path]
) -> Iterator[tuple[str, int]]:
    folder = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{folder / 'registry.sqlite3'}"
    with Registry(url) as reg:
        ident = _three(reg, scene, certified)
    with modelwarden_serve(url) as base:
        yield base, ident


@pytest.mark.browser
def test_trust_panel_in_chromium(served, browser, scene: Scene) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, ident = served
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    watch = Watch(page, base)
    page.goto(f"{base}/assessments/{ident}")
    panel = page.locator("#trust")
    panel.scroll_into_view_if_needed()
    assert panel.is_visible()
    rows = panel.locator("tr.attestation")
    assert rows.count() == 4
    statuses = [rows.nth(i).locator(".att-status").inner_text() for i in range(4)]
    assert statuses == ["verified ✓", "failed ✗", "present, not verified", "verified ✓"]
    assert [rows.nth(i).get_attribute("data-status") for i in range(4)] == [
        "verified",
        "failed",
        "not verified",
        "verified",
    ]
    key = fingerprint(scene.keys.key.public_key())
    assert rows.nth(0).locator(".att-signer").inner_text() == f"key sha256:{key}"
    assert rows.nth(1).locator(".att-signer").inner_text() == "—"  # a failed check names no signer
    assert rows.nth(2).locator(".att-signer").inner_text() == "—"
    assert "never: no trust anchor given" in rows.nth(2).inner_text()
    assert "claims not verified" in rows.nth(2).inner_text()
    # The hostile certificate subject is shown as text: no element, no dialog.
    signer = rows.nth(3).locator(".att-signer").inner_text()
    assert "onerror=alert(1)" in signer and "certificate subject" in signer and HOSTILE_SAN in signer
    assert panel.locator("img").count() == 0
    assert "not a safety verdict" in panel.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / "registry-trust-panel.png"))
    watch.assert_clean()
    page.close()


def test_list_page_and_api_filter_on_verified_attestations(
    registry: Registry,
    make_client: Callable[..., TestClient],
    scene: Scene,
    certified: tuple[Pki, Path, Path],
) -> None:
    import random

    from tests.registry.factory import make_assessment

    other = registry.save(make_assessment(random.Random(5), name="acme/unattested"))
    ident = _three(registry, scene, certified)
    client = make_client()
    page = client.get("/?attested=verified")
    assert page.status_code == 200
    assert f'href="/models/{registry.summary(ident).model_id}"' in page.text
    assert "acme/unattested" not in page.text
    assert '<option value="verified" selected>' in page.text
    api = client.get("/api/v1/assessments", params={"attested": "verified"}).json()
    assert [a["id"] for a in api["items"]] == [ident]
    assert other in [a["id"] for a in client.get("/api/v1/assessments").json()["items"]]
    assert client.get("/api/v1/assessments", params={"attested": "yes"}).status_code == 422
