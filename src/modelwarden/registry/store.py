"""`Registry`: record assessments, read them back, list and filter them, compare two of them.

Durability: each `save` and `delete` is one database transaction, so a crash (even `kill -9`) at
any point leaves either the whole assessment or nothing. Concurrency: writers in other processes
are serialised per model by a row lock on the model (PostgreSQL `SELECT ... FOR UPDATE`), and on
SQLite by `BEGIN IMMEDIATE`, which takes the write lock when the transaction starts (a deferred
transaction that reads first and writes later can fail at once with "database is locked" when two
processes do it together; an immediate one waits its turn under the busy timeout).
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import itertools
import os
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    event,
    func,
    select,
    text,
    true,
    update,
)
from sqlalchemy import delete as sql_delete
from sqlalchemy import insert as sql_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from modelwarden.db import make_engine
from modelwarden.errors import RegistryError
from modelwarden.model import Assessment, Band, ThresholdCall
from modelwarden.registry.diff import Diff, compare, file_map
from modelwarden.registry.errors import AssessmentNotFound, InvalidAssessment
from modelwarden.registry.export import write_export
from modelwarden.registry.files import FileRows, FileWindow, decode_raw, file_rows, window
from modelwarden.registry.filters import AttestedFilter, Filters, MofFilter, Sort, severity_rank
from modelwarden.registry.models import AssessmentRow, AttestationRow, DocumentRow, DutyRow, ModelRow
from modelwarden.registry.records import Facets, Page, StoredAssessment
from modelwarden.registry.summary import (
    THRESHOLDS,
    AssessmentSummary,
    LicenceClass,
    columns,
    duties,
    model_key,
    severity_from_rank,
)

MAX_LIMIT = 500
_WRITE = "modelwarden_registry_write"
_PG_MIGRATION_LOCK = 0x6D77_7265_6769  # "mwregi": serialises concurrent first-time migrations
_FACETS_TTL = 30.0  # seconds: the filter choices (regimes, licences) need not be exact to the write


_NOT_JSON = "the assessment does not read back as recorded: NaN or infinite numbers cannot be stored in JSON"


def encode_document(assessment: Assessment) -> tuple[bytes, str]:
    """Canonical JSON (field order, aliases such as MOF `class`) -> (zlib bytes, sha256 of the JSON).

    The document must read back as the same record: NaN or infinite numbers (which JSON cannot hold)
    or strings that are not valid Unicode are refused here rather than recorded unreadable.
    """
    try:
        raw = assessment.model_dump_json(by_alias=True).encode()
        same = Assessment.model_validate_json(raw) == assessment
    except PydanticSerializationError as exc:
        if "surrogates not allowed" in str(exc):
            raise InvalidAssessment(
                "the assessment holds text that is not valid Unicode (a file name that is not UTF-8?)"
            ) from None
        raise InvalidAssessment(f"the assessment cannot be stored as JSON: {exc}") from None
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise InvalidAssessment(f"{_NOT_JSON} (at {where})") from None
    if not same:
        raise InvalidAssessment(_NOT_JSON)
    return zlib.compress(raw, 6), hashlib.sha256(raw).hexdigest()


def decode_document(blob: bytes, *, ident: int) -> Assessment:
    """A stored document read back as an `Assessment`."""
    try:
        return Assessment.model_validate_json(zlib.decompress(blob))
    except (zlib.error, ValidationError) as exc:
        raise RegistryError(f"assessment {ident} is stored but cannot be read back: {exc}") from None


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, start transactions, so writes can BEGIN IMMEDIATE.

    The sqlite3 module otherwise opens a deferred transaction implicitly before the first write
    (SQLAlchemy's documented recipe for SQLite transactions).
    """

    @event.listens_for(engine, "connect")
    def _driver_autocommit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_utc(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes; what we stored was UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


_SUMMARY_COLUMNS = list(AssessmentRow.__table__.columns)
# `= true`, the exact predicate of the partial indexes (`IS 1`, SQLAlchemy's `is_(True)` on SQLite,
# would not match them).
LATEST = AssessmentRow.is_latest == true()


def _summary(row: Any) -> AssessmentSummary:
    m = row._mapping
    band = (
        Band(low=m["flop_low"], central=m["flop_central"], high=m["flop_high"])
        if m["flop_central"] is not None
        else None
    )
    thresholds = {t: ThresholdCall(m[f"call_{t}"]) for t in THRESHOLDS if m[f"call_{t}"] is not None}
    return AssessmentSummary(
        id=m["id"],
        model_id=m["model_id"],
        name=m["name"],
        version=m["version"],
        is_latest=m["is_latest"],
        as_of=m["as_of"],
        created_at=_as_utc(m["created_at"]),
        recorded_at=_as_utc(m["recorded_at"]),
        tool_version=m["tool_version"],
        ruleset_version=m["ruleset_version"],
        licence=m["licence"],
        licence_class=LicenceClass(m["licence_class"]),
        mof_class=m["mof_class"],
        osaid_pass=m["osaid_pass"],
        parameters=m["parameters"],
        active_parameters=m["active_parameters"],
        training_flop=band,
        compute_method=m["compute_method"],
        thresholds=thresholds,
        worst_severity=severity_from_rank(m["worst_severity"]),
        findings=m["findings"],
        duties=m["duty_regimes"].split(),
        needs_review=m["needs_review"],
    )


def where(filters: Filters, *, latest: bool) -> list[ColumnElement[bool]]:
    """SQL conditions for a filter set (shared by lists, counts and exports)."""
    a = AssessmentRow
    cond: list[ColumnElement[bool]] = []
    if latest:
        cond.append(LATEST)
    if filters.q:
        cond.append(a.name.icontains(filters.q, autoescape=True))
    if filters.name is not None:
        cond.append(a.name == model_key(filters.name))
    if filters.licence:
        cond.append(a.licence == filters.licence.lower())  # stored lower-case: ids are case-insensitive
    if filters.licence_class is not None:
        cond.append(a.licence_class == filters.licence_class.value)
    if filters.mof_class is not None:
        mof = filters.mof_class
        cond.append(a.mof_class.is_(None) if mof is MofFilter.NONE else a.mof_class == int(mof.value))
    threshold = filters.threshold_call()
    if threshold is not None:
        cond.append(getattr(a, f"call_{threshold[0]}") == threshold[1].value)
    if filters.severity is not None:
        rank = severity_rank(filters.severity)
        # "none" means scanned with no finding; an assessment that was not scanned (findings -1) is not one.
        cond.append(
            (a.worst_severity.is_(None) & (a.findings >= 0)) if rank is None else a.worst_severity >= rank
        )
    if filters.duty:
        cond.append(a.id.in_(select(DutyRow.assessment_id).where(DutyRow.regime == filters.duty)))
    if filters.attested is not None:
        # From the indexes of registry_attestations alone: (status, assessment_id), (assessment_id, …).
        attested = select(AttestationRow.assessment_id)
        if filters.attested is AttestedFilter.VERIFIED:
            attested = attested.where(AttestationRow.status == "verified")
        cond.append(a.id.in_(attested))
    return cond


def _order(stmt: Select[Any], sort: Sort) -> Select[Any]:
    a = AssessmentRow
    if sort is Sort.NAME:
        return stmt.order_by(a.name, a.id)
    if sort is Sort.RECORDED:
        return stmt.order_by(a.id.desc())
    if sort is Sort.PARAMETERS:
        return stmt.order_by(a.parameters.desc().nulls_last(), a.id.desc())
    return stmt.order_by(a.flop_central.desc().nulls_last(), a.id.desc())


@dataclass
class _FacetCache:
    value: Facets | None = None
    at: float = 0.0


@dataclass(frozen=True)
class _Window:
    """A decoded window of a recorded document (documents never change once recorded)."""

    assessment: Assessment
    held: FileWindow
    rows: FileRows | None


WINDOW_CACHE = 32  # decoded windows kept: a page viewed again costs no decompression or parsing


class Registry:
    """The assessment registry on any SQLAlchemy URL (SQLite file by default, or PostgreSQL).

    `url`: `--db` / `MODELWARDEN_DB` / the default file (see `modelwarden.db.resolve_url`). The schema is
    created or migrated on open.
    """

    def __init__(self, url: str | None = None, *, migrate: bool = True, **engine_kwargs: Any) -> None:
        self.engine = make_engine(url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _sqlite_transactions(self.engine)
        self._facets = _FacetCache()
        self._facets_lock = threading.Lock()
        self._windows: OrderedDict[tuple[Any, ...], _Window] = OrderedDict()
        self._windows_lock = threading.Lock()
        if migrate:
            self._migrate()

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ schema

    def _migrate(self) -> None:
        from modelwarden import migrations  # Alembic is only needed when a registry is opened

        try:
            if self.dialect == "postgresql":
                # Two processes creating the schema at once would collide on the catalogue; an advisory
                # lock held on a side connection makes the second wait and then find it up to date.
                with self.engine.connect() as lock:
                    lock.execute(select(func.pg_advisory_lock(_PG_MIGRATION_LOCK)))
                    try:
                        migrations.upgrade(self.engine, "registry@head")
                    finally:
                        lock.execute(select(func.pg_advisory_unlock(_PG_MIGRATION_LOCK)))
                        lock.commit()
            else:
                migrations.upgrade(self.engine.execution_options(**{_WRITE: True}), "registry@head")
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot open the registry at {self.url}: {db_reason(exc)}") from None

    def _write(self) -> Connection:
        conn = self.engine.connect()
        return conn.execution_options(**{_WRITE: True})

    # ------------------------------------------------------------------------------------------ writes

    def save(self, assessment: Assessment) -> int:
        """Record one assessment in one transaction; return its id."""
        return self.save_many([assessment])[0]

    def save_many(self, assessments: Iterable[Assessment], *, batch: int | None = None) -> builtins.list[int]:
        """Record many assessments; return their ids in order.

        `batch=None`: all in one transaction (all or nothing). `batch=N`: N per transaction, for bulk
        loads; a failure then leaves the batches before it recorded, each one whole.
        """
        ids: builtins.list[int] = []
        pending = iter(assessments)
        while chunk := builtins.list(itertools.islice(pending, batch)) if batch else builtins.list(pending):
            ids += self._save_batch(chunk)
            if not batch:
                break
        return ids

    def _save_batch(self, assessments: Sequence[Assessment]) -> builtins.list[int]:
        # Everything that can fail on the content (encoding, range checks) happens before the
        # transaction opens; inside it, only the database can fail.
        prepared = [(encode_document(a), columns(a), duties(a)) for a in assessments]
        now = _utcnow()
        last = {cols.name: i for i, (_, cols, _) in enumerate(prepared)}
        try:
            with self._write() as conn, conn.begin():
                model_ids = self._lock_models(conn, sorted(last), now)
                conn.execute(
                    update(AssessmentRow)
                    .where(AssessmentRow.model_id.in_(model_ids.values()), LATEST)
                    .values(is_latest=False)
                )
                rows = [
                    {
                        "model_id": model_ids[cols.name],
                        "is_latest": last[cols.name] == i,
                        "recorded_at": now,
                        "digest": digest,
                        **cols.__dict__,
                    }
                    for i, ((_, digest), cols, _) in enumerate(prepared)
                ]
                insert = sql_insert(AssessmentRow).returning(AssessmentRow.id, sort_by_parameter_order=True)
                new_ids = [int(i) for i in conn.execute(insert, rows).scalars()]
                documents = [
                    {"assessment_id": ident, "document": blob}
                    for ident, ((blob, _), _, _) in zip(new_ids, prepared, strict=True)
                ]
                conn.execute(sql_insert(DocumentRow), documents)
                found = [
                    {"assessment_id": ident, "regime": regime, "obligations": n}
                    for ident, (_, _, regimes) in zip(new_ids, prepared, strict=True)
                    for regime, n in regimes.items()
                ]
                if found:
                    conn.execute(sql_insert(DutyRow), found)
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot record the assessment in {self.url}: {db_reason(exc)}") from None
        self._facets.value = None
        return new_ids

    def _lock_models(self, conn: Connection, names: builtins.list[str], now: dt.datetime) -> dict[str, int]:
        """name -> model id, each model row locked until the transaction ends (created if new).

        Rows are locked in name order, so two writers with overlapping batches cannot deadlock.
        """
        find = select(ModelRow.name, ModelRow.id).where(ModelRow.name.in_(names)).order_by(ModelRow.name)
        found = {name: ident for name, ident in conn.execute(find.with_for_update())}
        missing = [n for n in names if n not in found]
        if missing:
            ins = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
            rows = [{"name": n, "first_recorded_at": now} for n in missing]
            conn.execute(ins(ModelRow).on_conflict_do_nothing(), rows)
            # Whether we inserted them or a concurrent writer did, they exist now; lock them.
            found = {name: ident for name, ident in conn.execute(find.with_for_update())}
        return {name: int(ident) for name, ident in found.items()}

    def delete(self, ident: int) -> None:
        """Remove one assessment; the model's previous assessment becomes its latest."""
        a = AssessmentRow
        try:
            with self._write() as conn, conn.begin():
                row = conn.execute(select(a.model_id, a.name).where(a.id == ident)).one_or_none()
                if row is None:
                    raise AssessmentNotFound(f"no assessment with id {ident}")
                conn.execute(select(ModelRow.id).where(ModelRow.id == row.model_id).with_for_update())
                gone = conn.execute(sql_delete(a).where(a.id == ident).returning(a.is_latest)).one_or_none()
                if gone is None:  # deleted by a concurrent writer while we waited for the lock
                    raise AssessmentNotFound(f"no assessment with id {ident}")
                if gone.is_latest:
                    previous = conn.execute(select(func.max(a.id)).where(a.model_id == row.model_id)).scalar()
                    if previous is None:
                        conn.execute(sql_delete(ModelRow).where(ModelRow.id == row.model_id))
                    else:
                        conn.execute(update(a).where(a.id == previous).values(is_latest=True))
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot delete assessment {ident} in {self.url}: {db_reason(exc)}") from None
        self._facets.value = None

    # ------------------------------------------------------------------------------------------ reads

    def get(self, ident: int) -> Assessment:
        """The assessment document exactly as recorded."""
        return self.stored(ident).assessment

    def stored(self, ident: int) -> StoredAssessment:
        """An assessment with its registry bookkeeping and the full document."""
        a = AssessmentRow
        row = self._read_one(
            select(*_SUMMARY_COLUMNS, DocumentRow.document).join(DocumentRow).where(a.id == ident)
        )
        if row is None:
            raise AssessmentNotFound(f"no assessment with id {ident}")
        return StoredAssessment(
            id=row.id,
            recorded_at=_as_utc(row.recorded_at),
            is_latest=row.is_latest,
            digest=row.digest,
            summary=_summary(row),
            assessment=decode_document(row.document, ident=row.id),
        )

    def _raw(self, ident: int) -> tuple[Any, dict[str, Any]]:
        a = AssessmentRow
        row = self._read_one(
            select(*_SUMMARY_COLUMNS, DocumentRow.document).join(DocumentRow).where(a.id == ident)
        )
        if row is None:
            raise AssessmentNotFound(f"no assessment with id {ident}")
        return row, decode_raw(row.document, ident=row.id)

    def stored_window(
        self, ident: int, *, offset: int, limit: int, rows: bool = False
    ) -> tuple[StoredAssessment, FileRows | None]:
        """The assessment with its per-file lists cut to one window (see `registry.files`), and, when
        `rows`, the same window of the release's file table: one decode for both.

        The summary is read every time (whether it is the latest changes); the decoded window is
        kept in a small cache keyed by the document's digest, so views of a large assessment do not
        decompress and parse tens of megabytes each time."""
        summary_row = self._read_one(select(*_SUMMARY_COLUMNS).where(AssessmentRow.id == ident))
        if summary_row is None:
            raise AssessmentNotFound(f"no assessment with id {ident}")
        key = (ident, summary_row.digest, offset, limit, rows)
        with self._windows_lock:
            cached = self._windows.get(key)
            if cached is not None:
                self._windows.move_to_end(key)
        if cached is None:
            _, document = self._raw(ident)
            assessment, held = window(document, ident=ident, offset=offset, limit=limit)
            table = file_rows(document, offset=offset, limit=limit) if rows else None
            cached = _Window(assessment, held, table)
            with self._windows_lock:
                self._windows[key] = cached
                while len(self._windows) > WINDOW_CACHE:
                    self._windows.popitem(last=False)
        stored = StoredAssessment(
            id=summary_row.id,
            recorded_at=_as_utc(summary_row.recorded_at),
            is_latest=summary_row.is_latest,
            digest=summary_row.digest,
            summary=_summary(summary_row),
            assessment=cached.assessment.model_copy(deep=True),
            files=None if cached.held.complete else cached.held,
        )
        return stored, cached.rows

    def file_rows(self, ident: int, *, offset: int, limit: int) -> FileRows:
        """One page of the release's files (a path per row, with format, size and hash)."""
        return file_rows(self._raw(ident)[1], offset=offset, limit=limit)

    def summary(self, ident: int) -> AssessmentSummary:
        """The summary row of an assessment."""
        row = self._read_one(select(*_SUMMARY_COLUMNS).where(AssessmentRow.id == ident))
        if row is None:
            raise AssessmentNotFound(f"no assessment with id {ident}")
        return _summary(row)

    def list(
        self,
        filters: Filters | None = None,
        /,
        *,
        latest: bool = False,
        sort: Sort = Sort.RECORDED,
        limit: int = 50,
        offset: int = 0,
        **criteria: Any,
    ) -> Page:
        """Assessments matching the filters (`latest=True`: only each model's latest), one page of them.

        Filters may be given as a `Filters` record or as keywords: `list(mof_class="1", duty="eu_ai_act")`.
        """
        if criteria:
            filters = Filters.model_validate((filters.model_dump() if filters else {}) | criteria)
        filters = filters or Filters()
        limit = max(1, min(limit, MAX_LIMIT))
        offset = max(0, offset)
        cond = where(filters, latest=latest)
        # The page's ids first (often from an index alone, however deep the offset), then their rows.
        ids = _order(select(AssessmentRow.id).where(*cond), sort).limit(limit).offset(offset).subquery()
        page_stmt = _order(select(*_SUMMARY_COLUMNS).join(ids, AssessmentRow.id == ids.c.id), sort)
        count_stmt = select(func.count()).select_from(AssessmentRow).where(*cond)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(page_stmt).all()
                total = int(conn.execute(count_stmt).scalar_one())
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot read the registry at {self.url}: {db_reason(exc)}") from None
        return Page(total=total, limit=limit, offset=offset, items=[_summary(r) for r in rows])

    def models(self, filters: Filters | None = None, /, **kwargs: Any) -> Page:
        """Each model once, with its latest assessment."""
        kwargs.setdefault("sort", Sort.NAME)
        return self.list(filters, latest=True, **kwargs)

    def model_history(self, model_id: int, *, limit: int = MAX_LIMIT) -> builtins.list[AssessmentSummary]:
        """The assessments of one model, newest first (at most `limit`)."""
        a = AssessmentRow
        stmt = select(*_SUMMARY_COLUMNS).where(a.model_id == model_id).order_by(a.id.desc()).limit(limit)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(stmt).all()
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot read the registry at {self.url}: {db_reason(exc)}") from None
        if not rows:
            raise AssessmentNotFound(f"no model with id {model_id}")
        return [_summary(r) for r in rows]

    def model_id(self, name: str) -> int:
        """The id of the model with this exact name."""
        found = self._read_one(select(ModelRow.id).where(ModelRow.name == model_key(name)))
        if found is None:
            raise AssessmentNotFound(f"no model named {name!r} in the registry")
        return int(found.id)

    def iter_stored(
        self, filters: Filters | None = None, *, latest: bool = False
    ) -> Iterator[StoredAssessment]:
        """Every matching assessment with its document, oldest first, streamed (for exports)."""
        a = AssessmentRow
        stmt = (
            select(*_SUMMARY_COLUMNS, DocumentRow.document)
            .join(DocumentRow)
            .where(*where(filters or Filters(), latest=latest))
        )
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(yield_per=500).execute(stmt.order_by(a.id))
                for row in result:
                    yield StoredAssessment(
                        id=row.id,
                        recorded_at=_as_utc(row.recorded_at),
                        is_latest=row.is_latest,
                        digest=row.digest,
                        summary=_summary(row),
                        assessment=decode_document(row.document, ident=row.id),
                    )
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot read the registry at {self.url}: {db_reason(exc)}") from None

    def facets(self) -> Facets:
        """Regimes with duties and the licences of latest assessments, for filter choices (cached briefly)."""
        with self._facets_lock:
            cached = self._facets
            if cached.value is not None and time.monotonic() - cached.at < _FACETS_TTL:
                return cached.value
            try:
                with self.engine.connect() as conn:
                    value = Facets(
                        regimes=_distinct(conn, DutyRow.regime),
                        licences=_distinct(conn, AssessmentRow.licence, LATEST, limit=200),
                    )
            except SQLAlchemyError as exc:
                raise RegistryError(f"cannot read the registry at {self.url}: {db_reason(exc)}") from None
            self._facets = _FacetCache(value, time.monotonic())
            return value

    def count(self) -> int:
        """How many assessments are recorded."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(AssessmentRow)).scalar_one())

    def _read_one(self, stmt: Select[Any]) -> Any:
        try:
            with self.engine.connect() as conn:
                return conn.execute(stmt).one_or_none()
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot read the registry at {self.url}: {db_reason(exc)}") from None

    # ------------------------------------------------------------------------------------------ other

    def diff(self, a_id: int, b_id: int, *, max_file_changes: int | None = None) -> Diff:
        """What changed from assessment `a_id` to assessment `b_id`.

        With `max_file_changes`, the documents are read without their per-file lists (those are
        compared as plain JSON values) and at most that many file changes are listed."""
        if max_file_changes is None:
            return compare(self.stored(a_id), self.stored(b_id))
        sides = []
        for ident in (a_id, b_id):
            stored, _ = self.stored_window(ident, offset=0, limit=0)
            sides.append((stored, file_map(self._raw(ident)[1])))
        (a, a_files), (b, b_files) = sides
        return compare(a, b, files=(a_files, b_files), max_file_changes=max_file_changes)

    def export(
        self,
        path: str | os.PathLike[str],
        format: str = "jsonl",
        filters: Filters | None = None,
        *,
        latest: bool = False,
    ) -> int:
        """Write the matching assessments to `path` (JSON Lines or CSV); return how many."""
        return write_export(self.iter_stored(filters, latest=latest), path, format)

    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(text("select 1"))


def _distinct(conn: Connection, column: Any, *cond: ColumnElement[bool], limit: int = 100) -> list[str]:
    """The distinct non-null values of an indexed column, one index seek each (a "loose index scan"):
    a few values among 100,000 rows cost a few lookups, not a scan."""
    found: list[str] = []
    while len(found) < limit:
        after = column > found[-1] if found else column.is_not(None)
        value = conn.execute(select(func.min(column)).where(*cond, after)).scalar()
        if value is None:
            break
        found.append(str(value))
    return found


def db_reason(exc: SQLAlchemyError) -> str:
    """A database error as a user may read it: the driver's own message, first line only — no SQL
    statement, no parameters, no traceback."""
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip().splitlines()
    return message[0] if message else type(exc).__name__
