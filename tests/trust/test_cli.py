"""`modelwarden sign`, `attest` and `verify` as a user runs them, and the `model_signing` tool on the
same files: real processes, real keys, exit codes for CI (0 pass, 1 a check failed, 2 could not run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.cli import run_cli

from .conftest import Keys, Pki


def _model_signing(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_signing", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_sign_attest_verify_with_policy(release: Path, keys: Keys, tmp_path: Path) -> None:
    assert run_cli("sign", release, "--key", keys.private).returncode == 0
    done = run_cli("attest", release, "--key", keys.private, "--as-of", "2026-09-01")
    assert done.returncode == 0, done.stderr
    policy = tmp_path / "ci.yaml"
    policy.write_text(
        "conditions:\n"
        "  - name: scan passes\n    when: scan.verdict == 'PASS'\n"
        "  - name: below the EU systemic-risk line\n    when: compute.training_flop.high < 1e25\n"
    )
    args = ("verify", release, "--public-key", keys.public, "--attestation", release / "model.intoto.json")
    ok = run_cli(*args, "--policy", policy)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("PASS  ") == 6 and "all 6 checks passed" in ok.stdout
    as_json = run_cli(*args, "--policy", policy, "--format", "json")
    assert as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert document["passed"] is True and [c["passed"] for c in document["checks"]] == [True] * 6

    policy.write_text("conditions:\n  - name: tiny\n    when: compute.training_flop.high < 1.0\n")
    failed = run_cli(*args, "--policy", policy)
    assert failed.returncode == 1
    assert "FAIL  policy: tiny" in failed.stdout and "1 of 5 checks failed" in failed.stderr
    failed_json = run_cli(*args, "--policy", policy, "--format", "json")
    assert failed_json.returncode == 1 and json.loads(failed_json.stdout)["passed"] is False


def test_exit_codes_for_tampering_and_for_errors(
    release: Path, keys: Keys, other_keys: Keys, tmp_path: Path
) -> None:
    assert run_cli("verify", release, "--public-key", keys.public).returncode == 1  # not signed
    run_cli("sign", release, "--key", keys.private)
    assert run_cli("verify", release, "--public-key", keys.public).returncode == 0
    assert run_cli("verify", release, "--public-key", other_keys.public).returncode == 1
    (release / "config.json").write_text('{"model_type": "gpt2"}\n')
    tampered = run_cli("verify", release, "--public-key", keys.public)
    assert tampered.returncode == 1 and "changed: config.json" in tampered.stdout
    # could not run: no anchor, both anchors, a policy without an attestation, a policy that does not compile
    assert run_cli("verify", release).returncode == 2
    assert (
        run_cli("verify", release, "--public-key", keys.public, "--certificate-chain", keys.public).returncode
        == 2
    )
    policy = tmp_path / "p.yaml"
    policy.write_text("conditions:\n  - name: x\n    when: scan.verdict ==\n")
    no_att = run_cli("verify", release, "--public-key", keys.public, "--policy", policy)
    assert no_att.returncode == 2 and "attestation" in no_att.stderr
    bad = run_cli("verify", release, "--public-key", keys.public, "--attestation", policy, "--policy", policy)
    assert bad.returncode == 2 and "invalid CEL" in bad.stderr and "Traceback" not in bad.stderr
    assert run_cli("sign", release, "--key", tmp_path / "nokey.pem").returncode == 2


def test_the_model_signing_tool_verifies_what_we_sign(release: Path, keys: Keys) -> None:
    run_cli("sign", release, "--key", keys.private)
    sig = release / "model.sig"
    ok = _model_signing("verify", "key", release, "--signature", sig, "--public_key", keys.public)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (release / "model.safetensors").write_bytes((release / "model.safetensors").read_bytes() + b"\x00")
    bad = _model_signing("verify", "key", release, "--signature", sig, "--public_key", keys.public)
    assert bad.returncode != 0


def test_we_verify_what_the_model_signing_tool_signs(release: Path, pki: Pki) -> None:
    sig = release / "model.sig"
    done = _model_signing(
        "sign",
        "certificate",
        release,
        "--signature",
        sig,
        "--private_key",
        pki.leaf_key.private,
        "--signing_certificate",
        pki.leaf,
        "--certificate_chain",
        pki.root,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ok = run_cli("verify", release, "--certificate-chain", pki.root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (release / "config.json").unlink()
    gone = run_cli("verify", release, "--certificate-chain", pki.root)
    assert gone.returncode == 1 and "config.json" in gone.stdout
