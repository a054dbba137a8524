"""Which repositories a crawl reads: a hub listing, and the commit each repository's revision names.

`list_repo_ids` pages through `GET /api/models` with the parameters huggingface_hub's
`HfApi.list_models` sends (`author`, `search`, `sort`, `direction`, `limit`) and follows the
`Link: <…>; rel="next"` header as it does; the requests go through a `HubHttp` (the crawl's budget,
retries and byte caps), not huggingface_hub's own session. A listing is bounded: `limit` ids at most,
and never more than `limits.MAX_LIST_PAGES` pages. A next page on another host than the hub is refused
(the token would be sent there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from modelwarden.errors import HubUnavailable, UsageError
from modelwarden.hub.client import HubSettings, parse_target
from modelwarden.hub.remote import HubHttp
from modelwarden.limits import MAX_JSON_BYTES, MAX_LIST_PAGES

# Ids asked per page: the Hub serves up to 1000; smaller pages keep each answer small.
PAGE_SIZE = 100
# Sort keys the Hub's listing accepts (huggingface_hub's `list_models(sort=…)`).
SORT_KEYS = ("downloads", "likes", "trending_score", "created_at", "last_modified", "id")


@dataclass(frozen=True)
class Listing:
    """The ids a hub listing gave."""

    ids: list[str]
    """`org/name` ids in the hub's order, each once."""
    complete: bool
    """False when the page cap stopped the listing before its end (and before `limit`)."""
    pages: int
    """Pages requested."""


def listing_url(
    settings: HubSettings,
    *,
    author: str | None,
    search: str | None,
    sort: str | None,
    limit: int | None,
    page_size: int = PAGE_SIZE,
) -> str:
    """The first page's URL."""
    params: dict[str, str] = {}
    if author:
        params["author"] = author
    if search:
        params["search"] = search
    if sort:
        if sort not in SORT_KEYS:
            raise UsageError(f"cannot sort a hub listing by {sort!r} (one of: {', '.join(SORT_KEYS)})")
        params["sort"] = sort
        params["direction"] = "-1"  # most first, as a crawl of the most used models wants
    params["limit"] = str(min(limit, page_size) if limit else page_size)
    return f"{settings.endpoint}/api/models?{urlencode(params)}"


def list_repo_ids(
    settings: HubSettings,
    http: HubHttp,
    *,
    author: str | None = None,
    search: str | None = None,
    sort: str | None = "downloads",
    limit: int | None = None,
    max_pages: int = MAX_LIST_PAGES,
    page_size: int = PAGE_SIZE,
) -> Listing:
    """The repository ids of a hub listing, at most `limit` (all, up to the page cap, when None)."""
    url: str | None = listing_url(
        settings, author=author, search=search, sort=sort, limit=limit, page_size=page_size
    )
    origin = _origin(settings.endpoint)
    ids: list[str] = []
    seen: set[str] = set()
    pages = 0
    while url is not None and pages < max_pages and (limit is None or len(ids) < limit):
        if _origin(url) != origin:
            raise HubUnavailable(
                f"the listing's next page is on another host ({_origin(url)}), not the hub {origin}",
                path=settings.endpoint,
            )
        body, url = http.get_page(url, cap=MAX_JSON_BYTES)
        pages += 1
        for repo_id in _page_ids(body, settings.endpoint):
            if repo_id not in seen and (limit is None or len(ids) < limit):
                seen.add(repo_id)
                ids.append(repo_id)
    complete = url is None or (limit is not None and len(ids) >= limit)
    return Listing(ids=ids, complete=complete, pages=pages)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _page_ids(body: bytes, where: str) -> list[str]:
    try:
        items = json.loads(body)
    except ValueError:
        raise HubUnavailable("the hub's listing is not JSON", path=where) from None
    if not isinstance(items, list):
        raise HubUnavailable("the hub's listing is not a list of models", path=where)
    out = []
    for item in items:
        repo_id = item.get("id") or item.get("modelId") if isinstance(item, dict) else None
        if not isinstance(repo_id, str):
            raise HubUnavailable("the hub's listing holds an entry without an id", path=where)
        target = parse_target(repo_id)  # an id that is not org/name is refused, not requested
        if target.revision is not None:
            raise HubUnavailable(f"the hub's listing names {repo_id!r}, not a repository id", path=where)
        out.append(target.repo_id)
    return out
