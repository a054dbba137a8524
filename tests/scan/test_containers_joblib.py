"""joblib files read as joblib.load reads them.

- NDArrayWrapper (joblib < 0.10) makes joblib.load call numpy.load(<path from the pickle>,
  allow_pickle=True): the referenced file is resolved like joblib does and analysed like numpy.load
  reads it — in folders a folder scan skips, and the pickle itself re-read as a plain pickle.
- NumpyArrayWrapper: the array's byte length is computed as NumPy computes it, so the scanner
  resumes the stream exactly where the loader does.

The wrapper objects are joblib's own classes pickled by `pickle`; nothing is ever loaded here.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from joblib.numpy_pickle import NumpyArrayWrapper
from joblib.numpy_pickle_compat import NDArrayWrapper, ZNDArrayWrapper

from modelwarden.model import Severity
from modelwarden.scan import scan_paths
from modelwarden.scan.numpy_files import joblib_dtype_layout, joblib_element_count
from tests.scan.corpus import _Reduce

EVIL = pickle.dumps(_Reduce(os.system, "true"), protocol=4)


def _body(obj: object) -> bytes:
    """A protocol-2 pickle of obj without its PROTO header and STOP: pushes obj on the stack."""
    data = pickle.dumps(obj, protocol=2)
    assert data[:2] == b"\x80\x02" and data[-1:] == b"."
    return data[2:-1]


def _stream(*parts: bytes) -> bytes:
    return b"\x80\x02" + b"".join(parts) + b"N."  # each part leaves nothing behind; end with None


POP = b"0"
# Protocol-0 opcodes that call os.system('true') and pop the result: stack-neutral when spliced in.
PAYLOAD = pickle.dumps(_Reduce(os.system, "true"), protocol=0)[:-1] + POP


def _findings(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in scan_paths([path], hash_files=False).findings:
        out.setdefault(f.rule_id, []).append(f.location.entry or "")
    return out


def test_ndarraywrapper_into_a_skipped_folder_is_followed(tmp_path: Path) -> None:
    hidden = tmp_path / ".ipynb_checkpoints"
    hidden.mkdir()
    (hidden / "arr.npy").write_bytes(EVIL)  # numpy.load(allow_pickle=True) unpickles a non-.npy file
    (tmp_path / "model.pkl").write_bytes(
        _stream(_body(NDArrayWrapper(".ipynb_checkpoints/arr.npy", np.ndarray)), POP)
    )
    found = _findings(tmp_path)  # a folder scan: .ipynb_checkpoints/ is skipped as a folder
    assert "joblib.array-file" in found
    assert any("file loaded by NDArrayWrapper: .ipynb_checkpoints/arr.npy" in e
               for e in found["pickle.dangerous-import"])  # fmt: skip


def test_ndarraywrapper_pointing_at_its_own_file_rereads_it_as_a_plain_pickle(tmp_path: Path) -> None:
    # joblib's reader skips the NumpyArrayWrapper's n raw bytes; numpy.load of the same file hands it
    # to plain pickle.load, which runs those bytes as opcodes.
    raw = _body(NumpyArrayWrapper(np.ndarray, (len(PAYLOAD),), "C", np.dtype("u1"),
                                  numpy_array_alignment_bytes=None))  # fmt: skip
    path = tmp_path / "model.joblib"
    path.write_bytes(_stream(_body(NDArrayWrapper("model.joblib", np.ndarray)), POP, raw, PAYLOAD, POP))
    found = _findings(path)
    assert any("file loaded by NDArrayWrapper: model.joblib" in e for e in found["pickle.dangerous-import"])


def test_wrapper_paths_that_leave_the_folder_are_critical(tmp_path: Path) -> None:
    folder = tmp_path / "release"
    folder.mkdir()
    for name, wrapper in {
        "up.pkl": NDArrayWrapper("../outside.npy", np.ndarray),
        "abs.pkl": NDArrayWrapper("/etc/hostname", np.ndarray),
        "win.pkl": NDArrayWrapper("..\\..\\secret.npy", np.ndarray),  # a path on a Windows loader
        "z.pkl": ZNDArrayWrapper("../../data.z", (np.ndarray, (0,), b"b"), (1, (2,), np.dtype("f8"), False)),
    }.items():
        path = folder / name
        path.write_bytes(_stream(_body(wrapper), POP))
        report = scan_paths([path], hash_files=False)
        escape = [f for f in report.findings if f.rule_id == "joblib.file-escape"]
        assert escape and escape[0].severity is Severity.CRITICAL, name


def test_missing_referenced_file_is_unverified(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(_stream(_body(NDArrayWrapper("model_01.npy", np.ndarray)), POP))
    report = scan_paths([path], hash_files=False)
    assert {f.rule_id: f.severity for f in report.findings}["joblib.file-unverified"] is Severity.HIGH


def test_wrapper_that_names_itself_many_times_is_analysed_once(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    wrapper = _body(NDArrayWrapper("model.pkl", np.ndarray))
    path.write_bytes(_stream(*(wrapper + POP for _ in range(500))))
    report = scan_paths([path], hash_files=False)
    assert sum(f.rule_id == "joblib.array-file" for f in report.findings) == 1


def _patch_elsize(raw: bytes, elsize: int) -> bytes:
    """A pickle holding numpy's own pickle of a dtype, with the dtype's BUILD state elsize (the 6th
    item, written as BININT -1 just before the alignment's -1) replaced."""
    minus_one = b"J\xff\xff\xff\xff"
    at = raw.index(minus_one + minus_one)
    assert raw.count(minus_one + minus_one) == 1
    return raw[:at] + b"J" + elsize.to_bytes(4, "little", signed=True) + raw[at + 5 :]


def test_fixed_size_dtype_ignores_the_states_elsize(tmp_path: Path) -> None:
    # dtype('f8') whose state claims 1-byte elements: NumPy keeps 8. The scanner used to take 1 and
    # resume inside the array's bytes, where harmless opcodes ended the stream before the payload.
    n = 16
    wrapper = _body(
        NumpyArrayWrapper(np.ndarray, (n,), "C", np.dtype("f8"), numpy_array_alignment_bytes=None)
    )
    wrapper = _patch_elsize(wrapper, 1)
    decoy = POP + b"N."  # what a reader that takes 1-byte elements runs into
    data = decoy + bytes(8 * n - len(decoy))
    path = tmp_path / "model.joblib"
    path.write_bytes(_stream(wrapper, data, POP, PAYLOAD))
    assert "pickle.dangerous-import" in _findings(path)


@pytest.mark.parametrize(
    "code", ["f8", "f4", "<f2", "i8", "u1", "b1", "?", "c16", "O8", "e", "d", "V16", "S4", "U5", "M8", "m8"]
)
def test_dtype_layout_matches_numpy(code: str) -> None:
    from modelwarden.artifacts import pickle_vm as vm

    dtype = np.dtype(code)
    trace = vm.walk(pickle.dumps(dtype, protocol=2))
    layout = joblib_dtype_layout(trace.result)
    assert layout is not None
    assert (layout.has_object, layout.itemsize) == (dtype.hasobject, dtype.itemsize)


def test_element_count_wraps_like_int64() -> None:
    assert joblib_element_count((2**32, 2**32)) == int(np.multiply.reduce([np.int64(2**32)] * 2))
    assert joblib_element_count(()) == 1
    assert joblib_element_count((3, 4)) == 12
    assert joblib_element_count((2**64,)) is None
    assert joblib_element_count((1.5,)) is None


def test_object_array_pickle_is_read_by_a_plain_unpickler(tmp_path: Path) -> None:
    # joblib hands an object array's bytes to pickle.load: a NumpyArrayWrapper inside that nested
    # pickle is an ordinary object, so bytes after it are opcodes (the scanner used to skip them).
    inner_wrapper = _body(NumpyArrayWrapper(np.ndarray, (len(PAYLOAD),), "C", np.dtype("u1"),
                                            numpy_array_alignment_bytes=None))  # fmt: skip
    inner = _stream(inner_wrapper, PAYLOAD, POP)
    outer = _body(NumpyArrayWrapper(np.ndarray, (1,), "C", np.dtype("O"), numpy_array_alignment_bytes=None))
    path = tmp_path / "model.joblib"
    path.write_bytes(_stream(outer, inner, POP))
    assert "pickle.dangerous-import" in _findings(path)


def test_real_joblib_dumps_stay_clean(tmp_path: Path) -> None:
    arrays = {
        "coef": np.arange(12.0).reshape(3, 4),
        "names": np.array(["a", "bb"], dtype=object),
        "u": np.array(["x", "yz"]),
        "rec": np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,))]),
        "big_shape": np.zeros((0, 2**20)),
        "text": np.array(["a", "bb"], dtype=np.dtypes.StringDType()),  # NumPy 2: pickled inline
        "when": np.array(["2024-01-01"], dtype="M8[ns]"),
    }
    for compress in (0, 3):
        path = tmp_path / f"model-{compress}.joblib"
        joblib.dump(arrays, path, compress=compress)
        report = scan_paths([path], hash_files=False)
        # NumPy 2 pickles StringDType through a reducer that the allowlist (scan/data/
        # pickle_policy.yaml, maintained elsewhere) does not list yet; the container reading itself
        # must add nothing.
        policy = "numpy._core._internal._convert_to_stringdtype_kwargs"
        serious = [
            f
            for f in report.findings
            if f.severity.at_least(Severity.MEDIUM)
            and not (f.rule_id == "pickle.unknown-import" and (f.evidence or "").startswith(policy))
        ]
        assert serious == [], compress
    buf = io.BytesIO()
    joblib.dump({"w": np.ones(5)}, buf)
    assert buf.getvalue()


def _decoyed(wrapper: bytes, n: int, itemsize: int = 1) -> bytes:
    """Array bytes that end the stream for a reader that does not skip them, then the payload."""
    decoy = POP + b"N."
    return wrapper + decoy + bytes(n * itemsize - len(decoy)) + PAYLOAD


@pytest.mark.parametrize("protocol", [0, 1])
def test_wrapper_built_through_copyreg_is_still_an_array_wrapper(tmp_path: Path, protocol: int) -> None:
    # Protocols 0 and 1 rebuild the object with copyreg._reconstructor; joblib's load_build checks
    # isinstance, so it reads the array bytes all the same.
    n = 64
    wrapper = pickle.dumps(
        NumpyArrayWrapper(np.ndarray, (n,), "C", np.dtype("u1"), numpy_array_alignment_bytes=None),
        protocol=protocol,
    )[:-1]
    assert b"copy_reg\n_reconstructor" in wrapper
    path = tmp_path / "model.joblib"
    path.write_bytes(_decoyed(wrapper, n) + b"N.")
    assert "pickle.dangerous-import" in _findings(path)


def test_wrapper_built_by_its_constructor_reads_alignment_padding(tmp_path: Path) -> None:
    # REDUCE of the class runs __init__, whose default numpy_array_alignment_bytes=16 makes joblib
    # read a padding-length byte and the padding before the array.
    n = 32
    cls = b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n"
    args = b"(cnumpy\nndarray\n(I" + str(n).encode() + b"\ntVC\n" + _body(np.dtype("u1")) + b"tR}b"
    padding = bytes([3]) + b"\xff" * 3
    path = tmp_path / "model.joblib"
    path.write_bytes(
        b"\x80\x02" + cls + args + padding + _decoyed(b"", n)[: -len(PAYLOAD)] + POP + PAYLOAD + b"N."
    )
    assert "pickle.dangerous-import" in _findings(path)


def test_array_wrapper_past_the_first_4_kib_is_read_as_joblib_reads_it(tmp_path: Path) -> None:
    # Detection looks for joblib's module name in the first 4 KiB; joblib.load reads any pickle.
    n = 64
    wrapper = _body(
        NumpyArrayWrapper(np.ndarray, (n,), "C", np.dtype("u1"), numpy_array_alignment_bytes=None)
    )
    path = tmp_path / "model.pkl"
    path.write_bytes(_stream(_body("x" * 5000), POP, _decoyed(wrapper, n)))
    assert "pickle.dangerous-import" in _findings(path)
