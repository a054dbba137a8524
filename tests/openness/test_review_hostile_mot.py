"""Adversarial review of issue 17: a MOT model file with hostile content (huge, deeply nested, an alias
bomb, unhashable keys, bad encoding, wrong types) is a clear error naming the file, never a report of
an empty release with exit 0, a traceback or unbounded memory."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.cli import run_cli

from modelwarden.errors import ManifestError
from modelwarden.openness import mot

HEAD = "framework: {name: Model Openness Framework, version: '1.0'}\nrelease:\n  name: X\n"
COMPONENT = "  components:\n    - name: Model parameters (Final)\n      description: %s\n"


def _deep(levels: int) -> str:
    return "[" * levels + "x" + "]" * levels


def _laughs() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


HOSTILE: dict[str, tuple[bytes, str]] = {
    "deep": ((HEAD + COMPONENT % _deep(200)).encode(), "nested"),
    "huge": ((HEAD + COMPONENT % ("a" * 1_500_000)).encode(), "larger than"),
    "alias-bomb": ((HEAD + "  components: []\n" + _laughs()).encode(), "alias"),
    "unhashable-key": ((HEAD + "  license: {? [a, b] : MIT}\n  components: []\n").encode(), "YAML"),
    "not-utf8": (HEAD.encode().replace(b"name: X", b"name: \xff\xfe") + b"  components: []\n", "UTF-8"),
    "syntax": ((HEAD + "  components: [\n").encode(), "YAML"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_mot_file_is_an_error_naming_the_file(tmp_path: Path, case: str) -> None:
    content, problem = HOSTILE[case]
    path = tmp_path / f"{case}.yml"
    path.write_bytes(content)
    with pytest.raises(ManifestError) as exc:
        mot.read(path)
    assert f"{case}.yml" in str(exc.value) and problem.lower() in str(exc.value).lower()


@pytest.mark.parametrize("case", ["deep", "huge", "alias-bomb"])
def test_the_cli_exits_two_on_a_hostile_mot_file(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.yml"
    path.write_bytes(HOSTILE[case][0])
    done = run_cli("openness", path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"{case}.yml" in done.stderr


def test_binary_or_unrelated_files_are_still_left_to_the_model_readers(tmp_path: Path) -> None:
    binary = tmp_path / "weights.yml"
    binary.write_bytes(b"\x00\xff" * 64)
    other = tmp_path / "notes.yml"
    other.write_text(_deep(200), encoding="utf-8")  # hostile, but nothing says MOT
    assert mot.read(binary) is None and mot.read(other) is None
