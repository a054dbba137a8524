"""A recorded-assessment scene for the attestation tests: a real tiny release assessed by modelwarden,
attested with real keys (and a certificate whose subject is hostile HTML), shared by the registry and
web tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from modelwarden.model import Assessment
from modelwarden.trust import SigningKey, attest_release, sign_model
from tests.trust.conftest import Keys, Pki, make_keys, make_pki, make_release

HOSTILE_CN = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Scene:
    """A release, its assessment, and attestations of it."""

    release: Path
    assessment: Assessment
    keys: Keys
    other: Keys
    attestation: Path
    """Signed by `keys`."""
    by_other: Path
    """Signed by `other`."""
    second: Path
    """Signed by `keys` again (other bytes: ECDSA signatures are randomised)."""


def make_scene(base: Path) -> Scene:
    """Assess a fresh tiny release and attest the assessment three times."""
    from modelwarden.assess import assess_path

    release = make_release(base / "release")
    keys, other = make_keys(base / "keys", "signer"), make_keys(base / "keys", "other")
    assessment = assess_path(release)

    def attest(keys: Keys, name: str) -> Path:
        made = attest_release(
            release, SigningKey(private_key=keys.private), base / name, assessment=assessment
        )
        return made.attestation

    return Scene(
        release,
        assessment,
        keys,
        other,
        attest(keys, "a.intoto.json"),
        attest(other, "b.intoto.json"),
        attest(keys, "c.intoto.json"),
    )


def certificate_attestation(base: Path, scene: Scene) -> tuple[Pki, Path, Path]:
    """A copy of the release signed with a certificate whose subject is hostile HTML: (the PKI, the
    model signature, the attestation)."""
    release = base / "release"
    shutil.copytree(scene.release, release)
    pki = make_pki(base / "pki", HOSTILE_CN)
    key = SigningKey(private_key=pki.leaf_key.private, certificate=pki.leaf, chain=[pki.root])
    sign_model(release, key)
    att = attest_release(release, key, base / "cert.intoto.json", assessment=scene.assessment)
    return pki, release / "model.sig", att.attestation
