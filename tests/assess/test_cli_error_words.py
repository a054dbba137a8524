"""Library errors of the assess stage say what is wrong in front-end-neutral words; the CLI adds its hint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modelwarden.assess import assess_path
from modelwarden.errors import RulesError, UsageError
from modelwarden.rules import load_rules


def test_library_message_names_no_cli_option() -> None:
    with pytest.raises(UsageError) as info:
        assess_path(None)
    assert "--" not in info.value.message and "--" not in (info.value.next_step or "")
    assert info.value.next_step


def test_rules_path_that_is_a_file(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "rules.yaml"
    not_a_folder.write_text("{}", "utf-8")
    with pytest.raises(RulesError) as info:
        load_rules([not_a_folder])
    assert str(not_a_folder) in info.value.message and "--rules" not in info.value.message


def test_cli_adds_its_own_hint() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelwarden", "assess"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "nothing to assess" in done.stderr
    assert "hint: `modelwarden assess PATH`" in done.stderr
    assert "Traceback" not in done.stderr
