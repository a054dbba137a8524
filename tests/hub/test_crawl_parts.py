"""The crawl's parts without Ray: the request schedule, the hub listing, the crawl log, the CLI's
refusals (a child `modelwarden` process that must stop before starting Ray)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from modelwarden.errors import ConfigurationError, HubUnavailable, UsageError
from modelwarden.hub import HubSettings
from modelwarden.hub.client import repo_snapshot
from modelwarden.hub.crawl import CrawlOptions, import_ray, run_crawl
from modelwarden.hub.listing import list_repo_ids
from modelwarden.hub.ratelimit import LocalLimiter, Schedule
from modelwarden.hub.remote import HubHttp
from modelwarden.registry import Registry
from modelwarden.registry.crawl import CrawlBase, CrawlEntry, CrawlLog, CrawlStatus
from tests.hub.server import LocalHub
from tests.registry.support import fresh_postgres_database

# --- the schedule ---------------------------------------------------------------------------------


class FakeClock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_schedule_spaces_send_times_by_the_rate_and_a_pause_moves_them_all() -> None:
    clock = FakeClock()
    s = Schedule(4.0, clock)
    assert [s.reserve() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    clock.now += 2.0  # idle: no credit is saved up (a burst after a quiet spell is still paced)
    assert [s.reserve(), s.reserve()] == [0.0, 0.25]
    s.pause(3.0)
    assert s.reserve() == 3.0  # every caller, whoever was throttled
    s.pause(1.0)  # a shorter wait does not shorten the longer one
    assert s.reserve() == 3.25
    assert (s.stats.granted, s.stats.pauses) == (8, 2)


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), 0.001])
def test_schedule_refuses_a_rate_that_is_no_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="at least"):
        Schedule(rate)


def test_local_limiter_paces_threads_together() -> None:
    limiter = LocalLimiter(20.0)
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent.sort()
    assert len(sent) == 20
    assert sent[-1] - sent[0] >= 19 / 20 - 0.02  # 20 sends at 20/s take 0.95 s, not 4 × faster


# --- the listing ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def list_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """A hub listing seven repositories of two authors (their files are never read here)."""
    base = tmp_path_factory.mktemp("listing")
    hub = LocalHub()
    for n, repo_id in enumerate(["a/one", "a/two", "a/three", "a/four", "a/five", "b/six", "b/seven"]):
        folder = base / repo_id.replace("/", "__")
        folder.mkdir()
        (folder / "README.md").write_text("# x\n")
        hub.add(repo_id, folder, commit=f"{n + 1:040x}", downloads=n)
    hub.start()
    yield hub
    hub.stop()


def _http(hub: LocalHub) -> tuple[HubSettings, HubHttp]:
    hub.throttle = 0
    return HubSettings(endpoint=hub.endpoint, token="t"), HubHttp("t", sleep=lambda s: None)


def test_listing_follows_link_pages_with_author_search_sort_and_limit(list_hub: LocalHub) -> None:
    settings, http = _http(list_hub)
    before = len(list_hub.requests)
    everything = list_repo_ids(settings, http, sort=None)
    assert everything.ids == sorted(list_hub.repos) and everything.complete
    by_a = list_repo_ids(settings, http, author="a", sort="downloads")
    assert by_a.ids == ["a/five", "a/four", "a/three", "a/two", "a/one"]  # most downloaded first
    top = list_repo_ids(settings, http, author="a", sort="downloads", limit=3)
    assert top.ids == ["a/five", "a/four", "a/three"] and top.complete and top.pages == 1
    found = list_repo_ids(settings, http, search="SEV", sort=None)
    assert found.ids == ["b/seven"]
    listing_paths = [p for _, p, _ in list_hub.requests[before:]]
    assert set(listing_paths) == {"/api/models"}
    http.close()


def test_listing_stops_at_the_page_cap_and_says_so(list_hub: LocalHub) -> None:
    settings, http = _http(list_hub)
    cut = list_repo_ids(settings, http, sort=None, page_size=2, max_pages=2)
    assert (cut.ids, cut.pages, cut.complete) == (sorted(list_hub.repos)[:4], 2, False)
    whole = list_repo_ids(settings, http, sort=None, page_size=2)
    assert (len(whole.ids), whole.pages, whole.complete) == (7, 4, True)
    enough = list_repo_ids(settings, http, sort=None, page_size=2, max_pages=3, limit=5)
    assert (len(enough.ids), enough.pages, enough.complete) == (5, 3, True)
    http.close()


def test_a_next_page_on_another_host_is_refused(tmp_path: Path) -> None:
    """A hub (or a man in the middle of a mirror) whose Link header points elsewhere: the token would
    follow the request there."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def models(request: object) -> JSONResponse:
        return JSONResponse([{"id": "a/b"}], headers={"Link": '<http://evil.example/api/models>; rel="next"'})

    hub = LocalHub()
    hub.app = lambda: Starlette(routes=[Route("/api/models", models)])  # type: ignore[method-assign]
    hub.start()
    try:
        settings, http = HubSettings(endpoint=hub.endpoint, token="t"), HubHttp("t")
        with pytest.raises(HubUnavailable, match="another host"):
            list_repo_ids(settings, http, sort=None)
        http.close()
    finally:
        hub.stop()


def test_a_listing_entry_that_is_not_a_repository_id_is_refused(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def models(request: object) -> JSONResponse:
        return JSONResponse([{"id": "../../etc/passwd"}])

    hub = LocalHub()
    hub.app = lambda: Starlette(routes=[Route("/api/models", models)])  # type: ignore[method-assign]
    hub.start()
    try:
        with pytest.raises(UsageError, match="not a hub repository id"):
            list_repo_ids(HubSettings(endpoint=hub.endpoint), HubHttp(None), sort=None)
    finally:
        hub.stop()


def test_an_unknown_sort_key_is_a_usage_error(list_hub: LocalHub) -> None:
    settings, http = _http(list_hub)
    with pytest.raises(UsageError, match="cannot sort"):
        list_repo_ids(settings, http, sort="sha")


def test_the_snapshot_pins_the_revision_and_honours_a_429(list_hub: LocalHub) -> None:
    from modelwarden.hub.client import parse_target

    settings, _ = _http(list_hub)
    waits: list[float] = []
    limiter = LocalLimiter(1000.0)
    limiter.pause = lambda seconds, *, throttled=True: waits.append(seconds)  # type: ignore[method-assign]
    http = HubHttp("t", sleep=lambda s: None, limiter=limiter)
    list_hub.throttle = 2
    assert repo_snapshot(parse_target("a/two"), settings, http).commit == f"{2:040x}"
    assert waits == [1.0, 1.0]  # each Retry-After reached the shared budget
    assert http.traffic.throttled == 2
    assert repo_snapshot(parse_target("a/two@main"), settings, http).commit == f"{2:040x}"
    http.close()


# --- the crawl log ----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty registry database: a SQLite file or a fresh database on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crawl.sqlite3'}"
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url


def test_crawl_log_records_replaces_and_answers_already_assessed(db: str) -> None:
    import random

    from tests.registry.factory import make_assessment

    with Registry(db) as reg:
        log = CrawlLog(reg)
        assert not log.already_assessed("org/x", "a" * 40)
        log.record(
            CrawlEntry("org/x", "a" * 40, CrawlStatus.FAILED, error="the hub answered 404", error_kind="K")
        )
        assert not log.already_assessed("org/x", "a" * 40)  # a failure is tried again
        log.record(
            CrawlEntry("org/x", "a" * 40, CrawlStatus.ASSESSED, bytes_read=10, requests=3, assessment_id=1)
        )
        assert log.already_assessed("org/x", "a" * 40)
        assert not log.already_assessed("org/x", "b" * 40)  # another commit is another release
        [entry] = log.entries()
        assert (entry.status, entry.error, entry.bytes_read) == (CrawlStatus.ASSESSED, None, 10)
        # An assessment saved by `assess --remote --save` (name = repository, version = commit) counts.
        reg.save(make_assessment(random.Random(1), name="org/y", version="c" * 40))
        assert log.already_assessed("org/y", "c" * 40)
        log.record(CrawlEntry("org/z", "", CrawlStatus.FAILED, error="x" * 5000, error_kind="HubNotFound"))
        failed = log.entries(CrawlStatus.FAILED)
        assert [e.repo for e in failed] == ["org/z"] and len(failed[0].error or "") == 2000


def test_crawl_migration_creates_exactly_the_crawl_table(db: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with Registry(db) as reg, reg.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        diffs = [
            d
            for d in compare_metadata(ctx, CrawlBase.metadata)
            if not (d[0] == "remove_table" and d[1].name != "crawl_repos") and d[0] != "remove_index"
        ]
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("crawl_repos")}
        assert conn.execute(text("select count(*) from crawl_repos")).scalar_one() == 0
    assert diffs == []
    assert "ix_crawl_repos_status" in indexes


# --- refusals before anything starts -------------------------------------------------------------


def test_without_ray_the_crawl_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without the extra has
    with pytest.raises(ConfigurationError, match="not installed") as exc:
        import_ray()
    assert "modelwarden[cluster]" in (exc.value.next_step or "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (CrawlOptions(ids=["org/ok", "not an id"]), "repository id 2"),
        (CrawlOptions(ids=["org/ok"], workers=0), "workers"),
        (CrawlOptions(ids=["org/ok"], requests_per_second=0), "request rate"),
        (CrawlOptions(limit=0), "limit"),
    ],
)
def test_bad_options_are_usage_errors_before_ray_starts(options: CrawlOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        run_crawl(options)


def test_an_offline_hub_is_not_crawled() -> None:
    with pytest.raises(HubUnavailable, match="HF_HUB_OFFLINE"):
        run_crawl(CrawlOptions(ids=["org/x"], settings=HubSettings(offline=True)))


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    return subprocess.run(
        [sys.executable, "-m", "modelwarden", "crawl", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "COLUMNS": "200", "HF_ENDPOINT": "http://127.0.0.1:9"},
        stdin=subprocess.DEVNULL,
    )


def test_cli_refuses_bad_input_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("org/fine\nnot//an id\n")
    bad = _cli(ids, "--db", f"sqlite:///{tmp_path / 'r.db'}")
    assert bad.returncode == 2 and "repository id 2" in bad.stderr and "Traceback" not in bad.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    assert "names no repository" in _cli(empty).stderr
    both = _cli(ids, "--author", "org")
    assert both.returncode == 2 and "not both" in both.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    blocked = _cli(fifo)  # a FIFO is refused, never read (it would block)
    assert blocked.returncode == 2 and "cannot read the ids file" in blocked.stderr
