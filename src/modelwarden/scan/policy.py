"""Which pickle imports are allowed, which are dangerous, and which are merely unknown.

The lists are data (data/pickle_policy.yaml, from reference/scanners.md "What legitimate checkpoints
import" and technique 1). The decision is an allowlist: only listed callables pass silently; known
dangerous ones are critical; training and library classes are low; everything else is medium with its
exact import path — a denylist alone is what every published bypass defeats.
"""

from __future__ import annotations

import _compat_pickle
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any


class Tier(StrEnum):
    ALLOW = "allow"
    NESTED = "nested"  # a loader of nested pickles whose bytes we analyse
    TRAINING = "training"
    LIBRARY = "library"
    DANGEROUS = "dangerous"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Verdict:
    tier: Tier
    qualname: str  # the name a loader resolves (after Python 2 mapping)
    reason: str = ""


@dataclass(frozen=True)
class Policy:
    allow: frozenset[str]
    allow_prefixes: tuple[str, ...]
    allow_patterns: tuple[re.Pattern[str], ...]
    context_patterns: dict[str, tuple[re.Pattern[str], ...]]
    nested: frozenset[str]
    training: frozenset[str]
    training_prefixes: tuple[str, ...]
    library: frozenset[str]
    library_prefixes: tuple[str, ...]
    dangerous: frozenset[str]
    dangerous_attributes: frozenset[str]
    torchscript_namespaces: frozenset[str] = frozenset()
    # classify() is a pure function of its arguments; a checkpoint asks about the same few imports for
    # every tensor. Bounded, so a hostile pickle with millions of distinct names cannot grow it.
    _verdicts: dict[tuple[str, str, bool, str], Verdict] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def classify(self, module: str, name: str, *, protocol: int | None = None, context: str = "") -> Verdict:
        key = (module, name, protocol is not None and protocol >= 3, context)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._classify(module, name, protocol, context)
            if len(self._verdicts) < _VERDICT_CACHE:
                self._verdicts[key] = verdict
        return verdict

    def _classify(self, module: str, name: str, protocol: int | None, context: str) -> Verdict:
        module, name, mapped = _map_py2(module, name, protocol)
        qualname = f"{module}.{name}"
        note = f" (written as {mapped})" if mapped else ""
        if not _is_dotted_identifier(module) or not _is_dotted_identifier(name):
            return Verdict(Tier.UNKNOWN, qualname, "not a valid Python import path" + note)
        for pattern in self.context_patterns.get(context, ()):
            if pattern.fullmatch(qualname):
                return Verdict(Tier.ALLOW, qualname)
        # Exact entries beat module-wide dangerous entries (torch.serialization._get_layout is fine
        # although torch.serialization.load is not).
        if qualname in self.allow:
            return Verdict(Tier.ALLOW, qualname)
        if qualname in self.nested:
            return Verdict(Tier.NESTED, qualname)
        if qualname in self.training:
            return Verdict(Tier.TRAINING, qualname, note.strip())
        if qualname in self.library:
            return Verdict(Tier.LIBRARY, qualname, note.strip())
        hit = self._dangerous_prefix(qualname)
        if hit:
            what = "module" if hit != qualname else "callable"
            return Verdict(Tier.DANGEROUS, qualname, f"known-dangerous {what} {hit}{note}")
        if "." in name:
            # Protocol 4 resolves dotted names attribute by attribute: "torch.serialization" +
            # "os.system" reaches os.system through a module that merely imports os.
            bad = [p for p in name.split(".") if p in self.dangerous_attributes or p in self.dangerous]
            if bad:
                return Verdict(
                    Tier.DANGEROUS, qualname, f"attribute path through {module} reaches {'.'.join(bad)}{note}"
                )
            return Verdict(Tier.UNKNOWN, qualname, f"attribute path {name!r} inside {module}{note}")
        if qualname.startswith(self.allow_prefixes) or any(
            p.fullmatch(qualname) for p in self.allow_patterns
        ):
            return Verdict(Tier.ALLOW, qualname)
        if qualname.startswith(self.training_prefixes):
            return Verdict(Tier.TRAINING, qualname, note.strip())
        if qualname.startswith(self.library_prefixes):
            return Verdict(Tier.LIBRARY, qualname, note.strip())
        return Verdict(Tier.UNKNOWN, qualname, "not on the allowlist" + note)

    def _dangerous_prefix(self, qualname: str) -> str | None:
        parts = qualname.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in self.dangerous:
                return prefix
        return None

    def is_dangerous_reference(self, module: str, name: str) -> str | None:
        """For configs naming module + function (Keras): the dangerous entry it hits, if any."""
        qualname = f"{module}.{name}" if name else module
        hit = self._dangerous_prefix(qualname)
        if hit:
            return hit
        if name and any(part in self.dangerous_attributes for part in name.split(".")[1:]):
            return qualname
        return None


_VERDICT_CACHE = 4096
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _is_dotted_identifier(text: str) -> bool:
    return bool(_IDENT.fullmatch(text))


def _map_py2(module: str, name: str, protocol: int | None) -> tuple[str, str, str | None]:
    """Apply the name mapping `pickle.Unpickler` applies to protocol 0-2 streams (fix_imports=True)."""
    if protocol is not None and protocol >= 3:
        return module, name, None
    original = f"{module}.{name}"
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    mapped = f"{module}.{name}"
    return module, name, (original if mapped != original else None)


def _split(entries: list[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    exact = frozenset(e for e in entries if not e.endswith(".*"))
    prefixes = tuple(e[:-1] for e in entries if e.endswith(".*"))  # keep the trailing dot
    return exact, prefixes


def read_data(name: str) -> Any:
    """One of the scanner's YAML data files (scan/data/NAME), parsed.

    With libyaml's safe loader when PyYAML was built with it: the same safe constructor, ten times
    faster than the pure-Python parser, which took 30 ms of every scan's start-up for these files
    (tests/scan/test_policy_data.py checks both parsers read them alike).
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = resources.files("modelwarden.scan").joinpath("data/" + name).read_text("utf-8")
    return yaml.load(text, Loader=loader)  # noqa: S506 - CSafeLoader or SafeLoader, both safe


@cache
def load_policy() -> Policy:
    raw: dict[str, Any] = read_data("pickle_policy.yaml")
    allow, allow_prefixes = _split(raw["allow"])
    training, training_prefixes = _split(raw["training"])
    library, library_prefixes = _split(raw["library"])
    return Policy(
        allow=allow,
        allow_prefixes=allow_prefixes,
        allow_patterns=tuple(re.compile(p) for p in raw.get("allow_patterns", [])),
        context_patterns={
            ctx: tuple(re.compile(p) for p in spec.get("patterns", []))
            for ctx, spec in raw.get("context_allow", {}).items()
        },
        nested=frozenset(raw.get("nested_loaders", [])),
        training=training,
        training_prefixes=training_prefixes,
        library=library,
        library_prefixes=library_prefixes,
        dangerous=frozenset(raw["dangerous_modules"]),
        dangerous_attributes=frozenset(raw["dangerous_attributes"]),
        torchscript_namespaces=frozenset(raw.get("torchscript_op_namespaces", [])),
    )


@cache
def format_policy() -> dict[str, Any]:
    """The lists of data/format_policy.yaml (SavedModel ops, ONNX domains, Keras modules, templates)."""
    data: dict[str, Any] = read_data("format_policy.yaml")
    return data
