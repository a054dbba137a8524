"""The gateway serves only verified models (issue 20), driven with the official `openai` SDK against
the real gateway process and the local mock upstream. Tiny releases are signed and attested once per
module with real keys (tests/trust/conftest.py); each way a model can fail verification is a model of
its own in one gateway, refused with its own named reason while the verified models are served."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa
import yaml

from modelwarden.db import make_engine
from modelwarden.gateway.config import parse_config
from modelwarden.gateway.schema import audit as audit_table
from modelwarden.gateway.trustgate import TrustGate, verify_all
from modelwarden.trust import SigningKey, attest_release, sign_model
from tests.gateway.harness import Deployment, Proc, mock_upstream
from tests.trust.conftest import Keys, make_keys, make_release

AS_OF = dt.date(2026, 9, 1)
POLICY = """conditions:
  - name: the scan passed
    when: scan.verdict == "PASS"
  - name: trained with less than 1e25 FLOP
    when: compute.training_flop.high < 1e25
"""
#: A pickle that calls os.system: the scan's verdict on a release carrying it is FAIL.
EVIL_PICKLE = b"cos\nsystem\n(S'echo hi'\ntR."


@dataclass
class World:
    """The releases, keys, policies and the running gateway of this module."""

    dep: Deployment
    gw: Proc
    key: str
    folder: Path
    keys: Keys
    reloadable: Path


def _sign_and_attest(release: Path, keys: Keys) -> Path:
    sign_model(release, SigningKey(private_key=keys.private))
    attest_release(release, SigningKey(private_key=keys.private), as_of=AS_OF)
    return release


def _policy(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def _models(folder: Path, keys: Keys, other: Keys) -> tuple[list[dict[str, Any]], Path]:
    """The served models: one verified, one to tamper with, one unguarded, and one per failure."""
    good = _sign_and_attest(make_release(folder / "good", seed=1), keys)
    reloadable = _sign_and_attest(make_release(folder / "reloadable", seed=2), keys)
    evil = make_release(folder / "evil", seed=3)
    (evil / "extra.pkl").write_bytes(EVIL_PICKLE)
    _sign_and_attest(evil, keys)
    other_att = attest_release(
        good, SigningKey(private_key=other.private), folder / "other.intoto.json", as_of=AS_OF
    )
    policy = _policy(folder, "policy", POLICY)
    (folder / "policy-dir").mkdir()
    base = {"path": str(good), "public_key": str(keys.public), "policy": str(policy)}

    def m(model_id: str, **trust: Any) -> dict[str, Any]:
        return {"id": model_id, "tags": ["public"], "trust": {**base, **trust}}

    models = [
        m("good"),
        m("reloadable", path=str(reloadable)),
        {"id": "plain", "tags": ["public"]},
        m("no-signature", signature=str(folder / "missing.sig")),
        m("no-attestation", attestation=str(folder / "missing.intoto.json")),
        m("anchor-missing", public_key=str(folder / "missing.pub")),
        m("signed-by-other-key", public_key=str(other.public)),
        m("policy-missing", policy=str(folder / "missing-policy.yaml")),
        m("policy-unreadable", policy=str(folder / "policy-dir")),
        m(
            "policy-does-not-compile",
            policy=str(_policy(folder, "bad", 'conditions:\n  - {name: x, when: "scan.verdict =="}\n')),
        ),
        m(
            "policy-errors",
            policy=str(_policy(folder, "div", "conditions:\n  - {name: divides, when: 1 / 0 == 1}\n")),
        ),
        m(
            "policy-not-boolean",
            policy=str(_policy(folder, "nb", "conditions:\n  - {name: verdict, when: scan.verdict}\n")),
        ),
        m("attestation-of-other-files", attestation=str(evil / "model.intoto.json")),
        m("attestation-by-other-key", attestation=str(other_att.attestation)),
        m("scan-failed", path=str(evil)),
    ]
    return models, reloadable


#: Each refused model → the check that must be named as failed (the first failed one).
REFUSED = {
    "no-signature": ("model signature", "no signature file"),
    "no-attestation": ("attestation signature", "cannot read the attestation"),
    "anchor-missing": ("trust anchor", "public key not found"),
    "signed-by-other-key": ("model signature", "Key mismatch"),
    "policy-missing": ("policy file", "cannot read the policy"),
    "policy-unreadable": ("policy file", "cannot read the policy"),
    "policy-does-not-compile": ("policy file", "invalid CEL"),
    "policy-errors": ("policy: divides", "could not evaluate"),
    "policy-not-boolean": ("policy: verdict", "'PASS'"),
    "attestation-of-other-files": ("attestation subjects", "extra.pkl"),
    "attestation-by-other-key": ("attestation signature", "trusted key"),
    "scan-failed": ("policy: the scan passed", '== "PASS": False'),
}


def _write_config(dep: Deployment, models: list[dict[str, Any]], mock_url: str, **trust: Any) -> None:
    cfg = yaml.safe_load(dep.config_path.read_text())
    cfg["upstreams"].append({"name": "trusted", "url": mock_url + "/v1", "models": models})
    cfg["trust"] = trust
    dep.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _admin(w: World) -> dict[str, str]:
    return {"authorization": f"Bearer {w.dep.admin_token}"}


def _status(w: World, *, settled: bool = True) -> dict[str, Any]:
    """GET /admin/trust, waiting (with `settled`) until no model is pending and no run is going."""
    deadline = time.monotonic() + 60
    while True:
        st: dict[str, Any] = httpx.get(w.gw.url + "/admin/trust", headers=_admin(w), timeout=30).json()
        pending = any(m["state"] == "pending" for m in st["models"])
        if not settled or (not pending and st["running"] is None) or time.monotonic() > deadline:
            return st
        time.sleep(0.1)


def _model(st: dict[str, Any], model: str) -> dict[str, Any]:
    return next(m for m in st["models"] if m["model"] == model)


def _sdk(w: World) -> openai.OpenAI:
    return openai.OpenAI(base_url=w.gw.url + "/v1", api_key=w.key, max_retries=0, timeout=20.0)


def _ask(w: World, model: str) -> str | None:
    reply = _sdk(w).chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}])
    return reply.choices[0].message.content


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("gw-trust")
    keys, other = make_keys(tmp / "keys", "signer"), make_keys(tmp / "keys", "other")
    models, reloadable = _models(tmp / "releases", keys, other)
    with mock_upstream(tmp) as mock:
        dep = Deployment.create(tmp / "deploy", mock.url)
        _write_config(dep, models, mock.url, require_verified=False)
        _, key = dep.identity_with_key("trust-user")
        gw = dep.start()
        try:
            w = World(dep, gw, key, tmp / "releases", keys, reloadable)
            _status(w)  # the first verification run has finished
            yield w
        finally:
            dep.stop()


# --- start-up: the gateway starts, serves what verified, refuses the rest -----------------------------


def test_verified_and_unguarded_models_are_served(world: World) -> None:
    st = _status(world)
    assert _model(st, "good")["state"] == "verified" and _model(st, "plain")["state"] == "not_required"
    assert _model(st, "good")["failed"] == [] and _model(st, "good")["next_step"] is None
    assert _ask(world, "good") and _ask(world, "plain") and _ask(world, "mock-small")
    listed = {m.id for m in _sdk(world).models.list()}
    assert {"good", "plain", "mock-small"} <= listed
    assert not listed & set(REFUSED)  # a refused model is not offered


@pytest.mark.parametrize("model", sorted(REFUSED))
def test_each_failure_refuses_its_model_with_the_named_check(world: World, model: str) -> None:
    check, words = REFUSED[model]
    view = _model(_status(world), model)
    assert view["state"] == "refused" and not view["served"]
    assert view["failed"][0] == check, view
    detail = next(c["detail"] for c in view["checks"] if c["name"] == check)
    assert words in detail, detail
    assert "reload" in view["next_step"] and "trust:" in view["next_step"]
    if model == "scan-failed":  # signed and attested by the right key: only the verdict fails
        assert view["failed"] == ["policy: the scan passed"]
        assert [c["name"] for c in view["checks"] if c["passed"]][:4] == [
            "model signature",
            "attestation signature",
            "attestation statement",
            "attestation subjects",
        ]
    with pytest.raises(openai.PermissionDeniedError) as err:
        _ask(world, model)
    body: Any = err.value.body
    assert err.value.status_code == 403 and body["code"] == "model_not_verified"
    assert f"`{model}`" in body["message"] and "not served" in body["message"]
    assert str(world.folder) not in json.dumps(body) and "/" not in body["message"]  # no paths to clients


def test_the_operator_log_names_the_model_the_check_and_what_to_do(world: World) -> None:
    log = world.gw.log.read_text(errors="replace")
    line = next(ln for ln in log.splitlines() if "model scan-failed is NOT served" in ln)
    assert "policy: the scan passed" in line and "Next:" in line and "modelwarden attest" in line
    assert "model good is NOT served" not in log
    # `gateway serve` says up front how many models wait for verification (2 good + 12 broken).
    assert f"{2 + len(REFUSED)} model(s) are served only once verified" in log


# --- reload: tampering is caught, a re-signed model comes back ------------------------------------


def _audit(w: World, action: str) -> list[dict[str, Any]]:
    """The entries of one action, oldest first: actor, seq and body."""
    engine = make_engine(w.dep.cfg.database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(audit_table.c.seq, audit_table.c.actor, audit_table.c.body)
                .where(audit_table.c.action == action)
                .order_by(audit_table.c.seq)
            ).all()
    finally:
        engine.dispose()
    return [{"seq": seq, "actor": a, **json.loads(b)} for seq, a, b in rows]


def test_tampering_then_reload_refuses_and_re_signing_then_sighup_serves(world: World) -> None:
    assert _ask(world, "reloadable")
    weights = world.reloadable / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))

    r = httpx.post(world.gw.url + "/admin/trust/reload", headers=_admin(world), timeout=60)
    assert r.status_code == 200
    view = _model(r.json(), "reloadable")
    assert view["state"] == "refused" and view["failed"][0] == "model signature"
    assert "changed: model.safetensors" in view["checks"][0]["detail"]
    assert "modelwarden sign" in view["next_step"]
    with pytest.raises(openai.PermissionDeniedError):
        _ask(world, "reloadable")
    assert _ask(world, "good")  # the others are untouched

    # The operator accepts the new weights: re-sign, re-attest, and reload by signal.
    _sign_and_attest(world.reloadable, world.keys)
    before = _status(world)["runs"]
    os.kill(world.gw.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 60
    while _status(world)["runs"] == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _model(_status(world), "reloadable")["state"] == "verified"
    assert _ask(world, "reloadable")

    # Each request is recorded with who asked; each run with its verdicts and the request it served.
    requests = _audit(world, "trust.reload")
    assert [(r["actor"], r["trigger"]) for r in requests] == [
        ("admin-api", "admin"),
        ("system:signal", "signal"),
    ]
    runs = _audit(world, "trust.verify")
    assert [r["trigger"] for r in runs] == ["start", "reload", "reload"]
    assert [r["request"] for r in runs] == [None, requests[0]["seq"], requests[1]["seq"]]
    assert {r["actor"] for r in runs} == {"system:gateway"}
    assert runs[1]["models"]["reloadable"]["state"] == "refused"
    assert runs[1]["models"]["reloadable"]["failed"][0]["check"] == "model signature"
    assert runs[2]["models"]["reloadable"]["state"] == "verified"
    assert "plain" not in runs[0]["models"]  # only guarded models are recorded


def test_the_admin_view_needs_the_admin_credential(world: World) -> None:
    assert httpx.get(world.gw.url + "/admin/trust", timeout=10).status_code == 401
    r = httpx.post(world.gw.url + "/admin/trust/reload", headers={"authorization": f"Bearer {world.key}"})
    assert r.status_code == 401


# --- in-process: require_verified, pending --------------------------------------------------------------


def _cfg(tmp: Path, models: list[dict[str, Any]], **trust: Any) -> Any:
    text = yaml.safe_dump(
        {"upstreams": [{"name": "u", "url": "http://127.0.0.1:9/v1", "models": models}], "trust": trust}
    )
    return parse_config(text, source=tmp / "gateway.yaml")


def test_require_verified_refuses_a_model_without_a_trust_block(world: World, tmp_path: Path) -> None:
    trust = {
        "path": str(world.folder / "good"),
        "public_key": str(world.keys.public),
        "policy": str(world.folder / "policy.yaml"),
    }
    models = [{"id": "plain"}, {"id": "good", "trust": trust}]
    verdicts = verify_all(_cfg(tmp_path, models, require_verified=True))
    assert verdicts["plain"].state == "refused" and verdicts["plain"].failed()[0].name == "trust requirement"
    assert "require_verified" in (verdicts["plain"].next_step or "")
    assert verdicts["good"].state == "verified"
    assert verify_all(_cfg(tmp_path, models))["plain"].state == "not_required"


def test_a_model_is_refused_as_pending_until_its_first_check(world: World, tmp_path: Path) -> None:
    trust = {
        "path": str(world.folder / "good"),
        "public_key": str(world.keys.public),
        "policy": str(world.folder / "policy.yaml"),
    }
    gate = TrustGate(_cfg(tmp_path, [{"id": "good", "trust": trust}, {"id": "plain"}]))
    pending = gate.refusal("good")
    assert pending is not None and pending.state == "pending"
    assert gate.refusal("plain") is None and gate.refusal("unknown") is None


def test_a_model_served_by_two_upstreams_needs_both_entries_to_verify(world: World, tmp_path: Path) -> None:
    good = {
        "path": str(world.folder / "good"),
        "public_key": str(world.keys.public),
        "policy": str(world.folder / "policy.yaml"),
    }
    bad = {**good, "public_key": str(world.folder / "missing.pub")}
    text = yaml.safe_dump(
        {
            "upstreams": [
                {"name": "a", "url": "http://127.0.0.1:9/v1", "models": [{"id": "m", "trust": good}]},
                {"name": "b", "url": "http://127.0.0.1:9/v1", "models": [{"id": "m", "trust": bad}]},
            ]
        }
    )
    assert verify_all(parse_config(text, source=tmp_path / "gateway.yaml"))["m"].state == "refused"


@pytest.mark.parametrize(
    "trust",
    [
        {"path": "m", "policy": "p.yaml"},
        {"path": "m", "policy": "p.yaml", "public_key": "k", "certificate_chain": ["c"]},
    ],
)
def test_a_trust_block_needs_exactly_one_anchor(tmp_path: Path, trust: dict[str, Any]) -> None:
    from modelwarden.errors import GatewayMisconfigured

    with pytest.raises(GatewayMisconfigured, match="exactly one trust anchor"):
        _cfg(tmp_path, [{"id": "x", "trust": trust}])


# --- several workers: a reload asked of one worker reaches every worker ---------------------------------


@pytest.mark.redis
def test_a_reload_asked_of_one_worker_reaches_every_worker(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> None:
    tmp = tmp_path_factory.mktemp("gw-trust-workers")
    keys = make_keys(tmp / "keys", "signer")
    release = _sign_and_attest(make_release(tmp / "release", seed=4), keys)
    trust = {
        "path": str(release),
        "public_key": str(keys.public),
        "policy": str(_policy(tmp, "policy", POLICY)),
    }
    with mock_upstream(tmp) as mock:
        dep = Deployment.create(tmp / "deploy", mock.url, redis=redis_url)
        _write_config(
            dep, [{"id": "guarded", "tags": ["public"], "trust": trust}], mock.url, reload_poll_s=0.5
        )
        _, key = dep.identity_with_key("workers-user")
        w = World(dep, dep.start(workers=2), key, tmp, keys, release)
        try:

            def states(want: str) -> dict[int, str]:
                """pid → the model's state, until two workers answered `want` (at most 60 s)."""
                seen: dict[int, str] = {}
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    st = _status(w, settled=False)
                    seen[st["pid"]] = _model(st, "guarded")["state"]
                    if len(seen) >= 2 and all(s == want for s in seen.values()):
                        break
                    time.sleep(0.05)
                return seen

            assert set(states("verified").values()) == {"verified"}
            weights = release / "model.safetensors"
            data = bytearray(weights.read_bytes())
            data[-1] ^= 0x01
            weights.write_bytes(bytes(data))
            r = httpx.post(w.gw.url + "/admin/trust/reload", headers=_admin(w), timeout=60)
            assert _model(r.json(), "guarded")["state"] == "refused"  # the worker that was asked
            after = states("refused")  # and the other one, from the request in the audit log
            assert len(after) == 2 and set(after.values()) == {"refused"}, after
            for _ in range(4):  # whichever worker answers
                with pytest.raises(openai.PermissionDeniedError):
                    _ask(w, "guarded")
            pids = {r["pid"] for r in _audit(w, "trust.verify") if r["trigger"] == "reload"}
            assert pids == set(after)  # each worker recorded its own run
        finally:
            dep.stop()
