"""Text renderings for a person at a terminal: every record's `print_<kind>(record, console)`.

Each prints through a rich console (colour and width on a terminal; `cli/_plain.py`'s plain console
for `scan` on a pipe) and `<kind>_text(record)` captures the same output as a string without colour.
Values read from model files go through `modelwarden.untrusted.text` (never parsed as markup).

rich is imported inside the functions that build tables, not here: `modelwarden scan` prints its text
without importing rich when stdout is not a terminal (docs/scan.md "Where the time goes").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelwarden.records import Severity
from modelwarden.untrusted.text import markup, text, visible

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from modelwarden.model import ArtifactInfo, Assessment, Fact, ModelFacts, OpennessReport, TrustFile
    from modelwarden.records import ScanReport
    from modelwarden.registry import Diff, StoredAssessment
    from modelwarden.registry.records import Page

WIDTH = 160  # columns of text captured as a string (a file)


def capture(print_fn: Callable[..., None], record: Any, **options: Any) -> str:
    """What `print_fn` prints for `record`, without colour, `WIDTH` columns wide."""
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    print_fn(record, Console(file=buf, width=WIDTH, no_color=True), **options)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------
# The facts of a release (`inspect`)
# ---------------------------------------------------------------------------------------------------

MAX_FILE_ROWS = 30


def human_count(n: int | None) -> str:
    if n is None:
        return "—"
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def print_facts(facts: ModelFacts, console: Console, *, tensors: bool = False) -> None:
    from rich.console import Group
    from rich.text import Text

    console.print(
        Text.assemble(
            (visible(facts.name or "model"), "bold"),
            "  ",
            (visible(facts.root), "dim"),
            "  ",
            (f"[{facts.layout.value}]", "cyan"),
        )
    )
    console.print(_summary(facts))
    if len(facts.parameters.breakdown) > 1:
        console.print(_breakdown(facts))
    if facts.components:
        console.print(_components(facts))
    console.print(_files(facts))
    if tensors:
        for f in facts.files:
            if f.tensors:
                console.print(_tensor_table(f))
    notes = [*facts.parameters.notes]
    warnings = [*facts.parameters.warnings, *facts.warnings]
    if notes:
        console.print(Group(*[text(f"note: {n}", "dim") for n in notes]))
    if warnings:
        console.print(Group(*[text(f"warning: {w}", "yellow") for w in warnings]))
    if facts.problems:
        lines = [
            Text.assemble(
                (
                    "error" if p.severity == "error" else "warning",
                    "red" if p.severity == "error" else "yellow",
                ),
                visible(f": {p.file}: {p.message} [{p.code}]"),
            )
            for p in facts.problems
        ]
        console.print(Group(*lines))


def _summary(facts: ModelFacts) -> Table:
    from rich.table import Table

    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    t.add_column("Fact", style="bold")
    t.add_column("Value", overflow="fold")
    t.add_column("From", style="dim", overflow="fold")
    pc = facts.parameters
    if pc.total is not None:
        value = f"{pc.total:,}" + (f" ({human_count(pc.total)})" if pc.total >= 1000 else "")
        where = (pc.provenance.file or "") if pc.provenance else ""
        _row(t, "Parameters", value, f"{pc.source}: {where}" if where else str(pc.source))
    else:
        _row(t, "Parameters", "unknown", "no readable weights, no config formula")
    if pc.active is not None:
        _row(
            t,
            "Active / token",
            f"{pc.active:,} ({human_count(pc.active)}) with the input embedding",
            "mixture of experts: routed experts × k/E",
        )
        if pc.active_without_input_embedding is not None:
            _row(
                t,
                "  without it",
                f"{pc.active_without_input_embedding:,} ({human_count(pc.active_without_input_embedding)})",
                "the DeepSeek / Kimi / gpt-oss convention: the lookup left out",
            )
    if pc.config_total is not None and pc.source == "tensors":
        same = "agrees" if pc.config_total == _comparable(facts) else "differs (see warnings)"
        active = f", active {pc.config_active:,}" if pc.config_active else ""
        _row(
            t,
            "Config formula",
            f"{pc.config_total:,}{active} — {same}",
            "config.json (docs/reference/compute.md §4.7)",
        )
    if pc.non_parameter_elements:
        _row(
            t,
            "Not parameters",
            f"{pc.non_parameter_elements:,} elements",
            "buffers, quantisation aux., state",
        )
    _fact_row(t, "Architecture", facts.architecture)
    _fact_row(t, "Model type", facts.model_type)
    if facts.context_length is not None:
        _fact_row(t, "Context length", facts.context_length, f"{facts.context_length.value:,}")
    if facts.modalities.input or facts.modalities.output:
        m = facts.modalities
        _row(
            t,
            "Modalities",
            f"{', '.join(m.input) or '—'} → {', '.join(m.output) or '—'}",
            m.provenance.describe() if m.provenance else "",
        )
    if facts.license is not None:
        lic = facts.license
        value = lic.id or "—"
        if lic.name:
            value += f" ({lic.name})"
        if lic.link:
            value += f" {lic.link}"
        _row(t, "Licence", value, lic.provenance.describe() if lic.provenance else "")
    for lf in facts.license_files:
        _row(
            t,
            f"  {lf.kind.replace('_', ' ')}",
            lf.identified_as or "not a known text",
            f"{lf.path}" + (f" ({lf.method})" if lf.method else ""),
        )
    for b in facts.base_model:
        _row(
            t,
            "Base model",
            b.name + (f" ({b.relation})" if b.relation else ""),
            b.provenance.describe(),
        )
    if facts.datasets:
        names = [d.value for d in facts.datasets]
        shown = ", ".join(names[:4]) + (f" … +{len(names) - 4}" if len(names) > 4 else "")
        _row(t, "Datasets", shown, facts.datasets[0].provenance.describe())
    if facts.language:
        _row(t, "Language", ", ".join(facts.language[:10]), facts.card.path if facts.card else "")
    _fact_row(t, "Pipeline tag", facts.pipeline_tag)
    _fact_row(t, "Library", facts.library_name)
    if facts.tokenizer is not None:
        tok = facts.tokenizer
        value = f"vocab {tok.vocab_size:,}" if tok.vocab_size else "present"
        value += ", chat template" if tok.chat_template else ""
        _row(
            t,
            "Tokenizer",
            value,
            tok.provenance.describe() if tok.provenance else ", ".join(tok.files[:2]),
        )
    _fact_row(t, "Quantisation", facts.quantization)
    if facts.dtypes:
        _row(
            t,
            "Dtypes",
            ", ".join(f"{k} {human_count(v)}" for k, v in list(facts.dtypes.items())[:5]),
            "tensors",
        )
    if facts.adapter is not None:
        a = facts.adapter
        _row(
            t,
            "Adapter",
            f"{a.peft_type or '?'} r={a.rank} on {', '.join(a.target_modules[:6]) or '?'}",
            a.provenance.describe() if a.provenance else "",
        )
    if facts.card is not None and facts.card.links:
        arxiv = [link for link in facts.card.links if "arxiv.org" in link]
        _row(t, "Card links", f"{len(facts.card.links)} ({len(arxiv)} arXiv)", facts.card.path)
    _trust_rows(t, facts)
    return t


def _trust_rows(t: Table, facts: ModelFacts) -> None:
    """One row per signature or attestation found; one row saying none was, since its absence is a fact."""
    if not facts.trust:
        if facts.remote is not None:
            _row(t, "Signed", "not examined (read remotely)", "docs/trust.md")
        else:
            _row(t, "Signed", "no model signature, no attestation", "looked for model.sig, *.intoto.json")
        return
    for f in facts.trust:
        _row(
            t,
            "Model signature" if f.kind == "model signature" else "Attestation",
            _trust_state(f),
            f.file.value,
        )


def _trust_state(f: TrustFile) -> str:
    """Verified, failed, or unknown — unknown (no anchor given) is never shown as verified."""
    if not f.recognised:
        return f"not recognised: {f.detail}"
    if f.verified is None:
        return "present, not verified (no trusted key or root given)"
    return "verified" if f.verified else f"DOES NOT VERIFY: {f.detail}"


def _row(t: Table, *cells: str | Text) -> None:
    from rich.text import Text

    # Cells hold names and values read from the files: plain Text, never parsed as console markup.
    t.add_row(*(c if isinstance(c, Text) else text(c) for c in cells))


def _comparable(facts: ModelFacts) -> int | None:
    pc = facts.parameters
    if pc.total is None:
        return None
    return pc.total - sum(pc.breakdown.get(c, 0) for c in ("mtp", "vision", "audio", "adapter"))


def _fact_row(t: Table, label: str, fact: Fact[Any] | None, shown: str | None = None) -> None:
    if fact is not None:
        _row(t, label, shown if shown is not None else str(fact.value), fact.provenance.describe())


def _breakdown(facts: ModelFacts) -> Table:
    from rich.table import Table

    total = facts.parameters.total or 1
    t = Table(title="Parameters by component", title_justify="left", header_style="bold")
    t.add_column("Component")
    t.add_column("Parameters", justify="right")
    t.add_column("Share", justify="right")
    for name, n in sorted(facts.parameters.breakdown.items(), key=lambda kv: -kv[1]):
        _row(t, name, f"{n:,}", f"{n / total:.1%}")
    return t


def _components(facts: ModelFacts) -> Table:
    from rich.table import Table

    t = Table(title="Components", title_justify="left", header_style="bold")
    t.add_column("Component")
    t.add_column("Class")
    t.add_column("Path")
    t.add_column("Parameters", justify="right")
    for c in facts.components:
        _row(
            t,
            c.name,
            c.class_name or "",
            c.path or "",
            f"{c.parameters:,}" if c.parameters is not None else "—",
        )
    return t


def _files(facts: ModelFacts) -> Table:
    from rich.table import Table
    from rich.text import Text

    hashed = any(f.sha256 for f in facts.files)
    t = Table(title=f"Files ({len(facts.files)})", title_justify="left", header_style="bold")
    t.add_column("Path", overflow="fold")
    t.add_column("Format")
    t.add_column("Size", justify="right")
    t.add_column("Role")
    t.add_column("Tensors", justify="right")
    t.add_column("Parameters", justify="right")
    if hashed:
        t.add_column("SHA-256", overflow="fold")
    ordered = sorted(facts.files, key=lambda f: (f.role != "primary", f.role is None, not f.problems, f.path))
    for f in ordered[:MAX_FILE_ROWS]:
        role = text(f.role or "")
        if any(p.severity == "error" for p in f.problems):
            role = Text("problem", style="red")
        row: list[str | Text] = [
            f.path,
            f.format.value,
            human_bytes(f.size),
            role,
            f"{len(f.tensors):,}" if f.tensors else "",
            f"{f.parameters:,}" if f.parameters else "",
        ]
        if hashed:
            row.append(f.sha256 or "")
        _row(t, *row)
    if len(ordered) > MAX_FILE_ROWS:
        rest = ordered[MAX_FILE_ROWS:]
        _row(
            t,
            f"… {len(rest)} more (all in --format json)",
            "",
            human_bytes(sum(f.size for f in rest)),
            "",
            f"{sum(len(f.tensors) for f in rest):,}",
            f"{sum(f.parameters or 0 for f in rest):,}",
            *([""] if hashed else []),
        )
    return t


def _tensor_table(f: ArtifactInfo) -> Table:
    from rich.table import Table

    t = Table(title=text(f"Tensors of {f.path}", "table.title"), title_justify="left", header_style="bold")
    for col in ("Name", "Dtype", "Shape", "Kind", "Component", "Parameters"):
        t.add_column(col, justify="right" if col == "Parameters" else "left", overflow="fold")
    for x in f.tensors:
        _row(t, x.name, x.dtype, str(list(x.shape)), x.kind.value, x.component or "", f"{x.parameters:,}")
    return t


# ---------------------------------------------------------------------------------------------------
# A scan report (`scan`)
# ---------------------------------------------------------------------------------------------------


STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def print_scan(report: ScanReport, console: Console, *, threshold: Severity, show_info: bool = False) -> None:
    from modelwarden.scan.verdict import verdict

    shown = [f for f in report.findings if show_info or f.severity is not Severity.INFO]
    current = None
    for f in shown:
        if f.file != current:
            current = f.file
            console.print(f"[bold]{markup(f.file)}[/]")
        where = f.location.describe()
        console.print(
            f"  [{STYLE[f.severity]}]{f.severity.value.upper():8}[/] {markup(f.rule_id)}"
            + (f"  [dim]{markup(where)}[/]" if where else ""),
            highlight=False,
        )
        console.print(f"           {markup(f.message)}", highlight=False)
        if f.evidence:
            console.print(f"           [dim]evidence:[/] {markup(f.evidence)}", highlight=False)
    for p in report.problems:
        console.print(f"[red]problem[/] {markup(p.file)}: {markup(p.message)}", highlight=False)
    counts = report.counts()
    summary = ", ".join(
        f"{n} {s.value}" for s, n in counts.items() if n and (show_info or s is not Severity.INFO)
    )
    v = verdict(report, threshold)
    n_unverified = v["unverified"]
    unverified_note = (
        f"[bold red]UNVERIFIED[/]: {n_unverified} finding{'' if n_unverified == 1 else 's'} could not be"
        " verified"
    )
    if v["failed"]:
        status = f"[bold red]FAIL[/] ({v['findings_at_or_above']} at or above {threshold.value})"
        if n_unverified:
            status += f", {unverified_note}"
    elif n_unverified:
        # Only --fail-on critical gets here: the file was not fully verified, and the verdict says so.
        status = f"{unverified_note} (passing only because of --fail-on {threshold.value})"
    elif report.problems:
        # Something named could not be read: "PASS" would vouch for bytes nobody looked at.
        status = (
            f"[bold yellow]INCOMPLETE[/] ({len(report.problems)} unreadable; "
            f"nothing else at or above {threshold.value})"
        )
    else:
        status = f"[bold green]PASS[/] (nothing at or above {threshold.value})"
    n = len(report.files)
    console.print(
        f"{status} — {n} file{'' if n == 1 else 's'} scanned in {report.duration_seconds or 0:.2f} s"
        + (f"; findings: {summary}" if summary else "; no findings")
    )


# ---------------------------------------------------------------------------------------------------
# An openness report (`openness`)
# ---------------------------------------------------------------------------------------------------

_ROMAN = {1: "I", 2: "II", 3: "III"}


def _mark(value: bool | None) -> str:
    return {True: "[green]yes[/]", False: "[red]no[/]", None: "[yellow]?[/]"}[value]


def _mof_status(report: OpennessReport, cid: str) -> str:
    """How the MOF evaluator counted the component, with the licence string it compared when that
    differs from the Licence column (MOT-exact compares strings as written)."""
    st = report.mof.components.get(cid)
    if st is None or st.status == "missing":
        return ""
    shown = report.components[cid].licence if cid in report.components else None
    compared = f" ({markup(st.licence)})" if st.licence and st.licence != shown else ""
    return st.status + compared


def print_openness(report: OpennessReport, console: Console, *, title: str | None = None) -> None:
    from rich.table import Table

    from modelwarden.openness.mof import components as mof_components

    lic = report.licence
    head = f"{lic.name or lic.text or 'no licence found'} [{lic.kind}]"
    if title:
        console.print(f"[bold]{markup(title)}[/]", highlight=False)
    where = f"  ({lic.provenance.describe()})" if lic.provenance else ""
    console.print(markup(f"Licence: {head}{where}"), highlight=False)
    for r in lic.restrictions:
        console.print(markup(f"  restriction: {r}"), highlight=False)

    specs = mof_components()
    table = Table(title="Components (Model Openness Framework)", title_justify="left")
    for col in ("Component", "Class", "Present", "Licence", "Open", "MOF", "Evidence"):
        table.add_column(col)
    for cid, spec in specs.items():  # data/mof.yaml lists them class by class
        ev = report.components.get(cid)
        if ev is None:
            continue
        first = ev.evidence[0] if ev.evidence else None
        where = f"{first.description} — {first.provenance.describe()}" if first else ""
        table.add_row(
            spec.name + ("" if spec.required else " (optional)"),
            _ROMAN[spec.cls],
            _mark(ev.present),
            markup(ev.licence or "—") if ev.present else "",
            _mark(ev.open) if ev.present else "",
            _mof_status(report, cid),
            markup(where),
        )
    console.print(table)

    m = report.mof
    cls = f"Class {_ROMAN[m.class_]}" if m.class_ else "unclassified"
    progress = " / ".join(
        f"{_ROMAN[int(k)]} {v:.1f}%" for k, v in sorted(m.progress.items(), key=lambda kv: -int(kv[0]))
    )
    console.print(f"MOF ({m.mode}): [bold]{cls}[/]  progress {progress}")
    for r in m.reasons:
        console.print(f"  {markup(r)}", highlight=False)
    for w in m.warnings:
        console.print(f"  [yellow]warning:[/] {markup(w)}", highlight=False)
    console.print(f"OSI OSAID 1.0: [bold]{'pass' if report.osaid.pass_ else 'fail'}[/]")
    for f in report.osaid.failing:
        console.print(f"  failing: {markup(f)}", highlight=False)
    eu = report.eu_foss_licence
    console.print(f"EU AI Act Art. 53(2) licence and publication conditions: [bold]{eu.verdict.value}[/]")
    for r in eu.reasons:
        console.print(f"  {markup(r)}", highlight=False)
    console.print(
        f"EOSAI-style index: mean {report.eosai.mean:.1%}" if report.eosai.mean is not None else "EOSAI: n/a"
    )
    console.print(
        "  " + ", ".join(f"{k} {v:g}" for k, v in report.eosai.scores.items()),
        highlight=False,
    )
    console.print(
        f"Release gradient: [bold]{markup(report.release_level or 'unknown')}[/] — "
        f"{markup(report.release_level_reason)}",
        highlight=False,
    )


# ---------------------------------------------------------------------------------------------------
# An assessment (`assess`)
# ---------------------------------------------------------------------------------------------------


_STYLE = {
    "duties": "bold yellow",
    "none": "green",
    "review": "magenta",
    "data": "cyan",
    "not in force": "dim",
}


def print_assessment(a: Assessment, console: Console, *, details: bool = True) -> None:
    from rich.table import Table

    from modelwarden.report.assess import DISCLAIMER, WORDS, headline, questions, reasons, summary

    for i, head in enumerate(headline(a)):
        console.print(f"[bold]{markup(head)}[/]" if i == 0 else f"  {markup(head)}", highlight=False)
    console.print()
    for line in summary(a):
        console.print(
            f"[{_STYLE[line.status]}]● {markup(line.regime)}[/]: {markup(line.text)}", highlight=False
        )
    qs = questions(a)
    if qs:
        console.print("\n[bold]Questions a person must settle[/]")
        for q in qs:
            console.print(f"  ? {markup(q)}", highlight=False)
    console.print(f"\n[dim]{DISCLAIMER}[/]")
    if not details:
        return
    for r in a.regimes.values():
        state = "" if r.in_force else " (not in force on this date)"
        console.print(f"\n[bold]{markup(r.instrument)}[/]{state}", highlight=False)
        for name, why in reasons(r):
            console.print(
                f"  {markup(name.replace('_', ' '))}: {WORDS[r.classification[name]]} — {markup(why)}",
                highlight=False,
            )
        for n in r.notes:
            console.print(f"  [dim]note: {markup(n)}[/]", highlight=False)
        if not r.obligations and not r.exemptions:
            continue
        table = Table(title_justify="left")
        for col in ("Obligation", "Cite", "From", "Deadline / note"):
            table.add_column(col, overflow="fold")
        for o in r.obligations:
            when = "; ".join(filter(None, [o.deadline, o.note]))
            table.add_row(
                f"{markup(o.id)}\n{markup(o.title)}",
                markup(o.citation.article),
                str(o.applies_from or ""),
                markup(when),
            )
        for e in r.exemptions:
            table.add_row(
                f"[green]exempt[/] {markup(e.id)}\n{markup(e.title)}",
                markup(e.citation.article),
                "",
                markup("removes " + ", ".join(e.removes)),
            )
        console.print(table)
    console.print("\n[bold]Compute assumptions[/]")
    for f in a.compute.assumptions:
        console.print(f"  - {markup(f.value)} ({markup(f.provenance.describe())})", highlight=False)


# ---------------------------------------------------------------------------------------------------
# Registry records (`registry list`, `show`, `diff`)
# ---------------------------------------------------------------------------------------------------


def _t(value: object) -> Text:
    # Model names and everything else recorded come from model files and manifests.
    return text("—" if value is None else value)


def print_page(page: Page, console: Console, *, latest: bool = False) -> None:
    from rich import box
    from rich.table import Table

    from modelwarden.registry import display as show

    # Below ~120 columns the full table folds every cell into fragments; a narrower one stays legible
    # (`registry show ID` and `--format json` have everything).
    wide = console.width >= 120
    title = f"{page.total} assessment(s)" + (" (latest per model)" if latest else "")
    table = Table(title=title) if wide else Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    columns = [
        "id",
        "model",
        "version",
        "as of",
        "parameters",
        "licence",
        "MOF",
        "1e25",
        "findings",
        "duties",
    ]
    if not wide:
        columns = ["id", "model", "as of", "MOF", "1e25", "findings", "duties"]
    for column in columns:
        table.add_column(
            column,
            overflow="fold",
            no_wrap=column in {"id", "as of"},
        )
    for s in page.items:
        cells = {
            "id": s.id,
            "model": s.name,
            "version": s.version,
            "as of": s.as_of,
            "parameters": show.count(s.parameters),
            "licence": f"{s.licence or '—'} ({show.licence_class(s.licence_class)})",
            "MOF": show.mof(s.mof_class),
            "1e25": show.call(s.thresholds.get("1e25")),
            "findings": show.severity(s.worst_severity, s.findings),
            # regimes with duties: their ids when there is room, else how many
            "duties": (" ".join(s.duties) or "none") if wide else str(len(s.duties)),
        }
        table.add_row(*(_t(cells[c]) for c in columns))
    console.print(table)


def print_stored(stored: StoredAssessment, console: Console) -> None:
    from rich.table import Table

    from modelwarden.registry import display as show
    from modelwarden.registry.summary import THRESHOLDS, remaining_obligations

    s, a = stored.summary, stored.assessment
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    rows: list[tuple[str, object]] = [
        ("model", a.subject.name),
        ("version", a.subject.version),
        ("assessment", f"#{stored.id}, recorded {stored.recorded_at:%Y-%m-%d %H:%M} UTC"),
        ("as of", a.as_of),
        ("tool / rule set", f"modelwarden {a.tool_version}, rules {a.ruleset_version}"),
        ("parameters", f"{s.parameters:,}" if s.parameters is not None else None),
        ("active parameters", f"{s.active_parameters:,}" if s.active_parameters is not None else None),
        ("licence", f"{s.licence or '—'} ({show.licence_class(s.licence_class)})"),
        ("MOF", show.mof(s.mof_class)),
        ("training compute", f"{show.band(a.compute.training_flop)} [{a.compute.method}]"),
    ]
    rows += [(f"threshold {t}", show.call(s.thresholds.get(t))) for t in THRESHOLDS]
    rows.append(("findings", show.severity(s.worst_severity, s.findings)))
    for label, value in rows:
        head.add_row(_t(label), _t(value))
    console.print(head)
    if a.scan and a.scan.findings:
        table = Table(title="findings")
        for column in ("severity", "rule", "file", "evidence"):
            table.add_column(column, overflow="fold")
        for f in a.scan.findings:
            table.add_row(_t(f.severity.value), _t(f.rule_id), _t(f.file), _t(f.evidence or f.message))
        console.print(table)
    for rid, r in a.regimes.items():
        classes = ", ".join(f"{k}={v.value}" for k, v in r.classification.items())
        state = "in force" if r.in_force else "not in force"
        console.print()
        console.print(_t(f"{rid} — {r.instrument} ({state}) {classes}"), style="bold")
        keep = set(remaining_obligations(r)) if r.in_force else set()
        for o in r.obligations:
            mark = "•" if o.id in keep else "–"
            extra = f"; deadline {o.deadline}" if o.deadline else ""
            console.print(
                _t(f"  {mark} {o.id}: {o.title} [{o.citation.instrument} {o.citation.article}]{extra}")
            )
        for e in r.exemptions:
            console.print(_t(f"  exemption {e.id}: {e.title} [{e.citation.instrument} {e.citation.article}]"))
        for question in r.needs_review:
            console.print(_t(f"  needs review: {question}"))


def print_diff(diff: Diff, console: Console) -> None:
    a, b = diff.a, diff.b
    before = f"#{a.id} {a.name} {a.version or ''} (as of {a.as_of})"
    after = f"#{b.id} {b.name} {b.version or ''} (as of {b.as_of})"
    console.print(_t(f"{before}  →  {after}"))
    if not diff.changes:
        console.print("no changes")
        return
    for section, changes in diff.by_section().items():
        console.print()
        console.print(_t(section), style="bold")
        for change in changes:
            sign = {"added": "+", "removed": "-", "changed": "~"}[change.kind.value]
            console.print(_t(f"  {sign} {change.message}"))


# ---------------------------------------------------------------------------------------------------
# The same, as strings (a file, or a renderer's `render`)
# ---------------------------------------------------------------------------------------------------


def facts_text(facts: ModelFacts, **options: Any) -> str:
    return capture(print_facts, facts, **options)


def scan_text(report: ScanReport, **options: Any) -> str:
    return capture(print_scan, report, **options)


def openness_text(report: OpennessReport, **options: Any) -> str:
    return capture(print_openness, report, **options)


def assessment_text(a: Assessment, **options: Any) -> str:
    return capture(print_assessment, a, **options)


def stored_text(stored: StoredAssessment, **options: Any) -> str:
    return capture(print_stored, stored, **options)


def page_text(page: Page, **options: Any) -> str:
    return capture(print_page, page, **options)


def diff_text(diff: Diff, **options: Any) -> str:
    return capture(print_diff, diff, **options)
