"""Typed records passed between stages (see docs/ARCHITECTURE.md, "The pipeline").

Every stage is a plain function from these records to another record. The CLI, the web app and the
registry only see these types. Keep each stage's records in its own section below so that work on
one stage does not collide with work on another.

Facts carry provenance: where a value was read (file + field, a model-card sentence, the release
manifest, a CLI flag) or that it is a default assumption. Reports show it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from modelwarden import records as _records

T = TypeVar("T")

# The scan records (and Problem, ArtifactFormat) are pydantic-free dataclasses so that `modelwarden scan`
# starts without pydantic (records.py); re-exported here, where every other record lives.
ArtifactFormat = _records.ArtifactFormat
Finding = _records.Finding
Location = _records.Location
Problem = _records.Problem
ScannedFile = _records.ScannedFile
ScanReport = _records.ScanReport
Severity = _records.Severity


class Record(BaseModel):
    """Base for all records: reject unknown fields so a typo in a stage is caught at once."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False, defer_build=True)


# ---------------------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------------------


class Source(StrEnum):
    TENSORS = "tensors"  # computed from tensor headers
    CONFIG = "config"  # config.json / generation_config.json / other JSON config
    FILE = "file"  # any other file (licence text, tokenizer, format metadata)
    CARD = "card"  # README.md model card (front matter or a sentence of the text)
    MANIFEST = "manifest"  # modelwarden.yaml
    CLI = "cli"  # a command-line flag
    DERIVED = "derived"  # computed from other facts (the note says how)
    DEFAULT = "default"  # an assumption, stated as such


class Provenance(Record):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    source: Source
    file: str | None = None  # path relative to the release root
    field: str | None = None  # key path inside the file, e.g. "text_config.hidden_size"
    quote: str | None = None  # the sentence or line the value was read from
    note: str | None = None

    def describe(self) -> str:
        """One line for humans: `config.json:num_hidden_layers`, `README.md: "trained on 2T tokens"`."""
        where = self.file or self.source.value
        if self.field:
            where = f"{where}:{self.field}"
        if self.quote:
            quote = self.quote if len(self.quote) <= 80 else self.quote[:77] + "..."
            where = f'{where} "{quote}"'
        if self.note:
            where = f"{where} ({self.note})"
        return where


class Fact(Record, Generic[T]):
    """A value with the place it came from."""

    value: T
    provenance: Provenance


# ---------------------------------------------------------------------------------------------------
# Artifacts (readers) — issue: inspect
# ---------------------------------------------------------------------------------------------------


class TensorKind(StrEnum):
    PARAMETER = "parameter"
    BUFFER = "buffer"  # e.g. rotary inv_freq, position_ids: stored but not trained
    QUANT_AUX = "quant_aux"  # quantisation scales / zeros / g_idx, FP8 scale tensors
    TIED = "tied"  # a second stored copy of a tied matrix (or a view of the same storage): counted once
    TRAINING_STATE = "training_state"  # optimizer moments, EMA copies and the like inside a checkpoint


class TensorInfo(Record):
    name: str
    dtype: str  # as stored, normalised to upper-case short names: F32, BF16, I32, Q4_K, ...
    shape: tuple[int, ...]
    kind: TensorKind = TensorKind.PARAMETER
    parameters: int = 0  # logical parameters after unpacking packed quantised storage; 0 if not a parameter
    component: str | None = None  # embedding, layers, head, norm, vision, mtp, adapter, ...
    data_offsets: tuple[int, int] | None = None  # absolute byte range in the file, where the format has one


class ArtifactInfo(Record):
    path: str  # relative to the release root (or the file name for a single-file release)
    format: ArtifactFormat
    size: int
    sha256: str | None = None
    tensors: list[TensorInfo] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(
        default_factory=dict
    )  # format metadata (gguf kv, safetensors __metadata__)
    problems: list[Problem] = Field(default_factory=list)
    # Filled by inspect when the file holds weights: which component it belongs to, whether its tensors
    # make up the counted weights ("primary") or repeat them in another format/precision ("alternative"),
    # and the logical parameters of its own tensors.
    component: str | None = None
    role: Literal["primary", "alternative"] | None = None
    parameters: int | None = None
    bytes_read: int | None = None  # bytes the reader read from the file (headers only, by design)


# ---------------------------------------------------------------------------------------------------
# Model facts — issue: inspect
# ---------------------------------------------------------------------------------------------------


class Layout(StrEnum):
    HF_SNAPSHOT = "hf_snapshot"  # config.json + weights (+ card, tokenizer)
    DIFFUSERS = "diffusers"
    PEFT_ADAPTER = "peft_adapter"
    SENTENCE_TRANSFORMERS = "sentence_transformers"
    FOLDER = "folder"  # any other folder of weights
    SINGLE_FILE = "single_file"
    MANIFEST_ONLY = "manifest_only"  # no files: a planned or described model


class ParameterDisagreement(Record):
    """The model files and the manifest give different parameter counts: both figures, each with
    where it came from, and which one every stage uses (decided once, in `parameters.resolve`)."""

    field: Literal["total", "active"]
    """Which count disagrees."""
    files: int
    """The count from the model files (tensor headers, or the config formula)."""
    files_provenance: Provenance | None = None
    """Where the files' count was read."""
    manifest: int
    """The count the manifest declares."""
    manifest_provenance: Provenance
    """The manifest field."""
    relative: float
    """(manifest − files) ÷ files."""
    used: Literal["files", "manifest"]
    """The figure compute, the rules, drafts and the registry use: the counted one."""


class ParameterCount(Record):
    total: int | None = None
    active: int | None = None
    """Mixture-of-experts: parameters one token runs through (k of E routed experts), the INPUT
    EMBEDDING INCLUDED (the convention of Mixtral's 12.9B and Qwen's "A3B"). None for dense models.
    DeepSeek-V2, Kimi K2 and gpt-oss quote it without the input embedding: see
    `active_without_input_embedding` (docs/compute.md "Active parameters")."""
    active_without_input_embedding: int | None = None
    """`active` minus `input_embedding`: the figure in the convention of DeepSeek-V2/V3, Kimi K2 and
    gpt-oss cards. None when `active` or `input_embedding` is unknown."""
    input_embedding: int | None = None
    """Parameters used only as table lookups (token embedding unless tied to the output head, learned
    position tables): no matmul, so no training FLOPs. None when the files do not show it."""
    experts: int | None = None
    """Routed experts per mixture-of-experts layer, as the tensors show them; None: none seen."""
    active_source: Literal["tensors", "config", "manifest"] | None = None
    """Where `active` came from when it differs from `source` (experts in the files, k only in the
    manifest); None = same as `source`."""
    disagreements: list[ParameterDisagreement] = Field(default_factory=list)
    """Files and manifest disagreeing beyond `parameters.TOLERANCE`, each with both provenances."""
    source: Literal["tensors", "config", "manifest"] | None = None
    config_total: int | None = None  # the config.json formula's figure when tensors were also counted
    config_active: int | None = None
    non_parameter_elements: int = 0  # buffers and quantisation auxiliaries that were excluded
    breakdown: dict[str, int] = Field(default_factory=dict)  # component -> parameters
    provenance: Provenance | None = None
    notes: list[str] = Field(default_factory=list)  # how the figures were obtained (formula conventions)
    warnings: list[str] = Field(default_factory=list)  # disagreements and gaps worth a look


class Modalities(Record):
    input: list[str] = Field(default_factory=list)  # text, image, audio, video, ...
    output: list[str] = Field(default_factory=list)
    provenance: Provenance | None = None


class LicenseInfo(Record):
    id: str | None = (
        None  # SPDX or Hugging Face licence id, lower-case as on the Hub ("apache-2.0", "llama3.1")
    )
    name: str | None = None  # card license_name for "other"
    link: str | None = None  # card license_link
    provenance: Provenance | None = None


class LicenseFile(Record):
    path: str
    kind: Literal["license", "use_policy", "notice", "acceptable_use"]
    identified_as: str | None = None  # licence id when the text matches a well-known licence; None = unknown
    method: str | None = None  # how it was identified (fingerprint, heading)


class BaseModelRef(Record):
    name: str
    relation: str | None = None  # adapter, merge, quantized, finetune
    provenance: Provenance


class TokenizerInfo(Record):
    vocab_size: int | None = None
    chat_template: bool = False
    files: list[str] = Field(default_factory=list)
    provenance: Provenance | None = None


class AdapterInfo(Record):
    peft_type: str | None = None
    base_model: str | None = None
    rank: int | None = None
    target_modules: list[str] = Field(default_factory=list)
    parameters: int | None = None
    provenance: Provenance | None = None


class CardInfo(Record):
    path: str
    metadata: dict[str, Any] = Field(default_factory=dict)  # the YAML front matter as parsed
    links: list[str] = Field(default_factory=list)  # URLs found in the card text
    text_chars: int = 0


class ComponentFacts(Record):
    """A sub-model of a release: a diffusers component, a sentence-transformers module, a vision tower."""

    name: str
    path: str | None = None
    class_name: str | None = None
    parameters: int | None = None
    source: Literal["tensors", "config"] | None = None
    library: str | None = None  # diffusers / transformers / sentence_transformers, as declared


class ModelFacts(Record):
    name: str | None = None
    root: str  # absolute folder/file path, or "hf://org/name@revision"
    layout: Layout
    revision: str | None = None
    files: list[ArtifactInfo] = Field(default_factory=list)
    parameters: ParameterCount = Field(default_factory=ParameterCount)
    architecture: Fact[str] | None = None
    model_type: Fact[str] | None = None
    modalities: Modalities = Field(default_factory=Modalities)
    context_length: Fact[int] | None = None
    tokenizer: TokenizerInfo | None = None
    license: LicenseInfo | None = None
    license_files: list[LicenseFile] = Field(default_factory=list)
    base_model: list[BaseModelRef] = Field(default_factory=list)
    datasets: list[Fact[str]] = Field(default_factory=list)
    language: list[str] = Field(default_factory=list)
    pipeline_tag: Fact[str] | None = None
    library_name: Fact[str] | None = None
    card: CardInfo | None = None
    components: list[ComponentFacts] = Field(default_factory=list)
    adapter: AdapterInfo | None = None
    quantization: Fact[str] | None = None  # gptq, awq, bitsandbytes-4bit, fp8, gguf:Q4_K_M, ...
    dtypes: dict[str, int] = Field(default_factory=dict)  # stored dtype -> parameters in that dtype
    tags: list[str] = Field(default_factory=list)  # card tags
    generation_config: dict[str, Any] = Field(default_factory=dict)  # generation_config.json defaults
    remote_code: list[str] = Field(default_factory=list)  # modeling_*.py / auto_map entries (never run)
    problems: list[Problem] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Scan — issue: scan
# ---------------------------------------------------------------------------------------------------

# Severity, Location, Finding, ScannedFile and ScanReport: modelwarden/records.py (imported above).


# ---------------------------------------------------------------------------------------------------
# Openness — issue: openness
# ---------------------------------------------------------------------------------------------------


class Evidence(Record):
    description: str
    provenance: Provenance


class ComponentEvidence(Record):
    present: bool
    evidence: list[Evidence] = Field(default_factory=list)
    licence: str | None = None
    open: bool | None = None  # None: unknown (no licence found)


class YesNoReview(StrEnum):
    YES = "yes"
    NO = "no"
    NEEDS_REVIEW = "needs_review"


class MofComponentStatus(Record):
    """How the MOF evaluator counted one component (openness: docs/openness.md)."""

    status: Literal["included", "unlicensed", "invalid", "missing"]
    licence: str | None = None  # the licence string the evaluator compared (MOT-exact: as written)


class MofVerdict(Record):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    class_: int | None = Field(
        default=None, alias="class"
    )  # 1 (open science), 2 (open tooling), 3 (open model)
    progress: dict[str, float] = Field(default_factory=dict)  # class id -> fraction met
    mode: Literal["mot_exact", "normalised"] = "normalised"
    reasons: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)  # open licences that are not type-appropriate
    components: dict[str, MofComponentStatus] = Field(default_factory=dict)  # MOF component id -> status


class OsaidVerdict(Record):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    pass_: bool = Field(alias="pass")
    failing: list[str] = Field(default_factory=list)


class EuFossVerdict(Record):
    verdict: YesNoReview
    reasons: list[str] = Field(default_factory=list)


class EosaiScores(Record):
    scores: dict[str, float] = Field(default_factory=dict)
    mean: float | None = None


class LicenceSummary(Record):
    """The release licence as classified from the licence table (openness data/licences.yaml)."""

    text: str | None = None  # as written in the card, manifest or identified LICENSE file
    id: str | None = None  # canonical id when known
    name: str | None = None
    kind: str = "unknown"  # osi, open_data, open_content, restricted, non_commercial, no_derivatives, ...
    restrictions: list[str] = Field(default_factory=list)
    provenance: Provenance | None = None


class OpennessReport(Record):
    licence: LicenceSummary = Field(default_factory=LicenceSummary)
    components: dict[str, ComponentEvidence] = Field(default_factory=dict)
    mof: MofVerdict
    osaid: OsaidVerdict
    eu_foss_licence: EuFossVerdict
    eosai: EosaiScores
    release_level: str | None = None
    release_level_reason: str | None = None


# ---------------------------------------------------------------------------------------------------
# Compute — issue: assess
# ---------------------------------------------------------------------------------------------------


class Band(Record):
    """A FLOP figure as an honest range: the low and high edges and the figure between them we report.

    Not validated here (records from other stages and stored documents are checked where they enter:
    the registry refuses non-finite values); the compute stage builds low <= central <= high.
    """

    low: float
    central: float
    high: float

    @classmethod
    def point(cls, value: float) -> Band:
        return cls(low=value, central=value, high=value)

    def __add__(self, other: Band) -> Band:
        return Band(
            low=self.low + other.low, central=self.central + other.central, high=self.high + other.high
        )

    def scaled(self, factor: float) -> Band:
        return Band(low=self.low * factor, central=self.central * factor, high=self.high * factor)


class ThresholdCall(StrEnum):
    CLEARLY_BELOW = "clearly_below"  # the high edge is below the line by more than a factor of 2
    NEAR_BELOW = "near_below"  # the whole band is on the legal "not crossed" side, within a factor of 2
    UNCERTAIN = "uncertain"  # the band straddles the line
    NEAR_ABOVE = "near_above"  # the whole band crosses, the low edge within a factor of 2
    CLEARLY_ABOVE = "clearly_above"  # the low edge is above the line by more than a factor of 2
    INSUFFICIENT_DATA = "insufficient_data"  # nothing supports an estimate

    @property
    def crossed(self) -> bool | None:
        """True/False when the whole band is on one side of the line; None when unknown or straddling."""
        if self in (ThresholdCall.NEAR_ABOVE, ThresholdCall.CLEARLY_ABOVE):
            return True
        if self in (ThresholdCall.NEAR_BELOW, ThresholdCall.CLEARLY_BELOW):
            return False
        return None


class ComputeMethod(StrEnum):
    DEVELOPER_STATED = "developer_stated"
    OPERATION_COUNT = "operation_count"
    HARDWARE = "hardware"
    COMBINED = "combined"  # stages estimated by different methods, summed
    INSUFFICIENT_DATA = "insufficient_data"


class MethodEstimate(Record):
    """One independent estimate of one piece of compute, with the arithmetic that produced it."""

    scope: str  # "training" (the main run), "modification", or "stage:<name>"
    method: ComputeMethod
    band: Band
    formula: str  # the arithmetic with its numbers, for humans
    used: bool = True  # False: shown as a cross-check, a higher-precedence figure was used instead


class StageCompute(Record):
    """A declared stage; whether it counts toward training and/or cumulative compute
    (docs/reference/regulation.md §1.11)."""

    name: str
    kind: str
    band: Band | None = None
    method: ComputeMethod = ComputeMethod.INSUFFICIENT_DATA
    in_training: bool
    in_cumulative: bool
    reason: str


class ModifierRule(Record):
    """EU Guidelines paras 60-61: a modifier becomes provider when the modification compute exceeds one
    third of the original model's training compute (fallbacks 1e25/3 or 1e23/3 when it is unknown)."""

    threshold: float | None  # None when the basis cannot be decided (base compute and risk unknown)
    basis: Literal["base_compute", "fallback_systemic_risk", "fallback_not_systemic_risk", "unknown"]
    call: ThresholdCall
    explanation: str


class ComputeEstimate(Record):
    # Parameter-update compute (EU 1e23 GPAI indicator), base model included for derivatives when its
    # compute is known; cumulative compute adds non-public synthetic-data generation and merged or
    # initialising weights (EU Art. 51(2), SB 53 / RAISE, Korea). docs/reference/regulation.md §1.11, §8 note
    # 1.
    training_flop: Band | None = None
    cumulative_flop: Band | None = None
    modification_flop: Band | None = None  # a modifier's own compute on top of a base model
    method: str  # a ComputeMethod value: how training_flop was obtained
    # Strict ">" calls (EU, US EO 14110, CA SB 53, NY RAISE): "1e23" on training_flop, "1e25" and "1e26"
    # on cumulative_flop.
    thresholds: dict[str, ThresholdCall] = Field(default_factory=dict)
    # Calls with other strictness or bases: "1e23_inclusive", "1e25_inclusive", "1e26_inclusive" (">=",
    # Korea's "or more"), "1e23_bio" (EO 14110 biological sequences, training compute),
    # "modification_one_third" (EU Guidelines paras 60-61; present when a modification is described).
    other_thresholds: dict[str, ThresholdCall] = Field(default_factory=dict)
    modification_threshold: float | None = None  # the one-third line used, when it could be decided
    modifier: ModifierRule | None = None  # the one-third rule with its basis and explanation
    stated_flop: float | None = None  # the developer's figure for this model's own run, when stated
    operation_count_flop: Band | None = None  # 6·N·D (or LoRA's (4N + 2N_t)·D) of the own run
    hardware_flop: Band | None = None  # chip-hours x peak x utilisation of the own run
    geometric_mean_flop: float | None = None  # of operation-count and hardware centrals, when both exist
    implied_utilisation: float | None = None  # operation count (or stated) / (chip-hours x peak)
    parameters_used: int | None = None  # N in 6·N·D, central convention (active for mixture-of-experts)
    tokens: float | None = None  # D, tokens seen
    accelerator: str | None = None  # from the accelerator table, when hardware was stated
    chip_hours: float | None = None
    energy_kwh: Band | None = None  # stated, or chip-hours x board power x PUE
    planned: bool = False  # from a planned run (manifest training.planned)
    estimates: list[MethodEstimate] = Field(default_factory=list)  # every method tried, with formulas
    stages: list[StageCompute] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    assumptions: list[Fact[str]] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Rules — issue: assess
# ---------------------------------------------------------------------------------------------------


class Classification(StrEnum):
    YES = "yes"
    NO = "no"
    NEEDS_REVIEW = "needs_review"
    INSUFFICIENT_DATA = "insufficient_data"


class Citation(Record):
    instrument: str
    article: str
    url: str | None = None


class Obligation(Record):
    id: str  # "eu.art53.1a", "ca.sb53.framework", ...
    title: str
    citation: Citation
    applies_from: dt.date | None = None
    deadline: str | None = None  # a date or a relative deadline ("within 2 weeks of ...")
    note: str | None = None
    # Classifications (or conditions) still needing review on which this duty depends; empty = settled.
    conditional_on: list[str] = Field(default_factory=list)
    # Who owes the duty: model_provider, system_provider (a provider of an AI system built on the model),
    # developer, deployer or service_provider (docs/assess.md, "Who owes a duty").
    applies_to: str | None = None
    # "in_force" on the as-of date, or "not_yet_in_force" (listed with applies_from; docs/assess.md,
    # "Future duties"); None only in assessments stored before the field existed.
    status: Literal["in_force", "not_yet_in_force"] | None = None


class Exemption(Record):
    id: str
    title: str
    citation: Citation
    removes: list[str] = Field(default_factory=list)  # obligation ids it switches off


class TraceStep(Record):
    rule: str  # which rule/condition id
    expression: str | None = None  # the CEL condition
    result: str  # what it evaluated to
    explanation: str | None = None


class RegimeResult(Record):
    id: str  # eu_ai_act, us_eo_14110, ...
    instrument: str
    in_force: bool
    classification: dict[str, Classification] = Field(default_factory=dict)
    obligations: list[Obligation] = Field(default_factory=list)
    exemptions: list[Exemption] = Field(default_factory=list)
    trace: list[TraceStep] = Field(default_factory=list)
    needs_review: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # enforcement dates, penalties, open questions

    @model_serializer(mode="wrap")
    def _flatten_classification(self, handler: Any) -> dict[str, Any]:
        # The JSON contract puts classification fields beside in_force (issue "assess", JSON contract).
        data: dict[str, Any] = handler(self)
        data.update(data.pop("classification", {}))
        return data

    @model_validator(mode="before")
    @classmethod
    def _unflatten_classification(cls, data: Any) -> Any:
        # Accept the flattened JSON form back, so stored assessments round-trip.
        if isinstance(data, dict) and "classification" not in data:
            known = set(cls.model_fields)
            extra = {k: v for k, v in data.items() if k not in known}
            if extra:
                data = {k: v for k, v in data.items() if k in known} | {"classification": extra}
        return data


class Subject(Record):
    name: str
    version: str | None = None  # release version or hub revision
    root: str | None = None
    file_hashes: dict[str, str] = Field(default_factory=dict)  # path -> sha256


class Assessment(Record):
    subject: Subject
    as_of: dt.date
    created_at: dt.datetime
    tool_version: str
    ruleset_version: str
    facts: ModelFacts | None = None
    scan: ScanReport | None = None
    openness: OpennessReport | None = None
    compute: ComputeEstimate
    regimes: dict[str, RegimeResult] = Field(default_factory=dict)
    parameters: ParameterCount | None = None
    """The one parameter count every stage of this assessment used (compute, rules, drafts, registry):
    `parameter_count.resolve(facts, manifest)`, with any files/manifest disagreement recorded in it."""
    scan_status: Literal["scanned", "not scanned"] | None = None
    """Whether the safety scan ran. "not scanned" (no `scan` report) is never shown as a clean result:
    text, JSON, registry and dashboard say "not scanned". Filled from `scan` when not given."""
    scan_skipped: str | None = None
    """Why the files were not scanned (--no-scan, no model files, the scan failed)."""

    @model_validator(mode="after")
    def _scan_status(self) -> Assessment:
        if self.scan_status is None:
            self.scan_status = "scanned" if self.scan is not None else "not scanned"
        return self
