"""The admin CLI end to end on a real SQLite deployment: init, identities, keys, tiers, audit,
incidents (export and offline verification of a bundle, and of a tampered one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelwarden.cli import main
from modelwarden.db import make_engine
from modelwarden.gateway import keys as keymod
from modelwarden.gateway.audit import Entry, append_entries
from modelwarden.gateway.config import load_config


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    old = sys.argv
    sys.argv = ["modelwarden", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    # The console wraps long lines (paths) at its width: compare messages as one line.
    return code, captured.out, " ".join(captured.err.split())


@pytest.fixture
def deploy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, out, err = run(capsys, "gateway", "init", str(tmp_path / "d"), "--model", "m1", "--public", "m1")
    assert code == 0, err
    assert out.strip().startswith("mwadm_")
    return tmp_path / "d" / "gateway.yaml"


def test_init_writes_a_working_deployment(deploy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(deploy)
    assert cfg.audit.signing_key and cfg.audit.signing_key.stat().st_mode & 0o777 == 0o600
    assert cfg.upstreams[0].models[0].tags == ["public"]
    assert cfg.admin.token_sha256 and len(cfg.admin.token_sha256) == 64
    assert cfg.workers == 1  # without Redis, one process: its in-process limiter is exact
    code, _, err = run(capsys, "gateway", "init", str(deploy.parent))
    assert code == 2 and "already initialised" in err and "Traceback" not in err
    code, _, err = run(
        capsys, "gateway", "init", str(deploy.parent.parent / "r"), "--redis", "redis://h:6379/0"
    )
    assert code == 0, err
    assert load_config(deploy.parent.parent / "r" / "gateway.yaml").workers == (os.cpu_count() or 1)


def test_identity_and_key_lifecycle(deploy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = ["--config", str(deploy)]
    code, out, _ = run(capsys, "identities", "create", "lab-a", "--tier", "researcher", "--json", *c)
    ident = json.loads(out)
    assert code == 0 and ident["effective_tier"] == "anonymous"  # assigned researcher, not yet verified
    code, out, _ = run(
        capsys, "identities", "verify", "lab-a", "--evidence", "ticket-42", "--until", "365d", "--json", *c
    )
    assert json.loads(out)["effective_tier"] == "verified"  # no agreement yet
    code, out, _ = run(capsys, "identities", "agreement", "lab-a", "DUA-2026-7", "--json", *c)
    assert json.loads(out)["effective_tier"] == "researcher"
    code, _, err = run(capsys, "identities", "verify", "lab-a", *c)
    assert code == 2 and "evidence" in err

    code, out, err = run(capsys, "keys", "create", "lab-a", "--expires", "30d", *c)
    key = out.strip()
    assert code == 0 and keymod.parse(key) is not None and "not shown again" in err
    code, out, _ = run(capsys, "keys", "list", "--json", *c)
    listed = json.loads(out)
    assert [k["state"] for k in listed] == ["active"]
    assert key[16:] not in out  # the secret is never listed
    code, out, err = run(capsys, "keys", "rotate", key[:15], "--grace", "1h", *c)
    new_key = out.strip()
    assert code == 0 and new_key != key
    code, out, _ = run(capsys, "keys", "revoke", new_key[:15], "--reason", "test", *c)
    assert "revoked" in out
    code, _, err = run(capsys, "keys", "revoke", "mw_000000000000", "--reason", "x", *c)
    assert code == 2 and "no key" in err

    code, out, _ = run(capsys, "identities", "suspend", "lab-a", "--reason", "abuse", "--json", *c)
    assert json.loads(out)["status"] == "suspended"
    code, out, _ = run(capsys, "identities", "reinstate", "lab-a", "--json", *c)
    assert json.loads(out)["status"] == "active"
    code, out, _ = run(capsys, "audit", "tail", "-n", "50", "--json", *c)
    actions = [e["action"] for e in json.loads(out)]
    for a in (
        "identity.create",
        "identity.verification",
        "identity.agreement",
        "key.create",
        "key.rotate",
        "key.revoke",
        "identity.suspend",
        "identity.reinstate",
    ):
        assert a in actions
    assert all(e["actor"].startswith("cli:") for e in json.loads(out))


def test_tiers_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tiers", "list", "--json")
    assert code == 0 and set(json.loads(out)["tiers"]) == {"anonymous", "verified", "researcher"}
    code, out, _ = run(capsys, "tiers", "show", "verified")
    assert "S6" in out and "allow" in out
    bad = tmp_path / "t.yaml"
    bad.write_text("version: 1\ndefault_tier: x\ntiers: {}\n")
    code, _, err = run(capsys, "tiers", "check", str(bad))
    assert code == 2 and "default_tier 'x' is not a tier" in err and "Traceback" not in err


def test_audit_verify_exit_codes(deploy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = ["--config", str(deploy)]
    for i in range(3):
        run(capsys, "identities", "create", f"user-{i}", *c)
    code, out, _ = run(capsys, "audit", "checkpoint", "--json", *c)
    assert code == 0 and json.loads(out)["size"] == 3
    code, out, _ = run(capsys, "audit", "verify", *c)
    assert code == 0 and "intact" in out
    eng = make_engine(load_config(deploy).database)
    with eng.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER gw_audit_no_delete"))
        conn.execute(sa.text("DELETE FROM gw_audit WHERE seq = 2"))
    eng.dispose()
    code, out, err = run(capsys, "audit", "verify", *c)
    assert code == 1 and "first bad entry 2" in err and "missing" in out


def test_audit_verify_names_an_entry_edited_with_its_hash_recomputed(
    deploy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16, defect 10: the CLI named the entry after the edited one."""
    from modelwarden.gateway.audit import entry_hash

    c = ["--config", str(deploy)]
    for i in range(4):
        run(capsys, "identities", "create", f"user-{i}", *c)
    eng = make_engine(load_config(deploy).database)
    with eng.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER gw_audit_no_update"))
        r = conn.execute(sa.text("SELECT * FROM gw_audit WHERE seq = 2")).one()
        body = r.body.replace("user-", "someone-else-")
        h = entry_hash(bytes(r.prev_hash), r.seq, r.ts, r.actor, r.action, r.subject, body)
        conn.execute(
            sa.text("UPDATE gw_audit SET body = :b, entry_hash = :h WHERE seq = 2"), {"b": body, "h": h}
        )
    eng.dispose()
    code, out, err = run(capsys, "audit", "verify", *c)
    assert code == 1 and "first bad entry 2" in err and "entry 2 was rewritten" in " ".join(out.split())


def test_incident_bundle_exports_and_verifies_offline(
    deploy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["--config", str(deploy)]
    _, out, _ = run(capsys, "identities", "create", "mallory", "--json", *c)
    ident = json.loads(out)["id"]
    # Request decisions as the proxy writes them.
    cfg = load_config(deploy)
    eng = make_engine(cfg.database)
    with eng.begin() as conn:
        entries = [
            Entry(
                "key:mw_x",
                "request.blocked",
                ident,
                {"rid": f"r{i}", "moderation_input": {"blocked": ["S9"]}},
            )
            for i in range(3)
        ] + [Entry("key:mw_x", "request.ok", ident, {"rid": "r-ok"})]
        append_entries(conn, entries, signer=None)
    eng.dispose()
    code, out, _ = run(capsys, "incidents", "open", "mallory", "--title", "CBRN probing", "--json", *c)
    inc = json.loads(out)["id"]
    run(capsys, "incidents", "note", inc, "three S9 blocks in a minute", *c)
    code, out, err = run(capsys, "incidents", "export", inc, "--out", str(tmp_path / "out"), *c)
    assert code == 0, err
    bundle_path = tmp_path / "out" / f"{inc}.json"
    bundle = json.loads(bundle_path.read_text())
    assert bundle["categories"] == {"S9": 3}
    assert [e["action"] for e in bundle["timeline"]].count("request.blocked") == 3
    assert "request.ok" not in [e["action"] for e in bundle["timeline"]]
    assert bundle["checkpoint"]["size"] >= max(e["seq"] for e in bundle["timeline"])
    md = (tmp_path / "out" / f"{inc}.md").read_text()
    assert "CBRN probing" in md and "three S9 blocks" in md
    pub = str(cfg.audit.signing_key) + ".pub"
    code, out, _ = run(capsys, "incidents", "verify", str(bundle_path), "--public-key", pub)
    assert code == 0 and "verified" in out
    # Tamper with the bundle: change a blocked request into a harmless one.
    bundle["timeline"][0]["action"] = "request.ok"
    bundle_path.write_text(json.dumps(bundle))
    code, out, err = run(capsys, "incidents", "verify", str(bundle_path), "--public-key", pub)
    assert code == 1 and "does not match its hash" in out
    # A bundle signed by another key does not verify against the operator's key.
    other = tmp_path / "other.key"
    run(capsys, "audit", "keygen", str(other))
    code, out, _ = run(capsys, "incidents", "verify", str(bundle_path), "--public-key", str(other) + ".pub")
    assert code == 1 and "bad signature" in out


def test_stored_names_are_listed_literally(deploy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Names, reasons and titles are stored as typed and shown by every later listing: text that reads as
    # console markup or a terminal control sequence must be shown as it is, and must not break a list.
    c = ["--config", str(deploy)]
    name, ansi = "[/]x[bold]", "evil\x1b[2J\nPASS"
    assert run(capsys, "identities", "create", name, *c)[0] == 0
    assert run(capsys, "identities", "create", ansi, *c)[0] == 0
    assert run(capsys, "identities", "suspend", name, "--reason", "[/r] [link=http://x]y", *c)[0] == 0
    assert run(capsys, "keys", "create", name, "--name", "[/y]k", *c)[0] == 0
    assert run(capsys, "incidents", "open", name, "--title", "[/z]t", *c)[0] == 0
    for command, literals in [
        (["identities", "list"], [name]),
        (["identities", "show", name], [name, "[/r] [link=http://x]y"]),
        (["identities", "strikes", name], [name]),
        (["identities", "strikes", ansi], ["evil\\x1b[2J\\nPASS: strike score"]),
        (["keys", "list"], ["[/y]k"]),
        (["incidents", "list"], ["[/z]t"]),
        (["audit", "tail"], ["[/r] [link=http://x]y", "[/z]t"]),
    ]:
        code, out, err = run(capsys, *command, *c)
        assert code == 0 and "Traceback" not in err, (command, err)
        for literal in literals:
            assert literal in out, (command, literal)
        assert "\x1b" not in out + err, command


def _process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A separate process with a timeout: an option that is not rejected starts a server.
    return subprocess.run(
        [sys.executable, "-m", "modelwarden", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["gateway", "serve", "--port", "99999"], "--port"),
        (["gateway", "serve", "--port", "0"], "--port"),
        (["gateway", "serve", "--workers", "0"], "--workers"),
        (["gateway", "serve", "--log-level", "bogus"], "--log-level"),
        (["gateway", "mock-upstream", "--port", "99999"], "--port"),
        (["gateway", "mock-upstream", "--ttft", "-1"], "--ttft"),
        (["gateway", "init", "new", "--port", "65536"], "--port"),
        (["serve", "--log-level", "bogus"], "--log-level"),
    ],
)
def test_server_options_out_of_range_are_usage_errors(
    deploy: Path, tmp_path: Path, args: list[str], option: str
) -> None:
    config = ["--config", str(deploy)] if args[:2] == ["gateway", "serve"] else []
    proc = _process(*args, *config, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert option in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "new").exists()


def test_durations_and_dates_are_checked(deploy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = ["--config", str(deploy)]
    run(capsys, "identities", "create", "lab-b", *c)
    for bad, message in [
        ("99999999999d", "longer than 100 years"),
        ("5300w", "longer than 100 years"),
        ("infd", "not a date or duration"),
        ("1e9h", "not a date or duration"),
        ("20300101", "not a date or duration"),  # datetime.fromisoformat takes the basic form
        ("2030-W01-1", "not a date or duration"),
        ("2030-02-30", "not a date or duration"),
    ]:
        code, _, err = run(capsys, "keys", "create", "lab-b", "--expires", bad, *c)
        assert code == 2 and message in err and "Traceback" not in err, (bad, err)
    until = "9" * 400 + "d"
    code, _, err = run(capsys, "identities", "verify", "lab-b", "--evidence", "t", "--until", until, *c)
    assert code == 2 and "longer than 100 years" in err
    code, out, _ = run(capsys, "keys", "create", "lab-b", "--expires", "2030-01-02T03:04", "--json", *c)
    assert code == 0 and json.loads(out)["expires_at"].startswith("2030-01-02T03:04")
    key = json.loads(out)["id"]
    code, _, err = run(capsys, "keys", "rotate", key, "--grace", "nanh", *c)
    assert code == 2 and "not a duration" in err
