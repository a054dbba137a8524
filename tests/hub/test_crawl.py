"""`run_crawl` and `modelwarden crawl` on a real local Ray (2 CPUs) against the local hub.

One Ray session serves the module (Ray takes seconds to start on this machine); the first test runs
before it and checks that a crawl starts and stops its own local Ray. Repositories are tiny (a card, a
config and four 16 KB safetensors shards), so the time goes to Ray and the rate budget, not to reading.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelwarden.hub import HubSettings, assess_remote
from modelwarden.hub.crawl import CrawlOptions, CrawlProgress, run_crawl
from modelwarden.registry import Registry
from modelwarden.registry.crawl import CrawlLog, CrawlStatus
from tests.hub.conftest import CARD, CONFIG
from tests.hub.server import LocalHub

GOOD = {"org/alpha": 30, "org/beta": 20, "org/gamma": 10, "other/delta": 40}


def _tiny(folder: Path, seed: int) -> None:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    (folder / "README.md").write_text(CARD)
    for shard in range(4):  # four ranged files: a repository costs about a dozen requests
        tensors = {f"w{shard}": np.full((64, 64), seed, np.float32)}
        save_file(tensors, str(folder / f"model-{shard + 1:05d}-of-00004.safetensors"))


@pytest.fixture(scope="module")
def crawl_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """A local hub with four good repositories and one whose config.json the hub lists but cannot serve
    (404 on its file: the assessment fails)."""
    base = tmp_path_factory.mktemp("crawl-repos")
    hub = LocalHub()
    for n, (repo_id, downloads) in enumerate(GOOD.items()):
        folder = base / repo_id.replace("/", "__") / repo_id.split("/")[1]
        _tiny(folder, n)
        hub.add(repo_id, folder, commit=f"{n + 1:040x}", downloads=downloads)
    broken = base / "org__broken" / "broken"
    _tiny(broken, 9)
    hub.add("org/broken", broken, commit="b" * 40)
    (broken / "config.json").unlink()  # listed with its size and blob id, answered 404
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def hub_settings(crawl_hub: LocalHub) -> HubSettings:
    """Settings naming the crawl's hub; the hub's throttle and clocks reset."""
    crawl_hub.throttle = 0
    crawl_hub.throttle_at.clear()
    crawl_hub.times.clear()
    crawl_hub.statuses.clear()
    return HubSettings(endpoint=crawl_hub.endpoint, token="hf_test_token")


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray with 2 CPUs for the module's crawls (they find it running and leave it running)."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    yield
    ray.shutdown()


def test_a_crawl_starts_its_own_local_ray_and_stops_it(hub_settings: HubSettings, tmp_path: Path) -> None:
    import ray

    assert not ray.is_initialized(), "run this test before the module's Ray session starts"
    db = f"sqlite:///{tmp_path / 'own.sqlite3'}"
    summary = run_crawl(CrawlOptions(ids=["org/alpha"], db_url=db, settings=hub_settings, workers=2))
    assert (summary.assessed, summary.failed) == (1, 0)
    assert not ray.is_initialized()


def test_crawl_records_each_repository_as_assess_remote_reads_it_and_logs_failures(
    ray_session: None, hub_settings: HubSettings, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'crawl.sqlite3'}"
    # org/alpha twice: by name and by branch, the same commit, read once.
    ids = ["org/alpha", "hf://org/beta", "org/broken", "nobody/missing", "org/gamma@main", "org/alpha@main"]
    seen: list[CrawlProgress] = []
    summary = run_crawl(
        CrawlOptions(ids=ids, db_url=db, settings=hub_settings, requests_per_second=50, workers=2),
        progress=seen.append,
    )
    assert (summary.listed, summary.assessed, summary.skipped, summary.failed) == (6, 3, 1, 2)
    failed = {f.repo: f for f in summary.failures}
    assert failed["org/broken"].kind == "HubNotFound" and "config.json" in failed["org/broken"].error
    assert failed["org/broken"].revision == "b" * 40
    assert failed["nobody/missing"].kind == "HubNotFound" and failed["nobody/missing"].revision is None
    assert [p.done for p in seen] == [1, 2, 3, 4, 5, 6]
    assert seen[-1].bytes_read == summary.bytes_read > 0

    with Registry(db) as reg:
        stored = {reg.get(i).subject.name: reg.get(i) for i in summary.assessment_ids}
        log = CrawlLog(reg)
        entries = {e.repo: e for e in log.entries()}
    assert set(stored) == {"org/alpha", "org/beta", "org/gamma"}
    for repo_id, a in stored.items():
        direct = assess_remote(repo_id, hub_settings)
        assert a.subject == direct.subject
        assert a.subject.version == f"{list(GOOD).index(repo_id) + 1:040x}"
        assert a.facts == direct.facts  # remote read included: same bytes, same requests
        assert a.scan is not None and direct.scan is not None
        assert a.scan.findings == direct.scan.findings
    assert entries["org/broken"].status is CrawlStatus.FAILED
    assert entries["org/broken"].error_kind == "HubNotFound"
    assert entries["nobody/missing"].revision == ""
    assert entries["org/alpha"].status is CrawlStatus.ASSESSED
    assert entries["org/alpha"].assessment_id in summary.assessment_ids
    assert entries["org/alpha"].requests >= 4  # info, config, card, a range (and its redirect)

    # Resumed: what is recorded at the same commit is skipped; failures are tried again.
    again = run_crawl(CrawlOptions(ids=ids, db_url=db, settings=hub_settings, requests_per_second=50))
    assert (again.assessed, again.skipped, again.failed) == (0, 4, 2)
    assert again.bytes_read == 0
    # A new repository in the list: only it is read.
    third = run_crawl(
        CrawlOptions(ids=[*ids, "other/delta"], db_url=db, settings=hub_settings, requests_per_second=50)
    )
    assert (third.assessed, third.skipped, third.failed) == (1, 4, 2)
    with Registry(db) as reg:
        assert reg.get(third.assessment_ids[0]).subject.name == "other/delta"
        assert reg.count() == 4


def test_a_429_storm_pauses_every_worker_and_the_rate_never_exceeds_the_budget(
    ray_session: None, crawl_hub: LocalHub, hub_settings: HubSettings, tmp_path: Path
) -> None:
    rate = 8.0
    # Mid-crawl, while both workers read: one 429 (whoever gets it, the others must hold too), then a
    # storm of five 429s in a row to whoever asks.
    crawl_hub.throttle_at.update({8: 1, 20: 5})
    summary = run_crawl(
        CrawlOptions(
            ids=list(GOOD),
            db_url=f"sqlite:///{tmp_path / 'storm.sqlite3'}",
            settings=hub_settings,
            requests_per_second=rate,
            workers=2,
        )
    )
    assert (summary.assessed, summary.failed) == (4, 0), summary.failures
    assert summary.retries_429 == 6
    times, statuses = list(crawl_hub.times), list(crawl_hub.statuses)
    assert statuses.count(429) == 6 and statuses[7] == 429
    assert len(times) == summary.requests  # every request the hub saw was counted by the crawl
    # The hub's view: send times are 1/rate apart, so any one-second window holds `rate` of them plus
    # the one that opens it; one more is allowed for a sender that woke late on this busy 2-core
    # machine (arrival = send time + a variable delay). Unpaced, 2 workers send 40 and more a second.
    worst = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert worst <= rate + 2, worst
    # Retry-After: 1 held every worker, not only the throttled one: after the lone 429 only the send
    # times already handed out (at most one per other requester, 1/rate apart) arrive, then nothing
    # until the second has passed; without the shared pause the other worker would go on at `rate`.
    lone = times[7]
    # (Send times handed out before the pause end by lone + 2/rate; 0.5 s leaves room for late wake-ups.)
    assert [t - lone for t in times if lone + 0.5 < t < lone + 0.9] == []
    assert any(t >= lone + 0.9 for t in times)


def test_crawl_of_a_hub_listing_by_author_sorted_by_downloads(
    ray_session: None, hub_settings: HubSettings, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'listing.sqlite3'}"
    summary = run_crawl(
        CrawlOptions(
            author="org", sort="downloads", limit=2, db_url=db, settings=hub_settings, requests_per_second=50
        )
    )
    assert (summary.listed, summary.assessed) == (2, 2)
    with Registry(db) as reg:
        names = [reg.get(i).subject.name for i in summary.assessment_ids]
    assert sorted(names) == ["org/alpha", "org/beta"]  # org's two most downloaded (30, 20)


def _cli(hub: LocalHub, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m modelwarden crawl ARGS` in a child process, HF_ENDPOINT naming the local hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    return subprocess.run(
        [sys.executable, "-m", "modelwarden", "crawl", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "COLUMNS": "200", "HF_ENDPOINT": hub.endpoint},
        stdin=subprocess.DEVNULL,
    )


def test_cli_crawl_on_a_running_ray_by_address_exits_1_when_some_failed(
    ray_session: None, crawl_hub: LocalHub, hub_settings: HubSettings, tmp_path: Path
) -> None:
    """The command as a user runs it against a cluster: `--ray-address` names the module's Ray (a
    second driver joins it, as `ray://…` or a RayJob entrypoint does on KubeRay)."""
    import ray

    address = ray.get_runtime_context().gcs_address
    ids = tmp_path / "ids.txt"
    ids.write_text("# models to read\norg/alpha\n\norg/broken   # its config.json is missing\n")
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    common = ("--db", db, "--rate", "50", "--ray-address", address)
    first = _cli(crawl_hub, ids, *common, "-f", "json")
    assert first.returncode == 1, first.stderr
    doc = json.loads(first.stdout)
    assert (doc["listed"], doc["assessed"], doc["failed"]) == (2, 1, 1)
    assert doc["failures"][0]["repo"] == "org/broken" and doc["failures"][0]["kind"] == "HubNotFound"
    assert "repos/s" in first.stderr and "bytes read" in first.stderr
    again = _cli(crawl_hub, ids, *common)
    assert again.returncode == 1, again.stderr
    assert "skipped (already recorded)" in again.stdout and "failed org/broken@" in again.stdout
    listing = _cli(crawl_hub, *common, "--author", "other", "--limit", "1")
    assert listing.returncode == 0, listing.stderr
    assert ray.is_initialized()  # the drivers that joined left the cluster running


@pytest.mark.postgres
def test_crawl_into_postgresql_and_resume(
    ray_session: None, hub_settings: HubSettings, postgres_url: str
) -> None:
    from tests.registry.support import fresh_postgres_database

    with fresh_postgres_database(postgres_url) as db:
        options = CrawlOptions(
            ids=["org/alpha", "org/broken"], db_url=db, settings=hub_settings, requests_per_second=50
        )
        first = run_crawl(options)
        assert (first.assessed, first.failed) == (1, 1)
        again = run_crawl(options)
        assert (again.assessed, again.skipped, again.failed) == (0, 1, 1)
        with Registry(db) as reg:
            assert reg.count() == 1
            assert {e.repo: e.status for e in CrawlLog(reg).entries()} == {
                "org/alpha": CrawlStatus.ASSESSED,
                "org/broken": CrawlStatus.FAILED,
            }
