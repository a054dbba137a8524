"""Assess many hub repositories as Ray tasks, into the registry (docs/crawl.md).

`run_crawl` takes repository ids (or a hub listing: author, search, sort, limit), and for each one
resolves the commit its revision names (one model-info request, made by the driver), skips it when the
registry already holds that commit (`registry.crawl.CrawlLog`), and otherwise submits a Ray task that
runs `assess_remote` on `org/name@commit` and returns the assessment (as JSON) or a typed failure. The
driver alone writes to the registry — one writer, whatever the database — and keeps at most `workers`
tasks in flight (`ray.wait`), so a crawl of 100,000 ids holds 100,000 ids, not 100,000 tasks.

Every request of every worker, and the driver's own, first asks one budget actor for a send time
(`hub.ratelimit`): the hub sees at most `requests_per_second`, and a `Retry-After` received by any
worker holds them all. A repository that fails (not found, gated, still throttled after the retries,
a registry refusal, a worker that died) is a logged failure, never the end of the crawl.

Ray is the `modelwarden[cluster]` extra, imported only here and only when a crawl runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from modelwarden.errors import ConfigurationError, HubUnavailable, ModelwardenError, UsageError
from modelwarden.hub.client import HubSettings, HubTarget, RepoSnapshot, parse_target
from modelwarden.hub.ratelimit import MIN_RATE

if TYPE_CHECKING:
    from modelwarden.rules.loader import RuleSet

# Workers a crawl may ask for: past this a typo, not a plan (a KubeRay cluster of 64 nodes × 8 is 512).
MAX_WORKERS = 4096


@dataclass(frozen=True)
class CrawlOptions:
    """What to crawl, where to record it, and how hard to press the hub."""

    ids: Sequence[str] | None = None
    """Repository ids `org/name[@rev]` (or `hf://…`); None: the hub listing below."""
    author: str | None = None
    """Listing: only this user's or organisation's repositories."""
    search: str | None = None
    """Listing: ids containing this text."""
    sort: str | None = "downloads"
    """Listing: sort key, most first (`downloads`, `likes`, `trending_score`, `created_at`, …)."""
    limit: int | None = None
    """Listing: at most this many repositories (None: up to the page cap, limits.MAX_LIST_PAGES)."""
    db_url: str | None = None
    """Registry URL (`--db`; default $MODELWARDEN_DB or the user data SQLite file)."""
    ray_address: str | None = None
    """A Ray cluster (`ray://head:10001`, `auto`); None: a local Ray started here and stopped after."""
    workers: int = 2
    """Tasks in flight at once (and the local Ray's CPUs)."""
    requests_per_second: float = 10.0
    """One request budget across the driver and all workers."""
    settings: HubSettings | None = None
    """Hub endpoint and token (default: HF_ENDPOINT, HF_TOKEN)."""
    as_of: dt.date | None = None
    """The date the law is applied as of (default: today)."""
    scan: bool = True
    """Run the safety scan as part of each assessment."""


@dataclass(frozen=True)
class CrawlFailure:
    """A repository that could not be assessed."""

    repo: str
    """`org/name`."""
    revision: str | None
    """The commit read (None when the revision could not be resolved)."""
    error: str
    """What went wrong, one line."""
    kind: str
    """The error's class (`HubNotFound`, `HubUnavailable`, `WorkerCrashedError`, …)."""


@dataclass(frozen=True)
class CrawlProgress:
    """Where a running crawl is (given to the progress callback after each repository)."""

    listed: int
    """Repositories to crawl."""
    done: int
    """Repositories finished (assessed, skipped or failed)."""
    assessed: int
    """Assessed and recorded in this run."""
    skipped: int
    """Already recorded at the same commit."""
    failed: int
    """Failed (logged)."""
    bytes_read: int
    """File bytes received by the assessments so far."""
    requests: int
    """HTTP requests so far (driver and workers)."""
    seconds: float
    """Time since the crawl started."""
    last: str | None = None
    """The repository just finished."""

    @property
    def repos_per_second(self) -> float:
        """Repositories finished per second."""
        return self.done / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class CrawlSummary:
    """What a crawl did."""

    listed: int
    """Repositories named (ids given, or returned by the listing)."""
    assessed: int
    """Assessed and recorded in this run."""
    skipped: int
    """Skipped: already recorded at the same commit."""
    failed: int
    """Failed and logged (tried again by the next crawl)."""
    bytes_read: int
    """File bytes received by the assessments (header ranges and small files; failures excluded)."""
    bytes_held: int
    """Total size of the assessed repositories' files."""
    requests: int
    """HTTP requests made (driver and workers, retries and redirects included)."""
    retries_429: int
    """Answers `429 Too Many Requests` received and waited out."""
    seconds: float
    """Wall time of the crawl."""
    failures: list[CrawlFailure] = field(default_factory=list)
    """Each failure, in the order they happened."""
    listing_complete: bool = True
    """False when a listing was cut by the page cap before its end."""
    assessment_ids: list[int] = field(default_factory=list)
    """Registry ids of the assessments recorded in this run."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class TaskOutcome:
    """What one Ray task returns to the driver."""

    repo: str
    """`org/name`."""
    revision: str
    """The commit read."""
    document: str | None
    """The assessment as JSON (None on failure): plain text crosses process and version boundaries."""
    error: str | None
    """Why the assessment failed."""
    kind: str | None
    """The error's class."""
    requests: int
    """HTTP requests the task made (retries and redirects included)."""
    throttled: int
    """Answers 429 the task received."""
    bytes_read: int
    """File bytes received (0 on failure: the read is abandoned with its client)."""
    bytes_held: int
    """Size of the repository's files."""


@functools.cache
def bundled_rules() -> RuleSet:
    """The bundled rule set, parsed once per worker process: Ray reuses a worker for many tasks, and
    parsing the rules again took 0.3 s of a repository's 0.8 s (benchmarks/results/hub_crawl.md)."""
    from modelwarden.rules import load_rules

    return load_rules(None)


def assess_task(
    snapshot: RepoSnapshot, settings: HubSettings, as_of: dt.date | None, scan: bool, budget: Any
) -> TaskOutcome:
    """The body of one Ray task: assess the repository at the snapshot's commit, from the file list
    the driver already fetched, with every request asking `budget` first.

    Any error is returned as a failure, never raised: a hostile repository may break a reader in a way
    no one foresaw, and that must cost one repository, not the crawl."""
    from modelwarden.hub import assess_remote
    from modelwarden.hub.ratelimit import ActorLimiter

    repo, revision = snapshot.repo_id, snapshot.commit
    limiter = ActorLimiter(budget)
    try:
        a = assess_remote(
            f"{repo}@{revision}",
            settings,
            as_of=as_of,
            scan=scan,
            limiter=limiter,
            rules=bundled_rules(),
            snapshot=snapshot,
        )
    except ModelwardenError as exc:
        return _failed(repo, revision, exc.message, type(exc).__name__, limiter)
    except Exception as exc:
        return _failed(repo, revision, f"{type(exc).__name__}: {exc}", type(exc).__name__, limiter)
    read = a.facts.remote if a.facts is not None else None
    return TaskOutcome(
        repo=repo,
        revision=revision,
        document=a.model_dump_json(by_alias=True),
        error=None,
        kind=None,
        requests=limiter.requests,
        throttled=limiter.throttled,
        bytes_read=read.bytes_read if read else 0,
        bytes_held=read.bytes_held if read else 0,
    )


def _failed(repo: str, revision: str, error: str, kind: str, limiter: Any) -> TaskOutcome:
    line = error.splitlines()[0] if error else kind
    return TaskOutcome(repo, revision, None, line, kind, limiter.requests, limiter.throttled, 0, 0)


def import_ray() -> Any:
    """Ray, or a ConfigurationError saying which extra installs it."""
    try:
        import ray
    except ImportError:
        raise ConfigurationError(
            "a crawl runs on Ray, which is not installed",
            next_step="install the cluster extra: pip install 'modelwarden[cluster]'",
        ) from None
    return ray


def _start_ray(ray: Any, options: CrawlOptions) -> bool:
    """Connect to Ray (or start a local one); True when this call started it (and must stop it)."""
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if options.ray_address:
            ray.init(address=options.ray_address, **quiet)
        else:
            # A local Ray without its dashboard, sized to the workers asked for.
            ray.init(num_cpus=options.workers, include_dashboard=False, **quiet)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError… by version
        where = options.ray_address or "a local Ray"
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigurationError(
            f"cannot start or reach {where}: {type(exc).__name__}: {first}",
            next_step="check --ray-address (ray://HEAD:10001 for a remote cluster) and that the cluster "
            "runs the same Ray and Python versions",
        ) from None
    return True


def _targets(options: CrawlOptions) -> list[HubTarget] | None:
    if options.ids is None:
        return None
    targets: dict[HubTarget, None] = {}  # each repository and revision once, in the order given
    for i, text in enumerate(options.ids, start=1):
        try:
            targets[parse_target(text)] = None
        except UsageError as exc:
            raise UsageError(f"repository id {i}: {exc.message}") from None
    return list(targets)


def _check(options: CrawlOptions) -> None:
    if not 1 <= options.workers <= MAX_WORKERS:
        raise UsageError(f"workers must be between 1 and {MAX_WORKERS}, not {options.workers}")
    if not options.requests_per_second >= MIN_RATE:
        raise UsageError(f"the request rate must be at least {MIN_RATE}/s, not {options.requests_per_second}")
    if options.limit is not None and options.limit < 1:
        raise UsageError(f"limit must be at least 1, not {options.limit}")


class _Crawl:
    """The driver's state: counters, the registry, progress."""

    def __init__(self, options: CrawlOptions, progress: Callable[[CrawlProgress], None] | None) -> None:
        from modelwarden.registry import Registry
        from modelwarden.registry.crawl import CrawlLog

        self.options = options
        self.progress = progress
        self.started = time.monotonic()
        self.registry = Registry(options.db_url)
        self.log = CrawlLog(self.registry)
        self.listed = self.assessed = self.skipped = 0
        self.bytes_read = self.bytes_held = self.requests = self.throttled = 0
        self.failures: list[CrawlFailure] = []
        self.ids: list[int] = []
        self.seen: set[tuple[str, str]] = set()  # (repository, commit) submitted in this run

    def report(self, last: str | None) -> None:
        if self.progress is None:
            return
        done = self.assessed + self.skipped + len(self.failures)
        self.progress(
            CrawlProgress(
                listed=self.listed,
                done=done,
                assessed=self.assessed,
                skipped=self.skipped,
                failed=len(self.failures),
                bytes_read=self.bytes_read,
                requests=self.requests,
                seconds=time.monotonic() - self.started,
                last=last,
            )
        )

    def fail(self, repo: str, revision: str | None, error: str, kind: str, *, requests: int = 0) -> None:
        from modelwarden.registry.crawl import CrawlEntry, CrawlStatus

        self.failures.append(CrawlFailure(repo, revision, error, kind))
        self.log.record(
            CrawlEntry(
                repo, revision or "", CrawlStatus.FAILED, error=error, error_kind=kind, requests=requests
            )
        )
        self.report(repo)

    def finish(self, outcome: TaskOutcome) -> None:
        from modelwarden.errors import InvalidAssessment
        from modelwarden.model import Assessment
        from modelwarden.registry.crawl import CrawlEntry, CrawlStatus

        self.requests += outcome.requests
        self.throttled += outcome.throttled
        if outcome.document is None:
            error, kind = outcome.error or "failed", outcome.kind or "Error"
            self.fail(outcome.repo, outcome.revision, error, kind, requests=outcome.requests)
            return
        try:
            ident = self.registry.save(Assessment.model_validate_json(outcome.document))
        except (InvalidAssessment, ValueError) as exc:
            self.fail(outcome.repo, outcome.revision, f"not recorded: {exc}", type(exc).__name__)
            return
        self.log.record(
            CrawlEntry(
                outcome.repo,
                outcome.revision,
                CrawlStatus.ASSESSED,
                bytes_read=outcome.bytes_read,
                requests=outcome.requests,
                assessment_id=ident,
            )
        )
        self.assessed += 1
        self.ids.append(ident)
        self.bytes_read += outcome.bytes_read
        self.bytes_held += outcome.bytes_held
        self.report(outcome.repo)

    def summary(self, listing_complete: bool) -> CrawlSummary:
        return CrawlSummary(
            listed=self.listed,
            assessed=self.assessed,
            skipped=self.skipped,
            failed=len(self.failures),
            bytes_read=self.bytes_read,
            bytes_held=self.bytes_held,
            requests=self.requests,
            retries_429=self.throttled,
            seconds=round(time.monotonic() - self.started, 3),
            failures=list(self.failures),
            listing_complete=listing_complete,
            assessment_ids=list(self.ids),
        )


def run_crawl(options: CrawlOptions, progress: Callable[[CrawlProgress], None] | None = None) -> CrawlSummary:
    """Assess every repository `options` names into the registry; see the module docstring.

    Raises UsageError (bad ids or options), ConfigurationError (Ray missing or unreachable),
    RegistryError (the database), HubError (the listing itself failed); a repository's own failure is
    in the summary and the crawl log, not raised."""
    _check(options)
    targets = _targets(options)
    settings = options.settings or HubSettings.from_env()
    if settings.offline:
        raise HubUnavailable(
            "HF_HUB_OFFLINE is set: the hub is not contacted",
            next_step="unset HF_HUB_OFFLINE to crawl the hub",
        )
    ray = import_ray()
    crawl = _Crawl(options, progress)
    try:
        started_ray = _start_ray(ray, options)
        try:
            return _drive(ray, crawl, targets, settings)
        finally:
            if started_ray:
                ray.shutdown()
    finally:
        crawl.registry.close()


def _drive(ray: Any, crawl: _Crawl, targets: list[HubTarget] | None, settings: HubSettings) -> CrawlSummary:
    from modelwarden.hub.listing import list_repo_ids
    from modelwarden.hub.ratelimit import ActorLimiter, ray_budget
    from modelwarden.hub.remote import HubHttp

    options = crawl.options
    budget = ray_budget(options.requests_per_second)
    limiter = ActorLimiter(budget)
    http = HubHttp(settings.token, limiter=limiter)
    try:
        complete = True
        if targets is None:
            listing = list_repo_ids(
                settings,
                http,
                author=options.author,
                search=options.search,
                sort=options.sort,
                limit=options.limit,
            )
            targets = [HubTarget(i, None) for i in listing.ids]
            complete = listing.complete
        crawl.listed = len(targets)
        _run_tasks(ray, crawl, deque(targets), settings, budget, http)
    finally:
        http.close()
        crawl.requests += limiter.requests
        crawl.throttled += limiter.throttled
        with contextlib.suppress(Exception):  # Ray itself may be what failed
            ray.kill(budget)
    return crawl.summary(complete)


def _run_tasks(
    ray: Any, crawl: _Crawl, pending: deque[HubTarget], settings: HubSettings, budget: Any, http: Any
) -> None:
    """Resolve, skip or submit, keeping at most `workers` tasks in flight; record each as it ends."""
    # One CPU per task: on a cluster, Ray places at most one assessment per CPU.
    task = ray.remote(num_cpus=1, max_retries=0)(assess_task)
    in_flight: dict[Any, tuple[str, str]] = {}
    try:
        _loop(ray, crawl, pending, settings, budget, http, task, in_flight)
    finally:
        # Interrupted (or the registry failed): tasks still running on a cluster are cancelled, not left
        # reading the hub for a driver that will not record them.
        for ref in in_flight:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


def _loop(
    ray: Any,
    crawl: _Crawl,
    pending: deque[HubTarget],
    settings: HubSettings,
    budget: Any,
    http: Any,
    task: Any,
    in_flight: dict[Any, tuple[str, str]],
) -> None:
    from modelwarden.hub.client import repo_snapshot

    options = crawl.options
    while pending or in_flight:
        while pending and len(in_flight) < options.workers:
            target = pending.popleft()
            try:
                # The file list pins the commit (skip or read?) and is handed to the task, which
                # would otherwise ask the hub for it a second time.
                snapshot = repo_snapshot(target, settings, http)
            except ModelwardenError as exc:
                crawl.fail(target.repo_id, target.revision, exc.message, type(exc).__name__)
                continue
            commit = snapshot.commit
            if (target.repo_id, commit) in crawl.seen or crawl.log.already_assessed(target.repo_id, commit):
                crawl.skipped += 1
                crawl.report(target.repo_id)
                continue
            crawl.seen.add((target.repo_id, commit))  # `org/x` and `org/x@main` are read once
            ref = task.remote(snapshot, settings, options.as_of, options.scan, budget)
            in_flight[ref] = (target.repo_id, commit)
        if not in_flight:
            continue
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in ready:
            repo, commit = in_flight.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:  # the worker died (out of memory, a crash)
                crawl.fail(repo, commit, f"the Ray task failed: {type(exc).__name__}", type(exc).__name__)
                continue
            crawl.finish(outcome)
