"""A hub repository as a `Release`, read without downloading its weights.

`open_release("hf://org/name@rev")` asks the hub for the repository's files at a revision and pins the
commit. Small text files (config, card, tokenizer config, licence, code) are fetched whole into a
temporary folder — the inspect stage reads them as it reads a local folder — and checked against
the hub's git blob id. Every other file becomes a `ReleaseFile` whose bytes come from a `RemoteFile`
(HTTP Range requests for the headers the readers ask for) and whose SHA-256 is the hub's LFS record.
`RemoteRelease.remote_read()` says what was read against what the repository holds.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from types import TracebackType

from modelwarden.errors import HubUnavailable, UsageError
from modelwarden.hub.client import HubSettings, RepoSnapshot, file_url, parse_target, repo_snapshot
from modelwarden.hub.remote import ExtentBudget, HubHttp, Limiter, RemoteFile
from modelwarden.limits import MAX_JSON_BYTES
from modelwarden.model import Problem, RemoteRead
from modelwarden.release import Release, ReleaseFile, from_files

# Files fetched whole: what the inspect stage parses as text (docs/hub.md "What is read").
_TEXT_SUFFIXES = (".json", ".md", ".txt", ".yaml", ".yml", ".py", ".jinja", ".cfg", ".toml", ".gitattributes")
_TEXT_NAMES = ("license", "licence", "copying", "notice", "readme", "use_policy")


def is_small_text(rel: str, size: int, *, lfs: bool) -> bool:
    """Whether a file is fetched whole: a text kind by name, stored in git (not LFS), under the cap."""
    name = PurePosixPath(rel).name.lower()
    texty = name.endswith(_TEXT_SUFFIXES) or name.split(".")[0] in _TEXT_NAMES
    return texty and not lfs and size <= MAX_JSON_BYTES


def git_blob_id(data: bytes) -> str:
    """The git object id of a blob with this content (what the hub reports as `blobId`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class RemoteRelease:
    """A hub repository opened for reading: `release` for the stages, `remote_read()` for the cost.

    A context manager: leaving it closes the HTTP client and removes the temporary folder."""

    def __init__(self, snapshot: RepoSnapshot, settings: HubSettings, http: HubHttp, tmp: Path) -> None:
        self.snapshot = snapshot
        self.settings = settings
        self.http = http
        self._tmp = tmp
        self.sources: dict[str, RemoteFile] = {}
        """The files read by byte ranges, by path in the repository."""
        self.whole: list[str] = []
        """The files fetched whole."""
        self.budget = ExtentBudget()
        """Long reads the repository's files keep between them (inspect and the scan share them)."""
        self.release = self._build()

    @property
    def display(self) -> str:
        """`hf://org/name@commit`."""
        return f"hf://{self.snapshot.repo_id}@{self.snapshot.commit}"

    def _build(self) -> Release:
        snap = self.snapshot
        root = self._tmp / snap.repo_id.split("/")[-1]  # the folder name is the model's default name
        root.mkdir(parents=True)
        files: list[ReleaseFile] = []
        problems: list[Problem] = []
        for hf in snap.files:
            rel = hf.rel
            parts = PurePosixPath(rel).parts
            if not parts or rel.startswith("/") or ".." in parts:
                problems.append(Problem(file=rel, code="unsafe_path", message="path escapes the repository"))
                continue
            url = file_url(self.settings, snap.repo_id, snap.commit, rel)
            path = root.joinpath(*parts)
            if is_small_text(rel, hf.size, lfs=hf.lfs_sha256 is not None):
                data = self.http.get_whole(url, cap=MAX_JSON_BYTES)
                if hf.blob_id is not None and git_blob_id(data) != hf.blob_id:
                    raise HubUnavailable(
                        f"{rel}: the bytes served do not match the hub's git blob id {hf.blob_id}",
                        path=self.display,
                    )
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                self.whole.append(rel)
                files.append(ReleaseFile(rel, path))
                continue
            src = RemoteFile(self.http, url, name=f"{self.display}/{rel}", size=hf.size, budget=self.budget)
            self.sources[rel] = src
            files.append(ReleaseFile(rel, path, source=src, host_sha256=hf.lfs_sha256))
        release = from_files(self.display, root, files, problems, display=self.display)
        release.repo_id = snap.repo_id
        release.revision = snap.commit
        return release

    def remote_read(self) -> RemoteRead:
        """What has been read so far, beside what the repository holds."""
        held = sum(f.size for f in self.snapshot.files)
        unverified = [
            f"{rel}: SHA-256 from the hub's LFS metadata, not recomputed from the bytes"
            for rel, f in sorted(self.sources.items())
            if any(h.rel == rel and h.lfs_sha256 for h in self.snapshot.files)
        ]
        unverified += [
            f"{rel}: stored in git, read by ranges: no SHA-256 recorded (its git blob id is {h.blob_id})"
            for h in self.snapshot.files
            if (rel := h.rel) in self.sources and h.lfs_sha256 is None
        ]
        return RemoteRead(
            endpoint=self.settings.endpoint,
            repo_id=self.snapshot.repo_id,
            commit=self.snapshot.commit,
            bytes_held=held,
            bytes_read=self.http.traffic.bytes_received,
            requests=self.http.traffic.requests,
            files_ranged=len(self.sources),
            files_whole=len(self.whole),
            not_verified=unverified,
        )

    def close(self) -> None:
        """Close the HTTP client and remove the fetched small files."""
        self.http.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> RemoteRelease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_release(
    target: str,
    settings: HubSettings | None = None,
    *,
    limiter: Limiter | None = None,
    snapshot: RepoSnapshot | None = None,
) -> RemoteRelease:
    """Open `hf://org/name[@rev]` (or `org/name[@rev]`) on the hub `settings` name (HF_ENDPOINT by
    default) for reading by ranges; every request asks `limiter` first when one is given (a crawl's
    shared budget). `snapshot`: the repository's file list already fetched (the crawl's driver fetches
    it to decide whether to read the repository at all), so it is not asked for twice.
    Raises HubNotFound / HubUnavailable / UsageError."""
    settings = settings or HubSettings.from_env()
    hub_target = parse_target(target)
    if snapshot is not None and snapshot.repo_id != hub_target.repo_id:
        raise UsageError(f"the file list given is {snapshot.repo_id!r}'s, not {hub_target.repo_id!r}'s")
    http = HubHttp(settings.token, limiter=limiter)
    tmp: Path | None = None
    try:
        if snapshot is None:
            snapshot = repo_snapshot(hub_target, settings, http)
        else:
            http.traffic.requests += snapshot.requests  # fetched elsewhere, still this read's cost
        tmp = Path(tempfile.mkdtemp(prefix="modelwarden-hub-"))
        return RemoteRelease(snapshot, settings, http, tmp)
    except BaseException:
        http.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
