"""The HTTP side: redirects, rate limits, and hubs that break the protocol (each refused, never trusted)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from modelwarden.errors import HubUnavailable, UsageError
from modelwarden.facts.gather import inspect_release
from modelwarden.hub import HubSettings, inspect_remote, open_release, parse_target, scan_release
from modelwarden.hub.remote import HubHttp, RemoteBuffer, RemoteFile, _retry_after_seconds
from tests.hub.server import LocalHub


def test_targets() -> None:
    assert parse_target("hf://org/name@v1.0").revision == "v1.0"
    assert parse_target("org/name").repo_id == "org/name"
    assert parse_target("hf:/org/name").repo_id == "org/name"  # what Path() makes of hf://
    for bad in ("org", "hf://org/../x", "/abs/path", "org/name/extra", "hf://org/name@"):
        with pytest.raises(UsageError):
            parse_target(bad)


def test_settings_read_not_written() -> None:
    env = {"HF_ENDPOINT": "http://mirror.example/", "HF_TOKEN": "hf_x"}
    s = HubSettings.from_env(env)
    assert (s.endpoint, s.token) == ("http://mirror.example", "hf_x")
    assert "hf_x" not in repr(s)
    assert HubSettings.from_env({}).endpoint == "https://huggingface.co"
    assert HubSettings.from_env({"HF_HUB_OFFLINE": "1"}).offline
    assert not HubSettings.from_env({"HF_HUB_OFFLINE": "0"}).offline


def test_offline_setting_refuses_before_any_request(hub: LocalHub, settings: HubSettings) -> None:
    start = len(hub.requests)
    with pytest.raises(HubUnavailable, match="HF_HUB_OFFLINE"):
        inspect_remote("hf://org/sharded", HubSettings(endpoint=settings.endpoint, offline=True))
    assert len(hub.requests) == start


def test_lfs_files_follow_the_redirect(hub: LocalHub, settings: HubSettings) -> None:
    start = len(hub.requests)
    inspect_remote("hf://org/gguf-model", settings)
    paths = [p for _m, p, _r in hub.requests[start:]]
    assert any(p.startswith("/org/gguf-model/resolve/") and p.endswith("/tiny.gguf") for p in paths)
    assert any(p.startswith("/cdn/org/gguf-model/") for p in paths)  # the 302 was followed
    ranged = [r for _m, p, r in hub.requests[start:] if p.startswith("/cdn/")]
    assert ranged and all(r is not None and r.startswith("bytes=") for r in ranged)


def test_rate_limit_honoured_on_metadata_and_ranges(hub: LocalHub, settings: HubSettings) -> None:
    hub.throttle = 1  # the model-info request is answered 429 once
    began = time.monotonic()
    with open_release("hf://org/gguf-model", settings) as remote:
        hub.throttle = 2  # then two range requests
        facts = inspect_release(remote.release)
        traffic = remote.http.traffic
        assert traffic.retries == 3 and traffic.waited_seconds == pytest.approx(3.0)
    assert time.monotonic() - began >= 3.0  # Retry-After: 1, three times, really waited
    assert facts.parameters.total == 4096 * 2048 + 2048
    assert [p.code for p in facts.problems] == ["trust_not_examined"]


def test_rate_limit_past_the_budget_fails_closed(hub: LocalHub, settings: HubSettings) -> None:
    with open_release("hf://org/torch-model", settings) as remote:
        remote.http._max_retries = 1
        remote.http._sleep = lambda s: None
        hub.throttle = 1000
        try:
            facts = inspect_release(remote.release)
            report = scan_release(remote)
        finally:
            hub.throttle = 0
    for f in facts.files:
        if f.path in remote.sources:
            assert [p.code for p in f.problems] == ["unreadable"], f
            assert "429" in f.problems[0].message
    # No weights were read: only the config's formula is left, and inspect says so.
    assert any("no readable weights" in w for w in facts.warnings)
    unverified = {f.file for f in report.findings if f.rule_id == "scan.incomplete"}
    assert {f"{remote.display}/{rel}" for rel in remote.sources} <= unverified
    assert report.at_or_above(report.findings[0].severity.__class__("high"))


def test_retry_after_forms() -> None:
    assert _retry_after_seconds("3") == 3.0
    assert _retry_after_seconds(None) is None
    assert _retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert _retry_after_seconds("soon") is None


def test_a_hub_that_ignores_range_is_refused(hub: LocalHub, settings: HubSettings) -> None:
    with open_release("hf://org/sharded", settings) as remote:
        hub.ignore_range = True
        try:
            facts = inspect_release(remote.release)
        finally:
            hub.ignore_range = False
        received = remote.http.traffic.bytes_received
    shard = next(f for f in facts.files if f.path.endswith(".safetensors"))
    assert shard.problems and "206" in shard.problems[0].message
    # The whole file was refused as it streamed, not downloaded: one chunk at most per request.
    assert received < 2 * 1024 * 1024


def test_a_lying_content_range_is_refused(hub: LocalHub, settings: HubSettings) -> None:
    with open_release("hf://org/gguf-model", settings) as remote:
        src = remote.sources["tiny.gguf"]
        lying = RemoteFile(remote.http, src.url, name=src.name, size=src.size + 1)
        with pytest.raises(HubUnavailable, match="changed under the read"):
            lying.read_at(0, 16)


def test_small_files_checked_against_the_git_blob_id(hub: LocalHub, settings: HubSettings) -> None:
    hub.tamper["config.json"] = b'{"model_type": "not what the hub recorded"}'
    try:
        with pytest.raises(HubUnavailable, match="git blob id"):
            open_release("hf://org/sharded", settings)
    finally:
        hub.tamper.clear()


def test_size_in_metadata_differs_from_file(hub: LocalHub, settings: HubSettings, tmp_path: Path) -> None:
    """A repository whose file grew after the metadata was taken: the reads refuse it, the scan says
    UNVERIFIED for that file."""
    folder = tmp_path / "grown"
    shutil.copytree(hub.repos["org/gguf-model"].folder, folder)
    hub.add("org/grown", folder)
    with (folder / "tiny.gguf").open("ab") as fh:
        fh.write(b"\0" * 10)
    try:
        with open_release("hf://org/grown", settings) as remote:
            facts = inspect_release(remote.release)
            report = scan_release(remote)
    finally:
        del hub.repos["org/grown"]
    gguf = next(f for f in facts.files if f.path == "tiny.gguf")
    assert gguf.problems and "changed under the read" in gguf.problems[0].message
    assert any(f.rule_id == "scan.incomplete" and f.file.endswith("/tiny.gguf") for f in report.findings)


def test_remote_buffer_rfind_reads_backwards(hub: LocalHub, settings: HubSettings) -> None:
    with open_release("hf://org/torch-model", settings) as remote:
        src = remote.sources["pytorch_model.bin"]
        buf = RemoteBuffer(src)
        before = src.bytes_received
        at = buf.rfind(b"PK\x05\x06")
        assert at > src.size - 1024  # the end of central directory record
        assert src.bytes_received - before < 256 * 1024
        local = (hub.repos["org/torch-model"].folder / "pytorch_model.bin").read_bytes()
        assert at == local.rfind(b"PK\x05\x06")
        for needle, lo, hi in ((b"data.pkl", 0, None), (b"PK\x03\x04", 100, 5000), (b"absent\x00!", 0, None)):
            assert buf.rfind(needle, lo, hi) == local.rfind(needle, lo, hi), needle


def test_listing_paginates_with_link_headers(
    hub: LocalHub, settings: HubSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing part 2 crawls: huggingface_hub follows the Link headers to the last page."""
    from huggingface_hub import HfApi, constants

    # Other test modules set HF_HUB_OFFLINE before huggingface_hub is imported, which reads it once.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    start = len(hub.requests)
    ids = [m.id for m in HfApi(endpoint=settings.endpoint, token=False).list_models(limit=None)]
    assert sorted(ids) == sorted(hub.repos)
    pages = [p for _m, p, _r in hub.requests[start:] if p == "/api/models"]
    assert len(pages) >= 2


def test_token_sent_as_bearer(hub: LocalHub) -> None:
    http = HubHttp("hf_secret")
    try:
        assert http._client.headers["authorization"] == "Bearer hf_secret"
    finally:
        http.close()


def test_unreachable_hub_is_a_clear_error() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(HubUnavailable, match="no answer from the hub"):
        inspect_remote("hf://org/name", HubSettings(endpoint=f"http://127.0.0.1:{port}"))


def test_gated_repository_needs_the_token(hub: LocalHub, settings: HubSettings) -> None:
    from modelwarden.errors import HubNotFound

    hub.gated["org/gguf-model"] = "hf_test_token"
    try:
        facts = inspect_remote("hf://org/gguf-model", settings)  # settings carry that token
        assert facts.parameters.total == 4096 * 2048 + 2048
        with pytest.raises(HubNotFound) as info:
            inspect_remote("hf://org/gguf-model", HubSettings(endpoint=settings.endpoint))
        assert "HF_TOKEN" in (info.value.next_step or "")
    finally:
        hub.gated.clear()


def test_assess_remote_through_the_public_api(hub: LocalHub, settings: HubSettings) -> None:
    import datetime as dt

    from modelwarden.hub import assess_remote

    a = assess_remote("hf://org/torch-model", settings, as_of=dt.date(2026, 12, 1))
    assert a.facts is not None and a.facts.remote is not None
    assert a.scan is not None and any(f.rule_id.startswith("pickle.") for f in a.scan.findings)
    # The scan's reads are in the account: more than inspect alone, still a small share.
    assert 0 < a.facts.remote.bytes_read < a.facts.remote.bytes_held / 20


def test_paths_leaving_the_repository_are_not_fetched(tmp_path: Path, settings: HubSettings) -> None:
    """A hostile hub listing `../` or absolute names: nothing is written outside the temporary folder
    and nothing is requested for them."""
    from modelwarden.hub.client import HubFile, RepoSnapshot
    from modelwarden.hub.release import RemoteRelease

    files = [
        HubFile("../escape.json", 10, None, None),
        HubFile("a/../../b.json", 10, None, None),
        HubFile("/etc/passwd.txt", 10, None, None),
    ]
    http = HubHttp()
    remote = RemoteRelease(RepoSnapshot("org/x", "c" * 40, files), settings, http, tmp_path / "t")
    try:
        assert sorted(p.file for p in remote.release.problems if p.code == "unsafe_path") == sorted(
            f.rel for f in files
        )
        assert not remote.release.files and http.traffic.requests == 0
        assert [p.name for p in tmp_path.iterdir()] == ["t"]
    finally:
        remote.close()


def _per_file(hub: LocalHub, start: int, repo: str) -> tuple[dict[str, int], dict[str, int]]:
    """Requests per file since `start`: to `/resolve/` and to the storage (`/cdn/`) path."""
    resolves: dict[str, int] = {}
    storage: dict[str, int] = {}
    for _m, path, _r in hub.requests[start:]:
        if path.startswith(f"/{repo}/resolve/"):
            rel = path.split("/resolve/", 1)[1].split("/", 1)[1]
            resolves[rel] = resolves.get(rel, 0) + 1
        elif path.startswith(f"/cdn/{repo}/"):
            rel = path.removeprefix(f"/cdn/{repo}/")
            storage[rel] = storage.get(rel, 0) + 1
    return resolves, storage


def test_each_lfs_file_is_resolved_once_and_its_storage_url_reused(
    hub: LocalHub, settings: HubSettings
) -> None:
    # The hub counts every /resolve/ request against its rate limit: one per file, not one per range.
    start = len(hub.requests)
    from modelwarden.hub import assess_remote

    assess_remote("hf://org/torch-model", settings)
    resolves, storage = _per_file(hub, start, "org/torch-model")
    assert storage, "no LFS file was read by ranges"
    assert all(resolves[rel] == 1 for rel in storage), (resolves, storage)
    assert max(storage.values()) > 1  # several ranges of one file went to its storage URL directly


def test_an_expired_storage_url_is_resolved_again(hub: LocalHub, settings: HubSettings) -> None:
    fresh = inspect_remote("hf://org/torch-model", settings)
    hub.storage_uses = 1  # every pre-signed URL answers once, then 403 as an expired S3 URL does
    try:
        with open_release("hf://org/torch-model", settings) as remote:
            facts = inspect_release(remote.release)
            refreshed = remote.http.traffic.storage_refreshed
    finally:
        hub.storage_uses = None
    assert refreshed > 0
    assert facts.parameters == fresh.parameters
    assert [p.code for p in facts.problems] == [p.code for p in fresh.problems]


def test_the_token_never_reaches_the_storage_host(hub: LocalHub, settings: HubSettings) -> None:
    # localhost is another origin than 127.0.0.1 for the client: the redirect and every reuse of the
    # pre-signed URL must go there without the bearer token, as they would to the hub's storage.
    port = hub.endpoint.rsplit(":", 1)[1]
    hub.storage_origin = f"http://localhost:{port}"
    hub.gated["org/gguf-model"] = "hf_test_token"
    start = len(hub.authorization)
    try:
        facts = inspect_remote("hf://org/gguf-model", settings)
    finally:
        hub.storage_origin = ""
        hub.gated.clear()
    seen = hub.authorization[start:]
    assert facts.parameters.total == 4096 * 2048 + 2048
    assert any(p.startswith("/cdn/") for p, _ in seen)
    assert all(auth is None for p, auth in seen if p.startswith("/cdn/"))
    assert all(auth == "Bearer hf_test_token" for p, auth in seen if not p.startswith("/cdn/"))


def test_a_file_list_given_is_used_once_and_must_be_the_repositorys(
    hub: LocalHub, settings: HubSettings
) -> None:
    from modelwarden.hub.client import repo_snapshot

    http = HubHttp(settings.token)
    try:
        snapshot = repo_snapshot(parse_target("org/gguf-model"), settings, http)
    finally:
        http.close()
    with pytest.raises(UsageError, match="org/gguf-model"):
        open_release("hf://org/torch-model", settings, snapshot=snapshot)
    with open_release("hf://org/gguf-model", settings) as fetched:
        asked = fetched.http.traffic.requests
    start = len(hub.requests)
    with open_release("hf://org/gguf-model", settings, snapshot=snapshot) as remote:
        assert remote.http.traffic.requests == asked  # the file list's request counted, not sent again
    assert snapshot.requests == 1
    assert not any(p.startswith("/api/models/") for _m, p, _r in hub.requests[start:])
