"""A local hub: the part of the Hugging Face Hub HTTP API huggingface_hub and modelwarden.hub use.

Real HTTP on 127.0.0.1 (uvicorn in a thread, random port), serving repositories of files on disk:

- `GET /api/models/{org}/{name}[/revision/{rev}]` — model info with `siblings` (size, blobId, lfs
  sha256/size/pointerSize when `?blobs=true`), `sha` the commit;
- `GET /api/models` — a listing paginated with `Link: <…>; rel="next"` headers (`?limit=`);
- `GET|HEAD /{org}/{name}/resolve/{rev}/{path}` — LFS files answer 302 to a second "CDN" path (as the
  Hub redirects to its storage), git files are served directly; both honour a single `Range`
  (206 + Content-Range; 416 beyond the end);
- `throttle[n]`: the next n requests are answered 429 with `Retry-After: 1` (then served): a 429 storm
  across all clients; `throttle_at[k] = n` starts such a storm at the k-th request (mid-crawl);
- `/api/models` filters `author=` and `search=` and sorts by `downloads` (`HubRepo.downloads`).

Counters (`served_bytes` per file, `requests`, `times`: when each request arrived) let tests assert how
little was read and how fast it was asked.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

_TEXT = (".json", ".md", ".txt", ".yaml", ".yml", ".py", ".jinja")


def _is_lfs(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return not (name.endswith(_TEXT) or name.upper().startswith("LICENSE"))


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class HubRepo:
    """A repository the local hub serves: a folder, at one commit."""

    repo_id: str
    folder: Path
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    siblings: list[dict[str, Any]] = field(default_factory=list)
    lfs: dict[str, str] = field(default_factory=dict)  # rel -> sha256
    downloads: int = 0

    def index(self) -> None:
        """Compute the siblings' metadata as the hub records it."""
        self.siblings.clear()
        for p in sorted(self.folder.rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(self.folder).as_posix()
            size = p.stat().st_size
            entry: dict[str, Any] = {"rfilename": rel, "size": size}
            if _is_lfs(rel):
                digest = _sha256(p)
                pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\nsize {size}\n"
                entry["blobId"] = _git_blob_id(pointer.encode())
                entry["lfs"] = {"sha256": digest, "size": size, "pointerSize": len(pointer)}
                self.lfs[rel] = digest
            else:
                entry["blobId"] = _git_blob_id(p.read_bytes())
            self.siblings.append(entry)


class LocalHub:
    """The server and its state; `start()` returns the endpoint URL."""

    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.served_bytes: Counter[str] = Counter()
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, range
        self.times: list[float] = []  # time.monotonic() at each request's arrival
        self.statuses: list[int] = []  # 429 for each throttled answer, 0 for the others (same order)
        self.throttle = 0
        self.throttle_at: dict[int, int] = {}  # request number (from 1) -> 429s answered from it on
        self.ignore_range = False  # a broken mirror: 200 with the whole file
        self.tamper: dict[str, bytes] = {}  # rel -> served instead of the file (git files)
        self.gated: dict[str, str] = {}  # repo id -> the token that may read it
        self.storage_origin = ""  # e.g. http://localhost:PORT: redirect LFS files to another origin
        self.storage_uses: int | None = None  # requests a storage URL answers before it "expires" (403)
        self._signed: Counter[str] = Counter()  # storage URL signature -> requests it answered
        self.authorization: list[tuple[str, str | None]] = []  # path, Authorization header received
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""

    def add(self, repo_id: str, folder: Path, commit: str | None = None, downloads: int = 0) -> HubRepo:
        """Serve `folder` as `repo_id`."""
        repo = HubRepo(repo_id, folder, downloads=downloads, **({"commit": commit} if commit else {}))
        repo.index()
        self.repos[repo_id] = repo
        return repo

    def bytes_for(self, repo_id: str) -> int:
        """File bytes served for one repository (ranges and whole files)."""
        return sum(n for k, n in self.served_bytes.items() if k.startswith(repo_id + ":"))

    # -- the app ---------------------------------------------------------------------------------------
    def app(self) -> Starlette:
        """The Starlette application."""
        return Starlette(
            routes=[
                Route("/api/models", self._list),
                Route("/api/models/{org}/{name}", self._info),
                Route("/api/models/{org}/{name}/revision/{rev:path}", self._info),
                Route("/{org}/{name}/resolve/{rev}/{path:path}", self._resolve, methods=["GET", "HEAD"]),
                Route("/cdn/{org}/{name}/{path:path}", self._cdn, methods=["GET", "HEAD"]),
            ]
        )

    def _gate(self, request: Request) -> Response | None:
        with self._lock:
            self.requests.append((request.method, request.url.path, request.headers.get("range")))
            self.authorization.append((request.url.path, request.headers.get("authorization")))
            self.times.append(time.monotonic())
            self.throttle += self.throttle_at.pop(len(self.times), 0)
            if self.throttle > 0:
                self.throttle -= 1
                self.statuses.append(429)
                return Response(status_code=429, headers={"Retry-After": "1"})
            self.statuses.append(0)
        org, name = request.path_params.get("org"), request.path_params.get("name")
        token = self.gated.get(f"{org}/{name}")
        storage = request.url.path.startswith("/cdn/")  # pre-signed: the signature authorises
        if token is not None and not storage and request.headers.get("authorization") != f"Bearer {token}":
            # What the Hub answers for a gated repository without access.
            return JSONResponse({"error": "Access to this model is restricted"}, status_code=401,
                                headers={"X-Error-Code": "GatedRepo"})  # fmt: skip
        return None

    async def _list(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        limit = int(request.query_params.get("limit", "2"))
        start = int(request.query_params.get("cursor", "0"))
        author, search = request.query_params.get("author"), request.query_params.get("search")
        ids = [
            i
            for i in sorted(self.repos)
            if (not author or i.split("/")[0] == author) and (not search or search.lower() in i.lower())
        ]
        if request.query_params.get("sort") == "downloads":
            ids.sort(key=lambda i: -self.repos[i].downloads)
        page = [{"id": i, "modelId": i, "sha": self.repos[i].commit} for i in ids[start : start + limit]]
        headers = {}
        if start + limit < len(ids):
            nxt = request.url.include_query_params(cursor=start + limit, limit=limit)
            headers["Link"] = f'<{nxt}>; rel="next"'
        return JSONResponse(page, headers=headers)

    async def _info(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        repo = self.repos.get(f"{request.path_params['org']}/{request.path_params['name']}")
        rev = request.path_params.get("rev")
        if repo is None or rev not in (None, "main", repo.commit):
            return JSONResponse(
                {"error": "Repository not found"}, status_code=404, headers={"X-Error-Code": "RepoNotFound"}
            )
        blobs = request.query_params.get("blobs") in ("true", "True", "1")
        siblings = repo.siblings if blobs else [{"rfilename": s["rfilename"]} for s in repo.siblings]
        return JSONResponse(
            {
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "sha": repo.commit,
                "private": False,
                "siblings": siblings,
                "tags": [],
                "downloads": 0,
                "likes": 0,
            }
        )

    async def _resolve(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        org, name, rev, rel = (request.path_params[k] for k in ("org", "name", "rev", "path"))
        repo = self.repos.get(f"{org}/{name}")
        if repo is None or rev not in ("main", repo.commit) or not (repo.folder / rel).is_file():
            return Response(status_code=404, headers={"X-Error-Code": "EntryNotFound"})
        if rel in repo.lfs:
            # As the Hub does: the LFS object lives elsewhere (a pre-signed storage URL).
            with self._lock:
                sig = f"s{len(self.requests)}"  # a new signature per resolve, as pre-signed URLs are
            return RedirectResponse(
                f"{self.storage_origin}/cdn/{org}/{name}/{rel}?sig={sig}",
                status_code=302,
                headers={"X-Repo-Commit": repo.commit},
            )
        return self._serve(request, repo, rel)

    async def _cdn(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        repo = self.repos.get(f"{request.path_params['org']}/{request.path_params['name']}")
        rel = request.path_params["path"]
        if repo is None or rel not in repo.lfs:
            return Response(status_code=404)
        sig = request.query_params.get("sig", "")
        with self._lock:
            self._signed[sig] += 1
            expired = self.storage_uses is not None and self._signed[sig] > self.storage_uses
        if expired:
            return Response(b"Request has expired", status_code=403)  # what S3 answers
        return self._serve(request, repo, rel)

    def _serve(self, request: Request, repo: HubRepo, rel: str) -> Response:
        path = repo.folder / rel
        size = path.stat().st_size
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{repo.lfs.get(rel, rel)}"'}
        if request.method == "HEAD":
            return Response(status_code=200, headers={**headers, "Content-Length": str(size)})
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("range", ""))
        if m is None or self.ignore_range:
            data = self.tamper.get(rel) or path.read_bytes()
            self.served_bytes[f"{repo.repo_id}:{rel}"] += len(data)
            return Response(data, status_code=200, headers=headers)
        start = int(m.group(1))
        end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
        if start >= size or end < start:
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.pread(fd, end - start + 1, start)
        finally:
            os.close(fd)
        self.served_bytes[f"{repo.repo_id}:{rel}"] += len(data)
        return Response(
            data, status_code=206, headers={**headers, "Content-Range": f"bytes {start}-{end}/{size}"}
        )

    # -- life cycle ------------------------------------------------------------------------------------
    def start(self) -> str:
        """Serve on a free port of 127.0.0.1; returns the endpoint URL."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("local hub did not start")
            time.sleep(0.02)
        self.endpoint = f"http://127.0.0.1:{port}"
        return self.endpoint

    def stop(self) -> None:
        """Stop the server."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
