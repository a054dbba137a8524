"""Many writers in separate processes lose nothing; a writer killed with SIGKILL (kill -9) in the middle
of a save leaves no trace of it and no damage — on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import random
import select as io_select
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from modelwarden.registry import Registry
from modelwarden.registry.models import AssessmentRow, DutyRow, ModelRow
from modelwarden.registry.summary import columns, duties
from tests.registry.factory import corpus

REPO = Path(__file__).resolve().parents[2]


def _spawn(url: str, mode: str, seed: int, count: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.registry.writer", url, mode, str(seed), str(count)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _readline(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = io_select.select([proc.stdout], [], [], timeout)
    assert ready, "the writer printed nothing in time"
    return proc.stdout.readline().strip()


def _acknowledged(output: str) -> dict[int, str]:
    acked: dict[int, str] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():  # a line cut by the kill has no digest
            acked[int(parts[0])] = parts[1]
    return acked


def assert_consistent(reg: Registry) -> None:
    """Every model has exactly one latest assessment (its newest); every row matches its document."""
    with reg.engine.connect() as conn:
        rows = conn.execute(select(AssessmentRow.id, AssessmentRow.model_id, AssessmentRow.is_latest)).all()
        model_ids = set(conn.execute(select(ModelRow.id)).scalars())
        duty_rows = conn.execute(select(DutyRow.assessment_id, DutyRow.regime, DutyRow.obligations)).all()
    by_model: dict[int, list[tuple[int, bool]]] = {}
    for ident, model_id, latest in rows:
        by_model.setdefault(model_id, []).append((ident, latest))
    assert set(by_model) == model_ids, "a model without assessments, or an assessment without its model"
    for entries in by_model.values():
        latest = [i for i, flag in entries if flag]
        assert latest == [max(i for i, _ in entries)]
    stored_duties: dict[int, dict[str, int]] = {}
    for ident, regime, n in duty_rows:
        stored_duties.setdefault(ident, {})[regime] = n
    for stored in reg.iter_stored():
        expected = columns(stored.assessment)
        s = stored.summary
        assert (s.name, s.parameters, s.findings, s.licence) == (
            expected.name,
            expected.parameters,
            expected.findings,
            expected.licence,
        )
        assert stored_duties.get(stored.id, {}) == duties(stored.assessment)


def test_many_writer_processes_lose_nothing(db_url: str) -> None:
    # The database does not exist yet: the writers also race to create the schema.
    writers, per_writer = 4, 15
    procs = [_spawn(db_url, "many", seed, per_writer) for seed in range(writers)]
    acked: dict[int, str] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        got = _acknowledged(out)
        assert len(got) == per_writer
        acked.update(got)
    assert len(acked) == writers * per_writer  # distinct ids for every acknowledged save
    reg = Registry(db_url)
    assert {s.id: s.digest for s in reg.iter_stored()} == acked
    # The shared model names were written by every process; each still has one latest.
    assert reg.models(q="shared-org/").total == 5
    assert_consistent(reg)
    reg.close()


def test_kill_inside_the_transaction_leaves_no_trace(db_url: str) -> None:
    reg = Registry(db_url)
    before = {reg.save(a) for a in corpus(1, 3)}
    proc = _spawn(db_url, "stall", 0)
    try:
        assert _readline(proc) == "stalled"
        # Its rows are written but not committed: readers do not see them, and are not blocked.
        assert reg.count() == 3
        assert reg.models(q="crash/victim").total == 0
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert {s.id for s in reg.list(limit=500).items} == before
    assert reg.models(q="crash/victim").total == 0
    with reg.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DutyRow)).scalar_one() == sum(
            1 for i in before for _ in reg.summary(i).duties
        )
    # The write lock died with the process: the next writer proceeds at once.
    started = time.monotonic()
    reg.save(corpus(2, 1)[0])
    assert time.monotonic() - started < 10
    assert_consistent(reg)
    reg.close()


def test_kill_at_random_moments_loses_no_acknowledged_save(db_url: str) -> None:
    Registry(db_url).close()
    rng = random.Random(42)
    acked: dict[int, str] = {}
    for round_no in range(3):
        proc = _spawn(db_url, "loop", 100 + round_no)
        first = _readline(proc)
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        acked.update(_acknowledged(first + "\n" + out))
    assert acked
    reg = Registry(db_url)
    stored = {s.id: s.digest for s in reg.iter_stored()}
    # Everything acknowledged is there, exactly; a save killed after its commit but before its
    # acknowledgement may be there too, whole.
    assert {i: stored.get(i) for i in acked} == acked
    assert_consistent(reg)
    reg.close()
