"""An assessment of a release with many files: its page and its API answer hold one window of the
per-file lists, never the whole (a 200,000-file release made a 34 MB page and 7 s of CPU per view;
benchmarks/registry_bench.py --large measures it at that size)."""

from __future__ import annotations

import hashlib
import random

from modelwarden.model import ArtifactFormat, ArtifactInfo, Assessment, ScannedFile
from modelwarden.registry import Registry
from modelwarden.web.dashboard import FILES_PAGE_SIZE
from tests.registry.factory import make_assessment
from tests.web.test_api import Make

HASHES = 12_000
FACTS = 5_000  # facts.files cover the first 5,000 paths; the other 7,000 are known by hash only


def many_files(hashes: int = HASHES, facts: int = FACTS) -> Assessment:
    a = make_assessment(random.Random(5), name="acme/many-files", version="1", findings=0)
    paths = [f"shards/part-{i:06d}.bin" for i in range(hashes)]
    digests = {p: hashlib.sha256(p.encode()).hexdigest() for p in paths}
    a.subject.file_hashes = digests
    assert a.facts is not None and a.scan is not None
    a.facts.files = [
        ArtifactInfo(path=p, format=ArtifactFormat.SAFETENSORS, size=i, sha256=None)
        for i, p in enumerate(paths[:facts])
    ]
    a.scan.files = [
        ScannedFile(path=p, format=ArtifactFormat.SAFETENSORS, size=i) for i, p in enumerate(paths)
    ]
    return a


def test_the_report_page_shows_one_page_of_files(registry: Registry, make_client: Make) -> None:
    ident = registry.save(many_files())
    client = make_client()
    first = client.get(f"/assessments/{ident}")
    assert first.status_code == 200
    assert len(first.content) < 400_000, len(first.content)  # the whole list would be ~2 MB
    assert first.text.count("shards/part-") == FILES_PAGE_SIZE
    assert (
        "shards/part-000000.bin" in first.text and f"shards/part-{FILES_PAGE_SIZE:06d}.bin" not in first.text
    )
    assert f"of {HASHES:,}" in first.text and 'rel="next"' in first.text
    assert f"No finding in {HASHES:,} scanned files" in first.text  # the count as recorded, not the window
    # Facts rows take their hash from subject.file_hashes; after them come the paths known by hash only.
    assert hashlib.sha256(b"shards/part-000000.bin").hexdigest() in first.text
    assert FACTS % FILES_PAGE_SIZE == 0
    after_facts = client.get(f"/assessments/{ident}", params={"files": FACTS // FILES_PAGE_SIZE + 1}).text
    assert f"shards/part-{FACTS:06d}.bin" in after_facts and f"part-{FACTS - 1:06d}" not in after_facts
    last = client.get(f"/assessments/{ident}", params={"files": -(-HASHES // FILES_PAGE_SIZE)}).text
    assert f"shards/part-{HASHES - 1:06d}.bin" in last and 'rel="next"' not in last
    assert client.get(f"/assessments/{ident}", params={"files": "²"}).status_code == 400


def test_the_api_answers_a_window_and_pages_the_files(registry: Registry, make_client: Make) -> None:
    ident = registry.save(many_files())
    client = make_client()
    body = client.get(f"/api/v1/assessments/{ident}").json()
    assert body["files"] == {
        "offset": 0,
        "limit": 1000,
        "totals": {"subject.file_hashes": HASHES, "facts.files": FACTS, "scan.files": HASHES},
        "complete": False,
    }
    assert len(body["assessment"]["subject"]["file_hashes"]) == 1000
    assert (
        len(body["assessment"]["facts"]["files"]) == 1000 and len(body["assessment"]["scan"]["files"]) == 1000
    )
    later = client.get(
        f"/api/v1/assessments/{ident}", params={"files_offset": 11_500, "files_limit": 1000}
    ).json()
    assert next(iter(later["assessment"]["subject"]["file_hashes"])) == "shards/part-011500.bin"
    assert (
        len(later["assessment"]["subject"]["file_hashes"]) == 500
        and later["assessment"]["facts"]["files"] == []
    )
    assert client.get(f"/api/v1/assessments/{ident}", params={"files_limit": 10_001}).status_code == 422

    seen: list[str] = []
    offset = 0
    while True:
        page = client.get(
            f"/api/v1/assessments/{ident}/files", params={"offset": offset, "limit": 5000}
        ).json()
        assert page["total"] == HASHES
        seen += [row["path"] for row in page["items"]]
        if not page["items"]:
            break
        offset += len(page["items"])
    assert seen == [f"shards/part-{i:06d}.bin" for i in range(HASHES)]  # each file once, in order
    row = client.get(f"/api/v1/assessments/{ident}/files", params={"offset": FACTS, "limit": 1}).json()[
        "items"
    ][0]
    assert row == {
        "path": f"shards/part-{FACTS:06d}.bin",
        "format": None,
        "size": None,
        "sha256": hashlib.sha256(f"shards/part-{FACTS:06d}.bin".encode()).hexdigest(),
    }


def test_a_small_assessment_is_whole(registry: Registry, make_client: Make) -> None:
    small = many_files(hashes=30, facts=10)
    ident = registry.save(small)
    body = make_client().get(f"/api/v1/assessments/{ident}").json()
    assert "files" not in body or body["files"] is None
    assert Assessment.model_validate(body["assessment"]) == registry.get(ident) == small


def test_cached_windows_never_outlive_their_record(registry: Registry, make_client: Make) -> None:
    """Decoded windows are cached; the summary (latest or not) and the record's existence are not."""
    first = registry.save(many_files(hashes=2000, facts=100))
    client = make_client()
    assert "not the latest assessment" not in client.get(f"/assessments/{first}").text
    newer = many_files(hashes=2000, facts=100)
    newer.subject.version = "2"
    second = registry.save(newer)
    assert "not the latest assessment" in client.get(f"/assessments/{first}").text
    assert client.get(f"/api/v1/assessments/{first}").json()["is_latest"] is False
    registry.delete(first)
    assert client.get(f"/assessments/{first}").status_code == 404
    assert client.get(f"/api/v1/assessments/{first}").status_code == 404
    assert client.get(f"/api/v1/assessments/{second}").json()["is_latest"] is True


def test_diffs_of_large_assessments_list_a_bounded_number_of_file_changes(
    registry: Registry, make_client: Make
) -> None:
    from tests.web.conftest import fill

    ids = fill(registry)
    client = make_client()
    # Ordinary assessments: the bounded path says exactly what the full comparison says.
    for a, b in ((ids["v1"], ids["v2"]), (ids["hostile0"], ids["hostile1"]), (ids["v2"], ids["hostile2"])):
        assert client.get("/api/v1/diff", params={"a": a, "b": b}).json() == registry.diff(a, b).model_dump(
            mode="json"
        )
    old = registry.save(many_files(hashes=3000, facts=1000))
    changed = many_files(hashes=3000, facts=1000)
    changed.subject.version = "2"
    changed.subject.file_hashes = {p: "0" * 64 for p in changed.subject.file_hashes}
    new = registry.save(changed)
    full = registry.diff(old, new)
    assert sum(c.section == "files" for c in full.changes) == 3000  # the CLI's view: every file
    api = client.get("/api/v1/diff", params={"a": old, "b": new}).json()
    files = [c for c in api["changes"] if c["section"] == "files"]
    assert len(files) == 1001 and files[-1]["message"].startswith("… and 2,000 more file changes")
    assert files[:1000] == [c.model_dump(mode="json") for c in full.changes if c.section == "files"][:1000]
    page = client.get("/diff", params={"a": old, "b": new})
    assert page.status_code == 200 and "… and 2,800 more file changes" in page.text
    assert page.text.count("file changed: shards/part-") == 200
