"""Drafts of the documents the law asks for, prefilled from an assessment (docs/reference/regulation.md §1.6,
§1.12, §2.4).

Every prefilled value names where it came from; every gap is a concrete question. The drafts are
Markdown rendered from one trusted template shipped in the package (never from release content).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from jinja2 import Environment, PackageLoader

from modelwarden.facts.parameter_count import resolve
from modelwarden.manifest import Manifest
from modelwarden.model import Assessment, Classification, ComputeEstimate, Provenance
from modelwarden.report.assess import DISCLAIMER, band_text

# Size bands of the training-content summary template, section 1.3 (docs/reference/regulation.md §1.12).
TEXT_BANDS = ((1e9, "less than 1 billion tokens"), (10e12, "1 billion to 10 trillion tokens"))


@dataclass
class Item:
    """One line of a draft: a label, its value with where it came from, or the question to settle."""

    label: str
    value: str | None = None
    source: str | None = None
    question: str | None = None  # asked when value is None


@dataclass
class Section:
    """A titled part of a draft document."""

    title: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Draft:
    """A document a duty asks for, prefilled from an assessment, with the gaps left as questions."""

    filename: str
    title: str
    basis: str  # which provision asks for it
    sections: list[Section]
    note: str | None = None

    @property
    def gaps(self) -> int:
        """How many items still have no value."""
        return sum(1 for s in self.sections for i in s.items if i.value is None)


def _prov(p: Provenance | None) -> str | None:
    return p.describe() if p is not None else None


def _manifest_items(a: Assessment, decl: Manifest | None) -> dict[str, Item]:
    """Values shared by several drafts."""
    f, c, m = a.facts, a.compute, decl or Manifest()
    items: dict[str, Item] = {}
    provider = m.release.provider
    items["provider"] = Item(
        "Provider",
        provider.name if provider and provider.name else None,
        "modelwarden.yaml:release.provider.name" if provider and provider.name else None,
        "Who is the provider (legal name and address), and its authorised representative if established outside the EU?",
    )
    items["model"] = Item(
        "Model name and version",
        a.subject.name + (f" ({a.subject.version})" if a.subject.version else ""),
        "release files / manifest",
    )
    base = (
        ", ".join(b.name for b in f.base_model)
        if f and f.base_model
        else (m.base_model.name if m.base_model else None)
    )
    items["base"] = Item(
        "Base model / dependencies",
        base,
        "README.md:base_model"
        if f and f.base_model
        else ("modelwarden.yaml:base_model.name" if base else None),
        "Was the model fine-tuned or otherwise derived from another model? Name it with its version.",
    )
    placed = m.release.placed_on_market
    items["placed"] = Item(
        "Date placed on the Union market",
        placed.isoformat() if placed else None,
        "modelwarden.yaml:release.placed_on_market" if placed else None,
        "On which date was (or will) the model first be made available on the EU market?",
    )
    arch = f.architecture.value if f and f.architecture else m.model.architecture
    items["architecture"] = Item(
        "Architecture",
        arch,
        _prov(f.architecture.provenance)
        if f and f.architecture
        else ("modelwarden.yaml:model.architecture" if arch else None),
        "What is the model architecture (e.g. decoder-only transformer, mixture-of-experts with k of E experts)?",
    )
    # The count every stage used (parameter_count.resolve), disagreements with the manifest included.
    p = a.parameters if a.parameters is not None else resolve(f, m)
    total, active = p.total, p.active
    value = (f"{total:,} total" + (f", {active:,} active per token" if active else "")) if total else None
    if value and p.active_without_input_embedding is not None:
        value += f" (with the input embedding; {p.active_without_input_embedding:,} without)"
    if value and p.disagreements:
        value += "; " + "; ".join(
            f"the manifest declares {d.manifest:,} ({d.field}), the files' count is used"
            for d in p.disagreements
        )
    items["parameters"] = Item(
        "Number of parameters",
        value,
        (
            f"counted from {p.source}"
            if p.source in ("tensors", "config")
            else "modelwarden.yaml:model.parameters"
        )
        if total
        else None,
        "How many parameters does the model have (total, and active per token for mixture-of-experts)?",
    )
    ins = (m.model.modalities.input if m.model.modalities else []) or (f.modalities.input if f else [])
    outs = (m.model.modalities.output if m.model.modalities else []) or (f.modalities.output if f else [])
    items["modalities"] = Item(
        "Input and output modalities",
        f"{', '.join(map(str, ins)) or '?'} → {', '.join(map(str, outs)) or '?'}" if ins or outs else None,
        (
            "modelwarden.yaml:model.modalities"
            if m.model.modalities
            else _prov(f.modalities.provenance)
            if f
            else None
        ),
        "Which input and output modalities and formats does the model support?",
    )
    ctx = f.context_length.value if f and f.context_length else m.model.context_length
    items["context"] = Item(
        "Maximum input size (context window)",
        f"{ctx:,} tokens" if ctx else None,
        _prov(f.context_length.provenance)
        if f and f.context_length
        else ("modelwarden.yaml:model.context_length" if ctx else None),
        "What is the maximum input size (context window)?",
    )
    lic = a.openness.licence if a.openness else None
    items["licence"] = Item(
        "Licence",
        (lic.name or lic.text) if lic and (lic.name or lic.text) else None,
        _prov(lic.provenance) if lic else None,
        "Under which licence is the model released?",
    )
    items["distribution"] = Item(
        "Distribution methods",
        m.release.weights.value.replace("_", " ") + " weights"
        if m.release.weights
        else ("weights in the release files" if f and f.files else None),
        "modelwarden.yaml:release.weights"
        if m.release.weights
        else ("release files" if f and f.files else None),
        "How is the model distributed (public download, gated download, API only)?",
    )
    items["tasks"] = Item(
        "Intended tasks and integrable systems",
        ", ".join(m.model.intended_tasks) or (f.pipeline_tag.value if f and f.pipeline_tag else None),
        "modelwarden.yaml:model.intended_tasks"
        if m.model.intended_tasks
        else (_prov(f.pipeline_tag.provenance) if f and f.pipeline_tag else None),
        "Which tasks is the model intended for, and in which kinds of AI systems can it be integrated?",
    )
    items["aup"] = Item(
        "Acceptable-use policy",
        next(
            (lf.path for lf in (f.license_files if f else []) if lf.kind in {"use_policy", "acceptable_use"}),
            None,
        ),
        "release files",
        "Is there an acceptable-use policy? Where is it published?",
    )
    items["compute"] = Item(
        "Computational resources used for training",
        f"{band_text(c.training_flop)} ({c.method.replace('_', ' ')}); cumulative {band_text(c.cumulative_flop)}"
        if c.training_flop
        else None,
        "modelwarden compute estimate (see assessment.json: compute.assumptions)"
        if c.training_flop
        else None,
        "How much compute was used for training (FLOP, to two significant figures), and by which method was it estimated?",
    )
    t = m.training
    duration = f"{t.started} to {t.finished}" if t.started and t.finished else None
    items["time"] = Item(
        "Training time",
        duration or (f"{c.chip_hours:,.0f} {c.accelerator} chip-hours" if c.chip_hours else None),
        "modelwarden.yaml:training.started/finished"
        if duration
        else ("modelwarden.yaml:training.hardware" if c.chip_hours else None),
        "When did training start and finish, and on how many accelerators?",
    )
    items["energy"] = _energy(c, t.energy_kwh)
    items["tokens"] = Item(
        "Training data size",
        f"{c.tokens:.3g} tokens seen" if c.tokens else None,
        "modelwarden.yaml:training.tokens" if c.tokens else None,
        "How many tokens (or data points) was the model trained on, repeats included?",
    )
    return items


def _energy(c: ComputeEstimate, stated: float | None) -> Item:
    label = "Energy consumption (known or estimated)"
    if stated is not None:
        return Item(label, f"{stated:,.0f} kWh", "modelwarden.yaml:training.energy_kwh")
    e = c.energy_kwh
    if e is not None:
        how = next((f.value for f in c.assumptions if f.value.startswith("energy = ")), "")
        return Item(
            label,
            f"≈ {e.central:,.0f} kWh (range {e.low:,.0f}–{e.high:,.0f} kWh); {how}",
            "derived from the compute estimate and the accelerator table's board power (Annex XI allows "
            "deriving energy from compute)",
        )
    return Item(
        label,
        None,
        None,
        "How much energy did training consume (kWh), or which hardware and hours can it be derived from?",
    )


def _pick(items: dict[str, Item], *keys: str) -> list[Item]:
    return [items[k] for k in keys]


def training_summary(a: Assessment, decl: Manifest | None, items: dict[str, Item]) -> Draft:
    """The EU public summary of training content, on the AI Office template's sections (Art. 53(1)(d))."""
    m = decl or Manifest()
    datasets = [d.value for d in a.facts.datasets] if a.facts else []
    datasets += [d.name for d in m.training.datasets if d.public is not False and d.name not in datasets]
    private = [d.name for d in m.training.datasets if d.public is False]
    tokens = a.compute.tokens
    band = None
    if tokens:
        band = next((text for limit, text in TEXT_BANDS if tokens < limit), "more than 10 trillion tokens")
    synthetic = m.training.synthetic_data_flop is not None or any(
        s.kind.value == "synthetic_data" for s in m.training.stages
    )
    sections = [
        Section(
            "1. General information",
            [
                *_pick(items, "provider", "model", "base", "placed", "modalities"),
                Item(
                    "1.3 Size of the training data (text)",
                    band,
                    "modelwarden.yaml:training.tokens" if band else None,
                    "Which size band does the text training data fall in (< 1B, 1B–10T, > 10T tokens)? Images, audio and video have their own bands.",
                ),
            ],
        ),
        Section(
            "2. List of data sources",
            [
                Item(
                    "2.1 Publicly available datasets",
                    ", ".join(datasets) or None,
                    "README.md:datasets / modelwarden.yaml:training.datasets" if datasets else None,
                    "Which publicly available datasets were used? Name them and where they can be obtained.",
                ),
                Item(
                    "2.2 Private datasets from third parties",
                    ", ".join(private) or None,
                    "modelwarden.yaml:training.datasets[public=false]" if private else None,
                    "Were datasets licensed from rightsholders or obtained from other third parties? Describe them.",
                ),
                Item(
                    "2.3 Data crawled or scraped online",
                    None,
                    None,
                    "Was data crawled or scraped? Name the crawlers, the periods, and the top domain names by content size.",
                ),
                Item(
                    "2.4 User data",
                    None,
                    None,
                    "Was data from user interactions with the provider's services used?",
                ),
                Item(
                    "2.5 Synthetic data",
                    "yes (declared in the manifest)" if synthetic else None,
                    "modelwarden.yaml:training" if synthetic else None,
                    "Was synthetic data used (incl. distillation, AI feedback)? Name the generating models.",
                ),
                Item(
                    "2.6 Other sources",
                    None,
                    None,
                    "Any other sources (e.g. human-generated data for alignment)?",
                ),
            ],
        ),
        Section(
            "3. Data processing aspects",
            [
                Item(
                    "Respect of text-and-data-mining reservations",
                    None,
                    None,
                    "How were machine-readable opt-outs (robots.txt and other protocols) identified and honoured before and during collection?",
                ),
                Item(
                    "Removal of illegal content",
                    None,
                    None,
                    "Which measures removed illegal content from the training data?",
                ),
            ],
        ),
    ]
    return Draft(
        "eu_training_content_summary.md",
        "Public summary of training content (EU AI Act Art. 53(1)(d), Commission template)",
        "Art. 53(1)(d); template published 2025-07-24 (sections per docs/reference/regulation.md §1.12)",
        sections,
        "Required even for open-source models (Recital 104). A modifier reports only the data of the modification.",
    )


def annex_xi(a: Assessment, items: dict[str, Item]) -> Draft:
    """The EU technical documentation for the AI Office (Art. 53(1)(a), Annex XI; §2 for systemic-risk
    models)."""
    systemic = a.regimes.get("eu_ai_act")
    sr = systemic is not None and systemic.classification.get("systemic_risk") is Classification.YES
    sections = [
        Section(
            "1(a) General description",
            _pick(
                items,
                "tasks",
                "aup",
                "placed",
                "distribution",
                "architecture",
                "parameters",
                "modalities",
                "licence",
            ),
        ),
        Section(
            "1(b) Development process",
            [
                Item(
                    "Design specifications and training methodology",
                    None,
                    None,
                    "Describe the training methodology and techniques, key design choices and their rationale, and what the model is optimised for.",
                ),
                Item(
                    "Training data: type, provenance, curation, number of data points, bias detection",
                    items["tokens"].value,
                    items["tokens"].source,
                    "Describe the training, testing and validation data: type, provenance, curation methods, size and measures against bias.",
                ),
                *_pick(items, "compute", "time", "energy"),
            ],
        ),
    ]
    if sr:
        sections.append(
            Section(
                "2. Systemic-risk models (Annex XI §2)",
                [
                    Item(
                        "Evaluation strategies and results",
                        None,
                        None,
                        "Which evaluation protocols and tools were used, with what results?",
                    ),
                    Item(
                        "Adversarial testing",
                        None,
                        None,
                        "Describe internal and external adversarial testing (red-teaming) and model adaptations.",
                    ),
                    Item(
                        "System architecture",
                        None,
                        None,
                        "How do software components build on or feed into each other?",
                    ),
                ],
            )
        )
    return Draft(
        "eu_annex_xi_technical_documentation.md",
        "Technical documentation for the AI Office (EU AI Act Annex XI)",
        "Art. 53(1)(a); Annex XI" + (" incl. §2 (systemic risk)" if sr else ""),
        sections,
        "Not required where the open-source exemption applies (Art. 53(2)) unless the model has systemic risk.",
    )


def annex_xii(items: dict[str, Item]) -> Draft:
    """The EU information for downstream providers (Art. 53(1)(b), Annex XII)."""
    return Draft(
        "eu_annex_xii_downstream_information.md",
        "Information for downstream providers (EU AI Act Annex XII)",
        "Art. 53(1)(b); Annex XII",
        [
            Section(
                "1. General description",
                _pick(
                    items,
                    "tasks",
                    "aup",
                    "placed",
                    "distribution",
                    "architecture",
                    "parameters",
                    "modalities",
                    "licence",
                ),
            ),
            Section(
                "2. Integration",
                [
                    items["context"],
                    Item(
                        "Technical means for integration (instructions, infrastructure, tools)",
                        None,
                        None,
                        "Which software, instructions and tools do downstream providers need to integrate the model?",
                    ),
                    Item(
                        "Training data: type, provenance and curation",
                        None,
                        None,
                        "Summarise the type, provenance and curation of the training data for downstream providers.",
                    ),
                ],
            ),
        ],
    )


def sb53_report(a: Assessment, items: dict[str, Item]) -> Draft | None:
    """The California SB 53 transparency report, when the model is (or may be) a frontier model; else None."""
    sb = a.regimes.get("us_ca_sb53")
    frontier = sb.classification.get("frontier_model") if sb else None
    if frontier not in {Classification.YES, Classification.NEEDS_REVIEW}:
        return None
    large = sb is not None and sb.classification.get("large_frontier_developer") is Classification.YES
    sections = [
        Section(
            "Required contents (§22757.12(c)(1))",
            [
                Item("Developer website", None, None, "What is the developer's website?"),
                Item(
                    "Mechanism to communicate with the developer",
                    None,
                    None,
                    "How can the public contact the developer?",
                ),
                items["placed"],
                Item("Languages supported", None, None, "Which languages does the model support?"),
                items["modalities"],
                items["tasks"],
                Item(
                    "Generally applicable restrictions or conditions on use",
                    items["aup"].value,
                    items["aup"].source,
                    "Which restrictions or conditions apply to the use of the model?",
                ),
            ],
        )
    ]
    if large:
        sections.append(
            Section(
                "Large frontier developers (§22757.12(c)(2))",
                [
                    Item(
                        "Summary of catastrophic-risk assessments and their results",
                        None,
                        None,
                        "What did the catastrophic-risk assessments find?",
                    ),
                    Item(
                        "Extent of third-party evaluators' involvement",
                        None,
                        None,
                        "Which third parties evaluated the model, and how?",
                    ),
                    Item(
                        "Other steps to fulfil the frontier AI framework",
                        None,
                        None,
                        "What else was done under the framework?",
                    ),
                ],
            )
        )
    note = (
        None
        if frontier is Classification.YES
        else "Whether the model is a frontier model still needs review (see the assessment)."
    )
    return Draft(
        "ca_sb53_transparency_report.md",
        "Transparency report (California SB 53)",
        "Bus. & Prof. Code §22757.12(c)",
        sections,
        note,
    )


def _q(label: str, question: str) -> Item:
    return Item(label, None, None, question)


def ab2013_summary(a: Assessment, decl: Manifest | None, items: dict[str, Item]) -> Draft | None:
    """California AB 2013's posted training-data summary, where the assessment says the statute may
    apply. Its headings follow the list in docs/reference/regulation.md §2.4 (secondary sources [S])."""
    regime = a.regimes.get("us_ca_ab2013")
    applies = regime.classification.get("applies") if regime else None
    if applies not in {Classification.YES, Classification.NEEDS_REVIEW}:
        return None
    m = decl or Manifest()
    datasets = [d.value for d in a.facts.datasets] if a.facts else []
    datasets += [d.name for d in m.training.datasets if d.name not in datasets]
    licensed = [
        f"{d.name} ({d.license})" if d.license else d.name for d in m.training.datasets if d.public is False
    ]
    synthetic = m.training.synthetic_data_flop is not None or any(
        s.kind.value == "synthetic_data" for s in m.training.stages
    )
    tokens = a.compute.tokens
    datasets_item = Item(
        "Sources or owners of the datasets",
        ", ".join(datasets) or None,
        "README.md:datasets / modelwarden.yaml:training.datasets" if datasets else None,
        "Which datasets were used, and who are their sources or owners?",
    )
    points = Item(
        "Number of data points (general ranges; estimates for dynamic datasets)",
        f"about {tokens:.3g} tokens seen in training" if tokens else None,
        "modelwarden.yaml:training.tokens (tokens seen, repeats included)" if tokens else None,
        "How many data points do the datasets hold (a general range is enough)?",
    )
    sections = [
        Section(
            "The system",
            [
                *_pick(items, "provider", "model", "modalities"),
                replace(items["placed"], label="Date first made available"),
            ],
        ),
        Section(
            "Training datasets",
            [
                datasets_item,
                _q(
                    "How the datasets further the intended purpose",
                    "How do the datasets serve the system's intended purpose?",
                ),
                points,
                _q(
                    "Types of data points",
                    "What types of data points do the datasets contain (label types, or general characteristics if unlabelled)?",
                ),
                _q(
                    "Copyright, trademark or patent protected data, or entirely public domain",
                    "Do the datasets include data protected by copyright, trademark or patent, or are they entirely in the public domain?",
                ),
                Item(
                    "Datasets purchased or licensed",
                    ", ".join(licensed) or None,
                    "modelwarden.yaml:training.datasets[public=false]" if licensed else None,
                    "Were any datasets purchased or licensed by the developer? Which?",
                ),
                _q(
                    "Personal information",
                    "Do the datasets include personal information (Cal. Civ. Code §1798.140)?",
                ),
                _q(
                    "Aggregate consumer information",
                    "Do the datasets include aggregate consumer information?",
                ),
                _q(
                    "Cleaning, processing or other modification",
                    "Were the datasets cleaned, processed or otherwise modified, and for what purpose?",
                ),
                _q(
                    "Period of collection", "Over which period was the data collected? Is collection ongoing?"
                ),
                _q("Dates the datasets were first used in development", "When was each dataset first used?"),
                Item(
                    "Synthetic data generation",
                    "yes (declared in the manifest)" if synthetic else None,
                    "modelwarden.yaml:training" if synthetic else None,
                    "Did (or does) the system use synthetic data generation in its development?",
                ),
            ],
        ),
    ]
    note = (
        None
        if applies is Classification.YES
        else "Whether AB 2013 applies still needs review (see the assessment)."
    )
    return Draft(
        "ca_ab2013_training_data_summary.md",
        "Training data documentation (California AB 2013)",
        "Bus. & Prof. Code §22757.20 ff. (a high-level summary posted on the developer's website)",
        sections,
        note,
    )


def card_gaps(a: Assessment, items: dict[str, Item]) -> Draft:
    """The model-card fields the assessment could not fill from the release."""
    f = a.facts
    meta = f.card.metadata if f and f.card else {}
    checks = [
        Item(
            "Model card present",
            f.card.path if f and f.card else None,
            "release files",
            "Add a README.md model card.",
        ),
        Item(
            "license in the card metadata",
            str(meta.get("license")) if meta.get("license") else None,
            "README.md front matter",
            "Add `license:` (a Hugging Face id, or `other` with `license_name` and `license_link`).",
        ),
        Item(
            "base_model",
            str(meta.get("base_model")) if meta.get("base_model") else None,
            "README.md front matter",
            "If the model derives from another, add `base_model:` (and `base_model_relation`).",
        ),
        Item(
            "datasets",
            ", ".join(map(str, meta.get("datasets") or [])) or None,
            "README.md front matter",
            "List the training datasets in `datasets:`.",
        ),
        Item(
            "Evaluation results (model-index)",
            "present" if meta.get("model-index") else None,
            "README.md front matter",
            "Add evaluation results (`model-index` or `.eval_results/`).",
        ),
        Item(
            "pipeline_tag",
            str(meta.get("pipeline_tag")) if meta.get("pipeline_tag") else None,
            "README.md front matter",
            "Add `pipeline_tag:` so users and tools know the task.",
        ),
        Item(
            "language",
            ", ".join(map(str, meta.get("language") or [])) or None,
            "README.md front matter",
            "List the supported languages in `language:`.",
        ),
        items["compute"],
        items["energy"],
    ]
    return Draft(
        "model_card_gaps.md",
        "Model card gaps",
        "Annex XII and the Code of Practice Model Documentation Form",
        [Section("Checks", checks)],
    )


def build_drafts(a: Assessment, decl: Manifest | None) -> list[Draft]:
    """Every draft the assessment calls for, in a fixed order."""
    items = _manifest_items(a, decl)
    drafts = [training_summary(a, decl, items), annex_xi(a, items), annex_xii(items)]
    sb = sb53_report(a, items)
    if sb is not None:
        drafts.append(sb)
    ab = ab2013_summary(a, decl, items)
    if ab is not None:
        drafts.append(ab)
    drafts.append(card_gaps(a, items))
    return drafts


def render(draft: Draft, a: Assessment) -> str:
    """A draft as Markdown (our own template; nothing from the release is rendered as a template)."""
    env = Environment(
        loader=PackageLoader("modelwarden.assess", "templates"),
        autoescape=False,  # noqa: S701 - our own Markdown template; the output is not HTML
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("draft.md.j2")
    return template.render(d=draft, a=a, disclaimer=DISCLAIMER)  # safe: packaged template


def write_drafts(a: Assessment, decl: Manifest | None, out: Path) -> list[tuple[Path, Draft]]:
    """Write every draft into `out` (created if needed); returns each path with its draft."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for d in build_drafts(a, decl):
        path = out / d.filename
        path.write_text(render(d, a), encoding="utf-8")
        written.append((path, d))
    return written
