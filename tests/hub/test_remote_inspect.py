"""inspect over HTTP: the same facts as reading the same files locally, for a small fraction of the bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelwarden.facts.gather import inspect_path
from modelwarden.hub import HubSettings, inspect_remote
from modelwarden.model import ModelFacts
from tests.hub.server import LocalHub


def comparable(facts: ModelFacts) -> dict[str, Any]:
    """The facts without what names where they were read from or how (root, digests, remote costs;
    the name: a hub repository is named by its id, as a local cache snapshot is; the warning that a
    remote read does not examine signatures, which a local read does)."""
    doc = facts.model_dump(mode="json", exclude={"root", "revision", "remote", "name"})
    doc["problems"] = [p for p in doc["problems"] if p["code"] != "trust_not_examined"]
    for f in doc["files"]:
        f.pop("sha256")
        f["metadata"].pop("sha256_from", None)
    return doc


@pytest.mark.parametrize(
    "repo_id",
    ["org/sharded", "org/gguf-model", "org/torch-model", "org/onnx-model", "org/keras-model", "org/polyglot"],
)
def test_remote_facts_equal_local(
    repo_id: str, repos: dict[str, Path], hub: LocalHub, settings: HubSettings
) -> None:
    local = inspect_path(repos[repo_id])
    before = hub.bytes_for(repo_id)
    remote = inspect_remote(f"hf://{repo_id}", settings)
    assert "trust_not_examined" in [p.code for p in remote.problems]  # never a silent "not signed"
    served = hub.bytes_for(repo_id) - before
    assert comparable(remote) == comparable(local)
    assert remote.parameters.total is not None and remote.parameters.total == local.parameters.total
    held = sum(p.stat().st_size for p in repos[repo_id].rglob("*") if p.is_file())
    r = remote.remote
    assert r is not None
    assert r.bytes_held == held
    # What the client counted is what the server sent, and it is a small fraction of the repository.
    assert r.bytes_read == served
    assert served < held / 50, (served, held)
    assert r.commit == hub.repos[repo_id].commit
    assert remote.root == f"hf://{repo_id}@{r.commit}"
    assert remote.name in (repo_id, local.name)  # a name the files give wins over the id


def test_remote_digests_are_the_hubs_lfs_records(hub: LocalHub, settings: HubSettings) -> None:
    facts = inspect_remote("hf://org/sharded", settings)
    by_path = {f.path: f for f in facts.files}
    for rel, digest in hub.repos["org/sharded"].lfs.items():
        assert by_path[rel].sha256 == digest
        assert "LFS" in by_path[rel].metadata["sha256_from"]
    assert facts.remote is not None
    assert sorted(n.split(":")[0] for n in facts.remote.not_verified) == sorted(hub.repos["org/sharded"].lfs)
    # Files fetched whole are not LFS objects: no digest is claimed for them.
    assert by_path["config.json"].sha256 is None


def test_sharded_parameters_counted(settings: HubSettings) -> None:
    facts = inspect_remote("org/sharded", settings)
    assert facts.parameters.total == 2 * 4096 * 2048 + 2048 + 64 * 2048
    assert facts.license is not None and facts.license.id == "apache-2.0"
    assert facts.name == "org/sharded"


def test_revision_pinned_and_unknown_revision(settings: HubSettings, hub: LocalHub) -> None:
    from modelwarden.errors import HubNotFound

    commit = hub.repos["org/gguf-model"].commit
    facts = inspect_remote(f"hf://org/gguf-model@{commit}", settings)
    assert facts.revision == commit
    with pytest.raises(HubNotFound):
        inspect_remote("hf://org/gguf-model@not-a-branch", settings)
    with pytest.raises(HubNotFound):
        inspect_remote("hf://org/missing", settings)
