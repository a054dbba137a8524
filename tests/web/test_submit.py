"""`POST /api/v1/assessments/from-path`: nothing outside `--submit-root` is ever read, whatever the
submitted folder holds (symbolic links to files or folders outside, hard links, bind mounts, swaps).

"Never read" is checked with an audit hook on `open`: the secret outside the root must not be opened
by anything in this process, and must appear in no stored record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from modelwarden.registry import Registry
from modelwarden.web.errors import ApiError
from modelwarden.web.submit import confine, mount_points, unchanged
from tests.web.conftest import TOKEN
from tests.web.test_api import AUTH, Make, _error

SECRET = "ghp_s3cretTOKENthatMustNeverLeave0123"
_WATCHED: set[str] = set()
_OPENED: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    # Installed once per process (audit hooks cannot be removed); cheap when nothing is watched.
    if event == "open" and _WATCHED and args and isinstance(args[0], str | bytes | os.PathLike):
        name = os.fsdecode(args[0])
        if name in _WATCHED or os.path.realpath(name) in _WATCHED:
            _OPENED.append(name)


sys.addaudithook(_audit)


@pytest.fixture
def secret(tmp_path: Path) -> Iterator[Path]:
    """A credentials file and a folder of secrets outside the submit root, watched for any open."""
    outside = tmp_path / "home"
    (outside / "secrets").mkdir(parents=True)
    cred = outside / ".git-credentials"
    cred.write_text(f"https://user:{SECRET}@github.com\n")
    (outside / "secrets" / "config.json").write_text(json.dumps({"api_key": SECRET}))
    _WATCHED.update({str(cred), str(outside / "secrets" / "config.json")})
    _OPENED.clear()
    yield outside
    _WATCHED.clear()


def _tiny_model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"w": np.zeros((4, 4), np.float32)}, str(folder / "model.safetensors"))
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# tiny\n")
    (folder / "config.json").write_text('{"model_type": "bert"}')
    return folder


def _nothing_leaked(registry: Registry) -> None:
    assert not _OPENED, f"opened outside the root: {_OPENED}"
    for stored in registry.iter_stored():
        assert SECRET not in stored.assessment.model_dump_json()


@pytest.mark.parametrize(
    "layout",
    [
        "file_link",  # .git-credentials -> the secret file
        "folder_link",  # conf -> the secret folder
        "nested_link",  # sub/deeper/config.json -> the secret, two folders down
        "link_via_inside_folder",  # alias -> a folder inside the root that holds a link out
        "relative_climb",  # a relative link that climbs out with ..
        "manifest_link",  # modelwarden.yaml -> the secret (read as the manifest)
    ],
)
def test_links_out_of_the_root_are_refused_before_anything_is_read(
    registry: Registry, make_client: Make, tmp_path: Path, secret: Path, layout: str
) -> None:
    root = (tmp_path / "models").resolve()
    model = _tiny_model(root / "tiny")
    if layout == "file_link":
        (model / ".git-credentials").symlink_to(secret / ".git-credentials")
    elif layout == "folder_link":
        (model / "conf").symlink_to(secret / "secrets", target_is_directory=True)
    elif layout == "nested_link":
        (model / "sub" / "deeper").mkdir(parents=True)
        (model / "sub" / "deeper" / "config.json").symlink_to(secret / "secrets" / "config.json")
    elif layout == "link_via_inside_folder":
        (root / "elsewhere").mkdir()
        (root / "elsewhere" / "token").symlink_to(secret / ".git-credentials")
        (model / "alias").symlink_to(root / "elsewhere", target_is_directory=True)
    elif layout == "relative_climb":
        (model / "notes.txt").symlink_to(Path("../../home/.git-credentials"))
    else:
        (model / "modelwarden.yaml").symlink_to(secret / ".git-credentials")
    client = make_client(token=TOKEN, submit_roots=(root,))
    error = _error(
        client.post("/api/v1/assessments/from-path", json={"path": str(model)}, headers=AUTH),
        403,
        "path_not_allowed",
    )
    assert "outside the submit root" in error["message"]
    assert str(secret) not in error["message"]  # where the link points is not echoed back
    assert registry.count() == 0
    _nothing_leaked(registry)


def test_a_single_file_is_checked_with_the_folder_beside_it(
    registry: Registry, make_client: Make, tmp_path: Path, secret: Path
) -> None:
    root = (tmp_path / "models").resolve()
    model = _tiny_model(root / "tiny")
    (model / "modelwarden.yaml").symlink_to(secret / ".git-credentials")
    client = make_client(token=TOKEN, submit_roots=(root,))
    post = {"path": str(model / "model.safetensors")}
    _error(client.post("/api/v1/assessments/from-path", json=post, headers=AUTH), 403, "path_not_allowed")
    # An explicit manifest given as a link out is refused as well.
    (model / "modelwarden.yaml").unlink()
    (root / "m.yaml").symlink_to(secret / ".git-credentials")
    with_manifest = {"path": str(model), "manifest": str(root / "m.yaml")}
    _error(
        client.post("/api/v1/assessments/from-path", json=with_manifest, headers=AUTH),
        403,
        "path_not_allowed",
    )
    assert registry.count() == 0
    _nothing_leaked(registry)


def test_a_hard_link_to_a_file_outside_is_refused(
    registry: Registry, make_client: Make, tmp_path: Path, secret: Path
) -> None:
    root = (tmp_path / "models").resolve()
    model = _tiny_model(root / "tiny")
    os.link(secret / ".git-credentials", model / "credentials.txt")
    client = make_client(token=TOKEN, submit_roots=(root,))
    error = _error(
        client.post("/api/v1/assessments/from-path", json={"path": str(model)}, headers=AUTH),
        403,
        "path_not_allowed",
    )
    assert "hard links" in error["message"] and "credentials.txt" in error["message"]
    _nothing_leaked(registry)


def test_a_bind_mount_inside_the_root_is_refused(
    registry: Registry, make_client: Make, tmp_path: Path, secret: Path
) -> None:
    root = (tmp_path / "models").resolve()
    model = _tiny_model(root / "tiny")
    mount_point = model / "extra"
    mount_point.mkdir()
    bound = subprocess.run(
        ["mount", "--bind", str(secret / "secrets"), str(mount_point)], capture_output=True, check=False
    )
    if bound.returncode != 0:
        pytest.skip(f"bind mounts need CAP_SYS_ADMIN here: {bound.stderr.decode(errors='replace').strip()}")
    try:
        client = make_client(token=TOKEN, submit_roots=(root,))
        for submitted in (model, mount_point):  # the folder holding the mount, and the mount itself
            error = _error(
                client.post("/api/v1/assessments/from-path", json={"path": str(submitted)}, headers=AUTH),
                403,
                "path_not_allowed",
            )
            assert "mount point" in error["message"]
        _nothing_leaked(registry)
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_links_that_stay_inside_the_root_are_followed(
    registry: Registry, make_client: Make, tmp_path: Path
) -> None:
    """A Hugging Face cache: snapshot files are relative links into blobs/, inside the same root."""
    root = (tmp_path / "hub").resolve()
    blobs = _tiny_model(root / "models--acme--tiny" / "blobs")
    snapshot = root / "models--acme--tiny" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for name in ("model.safetensors", "README.md", "config.json"):
        (snapshot / name).symlink_to(Path("../../blobs") / name)
    (snapshot / "loop").symlink_to(Path(".."), target_is_directory=True)  # a cycle must not hang
    assert blobs.is_dir()
    client = make_client(token=TOKEN, submit_roots=(root,))
    done = client.post("/api/v1/assessments/from-path", json={"path": str(snapshot)}, headers=AUTH)
    assert done.status_code == 201, done.text
    stored = registry.get(done.json()["id"])
    assert stored.facts is not None and stored.facts.parameters.total == 16


def test_a_swap_while_the_stage_runs_is_noticed(tmp_path: Path, secret: Path) -> None:
    """Rename a checked file aside, put a link in its place and rename it back: the inode is the same
    again, but its change time is not, so the result is not stored."""
    root = (tmp_path / "models").resolve()
    model = _tiny_model(root / "tiny")
    checked = confine(str(model), (root,))
    assert unchanged(checked)
    os.rename(model / "README.md", root / "aside")
    (model / "README.md").symlink_to(secret / ".git-credentials")
    (model / "README.md").unlink()
    os.rename(root / "aside", model / "README.md")
    assert not unchanged(checked)
    # A new entry in a checked folder is noticed too.
    checked = confine(str(model), (root,))
    (model / "new.txt").write_text("x")
    assert not unchanged(checked)


def test_a_tree_deeper_than_the_recursion_limit_is_checked(
    registry: Registry, make_client: Make, secret: Path
) -> None:
    # Outside pytest's tmp_path: its clean-up (shutil.rmtree) recurses too deep for this tree.
    root = Path(tempfile.mkdtemp(prefix="mw-deep-")).resolve()
    try:
        model = _tiny_model(root / "tiny")
        deep = model
        for _ in range(1100):  # one level at a time: pathlib's mkdir(parents=True) itself recurses
            deep = deep / "d"
            deep.mkdir()
        (deep / "creds").symlink_to(secret / ".git-credentials")
        client = make_client(token=TOKEN, submit_roots=(root,))
        _error(
            client.post("/api/v1/assessments/from-path", json={"path": str(model)}, headers=AUTH),
            403,
            "path_not_allowed",
        )
    finally:
        subprocess.run(["rm", "-rf", "--", str(root)], check=True)  # rm walks without recursing


def test_mount_points_are_read_from_the_mount_table(tmp_path: Path) -> None:
    """Mount points with escaped characters (a space is `\\040` in mountinfo) are recognised, and a
    mount table that cannot be read refuses the submission rather than skipping the check."""
    root = (tmp_path / "models").resolve()
    model = _tiny_model(root / "with space" / "tiny")
    table = tmp_path / "mountinfo"
    escaped = str(root / "with space").replace(" ", "\\040")
    table.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        f"45 22 8:1 /srv/secrets {escaped} rw,relatime - ext4 /dev/sda1 rw\n"
    )
    assert mount_points(table) == {Path("/"), root / "with space"}
    with pytest.raises(ApiError) as refused:
        confine(str(model), (root,), mountinfo=table)
    assert refused.value.status == 403 and "mount point" in refused.value.message
    with pytest.raises(ApiError) as unreadable:
        confine(str(model), (root,), mountinfo=tmp_path / "missing")
    assert unreadable.value.status == 403 and "mount table" in unreadable.value.message
    assert confine(str(model), (root,)).path == model  # the real table: no mount here
