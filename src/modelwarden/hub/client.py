"""Which hub, which repository, which files: the hub's metadata through `huggingface_hub`.

`HubSettings.from_env` reads `HF_ENDPOINT` and `HF_TOKEN` (huggingface_hub's names, so mirrors and
private hubs work the same way) and passes them explicitly to every call: the library never changes
`os.environ`. `repo_snapshot` asks the hub for the repository at a revision with its files' metadata
(`model_info(files_metadata=True)`: size, git blob id, LFS sha256 of each file) and pins the commit
it names, so every later read is of the same revision even if a branch moves.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from modelwarden.errors import HubNotFound, HubUnavailable, UsageError
from modelwarden.hub.remote import MAX_RETRIES, MAX_WAIT_SECONDS, RETRY_STATUS, _retry_after_seconds

DEFAULT_ENDPOINT = "https://huggingface.co"
_TARGET = re.compile(
    r"^(?:hf:/+)?(?:models/)?(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<rev>[\w./%-]+))?/?$"
)


@dataclass(frozen=True)
class HubTarget:
    """A repository named on the command line: `hf://org/name[@rev]` or `org/name[@rev]`."""

    repo_id: str
    """`org/name`."""
    revision: str | None
    """A branch, tag or commit; None for the default branch."""


def parse_target(text: str) -> HubTarget:
    """`hf://org/name[@rev]` or `org/name[@rev]` → HubTarget (UsageError otherwise)."""
    m = _TARGET.match(text.strip())
    if m is None or ".." in m.group("repo"):
        raise UsageError(
            "not a hub repository id (expected hf://org/name[@revision] or org/name[@revision])", path=text
        )
    return HubTarget(m.group("repo"), m.group("rev"))


@dataclass(frozen=True)
class HubSettings:
    """Where the hub is and how to authenticate, passed explicitly (never through os.environ)."""

    endpoint: str = DEFAULT_ENDPOINT
    """Base URL of the hub (HF_ENDPOINT): the Hugging Face Hub, a mirror or a private hub."""
    token: str | None = field(default=None, repr=False)
    """Access token for gated or private repositories (HF_TOKEN); never printed."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        """Read HF_ENDPOINT and HF_TOKEN from `environ` (the process environment by default)."""
        env = os.environ if environ is None else environ
        endpoint = (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        return cls(endpoint=endpoint, token=env.get("HF_TOKEN") or None)


@dataclass(frozen=True)
class HubFile:
    """One file of a repository as the hub's metadata describes it."""

    rel: str
    """Path in the repository."""
    size: int
    """Size in bytes (of the LFS object for an LFS file)."""
    blob_id: str | None
    """The git blob id (SHA-1 of the git object: of the LFS pointer for an LFS file)."""
    lfs_sha256: str | None
    """The LFS object's SHA-256 as the hub records it; None for a file stored in git itself."""


@dataclass(frozen=True)
class RepoSnapshot:
    """A repository pinned at one commit, with its files."""

    repo_id: str
    """`org/name`."""
    commit: str
    """The commit every read is made at."""
    files: list[HubFile]
    """Every file the hub lists, sorted by path."""


def repo_snapshot(
    target: HubTarget, settings: HubSettings, *, sleep: Callable[[float], None] = time.sleep
) -> RepoSnapshot:
    """The repository's files at the target revision (retrying 429/5xx as `HubHttp` does)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    # token=False: no token unless given (not one read from a file the user did not name here).
    api = HfApi(endpoint=settings.endpoint, token=settings.token or False)
    where = f"{settings.endpoint}: {target.repo_id}" + (f"@{target.revision}" if target.revision else "")
    for attempt in range(MAX_RETRIES + 1):
        try:
            info = api.model_info(target.repo_id, revision=target.revision, files_metadata=True)
            break
        except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError) as exc:
            raise HubNotFound(
                f"no such repository or revision, or no access ({type(exc).__name__})",
                path=where,
                next_step="check the repository id and revision; a gated or private repository needs "
                "a token with access (HF_TOKEN)",
            ) from None
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status not in RETRY_STATUS or attempt == MAX_RETRIES:
                raise HubUnavailable(f"the hub answered {status}: {str(exc)[:200]}", path=where) from None
            delay = _retry_after_seconds(exc.response.headers.get("retry-after") if exc.response else None)
            delay = min(0.5 * 2**attempt, 8.0) if delay is None else delay
            if delay > MAX_WAIT_SECONDS:
                raise HubUnavailable(f"the hub asks to wait {delay:.0f} s", path=where) from None
            sleep(delay)
        except Exception as exc:
            # Connection refused, DNS, offline mode: huggingface_hub lets its HTTP client's transport
            # errors through (httpx's, or httpx2's in huggingface_hub 2), and OSErrors of its own.
            if not (isinstance(exc, OSError) or type(exc).__module__.split(".")[0].startswith("httpx")):
                raise
            raise HubUnavailable(
                f"no answer from the hub ({type(exc).__name__}: {exc})", path=where
            ) from None
    commit = info.sha
    if not commit or info.siblings is None:
        raise HubUnavailable("the hub's answer names no commit or no files", path=where)
    files = []
    for s in info.siblings:
        if s.size is None:
            raise HubUnavailable(f"the hub gives no size for {s.rfilename!r}", path=where)
        files.append(
            HubFile(
                rel=s.rfilename,
                size=s.lfs.size if s.lfs is not None else s.size,
                blob_id=s.blob_id,
                lfs_sha256=s.lfs.sha256 if s.lfs is not None else None,
            )
        )
    return RepoSnapshot(repo_id=target.repo_id, commit=commit, files=sorted(files, key=lambda f: f.rel))


def file_url(settings: HubSettings, repo_id: str, commit: str, rel: str) -> str:
    """The `resolve` URL of a file at a commit (huggingface_hub's own construction)."""
    from huggingface_hub import hf_hub_url

    return str(hf_hub_url(repo_id, rel, revision=commit, endpoint=settings.endpoint))
