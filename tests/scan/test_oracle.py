"""The loader oracle (docs/scan.md, "The loader oracle"): real loaders in a sandboxed child process
decide what is dangerous, and the scan must not PASS anything they would run.

Nothing is loaded in this process: every load goes to tests/support/sandbox.py's forked workers.
The sandbox is tested first (a payload is recorded and stopped; benign files of the real libraries
load without events), then the bounded random budget, then the known bypasses.
"""

from __future__ import annotations

import json
import pickle
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelwarden.scan import scan_paths
from tests.scan.oracle import cases as oracle_cases
from tests.scan.oracle.cases import ENABLED_FEATURES, Case, generate_cases
from tests.scan.oracle.containers import Built
from tests.scan.oracle.known_bypasses import KNOWN_BYPASSES
from tests.scan.oracle.oracle import ORACLE_FAIL_ON, Outcome, Tally, run_case, write_case
from tests.scan.oracle.pickles import Program
from tests.support.cli import run_cli
from tests.support.sandbox import LoadResult, Sandbox

# The bounded budget of `make test`: fixed seed, ~150 cases (the long run is benchmarks/scan_oracle.py).
SEED = 20261205
BUDGET = 150
# Keras takes ~15 s to import in the sandbox; the budget leaves its container to the long run (Keras
# itself is checked by test_keras_loads_in_the_sandbox).
BUDGET_FEATURES = ENABLED_FEATURES - {"keras-torch-wrapper"}

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def _call_pickle(module: str, name: str, *args: object) -> bytes:
    """Protocol-2 pickle of `module.name(*args)`, written opcode by opcode (nothing is imported)."""
    p = Program(proto=2)
    p.global_(module, name, stack=False)

    def push(a: object) -> Callable[[], None]:
        if isinstance(a, str):
            return lambda: p.string(a)
        if isinstance(a, int):
            return lambda: p.integer(a)
        if isinstance(a, tuple):
            return lambda: p.tuple_([push(x) for x in a])
        raise TypeError(a)

    p.tuple_([push(a) for a in args])
    p.reduce()
    return p.to_bytes()


def _load_bytes(
    box: Sandbox, tmp: Path, data: bytes, loader: str = "pickle", timeout: float = 20
) -> LoadResult:
    path = tmp / "sample.pkl"
    path.write_bytes(data)
    return box.load(path, loader=loader, timeout=timeout)


# ---- the sandbox ---------------------------------------------------------------------------------


def test_a_command_is_recorded_and_stopped_before_it_runs(box: Sandbox, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = _load_bytes(box, tmp_path, _call_pickle("os", "system", f"touch {marker}"))
    assert [e.event for e in result.dangerous] == ["os.system"]
    assert str(marker) in result.dangerous[0].detail
    assert "SandboxAbort" in result.error and not result.completed
    assert not marker.exists()


@pytest.mark.parametrize(
    ("call", "event"),
    [
        (("subprocess", "getoutput", "true"), "subprocess.Popen"),
        (("builtins", "eval", "len('x')"), "compile"),
        (("builtins", "__import__", "idlelib"), "import"),
        (("socket", "socket"), "socket.__new__"),
        (("io", "open", "/etc/hostname"), "open"),
    ],
)
def test_each_kind_of_dangerous_event_is_recorded(
    box: Sandbox, tmp_path: Path, call: tuple[str, ...], event: str
) -> None:
    result = _load_bytes(box, tmp_path, _call_pickle(*call))
    assert [e.event for e in result.dangerous] == [event], result


def test_files_outside_the_sandbox_are_neither_written_nor_removed(box: Sandbox, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    removed = _load_bytes(box, tmp_path, _call_pickle("os", "remove", str(victim)))
    written = _load_bytes(box, tmp_path, _call_pickle("io", "open", str(victim), "w"))
    assert [e.reason for e in removed.dangerous] == ["file deletion"]
    assert [e.reason for e in written.dangerous] == ["file write"]
    assert victim.read_text() == "keep"


def test_the_worker_has_no_network(box: Sandbox, tmp_path: Path) -> None:
    result = _load_bytes(box, tmp_path, _call_pickle("socket", "create_connection", ("127.0.0.1", 9)))
    assert result.triggered
    if box.unshared:  # root with unshare(1): the worker also lives in an empty network namespace
        assert box.network_isolated


def test_a_module_attribute_swapped_by_the_load_is_reported(box: Sandbox, tmp_path: Path) -> None:
    # setattr on a module raises no audit event; the worker compares the watched modules afterwards.
    p = Program(proto=2)
    p.global_("builtins", "setattr", stack=False)
    p.tuple_(
        [
            lambda: p.global_("torch.utils.data.dataloader", "os", stack=False),
            lambda: p.string("getcwd"),
            lambda: p.global_("builtins", "len", stack=False),
        ]
    )
    p.reduce()
    result = _load_bytes(box, tmp_path, p.to_bytes())
    assert [(e.event, e.detail) for e in result.dangerous] == [("module.tampering", "os.getcwd")]


def test_a_module_run_by_hand_through_importlib_is_code_execution(box: Sandbox, tmp_path: Path) -> None:
    # spec_from_file_location + exec_module runs a .py shipped with the model without an import event.
    (tmp_path / "helper.py").write_text("import os\nos.getpid()\n")
    p = Program(proto=2)

    def spec() -> None:
        p.global_("importlib.util", "spec_from_file_location", stack=False)
        p.tuple_([lambda: p.string("helper"), lambda: p.string("helper.py")])
        p.reduce()

    def getattr_(obj: Callable[[], None], attr: str) -> None:
        p.global_("builtins", "getattr", stack=False)
        p.tuple_([obj, lambda: p.string(attr)])
        p.reduce()

    spec()
    index = p.memoize()
    getattr_(lambda: getattr_(lambda: p.get(index), "loader"), "exec_module")  # spec.loader.exec_module
    p.mark()
    p.global_("importlib.util", "module_from_spec", stack=False)
    p.tuple_([lambda: p.get(index)])
    p.reduce()
    p.ops.append(b"t")
    p.reduce()
    (tmp_path / "model.pkl").write_bytes(p.to_bytes())
    result = box.load(tmp_path, "model.pkl", "pickle")
    assert [e.reason for e in result.dangerous] == ["code execution through the import machinery"], result


def test_a_load_that_hangs_is_killed_at_the_timeout(box: Sandbox, tmp_path: Path) -> None:
    result = _load_bytes(box, tmp_path, _call_pickle("time", "sleep", 60), timeout=2)
    assert result.timed_out and not result.completed and result.seconds < 10


def test_memory_is_limited(box: Sandbox, tmp_path: Path) -> None:
    result = _load_bytes(box, tmp_path, _call_pickle("builtins", "bytearray", 8 << 30))
    assert result.error.startswith("MemoryError") and not result.triggered


def test_a_payload_that_exits_the_worker_is_not_a_completed_load(box: Sandbox, tmp_path: Path) -> None:
    # os._exit raises no audit event: the load ends without a report, which is not a completed load.
    result = _load_bytes(box, tmp_path, _call_pickle("os", "_exit", 0))
    assert not result.completed and result.exit_status is not None


def test_benign_files_of_the_real_libraries_load_without_dangerous_events(
    box: Sandbox, tmp_path: Path
) -> None:
    import collections

    import joblib
    import numpy as np
    import torch

    made: list[tuple[Path, str]] = []
    sd = collections.OrderedDict(w=torch.ones(2, 3), b=torch.zeros(2, dtype=torch.bfloat16))
    torch.save(sd, tmp_path / "sd.pt")
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()), tmp_path / "module.pt")
    torch.save(sd, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    made += [
        (tmp_path / "sd.pt", "torch"),
        (tmp_path / "module.pt", "torch"),
        (tmp_path / "legacy.pt", "torch"),
    ]
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, "x", None], dtype=object))
    np.savez_compressed(tmp_path / "arrays.npz", a=np.ones(3), o=np.array([1, "x"], dtype=object))
    made += [(tmp_path / "obj.npy", "numpy"), (tmp_path / "arrays.npz", "numpy")]
    for compress in (0, 3, ("lzma", 3)):
        target = tmp_path / f"m{len(made)}.joblib"
        joblib.dump({"w": np.arange(5.0), "o": np.array([None], dtype=object)}, target, compress=compress)
        made.append((target, "joblib"))
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"a": np.arange(3), "b": collections.Counter("ab")}, 4))
    made.append((tmp_path / "plain.pkl", "pickle"))
    for path, loader in made:
        result = box.load(path, loader=loader)
        assert result.completed and not result.dangerous, (path.name, result)
        assert any(e.event == "pickle.find_class" for e in result.events)


def test_keras_loads_in_the_sandbox(box: Sandbox, tmp_path: Path) -> None:
    from tests.scan import corpus

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = corpus._keras_dense(tmp_path / "dense.keras")
        lam = corpus._keras_lambda(tmp_path / "lambda.keras")
    benign = box.load(dense, loader="keras", timeout=120)
    assert benign.completed and not benign.dangerous, benign
    # safe_mode=False: the Lambda layer's pickled bytecode becomes a code object.
    malicious = box.load(lam, loader="keras", timeout=120)
    assert {e.event for e in malicious.dangerous} & {"marshal.loads", "code.__new__", "function.__new__"}


# ---- the oracle: a bounded random budget --------------------------------------------------------


def test_generation_is_deterministic() -> None:
    first = [(c.name, c.built.files) for c in generate_cases(SEED, 20)]
    second = [(c.name, c.built.files) for c in generate_cases(SEED, 20)]
    assert first == second


def test_no_sample_that_a_loader_runs_passes_the_scan(box: Sandbox, tmp_path: Path) -> None:
    tally = Tally()
    for case in generate_cases(SEED, BUDGET, BUDGET_FEATURES):
        tally.add(run_case(box, case, tmp_path))
    assert sum(tally.cases.values()) == BUDGET
    # The budget exercises the property: most containers are drawn, and loaders really do run payloads
    # (each of them blocked and recorded) in a good share of the cases.
    assert len(tally.cases) >= 12, tally.cases
    assert sum(tally.triggered.values()) >= BUDGET // 4, tally.triggered
    assert not tally.examples, "\n".join(tally.examples)


def test_the_command_line_gives_the_library_verdict_the_oracle_uses(tmp_path: Path) -> None:
    # The oracle scans with scan_paths in process (fast); a user runs the command. Same verdict, on
    # the first generated case the library passes and the first it fails.
    seen: dict[bool, Path] = {}
    for case in generate_cases(SEED, 40, ENABLED_FEATURES):
        folder = write_case(case, tmp_path)
        report = scan_paths([folder], hash_files=False)
        passed = not report.at_or_above(ORACLE_FAIL_ON) and not report.problems
        seen.setdefault(passed, folder)
    assert set(seen) == {True, False}
    for passed, folder in seen.items():
        run = run_cli("scan", folder, "--format", "json", "--no-hash", "--fail-on", ORACLE_FAIL_ON.value)
        assert run.returncode == (0 if passed else 1), (folder.name, run.stderr)
        assert json.loads(run.stdout)["summary"]["failed"] is not passed


def test_every_disabled_feature_is_a_real_feature_with_a_known_bypass_of_its_class() -> None:
    # What the bounded budget leaves out must be kept as a minimised bypass (FULL_GRAMMAR flips it back).
    classes = {kb.issue_class for kb in KNOWN_BYPASSES}
    for feature, why in oracle_cases.NEEDS_FIXED_SCANNER.items():
        assert feature in oracle_cases.ALL_FEATURES, feature
        assert int(why.split(":")[0]) in classes, feature
    if not oracle_cases.FULL_GRAMMAR:
        assert not ENABLED_FEATURES & oracle_cases.NEEDS_FIXED_SCANNER.keys()


# ---- the known bypasses of the old scanner ------------------------------------------------------


@pytest.fixture(scope="module")
def known_outcomes(box: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    root = tmp_path_factory.mktemp("known-bypasses")
    out = {}
    for kb in KNOWN_BYPASSES:
        built: Built = kb.build()
        out[kb.name] = run_case(box, Case(kb.name, "known", built, frozenset()), root)
    shutil.rmtree(root, ignore_errors=True)
    return out


def test_every_known_bypass_makes_its_loader_do_something_dangerous(
    known_outcomes: dict[str, Outcome],
) -> None:
    harmless = [name for name, o in known_outcomes.items() if not o.triggered]
    assert not harmless
    assert len({kb.issue_class for kb in KNOWN_BYPASSES}) >= 8


def test_no_known_bypass_passes_the_scan(known_outcomes: dict[str, Outcome]) -> None:
    passed = [o.describe() for o in known_outcomes.values() if o.disagreement]
    assert not passed, "\n".join(passed)
