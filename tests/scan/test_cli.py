"""`modelwarden scan`: exit codes, the JSON contract, SARIF for GitHub code scanning, no network."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import socket
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch
from sarif_pydantic import Sarif

from modelwarden.errors import UsageError
from modelwarden.model import ScanReport
from modelwarden.report.sarif import to_sarif
from modelwarden.scan import scan_paths
from tests.scan.conftest import Corpus
from tests.scan.corpus import _Reduce
from tests.support.cli import run_cli


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    clean = tmp_path / "clean.pt"
    torch.save({"w": torch.zeros(3)}, clean)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Reduce(os.system, "true"), protocol=4))
    unknown = tmp_path / "unknown.pkl"
    unknown.write_bytes(b"\x80\x02cmylib.models\nNet\n)R.")
    low = tmp_path / "args.pt"
    import argparse

    torch.save({"args": argparse.Namespace(lr=0.1)}, low)
    return {"clean": clean, "evil": evil, "unknown": unknown, "low": low}


def test_exit_codes_follow_the_threshold(files: dict[str, Path]) -> None:
    assert run_cli("scan", files["clean"]).returncode == 0
    assert run_cli("scan", files["evil"]).returncode == 1
    assert run_cli("scan", files["unknown"]).returncode == 1  # default --fail-on medium
    # An import off the exact allowlist is high: only --fail-on critical lets it pass.
    assert run_cli("scan", files["unknown"], "--fail-on", "high").returncode == 1
    assert run_cli("scan", files["unknown"], "--fail-on", "critical").returncode == 0
    assert run_cli("scan", files["low"]).returncode == 0
    assert run_cli("scan", files["low"], "--fail-on", "low").returncode == 1
    assert run_cli("scan", files["evil"], "--fail-on", "critical").returncode == 1


def test_text_output_names_the_problem(files: dict[str, Path]) -> None:
    proc = run_cli("scan", files["evil"], files["clean"])
    assert proc.returncode == 1
    assert "CRITICAL" in proc.stdout and "pickle.dangerous-import" in proc.stdout
    assert "posix.system('true')" in proc.stdout
    assert "FAIL" in proc.stdout and "2 files scanned" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_usage_and_io_errors_exit_2(tmp_path: Path, files: dict[str, Path]) -> None:
    missing = run_cli("scan", tmp_path / "nope.bin")
    assert missing.returncode == 2
    assert "nope.bin: no such file or directory" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert run_cli("scan", files["clean"], "--fail-on", "bogus").returncode == 2
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.bin"
        locked.write_bytes(b"x")
        locked.chmod(0)
        proc = run_cli("scan", locked)
        assert proc.returncode == 2 and "cannot open" in proc.stderr


def test_json_contract(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = run_cli("scan", files["evil"], files["clean"], "--format", "json", "--output", out)
    assert proc.returncode == 1
    data = json.loads(out.read_text())
    summary = data.pop("summary")
    assert summary["failed"] is True and summary["fail_on"] == "medium"
    assert summary["counts"]["critical"] == 1
    report = ScanReport.model_validate(data)  # the JSON is the record
    finding = next(f for f in report.findings if f.rule_id == "pickle.dangerous-import")
    assert finding.file == str(files["evil"])
    assert finding.location.offset is not None and finding.location.opcode_index is not None
    assert finding.evidence == "posix.system('true')"
    hashes = {f.path: f.sha256 for f in report.files}
    assert hashes[str(files["clean"])] == hashlib.sha256(files["clean"].read_bytes()).hexdigest()
    assert {f.format.value for f in report.files} == {"pickle", "torch_zip"}


# The parts of SARIF 2.1.0 our output uses, with the constraints the OASIS specification and GitHub's
# "SARIF support for code scanning" page put on them (region.startLine for display, string fingerprints,
# security-severity as a number in a string).
SARIF_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "format": "uri"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "rules"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id", "shortDescription", "defaultConfiguration"],
                                            "properties": {
                                                "shortDescription": {
                                                    "type": "object",
                                                    "required": ["text"],
                                                },
                                                "defaultConfiguration": {
                                                    "properties": {
                                                        "level": {
                                                            "enum": ["none", "note", "warning", "error"]
                                                        }
                                                    }
                                                },
                                                "properties": {
                                                    "properties": {
                                                        "security-severity": {
                                                            "type": "string",
                                                            "pattern": r"^\d+(\.\d+)?$",
                                                        },
                                                        "tags": {
                                                            "type": "array",
                                                            "items": {"type": "string"},
                                                        },
                                                    }
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "level", "message", "locations", "partialFingerprints"],
                            "properties": {
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {"type": "object", "required": ["text"]},
                                "ruleIndex": {"type": "integer", "minimum": 0},
                                "partialFingerprints": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "locations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["physicalLocation"],
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "required": ["artifactLocation", "region"],
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "required": ["uri"],
                                                        "properties": {
                                                            "uri": {"type": "string", "minLength": 1}
                                                        },
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "required": ["startLine"],
                                                        "properties": {
                                                            "startLine": {"type": "integer", "minimum": 1},
                                                            "byteOffset": {"type": "integer", "minimum": 0},
                                                        },
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_sarif_is_valid_for_github_code_scanning(scan_corpus: Corpus) -> None:
    report = scan_paths([scan_corpus.root / "malicious"])
    sarif = to_sarif(report)
    jsonschema.validate(sarif, SARIF_SUBSET)
    parsed = Sarif.model_validate(sarif)  # an independent SARIF 2.1.0 model
    run = parsed.runs[0]
    rules = [r.id for r in run.tool.driver.rules or []]
    assert len(rules) == len(set(rules))
    raw_results = sarif["runs"][0]["results"]
    assert len(raw_results) == len(report.findings) > 30
    for result in raw_results:
        assert rules[result["ruleIndex"]] == result["ruleId"]
    # Stable fingerprints: the same scan twice gives the same set.
    again = to_sarif(scan_paths([scan_corpus.root / "malicious"]))
    fingerprints = {r["partialFingerprints"]["modelwardenFinding/v1"] for r in raw_results}
    assert fingerprints == {
        r["partialFingerprints"]["modelwardenFinding/v1"] for r in again["runs"][0]["results"]
    }
    hashes = [a["hashes"]["sha-256"] for a in sarif["runs"][0]["artifacts"]]
    assert all(len(h) == 64 for h in hashes)


def test_sarif_uris_are_relative_to_the_checkout(files: dict[str, Path], tmp_path: Path) -> None:
    proc = run_cli("scan", "evil.pkl", "--format", "sarif", cwd=tmp_path)
    assert proc.returncode == 1
    sarif = json.loads(proc.stdout)
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "evil.pkl"
    assert sarif["runs"][0]["results"][0]["level"] == "error"


def test_scanning_never_opens_a_network_connection(
    scan_corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))  # type: ignore[arg-type]
    scan_paths([scan_corpus.root])
    assert attempts == []


def test_scanning_executes_nothing(tmp_path: Path) -> None:
    # A payload that would leave a marker file if anything unpickled it.
    marker = tmp_path / "pwned"
    payload = tmp_path / "payload.pkl"
    payload.write_bytes(pickle.dumps(_Reduce(os.system, f"touch {marker}"), protocol=2))
    torch.save({"x": _Reduce(os.system, f"touch {marker}")}, tmp_path / "payload.pt")
    proc = run_cli("scan", tmp_path)
    assert proc.returncode == 1
    assert not marker.exists()


def test_fifos_and_devices_are_reported_not_opened(tmp_path: Path) -> None:
    # Opening a FIFO for reading blocks until a writer appears: the scan must neither open nor hash it.
    folder = tmp_path / "model"
    folder.mkdir()
    weights = folder / "model.safetensors"
    torch_free = b'{"__metadata__":{"format":"pt"}}'
    weights.write_bytes(len(torch_free).to_bytes(8, "little") + torch_free)
    os.mkfifo(folder / "config.json")  # where the folder walk would read auto_map from
    os.mkfifo(tmp_path / "pytorch_model.bin")

    report = scan_paths([folder])
    assert {(p.file, p.code) for p in report.problems} == {
        (str(folder / "config.json"), "not_a_regular_file")
    }
    assert [f.path for f in report.files] == [str(weights)]
    # Named on the command line, a special file is refused like a missing path.
    for special in (tmp_path / "pytorch_model.bin", Path("/dev/null"), Path("/dev/zero")):
        with pytest.raises(UsageError, match="not a regular file or folder"):
            scan_paths([folder, special])

    # On the terminal the verdict says the scan is incomplete, once, rather than "PASS".
    done = run_cli("scan", folder)
    assert done.returncode == 2
    assert "INCOMPLETE (1 unreadable; nothing else at or above medium)" in done.stdout
    assert "PASS" not in done.stdout
    assert done.stdout.count("not a regular file") == 1 and "not a regular file" not in done.stderr
    done = run_cli("scan", folder, "--format", "json")
    assert done.returncode == 2 and "not a regular file" in done.stderr  # stdout holds only JSON


@pytest.mark.parametrize("kind", ["fifo", "device", "dangling symlink"])
def test_cli_refuses_a_special_file_without_a_verdict(tmp_path: Path, kind: str) -> None:
    # `scan /dev/zero` used to print "PASS ... 0 files scanned" and exit 2.
    if kind == "fifo":
        target = tmp_path / "pytorch_model.bin"
        os.mkfifo(target)
    elif kind == "device":
        target = Path("/dev/zero")
    else:
        target = tmp_path / "model.safetensors"
        target.symlink_to(tmp_path / "gone.safetensors")
    for fmt in ("text", "json"):
        done = run_cli("scan", target, "--format", fmt)  # times out (a test failure) if the CLI blocks
        assert done.returncode == 2, done
        assert "PASS" not in done.stdout and '"failed": false' not in done.stdout
        stderr = " ".join(done.stderr.split())  # rich wraps long lines
        assert f"error: {target}: " in stderr
        assert ("points to nothing" if kind == "dangling symlink" else "not a regular file") in stderr
        assert "Traceback" not in done.stderr


def test_text_output_escapes_hostile_names(tmp_path: Path) -> None:
    """Module and entry names are the attacker's: in text output they can neither inject console markup
    nor terminal control sequences (clear the screen, recolour, or start a fake "PASS" line)."""
    import zipfile

    reduce_system = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R."
    archive = tmp_path / "m.pt"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("arch/data.pkl", b"\x80\x02cos\x1b[2J\nsystem\n)R.")
        z.writestr("arch/[/]x\n\x1b[31mPASS.pkl", reduce_system)
    proc = run_cli("scan", archive)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "os\\x1b[2J.system" in proc.stdout
    assert "arch/[/]x\\n\\x1b[31mPASS.pkl" in proc.stdout
    assert "\x1b" not in proc.stdout and "\nPASS" not in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("FAIL")


def test_markup_in_paths_is_printed_literally(tmp_path: Path) -> None:
    folder = tmp_path / "o["
    folder.mkdir()
    evil = folder / "x].pkl"  # the path reads "…o[/x].pkl": a closing markup tag
    evil.write_bytes(pickle.dumps(_Reduce(os.system, "true"), protocol=4))
    proc = run_cli("scan", evil)
    assert proc.returncode == 1 and f"{evil}" in proc.stdout
    unwritable = run_cli("scan", evil, "--output", folder / "no[/such]" / "r.txt")
    assert unwritable.returncode == 2 and "Traceback" not in unwritable.stderr
    assert "cannot write" in unwritable.stderr and "no[/such]" in unwritable.stderr
