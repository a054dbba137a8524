"""The request pipeline for /v1/* (docs/gateway.md "How a request is handled"): one path for every
endpoint, six stages, each timed:

1. parse: the URL and method against the endpoint table, then (after authentication) the body
   within the size limit as one strict JSON object;
2. authenticate: key → identity → tier (cache checked against the revocation epoch);
3. admit: one `admit()` for chat, completions, embeddings and moderations alike — body shape, model
   allow-list, streaming and logprobs permissions, one completion budget clamped to the tier cap,
   the atomic reservation under the identity's (possibly throttled) limits, input moderation;
4. forward: to the model server (pooled; streams passed on chunk by chunk under windowed output
   moderation), or answered by the gateway itself (moderations, the model list);
5. settle: the reservation to what was generated — the upstream's usage, else an estimate that
   the entry labels as one; a client that leaves mid-stream pays for what was generated;
6. audit: exactly one entry per request, committed before the answer is sent.

A stage ends a request early by raising `Reject`; `__call__` answers every exit — rejections,
disconnects and unexpected errors — in one place, so no endpoint can miss a control or an entry.
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

from modelwarden.errors import AuditUnavailable, LimiterUnavailable
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
from modelwarden.gateway.audit import AuditWriter, Entry, text_digest
from modelwarden.gateway.auth import Authenticator, AuthFailure
from modelwarden.gateway.bodies import (
    ENDPOINTS,
    BadJSON,
    Endpoint,
    Input,
    delta_text,
    estimate_tokens,
    output_text,
    parse_object,
    read_input,
    unknown_fields,
    usage_count,
)
from modelwarden.gateway.config import GatewayConfig
from modelwarden.gateway.limiter import Limiter, Limits, Reservation
from modelwarden.gateway.misuse import MisuseMonitor
from modelwarden.gateway.moderation.base import ALLOW, Decision
from modelwarden.gateway.moderation.cascade import Cascade
from modelwarden.gateway.moderation.stream import StreamModerator
from modelwarden.gateway.store import Principal
from modelwarden.gateway.tiers import Tier
from modelwarden.gateway.trustgate import TrustGate
from modelwarden.gateway.upstream import Route, UpstreamFailure, UpstreamPool, map_status

log = logging.getLogger("modelwarden.gateway.proxy")

_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_N = 8
#: Longest model name kept in an audit entry or error message.
MAX_MODEL_NAME = 256
#: HTTP header values are ISO-8859-1 at best and ASCII in practice (RFC 9110 §5.5): what our
#: messages use beyond ASCII, spelled in ASCII.
_HEADER_ASCII = str.maketrans({"×": "x", "–": "-", "—": "-", "…": "...", "→": "->"})


def header_value(text: str) -> bytes:
    """`text` as an ASCII header value (the few typographic characters we use, transliterated)."""
    return text.translate(_HEADER_ASCII).encode("ascii", "replace")


class Reject(Exception):
    """An early answer from any stage: an OpenAI-style error, audited like every other exit."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        outcome: str = "rejected",
        extra: dict[str, Any] | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.outcome = outcome
        self.extra = extra
        self.headers = headers or []


@dataclass
class Admission:
    """What `admit()` hands to the forward stage."""

    #: The body as it goes upstream (budget fields set to the clamped limit).
    body: dict[str, Any]
    #: The model server and model (None for endpoints the gateway answers itself).
    route: Route | None
    #: The request's input.
    input: Input
    #: Tokens reserved for the prompt (estimate, before any upstream usage is known).
    prompt_estimate: int


@dataclass
class Ctx:
    """One request's state through the pipeline; `_entry()` turns it into its audit entry."""

    rid: str
    #: The client's own `x-request-id`, when it sent a well-formed one (tracing only, not unique).
    client_rid: str | None
    endpoint: str
    t0: float
    ip: str
    principal: Principal | None = None
    tier: Tier | None = None
    model: str | None = None
    stream: bool = False
    clamped: dict[str, list[int]] = field(default_factory=dict)
    reservation: Reservation | None = None
    #: Tokens the reservation is settled to (0 refunds it all: nothing was generated).
    charge: int = 0
    decision_in: Decision | None = None
    decision_out: Decision | None = None
    upstream_s: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    #: Usage fields the gateway estimated because the upstream did not report them.
    usage_estimated: list[str] = field(default_factory=list)
    status: int = 200
    outcome: str = "ok"
    reason: str | None = None
    prompt: str = ""
    output: str = ""
    warning: str | None = None
    strike_actions: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: The audit entry was attempted (never twice).
    logged: bool = False
    #: The response start was sent (an error can then only be audited, not answered).
    started: bool = False

    def stage(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.stages[name] = self.stages.get(name, 0.0) + (now - since) * 1000
        return now

    @property
    def overhead_ms(self) -> float:
        return (time.perf_counter() - self.t0 - self.upstream_s) * 1000

    def set_usage(
        self, prompt: int | None, completion: int | None, text_in: str, text_out: str, pieces: int = 0
    ) -> None:
        """Record usage, estimating (and labelling) what the upstream did not report. `pieces`: the
        streamed chunks that carried text, each at least one token (servers stream token by token),
        so text that tokenises densely (digits, rare scripts) is not charged below what it cost."""
        self.usage_estimated = []
        if prompt is None:
            prompt = estimate_tokens(text_in)
            self.usage_estimated.append("prompt_tokens")
        if completion is None:
            completion = max(estimate_tokens(text_out) if text_out else 0, pieces)
            self.usage_estimated.append("completion_tokens")
        self.usage = {"prompt_tokens": prompt, "completion_tokens": completion}
        self.charge = prompt + completion

    def headers(self) -> list[tuple[bytes, bytes]]:
        h = [
            (b"x-request-id", self.rid.encode()),
            *([(b"x-client-request-id", self.client_rid.encode())] if self.client_rid else []),
            (b"x-modelwarden-overhead-ms", f"{self.overhead_ms:.3f}".encode()),
            (b"server-timing", ", ".join(f"{k};dur={v:.3f}" for k, v in self.stages.items()).encode()),
        ]
        if self.tier is not None:
            h.append((b"x-modelwarden-tier", header_value(self.tier.name)))
        if self.clamped:
            h.append(
                (
                    b"x-modelwarden-clamped",
                    ", ".join(f"{k}={v[0]}->{v[1]}" for k, v in self.clamped.items()).encode(),
                )
            )
        if self.warning:
            h.append((b"x-modelwarden-warning", header_value(self.warning)))
        return h


def _dumps(value: Any) -> bytes:
    """JSON for our answers: ASCII-escaped, so any string (even a lone surrogate) encodes."""
    return json.dumps(value, separators=(",", ":")).encode()


def _upstream_json(value: dict[str, Any]) -> bytes:
    """The body for the model server as strict UTF-8 JSON; ValueError (lone surrogates, which no
    UTF-8 can carry) or RecursionError when it cannot be."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _loads(raw: bytes) -> Any:
    """An upstream's JSON, or None when it is not JSON (or too deep to parse)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


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
        trust: TrustGate | None = None,
    ) -> None:
        self.cfg = cfg
        self.trust = trust
        self.auth = auth
        self.limiter = limiter
        self.cascade = cascade
        self.pool = pool
        self.audit = audit
        self.misuse = misuse
        self.salt = salt
        self._rid_prefix = secrets.token_hex(4)
        self._rid_n = 0

    # --- entry: every exit of every request is answered and audited here ----------------------------

    def _next_rid(self) -> str:
        # A random per-process prefix and a counter: unique across workers and restarts, without a
        # getrandom() system call per request.
        self._rid_n += 1
        return f"req_{self._rid_prefix}{self._rid_n:08x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        spec = ENDPOINTS.get(path.rstrip("/") or path)
        rid_in = header(scope, b"x-request-id")
        ctx = Ctx(
            # The audit log's id is always the gateway's own: an id the client chose could be
            # another request's (ids are guessable), giving one id two entries. The client's id is
            # kept beside it for tracing, and echoed as `x-client-request-id`.
            rid=self._next_rid(),
            client_rid=rid_in if rid_in and _RID.match(rid_in) else None,
            endpoint=spec.name if spec else path[:64],
            t0=time.perf_counter(),
            ip=(scope.get("client") or ("", 0))[0] or "",
        )
        try:
            await self._pipeline(ctx, spec, scope, receive, send)
        except Reject as r:
            await self._answer_error(ctx, send, await self._count_refused(ctx, r))
        except ClientGone:
            # The client left: whatever was generated is already in ctx.charge (see _stream).
            ctx.status, ctx.outcome, ctx.reason = 499, "error", "client_disconnected"
            await self.finish(ctx)
        except Exception:
            log.exception("request %s failed", ctx.rid)
            await self._answer_error(
                ctx,
                send,
                Reject(
                    500,
                    "internal_error",
                    f"The gateway failed on this request ({ctx.rid}); it has been logged.",
                    outcome="error",
                ),
            )

    async def _answer_error(self, ctx: Ctx, send: Send, r: Reject) -> None:
        ctx.status, ctx.outcome, ctx.reason = r.status, r.outcome, r.code
        await self._reply(
            ctx, send, r.status, error_payload(r.status, r.code, r.message, extra=r.extra), r.headers
        )

    async def _reply(
        self,
        ctx: Ctx,
        send: Send,
        status: int,
        payload: Any,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Settle and audit, then answer (503 instead when the entry cannot be written: fail closed)."""
        failure = await self.finish(ctx)
        if ctx.started:
            return  # a stream already answered; its end was sent by _stream
        ctx.started = True
        if failure is not None:
            payload = error_payload(
                503, "audit_unavailable", f"The gateway cannot record this request ({failure.message})."
            )
            status, headers = 503, []
        extra = ctx.headers() + (headers or [])
        with contextlib.suppress(OSError):
            if isinstance(payload, bytes):
                await send_raw_json(send, status, payload, extra)
            else:
                await send_json(send, status, payload, extra)

    async def finish(self, ctx: Ctx) -> AuditUnavailable | None:
        """Settle the reservation to `ctx.charge` and append the one audit entry (once)."""
        if ctx.logged:
            return None
        ctx.logged = True
        res = ctx.reservation
        if res is not None and res.ok and not res.settled:
            try:
                await self.limiter.settle(res, ctx.charge)
            except Exception as exc:  # a lost refund only makes the limiter stricter
                log.error("settling %s failed: %s", ctx.rid, exc)
        t = time.perf_counter()
        try:
            await self.audit.append(_entry(self.salt, ctx))
        except AuditUnavailable as exc:
            return exc
        finally:
            ctx.stage("audit", t)
        return None

    # --- stages ---------------------------------------------------------------------------------------

    async def _pipeline(
        self, ctx: Ctx, spec: Endpoint | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        method = scope["method"]
        if spec is None:
            raise Reject(404, "unknown_url", f"Unknown request URL: {method} {scope['path']}.")
        if method != spec.method:
            raise Reject(405, "method_not_allowed", f"Use {spec.method} for {scope['path']}.")

        t = time.perf_counter()
        who = await self.auth.authenticate(header(scope, b"authorization"))
        ctx.stage("auth", t)
        if isinstance(who, AuthFailure):
            raise Reject(who.status, who.code, who.message)
        ctx.principal, ctx.tier = who.principal, who.tier

        if spec.name == "models":
            return await self._reply(ctx, send, 200, self._model_list(who.tier))

        body = await self._parse(receive)
        adm = await self.admit(ctx, spec, body)
        if spec.upstream_path is None:
            await self._moderations(ctx, adm, send)
        else:
            await self._forward(ctx, spec, adm, send, receive)

    def _model_list(self, tier: Tier) -> dict[str, Any]:
        models = [
            {"id": m.id, "object": "model", "created": 0, "owned_by": "modelwarden"}
            for m in self.pool.models()
            if tier.allows_model(m.id, m.tags) and (self.trust is None or self.trust.refusal(m.id) is None)
        ]
        return {"object": "list", "data": models}

    async def _parse(self, receive: Receive) -> dict[str, Any]:
        limit = self.cfg.limits.max_body_bytes
        try:
            raw = await read_body(receive, limit)
        except BodyTooLarge:
            raise Reject(413, "request_too_large", f"Request body exceeds {limit} bytes.") from None
        try:
            return parse_object(raw)
        except BadJSON as exc:
            raise Reject(400, "invalid_json", str(exc)) from None

    async def admit(self, ctx: Ctx, spec: Endpoint, body: dict[str, Any]) -> Admission:
        """The one admission of every endpoint: shape, model, permissions, budget, limits, input check."""
        t = time.perf_counter()
        assert ctx.tier is not None and ctx.principal is not None
        tier = ctx.tier
        route = self._route(ctx, spec, body)
        unknown = unknown_fields(spec, body)
        if unknown:
            # Model servers honour their own fields, some of which undo the controls below
            # (llama.cpp `n_predict`, vLLM `min_tokens`, ...): only known fields are forwarded.
            names = ", ".join(f"`{k[:40]}`" for k in unknown[:5])
            raise Reject(
                400,
                "unknown_parameter",
                f"Unrecognized request argument supplied: {names} (see docs/gateway.md, what is forwarded).",
            )
        inp = read_input(spec, body)
        if isinstance(inp, str):
            raise Reject(400, "invalid_request", inp)
        ctx.prompt = inp.text
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise Reject(400, "invalid_request", "`stream` must be true or false.")
        ctx.stream = spec.streams and bool(stream)
        if ctx.stream and not tier.stream_allowed:
            raise Reject(403, "stream_not_allowed", f"Streaming is not available in the `{tier.name}` tier.")
        copies = 1
        if spec.budget_fields:
            # `logprobs: 0` (completions) still returns the sampled tokens' logprobs: any value but
            # absent/null/false asks for them.
            # (Identity, not `in (None, False)`: 0 == False in Python.)
            lp = body.get("logprobs")
            asks = (lp is not None and lp is not False) or body.get("top_logprobs") is not None
            if asks and not tier.logprobs_allowed:
                raise Reject(
                    403, "logprobs_not_allowed", f"logprobs are not available in the `{tier.name}` tier."
                )
            copies = self._copies(body)
        out_tokens = self._budget(ctx, spec, body, tier) * copies
        prompt_estimate = estimate_tokens(inp.text, inp.count) + inp.ids
        await self._reserve(ctx, tier, prompt_estimate + out_tokens)
        t = ctx.stage("admit", t)
        if spec.upstream_path is not None:
            await self._check_input(ctx, tier, inp.text)
            ctx.stage("moderation_in", t)
        return Admission(body, route, inp, prompt_estimate)

    def _route(self, ctx: Ctx, spec: Endpoint, body: dict[str, Any]) -> Route | None:
        model = body.get("model")
        # The entry and the error name the model as asked, cut short: a body-sized model name must
        # not become a body-sized audit entry.
        shown = model[:MAX_MODEL_NAME] if isinstance(model, str) else None
        if not spec.needs_model:
            ctx.model = shown or None
            return None
        if not isinstance(model, str) or not model:
            raise Reject(400, "missing_model", "`model` is required.")
        ctx.model = shown
        route = self.pool.route(model)
        if route is None:
            raise Reject(404, "model_not_found", f"The model `{shown}` does not exist.")
        assert ctx.tier is not None
        if not ctx.tier.allows_model(model, route.model.tags):
            raise Reject(
                403, "model_not_allowed", f"The `{ctx.tier.name}` tier does not give access to `{model}`."
            )
        refused = self.trust.refusal(model) if self.trust is not None else None
        if refused is not None:
            # The operator's view (files, checks) stays in the log and /admin/trust: never paths here.
            if refused.state == "pending":
                raise Reject(
                    503,
                    "model_verifying",
                    f"The model `{shown}` is being verified; try again shortly.",
                    headers=[(b"retry-after", b"5")],
                )
            raise Reject(
                403,
                "model_not_verified",
                f"The model `{shown}` is not served: it did not pass the operator's verification "
                "(signature, attestation and policy). The operator has been told why.",
            )
        return route

    @staticmethod
    def _copies(body: dict[str, Any]) -> int:
        n = body.get("n", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
            raise Reject(400, "invalid_n", f"`n` must be an integer from 1 to {MAX_N}.")
        # `best_of` (completions; vLLM accepts it on chat too) generates that many sequences and
        # returns n: the budget must cover all of them, or it is a way around the token limits.
        best_of = body.get("best_of")
        if best_of is not None and (
            not isinstance(best_of, int) or isinstance(best_of, bool) or not n <= best_of <= MAX_N
        ):
            raise Reject(400, "invalid_n", f"`best_of` must be an integer from n ({n}) to {MAX_N}.")
        return max(n, best_of or 1)

    @staticmethod
    def _budget(ctx: Ctx, spec: Endpoint, body: dict[str, Any], tier: Tier) -> int:
        """The one completion limit: the smallest asked under any name, clamped to the tier cap, and
        written under every name, so whichever one the model server reads, it stops there."""
        if not spec.budget_fields:
            return 0
        cap = tier.max_tokens_cap
        asked: dict[str, int] = {}
        for k in spec.budget_fields:
            v = body.get(k)
            if v is None:
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise Reject(400, "invalid_max_tokens", f"`{k}` must be a positive integer.")
            asked[k] = v
        limit = min([cap, *asked.values()])
        for k, v in asked.items():
            if v > cap:
                ctx.clamped[k] = [v, cap]
        for k in spec.budget_fields:
            body[k] = limit
        return limit

    async def _count_refused(self, ctx: Ctx, r: Reject) -> Reject:
        """A request refused before its reservation (bad body, unknown model, policy) still counts
        as one request against the identity's rpm: otherwise invalid requests — each one an audit
        entry — could be sent without limit. Over the limit, the answer is the 429."""
        if ctx.principal is None or ctx.tier is None or ctx.reservation is not None or r.status >= 500:
            return r
        try:
            await self._reserve(ctx, ctx.tier, 0)
        except Reject as limited:
            if limited.status == 429:
                return limited
        return r

    async def _reserve(self, ctx: Ctx, tier: Tier, tokens: int) -> None:
        p = ctx.principal
        assert p is not None
        limits = Limits(tier.rpm, tier.tpm, tier.daily_tokens)
        if p.throttle_factor and p.throttle_until and p.throttle_until > time.time():
            limits = limits.scaled(p.throttle_factor)
            ctx.extra["throttled"] = p.throttle_factor
        try:
            res = await self.limiter.reserve(p.identity_id, limits, tokens)
        except LimiterUnavailable as exc:
            raise Reject(503, "limiter_unavailable", exc.message, outcome="error") from None
        ctx.reservation = res
        if res.failed_open:
            ctx.extra["limits_failed_open"] = True
        if res.ok:
            return
        if res.reason == "too_large":
            raise Reject(
                400,
                "request_too_large",
                f"This request reserves {tokens} tokens, more than the `{tier.name}` tier's "
                f"{limits.tpm:g} per minute.",
            )
        retry = max(1, math.ceil(res.retry_after))
        raise Reject(
            429,
            "rate_limit_exceeded",
            f"Rate limit reached ({res.reason}) for the `{tier.name}` tier: retry after {retry} s.",
            extra={"limit": res.reason},
            headers=[(b"retry-after", str(retry).encode())],
        )

    async def _check_input(self, ctx: Ctx, tier: Tier, text: str) -> None:
        d = await self.cascade.check(text, role="user", policy=tier.moderation) if text else ALLOW
        ctx.decision_in = d
        if d.action != "allow":
            await self.strike(ctx, d)
        if d.action != "block":
            return
        if d.blocked:
            raise Reject(
                400,
                "content_filter",
                f"The request was blocked by the `{tier.name}` tier's content policy "
                f"({', '.join(d.blocked)}).",
                outcome="blocked",
                extra={"categories": d.blocked},
            )
        raise Reject(
            503,
            "moderation_unavailable",
            "The request cannot be checked right now and this tier does not let unchecked requests "
            f"through ({', '.join(d.failed_closed)}).",
            outcome="blocked",
            extra={"categories": d.failed_closed},
        )

    async def strike(self, ctx: Ctx, d: Decision) -> None:
        assert ctx.principal is not None and ctx.tier is not None
        try:
            outcome = await self.misuse.record(ctx.principal.identity_id, ctx.tier, d)
        except Exception as exc:  # strikes must not break the request; the entry still records the block
            log.error("misuse monitor failed: %s", exc)
            return
        ctx.warning = outcome.warning
        ctx.strike_actions = outcome.actions
        if outcome.actions:
            ctx.extra["strike_score"] = round(outcome.score, 3)

    # --- forward ----------------------------------------------------------------------------------------

    async def _moderations(self, ctx: Ctx, adm: Admission, send: Send) -> None:
        """OpenAI-compatible /v1/moderations answered by the cascade, in S-codes (§6.4)."""
        assert ctx.tier is not None
        t = time.perf_counter()
        results = []
        for item in adm.input.items:
            d = await self.cascade.check(item, role="user", policy=ctx.tier.moderation)
            flagged_codes = set(d.blocked) | set(d.flagged)
            results.append(
                {
                    "flagged": bool(flagged_codes),
                    "categories": {c: c in flagged_codes for c in sorted(set(d.scores) | flagged_codes)},
                    "category_scores": {c: round(s, 4) for c, s in d.scores.items()},
                }
            )
        ctx.stage("moderation_in", t)
        ctx.extra["flagged_inputs"] = sum(r["flagged"] for r in results)
        # Classification is the gateway's own work, measured by the input's size (an estimate).
        ctx.usage = {"prompt_tokens": adm.prompt_estimate, "completion_tokens": 0}
        ctx.usage_estimated = ["prompt_tokens"]
        ctx.charge = adm.prompt_estimate
        payload = {
            "id": "modr-" + ctx.rid,
            "model": "modelwarden-" + "+".join(self.cascade.names),
            "results": results,
        }
        await self._reply(ctx, send, 200, payload)

    async def _forward(self, ctx: Ctx, spec: Endpoint, adm: Admission, send: Send, receive: Receive) -> None:
        route = adm.route
        assert route is not None and spec.upstream_path is not None
        upstream_body = dict(adm.body)
        upstream_body["model"] = route.upstream_model
        wants_usage = False
        # stream_options are the gateway's own: only `include_usage`, asked for ourselves to settle
        # on the real usage (servers that ignore it are estimated). Other keys are read by some
        # servers (vLLM `continuous_usage_stats`), and some refuse the field on a unary request.
        so = upstream_body.pop("stream_options", None)
        if ctx.stream:
            wants_usage = isinstance(so, dict) and so.get("include_usage") is True
            upstream_body["stream_options"] = {"include_usage": True}
        try:
            payload = _upstream_json(upstream_body)
        except (ValueError, RecursionError):
            raise Reject(400, "invalid_request", "The request body cannot be passed on as JSON.") from None
        t_up = time.perf_counter()
        try:
            resp = await route.upstream.request("POST", spec.upstream_path, payload)
        except UpstreamFailure as exc:
            ctx.upstream_s += time.perf_counter() - t_up
            if exc.code == "upstream_timeout":
                # A non-streamed answer comes after generation: the model server worked (and may go
                # on working) for a time we cannot measure.
                _charge_unknown(ctx)
            raise Reject(exc.status, exc.code, exc.message, outcome="error") from None
        try:
            if ctx.stream and resp.status == 200:
                await self._stream(ctx, route, resp, send, receive, wants_usage)
            else:
                await self._unary(ctx, route, resp, send, t_up)
        finally:
            route.upstream.release(resp)

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
            _charge_unknown(ctx)  # the answer was generated, then lost on the way
            raise Reject(
                status, code, f"The model server ({route.upstream.name}) {what}.", outcome="error"
            ) from None
        ctx.upstream_s += time.perf_counter() - t_up
        if resp.status != 200:
            msg = None
            with contextlib.suppress(Exception):
                err = _loads(raw).get("error")
                msg = err.get("message") if isinstance(err, dict) else str(err) if err else None
            f = map_status(resp.status, route.upstream.name, msg if isinstance(msg, str) else None)
            raise Reject(f.status, f.code, f.message, outcome="error")
        data = _loads(raw)
        if not isinstance(data, dict):
            raise Reject(
                502,
                "upstream_invalid",
                f"The model server ({route.upstream.name}) sent invalid JSON.",
                outcome="error",
            )
        u = data.get("usage")
        ctx.output = output_text(ctx.endpoint, data) if ctx.endpoint != "embeddings" else ""
        ctx.set_usage(
            usage_count(u, "prompt_tokens"),
            usage_count(u, "completion_tokens") if ctx.endpoint != "embeddings" else 0,
            ctx.prompt,
            ctx.output,
        )
        if ctx.endpoint != "embeddings" and await self._filter_output(ctx, data):
            raw = _dumps(data)
        elif ctx.outcome == "ok" and ctx.decision_in and ctx.decision_in.action == "flag":
            ctx.outcome = "flagged"
        await self._reply(ctx, send, 200, raw)

    async def _filter_output(self, ctx: Ctx, data: dict[str, Any]) -> bool:
        """Moderate a whole answer; blank it (Azure/OpenAI convention: 200, empty content,
        finish_reason content_filter) when blocked. True when `data` was changed."""
        assert ctx.tier is not None
        t = time.perf_counter()
        out = ctx.output
        d = (
            await self.cascade.check(out, role="assistant", policy=ctx.tier.moderation, context=ctx.prompt)
            if out
            else ALLOW
        )
        ctx.decision_out = d
        ctx.stage("moderation_out", t)
        if d.action != "allow":
            await self.strike(ctx, d)
        if d.action == "flag" or (ctx.decision_in is not None and ctx.decision_in.action == "flag"):
            ctx.outcome = "flagged"
        if d.action != "block":
            return False
        ctx.outcome, ctx.reason = "blocked", "output_filtered"
        choices = data.get("choices")
        for ch in choices if isinstance(choices, list) else []:
            if isinstance(ch, dict):
                ch["finish_reason"] = "content_filter"
                ch.pop("logprobs", None)  # each logprob entry carries its token's text
                if isinstance(ch.get("message"), dict):
                    # Everything generated goes (reasoning, tool calls, refusals), not only content.
                    ch["message"] = {"role": ch["message"].get("role", "assistant"), "content": ""}
                if "text" in ch:
                    ch["text"] = ""
        data["modelwarden"] = {"blocked": d.blocked or d.failed_closed}
        return True

    async def _stream(
        self,
        ctx: Ctx,
        route: Route,
        resp: aiohttp.ClientResponse,
        send: Send,
        receive: Receive,
        wants_usage: bool,
    ) -> None:
        assert ctx.tier is not None
        run = _StreamRun(self, ctx, route, resp, send, wants_usage)
        gone = run.gone

        async def watch() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    gone.set()
                    # Stop reading (and so stop the model server generating): readany() fails now.
                    resp.close()
                    return

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await run.start()
            await run.relay()
        except ClientGone:
            run.left = True
        except Exception:
            # A gateway bug mid-stream: the stream still ends well-formed, charged and audited.
            log.exception("stream %s failed", ctx.rid)
            run.error = error_payload(
                500, "internal_error", f"The gateway failed on this stream ({ctx.rid})."
            )
        finally:
            watcher.cancel()
        await run.end()


class _StreamRun:
    """One streamed answer: relay upstream events to the client under windowed output moderation,
    then settle and audit what was generated, and end the stream."""

    def __init__(
        self,
        proxy: Proxy,
        ctx: Ctx,
        route: Route,
        resp: aiohttp.ClientResponse,
        send: Send,
        wants_usage: bool,
    ) -> None:
        assert ctx.tier is not None
        self.proxy = proxy
        self.ctx = ctx
        self.route = route
        self.resp = resp
        self.send = send
        self.wants_usage = wants_usage
        cfg = proxy.cfg.moderation.stream
        self.mod = StreamModerator(proxy.cascade, ctx.tier.moderation, cfg, context=ctx.prompt)
        self.holdback = cfg.holdback
        self.gone = asyncio.Event()
        self.left = False
        self.buffered: list[bytes] = []
        self.last: dict[str, Any] = {}
        self.usage: dict[str, Any] = {}
        self.error: dict[str, Any] | None = None
        self.tripped: Decision | None = None
        self.chunks = 0
        #: Chunks whose choices carried generated text (each is at least one token).
        self.text_chunks = 0
        self.done = False

    async def start(self) -> None:
        self.ctx.started = True
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    *self.ctx.headers(),
                ],
            }
        )

    async def _emit(self, data: bytes) -> None:
        if self.gone.is_set():
            raise ClientGone
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def _flush(self) -> None:
        if self.buffered:
            data = b"".join(self.buffered)
            self.buffered.clear()
            await self._emit(data)

    def _fail(self, status: int, code: str, what: str) -> None:
        self.error = error_payload(status, code, f"The model server ({self.route.upstream.name}) {what}")

    async def relay(self) -> None:
        ctx = self.ctx
        pending = b""
        while not (self.tripped or self.error or self.done):
            t_read = time.perf_counter()
            try:
                piece = await self.resp.content.readany()
            except (TimeoutError, aiohttp.ClientError) as exc:
                ctx.upstream_s += time.perf_counter() - t_read
                if self.gone.is_set():
                    raise ClientGone from None
                if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
                    self._fail(504, "upstream_timeout", "stopped sending.")
                else:
                    self._fail(502, "upstream_disconnected", "broke off the stream.")
                break
            ctx.upstream_s += time.perf_counter() - t_read
            if self.gone.is_set():
                raise ClientGone
            if not piece:
                self._fail(502, "upstream_disconnected", "ended the stream without finishing it.")
                break
            pending += piece
            events = pending.split(b"\n\n")
            pending = events.pop()
            for ev in events:
                if await self._event(ev):
                    break
        if self.tripped is None and self.error is None and self.mod.pending:
            await self._check()
        if self.tripped is None:
            await self._flush()

    async def _event(self, ev: bytes) -> bool:
        """Handle one SSE event; True when the stream must stop here."""
        data_lines = [ln[5:].strip() for ln in ev.split(b"\n") if ln.startswith(b"data:")]
        if not data_lines:
            return False
        data = b"\n".join(data_lines)
        if data == b"[DONE]":
            self.done = True
            return False
        chunk = _loads(data)
        if not isinstance(chunk, dict):
            return False
        if "error" in chunk:
            self._fail(502, "upstream_error", "failed mid-stream.")
            return True
        if isinstance(chunk.get("usage"), dict) and chunk["usage"]:
            self.usage = chunk["usage"]
            if not chunk.get("choices"):
                # The usage-only final chunk (choices: []) we asked for ourselves: pass it on only if
                # the client asked for it too (LiteLLM #42484: never choke on it).
                if self.wants_usage:
                    self.buffered.append(b"data: " + data + b"\n\n")
                return False
        self.last = chunk
        self.chunks += 1
        text = delta_text(self.ctx.endpoint, chunk)
        if text:
            self.text_chunks += 1
        due = self.mod.feed(text)
        self.buffered.append(b"data: " + data + b"\n\n")
        if due:
            if await self._check():
                return True
            await self._flush()  # everything up to here is inside a window that passed
        elif not self.holdback:
            await self._flush()
        return False

    async def _check(self) -> bool:
        t = time.perf_counter()
        d = await self.mod.check()
        self.ctx.stage("moderation_out", t)
        if d.action == "block":
            self.tripped = d
            return True
        return False

    async def end(self) -> None:
        """Settle to what was generated, audit, and (if the client is still there) end the stream."""
        ctx = self.ctx
        ctx.output = "".join(self.mod.text)
        # What the model server generated is charged whether or not the client stayed to read it:
        # its own count when it sent one, else an estimate of the text received (labelled so).
        ctx.set_usage(
            usage_count(self.usage, "prompt_tokens"),
            usage_count(self.usage, "completion_tokens"),
            ctx.prompt,
            ctx.output,
            self.text_chunks,
        )
        ctx.extra["chunks"] = self.chunks
        ctx.extra["moderation_checks"] = self.mod.checks
        tail: list[bytes] = []
        if self.left:
            ctx.status, ctx.outcome, ctx.reason = 499, "error", "client_disconnected"
        elif self.tripped is not None:
            tail += await self._trip_tail()
        elif self.error is not None:
            code = self.error["error"]["code"]
            ctx.outcome, ctx.reason = "error", code
            ctx.status = 500 if code == "internal_error" else 502
            tail.append(b"data: " + _dumps(self.error) + b"\n\n")
        else:
            flagged = self.mod.flagged or (ctx.decision_in is not None and ctx.decision_in.action == "flag")
            if flagged:
                ctx.outcome = "flagged"
                ctx.decision_out = self.mod.decisions[-1] if self.mod.decisions else None
        # Acknowledge ([DONE]) only after the audit entry is committed.
        failure = await self.proxy.finish(ctx)
        if self.left or self.gone.is_set():
            return
        if failure is not None:
            err = error_payload(
                503, "audit_unavailable", f"The gateway cannot record this request ({failure.message})."
            )
            tail.append(b"data: " + _dumps(err) + b"\n\n")
        tail.append(b"data: [DONE]\n\n")
        with contextlib.suppress(Exception):
            await self.send({"type": "http.response.body", "body": b"".join(tail), "more_body": False})

    async def _trip_tail(self) -> list[bytes]:
        ctx, tripped, last = self.ctx, self.tripped, self.last
        assert tripped is not None and ctx.tier is not None
        ctx.decision_out = tripped
        ctx.outcome, ctx.reason = "blocked", "output_filtered"
        await self.proxy.strike(ctx, tripped)
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
            f"The response was stopped by the `{ctx.tier.name}` tier's content policy ({', '.join(codes)}).",
            extra={"categories": codes},
        )
        return [b"data: " + _dumps(final) + b"\n\n", b"data: " + _dumps(err) + b"\n\n"]


def _charge_unknown(ctx: Ctx) -> None:
    """Settle to the whole reservation: the model server generated an answer the gateway never
    received, so what it cost is unknown. Refunding it would make requests that outlast the read
    timeout free of the token limits; the reservation is the most they could have cost."""
    if ctx.reservation is not None and ctx.reservation.ok:
        ctx.charge = ctx.reservation.tokens
        ctx.extra["charged_reservation"] = True


def _entry_body(salt: bytes, ctx: Ctx) -> dict[str, Any]:
    p, tier = ctx.principal, ctx.tier
    body: dict[str, Any] = {
        "rid": ctx.rid,
        "endpoint": ctx.endpoint,
        "status": ctx.status,
        "decision": ctx.outcome,
        "ip_hash": text_digest(salt, ctx.ip)[:16] if ctx.ip else None,
        "overhead_ms": round(ctx.overhead_ms, 3),
        "upstream_ms": round(ctx.upstream_s * 1000, 3),
    }
    if ctx.client_rid:
        body["client_request_id"] = ctx.client_rid
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
        if ctx.reservation.ok:
            body["charged"] = ctx.charge
        else:
            body["limit"] = ctx.reservation.reason
    if ctx.usage:
        body["usage"] = ctx.usage
        # Which counts are the gateway's estimate (UTF-8 bytes / 3) rather than the upstream's.
        body["usage_source"] = (
            "upstream"
            if not ctx.usage_estimated
            else "estimate"
            if len(ctx.usage_estimated) == len(ctx.usage)
            else "upstream+estimate"
        )
        if ctx.usage_estimated:
            body["usage_estimated"] = ctx.usage_estimated
    for name, d in (("input", ctx.decision_in), ("output", ctx.decision_out)):
        # Fail-open outcomes are logged too (docs/reference/gateway.md §11.7 "log both outcomes").
        if d is not None and (d.action != "allow" or d.failed_open):
            body[f"moderation_{name}"] = d.to_json()
    if ctx.strike_actions:
        body["misuse"] = ctx.strike_actions
    if ctx.prompt:
        body["prompt_hmac"] = text_digest(salt, ctx.prompt)
    if ctx.output:
        body["output_hmac"] = text_digest(salt, ctx.output)
    body.update(ctx.extra)
    return body


def _entry(salt: bytes, ctx: Ctx) -> Entry:
    """The request's one audit entry."""
    p, tier = ctx.principal, ctx.tier
    body = _entry_body(salt, ctx)
    texts = None
    # Full text only where the tier says so *and* the identity has an agreement on file: the
    # agreement is where the user's consent to full-text logging is recorded (docs/reference/gateway.md §9,
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
