"""The REST API: reads, filters, writes behind the operator's token, and errors as clear 4xx JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from modelwarden.errors import UsageError
from modelwarden.model import Assessment
from modelwarden.registry import Registry
from modelwarden.web.auth import load_token, token_matches
from tests.registry.factory import make_assessment
from tests.web.conftest import TOKEN, fill

AUTH = {"Authorization": f"Bearer {TOKEN}"}
Make = Callable[..., TestClient]


def _error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status and body["error"]["code"] == code
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()
    return body["error"]  # type: ignore[no-any-return]


def test_reads(registry: Registry, make_client: Make) -> None:
    ids = fill(registry)
    client = make_client()
    assert client.get("/api/v1/health").json() == {"status": "ok", "version": "0.1.0", "database": "sqlite"}

    models = client.get("/api/v1/models", params={"limit": 500}).json()
    assert models["total"] == registry.models().total == len({s.name for s in registry.list(limit=500).items})
    assert all(item["is_latest"] for item in models["items"])

    filtered = client.get("/api/v1/models", params={"licence_class": "not_open", "severity": "high"}).json()
    expected = registry.models(licence_class="not_open", severity="high", limit=500)
    assert [i["id"] for i in filtered["items"]] == [s.id for s in expected.items]

    everything = client.get(
        "/api/v1/assessments", params={"sort": "recorded", "limit": 5, "offset": 2}
    ).json()
    assert everything["total"] == registry.count()
    assert [i["id"] for i in everything["items"]] == [s.id for s in registry.list(limit=5, offset=2).items]

    stored = client.get(f"/api/v1/assessments/{ids['v2']}").json()
    assert stored["id"] == ids["v2"] and stored["is_latest"] is True
    assert stored["assessment"] == json.loads(registry.get(ids["v2"]).model_dump_json(by_alias=True))

    model = client.get(f"/api/v1/models/{stored['summary']['model_id']}").json()
    assert model["name"] == "acme/demo-model"
    assert [a["id"] for a in model["assessments"]] == [ids["v2"], ids["v1"]]

    diff = client.get("/api/v1/diff", params={"a": ids["v1"], "b": ids["v2"]}).json()
    assert diff == json.loads(registry.diff(ids["v1"], ids["v2"]).model_dump_json())

    facets = client.get("/api/v1/facets").json()
    assert facets == json.loads(registry.facets().model_dump_json())


def test_bad_input_gets_clear_4xx_json(registry: Registry, make_client: Make) -> None:
    fill(registry)
    client = make_client()
    err = _error(client.get("/api/v1/assessments/0"), 422, "invalid_request")
    assert err["message"] == "path.assessment_id: Input should be greater than or equal to 1"
    err = _error(client.get("/api/v1/assessments/abc"), 404, "not_found")
    assert err["message"] == "nothing at /api/v1/assessments/abc"
    _error(client.get(f"/api/v1/assessments/{2**63}"), 422, "invalid_request")
    _error(client.get("/api/v1/assessments/987654"), 404, "not_found")
    _error(client.get("/api/v1/models/987654"), 404, "not_found")
    _error(client.get("/api/v1/diff", params={"a": 1}), 422, "invalid_request")
    _error(client.get("/api/v1/diff", params={"a": 1, "b": 987654}), 404, "not_found")
    err = _error(client.get("/api/v1/models", params={"threshold": "1e25"}), 422, "invalid_request")
    assert err["details"][0]["location"] == "query.threshold"
    _error(client.get("/api/v1/models", params={"limit": 10_000}), 422, "invalid_request")
    _error(client.get("/api/v1/models", params={"mof_class": "4"}), 422, "invalid_request")
    _error(client.get("/api/v1/models", params={"q": "a\x00b"}), 422, "invalid_request")
    _error(client.get("/api/v1/models", params={"unknown": "x"}), 422, "invalid_request")
    _error(client.get("/api/v1/nowhere"), 404, "not_found")
    _error(client.put("/api/v1/models"), 405, "method_not_allowed")
    assert client.get("/docs").status_code == 404  # no CDN-backed docs page


def test_writes_need_the_operators_token(registry: Registry, make_client: Make) -> None:
    doc = json.loads(
        make_assessment(__import__("random").Random(1), name="new/model").model_dump_json(by_alias=True)
    )
    read_only = make_client()
    _error(read_only.post("/api/v1/assessments", json=doc, headers=AUTH), 403, "writes_disabled")
    _error(read_only.delete("/api/v1/assessments/1", headers=AUTH), 403, "writes_disabled")

    client = make_client(token=TOKEN)
    missing = client.post("/api/v1/assessments", json=doc)
    _error(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    _error(
        client.post("/api/v1/assessments", json=doc, headers={"Authorization": "Bearer wrong"}),
        401,
        "unauthorized",
    )
    _error(
        client.post("/api/v1/assessments", json=doc, headers={"Authorization": f"Basic {TOKEN}"}),
        401,
        "unauthorized",
    )
    assert registry.count() == 0

    created = client.post("/api/v1/assessments", json=doc, headers=AUTH)
    assert created.status_code == 201, created.text
    ident = created.json()["id"]
    assert created.headers["location"] == f"/api/v1/assessments/{ident}" == created.json()["url"]
    assert client.get(created.headers["location"]).json()["assessment"] == doc

    _error(client.delete(f"/api/v1/assessments/{ident}"), 401, "unauthorized")
    assert client.delete(f"/api/v1/assessments/{ident}", headers=AUTH).status_code == 204
    _error(client.delete(f"/api/v1/assessments/{ident}", headers=AUTH), 404, "not_found")
    assert registry.count() == 0


def test_submitted_documents_are_validated(registry: Registry, make_client: Make) -> None:
    client = make_client(token=TOKEN)
    err = _error(
        client.post("/api/v1/assessments", json={"subject": {"name": 5}}, headers=AUTH),
        422,
        "invalid_request",
    )
    assert {d["location"] for d in err["details"]} >= {"body.subject.name", "body.as_of"}
    _error(
        client.post(
            "/api/v1/assessments", content=b"not json", headers={**AUTH, "content-type": "application/json"}
        ),
        422,
        "invalid_request",
    )
    doc = json.loads(make_assessment(__import__("random").Random(2)).model_dump_json(by_alias=True))
    as_json = {**AUTH, "content-type": "application/json"}

    def post(document: object, headers: dict[str, str] = as_json) -> object:
        raw = json.dumps(document) if not isinstance(document, str) else document
        return client.post("/api/v1/assessments", content=raw, headers=headers)

    # The documented JSON contract: classification fields flattened beside in_force are accepted.
    assert "gpai_model" in doc["regimes"]["eu_ai_act"]
    # Numbers JSON cannot hold, wrong types the model would coerce, values the registry cannot index.
    nan = json.dumps(doc).replace('"tool_version":', '"nan": NaN, "tool_version":')
    assert "NaN is not a JSON number" in _error(post(nan), 422, "invalid_request")["message"]
    wrong_date = json.loads(json.dumps(doc))
    wrong_date["as_of"] = 0  # the model would read 0 as 1970-01-01
    assert (
        _error(post(wrong_date), 422, "invalid_request")["message"] == "body.as_of: 0 is not of type 'string'"
    )
    for path, value in ((("openness", "mof", "class"), 9), (("facts", "parameters", "total"), 10**20)):
        bad = json.loads(json.dumps(doc))
        bad[path[0]][path[1]][path[2]] = value
        assert _error(post(bad), 422, "invalid_request")["details"][0]["location"] == "body." + ".".join(path)
    flattened = json.loads(json.dumps(doc))
    flattened["regimes"]["eu_ai_act"]["gpai_model"] = "perhaps"
    _error(post(flattened), 422, "invalid_request")
    # Text that is not Unicode (a lone surrogate, as a non-UTF-8 file name would decode to).
    surrogate = json.dumps(doc).replace('"tool_version": "', '"tool_version": "\\udcff', 1)
    assert "not valid Unicode" in _error(post(surrogate), 422, "invalid_assessment")["message"]
    _error(post(doc, headers={**AUTH, "content-type": "text/plain"}), 415, "unsupported_media_type")
    assert registry.count() == 0
    created = post(doc)
    assert created.status_code == 201, created.text  # type: ignore[attr-defined]
    assert registry.get(created.json()["id"]) == Assessment.model_validate(doc)  # type: ignore[attr-defined]


def test_request_body_size_is_bounded(registry: Registry, make_client: Make) -> None:
    client = make_client(token=TOKEN, max_body_bytes=10_000)
    big = b'{"x": "' + b"a" * 20_000 + b'"}'
    response = client.post(
        "/api/v1/assessments", content=big, headers={**AUTH, "content-type": "application/json"}
    )
    _error(response, 413, "too_large")

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"x": "'
        for _ in range(30):
            yield b"a" * 1000
        yield b'"}'

    # No Content-Length: the body is cut off while it streams in.
    streamed = client.post(
        "/api/v1/assessments", content=chunks(), headers={**AUTH, "content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    _error(streamed, 413, "too_large")


def test_submit_by_path_is_confined_to_allowed_folders(
    registry: Registry, make_client: Make, tmp_path: Path, minilm_dir: Path
) -> None:
    disabled = make_client(token=TOKEN)
    _error(
        disabled.post("/api/v1/assessments/from-path", json={"path": str(minilm_dir)}, headers=AUTH),
        403,
        "submit_disabled",
    )

    allowed = tmp_path / "models"
    (allowed / "m").mkdir(parents=True)
    (allowed / "escape").symlink_to(minilm_dir)
    client = make_client(token=TOKEN, submit_roots=(allowed.resolve(),))
    post = lambda body: client.post("/api/v1/assessments/from-path", json=body, headers=AUTH)  # noqa: E731
    _error(post({"path": "relative/dir"}), 422, "invalid_request")
    _error(post({"path": str(minilm_dir)}), 403, "path_not_allowed")
    _error(post({"path": str(allowed / "escape")}), 403, "path_not_allowed")  # a symlink out is still out
    _error(post({"path": str(allowed / "missing")}), 404, "not_found")
    _error(post({"path": str(allowed / "m"), "manifest": "/etc/passwd"}), 403, "path_not_allowed")
    _error(post({"path": str(allowed / "m"), "extra": 1}), 422, "invalid_request")
    _error(
        client.post("/api/v1/assessments/from-path", json={"path": str(allowed / "m")}), 401, "unauthorized"
    )


def test_submit_by_path_runs_the_real_assess_stage(
    registry: Registry, make_client: Make, tmp_path: Path
) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    model = tmp_path / "models" / "tiny"
    model.mkdir(parents=True)
    save_file({"w": np.zeros((4, 4), np.float32)}, str(model / "model.safetensors"))
    (model / "README.md").write_text("---\nlicense: mit\n---\n# tiny\n")
    (model / "modelwarden.yaml").write_text("model: {name: tiny-submitted}\ntraining: {tokens: 1.0e9}\n")
    client = make_client(token=TOKEN, submit_roots=((tmp_path / "models").resolve(),))
    done = client.post(
        "/api/v1/assessments/from-path", json={"path": str(model), "as_of": "2026-11-22"}, headers=AUTH
    )
    assert done.status_code == 201, done.text
    stored = registry.get(done.json()["id"])
    assert stored.subject.name == "tiny-submitted" and stored.as_of.isoformat() == "2026-11-22"
    assert stored.compute.training_flop is not None and "eu_ai_act" in stored.regimes
    (model / "modelwarden.yaml").write_text("training: {tokens: -1}\n")
    _error(
        client.post("/api/v1/assessments/from-path", json={"path": str(model)}, headers=AUTH),
        422,
        "unprocessable",
    )


def test_security_headers_everywhere(registry: Registry, make_client: Make) -> None:
    fill(registry)
    client = make_client()
    for url in ("/", "/api/v1/models", "/static/style.css", "/api/v1/nowhere", "/models/99999"):
        headers = client.get(url).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_failures_never_reach_the_client_as_traces(registry: Registry, make_client: Make, caplog) -> None:  # type: ignore[no-untyped-def]
    fill(registry)
    client = make_client()

    @client.app.get("/api/v1/boom")  # type: ignore[attr-defined]
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    err = _error(client.get("/api/v1/boom"), 500, "internal_error")
    assert "secret" not in json.dumps(err)
    assert "secret internal detail" in caplog.text  # the operator's log has it

    with registry.engine.begin() as conn:
        conn.execute(text("DROP TABLE registry_duties"))
    err = _error(client.get("/api/v1/models", params={"duty": "eu_ai_act"}), 503, "registry_unavailable")
    assert "sqlite" not in err["message"] and str(registry.engine.url.database) not in json.dumps(err)
    page = client.get("/", params={"duty": "eu_ai_act"})
    assert page.status_code == 503 and "registry database is unavailable" in page.text
    assert "Traceback" not in page.text


def test_openapi_document(make_client: Make) -> None:
    schema = make_client().get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "modelwarden registry"
    paths = schema["paths"]
    assert set(paths) == {
        "/api/v1/health",
        "/api/v1/models",
        "/api/v1/models/{model_id}",
        "/api/v1/assessments",
        "/api/v1/assessments/{assessment_id}",
        "/api/v1/assessments/{assessment_id}/files",
        "/api/v1/assessments/from-path",
        "/api/v1/diff",
        "/api/v1/facets",
        "/api/v1/hub",
        "/api/v1/assessments/{assessment_id}/attestations",
        "/api/v1/attestations/{attestation_id}/envelope",
    }
    assert paths["/api/v1/assessments"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in paths["/api/v1/assessments"]["get"]
    assert paths["/api/v1/models"]["get"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    threshold = next(p for p in paths["/api/v1/models"]["get"]["parameters"] if p["name"] == "threshold")
    assert "1e25" in json.dumps(threshold["schema"])


def test_token_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELWARDEN_API_TOKEN", raising=False)
    assert load_token(None) is None
    monkeypatch.setenv("MODELWARDEN_API_TOKEN", "short")
    with pytest.raises(UsageError, match="too short"):
        load_token(None)
    monkeypatch.setenv("MODELWARDEN_API_TOKEN", TOKEN)
    assert load_token(None) == TOKEN
    path = tmp_path / "token"
    path.write_text(f"  {TOKEN}\n")
    assert load_token(path) == TOKEN
    path.write_text("ünïcode-token-that-is-long")
    with pytest.raises(UsageError, match="printable ASCII"):
        load_token(path)
    with pytest.raises(UsageError, match="cannot read the API token"):
        load_token(tmp_path / "missing")
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN + "x", TOKEN) and not token_matches("", TOKEN)
    assert not token_matches("\udcff", TOKEN)


@pytest.mark.postgres
def test_api_on_postgresql(postgres_url: str) -> None:
    from modelwarden.web import create_app
    from tests.registry.support import fresh_postgres_database

    with fresh_postgres_database(postgres_url) as url:
        reg = Registry(url)
        ids = fill(reg)
        with TestClient(create_app(reg), base_url="http://localhost") as client:
            assert client.get("/api/v1/health").json()["database"] == "postgresql"
            page = client.get("/api/v1/models", params={"q": "DEMO"}).json()
            assert [i["id"] for i in page["items"]] == [ids["v2"]]
            assert client.get("/api/v1/diff", params={"a": ids["v1"], "b": ids["v2"]}).status_code == 200
            assert client.get("/").status_code == 200
        reg.close()
