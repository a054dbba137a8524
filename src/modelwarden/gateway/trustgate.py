"""The trust gate: a model with a `trust:` block in gateway.yaml is served only while its model
signature, its signed attestation and the policy over that attestation all verify
(docs/gateway.md "Serving only verified models"). Verification is `modelwarden.trust.verify`, the
same checks as `modelwarden verify`; this module only decides what the gateway does with the result.

Every model starts `pending` (refused, retry later) and is verified in a thread once the worker is
up, so a large model never holds up start-up or the models that need no verification. A reload
(`POST /admin/trust/reload`, or SIGHUP to a single-worker gateway) is a `trust.reload` entry in the
audit log, which every worker of every instance on the database polls for (`TrustReloads`); each
hashes every file again — nothing is cached — and swaps the new verdicts in at once; until then the
previous verdicts stand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from modelwarden.errors import ModelwardenError
from modelwarden.gateway.audit import AuditWriter, Entry
from modelwarden.gateway.config import GatewayConfig, ModelEntry, ModelTrust
from modelwarden.trust.records import Check

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger("modelwarden.gateway.trust")

State = Literal["pending", "verified", "refused", "not_required"]
#: Longest check detail kept in an audit entry (a signature over 400,000 files names many of them).
MAX_DETAIL = 500

_REMOVE = "or remove the model's `trust:` block from gateway.yaml to serve it unverified"
_RELOAD = "then reload (POST /admin/trust/reload)"


@dataclass(frozen=True)
class ModelVerdict:
    """What the last verification of one served model found."""

    #: The model id clients ask for.
    model: str
    #: pending (not yet checked), verified, refused, or not_required (no `trust:` block, not required).
    state: State
    #: Every check that ran, in order (none for pending and not_required).
    checks: list[Check] = field(default_factory=list)
    #: What the operator should do; None when the model is served.
    next_step: str | None = None
    #: When the verification finished (UTC, ISO 8601); None while pending.
    checked_at: str | None = None
    #: How long it took, in seconds (hashing every file of the model).
    seconds: float = 0.0

    @property
    def served(self) -> bool:
        """Whether requests for this model go through."""
        return self.state in ("verified", "not_required")

    def failed(self) -> list[Check]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.passed]

    def to_json(self) -> dict[str, Any]:
        """The admin view: state, checks, what to do next."""
        return {
            "model": self.model,
            "state": self.state,
            "served": self.served,
            "checks": [c.model_dump(mode="json") for c in self.checks],
            "failed": [c.name for c in self.failed()],
            "next_step": self.next_step,
            "checked_at": self.checked_at,
            "seconds": round(self.seconds, 3),
        }


def _next_step(failed: list[Check], raised: ModelwardenError | None) -> str:
    """What to do about the first failed check, in the operator's words."""
    if raised is not None and raised.next_step:
        return f"{raised.next_step}; {_RELOAD}, {_REMOVE}"
    first = failed[0].name if failed else ""
    if first == "model signature":
        what = (
            "if the files changed on purpose, re-sign them with `modelwarden sign` and re-attest with "
            "`modelwarden attest`; if the signer changed, give their key or root certificates in the "
            "model's `trust:` block; otherwise restore the signed files"
        )
    elif first.startswith("attestation"):
        what = "re-attest the release with `modelwarden attest`, with the key that signed the model"
    elif first == "policy file":
        what = "fix or restore the policy file named above"
    elif first == "trust anchor":
        what = "give the signer's public key or root certificates in the model's `trust:` block"
    elif first.startswith("policy"):
        what = (
            "fix the release and re-attest it with `modelwarden attest` so that its assessment meets "
            "the policy, or change the policy"
        )
    elif first == "trust requirement":
        return (
            "add a `trust:` block for this model to gateway.yaml (docs/gateway.md), then restart; "
            "or set `trust.require_verified: false` to serve models without one"
        )
    else:
        what = "fix the file named above"
    return f"{what}; {_RELOAD}, {_REMOVE}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stage(exc: ModelwardenError, trust: ModelTrust) -> str:
    """Which input stopped the run, as the check's name: the file the error names."""
    where = exc.path
    if where == str(trust.policy):
        return "policy file"
    if where in {str(p) for p in [trust.public_key, *trust.certificate_chain] if p is not None}:
        return "trust anchor"
    if where == str(trust.path):
        return "model files"
    if "key material" in exc.message:
        return "trust anchor"
    return "trust files"


def check_model(model: str, trust: ModelTrust) -> ModelVerdict:
    """Run every check on one model's files (blocking: it hashes them all). Anything that stops the
    run — a missing or unreadable file, a policy that does not compile, an unexpected error — is a
    failed check: the model is refused, never served on a verification that did not finish."""
    from modelwarden.trust import TrustAnchor, verify
    from modelwarden.trust.signing import default_attestation

    t0 = time.perf_counter()
    raised: ModelwardenError | None = None
    try:
        report = verify(
            trust.path,
            TrustAnchor(public_key=trust.public_key, certificate_chain=trust.certificate_chain),
            signature=trust.signature,
            # Always an attestation: without one `verify` would check the signature alone.
            attestation=trust.attestation or default_attestation(trust.path),
            policy=trust.policy,
        )
        checks = report.checks
    except ModelwardenError as exc:
        raised = exc
        checks = [Check(name=_stage(exc, trust), passed=False, detail=exc.message)]
    except Exception as exc:  # a defect or a library surprise: refuse, and keep the traceback
        log.exception("verifying model %s failed unexpectedly", model)
        checks = [Check(name="verification", passed=False, detail=f"failed unexpectedly: {exc!r}"[:300])]
    seconds = time.perf_counter() - t0
    ok = bool(checks) and all(c.passed for c in checks)
    if ok:
        return ModelVerdict(model, "verified", checks, None, _now(), seconds)
    failed = [c for c in checks if not c.passed]
    return ModelVerdict(model, "refused", checks, _next_step(failed, raised), _now(), seconds)


def _verdict(model: str, entries: list[ModelEntry], require_verified: bool) -> ModelVerdict:
    """One model id, which may be served by several upstreams: served only if every entry passes."""
    verdicts = []
    for e in entries:
        if e.trust is not None:
            verdicts.append(check_model(model, e.trust))
        elif require_verified:
            why = "no `trust:` block for this model, and `trust.require_verified` is true"
            check = Check(name="trust requirement", passed=False, detail=why)
            verdicts.append(ModelVerdict(model, "refused", [check], _next_step([check], None), _now()))
        else:
            verdicts.append(ModelVerdict(model, "not_required", checked_at=_now()))
    refused = [v for v in verdicts if v.state == "refused"]
    return refused[0] if refused else next((v for v in verdicts if v.state == "verified"), verdicts[0])


def _entries(cfg: GatewayConfig) -> dict[str, list[ModelEntry]]:
    out: dict[str, list[ModelEntry]] = {}
    for up in cfg.upstreams:
        for m in up.models:
            out.setdefault(m.id, []).append(m)
    return out


def verify_all(cfg: GatewayConfig) -> dict[str, ModelVerdict]:
    """Verify every served model (blocking)."""
    return {m: _verdict(m, es, cfg.trust.require_verified) for m, es in _entries(cfg).items()}


@dataclass
class RunInfo:
    """One verification run: what triggered it and when."""

    trigger: str
    actor: str
    started_at: str
    finished_at: str | None = None


class TrustGate:
    """The verdicts the proxy consults on every request, and the runs that renew them."""

    def __init__(self, cfg: GatewayConfig) -> None:
        self.cfg = cfg
        entries = _entries(cfg)
        #: Which model ids need a check at all: the others are decided without touching a file.
        self.guarded = {
            m for m, es in entries.items() if cfg.trust.require_verified or any(e.trust for e in es)
        }
        self.verdicts: dict[str, ModelVerdict] = {
            m: ModelVerdict(m, "pending" if m in self.guarded else "not_required") for m in entries
        }
        self.last_run: RunInfo | None = None
        self.running: RunInfo | None = None
        #: How many runs have finished in this process.
        self.runs = 0
        self._lock = asyncio.Lock()

    def refusal(self, model: str) -> ModelVerdict | None:
        """The verdict that refuses `model`, or None when it is served (or not a served model)."""
        v = self.verdicts.get(model)
        return None if v is None or v.served else v

    async def run(self, trigger: str, actor: str) -> dict[str, ModelVerdict]:
        """Verify every model again (in a thread) and swap the verdicts in; one run at a time."""
        async with self._lock:
            info = RunInfo(trigger, actor, _now())
            self.running = info
            try:
                fresh = await asyncio.to_thread(verify_all, self.cfg)
            except Exception as exc:  # no verdict for anyone: refuse every guarded model
                log.exception("trust: the verification run failed")
                fresh = self._all_refused(exc)
            finally:
                self.running = None
            self.verdicts = fresh  # one assignment: a request sees all old or all new verdicts
            info.finished_at = _now()
            self.last_run = info
            self.runs += 1
            self._report(fresh, trigger)
            return fresh

    def _all_refused(self, exc: Exception) -> dict[str, ModelVerdict]:
        check = Check(name="verification", passed=False, detail=f"the run failed: {exc!r}"[:300])
        step = "see the gateway's log for the error; then reload (POST /admin/trust/reload)"
        return {
            m: ModelVerdict(m, "refused", [check], step, _now()) if m in self.guarded else v
            for m, v in self.verdicts.items()
        }

    @staticmethod
    def _report(verdicts: dict[str, ModelVerdict], trigger: str) -> None:
        """The operator's lines: one per refused model, naming the failed checks and what to do."""
        for v in verdicts.values():
            if v.state != "refused":
                if v.state == "verified":
                    log.info("trust (%s): model %s verified in %.2fs", trigger, v.model, v.seconds)
                continue
            failed = "; ".join(f"{c.name}: {c.detail}" for c in v.failed())
            log.error(
                "trust (%s): model %s is NOT served: %s. Next: %s", trigger, v.model, failed, v.next_step
            )

    def status(self) -> dict[str, Any]:
        """The admin view of every served model's verification state."""

        def run(r: RunInfo | None) -> dict[str, Any] | None:
            return None if r is None else dict(r.__dict__)

        return {
            "require_verified": self.cfg.trust.require_verified,
            # Verdicts live in each worker process; a reload reaches the worker that answered it.
            "pid": os.getpid(),
            "runs": self.runs,
            "running": run(self.running),
            "last_run": run(self.last_run),
            "models": [v.to_json() for v in self.verdicts.values()],
        }

    def audit_body(self, trigger: str, verdicts: dict[str, ModelVerdict]) -> dict[str, Any]:
        """The audit entry's body for one run: each guarded model's state and failed checks."""
        return {
            "trigger": trigger,
            "models": {
                m: {
                    "state": v.state,
                    "failed": [{"check": c.name, "detail": c.detail[:MAX_DETAIL]} for c in v.failed()],
                    "seconds": round(v.seconds, 3),
                }
                for m, v in verdicts.items()
                if m in self.guarded
            },
        }


class TrustReloads:
    """Reload requests shared by every worker and instance through the audit log: a request is a
    `trust.reload` entry (who asked, from where); each worker polls for the newest one and
    re-verifies once per new request, recording its verdicts as a `trust.verify` entry that names
    the request. Requests that arrive during a run are served by one more run after it."""

    def __init__(self, gate: TrustGate, engine: Engine, writer: AuditWriter, poll_s: float) -> None:
        self.gate = gate
        self.engine = engine
        self.writer = writer
        self.poll_s = poll_s
        #: The newest reload request this worker knows of, and the newest one a finished run served.
        self.wanted = 0
        self.done = 0
        self._changed = asyncio.Condition()
        self._runner: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None

    def _latest(self) -> int:
        """The seq of the newest `trust.reload` entry (an index lookup: action, seq)."""
        import sqlalchemy as sa

        from modelwarden.gateway.schema import audit

        with self.engine.connect() as conn:
            q = sa.select(sa.func.max(audit.c.seq)).where(audit.c.action == "trust.reload")
            return int(conn.execute(q).scalar() or 0)

    async def start(self) -> None:
        """The first run (requests made before this worker started are already covered by it)."""
        self.wanted = self.done = await asyncio.to_thread(self._latest)
        self._runner = asyncio.create_task(self._runs(first=True), name="trust-verify")
        self._poller = asyncio.create_task(self._poll(), name="trust-reload-poll")

    async def request(self, actor: str, trigger: str) -> int:
        """Record a reload request (every worker will act on it) and start serving it here."""
        seq = await self.writer.append(
            Entry(actor, "trust.reload", None, {"trigger": trigger, "pid": os.getpid()})
        )
        self._want(seq)
        return seq

    async def wait(self, seq: int) -> None:
        """Until a run that started after request `seq` has finished in this worker."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.done >= seq)

    def _want(self, seq: int) -> None:
        if seq > self.wanted:
            self.wanted = seq
            if self._runner is None or self._runner.done():
                self._runner = asyncio.get_running_loop().create_task(self._runs(), name="trust-verify")

    async def _runs(self, first: bool = False) -> None:
        if first:
            await self._verify("start", self.done)
        while self.done < self.wanted:
            target = self.wanted
            await self._verify("reload", target)
            self.done = target
            async with self._changed:
                self._changed.notify_all()

    async def _verify(self, trigger: str, request: int) -> None:
        verdicts = await self.gate.run(trigger, "system:gateway")
        body = {**self.gate.audit_body(trigger, verdicts), "request": request or None, "pid": os.getpid()}
        try:
            await self.writer.append(Entry("system:gateway", "trust.verify", None, body))
        except Exception as exc:  # the verdicts stand either way: a refused model stays refused
            log.error("cannot record the model verification in the audit log: %s", exc)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                self._want(await asyncio.to_thread(self._latest))
            except Exception as exc:  # the database is down: the current verdicts stand
                log.warning("trust: cannot read reload requests: %s", exc)

    async def close(self) -> None:
        """Stop polling and any run in progress (before the audit writer stops)."""
        for task in (self._poller, self._runner):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
