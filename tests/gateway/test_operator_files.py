"""Files the operator names (gateway.yaml, tiers, keys, salt, anchors, incident bundles, rule and
exemplar files, the API token): a FIFO, a device, a folder, bytes that are not UTF-8, YAML nested or
aliased without bound or JSON nested without bound are each one clear error naming the file, never a
hang (opening a FIFO for reading waits for a writer), a read of /dev/zero until memory runs out, or a
traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from modelwarden.errors import GatewayError
from modelwarden.gateway import audit as auditmod
from modelwarden.gateway import files
from modelwarden.gateway.config import load_config
from modelwarden.gateway.incidents import read_bundle, verify_bundle
from modelwarden.gateway.moderation.exemplar import load_exemplars
from modelwarden.gateway.moderation.rules import RuleClassifier
from modelwarden.gateway.signing import generate_key, load_public_key, load_signer, public_path
from modelwarden.gateway.tiers import load_tiers
from tests.support.cli import run_cli

DEEP_YAML = "a: " + "[" * 5000 + "]" * 5000 + "\n"
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    return " ".join(done.stderr.split())


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gw") / "d"
    done = run_cli("gateway", "init", folder, "--model", "m1")
    assert done.returncode == 0, done.stderr
    return folder / "gateway.yaml"


def _config_with(deploy: Path, tmp_path: Path, **audit: str) -> Path:
    """A copy of the deployment's gateway.yaml (a new file each call) with some paths replaced."""
    cfg = yaml.safe_load(deploy.read_text())
    base = deploy.parent
    cfg["database"] = f"sqlite:///{base / 'gateway.sqlite3'}"
    for key in ("signing_key", "anchor_file", "salt_file"):
        cfg["audit"][key] = str(base / cfg["audit"][key])
    tiers = audit.pop("tiers", None)
    if tiers is not None:
        cfg["tiers"] = tiers
    cfg["audit"].update(audit)
    out = tmp_path / f"gateway-{len(list(tmp_path.glob('gateway-*.yaml')))}.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out


def test_fifos_named_anywhere_are_refused_without_blocking(deploy: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    commands: list[tuple[list[str | Path], str]] = [
        (["tiers", "check", fifo], "cannot read tiers file"),
        (["tiers", "list", "-c", fifo], "cannot read gateway config"),
        (["tiers", "list", "-c", _config_with(deploy, tmp_path, tiers=str(fifo))], "cannot read tiers file"),
        (["audit", "verify", "-c", deploy, "--public-key", fifo], "cannot read the public key"),
        (["audit", "verify", "-c", deploy, "--anchors", fifo], "cannot read the anchor file"),
        (["incidents", "verify", fifo], "cannot read the bundle"),
        (["serve", "--token-file", fifo, "--port", "0"], "cannot read the API token"),
        (
            ["audit", "tail", "-c", _config_with(deploy, tmp_path, signing_key=str(fifo))],
            "cannot read the audit signing key",
        ),
        # The salt is read by every worker at startup: `gateway serve` hung, unkillable, on a FIFO.
        (
            ["gateway", "serve", "-c", _config_with(deploy, tmp_path, salt_file=str(fifo)), "--port", "1"],
            "cannot read the salt file",
        ),
    ]
    for args, message in commands:
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert f"{fifo}: {message}: not a regular file" in _one_line(done), args


def test_checkpoint_into_a_fifo_anchor_file_does_not_block(deploy: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "anchors"
    os.mkfifo(fifo)
    cfg = _config_with(deploy, tmp_path, anchor_file=str(fifo))
    assert run_cli("identities", "create", "someone", "-c", cfg).returncode == 0  # something to sign
    done = run_cli("audit", "checkpoint", "-c", cfg)
    assert done.returncode == 2
    assert f"{fifo}: cannot append to the anchor file" in _one_line(done)


def test_gateway_serve_refuses_an_anchor_file_that_is_a_folder(deploy: Path, tmp_path: Path) -> None:
    cfg = _config_with(deploy, tmp_path, anchor_file=str(tmp_path))
    done = run_cli("gateway", "serve", "-c", cfg, "--port", "1")
    assert done.returncode == 2
    assert f"{tmp_path}: the anchor file must be a regular file" in _one_line(done)


READERS = {
    "config": (lambda p: load_config(p), "cannot read gateway config"),
    "tiers": (lambda p: load_tiers(p), "cannot read tiers file"),
    "signing key": (lambda p: load_signer(p), "cannot read the audit signing key"),
    "public key": (lambda p: load_public_key(p), "cannot read the public key"),
    "anchors": (lambda p: auditmod.read_anchors(p), "cannot read the anchor file"),
    "bundle": (lambda p: read_bundle(p), "cannot read the bundle"),
    "rules": (lambda p: RuleClassifier(path=p), "cannot read rule file"),
    "exemplars": (lambda p: load_exemplars(p), "cannot read exemplars file"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_device_is_refused_before_reading(reader: str) -> None:
    load, message = READERS[reader]
    with pytest.raises(GatewayError, match=f"^/dev/zero: {message}: not a regular file"):
        load(Path("/dev/zero"))


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_folder_is_named_as_a_folder(reader: str, tmp_path: Path) -> None:
    load, message = READERS[reader]
    with pytest.raises(GatewayError, match=f"{message}: is a folder, not a file"):
        load(tmp_path)


@pytest.mark.parametrize("reader", ["config", "tiers", "signing key", "public key", "bundle", "rules"])
def test_files_over_their_cap_are_not_read_whole(reader: str, tmp_path: Path) -> None:
    load, message = READERS[reader]
    big = tmp_path / "big"
    with big.open("wb") as fh:
        fh.truncate(files.MAX_BUNDLE_BYTES + 1)  # sparse: over every cap, no disk used
    with pytest.raises(GatewayError, match=f"{message}: larger than"):
        load(big)


YAML_READERS = {
    "config": load_config,
    "tiers": load_tiers,
    "rules": lambda p: RuleClassifier(path=p),
    "exemplars": load_exemplars,
}


@pytest.mark.parametrize("reader", sorted(YAML_READERS))
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (DEEP_YAML, "nested more than"),
        (LAUGHS, "expands to more than"),
        ("a: &x [*x]\n", "refers to the node that contains it"),
        ("host: 2026-13-01\n", "month must be in 1..12"),
    ],
)
def test_hostile_yaml_is_not_valid_yaml(reader: str, text: str, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "file.yaml"
    path.write_text(text)
    with pytest.raises(GatewayError, match=f"^{path}: (not valid YAML|invalid value).*{problem}"):
        YAML_READERS[reader](path)


@pytest.mark.parametrize("reader", sorted(YAML_READERS))
def test_bytes_that_are_not_utf8_are_named(reader: str, tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\n# café\n".encode("latin-1"))
    with pytest.raises(GatewayError, match=rf"^{path}: .* is not UTF-8 text \(invalid byte at offset 16\)"):
        YAML_READERS[reader](path)


def test_control_characters_in_yaml_are_named(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_bytes(b"host: a\x00b\n")
    with pytest.raises(GatewayError, match=r"not valid YAML: character U\+0000 at offset 7 is not allowed"):
        load_config(path)


def test_anchor_file_lines_are_bounded_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.jsonl"
    good = '{"key_id": "k", "root": "", "signature": "", "size": 1, "ts": "t"}\n'
    cases = {
        "[" * 100_000 + "\n": "line 2 is longer than",
        "[" * 50_000 + "\n": r"line 2: not a checkpoint record \(nested too deeply\)",
        good.replace('"size": 1', '"size": 1e999'): "line 2: not a checkpoint record",
        "[1, 2]\n": "line 2: not a checkpoint record",
        "caf\xe9\n": "line 2: not UTF-8 text",
    }
    for line, message in cases.items():
        path.write_bytes(good.encode() + line.encode("latin-1"))
        with pytest.raises(GatewayError, match=f"^{path}: {message}"):
            auditmod.read_anchors(path)
    path.write_text(good)
    assert [cp.size for cp in auditmod.read_anchors(path)] == [1]


def test_a_named_anchor_file_must_exist(deploy: Path, tmp_path: Path) -> None:
    # A mistyped --anchors must not turn into "no anchor file" and a weaker verification.
    done = run_cli("audit", "verify", "-c", deploy, "--anchors", tmp_path / "typo.jsonl")
    assert done.returncode == 2 and "typo.jsonl: anchor file not found" in _one_line(done)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[" * 100_000, "JSON nested too deeply"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b"caf\xe9", "not UTF-8 text"),
        (b"{", "not valid JSON"),
    ],
)
def test_bundles_that_are_not_json_objects(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "inc.json"
    path.write_bytes(content)
    with pytest.raises(GatewayError, match=f"^{path}: not an incident bundle: {message}"):
        read_bundle(path)


def test_malformed_bundles_are_problems_not_crashes(tmp_path: Path) -> None:
    fmt = {"format": "modelwarden.incident/v1"}
    assert verify_bundle([1, 2]) == ["not a modelwarden.incident/v1 bundle"]  # type: ignore[arg-type]
    assert verify_bundle({**fmt, "public_key": 7}) == ["the bundle holds no public key (pass --public-key)"]
    assert verify_bundle({**fmt, "public_key": "junk"})[0].startswith("the bundle's public key: not a PEM")
    key = generate_key(tmp_path / "k")
    pem = public_path(tmp_path / "k").read_text()
    base = {**fmt, "public_key": pem, "public_key_id": key.key_id}
    assert verify_bundle({**base, "checkpoint": None}) == ["no entries and no checkpoint"]
    assert verify_bundle({**base, "timeline": 5, "checkpoint": {}}) == [
        "timeline: expected a list of entries"
    ]
    assert verify_bundle({**base, "checkpoint": [1]})[0].startswith("checkpoint: malformed checkpoint record")
    cp = {"size": 1, "root": "", "ts": "t", "key_id": key.key_id, "signature": ""}
    problems = verify_bundle({**base, "checkpoint": cp, "timeline": [3, {"seq": "x"}, {"seq": 1}]})
    assert problems[1:] == [
        "timeline entry 1: malformed (not an object)",
        "entry x: malformed (invalid literal for int() with base 10: 'x')",
        "entry 1: malformed ('prev_hash')",
    ]


def test_keygen_into_a_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(GatewayError, match=f"^{tmp_path}: is a folder; give a file name for the signing key"):
        generate_key(tmp_path)
    (tmp_path / "k.pub").mkdir()
    with pytest.raises(GatewayError, match=r"k\.pub: is a folder; give a file name for the public key"):
        generate_key(tmp_path / "k")
    assert not (tmp_path / "k").exists()  # nothing half-written
    stale = tmp_path / "s"
    public_path(stale).write_text("an older public key")
    with pytest.raises(GatewayError, match=r"s\.pub: refusing to overwrite an existing public key"):
        generate_key(stale)
    nested = tmp_path / "new" / "deeper" / "audit.key"  # missing parents are created
    assert generate_key(nested).key_id == load_signer(nested).key_id
    assert load_public_key(public_path(nested)) == load_signer(nested).public


def test_keygen_cli_reports_a_folder(tmp_path: Path) -> None:
    done = run_cli("audit", "keygen", tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path}: is a folder; give a file name for the signing key" in _one_line(done)


def test_minilm_folder_with_a_fifo_tokenizer_is_refused(tmp_path: Path, minilm_dir: Path) -> None:
    from modelwarden.gateway.moderation.minilm import MiniLM

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").symlink_to(minilm_dir / "model.safetensors")
    shutil.copy(minilm_dir / "config.json", folder)
    os.mkfifo(folder / "tokenizer.json")
    with pytest.raises(GatewayError, match=r"tokenizer\.json: cannot read the MiniLM tokenizer: not a"):
        MiniLM(folder, verify=False)
    (folder / "config.json").write_text("[" * 100_000)
    with pytest.raises(GatewayError, match=r"config\.json: not a model config"):
        MiniLM(folder, verify=False)


def test_a_database_that_cannot_be_opened_is_one_line(deploy: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database file" * 100)
    cases = {
        f"sqlite:///{garbage}": f"cannot open the database at sqlite:///{garbage}: file is not a database",
        f"sqlite:///{tmp_path}": f"{tmp_path}: is a folder, not a SQLite database file",
        "mysql://u@h/db": "unsupported database URL scheme 'mysql'",
    }
    for url, message in cases.items():
        done = run_cli("audit", "tail", "-c", deploy, "--db", url)
        assert done.returncode == 2 and message in _one_line(done), done.stderr


def test_gateway_init_checks_its_arguments_before_writing(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("")
    done = run_cli("gateway", "init", file)
    assert done.returncode == 2 and f"{file}: exists and is not a folder" in _one_line(done)
    done = run_cli("gateway", "init", tmp_path / "d", "--database", "mysql://u@h/db")
    assert done.returncode == 2 and "unsupported database URL scheme" in _one_line(done)
    assert not (tmp_path / "d").exists()


def test_init_on_a_file_that_is_not_a_database_is_one_error_and_leaves_it(tmp_path: Path) -> None:
    garbage = tmp_path / "not.db"
    garbage.write_bytes(bytes(range(256)) * 16)
    done = run_cli("gateway", "init", tmp_path / "d", "--database", f"sqlite:///{garbage}")
    assert done.returncode == 2
    assert "cannot open the database" in _one_line(done) and "file is not a database" in _one_line(done)
    assert garbage.read_bytes() == bytes(range(256)) * 16
