"""Assemble the values of every draft (with provenance, or a question when unknown) and render them."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from modelwarden.compute import estimate_compute
from modelwarden.errors import UsageError
from modelwarden.manifest import Manifest
from modelwarden.model import (
    Band,
    Classification,
    ComputeEstimate,
    ModelFacts,
    Provenance,
    RegimeResult,
    ThresholdCall,
)

TEMPLATES = Path(__file__).parent / "templates"
MAX_CARD_BYTES = 2_000_000

# Commission template §1.3: size bands of the training data per modality (regulation.md §1.12).
TEXT_BANDS = ((1e9, "less than 1 billion tokens"), (10e12, "1 billion to 10 trillion tokens"))

# Model-card sections a reader (and Annex XII) expects; the pattern finds a heading that covers it.
CARD_SECTIONS = {
    "intended uses": r"intended|use cases?|uses\b",
    "out-of-scope or prohibited uses": r"out[- ]of[- ]scope|misuse|prohibited|acceptable use",
    "limitations and risks": r"limitation|risks?|bias",
    "training data": r"training data|dataset|data\b",
    "training procedure": r"training procedure|training details|training\b",
    "evaluation": r"evaluation|results|benchmark",
    "environmental impact": r"environmental|carbon|energy|emissions",
    "how to use": r"how to|usage|get started|quick ?start",
    "citation": r"citation|bibtex|cite",
}


@dataclass
class Item:
    """One field of a draft: a value with its provenance, or the question that fills the gap."""

    label: str
    value: str | None = None
    source: str | None = None
    question: str | None = None

    @property
    def known(self) -> bool:
        return self.value is not None


@dataclass
class Draft:
    file: str
    title: str
    markdown: str


@dataclass
class _Context:
    facts: ModelFacts | None
    manifest: Manifest
    compute: ComputeEstimate
    regimes: dict[str, RegimeResult] | None
    as_of: dt.date
    items: dict[str, Item] = field(default_factory=dict)


def render_drafts(
    facts: ModelFacts | None,
    manifest: Manifest | None,
    *,
    compute: ComputeEstimate | None = None,
    regimes: dict[str, RegimeResult] | None = None,
    as_of: dt.date | None = None,
) -> list[Draft]:
    """The drafts for this release, in a fixed order. SB 53 only when it applies (or may apply)."""
    if facts is None and manifest is None:
        raise UsageError("nothing to draft from: give a model folder or a manifest (--manifest FILE)")
    m = manifest or Manifest()
    ctx = _Context(
        facts=facts,
        manifest=m,
        compute=compute or estimate_compute(facts, m),
        regimes=regimes,
        as_of=as_of or dt.date.today(),
    )
    ctx.items = _items(ctx)
    sb53 = _sb53_applicability(ctx)
    env = _environment()
    common = {
        "i": ctx.items,
        "as_of": ctx.as_of.isoformat(),
        "compute": ctx.compute,
        "sb53": sb53,
        "datasets": _datasets(ctx),
        "card_gaps": _card_gaps(ctx),
        "name": ctx.items["name"].value or "the model",
    }
    plan = [
        ("eu_training_content_summary.md", "EU public summary of training content"),
        ("eu_annex_xi_technical_documentation.md", "EU Annex XI technical documentation"),
        ("eu_annex_xii_downstream_information.md", "EU Annex XII information for downstream providers"),
    ]
    if sb53["applies"] is not False:
        plan.append(("ca_sb53_transparency_report.md", "California SB 53 transparency report"))
    plan.append(("model_card_gaps.md", "Model-card gap list"))
    drafts = [Draft(f, t, env.get_template(f + ".j2").render(**common)) for f, t in plan]
    index = env.get_template("README.md.j2").render(drafts=drafts, **common)
    return [*drafts, Draft("README.md", "Index", index)]


def write_drafts(
    facts: ModelFacts | None,
    manifest: Manifest | None,
    out_dir: str | Path,
    *,
    compute: ComputeEstimate | None = None,
    regimes: dict[str, RegimeResult] | None = None,
    as_of: dt.date | None = None,
) -> list[Path]:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError("the output path exists and is not a folder", path=out)
    drafts = render_drafts(facts, manifest, compute=compute, regimes=regimes, as_of=as_of)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for d in drafts:
            path = out / d.file
            path.write_text(d.markdown, encoding="utf-8")
            paths.append(path)
    except OSError as exc:
        raise UsageError(f"cannot write the drafts: {exc.strerror}", path=out) from None
    return paths


# ---------------------------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    # Our own trusted templates; the output is Markdown, so no HTML autoescaping. Values are data, never
    # templates: nothing from a release is ever compiled as a template.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # noqa: S701 - Markdown output from trusted package templates
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = _cell
    env.filters["flop"] = _flop
    return env


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell or a one-line field."""
    return re.sub(r"\s+", " ", str(value)).replace("|", "\\|").strip()


def _flop(value: float | None) -> str:
    return "—" if value is None else f"{value:.2g}"


def _prov(p: Provenance | None) -> str | None:
    return p.describe() if p is not None else None


def _mf(field_path: str) -> str:
    return f"modelwarden.yaml:{field_path}"


def _band_text(b: Band, unit: str = "FLOP") -> str:
    return f"{b.central:.2g} {unit} (band {b.low:.2g}–{b.high:.2g})"


def _items(ctx: _Context) -> dict[str, Item]:
    f, m = ctx.facts, ctx.manifest
    items: dict[str, Item] = {}

    def put(key: str, label: str, value: Any, source: str | None, question: str) -> None:
        if value is None or value == "" or value == []:
            items[key] = Item(label, question=question)
        else:
            items[key] = Item(label, value=str(value), source=source)

    name, name_src = (m.model.name, _mf("model.name")) if m.model.name else (None, None)
    if name is None and f is not None and f.name:
        name, name_src = f.name, "model files (repository or card title)"
    put("name", "Model name", name, name_src, "What is the model's name as placed on the market?")
    version, vsrc = (m.model.version, _mf("model.version")) if m.model.version else (None, None)
    if version is None and f is not None and f.revision:
        version, vsrc = f.revision, "Hub revision of the files"
    put(
        "version",
        "Version",
        version,
        vsrc,
        "Which version (or revision) of the model does this document cover?",
    )

    prov = m.release.provider
    put(
        "provider",
        "Provider",
        prov.name if prov else None,
        _mf("release.provider.name"),
        "Who is the provider (legal name, address) placing the model on the market?",
    )
    put(
        "established_in",
        "Provider established in",
        prov.established_in if prov else None,
        _mf("release.provider.established_in"),
        "In which country is the provider established? (Outside the EU an authorised representative is "
        "needed, Art. 54.)",
    )
    put(
        "placed_on_market",
        "Date placed on the Union market",
        m.release.placed_on_market.isoformat() if m.release.placed_on_market else None,
        _mf("release.placed_on_market"),
        "On what date was (or will) the model be placed on the EU market?",
    )
    put(
        "distribution",
        "Distribution",
        m.release.weights.value if m.release.weights else None,
        _mf("release.weights"),
        "How is the model distributed (public weights, gated download, API only)? Give the URL(s).",
    )

    base_name, base_src = None, None
    if m.base_model and m.base_model.name:
        base_name, base_src = m.base_model.name, _mf("base_model.name")
    elif f is not None and f.base_model:
        base_name, base_src = ", ".join(b.name for b in f.base_model), _prov(f.base_model[0].provenance)
    put(
        "base_model",
        "Base model(s)",
        base_name,
        base_src,
        "Was the model modified or fine-tuned from another model? If so, which one (name, version)?",
    )

    arch, arch_src = None, None
    if f is not None and f.architecture is not None:
        arch, arch_src = f.architecture.value, _prov(f.architecture.provenance)
        if f.model_type is not None:
            arch = f"{arch} (model type {f.model_type.value})"
    elif m.model.architecture:
        arch, arch_src = m.model.architecture, _mf("model.architecture")
    put(
        "architecture",
        "Architecture",
        arch,
        arch_src,
        "What is the architecture (e.g. decoder-only transformer, mixture-of-experts with N experts)?",
    )

    total, active, psrc = None, None, None
    if f is not None and f.parameters.total:
        total, active = f.parameters.total, f.parameters.active
        psrc = _prov(f.parameters.provenance) or f.parameters.source
    elif m.model.parameters:
        total, active, psrc = m.model.parameters, m.model.active_parameters, _mf("model.parameters")
    put(
        "parameters",
        "Total parameters",
        f"{total:,} ({total:.3g})" if total else None,
        psrc,
        "How many parameters does the model have in total (at least two significant figures)?",
    )
    if active:
        put("active_parameters", "Active parameters per token", f"{active:,} ({active:.3g})", psrc, "")

    mods_in, mods_out, msrc = [], [], None
    if m.model.modalities and (m.model.modalities.input or m.model.modalities.output):
        mods_in = [x.value for x in m.model.modalities.input]
        mods_out = [x.value for x in m.model.modalities.output]
        msrc = _mf("model.modalities")
    elif f is not None and (f.modalities.input or f.modalities.output):
        mods_in, mods_out, msrc = f.modalities.input, f.modalities.output, _prov(f.modalities.provenance)
    put(
        "modalities",
        "Input → output modalities",
        f"{', '.join(mods_in) or '?'} → {', '.join(mods_out) or '?'}" if msrc else None,
        msrc,
        "Which input and output modalities does the model support (text, image, audio, video, code)?",
    )
    ctx_len, csrc = None, None
    if f is not None and f.context_length is not None:
        ctx_len, csrc = f"{f.context_length.value:,} tokens", _prov(f.context_length.provenance)
    elif m.model.context_length:
        ctx_len, csrc = f"{m.model.context_length:,} tokens", _mf("model.context_length")
    put("context", "Maximum input size (context window)", ctx_len, csrc, "What is the maximum input size?")

    lic, lsrc = None, None
    if m.release.license:
        lic, lsrc = m.release.license, _mf("release.license")
    elif f is not None and f.license is not None and (f.license.id or f.license.name):
        lic, lsrc = f.license.name or f.license.id, _prov(f.license.provenance)
    put("license", "Licence", lic, lsrc, "Under which licence is the model released? Link the licence text.")

    c = ctx.compute
    method = c.method.replace("_", " ")
    put(
        "training_compute",
        "Training compute",
        f"{_band_text(c.training_flop)}, method: {method}" if c.training_flop else None,
        "modelwarden compute estimate (assumptions listed below)",
        "How much compute was used for training (FLOP, two significant figures), and how was it estimated? "
        "State training.compute_flop or training.tokens and hardware in modelwarden.yaml.",
    )
    put(
        "cumulative_compute",
        "Cumulative training compute (Art. 51(2))",
        _band_text(c.cumulative_flop) if c.cumulative_flop else None,
        "modelwarden compute estimate",
        "What is the cumulative compute, including non-public synthetic-data generation and merged or "
        "initialising weights?",
    )
    put(
        "energy",
        "Energy consumption",
        _band_text(c.energy_kwh, "kWh") if c.energy_kwh else None,
        "stated" if m.training.energy_kwh is not None else "estimated from hardware (assumptions below)",
        "How much energy did training consume (kWh)? State training.energy_kwh, or the accelerator and "
        "GPU-hours so it can be estimated.",
    )
    put("training_time", "Training time", *_training_time(m))
    tokens = m.training.tokens
    put(
        "tokens",
        "Training data size",
        f"{tokens:.3g} tokens seen" if tokens else None,
        _mf("training.tokens"),
        "How many tokens (or images, hours of audio/video) did training see?",
    )
    band = None
    if tokens:
        band = next((label for limit, label in TEXT_BANDS if tokens < limit), "more than 10 trillion tokens")
    put(
        "size_band",
        "Text size band (template §1.3)",
        band,
        _mf("training.tokens"),
        "Which size band applies to the text training data: < 1B, 1B–10T or > 10T tokens?",
    )
    synth = m.training.synthetic_data_flop
    put(
        "synthetic",
        "Synthetic data",
        f"yes — generation compute {synth:.2g} FLOP" if synth else None,
        _mf("training.synthetic_data_flop"),
        "Was synthetic data (incl. distillation or AI feedback) used? Which models generated it?",
    )
    return items


def _training_time(m: Manifest) -> tuple[str | None, str | None, str]:
    q = "How long did training take (wall-clock, start and end dates)?"
    t = m.training
    if t.started and t.finished:
        days = (t.finished - t.started).days
        return (f"{t.started} to {t.finished} ({days} days)", _mf("training.started/finished"), q)
    hw = t.hardware
    if hw and hw.hours:
        return (f"{hw.hours:,.0f} hours on {hw.count or '?'} accelerators", _mf("training.hardware.hours"), q)
    if hw and hw.gpu_hours:
        return (f"{hw.gpu_hours:,.0f} accelerator-hours", _mf("training.hardware.gpu_hours"), q)
    return None, None, q


def _datasets(ctx: _Context) -> dict[str, list[Item]]:
    groups: dict[str, list[Item]] = {"public": [], "private": [], "unknown": []}
    seen: set[str] = set()
    for i, d in enumerate(ctx.manifest.training.datasets):
        seen.add(d.name)
        text = (
            d.name
            + (f" — {d.location}" if d.location else "")
            + (f" (licence {d.license})" if d.license else "")
        )
        if d.tokens:
            text += f", {d.tokens:.3g} tokens"
        key = "public" if d.public else "private" if d.public is False else "unknown"
        groups[key].append(Item(d.name, value=text, source=_mf(f"training.datasets[{i}]")))
    if ctx.facts is not None:
        for fact in ctx.facts.datasets:
            if fact.value not in seen:
                seen.add(str(fact.value))
                groups["unknown"].append(
                    Item(str(fact.value), value=str(fact.value), source=_prov(fact.provenance))
                )
    return groups


def _sb53_applicability(ctx: _Context) -> dict[str, Any]:
    """Whether the SB 53 transparency report applies: from the rules engine when given, else estimated."""
    if ctx.regimes is not None and "us_ca_sb53" in ctx.regimes:
        r = ctx.regimes["us_ca_sb53"]
        frontier = r.classification.get("frontier_model")
        if not r.in_force:
            return {"applies": False, "why": f"SB 53 is not in force on {ctx.as_of} (rules engine)"}
        if frontier is Classification.YES:
            return {"applies": True, "why": "the rules engine classifies the model as a frontier model"}
        if frontier is Classification.NO:
            return {"applies": False, "why": "the rules engine classifies the model as not a frontier model"}
        status = frontier.value if frontier else "absent"
        return {"applies": None, "why": f"the rules engine's frontier-model classification is {status}"}
    # Without the rules engine: the compute line alone (> 1e26 cumulative, SB 53 §22757.11(i)).
    call = ctx.compute.thresholds.get("1e26", ThresholdCall.INSUFFICIENT_DATA)
    note = " (decided from the manifest and the compute estimate only; the rules engine was not consulted)"
    if ctx.as_of < dt.date(2026, 1, 1):
        return {"applies": False, "why": f"SB 53 takes effect on 2026-01-01, after {ctx.as_of}" + note}
    if call.crossed is True:
        return {"applies": True, "why": f"cumulative compute is {call.value.replace('_', ' ')} 1e26" + note}
    if call.crossed is False:
        return {"applies": False, "why": f"cumulative compute is {call.value.replace('_', ' ')} 1e26" + note}
    return {"applies": None, "why": f"whether compute exceeds 1e26 is {call.value.replace('_', ' ')}" + note}


def _card_text(facts: ModelFacts | None) -> str | None:
    if facts is None or facts.card is None or facts.root.startswith("hf://"):
        return None
    root = Path(facts.root)
    path = (root if root.is_dir() else root.parent) / facts.card.path
    try:
        if path.stat().st_size > MAX_CARD_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _card_gaps(ctx: _Context) -> list[str]:
    """Concrete questions for what the model card (README.md) does not say."""
    f = ctx.facts
    if f is None or f.card is None:
        return [
            "There is no model card (README.md): write one with intended uses, limitations, training data, "
            "evaluation, licence and how to use the model."
        ]
    gaps = []
    meta = f.card.metadata
    wanted = {
        "license": "Which licence applies? Add `license:` to the card metadata.",
        "language": "Which natural languages does the model handle? Add `language:`.",
        "pipeline_tag": "What task does the model perform? Add `pipeline_tag:`.",
        "datasets": "Which datasets was it trained on? Add `datasets:` (Hub ids where they exist).",
    }
    for key, question in wanted.items():
        if not meta.get(key):
            gaps.append(question)
    if f.base_model == [] and (ctx.manifest.base_model is not None or f.adapter is not None):
        gaps.append("Which model is this derived from? Add `base_model:` to the card metadata.")
    if "model-index" not in meta:
        gaps.append(
            "What are the evaluation results? Add them (a `model-index` block or an Evaluation section)."
        )
    text = _card_text(f) or ""
    headings = " ".join(re.findall(r"^#{1,6}\s*(.+)$", text, flags=re.M)).lower()
    for section, pattern in CARD_SECTIONS.items():
        if not re.search(pattern, headings):
            gaps.append(f"The card has no section on {section}: what should a user know about it?")
    if ctx.manifest.training.tokens is None and not re.search(r"\btokens?\b", text, flags=re.I):
        gaps.append("How many tokens was the model trained on? Neither the card nor the manifest says.")
    if ctx.compute.training_flop is None:
        gaps.append(
            "How much training compute was used (FLOP)? The card and manifest do not allow an estimate."
        )
    return gaps
