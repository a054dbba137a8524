"""A small registry of crawled-looking repositories for the hub view's tests, from real assessments.

Each profile is a real `assess_path` run (manifest-only releases with a stated compute or a token
count; two tiny release folders, one with a pickle that calls os.system). The registry then records
copies of them under hub repository ids ("org/name" at a commit sha), some with a MOF class set, one
without its openness report, and one hostile document whose threshold calls were forged to "clearly
below" while its band is far above every line. `EXPECTED` is what the hub view must count, worked out
by hand from the layout below (docs/registry.md, "Hub view", says what the counts mean).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from modelwarden.assess import assess_path
from modelwarden.model import Assessment, ThresholdCall
from modelwarden.registry import Registry

AS_OF = dt.date(2026, 12, 1)

MANIFEST = """
model:
  name: {name}
  parameters: {parameters}
  modalities: {{input: [text], output: [text]}}
  generality: general
{training}
release:
  role: provider
  provider: {{name: Example Labs, established_in: US, revenue_usd: 2.0e9}}
  markets: [EU, US-CA]
  weights: public
  license: apache-2.0
"""

# profile -> the manifest's training section (None: no manifest, a folder alone)
PROFILES: dict[str, str] = {
    "stated_3e26": "training: {compute_flop: 3.0e26}",
    "stated_5e25": "training: {compute_flop: 5.0e25}",
    "stated_1e24": "training: {compute_flop: 1.0e24}",
    "stated_1e21": "training: {compute_flop: 1.0e21}",
    # 6 * 405e9 * 4.1e12 = 9.96e24: the band (about 9.0e24 .. 1.17e25) straddles 1e25.
    "straddle_1e25": "training: {tokens: 4.1e12}",
    "unknown": "",
}

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "vocab_size": 16}
# GLOBAL os.system, REDUCE: a pickle that would run a command if loaded (it never is: scan reads it).
EVIL_PICKLE = b"cos\nsystem\n(S'id'\ntR."


def _folder(root: Path, *, evil: bool) -> Path:
    root.mkdir(parents=True)
    save_file({"model.embed_tokens.weight": np.zeros((16, 8), np.float32)}, str(root / "model.safetensors"))
    (root / "config.json").write_text(json.dumps(CONFIG))
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n")
    if evil:
        (root / "extra.pkl").write_bytes(EVIL_PICKLE)
    return root


def real_profiles(work: Path) -> dict[str, Assessment]:
    """Run the assess stage once per profile (a few seconds in all)."""
    work.mkdir(parents=True, exist_ok=True)
    found: dict[str, Assessment] = {}
    for key, training in PROFILES.items():
        manifest = work / f"{key}.yaml"
        manifest.write_text(MANIFEST.format(name=key, parameters=405_000_000_000, training=training))
        found[key] = assess_path(None, manifest=manifest, as_of=AS_OF)
    found["folder_pickle"] = assess_path(_folder(work / "pickle", evil=True), as_of=AS_OF)
    clean_manifest = work / "clean.yaml"
    clean_manifest.write_text(MANIFEST.format(name="clean", parameters=128, training=PROFILES["stated_1e24"]))
    found["folder_clean_1e24"] = assess_path(
        _folder(work / "clean", evil=False), manifest=clean_manifest, as_of=AS_OF
    )
    return found


def sha(name: str) -> str:
    """A commit-sha-like version, as the crawler records it."""
    import hashlib

    return hashlib.sha1(name.encode()).hexdigest()


def renamed(a: Assessment, name: str, version: str | None = None, **changes: Any) -> Assessment:
    """A copy of a real assessment recorded under another name (and optionally with changes)."""
    subject = a.subject.model_copy(update={"name": name, "version": version})
    return a.model_copy(update={"subject": subject, **changes}, deep=True)


def with_mof(a: Assessment, mof_class: int) -> dict[str, Any]:
    """The change that gives a copy this MOF class."""
    assert a.openness is not None
    mof = a.openness.mof.model_copy(update={"class_": mof_class})
    return {"openness": a.openness.model_copy(update={"mof": mof})}


def forged_below(a: Assessment) -> dict[str, Any]:
    """A hostile document: every threshold call says "clearly below", whatever the band."""
    calls = {k: ThresholdCall.CLEARLY_BELOW for k in a.compute.thresholds}
    return {"compute": a.compute.model_copy(update={"thresholds": calls})}


def layout(p: dict[str, Assessment]) -> list[Assessment]:
    """The recorded assessments, in recording order (the first alpha/frontier is superseded)."""
    return [
        renamed(p["stated_1e21"], "alpha/frontier", sha("old")),  # an older commit, not the latest
        renamed(p["stated_3e26"], "alpha/frontier", sha("alpha/frontier"), **with_mof(p["stated_3e26"], 3)),
        renamed(p["stated_5e25"], "alpha/mid", sha("alpha/mid"), **with_mof(p["stated_5e25"], 1)),
        renamed(p["straddle_1e25"], "alpha/straddle", sha("alpha/straddle")),
        renamed(p["unknown"], "alpha/unknown", sha("alpha/unknown"), openness=None),
        renamed(p["stated_1e21"], "beta/small", sha("beta/small"), **with_mof(p["stated_1e21"], 2)),
        renamed(p["straddle_1e25"], "beta/straddle", sha("beta/straddle")),
        renamed(p["stated_3e26"], "beta/liar", sha("beta/liar"), **forged_below(p["stated_3e26"])),
        renamed(p["folder_pickle"], "beta/scanned", sha("beta/scanned")),
        renamed(p["folder_clean_1e24"], "gamma/clean", sha("gamma/clean")),
        renamed(p["stated_1e24"], "local-release"),
        renamed(p["stated_1e21"], "/srv/models/x"),  # a path-like local name: no organisation
    ]


def fill_hub(reg: Registry, profiles: dict[str, Assessment]) -> list[int]:
    """Record the layout; return the ids."""
    return [reg.save(a) for a in layout(profiles)]


def _t(above: int = 0, straddles: int = 0, below: int = 0, unknown: int = 0) -> dict[str, int]:
    return {"above": above, "straddles": straddles, "below": below, "unknown": unknown}


# What the hub view must say about `layout` (latest assessments only), worked out by hand.
EXPECTED: dict[str, dict[str, Any]] = {
    "alpha": {
        "models": 4,
        "compute_unknown": 1,
        "thresholds": {
            "1e23": _t(above=3, unknown=1),
            "1e25": _t(above=2, straddles=1, unknown=1),
            "1e26": _t(above=1, below=2, unknown=1),
        },
        "mof": {"class_1": 1, "class_2": 0, "class_3": 1, "no_class": 1, "not_classified": 1},
        "severity": {"not_scanned": 4},
    },
    "beta": {
        "models": 4,
        "compute_unknown": 1,
        "thresholds": {
            "1e23": _t(above=1, straddles=1, below=1, unknown=1),
            "1e25": _t(straddles=2, below=1, unknown=1),
            "1e26": _t(straddles=1, below=2, unknown=1),
        },
        "mof": {"class_1": 0, "class_2": 1, "class_3": 0, "no_class": 3, "not_classified": 0},
        "severity": {"not_scanned": 3, "critical": 1},
    },
    "gamma": {
        "models": 1,
        "compute_unknown": 0,
        "thresholds": {"1e23": _t(above=1), "1e25": _t(below=1), "1e26": _t(below=1)},
        "mof": {"class_1": 0, "class_2": 0, "class_3": 0, "no_class": 1, "not_classified": 0},
        "severity": {"none": 1},
    },
    "(local)": {
        "models": 2,
        "compute_unknown": 0,
        "thresholds": {
            "1e23": _t(above=1, below=1),
            "1e25": _t(below=2),
            "1e26": _t(below=2),
        },
        "mof": {"class_1": 0, "class_2": 0, "class_3": 0, "no_class": 2, "not_classified": 0},
        "severity": {"not_scanned": 2},
    },
}
EXPECTED_DECADES = {21: 2, 24: 4, 25: 1, 26: 2}
# Listed under each threshold: (name, status), in the listed order.
EXPECTED_LISTS = {
    "1e23": [
        ("alpha/frontier", "above"),
        ("alpha/mid", "above"),
        ("alpha/straddle", "above"),
        ("beta/straddle", "above"),
        ("gamma/clean", "above"),
        ("local-release", "above"),
        ("beta/liar", "straddles"),
    ],
    "1e25": [
        ("alpha/frontier", "above"),
        ("alpha/mid", "above"),
        ("beta/liar", "straddles"),
        ("alpha/straddle", "straddles"),
        ("beta/straddle", "straddles"),
    ],
    "1e26": [("alpha/frontier", "above"), ("beta/liar", "straddles")],
}
