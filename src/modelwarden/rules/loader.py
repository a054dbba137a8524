"""Rule files: one YAML file per instrument, validated on load, CEL conditions compiled once.

The format (see docs/assess.md) is the same for the bundled instruments and for an organisation's own
policy gates (`--rules DIR`): effective dates, ordered classification rules (first match decides),
obligations that require classifications, and exemptions that remove obligations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import cel
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwarden.errors import RulesError
from modelwarden.manifest import YamlLoader
from modelwarden.untrusted import yaml as untrusted_yaml
from modelwarden.untrusted.io import read_bounded

MAX_RULE_FILE_BYTES = 1_000_000
# The order regimes are reported in (the JSON contract's order); organisation files follow.
BUNDLED_ORDER = (
    "eu_ai_act",
    "us_eo_14110",
    "us_bis_4e091",
    "us_ca_sb53",
    "us_ca_ab2013",
    "us_ny_raise",
    "us_il_sb315",
    "kr_ai_basic_act",
    "cn_genai",
    "eu_ai_act_art50",
    "eu_ai_act_art5",
    "us_ca_sb942",
    "us_co_sb26_189",
    "us_tx_traiga",
    "cn_anthropomorphic",
    "vn_ai_law",
)
# Who owes a duty (docs/assess.md, "Who owes a duty"): the provider of the model, the provider of an AI
# system built on it, the developer (US state statutes), a deployer, or the provider of a public service.
Addressee = Literal["model_provider", "system_provider", "developer", "deployer", "service_provider"]
Result = Literal["yes", "no", "needs_review", "insufficient_data"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CitationSpec(_Strict):
    """A rule file's citation of a provision."""

    article: str
    url: str | None = Field(default=None, pattern=r"^https?://")  # rendered as a link in HTML reports
    instrument: str | None = None  # defaults to the file's instrument


class RuleSpec(_Strict):
    """One condition of a classification: when it holds, the result and why."""

    when: str
    result: Result
    because: str
    cite: CitationSpec | None = None
    question: str | None = None  # required for needs_review: what a human must settle
    # CEL giving a string or a list of strings appended to `because` and `question` (e.g. the licence
    # clauses that decide a question), so the answer names the facts that decided it.
    detail: str | None = None


class NoteSpec(_Strict):
    """A note shown only when its condition holds (e.g. "fines possible since ..." after a date)."""

    when: str
    text: str


class ObligationSpec(_Strict):
    """A duty in a rule file: what it is, when it applies and on what it depends."""

    id: str
    title: str
    citation: CitationSpec
    requires: dict[str, Literal["yes"]] = Field(default_factory=dict)  # classification -> must be yes
    when: str | None = None
    applies_from: str | None = None  # a CEL expression giving an ISO date, or a quoted literal
    deadline: str | None = None  # CEL expression giving text
    notes: list[str | NoteSpec] = Field(default_factory=list)  # plain, or {when, text}
    applies_to: Addressee | None = None  # required in bundled files (tests/rules/test_loader.py)
    # Facts the `when` condition turns on that may be unknown: when one of these conditions holds (or
    # cannot be evaluated) the duty is listed as conditional on its text, never dropped (docs/assess.md,
    # "Unknown is never no"). `when` must then let the unknown case through.
    open_if: list[NoteSpec] = Field(default_factory=list)


class ExemptionSpec(_Strict):
    """An exemption in a rule file and the duties it removes."""

    id: str
    title: str
    citation: CitationSpec
    requires: dict[str, Literal["yes"]] = Field(default_factory=dict)
    removes: list[str]


class Effective(_Strict):
    """When an instrument applies: from a date, until a date (exclusive)."""

    from_: dt.date = Field(alias="from")
    until: dt.date | None = None  # exclusive: the first day it no longer applies


class InstrumentSpec(_Strict):
    """A rule file: one legal instrument, its classifications, obligations and exemptions."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    instrument: str
    jurisdiction: str
    url: str | None = Field(default=None, pattern=r"^https?://")
    version: str
    effective: Effective
    notes: list[str | NoteSpec] = Field(default_factory=list)
    classifications: dict[str, list[RuleSpec]]
    obligations: list[ObligationSpec] = Field(default_factory=list)
    exemptions: list[ExemptionSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class Compiled:
    """A rule file with its CEL expressions compiled."""

    spec: InstrumentSpec
    path: str
    programs: dict[str, Any]  # expression text -> compiled CEL program
    # Expressions that read no earlier decision (`cls.`): their value depends only on the facts, so the
    # engine evaluates each once per assessment however many files share it.
    pure: frozenset[str] = frozenset()


# `cls.gpai_model` in a rule reads a classification decided earlier in the same instrument. It is
# compiled as a call of the engine's `cls_` function, so the facts are converted to CEL values once per
# assessment instead of once per decision (benchmarks/assess_bench.py: ~5x faster).
_CLS = re.compile(r"\bcls\.([A-Za-z_][A-Za-z0-9_]*)")


def _compile(expr: str, where: str, path: str) -> Any:
    try:
        return cel.compile(_CLS.sub(r'cls_("\1")', expr))
    except (ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0]
        raise RulesError(f"{where}: invalid CEL condition {expr!r}: {first}", path=path) from None


def _expressions(spec: InstrumentSpec) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = [
        (f"notes[{i}].when", n.when) for i, n in enumerate(spec.notes) if isinstance(n, NoteSpec)
    ]
    for name, rules in spec.classifications.items():
        out += [(f"classifications.{name}[{i}].when", r.when) for i, r in enumerate(rules)]
        out += [(f"classifications.{name}[{i}].detail", r.detail) for i, r in enumerate(rules) if r.detail]
    for i, o in enumerate(spec.obligations):
        for key in ("when", "applies_from", "deadline"):
            value = getattr(o, key)
            if value is not None:
                out.append((f"obligations[{i}].{key}", value))
        out += [
            (f"obligations[{i}].notes[{j}].when", n.when)
            for j, n in enumerate(o.notes)
            if isinstance(n, NoteSpec)
        ]
        out += [(f"obligations[{i}].open_if[{j}].when", n.when) for j, n in enumerate(o.open_if)]
    return out


def _check(spec: InstrumentSpec, path: str) -> None:
    ids = [o.id for o in spec.obligations]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise RulesError(f"duplicate obligation ids: {', '.join(sorted(dupes))}", path=path)
    for i, o in enumerate(spec.obligations):
        unknown = set(o.requires) - set(spec.classifications)
        if unknown:
            raise RulesError(
                f"obligations[{i}].requires names unknown classification(s) {sorted(unknown)}", path=path
            )
    for i, e in enumerate(spec.exemptions):
        missing = set(e.removes) - set(ids)
        if missing:
            raise RulesError(
                f"exemptions[{i}].removes names unknown obligation(s) {sorted(missing)}", path=path
            )
    for name, rules in spec.classifications.items():
        for i, r in enumerate(rules):
            if r.result == "needs_review" and not r.question:
                raise RulesError(
                    f"classifications.{name}[{i}]: a needs_review rule must ask a question", path=path
                )


def parse_rules(text: str, path: str) -> Compiled:
    """Parse and compile one rule file; every problem is a `RulesError` naming the file."""
    try:
        data = untrusted_yaml.load(text, loader=YamlLoader)  # floats like 1e25, dates as text
    except (yaml.YAMLError, ValueError) as exc:
        raise RulesError(untrusted_yaml.describe(exc), path=path) from None
    if not isinstance(data, dict):
        raise RulesError("a rule file must be a mapping", path=path)
    try:
        spec = InstrumentSpec.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"  {loc}: {msg}")
        raise RulesError("invalid rule file:\n" + "\n".join(lines), path=path) from None
    _check(spec, path)
    programs = {expr: _compile(expr, where, path) for where, expr in _expressions(spec)}
    return Compiled(spec, path, programs, frozenset(e for e in programs if not _CLS.search(e)))


def _read(path: Path) -> str:
    try:
        raw = read_bounded(path, MAX_RULE_FILE_BYTES)  # a FIFO or device named *.yaml must not block
        if len(raw) > MAX_RULE_FILE_BYTES:
            raise RulesError(f"rule file larger than {MAX_RULE_FILE_BYTES} bytes", path=path)
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RulesError("rule file is not UTF-8 text", path=path) from None
    except OSError as exc:
        raise RulesError(f"cannot read rule file: {exc.strerror}", path=path) from None


@dataclass(frozen=True)
class RuleSet:
    """The instruments an assessment evaluates, and a version that identifies them."""

    instruments: tuple[Compiled, ...]
    version: str  # bundled rules version + digest of every file's bytes


def load_rules(extra_dirs: list[Path] | None = None) -> RuleSet:
    """The bundled instruments plus every `*.yaml` in `extra_dirs` (organisation policy gates)."""
    texts: list[tuple[str, str]] = []
    bundled = resources.files("modelwarden.rules").joinpath("data")

    def rank(name: str) -> tuple[int, str]:
        stem = name.removesuffix(".yaml")
        return (BUNDLED_ORDER.index(stem) if stem in BUNDLED_ORDER else len(BUNDLED_ORDER), name)

    for entry in sorted(bundled.iterdir(), key=lambda e: rank(e.name)):
        if entry.name.endswith(".yaml"):
            texts.append((f"modelwarden/rules/data/{entry.name}", entry.read_text("utf-8")))
    for d in extra_dirs or []:
        if not d.is_dir():
            raise RulesError(
                "a rule set must be a folder of rule files",
                path=d,
                next_step="name the folder that holds the *.yaml rule files",
            )
        files = sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml"))
        if not files:
            raise RulesError("no *.yaml rule files in this folder", path=d)
        texts += [(str(f), _read(f)) for f in files]
    compiled = [parse_rules(text, path) for path, text in texts]
    seen: dict[str, str] = {}
    for c in compiled:
        if c.spec.id in seen:
            raise RulesError(
                f"instrument id {c.spec.id!r} is already defined in {seen[c.spec.id]}", path=c.path
            )
        seen[c.spec.id] = c.path
    digest = hashlib.sha256("\0".join(t for _, t in texts).encode()).hexdigest()[:12]
    return RuleSet(tuple(compiled), f"{_bundled_version(compiled)}+{digest}")


def _bundled_version(compiled: list[Compiled]) -> str:
    versions = sorted({c.spec.version for c in compiled if c.path.startswith("modelwarden/")})
    return versions[-1] if versions else "custom"
