"""`inspect` reports, as facts with provenance, the signature and attestations a release carries and —
only when given a trusted key or root — whether they verify (unknown is never shown as verified)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from modelwarden.facts.gather import inspect_path
from modelwarden.trust import SigningKey, TrustAnchor, attest_release, sign_model

from .conftest import Keys


def _inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelwarden", "inspect", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )


def _signed(release: Path, keys: Keys) -> Path:
    key = SigningKey(private_key=keys.private)
    sign_model(release, key)
    attest_release(release, key, as_of=dt.date(2026, 9, 1))
    return release


def test_an_unsigned_release_says_so(release: Path) -> None:
    assert inspect_path(release).trust == []
    done = _inspect(str(release))
    assert done.returncode == 0, done.stderr
    assert "no model signature, no attestation" in done.stdout


def test_found_but_unknown_without_an_anchor(release: Path, keys: Keys) -> None:
    facts = inspect_path(_signed(release, keys))
    assert [(f.kind, f.file.value, f.recognised, f.verified) for f in facts.trust] == [
        ("model signature", "model.sig", True, None),
        ("attestation", "model.intoto.json", True, None),
    ]
    doc = json.loads(_inspect(str(release), "--format", "json").stdout)
    assert [t["verified"] for t in doc["trust"]] == [None, None]
    text = _inspect(str(release)).stdout
    assert "present, not verified" in text and "verified\n" not in text


def test_verified_with_the_right_key_and_named_when_tampered(
    release: Path, keys: Keys, other_keys: Keys
) -> None:
    _signed(release, keys)
    ok = inspect_path(release, trust_anchor=TrustAnchor(public_key=keys.public))
    assert [f.verified for f in ok.trust] == [True, True]
    wrong = inspect_path(release, trust_anchor=TrustAnchor(public_key=other_keys.public))
    assert [f.verified for f in wrong.trust] == [False, False]
    data = bytearray((release / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (release / "model.safetensors").write_bytes(bytes(data))
    done = _inspect(str(release), "--public-key", str(keys.public))
    assert done.returncode == 0, done.stderr
    assert "DOES NOT VERIFY" in done.stdout and "model.safetensors" in done.stdout


def test_both_kinds_of_anchor_is_a_usage_error(release: Path, keys: Keys) -> None:
    done = _inspect(str(release), "--public-key", str(keys.public), "--certificate-chain", str(keys.public))
    assert done.returncode == 2 and "not both" in done.stderr and "Traceback" not in done.stderr
