"""Text and JSON renderings of an `OpennessReport` (the JSON keys are the stable contract)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from modelwarden.model import OpennessReport
from modelwarden.openness.mof import components as mof_components
from modelwarden.untrusted.text import markup

_ROMAN = {1: "I", 2: "II", 3: "III"}


def to_json(report: OpennessReport) -> dict[str, Any]:
    data: dict[str, Any] = report.model_dump(mode="json", by_alias=True)
    return data


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


def render(report: OpennessReport, console: Console, *, title: str | None = None) -> None:
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
