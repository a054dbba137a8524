"""A registry writer run as a separate process by the concurrency and crash tests.

    python -m tests.registry.writer URL MODE SEED COUNT

MODE `many`: save COUNT generated assessments (names shared between writers, to contend for the same
model rows) and print each acknowledged id. MODE `stall`: save one assessment but stop inside the
transaction, after its rows are written and before the commit, print `stalled` and wait there to be
killed. MODE `loop`: save until killed, printing each acknowledged id and digest.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from sqlalchemy import event

from modelwarden.registry import Registry
from modelwarden.registry.store import encode_document
from tests.registry.factory import make_assessment

SHARED = [f"shared-org/model-{i}" for i in range(5)]


def main() -> None:
    url, mode, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    registry = Registry(url)
    if mode == "stall":
        _stall_in_transaction(registry)
    n = 0
    while mode == "loop" or n < count:
        name = rng.choice(SHARED) if rng.random() < 0.5 else f"writer-{seed}/model-{n}"
        assessment = make_assessment(rng, name=name, version=f"{seed}.{n}")
        ident = registry.save(assessment)
        print(ident, encode_document(assessment)[1], flush=True)
        n += 1


def _stall_in_transaction(registry: Registry) -> None:
    """Block the connection right after the duties rows go in: the last statement before COMMIT."""

    def after(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO REGISTRY_DUTIES"):
            print("stalled", flush=True)
            time.sleep(600)

    event.listen(registry.engine, "after_cursor_execute", after)
    rng = random.Random(0)
    # Above 1e23 with a licence that is not open: the EU regime has duties, so the duties insert runs.
    while True:
        assessment = make_assessment(rng, name="crash/victim", version="never-committed", as_of=None)
        if assessment.regimes["eu_ai_act"].in_force and assessment.regimes["eu_ai_act"].obligations:
            break
    registry.save(assessment)
    raise SystemExit("the stalled save returned")


if __name__ == "__main__":
    main()
