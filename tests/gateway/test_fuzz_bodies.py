"""Hypothesis fuzz of request bodies against a running gateway (issue 16): whatever the body —
bytes, any JSON (lone surrogates, NaN, huge integers, deep nesting), or an OpenAI body with wrong
field types — the request gets one answer that is not a 500, and exactly one audit entry; the
audit log verifies afterwards."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.gateway import pipeline_env as pe
from tests.gateway.harness import Deployment, Proc
from tests.support.cli import run_cli

PATHS = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/moderations",
    "/v1/models",
    "/v1/x",
]
# Every character, lone surrogates included (json.dumps writes them as \\udXXX escapes).
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
MESSAGES = (
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "system", "assistant"]), "content": st.one_of(TEXT, JSON)},
            optional={"tool_calls": JSON},
        ),
        max_size=3,
    )
    | JSON
)
SHAPED = st.fixed_dictionaries(
    {"model": st.one_of(st.sampled_from(["mock-small", "mock-large", "narrow-model", "nope"]), JSON)},
    optional={
        "messages": MESSAGES,
        "prompt": st.one_of(TEXT, JSON),
        "input": st.one_of(
            TEXT, st.lists(TEXT, max_size=3), st.lists(st.integers(0, 50_000), max_size=5), JSON
        ),
        "max_tokens": st.one_of(st.integers(-5, 10_000), JSON),
        "max_completion_tokens": st.one_of(st.integers(-5, 10_000), JSON),
        "n": st.one_of(st.integers(-1, 10), JSON),
        "best_of": st.one_of(st.integers(-1, 10), JSON),
        "stream": st.one_of(st.booleans(), JSON),
        "stream_options": JSON,
        "logprobs": JSON,
    },
)


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # NaN/Infinity come out as bare words: not JSON


BODIES = st.one_of(
    SHAPED.map(encode),
    JSON.map(encode),
    st.binary(max_size=64),
    st.integers(1, 5000).map(lambda d: b'{"model":"mock-small","input":' + b"[" * d + b"]" * d + b"}"),
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Proc, Proc]]:
    yield from pe.started(tmp_path_factory.mktemp("gw-fuzz"))


def test_any_body_gets_one_answer_and_one_entry(env: tuple[Deployment, Proc, Proc]) -> None:
    dep, gw, _ = env
    _, key = dep.identity_with_key("fuzzer", tier="fuzz")
    ids = itertools.count()
    seen: dict[int, int] = {}

    with httpx.Client(timeout=30.0) as client:

        @settings(
            max_examples=150,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(
            path=st.sampled_from(PATHS), body=BODIES, method=st.sampled_from(["POST", "POST", "POST", "GET"])
        )
        # Valid bodies on every endpoint, always run: the fuzz must reach admission, the upstream and
        # settlement, not only the parser (the drawn bodies alone reached a 200 only 3 to 16 times).
        @example(
            path=PATHS[0],
            body=encode({"model": "mock-small", "messages": [{"role": "user", "content": "hi"}]}),
            method="POST",
        )
        @example(
            path=PATHS[0],
            body=encode(
                {"model": "mock-small", "messages": [{"role": "user", "content": "hi"}], "stream": True}
            ),
            method="POST",
        )
        @example(
            path=PATHS[1],
            body=encode({"model": "mock-small", "prompt": "hi", "max_tokens": 8}),
            method="POST",
        )
        @example(path=PATHS[2], body=encode({"model": "mock-small", "input": ["a", "b"]}), method="POST")
        @example(path=PATHS[3], body=encode({"model": "mock-small", "input": "hello"}), method="POST")
        @example(path=PATHS[4], body=b"", method="GET")
        def one(path: str, body: bytes, method: str) -> None:
            rid = f"fz-{next(ids)}"
            before = pe.request_count(dep)
            r = client.request(
                method,
                gw.url + path,
                content=body if method == "POST" else None,
                headers={
                    "authorization": f"Bearer {key}",
                    "content-type": "application/json",
                    "x-request-id": rid,
                },
            )
            assert r.status_code != 500, (path, body[:300], r.text[:500])
            if r.headers.get("content-type", "").startswith("text/event-stream"):
                assert r.text.rstrip().endswith("data: [DONE]"), r.text[-300:]
            else:
                payload = r.json()
                assert isinstance(payload, dict) and (r.status_code == 200) != ("error" in payload), payload
            assert pe.request_count(dep) == before + 1, (path, body[:300])
            assert len(pe.entries(dep, rid)) == 1
            seen[r.status_code] = seen.get(r.status_code, 0) + 1

        one()

    # The run must have reached past parsing into admission and the upstream, not only 400s.
    assert seen.get(200, 0) >= 5 and seen.get(400, 0) >= 20, seen
    verify = run_cli("audit", "verify", "--config", dep.config_path)
    assert verify.returncode == 0 and "intact" in verify.stdout, verify.stdout + verify.stderr
    print("fuzz answers by status:", dict(sorted(seen.items())))
