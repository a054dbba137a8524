"""Who can reach what: Host header check (DNS rebinding), read token, admin-only gateway page,
`serve` refusing to listen beyond loopback unprotected, malformed queries, and the security headers on
every answer, errors and 500s included."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelwarden.registry import Registry
from modelwarden.web.access import LOCAL_HOSTS, host_allowed, host_name
from tests.support.servers import _wait_port, free_port
from tests.web.conftest import TOKEN, fill
from tests.web.test_api import AUTH, Make, _error

READ = "read-token-abcdefghijklmnop"
REPO = Path(__file__).resolve().parents[2]


def _basic(token: str, user: str = "anyone") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def _has_security_headers(response: httpx.Response) -> None:
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


FORGED = [
    "evil.example",
    "evil.example:8000",
    "localhost.evil.example",
    "127.0.0.1.nip.io",
    "attacker.localhost.evil",
    "",
    "local host",
    "[::1",
    "localhost:80x",
]


@pytest.mark.parametrize("host", FORGED)
def test_a_forged_host_is_refused_everywhere(registry: Registry, make_client: Make, host: str) -> None:
    """DNS rebinding: a page on evil.example re-points its name to 127.0.0.1; the browser then sends
    `Host: evil.example`, which the server must not answer."""
    fill(registry)
    client = make_client(token=TOKEN)
    for url in ("/", "/api/v1/models", "/api/v1/health", "/static/style.css", "/nowhere", "/gateway"):
        response = client.get(url, headers={"host": host})
        assert response.status_code == 400, (url, response.status_code)
        assert "acme/demo-model" not in response.text
        _has_security_headers(response)
    _error(client.get("/api/v1/models", headers={"host": host}), 400, "host_not_allowed")


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "localhost:8000", "127.0.0.1:9", "[::1]:8000"])
def test_localhost_names_are_answered_by_default(registry: Registry, make_client: Make, host: str) -> None:
    fill(registry)
    response = make_client().get("/api/v1/models", headers={"host": host})
    assert response.status_code == 200 and response.json()["total"] > 0


def test_allowed_hosts_are_configurable(registry: Registry, make_client: Make) -> None:
    client = make_client(allowed_hosts=("registry.example.org", "*.corp.example"))
    assert client.get("/api/v1/health", headers={"host": "registry.example.org"}).status_code == 200
    assert client.get("/api/v1/health", headers={"host": "a.b.corp.example:443"}).status_code == 200
    assert client.get("/api/v1/health", headers={"host": "corp.example.evil"}).status_code == 400
    assert client.get("/api/v1/health", headers={"host": "xcorp.example"}).status_code == 400


def test_a_read_token_guards_every_read(registry: Registry, make_client: Make) -> None:
    ids = fill(registry)
    client = make_client(token=TOKEN, read_token=READ)
    one = ids["v1"]
    for url in ("/", f"/assessments/{one}", "/api/v1/models", f"/api/v1/assessments/{one}", "/api"):
        anonymous = client.get(url)
        assert anonymous.status_code == 401, url
        assert anonymous.headers["www-authenticate"].startswith("Basic realm=")  # the browser asks
        assert "acme/demo-model" not in anonymous.text
        _has_security_headers(anonymous)
        assert client.get(url, headers=_basic("wrong-token-0123456789")).status_code == 401
        for good in ({"Authorization": f"Bearer {READ}"}, _basic(READ), AUTH, _basic(TOKEN)):
            assert client.get(url, headers=good).status_code == 200, (url, good)
    assert client.get("/static/style.css").status_code == 200  # the styles hold nothing private
    _error(client.get("/api/v1/models"), 401, "unauthorized")


def test_the_gateway_page_always_needs_the_admin_token(registry: Registry, make_client: Make) -> None:
    """It lists identities, key ids, blocked requests and the review queue."""
    # No admin token configured: nobody can open it, not even from localhost.
    open_server = make_client()
    for url in ("/gateway", "/gateway.json"):
        assert open_server.get(url).status_code == 403
    # An admin token configured: it alone opens the page (Bearer, or Basic from a browser).
    client = make_client(token=TOKEN, read_token=READ)
    for url in ("/gateway", "/gateway.json"):
        assert client.get(url).status_code == 401
        assert client.get(url, headers={"Authorization": f"Bearer {READ}"}).status_code == 401
        assert client.get(url, headers=_basic(READ)).status_code == 401
        denied = client.get(url, headers=_basic("not-the-token-0123456789"))
        assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Basic")
        assert client.get(url, headers=AUTH).status_code == 200
        assert client.get(url, headers=_basic(TOKEN)).status_code == 200


def test_writes_need_the_admin_token_as_bearer_never_basic(registry: Registry, make_client: Make) -> None:
    """A browser re-sends Basic credentials on its own, even for a cross-site form: they must not write."""
    ids = fill(registry)
    client = make_client(token=TOKEN)
    _error(client.delete(f"/api/v1/assessments/{ids['v1']}", headers=_basic(TOKEN)), 401, "unauthorized")
    _error(
        client.delete(f"/api/v1/assessments/{ids['v1']}", headers={"Authorization": f"Bearer {READ}"}),
        401,
        "unauthorized",
    )
    assert client.delete(f"/api/v1/assessments/{ids['v1']}", headers=AUTH).status_code == 204


MALFORMED = [
    "/?page=²",
    "/?page=١",
    "/?page=%F0%9F%98%80",
    "/?page=-1",
    "/?page=99999999999999999999999999",
    "/?page=%00",
    "/?sort=%00&page=1",
    "/?q=%ff%fe",
    "/?q=a%00b",
    "/?licence_class=%C0%AF",
    "/?threshold=1e25:%E2%80%AE",
    "/?mof_class=²",
    "/?page=1&page=²",
    "/diff?a=²&b=1",
    "/diff?a=1&b=%ff",
    "/diff?a=",
    "/api/v1/models?limit=²",
    "/api/v1/models?offset=%ff",
    "/api/v1/assessments?sort=%00",
    "/api/v1/diff?a=²&b=1",
    "/api/v1/models?q=" + "x" * 5000,
]


def test_malformed_queries_get_a_400_not_a_500(registry: Registry, make_client: Make) -> None:
    fill(registry)
    client = make_client()
    for url in MALFORMED:
        response = client.get(url)
        assert 400 <= response.status_code < 500, (url, response.status_code)
        assert "Traceback" not in response.text
        _has_security_headers(response)
    assert client.get("/?page=²").status_code == 400


def test_security_headers_on_internal_errors(registry: Registry, make_client: Make) -> None:
    fill(registry)
    client = make_client()

    @client.app.get("/api/v1/boom")  # type: ignore[attr-defined,untyped-decorator]
    def api_boom() -> None:
        raise RuntimeError("internal")

    @client.app.get("/boom")  # type: ignore[attr-defined,untyped-decorator]
    def page_boom() -> None:
        raise ZeroDivisionError("internal")

    for url in ("/api/v1/boom", "/boom"):
        response = client.get(url)
        assert response.status_code == 500
        _has_security_headers(response)
    for status_url in ("/api/v1/nowhere", "/nowhere", "/api/v1/assessments/999999"):
        _has_security_headers(client.get(status_url))
    _has_security_headers(client.post("/api/v1/health"))  # 405


# `modelwarden serve` as a real process.


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modelwarden", "serve", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MODELWARDEN_API_TOKEN": "", "MODELWARDEN_READ_TOKEN": "", **(env or {})},
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    with Registry(url) as reg:
        fill(reg)
    yield url


def _stop(server: subprocess.Popen[str]) -> str:
    server.terminate()
    try:
        _, stderr = server.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        _, stderr = server.communicate()
    return stderr


def test_serve_refuses_to_listen_beyond_loopback_unprotected(db: str) -> None:
    for host in ("0.0.0.0", "::"):
        server = _serve("--db", db, "--host", host, "--port", str(free_port()))
        try:
            _, stderr = server.communicate(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
        assert server.returncode == 2, stderr
        assert "refusing to listen" in stderr and "--read-token-file" in stderr and "--public" in stderr
        assert "Traceback" not in stderr


def test_serve_with_a_read_token_beyond_loopback(db: str, tmp_path: Path) -> None:
    token_file = tmp_path / "read-token"
    token_file.write_text(READ + "\n")
    port = free_port()
    server = _serve(
        "--db", db, "--host", "0.0.0.0", "--port", str(port), "--read-token-file", str(token_file),
        "--allowed-host", "registry.example.org",
    )  # fmt: skip
    try:
        _wait_port(port)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/api/v1/models").status_code == 401
        good = httpx.get(f"{base}/api/v1/models", headers={"Authorization": f"Bearer {READ}"})
        assert good.status_code == 200 and good.json()["total"] > 0
        as_named = {"host": "registry.example.org", "Authorization": f"Bearer {READ}"}
        named = httpx.get(f"{base}/api/v1/health", headers=as_named)
        assert named.status_code == 200
        forged = httpx.get(f"{base}/", headers={"host": "evil.example", "Authorization": f"Bearer {READ}"})
        assert forged.status_code == 400
        _has_security_headers(forged)
        assert httpx.get(f"{base}/gateway", headers={"Authorization": f"Bearer {READ}"}).status_code == 403
    finally:
        stderr = _stop(server)
    assert "reads need the read token" in stderr


def test_serve_public_is_loud(db: str) -> None:
    port = free_port()
    server = _serve("--db", db, "--host", "0.0.0.0", "--port", str(port), "--public")
    try:
        _wait_port(port)
        time.sleep(0.2)
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/models")
        assert response.status_code == 200 and response.json()["total"] > 0
        assert httpx.get(f"http://127.0.0.1:{port}/gateway").status_code == 403  # never public
    finally:
        stderr = _stop(server)
    assert "WARNING: PUBLIC REGISTRY" in stderr


def test_serve_token_combinations_that_make_no_sense_are_refused(db: str, tmp_path: Path) -> None:
    same = tmp_path / "token"
    same.write_text(TOKEN)
    for args, message in (
        (["--read-token-file", str(same), "--token-file", str(same)], "must differ"),
        (["--read-token-file", str(same), "--public"], "cannot be combined"),
        (["--allowed-host", "http://evil.example/"], "not a host name"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "modelwarden", "serve", "--db", db, "--port", str(free_port()), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "MODELWARDEN_API_TOKEN": "", "MODELWARDEN_READ_TOKEN": ""},
        )
        assert done.returncode == 2 and message in done.stderr, done.stderr


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=80))
def test_any_host_header_is_parsed_without_failing(header: str) -> None:
    name = host_name(header)
    if name is not None:
        assert name == name.lower() and name.isascii() and "/" not in name and " " not in name
        # Only the localhost names pass the default check, whatever the header looked like.
        if host_allowed(name, LOCAL_HOSTS):
            assert name in LOCAL_HOSTS


def test_non_ascii_hosts_are_refused_before_case_folding() -> None:
    assert host_name("\u212aernel.org") is None  # KELVIN SIGN lower-cases to an ASCII "k"
    assert host_name("LOCALHOST:8000") == "localhost"
