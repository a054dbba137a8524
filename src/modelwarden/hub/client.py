"""Which hub, which repository, which files: the hub's metadata through `huggingface_hub`.

`HubSettings.from_env` reads `HF_ENDPOINT` and `HF_TOKEN` (huggingface_hub's names, so mirrors and
private hubs work the same way) and passes them explicitly to every call: the library never changes
`os.environ`. `repo_snapshot` asks the hub for the repository at a revision with its files' metadata
(what `model_info(files_metadata=True)` asks: size, git blob id, LFS sha256 of each file) and pins
the commit it names, so every later read is of the same revision even if a branch moves.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from modelwarden.errors import HubUnavailable, UsageError
from modelwarden.hub.remote import HubHttp
from modelwarden.limits import MAX_JSON_BYTES

DEFAULT_ENDPOINT = "https://huggingface.co"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
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
    offline: bool = False
    """HF_HUB_OFFLINE: the hub must not be contacted (a remote read is refused)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        """Read HF_ENDPOINT and HF_TOKEN from `environ` (the process environment by default)."""
        env = os.environ if environ is None else environ
        endpoint = (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        offline = (env.get("HF_HUB_OFFLINE") or "").strip().upper() in ("1", "ON", "YES", "TRUE")
        return cls(endpoint=endpoint, token=env.get("HF_TOKEN") or None, offline=offline)


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
    requests: int = 0
    """Requests fetching this file list took (retries included): part of what reading the repository
    cost, whoever reads it next."""


def repo_snapshot(target: HubTarget, settings: HubSettings, http: HubHttp) -> RepoSnapshot:
    """The repository's files at the target revision: the request huggingface_hub's
    `HfApi.model_info(files_metadata=True)` makes (`/api/models/{repo}[/revision/{rev}]?blobs=true`),
    sent through `http` (its retries, its byte count, the settings' token — not huggingface_hub's
    session, whose offline switch is read once at import from the process environment), and its answer
    parsed by huggingface_hub's own `ModelInfo`."""
    from huggingface_hub.hf_api import ModelInfo

    if settings.offline:
        raise HubUnavailable(
            "HF_HUB_OFFLINE is set: the hub is not contacted",
            path=target.repo_id,
            next_step="unset HF_HUB_OFFLINE to read from the hub, or read a local copy",
        )
    url = f"{settings.endpoint}/api/models/{target.repo_id}"
    if target.revision is not None:
        url += f"/revision/{quote(target.revision, safe='')}"
    where = f"{settings.endpoint}: {target.repo_id}" + (f"@{target.revision}" if target.revision else "")
    before = http.traffic.requests
    raw = http.get_metadata(url + "?blobs=true", cap=MAX_JSON_BYTES)
    try:
        doc = json.loads(raw)
        info = ModelInfo(**doc)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, KeyError) as exc:
        raise HubUnavailable(
            f"the hub's answer is not model info ({type(exc).__name__})", path=where
        ) from None
    commit = info.sha
    if not commit or info.siblings is None:
        raise HubUnavailable("the hub's answer names no commit or no files", path=where)
    if _COMMIT.match(commit) is None:
        # The commit goes into every file URL and is the version recorded: nothing else than a commit.
        raise HubUnavailable("the hub's model info names no commit (40 hexadecimal digits)", path=where)
    files = []
    for sib in info.siblings:
        if sib.size is None or (sib.lfs is not None and not isinstance(sib.lfs.size, int)):
            raise HubUnavailable(f"the hub gives no size for {sib.rfilename!r}", path=where)
        files.append(
            HubFile(
                rel=sib.rfilename,
                size=sib.lfs.size if sib.lfs is not None else sib.size,
                blob_id=sib.blob_id,
                lfs_sha256=sib.lfs.sha256 if sib.lfs is not None else None,
            )
        )
    return RepoSnapshot(
        repo_id=target.repo_id,
        commit=commit,
        files=sorted(files, key=lambda f: f.rel),
        requests=http.traffic.requests - before,
    )


def file_url(settings: HubSettings, repo_id: str, commit: str, rel: str) -> str:
    """The `resolve` URL of a file at a commit (huggingface_hub's own construction)."""
    from huggingface_hub import hf_hub_url

    return str(hf_hub_url(repo_id, rel, revision=commit, endpoint=settings.endpoint))
