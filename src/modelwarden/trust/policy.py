"""Verification policies: named CEL conditions over an attestation's assessment predicate, each
reported on its own (docs/trust.md "Policies"). CEL is the language the rule files use (rules/).

    conditions:
      - name: the scan passed
        when: scan.verdict == "PASS"
      - name: trained with less than 1e25 FLOP
        when: compute.training_flop.high < 1e25

A condition passes only when it evaluates to the boolean true. A field that is absent or null, a
type error, or any value other than true fails it: nothing that could not be evaluated passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from modelwarden.errors import TrustInvalid
from modelwarden.trust.records import Check

#: A policy is a handful of lines; 1 MiB bounds a hostile or mistaken file.
MAX_POLICY_BYTES = 1024 * 1024


class ConditionSpec(BaseModel):
    """One condition of a policy file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    """What the condition means, as the report names it."""
    when: str = Field(min_length=1)
    """The CEL expression that must be true."""


class PolicySpec(BaseModel):
    """A policy file: its conditions, all of which must hold."""

    model_config = ConfigDict(extra="forbid")

    conditions: list[ConditionSpec] = Field(min_length=1)
    """The conditions, in the order they are reported (at least one: an empty policy would pass all)."""


@dataclass(frozen=True)
class Policy:
    """A policy with its conditions compiled."""

    path: str
    conditions: list[tuple[ConditionSpec, Any]]


def parse_policy(text: str, path: str) -> Policy:
    """Parse and compile a policy; every problem is a `TrustInvalid` naming the file and condition."""
    import cel
    import yaml

    from modelwarden.manifest import YamlLoader
    from modelwarden.untrusted import yaml as untrusted_yaml

    try:
        data = untrusted_yaml.load(text, loader=YamlLoader)  # floats like 1e25 stay floats
    except (yaml.YAMLError, ValueError) as exc:
        raise TrustInvalid(untrusted_yaml.describe(exc), path=path) from None
    try:
        spec = PolicySpec.model_validate(data)
    except PydanticError as exc:
        lines = [f"  {'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in exc.errors()]
        raise TrustInvalid("invalid policy file:\n" + "\n".join(lines), path=path) from None
    compiled = []
    for i, cond in enumerate(spec.conditions):
        try:
            compiled.append((cond, cel.compile(cond.when)))
        except (ValueError, RuntimeError) as exc:
            first = str(exc).splitlines()[0]
            raise TrustInvalid(
                f"conditions[{i}] ({cond.name}): invalid CEL {cond.when!r}: {first}", path=path
            ) from None
    return Policy(path, compiled)


def load_policy(path: Path) -> Policy:
    """Read (bounded) and compile a policy file."""
    from modelwarden.untrusted.io import read_bounded

    try:
        raw = read_bounded(path, MAX_POLICY_BYTES)
    except OSError as exc:
        raise TrustInvalid(f"cannot read the policy: {exc.strerror or exc}", path=path) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise TrustInvalid(f"policy file larger than {MAX_POLICY_BYTES} bytes", path=path)
    try:
        return parse_policy(raw.decode("utf-8"), str(path))
    except UnicodeDecodeError:
        raise TrustInvalid("policy file is not UTF-8 text", path=path) from None


def evaluate(policy: Policy, pred: dict[str, Any]) -> list[Check]:
    """One `Check` per condition, evaluated over the predicate's top-level fields as CEL variables."""
    import cel

    ctx = cel.Context(variables=pred)
    checks = []
    for cond, program in policy.conditions:
        name = f"policy: {cond.name}"
        try:
            value = program.execute(ctx)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if isinstance(exc, KeyError):
                reason = f"no field {reason}"
            elif (null := _null_path(cond.when, pred)) is not None:
                reason = f"{null} is null or absent in the assessment ({reason})"
            checks.append(Check(name=name, passed=False, detail=f"{cond.when}: could not evaluate: {reason}"))
            continue
        if value is True:
            checks.append(Check(name=name, passed=True, detail=f"{cond.when}: true"))
        else:
            checks.append(Check(name=name, passed=False, detail=f"{cond.when}: {value!r}"))
    return checks


def not_evaluated(policy: Policy, why: str) -> list[Check]:
    """Every condition reported as failed, not evaluated, because the predicate cannot be trusted."""
    return [
        Check(name=f"policy: {c.name}", passed=False, detail=f"not evaluated: {why}")
        for c, _ in policy.conditions
    ]


_PATH = re.compile(r"(?<![\w.\"'])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def _null_path(expr: str, pred: dict[str, Any]) -> str | None:
    """The first field path in `expr` that stops at a null or missing value of `pred`: what made a
    comparison fail, named (CEL's own message speaks of operand types, which misleads there)."""
    for path in _PATH.findall(expr):
        node: Any = pred
        walked = []
        for part in path.split("."):
            walked.append(part)
            if not isinstance(node, dict):
                break
            node = node.get(part)
            if node is None:
                return ".".join(walked)
    return None
