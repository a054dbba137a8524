"""What a release carries: signatures and attestations found by name, recognised by content, and
verified only against an anchor the caller gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from modelwarden.trust import SigningKey, TrustAnchor, attest_release, sign_model
from modelwarden.trust.presence import trust_files

from .conftest import Keys


def _summary(path: Path, anchor: TrustAnchor | None = None) -> list[tuple[str, str, bool, bool | None]]:
    return [(f.kind, f.file.value, f.recognised, f.verified) for f in trust_files(path, anchor)]


def test_nothing_carried(release: Path, keys: Keys) -> None:
    assert trust_files(release) == []
    assert trust_files(release, TrustAnchor(public_key=keys.public)) == []


def test_found_with_provenance_and_unknown_without_an_anchor(release: Path, keys: Keys) -> None:
    key = SigningKey(private_key=keys.private)
    sign_model(release, key)
    attest_release(release, key, as_of=dt.date(2026, 9, 1))
    found = trust_files(release)
    assert _summary(release) == [
        ("model signature", "model.sig", True, None),
        ("attestation", "model.intoto.json", True, None),
    ]
    assert found[0].file.provenance.file == "model.sig" and found[0].file.provenance.field == "mediaType"
    assert found[1].file.provenance.field == "payloadType"


def test_verified_only_with_the_right_key(release: Path, keys: Keys, other_keys: Keys) -> None:
    key = SigningKey(private_key=keys.private)
    sign_model(release, key)
    attest_release(release, key, as_of=dt.date(2026, 9, 1))
    assert [v for *_, v in _summary(release, TrustAnchor(public_key=keys.public))] == [True, True]
    assert [v for *_, v in _summary(release, TrustAnchor(public_key=other_keys.public))] == [False, False]
    (release / "config.json").write_text("{}")
    files = trust_files(release, TrustAnchor(public_key=keys.public))
    assert [f.verified for f in files] == [False, False]
    assert all("config.json" in f.detail for f in files)


def test_a_decoy_is_found_but_not_recognised(release: Path, keys: Keys) -> None:
    (release / "model.sig").write_text('{"mediaType": "text/plain"}')
    (release / "fake.intoto.json").write_text("[]")
    assert _summary(release, TrustAnchor(public_key=keys.public)) == [
        ("model signature", "model.sig", False, False),
        ("attestation", "fake.intoto.json", False, False),
    ]
