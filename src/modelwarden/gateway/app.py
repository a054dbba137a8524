"""The gateway as one ASGI application: /v1/* goes to the raw-ASGI proxy, everything else to a
FastAPI app (health, the admin API behind its own credential, the dashboard page).

`create_app()` reads gateway.yaml (the path in $MODELWARDEN_GATEWAY_CONFIG); uvicorn calls it once
per worker process (`factory=True`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import logging
import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from modelwarden import __version__
from modelwarden.db import make_engine
from modelwarden.errors import (
    ConfigurationError,
    ConflictError,
    GatewayConflict,
    GatewayMisconfigured,
    ModelwardenError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from modelwarden.gateway import dashboard, incidents
from modelwarden.gateway.asgi import Receive, Scope, Send
from modelwarden.gateway.audit import AnchorFile, AuditWriter, CheckpointPolicy, Entry, read_anchors, verify
from modelwarden.gateway.auth import Authenticator, DbEpoch, EpochSource, RedisEpoch, publish_epoch_sync
from modelwarden.gateway.config import GatewayConfig, load_config
from modelwarden.gateway.files import MAX_KEY_BYTES, read_text
from modelwarden.gateway.limiter import Limiter, MemoryLimiter, RedisLimiter
from modelwarden.gateway.misuse import MisuseMonitor
from modelwarden.gateway.moderation.cascade import Cascade
from modelwarden.gateway.proxy import Proxy
from modelwarden.gateway.signing import Signer, load_signer
from modelwarden.gateway.store import Store, migrate
from modelwarden.gateway.tiers import TierSet, load_tiers
from modelwarden.gateway.trustgate import TrustGate, TrustReloads
from modelwarden.gateway.upstream import UpstreamPool

log = logging.getLogger("modelwarden.gateway")


def load_salt(cfg: GatewayConfig, signer: Signer | None) -> bytes:
    """Key for the salted hashes of prompts, outputs and client addresses (§9 privacy): the salt
    file, else derived from the signing key (both live outside the database)."""
    if cfg.audit.salt_file is not None:
        text = read_text(cfg.audit.salt_file, what="the salt file", limit=MAX_KEY_BYTES)
        try:
            return bytes.fromhex(text.strip())
        except ValueError:
            raise GatewayMisconfigured(
                "the salt file must hold hex",
                path=cfg.audit.salt_file,
                next_step="write the salt into it as hex digits (64 random ones for a new deployment)",
            ) from None
    if signer is not None:
        from cryptography.hazmat.primitives import serialization

        raw = signer.private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return hashlib.sha256(b"modelwarden-audit-salt" + raw).digest()
    log.warning("no audit.salt_file and no signing key: prompt hashes are unsalted")
    return b""


def preflight(cfg: GatewayConfig) -> None:
    """Read every file a worker reads at startup (tiers, signing key, salt, anchor file), so that a
    bad one stops `gateway serve` with one line before uvicorn starts: in a worker it would be a
    lifespan traceback in the server log."""
    load_tiers(cfg.tiers)
    signer = load_signer(cfg.audit.signing_key) if cfg.audit.signing_key else None
    load_salt(cfg, signer)
    anchor = cfg.audit.anchor_file
    if anchor is not None and (anchor.exists() or anchor.is_symlink()) and not anchor.is_file():
        raise GatewayMisconfigured("the anchor file must be a regular file (it is appended to)", path=anchor)


class Admin:
    """State shared by the admin API; built at startup."""

    def __init__(self, cfg: GatewayConfig, store: Store, engine: Engine, on_change: Any) -> None:
        self.cfg = cfg
        self.store = store
        self.engine = engine
        self.on_change = on_change


class GatewayApp:
    def __init__(self, cfg: GatewayConfig) -> None:
        self.cfg = cfg
        self.proxy: Proxy | None = None
        self.admin_state: Admin | None = None
        self._closers: list[Any] = []
        self.trust = TrustGate(cfg)
        self.reloads: TrustReloads | None = None
        self._signal_tasks: set[asyncio.Task[None]] = set()
        self.fastapi = build_admin_app(self)

    # --- lifecycle -------------------------------------------------------------------------------

    async def startup(self) -> None:
        cfg = self.cfg
        engine = make_engine(cfg.database)
        await asyncio.to_thread(migrate, engine)
        tiers = load_tiers(cfg.tiers)
        for w in tiers.warnings():
            log.warning("%s", w)
        signer = load_signer(cfg.audit.signing_key) if cfg.audit.signing_key else None
        if signer is None:
            log.warning("no audit.signing_key: the audit chain runs without signed checkpoints")
        anchor = AnchorFile(cfg.audit.anchor_file) if cfg.audit.anchor_file else None
        salt = load_salt(cfg, signer)

        epochs: EpochSource
        if cfg.redis:
            repoch = RedisEpoch(cfg.redis, engine, cfg.revocation_poll_s)
            await repoch.start()
            epochs = repoch
        else:
            epochs = DbEpoch(engine)
        limiter: Limiter = (
            RedisLimiter(cfg.redis, fail=cfg.limits.fail)
            if cfg.limiter_backend() == "redis" and cfg.redis
            else MemoryLimiter()
        )
        auth: Authenticator | None = None

        def on_bump() -> None:
            if cfg.redis:
                try:
                    publish_epoch_sync(cfg.redis)
                except Exception as exc:  # the database poll still catches it within revocation_poll_s
                    log.error("cannot publish the revocation epoch to Redis: %s", exc)
            if auth is not None:
                auth.invalidate()

        store = Store(engine, tiers, signer=signer, anchor=anchor, on_epoch_bump=on_bump)
        auth = Authenticator(store, tiers, epochs)
        cascade = await asyncio.to_thread(Cascade.from_config, cfg.moderation)
        pool = UpstreamPool(cfg.upstreams)
        await pool.start()
        writer = AuditWriter(
            engine,
            signer=signer,
            policy=CheckpointPolicy(cfg.audit.checkpoint_every, cfg.audit.checkpoint_interval_s),
            anchor=anchor,
        )
        writer.start()
        self.proxy = Proxy(
            cfg,
            auth=auth,
            limiter=limiter,
            cascade=cascade,
            pool=pool,
            audit=writer,
            misuse=MisuseMonitor(store),
            salt=salt,
            trust=self.trust,
        )
        self.admin_state = Admin(cfg, store, engine, on_bump)
        self.tiers: TierSet = tiers
        self.writer = writer
        await writer.append(
            Entry(
                "system:gateway",
                "gateway.start",
                None,
                {
                    "version": __version__,
                    "pid": os.getpid(),
                    "upstreams": [u.name for u in cfg.upstreams],
                    "classifiers": cascade.names,
                    "limiter": cfg.limiter_backend(),
                    "tiers": sorted(tiers.tiers),
                },
            )
        )
        self._closers = [pool.close, cascade.close, limiter.close, epochs.close]
        self._engine = engine
        if self.trust.guarded:
            # Guarded models are refused as `pending` until the first run has hashed their files.
            self.reloads = TrustReloads(self.trust, engine, writer, cfg.trust.reload_poll_s)
            await self.reloads.start()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
        # Everything allocated so far lives as long as the process: keep it out of the garbage
        # collector's generations, so full collections (pauses in the latency tail) stay short.
        gc.collect()
        gc.freeze()

    async def reload_models(self, actor: str, trigger: str) -> int:
        """Ask every worker (through the audit log) to verify the guarded models again."""
        if self.reloads is None:
            raise GatewayConflict(
                "no served model has a trust requirement: there is nothing to verify",
                next_step="give a model a `trust:` block in gateway.yaml (docs/gateway.md), then restart",
            )
        return await self.reloads.request(actor, trigger)

    async def _signal_reload(self) -> None:
        try:
            await self.reload_models("system:signal", "signal")
        except ModelwardenError as exc:
            log.error("trust: SIGHUP: cannot record the reload request: %s", exc.message)

    def _on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self._signal_reload())
        self._signal_tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._signal_tasks.discard)

    async def shutdown(self) -> None:
        if self.reloads is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await self.reloads.close()
        if self.proxy is not None:
            try:
                await self.writer.append(Entry("system:gateway", "gateway.stop", None, {"pid": os.getpid()}))
            except Exception as exc:
                log.error("cannot record gateway.stop: %s", exc)
            await self.writer.stop()
        for close in self._closers:
            try:
                await close()
            except Exception as exc:
                log.warning("shutdown: %s", exc)
        if getattr(self, "_engine", None) is not None:
            self._engine.dispose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith("/v1/") and self.proxy is not None:
                await self.proxy(scope, receive, send)
                return
            await self.fastapi(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websockets: not served
            return

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except ModelwardenError as exc:
                    await send({"type": "lifespan.startup.failed", "message": exc.message})
                    return
                except Exception as exc:
                    log.exception("gateway startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


# --- admin API ----------------------------------------------------------------------------------


class IdentityIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = None
    tier: str | None = None


class VerificationIn(BaseModel):
    state: Literal["unverified", "pending", "verified"]
    evidence: str | None = None
    until: datetime | None = None


class TierIn(BaseModel):
    tier: str | None


class AgreementIn(BaseModel):
    agreement: str | None


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1)


class KeyIn(BaseModel):
    identity: str
    name: str | None = None
    expires_in_days: float | None = Field(None, gt=0)


class RotateIn(BaseModel):
    grace_hours: float = Field(0, ge=0)


class ReviewIn(BaseModel):
    approve: bool
    note: str | None = None


class IncidentIn(BaseModel):
    identity: str
    title: str = Field(min_length=1)


class NoteIn(BaseModel):
    text: str = ""
    close: bool = False


def _gateway(request: Request) -> GatewayApp:
    gw: GatewayApp = request.app.state.gateway
    return gw


def require_admin(request: Request) -> str:
    """The admin credential: `Authorization: Bearer <token>`, compared as SHA-256 in constant time.

    Returns the actor recorded in the audit log (`admin-api`, or `admin-api:<name>` from the
    X-Modelwarden-Admin header, which only labels: the credential is what authorises)."""
    want = _gateway(request).cfg.admin.token_sha256
    if not want:
        raise HTTPException(403, "the admin API is disabled: set admin.token_sha256 in gateway.yaml")
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    got = hashlib.sha256(token.strip().encode()).hexdigest()
    if scheme.lower() != "bearer" or not hmac.compare_digest(got, want):
        raise HTTPException(401, "admin credential required", headers={"WWW-Authenticate": "Bearer"})
    name = request.headers.get("x-modelwarden-admin", "").strip()[:80]
    return f"admin-api:{name}" if name else "admin-api"


def admin_state(request: Request) -> Admin:
    st = _gateway(request).admin_state
    if st is None:
        raise HTTPException(503, "the gateway is starting")
    return st


Actor = Annotated[str, Depends(require_admin)]
St = Annotated[Admin, Depends(admin_state)]


#: The admin API's answer per kind of error (docs/gateway.md "Admin API errors"). 422 for bad input,
#: as FastAPI answers a body that fails its model. The first kind the error is an instance of wins.
ADMIN_STATUS: tuple[tuple[type[ModelwardenError], int, str], ...] = (
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (ValidationError, 422, "invalid_request_error"),
    (UnavailableError, 503, "unavailable"),
    (ConfigurationError, 500, "configuration_error"),
)
#: What a configuration error says to the API client: the operator's paths and values stay in the log.
CONFIGURATION_MESSAGE = "the gateway is misconfigured; the operator's log names the problem"


def admin_error_response(exc: ModelwardenError) -> JSONResponse:
    """The JSON answer for a library error raised while serving an admin request."""
    # An error of no kind is a defect in the gateway: never shown as the client's fault.
    status, code = next(
        ((s, c) for kind, s, c in ADMIN_STATUS if isinstance(exc, kind)), (500, "internal_error")
    )
    if status >= 500:
        log.error("admin API: %s", exc.message)
        message = {
            "configuration_error": CONFIGURATION_MESSAGE,
            "unavailable": "a service the gateway needs is unavailable; try again later",
        }.get(code, "internal error; the operator's log has the details")
        return JSONResponse({"error": {"message": message, "type": code}}, status_code=status)
    error: dict[str, str] = {"message": exc.message, "type": code}
    if exc.next_step:
        error["next_step"] = exc.next_step
    return JSONResponse({"error": error}, status_code=status)


def build_admin_app(gw: GatewayApp) -> FastAPI:
    app = FastAPI(
        title="modelwarden gateway admin",
        version=__version__,
        docs_url="/admin/docs",
        openapi_url="/admin/openapi.json",
        redoc_url=None,
    )
    app.state.gateway = gw

    @app.exception_handler(ModelwardenError)
    async def _mw_error(_: Request, exc: ModelwardenError) -> JSONResponse:
        return admin_error_response(exc)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok" if gw.proxy is not None else "starting"}

    @app.get("/admin/identities")
    def identities(actor: Actor, s: St) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in s.store.list_identities()]

    @app.post("/admin/identities", status_code=201)
    def create_identity(body: IdentityIn, actor: Actor, s: St) -> dict[str, Any]:
        return s.store.create_identity(body.name, email=body.email, tier=body.tier, actor=actor).model_dump(
            mode="json"
        )

    @app.get("/admin/identities/{ref}")
    def get_identity(ref: str, actor: Actor, s: St) -> dict[str, Any]:
        return s.store.get_identity(ref).model_dump(mode="json")

    @app.post("/admin/identities/{ref}/verification")
    def verification(ref: str, body: VerificationIn, actor: Actor, s: St) -> dict[str, Any]:
        until = body.until.astimezone(UTC) if body.until and body.until.tzinfo else body.until
        rec = s.store.set_verification(ref, body.state, until=until, evidence=body.evidence, actor=actor)
        return rec.model_dump(mode="json")

    @app.post("/admin/identities/{ref}/tier")
    def set_tier(ref: str, body: TierIn, actor: Actor, s: St) -> dict[str, Any]:
        return s.store.set_tier(ref, body.tier, actor=actor).model_dump(mode="json")

    @app.post("/admin/identities/{ref}/agreement")
    def agreement(ref: str, body: AgreementIn, actor: Actor, s: St) -> dict[str, Any]:
        return s.store.set_agreement(ref, body.agreement, actor=actor).model_dump(mode="json")

    @app.post("/admin/identities/{ref}/suspend")
    def suspend(ref: str, body: ReasonIn, actor: Actor, s: St) -> dict[str, Any]:
        return s.store.suspend(ref, body.reason, actor=actor).model_dump(mode="json")

    @app.post("/admin/identities/{ref}/reinstate")
    def reinstate(ref: str, actor: Actor, s: St) -> dict[str, Any]:
        return s.store.reinstate(ref, actor=actor).model_dump(mode="json")

    @app.get("/admin/keys")
    def list_keys(actor: Actor, s: St, identity: str | None = None) -> list[dict[str, Any]]:
        return [k.model_dump(mode="json") for k in s.store.list_keys(identity)]

    @app.post("/admin/keys", status_code=201)
    def create_key(body: KeyIn, actor: Actor, s: St) -> dict[str, Any]:
        exp = datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
        rec, full = s.store.create_key(body.identity, name=body.name, expires_at=exp, actor=actor)
        return {**rec.model_dump(mode="json"), "key": full, "note": "shown once: store it now"}

    @app.post("/admin/keys/{key_id}/revoke")
    def revoke(key_id: str, body: ReasonIn, actor: Actor, s: St) -> dict[str, Any]:
        return s.store.revoke_key(key_id, reason=body.reason, actor=actor).model_dump(mode="json")

    @app.post("/admin/keys/{key_id}/rotate")
    def rotate(key_id: str, body: RotateIn, actor: Actor, s: St) -> dict[str, Any]:
        rec, full = s.store.rotate_key(key_id, grace=timedelta(hours=body.grace_hours), actor=actor)
        return {**rec.model_dump(mode="json"), "key": full, "note": "shown once: store it now"}

    @app.get("/admin/reviews")
    def list_reviews(actor: Actor, s: St, status: str | None = "pending") -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in s.store.list_reviews(status or None)]

    @app.post("/admin/reviews/{review_id}")
    def decide(review_id: int, body: ReviewIn, actor: Actor, s: St) -> dict[str, Any]:
        return s.store.decide_review(review_id, approve=body.approve, actor=actor, note=body.note).model_dump(
            mode="json"
        )

    @app.get("/admin/audit/verify")
    def audit_verify(actor: Actor, s: St) -> dict[str, Any]:
        public = s.store.signer.public if s.store.signer else None
        anchors = read_anchors(s.cfg.audit.anchor_file) if s.cfg.audit.anchor_file else []
        with s.engine.connect() as conn:
            return verify(conn, public_key=public, anchors=anchors).to_json()

    @app.get("/admin/incidents")
    def list_incidents(actor: Actor, s: St) -> list[dict[str, Any]]:
        return [i.model_dump(mode="json") for i in incidents.list_incidents(s.store)]

    @app.post("/admin/incidents", status_code=201)
    def open_incident(body: IncidentIn, actor: Actor, s: St) -> dict[str, Any]:
        return incidents.open_incident(s.store, body.identity, body.title, actor=actor).model_dump(
            mode="json"
        )

    @app.post("/admin/incidents/{incident_id}/notes")
    def note(incident_id: str, body: NoteIn, actor: Actor, s: St) -> dict[str, Any]:
        rec = incidents.add_note(s.store, incident_id, body.text, actor=actor, close=body.close)
        return rec.model_dump(mode="json")

    @app.get("/admin/incidents/{incident_id}/bundle")
    def bundle(incident_id: str, actor: Actor, s: St) -> dict[str, Any]:
        return incidents.build_bundle(s.store, incident_id)

    @app.get("/admin/trust")
    def trust_status(actor: Actor, s: St) -> dict[str, Any]:
        """Each served model's verification state in this worker process."""
        return gw.trust.status()

    @app.post("/admin/trust/reload")
    async def trust_reload(actor: Actor, s: St) -> dict[str, Any]:
        """Ask every worker to hash and verify the guarded models again; answer once this worker has."""
        seq = await gw.reload_models(actor, "admin")
        assert gw.reloads is not None
        await gw.reloads.wait(seq)
        return gw.trust.status()

    def _engine() -> Engine:
        if gw.admin_state is None:
            raise HTTPException(503, "the gateway is starting")
        return gw.admin_state.engine

    app.include_router(dashboard.router(_engine, dependencies=[require_admin], path="/admin/dashboard"))
    return app


def create_app(cfg: GatewayConfig | None = None) -> GatewayApp:
    """uvicorn factory: the config named by $MODELWARDEN_GATEWAY_CONFIG (or the default location)."""
    return GatewayApp(cfg or load_config(required=False))
