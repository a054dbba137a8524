"""Renderers for `modelwarden inspect`: the JSON contract and the human tables.

The JSON contract (`--format json`, schema `modelwarden.inspect/1`) is stable for scripts: plain
values at the top (`parameters.total`, `architecture`, `license.id`, ...) and the provenance of each
fact beside it (`provenance.<field>`, `license.source`, `parameters.provenance`). New keys may be
added; existing keys keep their meaning.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from modelwarden.model import ArtifactInfo, Fact, ModelFacts, Provenance
from modelwarden.untrusted.text import text, visible

SCHEMA = "modelwarden.inspect/1"
# What `parameters.active` counts (docs/compute.md "Active parameters"): vendors differ.
ACTIVE_CONVENTION = "input embedding included"
MAX_FILE_ROWS = 30


def to_json(facts: ModelFacts, *, tensors: bool = False) -> dict[str, Any]:
    pc = facts.parameters
    lic = facts.license
    return {
        "schema": SCHEMA,
        "name": facts.name,
        "root": facts.root,
        "layout": facts.layout.value,
        "revision": facts.revision,
        "parameters": {
            "total": pc.total,
            "active": pc.active,
            "active_convention": ACTIVE_CONVENTION,
            "active_without_input_embedding": pc.active_without_input_embedding,
            "input_embedding": pc.input_embedding,
            "source": pc.source,
            "config_total": pc.config_total,
            "config_active": pc.config_active,
            "breakdown": pc.breakdown,
            "non_parameter_elements": pc.non_parameter_elements,
            "provenance": _prov(pc.provenance),
            "notes": pc.notes,
            "warnings": pc.warnings,
            "disagreements": [d.model_dump(mode="json") for d in pc.disagreements],
        },
        "architecture": _value(facts.architecture),
        "model_type": _value(facts.model_type),
        "modalities": {"input": facts.modalities.input, "output": facts.modalities.output},
        "context_length": _value(facts.context_length),
        "license": None
        if lic is None
        else {"id": lic.id, "name": lic.name, "link": lic.link, **(_prov(lic.provenance) or {})},
        "license_files": [lf.model_dump(mode="json") for lf in facts.license_files],
        "base_model": [
            {"name": b.name, "relation": b.relation, **(_prov(b.provenance) or {})} for b in facts.base_model
        ],
        "datasets": [d.value for d in facts.datasets],
        "language": facts.language,
        "pipeline_tag": _value(facts.pipeline_tag),
        "library_name": _value(facts.library_name),
        "tags": facts.tags,
        "tokenizer": facts.tokenizer.model_dump(mode="json") if facts.tokenizer else None,
        "quantization": _value(facts.quantization),
        "dtypes": facts.dtypes,
        "card": None
        if facts.card is None
        else {"path": facts.card.path, "links": facts.card.links, "metadata": facts.card.metadata},
        "components": [c.model_dump(mode="json") for c in facts.components],
        "adapter": facts.adapter.model_dump(mode="json") if facts.adapter else None,
        "generation_config": facts.generation_config,
        "remote_code": facts.remote_code,
        "files": [_file(f, tensors=tensors) for f in facts.files],
        "provenance": {
            name: _prov(fact.provenance)
            for name, fact in (
                ("architecture", facts.architecture),
                ("model_type", facts.model_type),
                ("context_length", facts.context_length),
                ("pipeline_tag", facts.pipeline_tag),
                ("library_name", facts.library_name),
                ("quantization", facts.quantization),
            )
            if fact is not None
        }
        | ({"modalities": _prov(facts.modalities.provenance)} if facts.modalities.provenance else {})
        | ({"datasets": _prov(facts.datasets[0].provenance)} if facts.datasets else {}),
        "problems": [p.model_dump(mode="json") for p in facts.problems],
        "warnings": facts.warnings,
    }


def _file(f: ArtifactInfo, *, tensors: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": f.path,
        "format": f.format.value,
        "size": f.size,
        "sha256": f.sha256,
        "role": f.role,
        "component": f.component,
        "tensors": len(f.tensors),
        "parameters": f.parameters,
        "bytes_read": f.bytes_read,
        "problems": len(f.problems),
    }
    if tensors:
        out["tensor_list"] = [t.model_dump(mode="json") for t in f.tensors]
    if f.metadata:
        out["metadata"] = f.metadata
    return out


def _value(fact: Fact[Any] | None) -> Any:
    return None if fact is None else fact.value


def _prov(p: Provenance | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {k: v for k, v in p.model_dump(mode="json").items() if v is not None}


# ---------------------------------------------------------------------------------------------------
# Human output
# ---------------------------------------------------------------------------------------------------


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


def render(facts: ModelFacts, console: Console, *, tensors: bool = False) -> None:
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
        _row(t, "Config formula", f"{pc.config_total:,}{active} — {same}", "config.json (compute.md §4.7)")
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
    return t


def _row(t: Table, *cells: str | Text) -> None:
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
    total = facts.parameters.total or 1
    t = Table(title="Parameters by component", title_justify="left", header_style="bold")
    t.add_column("Component")
    t.add_column("Parameters", justify="right")
    t.add_column("Share", justify="right")
    for name, n in sorted(facts.parameters.breakdown.items(), key=lambda kv: -kv[1]):
        _row(t, name, f"{n:,}", f"{n / total:.1%}")
    return t


def _components(facts: ModelFacts) -> Table:
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
    t = Table(title=text(f"Tensors of {f.path}", "table.title"), title_justify="left", header_style="bold")
    for col in ("Name", "Dtype", "Shape", "Kind", "Component", "Parameters"):
        t.add_column(col, justify="right" if col == "Parameters" else "left", overflow="fold")
    for x in f.tensors:
        _row(t, x.name, x.dtype, str(list(x.shape)), x.kind.value, x.component or "", f"{x.parameters:,}")
    return t
