"""Minimised samples that a real loader runs and that the scanner before the issue-15 fixes PASSes
(at `--fail-on high`). One per distinct bypass, named after issue 15's class numbering. Every payload
is harmless (`true`, `len('x')`) and, in the sandbox, stopped at its first dangerous step anyway.

tests/scan/test_oracle.py checks that each sample really makes its loader do something dangerous
(must pass now) and that the scan does not PASS it (expected to fail until the scanner fixes land).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.scan.oracle import containers as c
from tests.scan.oracle.pickles import SKLEARN, Program


@dataclass(frozen=True)
class KnownBypass:
    """One minimised bypass."""

    name: str
    """Stable id."""
    issue_class: int
    """The class in issue 15's list (1-10)."""
    note: str
    """What the loader does that the scanner does not see."""
    build: Callable[[], c.Built]
    """Writes the sample."""


def _program(proto: int, body: Callable[[Program], None]) -> bytes:
    p = Program(proto=proto)
    body(p)
    return p.to_bytes()


def _system_call(p: Program) -> None:
    p.global_("os", "system", stack=False)
    p.tuple_([lambda: p.string("true")])
    p.reduce()


def _system_pickle() -> bytes:
    return _program(2, _system_call)


def _setstate_unpickles() -> c.Built:
    # NEWOBJ + BUILD: __setstate__ calls pickle.loads on the state's bytes.
    inner = _system_pickle()

    def body(p: Program) -> None:
        p.global_("torch.utils.data.dataloader", "_IterDataPipeSerializationWrapper", stack=False)
        p.tuple_([])
        p.newobj()
        p.tuple_([lambda: p.raw_bytes(inner), lambda: p.boolean(False)])
        p.build()

    return c.torch_zip(_program(3, body))


def _py2_eval_then_proto4() -> c.Built:
    # The unpickler maps __builtin__ -> builtins with the protocol in force at GLOBAL (2 here).
    def body(p: Program) -> None:
        p.ops.append(b"c__builtin__\neval\n")
        p.tuple_([lambda: p.string("len('x')")])
        p.reduce()
        p.ops.append(b"\x80\x04")

    return c.raw_pickle(_program(2, body))


def _huge_int_in_arguments() -> c.Built:
    # An int of more than 4,300 digits among a critical call's arguments.
    big = 10**4400

    def body(p: Program) -> None:
        p.global_("builtins", "exec", stack=False)
        p.tuple_(
            [lambda: p.string("len('x')"), lambda: p.dict_([(lambda: p.string("n"), lambda: p.integer(big))])]
        )
        p.reduce()

    return c.raw_pickle(_program(2, body))


def _too_complex() -> c.Built:
    # Millions of no-op opcodes (NONE, POP) before the call: the walker gives up, rated medium.
    def body(p: Program) -> None:
        p.ops.append(b"N0" * 2_500_000)
        _system_call(p)

    return c.raw_pickle(_program(2, body))


def _protocol0_broken_after_call() -> c.Built:
    # A text-looking protocol-0 pickle that runs its call and then breaks (no STOP).
    return c.raw_pickle(b"cos\nsystem\n(Vtrue\ntR" + b"this is not a pickle any more\n")


def _headerless_stack_global() -> c.Built:
    # No PROTO header: the file starts with STACK_GLOBAL's operands.
    return c.raw_pickle(b"\x8c\x02os\x8c\x06system\x93\x8c\x04true\x85R.")


def _code_exec_module(module: str, name: str, args: list[str]) -> Callable[[], c.Built]:
    def build() -> c.Built:
        def body(p: Program) -> None:
            p.global_(module, name, stack=False)
            p.tuple_([(lambda a=a: p.string(a)) for a in args])  # type: ignore[misc]
            p.reduce()

        return c.raw_pickle(_program(2, body))

    return build


def _npy_descr(descr: str) -> Callable[[], c.Built]:
    return lambda: c.npy(_system_pickle(), descr)


def _ndarray_wrapper_skipped_folder() -> c.Built:
    return c.joblib_ndarray_wrapper(_system_pickle(), ".ipynb_checkpoints/arr.npy")


def _legacy_tar_after_storage() -> c.Built:
    # `storages`: a count, one storage header, its raw bytes — then torch.load unpickles what follows.
    return c.torch_legacy_tar(_system_pickle(), "after-storage")


def _transformers_rotate_checkpoints() -> c.Built:
    # `transformers.trainer_utils.*` was a wildcard (training) tier; rotate_checkpoints deletes the
    # folders "<prefix>-<n>" of any directory, the prefix chosen by the caller.
    def body(p: Program) -> None:
        p.global_("transformers.trainer_utils", "rotate_checkpoints", stack=False)
        args = (
            lambda: p.string("."),
            lambda: p.integer(1),
            p.none,
            lambda: p.boolean(False),
            lambda: p.string("run"),
        )
        p.tuple_(list(args))
        p.reduce()

    program = _program(2, body)
    return c.Built(
        {"model.pkl": program, "run-1/notes.txt": b"x", "run-2/notes.txt": b"y"}, "model.pkl", ("pickle",)
    )


def _sklearn_reexport() -> c.Built:
    # sklearn.utils._testing.check_output *is* subprocess.check_output; `sklearn.*` was a wildcard tier.
    def body(p: Program) -> None:
        p.global_("sklearn.utils._testing", "check_output", stack=True)
        p.tuple_([lambda: p.list_([lambda: p.string("true")])])
        p.reduce()

    return c.raw_pickle(_program(4, body))


KNOWN_BYPASSES: tuple[KnownBypass, ...] = (
    KnownBypass(
        "transformers-rotate-checkpoints",
        1,
        "transformers.trainer_utils.rotate_checkpoints (training tier, low) deletes folders it is pointed at",
        _transformers_rotate_checkpoints,
    ),
    KnownBypass(
        "setstate-unpickles-state",
        2,
        "_IterDataPipeSerializationWrapper.__setstate__ runs pickle.loads on its BUILD state",
        _setstate_unpickles,
    ),
    KnownBypass("npy-descr-object", 3, "descr 'object' is an object dtype to numpy", _npy_descr("'object'")),
    KnownBypass(
        "npy-descr-structured", 3, "a structured field typed 'object'", _npy_descr("[('a', 'object')]")
    ),
    KnownBypass(
        "npz-zip64-not-adjacent",
        4,
        "a zip64 locator (in the last entry's comment) names a benign archive; numpy's zipfile ignores it",
        lambda: c.npz_zip64_elsewhere(_system_pickle()),
    ),
    KnownBypass(
        "joblib-ndarray-skipped-folder",
        5,
        "NDArrayWrapper makes joblib.load np.load a file in .ipynb_checkpoints/, which a folder scan skips",
        _ndarray_wrapper_skipped_folder,
    ),
    KnownBypass(
        "legacy-tar-after-storage",
        6,
        "torch.load unpickles the bytes after a storage's raw data in a legacy tar's `storages`",
        _legacy_tar_after_storage,
    ),
    KnownBypass(
        "py2-eval-proto-switch", 7, "PROTO 2 GLOBAL __builtin__ eval ... PROTO 4", _py2_eval_then_proto4
    ),
    KnownBypass("huge-int-evidence", 8, "a 4,400-digit int in exec's arguments", _huge_int_in_arguments),
    KnownBypass("too-complex", 9, "5 M no-op opcodes, then os.system", _too_complex),
    KnownBypass(
        "protocol0-broken", 10, "protocol-0 call, then bytes that are no pickle", _protocol0_broken_after_call
    ),
    KnownBypass(
        "headerless-stack-global", 10, "no PROTO; STACK_GLOBAL operands at offset 0", _headerless_stack_global
    ),
    KnownBypass(
        "torch-collect-env",
        10,
        "torch.utils.collect_env.run runs a command",
        _code_exec_module("torch.utils.collect_env", "run", ["true"]),
    ),
    KnownBypass(
        "idlelib-import",
        10,
        "importing idlelib runs its code",
        _code_exec_module("idlelib.calltip", "get_entity", ["len"]),
    ),
    KnownBypass(
        "lib2to3-import",
        10,
        "importing lib2to3 runs its code",
        _code_exec_module("lib2to3.pgen2.driver", "Driver", ["x"]),
    ),
    KnownBypass(
        "osx-support-import",
        10,
        "_osx_support._read_output runs a shell command",
        _code_exec_module("_osx_support", "_read_output", ["true"]),
    ),
    KnownBypass(
        "logging-filehandler",
        10,
        "logging.FileHandler opens a file for writing",
        _code_exec_module("logging", "FileHandler", ["pwned.log"]),
    ),
)

# Needs scikit-learn installed (the loader must find the module to run it).
SKLEARN_BYPASSES = (
    KnownBypass(
        "sklearn-check-output",
        1,
        "sklearn.utils._testing.check_output is subprocess.check_output under the old `sklearn.*` tier",
        _sklearn_reexport,
    ),
)
if SKLEARN:
    KNOWN_BYPASSES = SKLEARN_BYPASSES + KNOWN_BYPASSES
