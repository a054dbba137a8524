"""The request pipeline for /v1/* (gateway.md §11.1), one async path with every stage timed:

1. authenticate the key (cache checked against the revocation epoch);
2. identity → tier → policy;
3. admission: model allow-list, streaming / logprobs permissions, clamp max_tokens, atomic
   reservation of one request and `prompt estimate + max_tokens` tokens;
4. input moderation (cascade);
5. forward to the upstream (pooled, streaming passed through chunk by chunk);
6. output moderation (windowed for streams, with hold-back);
7. settle the reservation to the real usage;
8. append the audit entry, and answer only once it is committed;
9. misuse counters for blocked and flagged requests.

Every request through /v1 gets exactly one audit entry, whatever its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from modelwarden.gateway import keys as keymod
from modelwarden.gateway.asgi import (
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    error_payload,
    header,
    read_body,
    send_json,
    send_raw_json,
)
from modelwarden.gateway.audit import AuditUnavailable, AuditWriter, Entry, text_digest
from modelwarden.gateway.auth import Authenticator, AuthFailure
from modelwarden.gateway.config import GatewayConfig
from modelwarden.gateway.limiter import Limiter, LimiterUnavailable, Limits, Reservation
from modelwarden.gateway.misuse import MisuseMonitor
from modelwarden.gateway.moderation.base import ALLOW, Decision
from modelwarden.gateway.moderation.cascade import Cascade
from modelwarden.gateway.moderation.stream import StreamModerator
from modelwarden.gateway.store import Principal
from modelwarden.gateway.tiers import Tier
from modelwarden.gateway.upstream import Route, UpstreamFailure, UpstreamPool, map_status

log = logging.getLogger("modelwarden.gateway.proxy")

ENDPOINTS = {
    "/v1/chat/completions": "chat.completions",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/moderations": "moderations",
    "/v1/models": "models",
}
_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_N = 8


def estimate_tokens(text: str, messages: int = 0) -> int:
    """Prompt token estimate for the reservation: UTF-8 bytes / 3, rounded up, + 4 per message.

    English runs ~4 characters per token, so this over-reserves; settlement refunds the difference.
    """
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 3) + 4 * messages


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(
        content, list
    ):  # content parts: [{"type": "text", "text": ...}, {"type": "image_url", ...}]
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def input_text(endpoint: str, body: dict[str, Any]) -> tuple[str, int, str | None]:
    """(text to moderate, number of messages, error message if the body has the wrong shape)."""
    if endpoint == "chat.completions":
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
            return "", 0, "`messages` must be a non-empty list of message objects"
        parts = []
        for m in msgs:
            parts.append(_text_of(m.get("content")))
            for call in m.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    parts.append(str(call["function"].get("arguments", "")))
        return "\n".join(p for p in parts if p), len(msgs), None
    key = "prompt" if endpoint == "completions" else "input"
    value = body.get(key)
    if isinstance(value, str):
        return value, 1, None
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return "\n".join(value), len(value), None
        if token_ids(value) is not None:
            # Token ids cannot be read as text, so they cannot be moderated: a prompt sent as ids
            # would pass every classifier. Embeddings (whose output is a vector, and which clients
            # such as LangChain send as ids) are accepted and reserved by their length.
            if endpoint == "completions":
                return "", 0, "token-id prompts cannot be moderated here: send `prompt` as text"
            return "", len(value), None
    return "", 0, f"`{key}` must be a string or a list of strings"


def token_ids(value: Any) -> int | None:
    """How many token ids `value` holds (a list of ints, or a list of lists of ints), else None."""
    if not isinstance(value, list) or not value:
        return None
    lists = [value] if all(isinstance(v, int) for v in value) else value
    if not all(isinstance(t, list) and all(isinstance(i, int) for i in t) for t in lists):
        return None
    return sum(len(t) for t in lists)


def output_texts(endpoint: str, data: dict[str, Any]) -> str:
    out = []
    for ch in data.get("choices") or []:
        if not isinstance(ch, dict):
            continue
        if endpoint == "chat.completions":
            msg = ch.get("message") or {}
            out.append(_text_of(msg.get("content")))
            for call in msg.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    out.append(str(call["function"].get("arguments", "")))
        else:
            out.append(str(ch.get("text") or ""))
    return "\n".join(t for t in out if t)


def delta_text(endpoint: str, chunk: dict[str, Any]) -> str:
    out = []
    for ch in chunk.get("choices") or []:
        if not isinstance(ch, dict):
            continue
        if endpoint == "chat.completions":
            d = ch.get("delta") or {}
            if isinstance(d.get("content"), str):
                out.append(d["content"])
            for call in d.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    out.append(str(call["function"].get("arguments") or ""))
        elif isinstance(ch.get("text"), str):
            out.append(ch["text"])
    return "".join(out)


@dataclass
class Ctx:
    rid: str
    endpoint: str
    t0: float
    ip: str
    principal: Principal | None = None
    tier: Tier | None = None
    model: str | None = None
    stream: bool = False
    clamped: dict[str, list[int]] = field(default_factory=dict)
    reservation: Reservation | None = None
    decision_in: Decision | None = None
    decision_out: Decision | None = None
    upstream_s: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    status: int = 200
    outcome: str = "ok"
    reason: str | None = None
    prompt: str = ""
    output: str = ""
    warning: str | None = None
    strike_actions: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def stage(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.stages[name] = self.stages.get(name, 0.0) + (now - since) * 1000
        return now

    @property
    def overhead_ms(self) -> float:
        return (time.perf_counter() - self.t0 - self.upstream_s) * 1000

    def headers(self) -> list[tuple[bytes, bytes]]:
        h = [
            (b"x-request-id", self.rid.encode()),
            (b"x-modelwarden-overhead-ms", f"{self.overhead_ms:.3f}".encode()),
            (b"server-timing", ", ".join(f"{k};dur={v:.3f}" for k, v in self.stages.items()).encode()),
        ]
        if self.tier is not None:
            h.append((b"x-modelwarden-tier", self.tier.name.encode()))
        if self.clamped:
            h.append(
                (
                    b"x-modelwarden-clamped",
                    ", ".join(f"{k}={v[0]}->{v[1]}" for k, v in self.clamped.items()).encode(),
                )
            )
        if self.warning:
            h.append((b"x-modelwarden-warning", self.warning.encode("ascii", "replace")))
        return h


class Proxy:
    def __init__(
        self,
        cfg: GatewayConfig,
        *,
        auth: Authenticator,
        limiter: Limiter,
        cascade: Cascade,
        pool: UpstreamPool,
        audit: AuditWriter,
        misuse: MisuseMonitor,
        salt: bytes,
    ) -> None:
        self.cfg = cfg
        self.auth = auth
        self.limiter = limiter
        self.cascade = cascade
        self.pool = pool
        self.audit = audit
        self.misuse = misuse
        self.salt = salt
        self._rid_prefix = secrets.token_hex(4)
        self._rid_n = 0

    # --- entry -------------------------------------------------------------------------------

    def _next_rid(self) -> str:
        # A random per-process prefix and a counter: unique across workers and restarts, without a
        # getrandom() system call per request.
        self._rid_n += 1
        return f"req_{self._rid_prefix}{self._rid_n:08x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = ENDPOINTS.get(scope["path"].rstrip("/") or scope["path"])
        rid_in = header(scope, b"x-request-id")
        ctx = Ctx(
            rid=rid_in if rid_in and _RID.match(rid_in) else self._next_rid(),
            endpoint=endpoint or scope["path"][:64],
            t0=time.perf_counter(),
            ip=(scope.get("client") or ("", 0))[0] or "",
        )
        try:
            await self._handle(ctx, scope, receive, send)
        except ClientGone:
            await self._settle(ctx, 0)
            ctx.outcome, ctx.reason, ctx.status = "error", "client_disconnected", 499
            with contextlib.suppress(AuditUnavailable):
                await self.audit.append(self._entry(ctx))

    async def _reject(
        self,
        ctx: Ctx,
        send: Send,
        status: int,
        code: str,
        message: str,
        *,
        outcome: str = "rejected",
        extra: dict[str, Any] | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        ctx.status, ctx.outcome, ctx.reason = status, outcome, code
        await self._settle(ctx, 0)
        if not await self._commit(ctx, send):
            return
        await send_json(
            send, status, error_payload(status, code, message, extra=extra), ctx.headers() + (headers or [])
        )

    async def _commit(self, ctx: Ctx, send: Send) -> bool:
        """Write the audit entry; if the log cannot be written, answer 503 instead (fail closed)."""
        t = time.perf_counter()
        try:
            await self.audit.append(self._entry(ctx))
        except AuditUnavailable as exc:
            ctx.stage("audit", t)
            await send_json(
                send,
                503,
                error_payload(
                    503, "audit_unavailable", f"The gateway cannot record this request ({exc.message})."
                ),
                ctx.headers(),
            )
            return False
        ctx.stage("audit", t)
        return True

    async def _settle(self, ctx: Ctx, actual: int) -> None:
        if ctx.reservation is not None and ctx.reservation.ok and not ctx.reservation.settled:
            await self.limiter.settle(ctx.reservation, actual)

    # --- pipeline -----------------------------------------------------------------------------

    async def _handle(self, ctx: Ctx, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if ctx.endpoint not in ENDPOINTS.values():
            return await self._reject(
                ctx, send, 404, "unknown_url", f"Unknown request URL: {method} {scope['path']}."
            )
        want = "GET" if ctx.endpoint == "models" else "POST"
        if method != want:
            return await self._reject(
                ctx, send, 405, "method_not_allowed", f"Use {want} for {scope['path']}."
            )

        t = time.perf_counter()
        who = await self.auth.authenticate(header(scope, b"authorization"))
        t = ctx.stage("auth", t)
        if isinstance(who, AuthFailure):
            return await self._reject(ctx, send, who.status, who.code, who.message)
        ctx.principal, ctx.tier = who.principal, who.tier
        tier = who.tier

        if ctx.endpoint == "models":
            models = [
                {"id": m.id, "object": "model", "created": 0, "owned_by": "modelwarden"}
                for m in self.pool.models()
                if tier.allows_model(m.id, m.tags)
            ]
            if not await self._commit(ctx, send):
                return None
            return await send_json(send, 200, {"object": "list", "data": models}, ctx.headers())

        try:
            raw = await read_body(receive, self.cfg.limits.max_body_bytes)
        except BodyTooLarge:
            return await self._reject(
                ctx,
                send,
                413,
                "request_too_large",
                f"Request body exceeds {self.cfg.limits.max_body_bytes} bytes.",
            )
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return await self._reject(ctx, send, 400, "invalid_json", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return await self._reject(
                ctx, send, 400, "invalid_json", "The request body must be a JSON object."
            )

        if ctx.endpoint == "moderations":
            return await self._moderations(ctx, body, send)

        model = body.get("model")
        if not isinstance(model, str) or not model:
            return await self._reject(ctx, send, 400, "missing_model", "`model` is required.")
        ctx.model = model
        route = self.pool.route(model)
        if route is None:
            return await self._reject(
                ctx, send, 404, "model_not_found", f"The model `{model}` does not exist."
            )
        if not tier.allows_model(model, route.model.tags):
            return await self._reject(
                ctx,
                send,
                403,
                "model_not_allowed",
                f"The `{tier.name}` tier does not give access to `{model}`.",
            )
        text, n_messages, shape_error = input_text(ctx.endpoint, body)
        if shape_error:
            return await self._reject(ctx, send, 400, "invalid_request", shape_error)
        ctx.prompt = text
        ctx.stream = bool(body.get("stream")) and ctx.endpoint != "embeddings"
        if ctx.stream and not tier.stream_allowed:
            return await self._reject(
                ctx, send, 403, "stream_not_allowed", f"Streaming is not available in the `{tier.name}` tier."
            )
        if (body.get("logprobs") or body.get("top_logprobs")) and not tier.logprobs_allowed:
            return await self._reject(
                ctx,
                send,
                403,
                "logprobs_not_allowed",
                f"logprobs are not available in the `{tier.name}` tier.",
            )
        n = body.get("n", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
            return await self._reject(
                ctx, send, 400, "invalid_n", f"`n` must be an integer from 1 to {MAX_N}."
            )
        # `best_of` (completions; vLLM accepts it on chat too) generates that many sequences and
        # returns n: the budget must cover all of them, or it is a way around the token limits.
        best_of = body.get("best_of")
        if best_of is not None and (
            not isinstance(best_of, int) or isinstance(best_of, bool) or not n <= best_of <= MAX_N
        ):
            return await self._reject(
                ctx, send, 400, "invalid_n", f"`best_of` must be an integer from n ({n}) to {MAX_N}."
            )
        copies = max(n, best_of or 1)

        # Clamp (or set) the completion budget before reserving it (§1 "max-tokens cap per request").
        out_tokens = 0
        if ctx.endpoint != "embeddings":
            cap = tier.max_tokens_cap
            names = (
                ["max_completion_tokens", "max_tokens"]
                if ctx.endpoint == "chat.completions"
                else ["max_tokens"]
            )
            asked = [body[k] for k in names if body.get(k) is not None]
            if any(not isinstance(a, int) or isinstance(a, bool) or a < 1 for a in asked):
                return await self._reject(
                    ctx, send, 400, "invalid_max_tokens", "max_tokens must be a positive integer."
                )
            for k in names:
                if body.get(k) is not None and body[k] > cap:
                    ctx.clamped[k] = [body[k], cap]
                    body[k] = cap
            if not asked:
                body[names[-1]] = cap
            out_tokens = min([cap, *[min(a, cap) for a in asked]]) * copies

        reserve = estimate_tokens(text, n_messages) + (token_ids(body.get("input")) or 0) + out_tokens
        p = ctx.principal
        limits = Limits(tier.rpm, tier.tpm, tier.daily_tokens)
        if p.throttle_factor and p.throttle_until and p.throttle_until > time.time():
            limits = limits.scaled(p.throttle_factor)
            ctx.extra["throttled"] = p.throttle_factor
        try:
            ctx.reservation = await self.limiter.reserve(p.identity_id, limits, reserve)
        except LimiterUnavailable as exc:
            return await self._reject(ctx, send, 503, "limiter_unavailable", exc.message, outcome="error")
        t = ctx.stage("admit", t)
        res = ctx.reservation
        if res.failed_open:
            ctx.extra["limits_failed_open"] = True
        if not res.ok:
            if res.reason == "too_large":
                return await self._reject(
                    ctx,
                    send,
                    400,
                    "request_too_large",
                    f"This request reserves {reserve} tokens, more than the `{tier.name}` tier's "
                    f"{tier.tpm} per minute.",
                )
            retry = max(1, math.ceil(res.retry_after))
            return await self._reject(
                ctx,
                send,
                429,
                "rate_limit_exceeded",
                f"Rate limit reached ({res.reason}) for the `{tier.name}` tier: retry after {retry} s.",
                extra={"limit": res.reason},
                headers=[(b"retry-after", str(retry).encode())],
            )

        # Input moderation.
        ctx.decision_in = (
            await self.cascade.check(text, role="user", policy=tier.moderation) if text else ALLOW
        )
        t = ctx.stage("moderation_in", t)
        d = ctx.decision_in
        if d.action != "allow":
            await self._strike(ctx, d)
        if d.action == "block":
            if d.blocked:
                return await self._reject(
                    ctx,
                    send,
                    400,
                    "content_filter",
                    f"The request was blocked by the `{tier.name}` tier's content policy "
                    f"({', '.join(d.blocked)}).",
                    outcome="blocked",
                    extra={"categories": d.blocked},
                )
            return await self._reject(
                ctx,
                send,
                503,
                "moderation_unavailable",
                "The request cannot be checked right now and this tier does not let unchecked requests "
                "through "
                f"({', '.join(d.failed_closed)}).",
                outcome="blocked",
                extra={"categories": d.failed_closed},
            )

        # Forward.
        upstream_body = dict(body)
        upstream_body["model"] = route.upstream_model
        wants_usage = False
        if ctx.stream:
            so = body.get("stream_options")
            opts: dict[str, Any] = so if isinstance(so, dict) else {}
            wants_usage = bool(opts.get("include_usage"))
            upstream_body["stream_options"] = {**opts, "include_usage": True}  # to settle on real usage
        payload = json.dumps(upstream_body, separators=(",", ":")).encode()
        path = "/" + ctx.endpoint.replace(".", "/")
        t_up = time.perf_counter()
        try:
            resp = await route.upstream.request("POST", path, payload)
        except UpstreamFailure as exc:
            ctx.upstream_s += time.perf_counter() - t_up
            return await self._reject(ctx, send, exc.status, exc.code, exc.message, outcome="error")
        try:
            if ctx.stream and resp.status == 200:
                await self._stream(ctx, route, resp, send, receive, wants_usage, t_up)
            else:
                await self._unary(ctx, route, resp, send, t_up)
        finally:
            resp.release()
        return None

    async def _strike(self, ctx: Ctx, d: Decision) -> None:
        assert ctx.principal is not None and ctx.tier is not None
        try:
            outcome = await self.misuse.record(ctx.principal.identity_id, ctx.tier, d)
        except (
            Exception
        ) as exc:  # strikes must not break the request; the audit entry still records the block
            log.error("misuse monitor failed: %s", exc)
            return
        ctx.warning = outcome.warning
        ctx.strike_actions = outcome.actions
        if outcome.actions:
            ctx.extra["strike_score"] = round(outcome.score, 3)

    async def _unary(
        self, ctx: Ctx, route: Route, resp: aiohttp.ClientResponse, send: Send, t_up: float
    ) -> None:
        try:
            raw = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            ctx.upstream_s += time.perf_counter() - t_up
            if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
                status, code, what = 504, "upstream_timeout", "stopped sending its answer"
            else:
                status, code, what = 502, "upstream_disconnected", "broke off its answer"
            return await self._reject(
                ctx, send, status, code, f"The model server ({route.upstream.name}) {what}.", outcome="error"
            )
        ctx.upstream_s += time.perf_counter() - t_up
        t = time.perf_counter()
        if resp.status != 200:
            msg = None
            with contextlib.suppress(Exception):
                err = json.loads(raw).get("error")
                msg = err.get("message") if isinstance(err, dict) else str(err) if err else None
            f = map_status(resp.status, route.upstream.name, msg)
            return await self._reject(ctx, send, f.status, f.code, f.message, outcome="error")
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            return await self._reject(
                ctx,
                send,
                502,
                "upstream_invalid",
                f"The model server ({route.upstream.name}) sent invalid JSON.",
                outcome="error",
            )
        u = data.get("usage")
        usage: dict[str, Any] = u if isinstance(u, dict) else {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        if ctx.endpoint != "embeddings":
            out = output_texts(ctx.endpoint, data)
            ctx.output = out
            if not completion_tokens:
                completion_tokens = estimate_tokens(out)
            assert ctx.tier is not None
            ctx.decision_out = (
                await self.cascade.check(
                    out, role="assistant", policy=ctx.tier.moderation, context=ctx.prompt
                )
                if out
                else ALLOW
            )
            d = ctx.decision_out
            if d.action != "allow":
                await self._strike(ctx, d)
            if d.action == "block":
                # Azure/OpenAI convention for filtered output: 200, empty content,
                # finish_reason content_filter.
                ctx.outcome = "blocked"
                ctx.reason = "output_filtered"
                for ch in data.get("choices") or []:
                    if isinstance(ch, dict):
                        ch["finish_reason"] = "content_filter"
                        if isinstance(ch.get("message"), dict):
                            ch["message"]["content"] = ""
                            ch["message"].pop("tool_calls", None)
                        if "text" in ch:
                            ch["text"] = ""
                data["modelwarden"] = {"blocked": d.blocked or d.failed_closed}
                raw = json.dumps(data, separators=(",", ":")).encode()
            elif d.action == "flag" and ctx.outcome == "ok":
                ctx.outcome = "flagged"
            ctx.stage("moderation_out", t)
        if ctx.outcome == "ok" and ctx.decision_in and ctx.decision_in.action == "flag":
            ctx.outcome = "flagged"
        ctx.usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        await self._settle(
            ctx,
            prompt_tokens + completion_tokens
            if prompt_tokens
            else estimate_tokens(ctx.prompt) + completion_tokens,
        )
        if not await self._commit(ctx, send):
            return None
        await send_raw_json(send, 200, raw, ctx.headers())
        return None

    async def _stream(
        self,
        ctx: Ctx,
        route: Route,
        resp: aiohttp.ClientResponse,
        send: Send,
        receive: Receive,
        wants_usage: bool,
        t_up: float,
    ) -> None:
        assert ctx.tier is not None
        cfg = self.cfg.moderation.stream
        mod = StreamModerator(self.cascade, ctx.tier.moderation, cfg, context=ctx.prompt)
        holdback = cfg.holdback
        gone = asyncio.Event()

        async def watch() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    gone.set()
                    return

        watcher = asyncio.get_running_loop().create_task(watch())
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    *ctx.headers(),
                ],
            }
        )
        buffered: list[bytes] = []
        last: dict[str, Any] = {}
        usage: dict[str, Any] = {}
        outcome_error: dict[str, Any] | None = None
        tripped: Decision | None = None
        chunks = 0

        async def emit(data: bytes) -> None:
            if gone.is_set():
                raise ClientGone
            await send({"type": "http.response.body", "body": data, "more_body": True})

        async def flush() -> None:
            if buffered:
                data = b"".join(buffered)
                buffered.clear()
                await emit(data)

        upstream_done = False
        try:
            pending = b""
            while True:
                t_read = time.perf_counter()
                try:
                    piece = await resp.content.readany()
                except (TimeoutError, aiohttp.ClientError) as exc:
                    ctx.upstream_s += time.perf_counter() - t_read
                    timeout = isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError)
                    outcome_error = error_payload(
                        504 if timeout else 502,
                        "upstream_timeout" if timeout else "upstream_disconnected",
                        f"The model server ({route.upstream.name}) "
                        + ("stopped sending." if timeout else "broke off the stream."),
                    )
                    break
                ctx.upstream_s += time.perf_counter() - t_read
                if not piece:
                    if not upstream_done:
                        outcome_error = error_payload(
                            502,
                            "upstream_disconnected",
                            f"The model server ({route.upstream.name}) ended the stream "
                            "without finishing it.",
                        )
                    break
                pending += piece
                events = pending.split(b"\n\n")
                pending = events.pop()
                for ev in events:
                    data_lines = [ln[5:].strip() for ln in ev.split(b"\n") if ln.startswith(b"data:")]
                    if not data_lines:
                        continue
                    data = b"\n".join(data_lines)
                    if data == b"[DONE]":
                        upstream_done = True
                        continue
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        continue
                    if not isinstance(chunk, dict):
                        continue
                    if "error" in chunk:
                        outcome_error = error_payload(
                            502,
                            "upstream_error",
                            f"The model server ({route.upstream.name}) failed mid-stream.",
                        )
                        upstream_done = True
                        break
                    if isinstance(chunk.get("usage"), dict) and chunk["usage"]:
                        usage = chunk["usage"]
                        if not chunk.get("choices"):
                            # The usage-only final chunk (choices: []) we asked for ourselves: pass it on only
                            # if the client asked for it too (LiteLLM #42484: never choke on it).
                            if wants_usage:
                                buffered.append(b"data: " + data + b"\n\n")
                            continue
                    last = chunk
                    chunks += 1
                    due = mod.feed(delta_text(ctx.endpoint, chunk))
                    buffered.append(b"data: " + data + b"\n\n")
                    if due:
                        t = time.perf_counter()
                        d = await mod.check()
                        ctx.stage("moderation_out", t)
                        if d.action == "block":
                            tripped = d
                            break
                        await flush()  # everything up to here is now inside a window that passed
                    elif not holdback:
                        await flush()
                if tripped is not None or outcome_error is not None or upstream_done:
                    break
            if tripped is None and outcome_error is None and mod.pending:
                t = time.perf_counter()
                d = await mod.check()
                ctx.stage("moderation_out", t)
                if d.action == "block":
                    tripped = d
            if tripped is None:
                await flush()
        finally:
            watcher.cancel()
        ctx.output = "".join(mod.text)
        prompt_tokens = int(usage.get("prompt_tokens") or 0) or estimate_tokens(ctx.prompt)
        completion_tokens = int(usage.get("completion_tokens") or 0) or estimate_tokens(ctx.output)
        ctx.usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        ctx.extra["chunks"] = chunks
        ctx.extra["moderation_checks"] = mod.checks
        await self._settle(ctx, prompt_tokens + completion_tokens)
        tail: list[bytes] = []
        if tripped is not None:
            ctx.decision_out = tripped
            ctx.outcome, ctx.reason = "blocked", "output_filtered"
            await self._strike(ctx, tripped)
            codes = tripped.blocked or tripped.failed_closed
            final = {
                "id": last.get("id", ctx.rid),
                "object": last.get("object", "chat.completion.chunk"),
                "created": last.get("created", int(time.time())),
                "model": last.get("model", ctx.model),
                "choices": [
                    {"index": 0, "delta": {}, "finish_reason": "content_filter"}
                    if ctx.endpoint == "chat.completions"
                    else {"index": 0, "text": "", "finish_reason": "content_filter"}
                ],
                "modelwarden": {"blocked": codes},
            }
            err = error_payload(
                400,
                "content_filter",
                f"The response was stopped by the `{ctx.tier.name}` tier's content policy "
                f"({', '.join(codes)}).",
                extra={"categories": codes},
            )
            tail += [
                b"data: " + json.dumps(final).encode() + b"\n\n",
                b"data: " + json.dumps(err).encode() + b"\n\n",
            ]
        elif outcome_error is not None:
            ctx.outcome, ctx.reason = "error", outcome_error["error"]["code"]
            ctx.status = 502
            tail.append(b"data: " + json.dumps(outcome_error).encode() + b"\n\n")
        else:
            flagged = mod.flagged or (ctx.decision_in is not None and ctx.decision_in.action == "flag")
            if flagged:
                ctx.outcome = "flagged"
                ctx.decision_out = mod.decisions[-1] if mod.decisions else None
        # Acknowledge ([DONE]) only after the audit entry is committed.
        t = time.perf_counter()
        try:
            await self.audit.append(self._entry(ctx))
        except AuditUnavailable as exc:
            tail.append(
                b"data: "
                + json.dumps(
                    error_payload(
                        503, "audit_unavailable", f"The gateway cannot record this request ({exc.message})."
                    )
                ).encode()
                + b"\n\n"
            )
        ctx.stage("audit", t)
        tail.append(b"data: [DONE]\n\n")
        if gone.is_set():
            raise ClientGone
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"".join(tail), "more_body": False})

    async def _moderations(self, ctx: Ctx, body: dict[str, Any], send: Send) -> None:
        """OpenAI-compatible /v1/moderations backed by the cascade, in S-codes (§6.4)."""
        assert ctx.tier is not None and ctx.principal is not None
        text, n, shape_error = input_text("moderations", body)
        if shape_error:
            return await self._reject(ctx, send, 400, "invalid_request", shape_error)
        ctx.prompt = text
        tier = ctx.tier
        res = await self.limiter.reserve(
            ctx.principal.identity_id, Limits(tier.rpm, tier.tpm, tier.daily_tokens), estimate_tokens(text, n)
        )
        ctx.reservation = res
        if not res.ok:
            retry = max(1, math.ceil(res.retry_after))
            return await self._reject(
                ctx,
                send,
                429,
                "rate_limit_exceeded",
                f"Rate limit reached ({res.reason}).",
                headers=[(b"retry-after", str(retry).encode())],
            )
        inputs = body["input"] if isinstance(body.get("input"), list) else [body.get("input")]
        results = []
        for item in inputs:
            d = await self.cascade.check(str(item), role="user", policy=tier.moderation)
            flagged_codes = set(d.blocked) | set(d.flagged)
            results.append(
                {
                    "flagged": bool(flagged_codes),
                    "categories": {c: c in flagged_codes for c in sorted(set(d.scores) | flagged_codes)},
                    "category_scores": {c: round(s, 4) for c, s in d.scores.items()},
                }
            )
        ctx.extra["flagged_inputs"] = sum(r["flagged"] for r in results)
        await self._settle(ctx, estimate_tokens(text, n))
        if not await self._commit(ctx, send):
            return None
        payload = {
            "id": "modr-" + ctx.rid,
            "model": "modelwarden-" + "+".join(self.cascade.names),
            "results": results,
        }
        return await send_json(send, 200, payload, ctx.headers())

    # --- audit entry ---------------------------------------------------------------------------

    def _entry(self, ctx: Ctx) -> Entry:
        p, tier = ctx.principal, ctx.tier
        body: dict[str, Any] = {
            "rid": ctx.rid,
            "endpoint": ctx.endpoint,
            "status": ctx.status,
            "decision": ctx.outcome,
            "ip_hash": text_digest(self.salt, ctx.ip)[:16] if ctx.ip else None,
            "overhead_ms": round(ctx.overhead_ms, 3),
            "upstream_ms": round(ctx.upstream_s * 1000, 3),
        }
        if ctx.reason:
            body["reason"] = ctx.reason
        if p is not None:
            body["key"] = keymod.display_id(p.key_id)
        if tier is not None:
            body["tier"] = tier.name
        if ctx.model:
            body["model"] = ctx.model
        if ctx.stream:
            body["stream"] = True
        if ctx.clamped:
            body["clamped"] = ctx.clamped
        if ctx.reservation is not None:
            body["reserved"] = ctx.reservation.tokens
            if not ctx.reservation.ok:
                body["limit"] = ctx.reservation.reason
        if ctx.usage:
            body["usage"] = ctx.usage
        for name, d in (("input", ctx.decision_in), ("output", ctx.decision_out)):
            # Fail-open outcomes are logged too (gateway.md §11.7 "log both outcomes").
            if d is not None and (d.action != "allow" or d.failed_open):
                body[f"moderation_{name}"] = d.to_json()
        if ctx.strike_actions:
            body["misuse"] = ctx.strike_actions
        if ctx.prompt:
            body["prompt_hmac"] = text_digest(self.salt, ctx.prompt)
        if ctx.output:
            body["output_hmac"] = text_digest(self.salt, ctx.output)
        body.update(ctx.extra)
        texts = None
        # Full text only where the tier says so *and* the identity has an agreement on file: the
        # agreement is where the user's consent to full-text logging is recorded (gateway.md §9,
        # "full text for researchers who consent"). Anyone else gets hashes only, whatever the tier.
        if (
            tier is not None
            and tier.log_level == "text"
            and p is not None
            and p.agreement
            and (ctx.prompt or ctx.output)
        ):
            texts = {k: v for k, v in (("prompt", ctx.prompt), ("output", ctx.output)) if v}
            body["text_logged"] = sorted(texts)
        action = "request." + ctx.outcome
        actor = f"key:{keymod.display_id(p.key_id)}" if p is not None else "anonymous"
        return Entry(actor, action, p.identity_id if p is not None else None, body, texts=texts)
