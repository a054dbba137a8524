"""Oracle cases: random pickle programs in random containers, and mutations of real samples.

`generate_cases(seed, count, features)` is deterministic for a seed. A case records the grammar and
container features it used; `ENABLED_FEATURES` is what the bounded test in `make test` draws from.

FULL_GRAMMAR is the one switch to flip once the scanner fixes of issue 15 (allowlist, containers) are
merged: until then the features in `NEEDS_FIXED_SCANNER` — each one a bypass class of the old
scanner, kept as a minimised case in known_bypasses.py — are left out of the bounded random test.
The long run (benchmarks/scan_oracle.py) always uses every feature.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from tests.scan.oracle import containers as c
from tests.scan.oracle import pickles as p
from tests.scan.oracle.mutate import mutate, splice_at_boundary

FULL_GRAMMAR = True

# Every feature a case can draw on: grammar (pickle encodings), payload families, containers.
GRAMMAR_FEATURES = frozenset(
    {
        "dangerous",
        "stack-global",
        "memo",
        "inst",
        "obj",
        "py2-name",
        "frames",
        "proto-switch",
        "opcode-splice",
    }
)
DANGER_FEATURES = frozenset("danger:" + d.name for d in p.DANGEROUS)
CONTAINER_FEATURES = frozenset(
    {
        "pickle",
        "pickle-other-loader",  # a plain pickle given to torch.load / joblib.load
        "torch-zip",
        "torch-legacy",
        "torch-tar",
        "npy",
        "npy-descr",  # object dtypes spelt other than '|O' ('object', structured fields)
        "npz",
        "npz-zip64-elsewhere",  # a zip64 locator zipfile ignores, pointing at a benign archive
        "joblib",
        "joblib-ndarray-wrapper",
        "joblib-ndarray-checkpoints",  # the wrapper's file is in .ipynb_checkpoints/
        "torch-tar-after-storage",  # the program follows a storage's raw bytes in `storages`
        "zip-two-eocd",
        "zip-eocd-in-comment",  # the last end record hides in the first one's comment
        "keras-torch-wrapper",  # a torch archive, base64 in a TorchModuleWrapper's Keras config
        "mutation",
    }
)
ALL_FEATURES = GRAMMAR_FEATURES | DANGER_FEATURES | CONTAINER_FEATURES

# Features the old scanner (before the issue-15 fixes) is known to miss, with the class they belong
# to (issue 15's numbering); each has a minimised case in known_bypasses.py.
NEEDS_FIXED_SCANNER: dict[str, str] = {
    "danger:sklearn.check_output": "1: re-exported subprocess.check_output under the `sklearn.*` tier (low)",
    "danger:setstate-unpickles": "2: a __setstate__ unpickles its state; the nested pickle is not analysed",
    "npy-descr": "3: descr 'object' (also as a structured field's type) is not seen as an object dtype",
    "npz-zip64-elsewhere": "4: the scanner follows a zip64 locator that zipfile ignores (another archive)",
    "joblib-ndarray-checkpoints": "5: NDArrayWrapper pointing into a folder the folder scan skips",
    "torch-tar-after-storage": "6: legacy tar pickles after a storage's raw bytes are not walked",
    "danger:py2-eval": "7: __builtin__ names mapped with the last PROTO, not the one in force (medium)",
    "danger:torch.utils.collect_env": "10: torch module that runs commands: only an unknown import (medium)",
    "danger:logging.FileHandler": "10: logging.FileHandler writes files; only an unknown import (medium)",
    "danger:stdlib-exec-module": "10: idlelib / lib2to3 / _osx_support are only unknown imports (medium)",
}

ENABLED_FEATURES = ALL_FEATURES if FULL_GRAMMAR else ALL_FEATURES - NEEDS_FIXED_SCANNER.keys()


@dataclass(frozen=True)
class Case:
    """One oracle sample."""

    name: str
    """Unique, stable for a seed (`<seed>-<index>-<container>`)."""
    container: str
    """The container feature that carries the program."""
    built: c.Built
    """Its files, entry and loaders."""
    features: frozenset[str]
    """Every feature the case used (grammar, payload, container)."""


def _dangers(features: frozenset[str]) -> list[p.Danger]:
    return [
        d for d in p.DANGEROUS if "danger:" + d.name in features and d.feature in features | {"dangerous"}
    ]


def _program(
    rng: random.Random,
    features: frozenset[str],
    *,
    torch_storage: bool = False,
    legacy_storage: bool = False,
) -> tuple[bytes, set[str]]:
    """A rendered program in a random protocol; dangerous in about 60 % of the cases when the grammar
    allows it."""
    dangers = _dangers(features)
    danger = rng.choice(dangers) if dangers and "dangerous" in features and rng.random() < 0.6 else None
    proto = rng.choice(range(6))
    if danger is not None and proto < danger.min_proto:
        proto = danger.min_proto
    prog = p.generate(
        rng,
        features,
        proto=proto,
        dangerous=danger,
        torch_storage=torch_storage,
        legacy_storage=legacy_storage,
    )
    data = p.render(prog, rng, features)
    return data, set(prog.features)


def _one(rng: random.Random, features: frozenset[str], name: str) -> Case | None:
    containers = sorted(CONTAINER_FEATURES & features)
    container = rng.choice(containers)
    used: set[str] = {container}
    if container == "mutation":
        base = _one(rng, features - {"mutation", "dangerous"}, name)
        if base is None:
            return None
        data = base.built.files[base.built.entry]
        mutated, kind = mutate(data, rng)
        files = dict(base.built.files)
        files[base.built.entry] = mutated
        used |= base.features | {"mutation:" + kind}
        return Case(name, container, c.Built(files, base.built.entry, base.built.loaders), frozenset(used))
    torch_like = container in (
        "torch-zip",
        "torch-legacy",
        "zip-two-eocd",
        "zip-eocd-in-comment",
        "keras-torch-wrapper",
    )
    data, pf = _program(
        rng,
        features,
        torch_storage=torch_like and rng.random() < 0.7,
        legacy_storage=container == "torch-legacy",
    )
    used |= pf
    if "opcode-splice" in features and rng.random() < 0.15:
        # A self-contained os.system call spliced between two opcodes of an otherwise generated program.
        data = splice_at_boundary(data, rng)
        used.add("opcode-splice")
    if container == "pickle":
        built = c.raw_pickle(data)
    elif container == "pickle-other-loader":
        built = c.raw_pickle(data, (rng.choice(["torch", "joblib"]),))
    elif container == "torch-zip":
        built = c.torch_zip(data)
    elif container == "torch-legacy":
        built = c.torch_legacy_stream(data)
    elif container == "torch-tar":
        built = c.torch_legacy_tar(data, rng.choice(["pickle", "storages", "tensors"]))
    elif container in ("npy", "npy-descr"):
        descr = rng.choice(c.NPY_DESCRS[1:]) if container == "npy-descr" else "'|O'"
        built = c.npy(data, descr)
    elif container == "npz":
        built = c.npz(data)
    elif container == "npz-zip64-elsewhere":
        built = c.npz_zip64_elsewhere(data)
    elif container == "joblib":
        built = c.joblib_object_array(data)
    elif container == "joblib-ndarray-wrapper":
        built = c.joblib_ndarray_wrapper(data)
    elif container == "joblib-ndarray-checkpoints":
        built = c.joblib_ndarray_wrapper(data, ".ipynb_checkpoints/arr.npy")
    elif container == "torch-tar-after-storage":
        built = c.torch_legacy_tar(data, "after-storage")
    elif container == "keras-torch-wrapper":
        built = c.keras_torch_module_wrapper(data)
    elif container == "zip-eocd-in-comment":
        benign, _ = _program(rng, features - {"dangerous"}, torch_storage=True)
        built = c.zip_eocd_in_comment(data, benign)
    elif container == "zip-two-eocd":
        benign, _ = _program(rng, features - {"dangerous"}, torch_storage=True)
        built = c.zip_two_eocd(data, benign)
    else:
        raise AssertionError(container)
    return Case(name, container, built, frozenset(used))


def _allowed(case: Case, features: frozenset[str]) -> bool:
    """The case used only enabled features (the writer draws some encodings on its own)."""
    drawn = {f for f in case.features if f in ALL_FEATURES}
    return drawn <= features


def generate_cases(seed: int, count: int, features: frozenset[str] = ENABLED_FEATURES) -> Iterator[Case]:
    """`count` cases for `seed`, using only `features` (deterministic)."""
    rng = random.Random(seed)
    made = 0
    attempt = 0
    while made < count:
        attempt += 1
        case = _one(rng, features, f"{seed}-{attempt}")
        if case is None or not _allowed(case, features):
            continue
        made += 1
        yield Case(f"{case.name}-{case.container}", case.container, case.built, case.features)
