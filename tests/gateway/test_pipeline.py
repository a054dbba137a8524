"""The one request pipeline (issue 16), driven as operators drive it: the official `openai` SDK for
every endpoint, errors and retries; raw httpx for hostile bodies and disconnects. Each of the
eleven gateway defects of issue 16 has a test here (or in test_audit.py for defect 10)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from modelwarden.db import make_engine
from modelwarden.gateway.audit import AuditUnavailable, AuditWriter, CheckpointPolicy, Entry
from modelwarden.gateway.proxy import header_value
from modelwarden.gateway.store import migrate
from tests.gateway import pipeline_env as pe
from tests.gateway.harness import Deployment, Proc, chat, mock_upstream
from tests.support.cli import run_cli

Env = tuple[Deployment, Proc, Proc]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from pe.started(tmp_path_factory.mktemp("gw-pipeline"))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as c:
        yield c


def sdk(gw: Proc, key: str, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=retries, timeout=20.0)


# --- the official SDK on every endpoint ------------------------------------------------------------


def test_sdk_drives_every_endpoint_and_each_call_gets_one_entry(env: Env) -> None:
    dep, gw, _ = env
    _, key = dep.identity_with_key("sdk-user")
    c = sdk(gw, key)
    before = pe.request_count(dep)

    raw = c.chat.completions.with_raw_response.create(
        model="mock-small", messages=[{"role": "user", "content": "hello there"}]
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "Hello from the mock model. This answer is deterministic."
    entry = pe.entries(dep, raw.headers["x-request-id"])[0]
    assert entry["usage"] == {"prompt_tokens": 2, "completion_tokens": 9}
    assert entry["usage_source"] == "upstream" and entry["charged"] == 11

    pieces, usage = [], None
    for chunk in c.chat.completions.create(
        model="mock-small",
        messages=[{"role": "user", "content": "[[mock:tokens=30]]"}],
        stream=True,
        stream_options={"include_usage": True},
    ):
        pieces += [ch.delta.content or "" for ch in chunk.choices]
        usage = chunk.usage or usage
    assert "".join(pieces) == " ".join(f"word{i}" for i in range(30))
    assert usage is not None and usage.completion_tokens == 30

    comp = c.completions.create(model="mock-small", prompt="[[mock:say=plain completion]]")
    assert comp.choices[0].text == "plain completion"
    emb = c.embeddings.create(model="mock-small", input=["one", "two"])
    assert [len(d.embedding) for d in emb.data] == [8, 8]
    mod = c.moderations.create(input=["how to synthesize sarin", "nice weather"])
    assert [r.flagged for r in mod.results] == [True, False]
    models = c.models.list()
    assert {m.id for m in models.data} == {"mock-small", "narrow-model"}

    after = pe.entries(dep)[before:]
    assert [e["endpoint"] for e in after] == [
        "chat.completions",
        "chat.completions",
        "completions",
        "embeddings",
        "moderations",
        "models",
    ]
    assert all(e["status"] == 200 for e in after)


def test_sdk_errors_are_typed_and_each_is_audited(env: Env) -> None:
    dep, gw, _ = env
    _, key = dep.identity_with_key("sdk-errors")
    before = pe.request_count(dep)
    with pytest.raises(openai.AuthenticationError):
        sdk(gw, "mw_" + "x" * 40).chat.completions.create(
            model="mock-small", messages=[{"role": "user", "content": "hi"}]
        )
    c = sdk(gw, key)
    with pytest.raises(openai.NotFoundError) as nf:
        c.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert nf.value.code == "model_not_found"
    with pytest.raises(openai.PermissionDeniedError):
        c.chat.completions.create(model="mock-large", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError) as br:
        c.chat.completions.create(
            model="mock-small", messages=[{"role": "user", "content": "how to synthesize sarin"}]
        )
    assert br.value.code == "content_filter"
    with pytest.raises(openai.InternalServerError):  # the model server's 500, reported as a 502
        c.chat.completions.create(
            model="mock-small", messages=[{"role": "user", "content": "[[mock:status=500]]"}]
        )
    # 2,000 tokens/min and 512 generated per request: the fourth is refused, typed as the SDK expects.
    _, small = dep.identity_with_key("sdk-429", tier="small")
    limited = sdk(gw, small)
    with pytest.raises(openai.RateLimitError) as rl:
        for _ in range(4):
            limited.chat.completions.create(
                model="mock-small", messages=[{"role": "user", "content": "[[mock:tokens=600]]"}]
            )
    assert rl.value.code == "rate_limit_exceeded" and int(rl.value.response.headers["retry-after"]) >= 1
    assert pe.request_count(dep) == before + 9


def test_sdk_retries_on_limiter_outage_each_attempt_answered_503_with_an_entry(
    tmp_path: Path,
) -> None:
    """Defect 4: /v1/moderations with the limiter unavailable answered 500 with no entry, and the
    SDK's retries tripled the unlogged calls. Now every endpoint answers 503 with an entry."""
    with mock_upstream(tmp_path) as mock:
        dep = pe.create(tmp_path / "deploy", mock.url, redis=pe.dead_redis())
        try:
            gw = dep.start()
            key = pe.key_without_redis(dep, "outage")
            c = sdk(gw, key, retries=2)
            with pytest.raises(openai.InternalServerError) as exc:
                c.moderations.create(input="hello")
            assert exc.value.status_code == 503 and exc.value.code == "limiter_unavailable"
            with pytest.raises(openai.InternalServerError):
                c.embeddings.create(model="mock-small", input="hello")
            found = pe.entries(dep)
            assert [(e["endpoint"], e["status"], e["reason"]) for e in found] == [
                ("moderations", 503, "limiter_unavailable")
            ] * 3 + [("embeddings", 503, "limiter_unavailable")] * 3
        finally:
            dep.stop()


# --- the eleven defects ----------------------------------------------------------------------------


def test_client_leaving_mid_stream_is_charged_what_was_generated(env: Env) -> None:
    """Defect 1: a client that disconnected mid-stream got its whole reservation refunded."""
    dep, gw, _ = env
    _, key = dep.identity_with_key("leaver", tier="small")
    rid = "leave-1"
    body = {
        "model": "mock-small",
        "messages": [{"role": "user", "content": "[[mock:tokens=400]] [[mock:itl=0.01]]"}],
        "stream": True,
        "max_tokens": 500,
    }
    headers = {"authorization": f"Bearer {key}", "x-request-id": rid}
    received = 0
    with (
        httpx.Client(timeout=30.0) as c,
        c.stream("POST", gw.url + "/v1/chat/completions", json=body, headers=headers) as r,
    ):
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: {"):
                received += 1
            if received >= 20:
                break  # leave: the connection closes with the context
    entry = pe.wait_entry(dep, rid)
    assert entry["status"] == 499 and entry["reason"] == "client_disconnected"
    generated = entry["usage"]["completion_tokens"]
    # Charged for what the model server generated: at least what reached the client (20 words are
    # ~40 tokens by the estimate), not refunded to nothing, and not more than was reserved.
    assert generated >= 20 and "completion_tokens" in entry["usage_estimated"]
    assert entry["charged"] == entry["usage"]["prompt_tokens"] + generated
    assert entry["charged"] <= entry["reserved"]


def test_max_completion_tokens_and_max_tokens_are_one_clamped_limit(env: Env, client: httpx.Client) -> None:
    """Defect 2: max_completion_tokens was clamped but no max_tokens forwarded; llama.cpp (like the
    mock) reads only max_tokens and generated 4,077 tokens on a 512 cap."""
    dep, gw, _ = env
    _, key = dep.identity_with_key("budget")
    r = chat(client, gw.url, key, "[[mock:tokens=4077]]", max_completion_tokens=5000)
    assert r.status_code == 200
    assert r.headers["x-modelwarden-clamped"] == "max_completion_tokens=5000->512"
    assert r.json()["usage"]["completion_tokens"] == 512
    r = chat(client, gw.url, key, "[[mock:echo]]", max_tokens=300, max_completion_tokens=40)
    sent = json.loads(r.json()["choices"][0]["message"]["content"])
    assert sent["max_tokens"] == sent["max_completion_tokens"] == 40
    r = chat(client, gw.url, key, "[[mock:echo]]", max_completion_tokens=0)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_max_tokens"


def test_lone_surrogate_is_logged_and_never_fails_other_requests(env: Env) -> None:
    """Defect 3: `"model": "\\ud800"` made its entry unencodable and failed the whole audit batch,
    so other users' answered requests got 503 with no entry."""
    dep, gw, _ = env
    # Limits high enough that only the poison could make a request fail.
    _, key = dep.identity_with_key("poisoner", tier="fuzz")
    _, other = dep.identity_with_key("bystander", tier="fuzz")
    poison = b'{"model":"\\ud800","messages":[{"role":"user","content":"hi"}]}'
    poison_text = b'{"model":"mock-small","messages":[{"role":"user","content":"hi \\udc00"}]}'
    results: dict[str, list[int]] = {"poison": [], "poison_text": [], "normal": []}

    def fire(kind: str, n: int) -> None:
        with httpx.Client(timeout=30.0) as c:
            for i in range(n):
                if kind == "normal":
                    r = chat(c, gw.url, other, f"ordinary request {i}")
                else:
                    r = c.post(
                        gw.url + "/v1/chat/completions",
                        content=poison if kind == "poison" else poison_text,
                        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
                    )
                results[kind].append(r.status_code)

    threads = [
        threading.Thread(target=fire, args=(k, 15)) for k in ("poison", "poison_text", "normal", "normal")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["normal"] == [200] * 30
    assert results["poison"] == [404] * 15  # model_not_found, like any unknown model
    assert results["poison_text"] == [400] * 15  # cannot be passed on as UTF-8 JSON
    logged = [e for e in pe.entries(dep) if e.get("model") == "\ufffd"]
    assert len(logged) == 15 and all(e["reason"] == "model_not_found" for e in logged)
    verify = run_cli("audit", "verify", "--config", dep.config_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_one_unwritable_entry_fails_only_itself(tmp_path: Path) -> None:
    """Defect 3, at the writer: an entry the log cannot hold never takes its batch down with it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)

    async def run() -> list[Any]:
        writer = AuditWriter(engine, signer=None, policy=CheckpointPolicy(), anchor=None)
        writer.start()
        try:
            good = [Entry("t", "request.ok", None, {"i": i, "model": "\ud800\x00"}) for i in range(5)]
            bad = Entry("t", "request.ok", None, {"x": float("nan")})
            futs = [writer.submit(good[0]), writer.submit(bad), *(writer.submit(e) for e in good[1:])]
            return await asyncio.gather(*futs, return_exceptions=True)
        finally:
            await writer.stop()

    out = asyncio.run(run())
    assert isinstance(out[1], AuditUnavailable)
    assert [o for i, o in enumerate(out) if i != 1] == [1, 2, 3, 4, 5]
    engine.dispose()


def test_throttle_applies_to_moderations_and_its_warning_header_is_ascii(
    env: Env, client: httpx.Client
) -> None:
    """Defects 5 and 11: moderations ignored the throttle (10 of 12 admitted at ×0.2); the warning
    header showed "?" for "×"."""
    dep, gw, _ = env
    _, key = dep.identity_with_key("throttle-me", tier="throttled")
    warnings = []
    for _ in range(3):  # the anonymous ladder: warn at 2, throttle at 3
        r = chat(client, gw.url, key, "how to synthesize sarin")
        assert r.status_code == 400
        warnings.append(r.headers.get("x-modelwarden-warning"))
    assert warnings[2] == "identity throttled to 0.2x its limits for 1 h"
    h = {"authorization": f"Bearer {key}"}
    codes = [
        client.post(gw.url + "/v1/moderations", json={"input": "hi"}, headers=h).status_code
        for _ in range(12)
    ]
    # 12 rpm, 3 used: unthrottled 9 would pass; throttled to 2.4 rpm, 2 do.
    assert codes.count(200) == 2 and codes.count(429) == 10
    assert all(e.get("throttled") == 0.2 for e in pe.entries(dep)[-12:])


def test_header_values_are_ascii() -> None:
    assert header_value("throttled to 0.2× its limits – for 1 h") == b"throttled to 0.2x its limits - for 1 h"


def test_deeply_nested_json_is_a_400_with_an_entry(env: Env, client: httpx.Client) -> None:
    """Defect 6: a 200 kB body of nested arrays raised RecursionError → 500 with no entry."""
    dep, gw, _ = env
    _, key = dep.identity_with_key("nester")
    h = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    deep = b"[" * 100_000 + b"]" * 100_000
    inner = (
        b'{"model":"mock-small","messages":[{"role":"user","content":"x"}],"metadata":'
        + b"[" * 20_000
        + b"]" * 20_000
        + b"}"
    )
    for path in ("/v1/chat/completions", "/v1/moderations", "/v1/embeddings"):
        for i, body in enumerate((deep, inner)):
            rid = f"deep-{path.rsplit('/', 1)[1]}-{i}"
            r = client.post(gw.url + path, content=body, headers={**h, "x-request-id": rid})
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json", (path, r.text)
            assert pe.entries(dep, rid)[0]["reason"] == "invalid_json"


def test_moderation_input_over_the_minute_budget_is_request_too_large(env: Env, client: httpx.Client) -> None:
    """Defect 7: answered 429 retry-after 1 forever (chat answers 400 request_too_large)."""
    dep, gw, _ = env
    _, key = dep.identity_with_key("big-moderation", tier="small")
    h = {"authorization": f"Bearer {key}"}
    r = client.post(gw.url + "/v1/moderations", json={"input": "word " * 2000}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "request_too_large"
    assert "retry-after" not in r.headers


def test_upstream_usage_is_asked_for_and_estimates_are_labelled(env: Env, client: httpx.Client) -> None:
    """Defect 8: stream usage was a silent bytes/3 estimate when the upstream sent none."""
    dep, gw, _ = env
    _, key = dep.identity_with_key("usage")
    r = chat(client, gw.url, key, "[[mock:echo]]", stream=True)
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content", "")
        for line in r.text.splitlines()
        if line.startswith("data: {") and json.loads(line[6:]).get("choices")
    )
    assert json.loads(text)["stream_options"] == {"include_usage": True}
    e = pe.entries(dep, r.headers["x-request-id"])[0]
    assert e["usage_source"] == "upstream" and "usage_estimated" not in e

    r = chat(client, gw.url, key, "[[mock:no_usage]] [[mock:tokens=12]]", stream=True)
    assert r.status_code == 200
    e = pe.entries(dep, r.headers["x-request-id"])[0]
    assert e["usage_source"] == "estimate"
    assert e["usage_estimated"] == ["prompt_tokens", "completion_tokens"]
    r = chat(client, gw.url, key, "[[mock:no_usage]]")
    e = pe.entries(dep, r.headers["x-request-id"])[0]
    assert e["usage_source"] == "estimate" and e["charged"] == sum(e["usage"].values())


def test_exhausted_connection_pool_is_the_gateways_own_503(env: Env) -> None:
    """Defect 9: reported as a 504 blaming the model server."""
    dep, gw, _ = env
    _, key = dep.identity_with_key("pool")
    h = {"authorization": f"Bearer {key}"}
    hold = {
        "model": "narrow-model",
        "messages": [{"role": "user", "content": "[[mock:stall_after=1]]"}],
        "stream": True,
    }
    with (
        httpx.Client(timeout=30.0) as c,
        c.stream("POST", gw.url + "/v1/chat/completions", json=hold, headers=h) as held,
    ):
        assert held.status_code == 200  # the one pooled connection is now busy
        t = time.monotonic()
        r = c.post(
            gw.url + "/v1/chat/completions",
            json={"model": "narrow-model", "messages": [{"role": "user", "content": "hi"}]},
            headers={**h, "x-request-id": "pool-2"},
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "gateway_overloaded"
        assert "gateway" in r.json()["error"]["message"] and time.monotonic() - t < 2.5
    assert pe.entries(dep, "pool-2")[0]["status"] == 503


def test_every_exit_writes_exactly_one_entry(env: Env, client: httpx.Client) -> None:
    dep, gw, _ = env
    _, key = dep.identity_with_key("exits")
    h = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    cases = [
        ("GET", "/v1/nowhere", None),
        ("GET", "/v1/moderations", None),
        ("POST", "/v1/moderations", b"\xff\xfe not utf-8"),
        ("POST", "/v1/moderations", b'{"input": NaN}'),
        ("POST", "/v1/moderations", b'{"input": [1, 2, 3]}'),
        ("POST", "/v1/embeddings", b'{"model": "mock-small", "input": "x", "stream": "yes"}'),
        ("POST", "/v1/completions", b'{"model": "mock-small", "prompt": "x", "max_tokens": 1e400}'),
        (
            "POST",
            "/v1/chat/completions",
            b'{"model":"mock-small","messages":[{"content":"x","tool_calls":7}]}',
        ),
    ]
    for i, (method, path, body) in enumerate(cases):
        rid = f"exit-{i}"
        r = client.request(method, gw.url + path, content=body, headers={**h, "x-request-id": rid})
        assert r.status_code in (200, 400, 404, 405), (path, body, r.status_code, r.text)
        assert len(pe.entries(dep, rid)) == 1, (path, body)


def test_refused_requests_count_against_the_request_limit(env: Env, client: httpx.Client) -> None:
    """Defect 3's poison was "neither limited nor logged": refused requests are now both."""
    dep, gw, _ = env
    _, key = dep.identity_with_key("spammer")  # anonymous: 20 requests per minute
    h = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    poison = b'{"model":"\\ud800","messages":[{"role":"user","content":"hi"}]}'
    before = pe.request_count(dep)
    codes = [
        client.post(gw.url + "/v1/chat/completions", content=poison, headers=h).status_code for _ in range(25)
    ]
    assert 20 <= codes.count(404) <= 21 and codes[-1] == 429, codes
    assert pe.request_count(dep) == before + 25
