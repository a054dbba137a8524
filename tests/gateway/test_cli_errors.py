"""The CLI's one error-to-exit-code mapping (`modelwarden.cli._errors`), per error class and through
real commands: 2 when a command cannot do what it was asked (not found, conflict, bad input,
misconfiguration), 1 when a verifier found tampering, 130 when interrupted; the message says what is
wrong, `next:` what to do, and `hint:` the command that helps (library messages name none)."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

import pytest

from modelwarden import errors
from modelwarden.cli import _errors, main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    old = sys.argv
    sys.argv = ["modelwarden", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    return code, " ".join(capsys.readouterr().err.split())


PUBLIC = sorted(
    (c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.ModelwardenError)),
    key=lambda c: c.__name__,
)


def test_every_public_error_is_defined_in_modelwarden_errors() -> None:
    assert len(PUBLIC) >= 20
    assert all(c.__module__ == "modelwarden.errors" for c in PUBLIC)


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_exit_code_per_error_class(cls: type[errors.ModelwardenError]) -> None:
    expected = 1 if issubclass(cls, errors.VerificationFailed) else 2
    assert _errors.exit_code(cls("x")) == expected


def test_interrupt_and_foreign_exceptions() -> None:
    assert _errors.exit_code(KeyboardInterrupt()) == 130
    with pytest.raises(TypeError):
        _errors.exit_code(ValueError("not ours"))


@pytest.fixture
def deploy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, err = run(capsys, "gateway", "init", str(tmp_path / "d"), "--model", "m1")
    assert code == 0, err
    return tmp_path / "d" / "gateway.yaml"


def test_not_found_exits_2_with_next_step_and_the_cli_hint(
    deploy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(capsys, "identities", "show", "nobody", "-c", str(deploy))
    assert code == 2
    assert "error: no identity 'nobody'" in err
    assert "next: give the id or the name of an existing identity" in err
    assert "hint: `modelwarden identities list`" in err
    code, err = run(capsys, "keys", "revoke", "mw_nokey", "--reason", "x", "-c", str(deploy))
    assert code == 2 and "no key" in err and "hint: `modelwarden keys list`" in err
    code, err = run(capsys, "identities", "review", "approve", "99", "-c", str(deploy))
    assert code == 2 and "no review 99" in err and "hint: `modelwarden identities review list`" in err


def test_conflict_usage_and_configuration_exit_2(
    deploy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(capsys, "identities", "create", "alice", "-c", str(deploy))
    assert code == 0, err
    code, err = run(capsys, "identities", "create", "alice", "-c", str(deploy))
    assert code == 2 and "already exists" in err and "next: choose another name" in err
    code, err = run(capsys, "keys", "create", "alice", "--expires", "soon", "-c", str(deploy))
    assert code == 2 and "not a date or duration" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    code, err = run(capsys, "gateway", "serve", "-c", str(bad))
    assert code == 2 and "expected a mapping" in err and "hint: `modelwarden gateway init DIR`" in err


def test_a_failed_verification_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps({"timeline": []}))
    code, err = run(capsys, "incidents", "verify", str(bundle))
    assert code == 1 and "problem" in err
    bundle.write_text("not json")
    code, err = run(capsys, "incidents", "verify", str(bundle))
    assert code == 2 and "not an incident bundle" in err
