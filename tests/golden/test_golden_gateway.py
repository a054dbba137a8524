"""Golden files for the gateway's administration commands: what an operator reads and what scripts parse.

One gateway deployment is created with `modelwarden gateway init` in the golden workspace, then driven
through a fixed sequence of real commands (tiers, identities, keys, incidents, audit verification); each
output is compared with `tests/golden/data/gateway/<step>`. Besides `normalise.py`'s placeholders, what
the gateway draws at random is replaced here, in order of first appearance so that the structure (which id
is which) stays part of the contract: identity ids (`<ID-1>`), key ids (`<KEY-1>`), key secrets, the admin
token, the audit signing key's id and the login name of the operator recorded as the actor.
`MODELWARDEN_UPDATE_GOLDEN=1` regenerates (see test_golden.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.golden.conftest import run
from tests.golden.test_golden import check

# (step name = golden file, command line after `modelwarden`, exit code)
STEPS: list[tuple[str, tuple[str, ...], int]] = [
    ("init.txt", ("gateway", "init", "{dir}"), 0),
    ("tiers-list.txt", ("tiers", "list"), 0),
    ("tiers-list.json", ("tiers", "list", "--json"), 0),
    ("tiers-show.txt", ("tiers", "show", "verified"), 0),
    ("identities-create.json", ("identities", "create", "alice", "--email", "a@example.org", "--json"), 0),
    ("identities-create-duplicate.txt", ("identities", "create", "alice"), 2),
    ("identities-list.txt", ("identities", "list"), 0),
    ("identities-list.json", ("identities", "list", "--json"), 0),
    ("identities-show.txt", ("identities", "show", "alice"), 0),
    ("identities-show-missing.txt", ("identities", "show", "nobody"), 2),
    ("keys-create.txt", ("keys", "create", "alice"), 0),
    ("keys-list.json", ("keys", "list", "--json"), 0),
    ("identities-suspend.txt", ("identities", "suspend", "alice", "--reason", "golden test"), 0),
    ("incidents-open.txt", ("incidents", "open", "alice", "--title", "golden incident"), 0),
    ("incidents-list.txt", ("incidents", "list"), 0),
    ("audit-verify.txt", ("audit", "verify"), 0),
    ("audit-verify.json", ("audit", "verify", "--json"), 0),
]

_RANDOM = [
    ("KEY-SECRET", re.compile(r"\bmw_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")),
    ("ADMIN-TOKEN", re.compile(r"\bmwadm_[A-Za-z0-9_-]{20,}")),
    ("ID", re.compile(r"\bid_[0-9a-f]{12}\b")),
    ("KEY", re.compile(r"\bmw_[0-9a-f]{12}\b")),
    ("INCIDENT", re.compile(r"\binc_[0-9a-f]{8,}\b")),
    ("SIGNING-KEY-ID", re.compile(r"(?<=key id )[0-9a-f]{16}\b")),
    ("USER", re.compile(r"(?<=\bcli:)[\w.-]+")),  # the operator's login name, recorded as the actor
]


class Placeholders:
    """Random values → numbered placeholders, stable across the steps of one run."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}
        self.count: dict[str, int] = {}

    def __call__(self, text: str) -> str:
        for label, pattern in _RANDOM:
            text = pattern.sub(lambda m, label=label: self._name(label, m.group(0)), text)
        return text

    def _name(self, label: str, value: str) -> str:
        if value not in self.seen:
            self.count[label] = self.count.get(label, 0) + 1
            self.seen[value] = f"<{label}-{self.count[label]}>"
        return self.seen[value]


def test_gateway_admin_outputs_match_their_golden_files(workspace: Path) -> None:
    deployment = workspace / "gateway"
    assert not deployment.exists(), "the gateway steps run once per golden workspace"
    placeholders = Placeholders()
    config = ("--config", str(deployment / "gateway.yaml"))
    for name, args, code in STEPS:
        argv = [a.format(dir=deployment) for a in args]
        if args[:2] != ("gateway", "init"):
            argv += list(config)
        done = run(workspace, *argv)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == code, f"{name}: {done.stderr}"
        check(f"gateway/{name}", placeholders(done.stdout + done.stderr), workspace)


def test_placeholders_keep_which_id_is_which() -> None:
    p = Placeholders()
    out = p("id_0123456789ab then id_ba9876543210 then id_0123456789ab, key mw_0123456789ab_" + "x" * 43)
    assert out == "<ID-1> then <ID-2> then <ID-1>, key <KEY-SECRET-1>"
    assert p("mw_0123456789ab by cli:root") == "<KEY-1> by cli:<USER-1>"
