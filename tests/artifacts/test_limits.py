"""One table of caps (`modelwarden.limits`) for the zip family, pickles, NumPy, Keras and folders.

Inspect and scan used to disagree on about sixty caps (20M pickle opcodes against 5M; 100k folder
files against 200k), so a file could be described by one stage and refused by the other. These tests
keep the readers of this area from growing their own numbers again, and show that the same file is
cut at the same number by both stages.
"""

from __future__ import annotations

import ast
import dataclasses
import pickle
import re
import zipfile
from pathlib import Path

import pytest

import modelwarden
from modelwarden import limits
from modelwarden.artifacts.reader import read_artifact
from modelwarden.scan import scan_paths
from modelwarden.scan.context import DEFAULT_LIMITS, Limits

SRC = Path(modelwarden.__file__).parent
# The readers of the zip family, pickles, NumPy, Keras and folders (and the stage plumbing that hands
# them their caps). None of them may pick a cap of its own.
AREA = [
    "artifacts/zip.py",
    "artifacts/source.py",
    "artifacts/detect.py",
    "artifacts/torch.py",
    "artifacts/keras.py",
    "artifacts/numpy.py",
    "artifacts/npy.py",
    "artifacts/hdf5.py",
    "artifacts/pickle_vm.py",
    "artifacts/tensors.py",
    "artifacts/problems.py",
    "artifacts/reader.py",
    "scan/zips.py",
    "scan/torch_tar.py",
    "scan/pickles.py",
    "scan/keras_files.py",
    "scan/numpy_files.py",
    "scan/context.py",
    "scan/folders.py",
    "scan/engine.py",
    "release.py",
    "facts/licence_text.py",
]
# Caps of other owners still defined in a module of this area: the header-format owner moves the
# safetensors header cap into its section of limits.py (detect.py imports it from problems.py).
_OWNED_ELSEWHERE = {"artifacts/problems.py": {"SAFETENSORS_MAX_HEADER"}}
# A cap's name: MAX_X, X_MAX, X_MAX_Y, _MAX_X (constants) or max_x (a Limits field).
_CAP_NAME = re.compile(r"^_?(?:[A-Z0-9_]*_)?MAX(?:_[A-Z0-9_]*)?$|^_?[A-Z0-9_]+_CAP$|^max_[a-z0-9_]+$")
# Literals that are part of a format, not a cap: zip's "look in the zip64 record" sentinels and
# pickle's EXT code widths.
_FORMAT_SENTINELS = {0xFFFF, 0xFFFFFFFF, 0x10000}
# A number this large in a comparison is a size bound whatever the name around it.
_INLINE_CAP_FLOOR = 10_000


def _numbers(node: ast.AST) -> list[int | float]:
    return [
        n.value
        for n in ast.walk(node)
        if isinstance(n, ast.Constant) and isinstance(n.value, int | float) and not isinstance(n.value, bool)
    ]


def cap_definitions(source: str) -> list[str]:
    """Where a module picks a cap itself: a cap-named assignment (module or class level) whose value
    holds a number, or a comparison against a large number literal."""
    tree = ast.parse(source)
    found: list[str] = []
    scopes: list[list[ast.stmt]] = [tree.body] + [n.body for n in tree.body if isinstance(n, ast.ClassDef)]
    for body in scopes:
        for stmt in body:
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            for t in targets:
                if (
                    isinstance(t, ast.Name)
                    and _CAP_NAME.match(t.id)
                    and value is not None
                    and _numbers(value)
                ):
                    found.append(f"{t.id} (line {stmt.lineno})")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
            for arg, default in pairs:
                if _CAP_NAME.match(arg.arg) and _numbers(default):
                    found.append(f"{arg.arg} (line {node.lineno})")
        if isinstance(node, ast.Compare):
            for n in _numbers(node):
                if isinstance(n, int) and n >= _INLINE_CAP_FLOOR and n not in _FORMAT_SENTINELS:
                    found.append(f"comparison with {n} (line {node.lineno})")
    return found


def test_the_detector_finds_every_kind_of_cap() -> None:
    # The guard below passes only if the detector sees nothing: it must see these.
    planted = """
MAX_FILES = 200_000
_ZIP_MAX_RATIO = 200
HEADER_CAP = 1 << 20
DEFAULT_MAX_OPS = 20_000_000
class Limits:
    max_pickle_ops: int = 5_000_000
def walk(todo, seen):
    while todo and seen < 1_000_000:
        pass
def iter_nodes(root, *, max_nodes=5_000_000):
    pass
"""
    found = cap_definitions(planted)
    assert [f.split(" ")[0] for f in found] == [
        "MAX_FILES",
        "_ZIP_MAX_RATIO",
        "HEADER_CAP",
        "DEFAULT_MAX_OPS",
        "max_pickle_ops",
        "max_nodes",
        "comparison",
    ]
    # Names taken from the table are not definitions.
    assert (
        cap_definitions("from modelwarden.limits import MAX_PICKLE_OPS\nDEFAULT_MAX_OPS = MAX_PICKLE_OPS\n")
        == []
    )


def test_the_table_is_read_by_the_detector() -> None:
    # The detector works on real code: every cap of this area in limits.py is one it recognises.
    found = cap_definitions((SRC / "limits.py").read_text())
    assert len(found) >= 20


@pytest.mark.parametrize("rel", AREA)
def test_no_reader_of_this_area_picks_its_own_cap(rel: str) -> None:
    path = SRC / rel
    assert path.is_file(), f"{rel} moved: update AREA so the guard keeps covering it"
    allowed = _OWNED_ELSEWHERE.get(rel, set())
    found = [f for f in cap_definitions(path.read_text()) if f.split(" ")[0] not in allowed]
    assert found == [], f"{rel} defines caps; move them to modelwarden/limits.py"


def _section_caps() -> list[str]:
    text = (SRC / "limits.py").read_text()
    start = text.index("# --- containers, pickles, NumPy, Keras, folders")
    end = text.index("# --- safetensors, GGUF, ONNX")
    return re.findall(r"^([A-Z][A-Z0-9_]+) = ", text[start:end], flags=re.M)


def test_every_cap_of_the_section_is_read_somewhere() -> None:
    names = _section_caps()
    assert "MAX_TENSORS" in names and "MAX_PICKLE_OPS" in names and "MAX_FOLDER_FILES" in names
    sources = "\n".join(p.read_text() for p in SRC.rglob("*.py") if p.name != "limits.py")
    unused = [n for n in names if not re.search(rf"\b{n}\b", sources)]
    assert unused == []


def test_scan_limits_default_to_the_table() -> None:
    table = {
        "max_pickle_ops": limits.MAX_PICKLE_OPS,
        "max_pickles_per_stream": limits.MAX_PICKLES_PER_STREAM,
        "max_depth": limits.MAX_NESTING_DEPTH,
        "max_entry_bytes": limits.MAX_ENTRY_BYTES,
        "max_stream_bytes": limits.MAX_STREAM_BYTES,
        "bomb_ratio": limits.ZIP_BOMB_RATIO,
        "bomb_min_bytes": limits.ZIP_BOMB_MIN_BYTES,
        "bomb_scan_bytes": limits.ZIP_BOMB_SCAN_BYTES,
        "max_zip_entries": limits.MAX_ZIP_ENTRIES,
        "max_json_bytes": limits.MAX_JSON_BYTES,
        "max_tensors": limits.MAX_TENSORS,
        "max_template_chars": limits.MAX_TEMPLATE_CHARS,
        "max_findings_per_rule": limits.MAX_FINDINGS_PER_RULE,
    }
    assert {f.name for f in dataclasses.fields(Limits)} == set(table)
    assert {name: getattr(DEFAULT_LIMITS, name) for name in table} == table


def _checkpoint(path: Path, ops: int) -> None:
    """A zip checkpoint whose data.pkl walks `ops` opcodes and a few more (PROTO, the list, APPENDS)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps([0] * ops, protocol=2))
        z.writestr("archive/version", "3\n")


def test_a_pickle_over_the_cap_is_cut_by_both_stages_at_the_same_number(tmp_path: Path) -> None:
    cap = limits.MAX_PICKLE_OPS
    over = tmp_path / "over.pt"
    _checkpoint(over, cap + 1)
    inspected = [p.message for p in read_artifact(over, "over.pt").problems if p.code == "corrupt_pickle"]
    scanned = [
        f.message for f in scan_paths([over], hash_files=False).findings if f.rule_id == "pickle.too-complex"
    ]
    assert inspected == [f"archive/data.pkl: pickle more than {cap} opcodes"]
    assert scanned == [f"analysis stopped: more than {cap} opcodes; the rest of the stream is unverified"]

    under = tmp_path / "under.pt"
    _checkpoint(under, cap * 99 // 100)
    assert not [p for p in read_artifact(under, "under.pt").problems if p.code == "corrupt_pickle"]
    assert not [
        f for f in scan_paths([under], hash_files=False).findings if f.rule_id == "pickle.too-complex"
    ]


def test_a_folder_over_the_file_cap_is_cut_by_both_stages_at_the_same_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writing 100,001 files takes minutes; both walkers read the one constant, lowered here for both.
    from modelwarden import release
    from modelwarden.scan import folders

    monkeypatch.setattr(release, "MAX_FOLDER_FILES", 5)
    monkeypatch.setattr(folders, "MAX_FOLDER_FILES", 5)
    for i in range(7):
        (tmp_path / f"f{i}.txt").write_text("x")
    inspected = release.resolve(tmp_path)
    walked = folders.walk(tmp_path)
    assert len(inspected.files) == len(walked.files) == 5
    assert [p.code for p in inspected.problems] == [p.code for p in walked.problems] == ["too_many_files"]


def test_an_npy_header_over_the_cap_is_refused_by_both_stages_with_the_same_number(tmp_path: Path) -> None:
    import struct

    cap = limits.MAX_NPY_HEADER_BYTES
    path = tmp_path / "long.npy"
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }".ljust(cap + 1, b" ")
    path.write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header + b"\0" * 4)
    expected = f"declared header length {cap + 1} exceeds the {cap} limit"
    problems = read_artifact(path, "long.npy").problems
    assert [(p.code, p.message) for p in problems] == [("invalid_npy_header", f".npy {expected}")]
    findings = scan_paths([path], hash_files=False).findings
    assert [(f.rule_id, f.message) for f in findings] == [("numpy.malformed", expected)]
