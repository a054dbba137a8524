"""A small OpenAI-compatible model server for trying the gateway without a model, and for its tests
and benchmarks (docs/reference/gateway.md §10 "Mock upstream": deterministic, SSE, configurable
time-to-first-token and inter-token latency, error injection).

Run: `python -m modelwarden.gateway.mock_upstream --port 9000 [--ttft 0.2 --itl 0.02]` or
`modelwarden gateway mock-upstream`.

Behaviour is steered from the prompt with directives, so requests going through the gateway can
ask for failures:

    [[mock:status=503]]          answer with that HTTP status and an OpenAI-style error
    [[mock:delay=2.5]]           wait before answering (headers included)
    [[mock:say=some text]]       answer with this text (default: a fixed sentence)
    [[mock:say_hex=68656c6c6f]]  answer with this hex-encoded text (so a test prompt can ask for an
                                 answer without containing it)
    [[mock:echo]]                answer with the request's JSON parameters (not its messages)
    [[mock:tokens=N]]            answer with N words
    [[mock:itl=0.01]]            delay between streamed chunks
    [[mock:disconnect_after=N]]  stream N chunks, then drop the connection (non-stream: cut the body)
    [[mock:stall_after=N]]       stream N chunks, then send nothing more
    [[mock:garbage]]             answer 200 with a body that is not JSON
    [[mock:no_usage]]            report no `usage` (as servers that ignore stream_options do)
    [[mock:reasoning_hex=6869]]  chat: also answer this hex-encoded text as `reasoning_content`, as
                                 llama.cpp (--reasoning-format deepseek) and vLLM reasoning parsers do

A chat request with `logprobs: true` (not streamed) gets a logprob per word, as OpenAI answers.

Like llama.cpp's server, it stops after `max_tokens` words and ignores `max_completion_tokens`
(which it does not read), so tests see what a real server would generate.

A model whose id starts with `llama-guard` behaves like Llama Guard 3 served by vLLM: it answers
`safe`, or `unsafe` and the codes in `[[guard:unsafe S1,S9]]`; `[[guard:garbage]]` answers
nonsense; `[[guard:slow=3]]` waits. `/v1/moderations` answers OpenAI's shape with the scores in
`[[moderation:violence=0.9,illicit=0.2]]`. Nothing here classifies anything: the directives decide.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections import Counter
from typing import Any

from modelwarden.gateway.asgi import Receive, Scope, Send, read_body

_DIRECTIVE = re.compile(r"\[\[(mock|guard|moderation):([^\]]*)\]\]")
DEFAULT_TEXT = "Hello from the mock model. This answer is deterministic."
OPENAI_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


def directives(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {"mock": {}, "guard": {}, "moderation": {}}
    for kind, body in _DIRECTIVE.findall(text):
        if kind == "moderation":
            for part in body.split(","):
                k, _, v = part.partition("=")
                out[kind][k.strip()] = v.strip()
            continue
        k, _, v = body.partition("=")
        if k.startswith("unsafe"):
            k, v = "unsafe", k.removeprefix("unsafe").strip() or v
        out[kind][k.strip()] = v
    return out


def _prompt_text(body: dict[str, Any]) -> str:
    if isinstance(body.get("messages"), list):
        parts = []
        for m in body["messages"]:
            c = m.get("content") if isinstance(m, dict) else None
            if isinstance(c, str):
                parts.append(c)
            elif isinstance(c, list):
                parts += [p.get("text", "") for p in c if isinstance(p, dict)]
        return "\n".join(parts)
    for key in ("prompt", "input"):
        v = body.get(key)
        if isinstance(v, str):
            return v
        if isinstance(v, list):
            return "\n".join(x for x in v if isinstance(x, str))
    return ""


class MockUpstream:
    def __init__(self, *, ttft: float = 0.0, itl: float = 0.0, models: list[str] | None = None) -> None:
        self.ttft = ttft
        self.itl = itl
        self.models = models or ["mock-small", "mock-large", "llama-guard-3-1b"]
        self.counts: Counter[str] = Counter()
        self._default = self._completion("mock-small", DEFAULT_TEXT, 8, "chat.completions")

    # --- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _completion(model: str, text: str, prompt_tokens: int, endpoint: str) -> bytes:
        words = len(text.split())
        choice: dict[str, Any]
        if endpoint == "chat.completions":
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop"}
            obj = "text_completion"
        return json.dumps(
            {
                "id": "mock-1",
                "object": obj,
                "created": 1700000000,
                "model": model,
                "choices": [choice],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": words,
                    "total_tokens": prompt_tokens + words,
                },
            },
            separators=(",", ":"),
        ).encode()

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, ctype: bytes = b"application/json") -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        self.counts[path] += 1
        if path == "/mock/stats":
            return await self._send(send, 200, json.dumps(dict(self.counts)).encode())
        if path == "/mock/reset":
            self.counts.clear()
            return await self._send(send, 200, b"{}")
        if path == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "mock"} for m in self.models]
            return await self._send(send, 200, json.dumps({"object": "list", "data": data}).encode())
        raw = await read_body(receive, 64 * 1024 * 1024)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return await self._send(
                send, 400, b'{"error":{"message":"invalid JSON","type":"invalid_request_error"}}'
            )
        text = _prompt_text(body)
        d = directives(text) if "[[" in text else {"mock": {}, "guard": {}, "moderation": {}}
        model = str(body.get("model", "mock-small"))
        self.counts[f"{path}:{model}"] += 1
        if path == "/v1/moderations":
            return await self._moderation(send, d["moderation"])
        if model.startswith("llama-guard"):
            return await self._guard(send, model, d["guard"])
        m = d["mock"]
        delay = float(m.get("delay", 0) or 0) + self.ttft
        if delay:
            await asyncio.sleep(delay)
        if "status" in m:
            status = int(m["status"])
            err = {"error": {"message": f"mock failure {status}", "type": "server_error", "code": None}}
            return await self._send(send, status, json.dumps(err).encode())
        if "garbage" in m:
            return await self._send(send, 200, b"<html>not json</html>")
        if path == "/v1/embeddings":
            inputs = body.get("input")
            items = inputs if isinstance(inputs, list) else [inputs]
            data = [
                {"object": "embedding", "index": i, "embedding": [((i + j) % 7) / 7.0 for j in range(8)]}
                for i, _ in enumerate(items)
            ]
            payload = {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": 4 * len(items), "total_tokens": 4 * len(items)},
            }
            return await self._send(send, 200, json.dumps(payload).encode())
        endpoint = "chat.completions" if path == "/v1/chat/completions" else "completions"
        if "echo" in m:
            out = json.dumps(
                {k: v for k, v in body.items() if k not in ("messages", "prompt", "input")}, sort_keys=True
            )
        elif "say_hex" in m:
            out = bytes.fromhex(m["say_hex"]).decode("utf-8")
        elif "say" in m:
            out = m["say"]
        elif "tokens" in m:
            out = " ".join(f"word{i}" for i in range(int(m["tokens"])))
        else:
            out = DEFAULT_TEXT
        limit = body.get("max_tokens")
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(out.split(" ")):
            out = " ".join(out.split(" ")[:limit])
        prompt_tokens = max(1, len(text.split()))
        if "no_usage" in m:
            full = json.loads(self._completion(model, out, prompt_tokens, endpoint))
            del full["usage"]
            if body.get("stream"):
                body = {**body, "stream_options": {}}
            else:
                return await self._send(send, 200, json.dumps(full).encode())
        if body.get("stream"):
            return await self._stream(send, body, model, out, prompt_tokens, endpoint, m)
        if body.get("logprobs") is True and endpoint == "chat.completions":
            # As OpenAI and llama.cpp answer `logprobs: true`: one entry per generated token.
            full = json.loads(self._completion(model, out, prompt_tokens, endpoint))
            full["choices"][0]["logprobs"] = {
                "content": [{"token": w, "logprob": -0.5, "top_logprobs": []} for w in out.split(" ")]
            }
            return await self._send(send, 200, json.dumps(full).encode())
        if "reasoning_hex" in m and endpoint == "chat.completions":
            full = json.loads(self._completion(model, out, prompt_tokens, endpoint))
            full["choices"][0]["message"]["reasoning_content"] = bytes.fromhex(m["reasoning_hex"]).decode()
            return await self._send(send, 200, json.dumps(full).encode())
        if "disconnect_after" in m:
            full = self._completion(model, out, prompt_tokens, endpoint)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(full)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": full[: len(full) // 2], "more_body": True})
            raise ConnectionAbortedError("mock: dropping the connection as asked")
        if (
            out == DEFAULT_TEXT
            and endpoint == "chat.completions"
            and model == "mock-small"
            and prompt_tokens == 8
        ):
            return await self._send(send, 200, self._default)
        return await self._send(send, 200, self._completion(model, out, prompt_tokens, endpoint))

    async def _stream(
        self,
        send: Send,
        body: dict[str, Any],
        model: str,
        out: str,
        prompt_tokens: int,
        endpoint: str,
        m: dict[str, str],
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        itl = float(m.get("itl", 0) or 0) or self.itl
        words = out.split(" ")
        stop_after = int(m["disconnect_after"]) if "disconnect_after" in m else None
        stall_after = int(m["stall_after"]) if "stall_after" in m else None
        created = int(time.time())
        if "reasoning_hex" in m and endpoint == "chat.completions":
            for w in bytes.fromhex(m["reasoning_hex"]).decode().split(" "):
                thought = {
                    "id": "mock-stream",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": {"reasoning_content": w + " "}, "finish_reason": None}],
                }
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"data: " + json.dumps(thought).encode() + b"\n\n",
                        "more_body": True,
                    }
                )
        for i, w in enumerate(words):
            if stop_after is not None and i >= stop_after:
                raise ConnectionAbortedError("mock: dropping the stream as asked")
            if stall_after is not None and i >= stall_after:
                await asyncio.sleep(3600)
            piece = w if i == len(words) - 1 else w + " "
            if endpoint == "chat.completions":
                delta: dict[str, Any] = {"content": piece}
                if i == 0:
                    delta["role"] = "assistant"
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
                obj = "chat.completion.chunk"
            else:
                choice = {"index": 0, "text": piece, "finish_reason": None}
                obj = "text_completion"
            chunk = {
                "id": "mock-stream",
                "object": obj,
                "created": created,
                "model": model,
                "choices": [choice],
            }
            await send(
                {
                    "type": "http.response.body",
                    "body": b"data: " + json.dumps(chunk).encode() + b"\n\n",
                    "more_body": True,
                }
            )
            if itl:
                await asyncio.sleep(itl)
        final_choice: dict[str, Any] = (
            {"index": 0, "delta": {}, "finish_reason": "stop"}
            if endpoint == "chat.completions"
            else {"index": 0, "text": "", "finish_reason": "stop"}
        )
        tail = [
            {
                "id": "mock-stream",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [final_choice],
            }
        ]
        opts = body.get("stream_options") or {}
        if isinstance(opts, dict) and opts.get("include_usage"):
            n = len(words)
            tail.append(
                {
                    "id": "mock-stream",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": n,
                        "total_tokens": prompt_tokens + n,
                    },
                }
            )
        data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in tail) + b"data: [DONE]\n\n"
        await send({"type": "http.response.body", "body": data, "more_body": False})

    async def _guard(self, send: Send, model: str, g: dict[str, str]) -> None:
        if "slow" in g:
            await asyncio.sleep(float(g["slow"] or 5))
        if "garbage" in g:
            answer = "I think this is probably fine?"
        elif "unsafe" in g:
            answer = "unsafe\n" + (g["unsafe"] or "S1")
        else:
            answer = "safe"
        return await self._send(send, 200, self._completion(model, answer, 10, "chat.completions"))

    async def _moderation(self, send: Send, scores: dict[str, str]) -> None:
        cs = {c: float(scores.get(c, 0.0) or 0.0) for c in OPENAI_CATEGORIES}
        result = {
            "flagged": any(v >= 0.5 for v in cs.values()),
            "categories": {c: v >= 0.5 for c, v in cs.items()},
            "category_scores": cs,
        }
        return await self._send(
            send,
            200,
            json.dumps({"id": "modr-mock", "model": "omni-moderation-latest", "results": [result]}).encode(),
        )


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    ap = argparse.ArgumentParser(prog="modelwarden-mock-upstream", description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--ttft", type=float, default=0.0, help="seconds before the first byte")
    ap.add_argument("--itl", type=float, default=0.0, help="seconds between streamed chunks")
    args = ap.parse_args(argv)
    uvicorn.run(
        MockUpstream(ttft=args.ttft, itl=args.itl),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="auto",
        http="auto",
        lifespan="on",
        # A stalled stream (`stall_after`) sleeps for an hour: do not wait for it on shutdown.
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
