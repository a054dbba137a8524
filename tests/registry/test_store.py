"""The registry on SQLite and on a real PostgreSQL server: round trips, latest tracking, filters, errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import random
import zlib

import pytest
from sqlalchemy import create_engine, inspect, select, text

from modelwarden.errors import RegistryError
from modelwarden.model import Band, Severity, ThresholdCall
from modelwarden.registry import (
    AssessmentNotFound,
    Filters,
    InvalidAssessment,
    LicenceClass,
    Registry,
    Sort,
)
from modelwarden.registry.filters import MofFilter, SeverityFilter
from modelwarden.registry.models import Base, DocumentRow, DutyRow, ModelRow
from modelwarden.registry.summary import duties, licence_class, worst_severity
from tests.registry.factory import corpus, make_assessment


def test_round_trip_is_exact_for_every_kind_of_record(db_url: str) -> None:
    reg = Registry(db_url)
    records = corpus(1, 12) + corpus(2, 6, hostile=True)
    ids = [reg.save(a) for a in records]
    assert len(set(ids)) == len(ids)
    for ident, original in zip(ids, records, strict=True):
        stored = reg.stored(ident)
        assert stored.assessment == original
        raw = original.model_dump_json(by_alias=True).encode()
        assert stored.digest == hashlib.sha256(raw).hexdigest()
        # The flattened regime classification and the MOF/OSAID aliases survive the trip.
        assert (
            stored.assessment.regimes["eu_ai_act"].classification
            == original.regimes["eu_ai_act"].classification
        )
    reg.close()


def test_summary_columns_agree_with_the_document(db_url: str) -> None:
    reg = Registry(db_url)
    a = make_assessment(random.Random(5), name="org/summary", version="1.0", findings=3)
    s = reg.summary(reg.save(a))
    assert s.name == "org/summary" and s.version == "1.0" and s.is_latest
    assert s.parameters == a.facts.parameters.total  # type: ignore[union-attr]
    assert s.training_flop == a.compute.training_flop
    assert s.thresholds == {k: v for k, v in a.compute.thresholds.items() if k in ("1e23", "1e25", "1e26")}
    assert s.worst_severity == worst_severity(a) and s.findings == 3
    assert s.licence_class == licence_class(a)
    assert s.duties == sorted(duties(a))
    assert s.created_at == a.created_at and s.as_of == a.as_of
    reg.close()


def test_latest_moves_with_saves_and_deletes(db_url: str) -> None:
    reg = Registry(db_url)
    rng = random.Random(7)
    v1 = reg.save(make_assessment(rng, name="org/model", version="v1"))
    reg.save(make_assessment(rng, name="other/model", version="x"))
    v2 = reg.save(make_assessment(rng, name="org/model", version="v2"))
    models = reg.models()
    assert models.total == 2
    latest = {s.name: s for s in models.items}
    assert latest["org/model"].id == v2 and latest["org/model"].version == "v2"
    assert [h.id for h in reg.model_history(latest["org/model"].model_id)] == [v2, v1]
    assert reg.summary(v1).is_latest is False

    reg.delete(v2)
    assert reg.summary(v1).is_latest is True
    with pytest.raises(AssessmentNotFound):
        reg.get(v2)
    reg.delete(v1)
    assert [s.name for s in reg.models().items] == ["other/model"]
    with pytest.raises(AssessmentNotFound):
        reg.model_id("org/model")
    with pytest.raises(AssessmentNotFound):
        reg.delete(v1)
    # Deleting cascades: no duties row of a deleted assessment is left.
    with reg.engine.connect() as conn:
        left = conn.execute(select(DutyRow.assessment_id).where(DutyRow.assessment_id.in_([v1, v2]))).all()
    assert left == []
    reg.close()


def _expected(records: list[tuple[int, object]], keep: object) -> set[int]:
    return {i for i, a in records if keep(a)}  # type: ignore[operator]


def test_every_filter_selects_exactly_the_matching_assessments(db_url: str) -> None:
    reg = Registry(db_url)
    records = [(reg.save(a), a) for a in corpus(11, 60)]

    def ids(**criteria: object) -> set[int]:
        page = reg.list(Filters(**criteria), limit=500)  # type: ignore[arg-type]
        assert page.total == len(page.items)
        return {s.id for s in page.items}

    for cls in LicenceClass:
        assert ids(licence_class=cls) == _expected(records, lambda a, c=cls: licence_class(a) == c)
    for mof in MofFilter:
        want = None if mof is MofFilter.NONE else int(mof.value)
        assert ids(mof_class=mof) == _expected(records, lambda a, w=want: a.openness.mof.class_ == w)
    for threshold in ("1e23", "1e25", "1e26"):
        for call in ThresholdCall:
            assert ids(threshold=f"{threshold}:{call.value}") == _expected(
                records, lambda a, t=threshold, c=call: a.compute.thresholds.get(t) == c
            )
    for sev in SeverityFilter:
        if sev is SeverityFilter.NONE:
            keep = lambda a: worst_severity(a) is None  # noqa: E731
        else:
            rank = Severity(sev.value).rank
            keep = lambda a, r=rank: (w := worst_severity(a)) is not None and w.rank >= r  # noqa: E731
        assert ids(severity=sev) == _expected(records, keep)
    for regime in ("eu_ai_act", "us_ca_sb53", "kr_ai_basic_act", "us_eo_14110"):
        assert ids(duty=regime) == _expected(records, lambda a, r=regime: r in duties(a))
    licence = records[0][1].facts.license.id  # type: ignore[union-attr]
    assert ids(licence=licence.upper()) == _expected(records, lambda a: a.facts.license.id == licence)
    # Combined filters are a conjunction.
    both = ids(licence_class=LicenceClass.NOT_OPEN, severity=SeverityFilter.HIGH)
    assert both == ids(licence_class=LicenceClass.NOT_OPEN) & ids(severity=SeverityFilter.HIGH)
    assert reg.list(duty="no_such_regime").total == 0
    reg.close()


def test_search_is_literal_and_case_insensitive(db_url: str) -> None:
    reg = Registry(db_url)
    rng = random.Random(3)
    for name in ("Org/Alpha_100%", "org/alphaX100z", "org/beta"):
        reg.save(make_assessment(rng, name=name))
    assert {s.name for s in reg.models(q="ALPHA").items} == {"Org/Alpha_100%", "org/alphaX100z"}
    # `_` and `%` are characters here, not SQL wildcards.
    assert {s.name for s in reg.models(q="a_100%").items} == {"Org/Alpha_100%"}
    assert reg.models(name="org/beta").items[0].name == "org/beta"
    reg.close()


def test_sorting_and_paging(db_url: str) -> None:
    reg = Registry(db_url)
    for a in corpus(21, 25):
        reg.save(a)
    everything = reg.list(limit=500)
    by_recorded = [s.id for s in everything.items]
    assert by_recorded == sorted(by_recorded, reverse=True)
    pages = [reg.list(limit=10, offset=o).items for o in (0, 10, 20)]
    assert [s.id for p in pages for s in p] == by_recorded
    assert reg.list(limit=10, offset=20).total == 25
    names = [s.name for s in reg.models(sort=Sort.NAME, limit=500).items]
    assert names == sorted(names)
    params = [s.parameters for s in reg.list(sort=Sort.PARAMETERS, limit=500).items]
    known = [p for p in params if p is not None]
    assert known == sorted(known, reverse=True) and params[: len(known)] == known
    flops = [s.training_flop.central for s in reg.list(sort=Sort.COMPUTE, limit=500).items if s.training_flop]
    assert flops == sorted(flops, reverse=True)
    reg.close()


def test_hostile_names_are_stored_and_found(db_url: str) -> None:
    reg = Registry(db_url)
    rng = random.Random(9)
    nul = "evil\x00name <script>"
    long = "org/" + "x" * 5000
    for name in (nul, long, "ünïcödé/模型 🤖"):
        ident = reg.save(make_assessment(rng, name=name))
        # The document keeps the exact name; the indexed column a safe form of it.
        assert reg.get(ident).subject.name == name
        assert reg.model_id(name) == reg.summary(ident).model_id
    assert reg.models().total == 3
    # Text that is not Unicode at all (a non-UTF-8 file name decoded with surrogateescape) cannot
    # be stored as JSON: refused with a clear message rather than recorded unreadable.
    with pytest.raises(InvalidAssessment, match="not valid Unicode"):
        reg.save(make_assessment(rng, name="bad\udcffname"))
    assert reg.models().total == 3
    reg.close()


def test_unstorable_assessments_are_refused_and_nothing_is_written(db_url: str) -> None:
    reg = Registry(db_url)
    rng = random.Random(4)
    base = make_assessment(rng)
    nan = base.model_copy(deep=True)
    nan.compute.training_flop = Band(low=math.nan, central=1e20, high=math.inf)
    mof = base.model_copy(deep=True)
    mof.openness.mof.class_ = 7  # type: ignore[union-attr]
    huge = base.model_copy(deep=True)
    huge.facts.parameters.total = 10**30  # type: ignore[union-attr]
    for bad in (nan, mof, huge):
        with pytest.raises(InvalidAssessment):
            reg.save(bad)
    assert reg.count() == 0 and reg.models().total == 0
    reg.close()


def test_documents_are_stored_compressed(db_url: str) -> None:
    reg = Registry(db_url)
    a = make_assessment(random.Random(2), with_tensors=200)
    ident = reg.save(a)
    with reg.engine.connect() as conn:
        blob = conn.execute(
            select(DocumentRow.document).where(DocumentRow.assessment_id == ident)
        ).scalar_one()
    raw = a.model_dump_json(by_alias=True).encode()
    assert zlib.decompress(blob) == raw
    assert len(blob) < len(raw) / 4
    reg.close()


def test_migrations_create_exactly_the_models_schema(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    reg = Registry(db_url)
    Registry(db_url).close()  # a second open finds the schema up to date
    with reg.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        differences = [
            d
            for d in compare_metadata(ctx, Base.metadata)
            # Other areas' tables share the database (only the registry branch was applied here).
            if not (d[0] == "remove_table" and not d[1].name.startswith("registry_"))
            # Indexes live in the migration only (partial, dialect-specific): checked below.
            and d[0] != "remove_index"
        ]
        version = conn.execute(text("select version_num from alembic_version")).scalars().all()
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("registry_assessments")}
    assert differences == []
    # The registry branch's head (r0001 and the revisions added on it since): one head, applied.
    from alembic.script import ScriptDirectory

    from modelwarden import migrations

    heads = ScriptDirectory.from_config(migrations.config(reg.engine)).get_revisions("registry@head")
    assert version == [heads[0].revision]
    wanted = {"name", "licence_class", "licence", "mof_class", "severity", "compute", "parameters"}
    wanted |= {f"call_{t}" for t in ("1e23", "1e25", "1e26")}
    assert {f"ix_registry_latest_{w}" for w in wanted} | {"ix_registry_assessments_model"} <= indexes
    reg.close()


def test_facets_list_regimes_with_duties_and_licences(db_url: str) -> None:
    reg = Registry(db_url)
    records = corpus(31, 30)
    for a in records:
        reg.save(a)
    facets = reg.facets()
    assert set(facets.regimes) == {r for a in records for r in duties(a)}
    assert set(facets.licences) <= {a.facts.license.id for a in records}  # type: ignore[union-attr]
    assert facets.licences
    reg.close()


def test_unreachable_database_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RegistryError, match="cannot create the folder"):
        Registry(f"sqlite:///{blocker}/sub/registry.db")
    with pytest.raises(RegistryError, match="cannot open the registry"):
        Registry("postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    not_a_db = tmp_path / "garbage.db"
    not_a_db.write_bytes(b"this is not a database file" * 100)
    with pytest.raises(RegistryError, match="cannot open the registry"):
        Registry(f"sqlite:///{not_a_db}")


def test_default_location_is_the_user_data_dir(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("MODELWARDEN_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    reg = Registry()
    reg.save(make_assessment(random.Random(1)))
    assert (tmp_path / "data" / "modelwarden" / "registry.sqlite3").is_file()
    with create_engine(f"sqlite:///{tmp_path / 'data' / 'modelwarden' / 'registry.sqlite3'}").connect() as c:
        assert c.execute(text("pragma journal_mode")).scalar() == "wal"
        assert c.execute(select(ModelRow.name)).scalar_one()
    reg.close()


def test_as_of_and_timestamps_keep_their_instant(db_url: str) -> None:
    reg = Registry(db_url)
    a = make_assessment(random.Random(8), as_of=dt.date(2025, 8, 2))
    naive = a.model_copy(update={"created_at": dt.datetime(2026, 3, 1, 12, 30)})  # no timezone: UTC
    s = reg.summary(reg.save(naive))
    assert s.as_of == dt.date(2025, 8, 2)
    assert s.created_at == dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
    assert reg.get(s.id).created_at == dt.datetime(2026, 3, 1, 12, 30)  # the document as given
    reg.close()


def test_save_many_is_all_or_nothing_and_keeps_order(db_url: str) -> None:
    reg = Registry(db_url)
    rng = random.Random(13)
    batch = [make_assessment(rng, name=n, version=str(i)) for i, n in enumerate(["m/a", "m/b", "m/a", "m/c"])]
    bad = make_assessment(rng, name="m/bad")
    bad.facts.parameters.total = -(2**64)  # type: ignore[union-attr]
    with pytest.raises(InvalidAssessment):
        reg.save_many([*batch, bad])
    assert reg.count() == 0
    ids = reg.save_many(batch)
    assert ids == sorted(ids) and [reg.get(i) for i in ids] == batch
    latest = {s.name: s.version for s in reg.models().items}
    assert latest == {"m/a": "2", "m/b": "1", "m/c": "3"}
    more = reg.save_many(corpus(14, 7), batch=3)
    assert len(more) == 7 and reg.count() == 11
    assert reg.save_many([]) == []
    reg.close()


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "http://example.org/x", "oracle://h/db"])
def test_unsupported_database_schemes_name_the_supported_ones(url: str) -> None:
    with pytest.raises(RegistryError, match="unsupported database URL scheme") as info:
        Registry(url)
    assert "use sqlite:///FILE or postgresql://USER@HOST/DATABASE" in info.value.message
    assert "secret" not in info.value.message


def test_a_driver_that_is_not_installed_is_named() -> None:
    with pytest.raises(RegistryError, match="its database driver is not installed"):
        Registry("sqlite+nosuchdriver:///x.db")


def test_sqlite_path_that_is_not_a_file_gives_the_real_reason(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistryError, match=f"^{tmp_path}: is a folder, not a SQLite database file"):
        Registry(f"sqlite:///{tmp_path}")
    os.mkfifo(tmp_path / "pipe.db")
    with pytest.raises(RegistryError, match=r"pipe\.db: not a SQLite database file: not a regular file"):
        Registry(f"sqlite:///{tmp_path / 'pipe.db'}")
