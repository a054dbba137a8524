"""`modelwarden registry list|show|diff|export|delete`: the recorded assessments from the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic import ValidationError

from modelwarden.cli import app, err, out
from modelwarden.cli._options import OUTPUT
from modelwarden.errors import UsageError
from modelwarden.model import Assessment
from modelwarden.registry.filters import AttestedFilter, Filters, MofFilter, SeverityFilter, Sort
from modelwarden.registry.summary import LicenceClass
from modelwarden.report.base import OutputFormat, choices, renderer
from modelwarden.report.output import show

if TYPE_CHECKING:
    from modelwarden.registry import Registry

    TextOrJson = OutputFormat
    ExportFormat = OutputFormat
else:
    TextOrJson = choices("registry")
    ExportFormat = choices("registry export")

registry_app = typer.Typer(
    name="registry",
    help="List, show, compare and export the assessments recorded in the registry.",
    no_args_is_help=True,
)
app.add_typer(registry_app)


DB = typer.Option(None, "--db", help="Database URL (default: $MODELWARDEN_DB or the user data file).")


def _open(db: str | None, *, create: bool = False) -> Registry:
    """The registry at `db`. Commands that only read never create one: a mistyped SQLite path would
    otherwise show an empty registry (and leave a new file behind) instead of an error."""
    from sqlalchemy.engine import make_url

    from modelwarden.db import resolve_url
    from modelwarden.registry import Registry  # SQLAlchemy and Alembic load only when needed

    url = make_url(resolve_url(db))
    database = url.database
    sqlite_file = url.get_backend_name() == "sqlite" and database and database != ":memory:"
    if sqlite_file and Path(str(database)).exists() and not Path(str(database)).is_file():
        # Said here: "no registry here" below would send the user looking for the wrong problem.
        kind = "is a folder" if Path(str(database)).is_dir() else "is a device, socket or pipe"
        raise UsageError(f"{kind}, not a SQLite database file", path=str(database))
    if not create and sqlite_file and not Path(str(database)).is_file():
        raise UsageError(
            "no registry here: nothing has been saved to it yet "
            "(`modelwarden assess PATH --save --db URL` or `registry import` create it)",
            path=str(database),
        )
    return Registry(db)


def filters_from(**values: Any) -> Filters:
    """Validated filters, or a usage error naming the bad option."""
    try:
        return Filters(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "filters"
        raise UsageError(f"--{where.replace('_', '-')}: {first['msg']}") from None


@registry_app.command("list")
def list_(
    db: str | None = DB,
    latest: bool = typer.Option(False, "--latest", help="Only each model's latest assessment."),
    q: str | None = typer.Option(None, "--search", "-q", help="Model name contains."),
    name: str | None = typer.Option(None, "--name", help="Exact model name."),
    licence: str | None = typer.Option(None, "--licence", help="Licence id, e.g. apache-2.0."),
    licence_class: LicenceClass | None = typer.Option(None, "--licence-class"),
    mof_class: MofFilter | None = typer.Option(None, "--mof-class"),
    threshold: str | None = typer.Option(
        None, "--threshold", help="Threshold call, e.g. 1e25:clearly_above or 1e23:uncertain."
    ),
    severity: SeverityFilter | None = typer.Option(None, "--severity", help="Worst finding at least."),
    duty: str | None = typer.Option(None, "--duty", help="Regime with obligations, e.g. eu_ai_act."),
    attested: AttestedFilter | None = typer.Option(
        None, "--attested", help="With an attestation attached: verified, or any."
    ),
    sort: Sort = typer.Option(Sort.RECORDED, "--sort"),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="Rows per page (1-500)."),
    offset: int = typer.Option(0, "--offset", min=0, help="Rows to skip (for paging)."),
    format: TextOrJson = typer.Option(TextOrJson.TEXT, "--format"),
    output: Path | None = OUTPUT,
) -> None:
    """Recorded assessments, newest first, with filters."""
    filters = filters_from(
        q=q,
        name=name,
        licence=licence,
        licence_class=licence_class,
        mof_class=mof_class,
        threshold=threshold,
        severity=severity,
        duty=duty,
        attested=attested,
    )
    with _open(db) as reg:
        page = reg.list(filters, latest=latest, sort=sort, limit=limit, offset=offset)
    show(renderer("page", format), page, output, console=out, latest=latest)
    if page.total > page.offset + len(page.items):
        err.print(f"showing {page.offset + 1}–{page.offset + len(page.items)} of {page.total}; use --offset")


@registry_app.command("show")
def show_cmd(
    ident: int = typer.Argument(..., metavar="ID", help="Assessment id (see `registry list`)."),
    db: str | None = DB,
    format: TextOrJson = typer.Option(TextOrJson.TEXT, "--format"),
    output: Path | None = OUTPUT,
) -> None:
    """One recorded assessment: the full report (`--format json`: the document as recorded)."""
    with _open(db) as reg:
        stored = reg.stored(ident)
    show(renderer("stored", format), stored, output, console=out)


@registry_app.command()
def diff(
    a: int = typer.Argument(..., metavar="A", help="The older assessment id."),
    b: int = typer.Argument(..., metavar="B", help="The newer assessment id."),
    db: str | None = DB,
    format: TextOrJson = typer.Option(TextOrJson.TEXT, "--format"),
    output: Path | None = OUTPUT,
) -> None:
    """What changed between two assessments: parameters, licence, components, findings, thresholds, duties."""
    with _open(db) as reg:
        result = reg.diff(a, b)
    if format == OutputFormat.TEXT and not result.same_model:
        err.print("note: the two assessments are of different models")
    show(renderer("diff", format), result, output, console=out)


@registry_app.command()
def export(
    path: Path = typer.Argument(..., help="File to write."),
    db: str | None = DB,
    format: ExportFormat = typer.Option(
        ExportFormat.JSONL, "--format", help="jsonl (documents) or csv (summary)."
    ),
    latest: bool = typer.Option(False, "--latest", help="Only each model's latest assessment."),
    q: str | None = typer.Option(None, "--search", "-q", help="Model name contains."),
    duty: str | None = typer.Option(None, "--duty", help="Regime with obligations, e.g. eu_ai_act."),
) -> None:
    """Write recorded assessments to JSON Lines (full documents) or CSV (one summary row each)."""
    filters = filters_from(q=q, duty=duty)
    with _open(db) as reg:
        written = reg.export(path, OutputFormat(format).value, filters, latest=latest)
    err.print(f"wrote {written} assessment(s) to {path}", highlight=False, markup=False)


@registry_app.command()
def delete(
    ident: int = typer.Argument(..., metavar="ID", help="Assessment id (see `registry list`)."),
    db: str | None = DB,
) -> None:
    """Remove one recorded assessment (the model's previous one becomes its latest)."""
    with _open(db) as reg:
        reg.delete(ident)
    err.print(f"deleted assessment {ident}")


@registry_app.command("import")
def import_(
    paths: list[Path] = typer.Argument(
        ...,
        help="Assessment JSON files (`modelwarden assess --format json`) or JSON Lines files "
        "(`registry export`).",
    ),
    db: str | None = DB,
) -> None:
    """Record assessments from `assess --format json` or `registry export` files (e.g. another machine's)."""
    from modelwarden.registry.importing import check_total_size, read_assessments

    check_total_size(paths)
    docs: list[Assessment] = []
    files: list[Path] = []
    for p in paths:
        for doc in read_assessments(p):  # JSON Lines (`registry export`): one per line
            docs.append(doc)
            files.append(p)
    with _open(db, create=True) as reg:
        ids = reg.save_many(docs)  # one transaction: all recorded, or none
    for p, ident in zip(files, ids, strict=True):
        out.print(json.dumps({"id": ident, "file": str(p)}), markup=False, highlight=False)


# --- attestations (docs/trust.md "Attestations in the registry") ------------------------------------

PUBLIC_KEY = typer.Option(None, "--public-key", help="Verify against this public key (PEM).")
CERT_CHAIN = typer.Option(
    [], "--certificate-chain", help="Verify against these root certificates (PEM; repeatable)."
)


def _anchor(public_key: Path | None, chain: list[Path]) -> Any:
    from modelwarden.registry.attestations import Anchor

    return None if public_key is None and not chain else Anchor.from_files(public_key, chain)


def _read_input(path: Path, what: str) -> bytes:
    from modelwarden.errors import TrustInvalid
    from modelwarden.limits import MAX_ATTESTATION_BYTES
    from modelwarden.untrusted.io import read_bounded

    try:
        raw = read_bounded(path, MAX_ATTESTATION_BYTES)
    except OSError as exc:
        raise TrustInvalid(f"cannot read the {what}: {exc.strerror or exc}", path=path) from None
    if len(raw) > MAX_ATTESTATION_BYTES:
        raise TrustInvalid(f"the {what} is larger than {MAX_ATTESTATION_BYTES:,} bytes: refused", path=path)
    return raw


def _print_attestation(att: Any) -> None:
    from modelwarden.untrusted.text import markup

    mark = {"verified": "verified ✓", "failed": "FAILED ✗", "not verified": "present, not verified"}
    out.print(f"attestation {att.id} of assessment {att.assessment_id}: {mark[att.status]}", highlight=False)
    out.print(f"  {markup(att.detail)}", highlight=False)
    if att.signer:
        out.print(f"  signer: {markup(att.signer)}", highlight=False)
    if att.anchor:
        out.print(
            f"  anchor: {markup(att.anchor)} at {att.verified_at:%Y-%m-%d %H:%M:%S} UTC", highlight=False
        )


@registry_app.command()
def attach(
    ident: int = typer.Argument(..., metavar="ID", help="Assessment id (see `registry list`)."),
    attestation: Path = typer.Argument(..., help="The attestation (DSSE envelope, `modelwarden attest`)."),
    db: str | None = DB,
    public_key: Path | None = PUBLIC_KEY,
    certificate_chain: list[Path] = CERT_CHAIN,
    signature: Path | None = typer.Option(
        None,
        "--signature",
        help="The model signature (certificate method: it holds the signing certificate).",
    ),
) -> None:
    """Attach a signed attestation to a recorded assessment, verified when an anchor is given.

    It must attest this assessment (same predicate but its creation time) of the same files; otherwise
    it is refused. Without --public-key or --certificate-chain it is stored as "present, not verified".
    """
    from modelwarden.registry.attestations import attach as attach_

    anchor = _anchor(public_key, certificate_chain)
    envelope = _read_input(attestation, "attestation")
    bundle = _read_input(signature, "model signature") if signature is not None else None
    with _open(db) as reg:
        att, new = attach_(reg, ident, envelope, anchor=anchor, signature_bundle=bundle)
    if not new:
        err.print(f"already attached as attestation {att.id}: not stored twice", highlight=False)
    _print_attestation(att)
    if att.status == "failed":
        raise typer.Exit(1)


@registry_app.command("attestations")
def attestations_cmd(
    ident: int = typer.Argument(..., metavar="ID", help="Assessment id (see `registry list`)."),
    db: str | None = DB,
    format: TextOrJson = typer.Option(TextOrJson.TEXT, "--format"),
) -> None:
    """The attestations attached to a recorded assessment, with their latest verification."""
    from modelwarden.registry.attestations import for_assessment

    with _open(db) as reg:
        reg.summary(ident)  # an unknown id is an error, not an empty list
        found = for_assessment(reg, ident)
    if format == OutputFormat.JSON:
        out.print(
            json.dumps([a.model_dump(mode="json") for a in found], indent=2), markup=False, highlight=False
        )
        return
    if not found:
        err.print(f"assessment {ident} has no attestation")
    for att in found:
        _print_attestation(att)


@registry_app.command("verify-attestations")
def verify_attestations(
    db: str | None = DB,
    public_key: Path | None = PUBLIC_KEY,
    certificate_chain: list[Path] = CERT_CHAIN,
    assessment: int | None = typer.Option(None, "--assessment", help="Only this assessment's attestations."),
) -> None:
    """Check the stored attestations again against a trust anchor and record the outcome.

    Exit codes: 0 all verified; 1 any failed; 2 no anchor or a bad one."""
    from modelwarden.registry.attestations import reverify

    anchor = _anchor(public_key, certificate_chain)
    if anchor is None:
        raise UsageError(
            "nothing to verify against", next_step="give --public-key KEY or --certificate-chain ROOT"
        )
    with _open(db) as reg:
        done = reverify(reg, anchor, assessment_id=assessment)
    for att in done:
        _print_attestation(att)
    err.print(f"{sum(a.status == 'verified' for a in done)} of {len(done)} attestation(s) verified")
    if any(a.status != "verified" for a in done):
        raise typer.Exit(1)
