"""The admin API answers each kind of library error with its own status (docs/gateway.md "Admin API
errors"): 404 for a missing identity, key, review or incident, 409 for a clash with the current state,
422 for bad input, 500 with a safe message for the operator's misconfiguration. Through the real
gateway application (its startup, store and SQLite database), in process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelwarden.errors import (
    ConfigurationError,
    GatewayConflict,
    GatewayError,
    GatewayInvalid,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayUnavailable,
    ModelwardenError,
)
from modelwarden.gateway.app import CONFIGURATION_MESSAGE, admin_error_response, create_app
from modelwarden.gateway.config import load_config

from .harness import Deployment


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    # No request goes upstream here: the admin API alone is exercised.
    dep = Deployment.create(tmp_path_factory.mktemp("gw") / "d", "http://127.0.0.1:9")
    with TestClient(create_app(load_config(dep.config_path)), base_url="http://localhost") as client:
        yield client, {"authorization": f"Bearer {dep.admin_token}"}


def _error(r: Any, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()["error"]
    assert body["type"] == kind, body
    return body


def test_no_such_identity_is_404(admin: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = admin
    body = _error(client.get("/admin/identities/nobody", headers=auth), 404, "not_found")
    assert "no identity 'nobody'" in body["message"]
    assert "modelwarden" not in body["message"] + body["next_step"]  # no CLI command in the library text
    _error(
        client.post("/admin/identities/nobody/suspend", json={"reason": "x"}, headers=auth), 404, "not_found"
    )
    _error(client.post("/admin/keys", json={"identity": "nobody"}, headers=auth), 404, "not_found")


def test_no_such_key_review_or_incident_is_404(admin: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = admin
    _error(client.post("/admin/keys/mw_nokey/revoke", json={"reason": "x"}, headers=auth), 404, "not_found")
    _error(client.post("/admin/reviews/999999", json={"approve": True}, headers=auth), 404, "not_found")
    _error(client.get("/admin/incidents/inc_none/bundle", headers=auth), 404, "not_found")


def test_a_duplicate_name_and_a_revoked_key_are_409(admin: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = admin
    assert client.post("/admin/identities", json={"name": "dup"}, headers=auth).status_code == 201
    body = _error(client.post("/admin/identities", json={"name": "dup"}, headers=auth), 409, "conflict")
    assert "already exists" in body["message"]
    key = client.post("/admin/keys", json={"identity": "dup"}, headers=auth).json()
    assert (
        client.post(f"/admin/keys/{key['id']}/revoke", json={"reason": "x"}, headers=auth).status_code == 200
    )
    _error(client.post(f"/admin/keys/{key['id']}/rotate", json={}, headers=auth), 409, "conflict")


def test_bad_values_are_422(admin: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = admin
    body = _error(
        client.post("/admin/identities", json={"name": "t", "tier": "gold"}, headers=auth),
        422,
        "invalid_request_error",
    )
    assert "unknown tier 'gold'" in body["message"]
    assert client.post("/admin/identities", json={"name": "v"}, headers=auth).status_code == 201
    body = _error(
        client.post("/admin/identities/v/verification", json={"state": "verified"}, headers=auth),
        422,
        "invalid_request_error",
    )
    assert "evidence" in body["message"] and body["next_step"]
    # A body FastAPI itself refuses answers 422 too: one status for bad input, whoever finds it.
    assert client.post("/admin/identities", json={"name": ""}, headers=auth).status_code == 422


def test_configuration_and_unavailable_errors_hide_the_details() -> None:
    secret_path = "/etc/private/gateway-signing.key"
    r = admin_error_response(GatewayMisconfigured("not a PEM private key", path=secret_path))
    assert r.status_code == 500
    assert secret_path.encode() not in r.body and CONFIGURATION_MESSAGE.encode() in r.body
    r = admin_error_response(GatewayUnavailable("cannot open the database at postgresql://u@db/x"))
    assert r.status_code == 503 and b"postgresql" not in r.body
    r = admin_error_response(GatewayError("a defect: no kind"))
    assert r.status_code == 500 and b"defect" not in r.body


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (GatewayNotFound("x"), 404),
        (GatewayConflict("x"), 409),
        (GatewayInvalid("x"), 422),
        (GatewayMisconfigured("x"), 500),
        (GatewayUnavailable("x"), 503),
    ],
)
def test_every_gateway_kind_has_its_status(error: ModelwardenError, status: int) -> None:
    assert isinstance(error, GatewayError)  # `except GatewayError` still catches every one
    assert admin_error_response(error).status_code == status
    assert isinstance(error, ConfigurationError) == (status == 500)
