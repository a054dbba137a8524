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

    model_config = ConfigDict(
        extra="forbid", use_enum_values=False, defer_build=True, use_attribute_docstrings=True
    )


# ---------------------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------------------


class Source(StrEnum):
    """Where a fact was read: the kind of place `Provenance.file`/`field` point into."""

    TENSORS = "tensors"  # computed from tensor headers
    CONFIG = "config"  # config.json / generation_config.json / other JSON config
    FILE = "file"  # any other file (licence text, tokenizer, format metadata)
    CARD = "card"  # README.md model card (front matter or a sentence of the text)
    MANIFEST = "manifest"  # modelwarden.yaml
    CLI = "cli"  # a command-line flag
    DERIVED = "derived"  # computed from other facts (the note says how)
    DEFAULT = "default"  # an assumption, stated as such


class Provenance(Record):
    """Where a value came from: the kind of source, the file and key path, the sentence quoted."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, use_attribute_docstrings=True)

    source: Source
    """The kind of place the value was read from (or that it is a derived value or a default)."""
    file: str | None = None
    """Path relative to the release root."""
    field: str | None = None
    """Key path inside the file, e.g. "text_config.hidden_size"."""
    quote: str | None = None
    """The sentence or line the value was read from."""
    note: str | None = None
    """How the value was derived or why it was assumed, when that is not obvious from the rest."""

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
    """The value itself."""
    provenance: Provenance
    """Where the value was read."""


# ---------------------------------------------------------------------------------------------------
# Artifacts (readers) — issue: inspect
# ---------------------------------------------------------------------------------------------------


class TensorKind(StrEnum):
    """What a stored tensor is for: only parameters count toward the parameter total."""

    PARAMETER = "parameter"
    BUFFER = "buffer"  # e.g. rotary inv_freq, position_ids: stored but not trained
    QUANT_AUX = "quant_aux"  # quantisation scales / zeros / g_idx, FP8 scale tensors
    TIED = "tied"  # a second stored copy of a tied matrix (or a view of the same storage): counted once
    TRAINING_STATE = "training_state"  # optimizer moments, EMA copies and the like inside a checkpoint


class TensorInfo(Record):
    """One tensor as its file's header declares it (nothing is loaded)."""

    name: str
    """The tensor's name in the file (`model.layers.0.self_attn.q_proj.weight`)."""
    dtype: str
    """As stored, normalised to upper-case short names: F32, BF16, I32, Q4_K, ..."""
    shape: tuple[int, ...]
    """Dimensions as stored (logical element counts for GGUF's quantised blocks)."""
    kind: TensorKind = TensorKind.PARAMETER
    """Parameter, buffer, quantisation auxiliary, tied copy or training state."""
    parameters: int = 0
    """Logical parameters after unpacking packed quantised storage; 0 if not a parameter."""
    component: str | None = None
    """Embedding, layers, head, norm, vision, mtp, adapter, ..."""
    data_offsets: tuple[int, int] | None = None
    """Absolute byte range in the file, where the format has one."""


class ArtifactInfo(Record):
    """One file of a release as its reader saw it: format, size, hash, tensors and problems."""

    path: str
    """Relative to the release root (or the file name for a single-file release)."""
    format: ArtifactFormat
    """The format detected from the file's content (never from its name)."""
    size: int
    """Size in bytes."""
    sha256: str | None = None
    """SHA-256 of the whole file, when hashing was asked for."""
    tensors: list[TensorInfo] = Field(default_factory=list)
    """The tensors the header declares (emptied in stored assessments)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Format metadata (gguf kv, safetensors __metadata__)."""
    problems: list[Problem] = Field(default_factory=list)
    """What could not be read, each naming the file and the problem."""
    component: str | None = None
    """The release component the file's weights belong to (filled by inspect)."""
    role: Literal["primary", "alternative"] | None = None
    """Whether its tensors make up the counted weights ("primary") or repeat them in another format or
    precision ("alternative")."""
    parameters: int | None = None
    """Logical parameters of the file's own tensors."""
    bytes_read: int | None = None
    """Bytes the reader read from the file (headers only, by design)."""


# ---------------------------------------------------------------------------------------------------
# Model facts — issue: inspect
# ---------------------------------------------------------------------------------------------------


class Layout(StrEnum):
    """How a release is organised, which decides how its files are read."""

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
    """The parameter count of a model: total, mixture-of-experts active, the input embedding, and how each was
    obtained."""

    total: int | None = None
    """All parameters (tied matrices once; buffers and quantisation auxiliaries excluded)."""
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
    """Where `total` came from: the tensor headers, the config.json formula, or the manifest."""
    config_total: int | None = None
    """The config.json formula's figure when tensors were also counted."""
    config_active: int | None = None
    """The config.json formula's active figure when tensors were also counted."""
    non_parameter_elements: int = 0
    """Buffers and quantisation auxiliaries that were excluded."""
    breakdown: dict[str, int] = Field(default_factory=dict)
    """Parameters per component (embedding, layers, head, vision, ...)."""
    provenance: Provenance | None = None
    """Where the figure was read or how it was derived."""
    notes: list[str] = Field(default_factory=list)
    """How the figures were obtained (formula conventions)."""
    warnings: list[str] = Field(default_factory=list)
    """Disagreements and gaps worth a look."""


class Modalities(Record):
    """What a model takes in and puts out."""

    input: list[str] = Field(default_factory=list)
    """Input modalities: text, image, audio, video, ..."""
    output: list[str] = Field(default_factory=list)
    """Output modalities."""
    provenance: Provenance | None = None
    """Where the modalities were read (card pipeline tag, config, manifest)."""


class LicenseInfo(Record):
    """The licence a release declares (model-card front matter, GGUF metadata or the manifest)."""

    id: str | None = None
    """SPDX or Hugging Face licence id, lower-case as on the Hub ("apache-2.0", "llama3.1")."""
    name: str | None = None
    """The card's `license_name`, used with `license: other`."""
    link: str | None = None
    """The card's `license_link`: a file of the release or a URL."""
    provenance: Provenance | None = None
    """Where the licence was declared."""


class LicenseFile(Record):
    """A licence, notice or use-policy file shipped with a release, and what its text was identified as."""

    path: str
    """Path relative to the release root."""
    kind: Literal["license", "use_policy", "notice", "acceptable_use"]
    """What the file is: a licence, a use policy, a notice or an acceptable-use policy."""
    identified_as: str | None = None
    """Licence id when the text matches a well-known licence; None = unknown."""
    method: str | None = None
    """How it was identified (fingerprint, heading)."""


class BaseModelRef(Record):
    """A model this one was derived from, as its card or adapter config names it."""

    name: str
    """The base model's Hub id or name."""
    relation: str | None = None
    """How it was derived: adapter, merge, quantized or finetune."""
    provenance: Provenance
    """Where the base model was named."""


class TokenizerInfo(Record):
    """What the tokenizer files show."""

    vocab_size: int | None = None
    """Tokens in the tokenizer's vocabulary (may be smaller than the padded embedding)."""
    chat_template: bool = False
    """Whether a chat template is shipped (a Jinja template servers render: treated as code by the scan)."""
    files: list[str] = Field(default_factory=list)
    """The tokenizer files found."""
    provenance: Provenance | None = None
    """Where the vocabulary size was read."""


class AdapterInfo(Record):
    """A PEFT adapter's configuration (adapter_config.json)."""

    peft_type: str | None = None
    """LORA, IA3, ... as declared."""
    base_model: str | None = None
    """`base_model_name_or_path`: the model the adapter applies to."""
    rank: int | None = None
    """LoRA rank `r`."""
    target_modules: list[str] = Field(default_factory=list)
    """The modules the adapter modifies."""
    parameters: int | None = None
    """Parameters of the adapter itself (not of the base model)."""
    provenance: Provenance | None = None
    """The adapter config file."""


class CardInfo(Record):
    """The model card (README.md) as parsed."""

    path: str
    """Path of the card relative to the release root."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """The YAML front matter as parsed."""
    links: list[str] = Field(default_factory=list)
    """URLs found in the card text."""
    text_chars: int = 0
    """Length of the card's text after the front matter, in characters."""


class ComponentFacts(Record):
    """A sub-model of a release: a diffusers component, a sentence-transformers module, a vision tower."""

    name: str
    """The component's name (folder or module name: `unet`, `text_encoder`, `vision_tower`)."""
    path: str | None = None
    """Its folder relative to the release root, when it has one."""
    class_name: str | None = None
    """The class its config names (`UNet2DConditionModel`, `CLIPTextModel`)."""
    parameters: int | None = None
    """Its parameters."""
    source: Literal["tensors", "config"] | None = None
    """Whether `parameters` was counted from tensor headers or derived from its config."""
    library: str | None = None
    """Diffusers / transformers / sentence_transformers, as declared."""


class TrustFile(Record):
    """A signature or attestation a release carries, found by its name and recognised by its content."""

    kind: Literal["model signature", "attestation"]
    """What the file is by its name: model_signing's `model.sig`, or an in-toto `*.intoto.json`."""
    file: Fact[str]
    """The file's path relative to the release, with where its format was read (the bundle's
    `mediaType` or the envelope's `payloadType`)."""
    recognised: bool
    """True when the content is what the name says (a model-signing bundle, an in-toto DSSE envelope)."""
    verified: bool | None = None
    """True or False when checked against a trust anchor; None when no anchor was given (unknown,
    which never counts as verified)."""
    detail: str
    """What was found: the format, or why it is not recognised, or the verification's outcome."""


class RemoteRead(Record):
    """How a release was read from a hub over HTTP (`--remote`) instead of from local files."""

    endpoint: str
    """The hub's base URL (HF_ENDPOINT)."""
    repo_id: str
    """`org/name`."""
    commit: str
    """The commit every file was read at."""
    bytes_held: int
    """Total size of the repository's files, as the hub's metadata gives it."""
    bytes_read: int = 0
    """Body bytes received from the hub: header ranges and the small files fetched whole."""
    requests: int = 0
    """HTTP requests made for file content (retries included)."""
    files_ranged: int = 0
    """Files read by byte ranges (weights and other large or binary files)."""
    files_whole: int = 0
    """Small text files fetched whole (config, card, tokenizer config, licence)."""
    digests: str = "hub LFS metadata"
    """Where the files' SHA-256 come from: the hub's LFS records (not recomputed from the bytes) for
    LFS files; files fetched whole are hashed here and checked against the hub's git blob id."""
    not_verified: list[str] = Field(default_factory=list)
    """What the remote read could not verify (the file bytes behind an LFS digest, skipped files)."""


class ModelFacts(Record):
    """Everything inspect read from a release's files, each value with its provenance."""

    name: str | None = None
    """The model's name (card title, config `_name_or_path`, or the folder name)."""
    root: str
    """Absolute folder or file path, or "hf://org/name@revision" for a cached Hub snapshot."""
    layout: Layout
    """How the release is organised."""
    revision: str | None = None
    """The Hub revision of a cached snapshot."""
    files: list[ArtifactInfo] = Field(default_factory=list)
    """Every file read, with what its reader found."""
    parameters: ParameterCount = Field(default_factory=ParameterCount)
    """The parameter count (in an `Assessment`: the decided one, see `Assessment.parameters`)."""
    architecture: Fact[str] | None = None
    """The architecture class (`LlamaForCausalLM`, GGUF `general.architecture`)."""
    model_type: Fact[str] | None = None
    """config.json `model_type`."""
    modalities: Modalities = Field(default_factory=Modalities)
    """Input and output modalities."""
    context_length: Fact[int] | None = None
    """Maximum context length in tokens."""
    tokenizer: TokenizerInfo | None = None
    """What the tokenizer files show."""
    license: LicenseInfo | None = None
    """The declared licence."""
    license_files: list[LicenseFile] = Field(default_factory=list)
    """Licence, notice and use-policy files shipped with the release."""
    base_model: list[BaseModelRef] = Field(default_factory=list)
    """Models this one was derived from."""
    datasets: list[Fact[str]] = Field(default_factory=list)
    """Training datasets the card names."""
    language: list[str] = Field(default_factory=list)
    """Languages the card declares (ISO 639-1)."""
    pipeline_tag: Fact[str] | None = None
    """The card's task tag (`text-generation`, ...)."""
    library_name: Fact[str] | None = None
    """The library the card declares (`transformers`, `diffusers`, `gguf`, ...)."""
    card: CardInfo | None = None
    """The model card, when there is one."""
    components: list[ComponentFacts] = Field(default_factory=list)
    """Sub-models of the release (diffusers components, sentence-transformers modules, vision towers)."""
    adapter: AdapterInfo | None = None
    """The PEFT adapter configuration, for an adapter release."""
    quantization: Fact[str] | None = None
    """Gptq, awq, bitsandbytes-4bit, fp8, gguf:Q4_K_M, ..."""
    dtypes: dict[str, int] = Field(default_factory=dict)
    """Stored dtype -> parameters in that dtype."""
    tags: list[str] = Field(default_factory=list)
    """Card tags."""
    generation_config: dict[str, Any] = Field(default_factory=dict)
    """Generation_config.json defaults."""
    remote_code: list[str] = Field(default_factory=list)
    """Modeling_*.py / auto_map entries (never run)."""
    trust: list[TrustFile] = Field(default_factory=list)
    """The model signature and attestations the release carries; `verified` is None unless inspect was
    given a trust anchor (a public key or root certificates), and None never counts as verified."""
    problems: list[Problem] = Field(default_factory=list)
    """Files or values that could not be read, each naming the file and the problem."""
    warnings: list[str] = Field(default_factory=list)
    """Findings worth a look that are not read errors (disagreements, gaps)."""
    remote: RemoteRead | None = None
    """Set when the release was read from a hub over HTTP: what was read and what could not be verified."""


# ---------------------------------------------------------------------------------------------------
# Scan — issue: scan
# ---------------------------------------------------------------------------------------------------

# Severity, Location, Finding, ScannedFile and ScanReport: modelwarden/records.py (imported above).


# ---------------------------------------------------------------------------------------------------
# Openness — issue: openness
# ---------------------------------------------------------------------------------------------------


class Evidence(Record):
    """One observation supporting a component's presence or licence."""

    description: str
    """What was found, in words."""
    provenance: Provenance
    """Where it was found."""


class ComponentEvidence(Record):
    """What the release shows for one MOF component."""

    present: bool
    """Whether the component is part of the release (found in the files or declared in the manifest)."""
    evidence: list[Evidence] = Field(default_factory=list)
    """The observations behind the verdict."""
    licence: str | None = None
    """The licence that applies to the component, as written."""
    open: bool | None = None
    """Whether that licence is open; None: unknown (no licence found)."""


class YesNoReview(StrEnum):
    """A verdict that may need a person: yes, no, or needs review."""

    YES = "yes"
    NO = "no"
    NEEDS_REVIEW = "needs_review"


class MofComponentStatus(Record):
    """How the MOF evaluator counted one component (openness: docs/openness.md)."""

    status: Literal["included", "unlicensed", "invalid", "missing"]
    """The evaluator's bucket: included (open licence), unlicensed, invalid (not open) or missing."""
    licence: str | None = None
    """The licence string the evaluator compared (MOT-exact: as written)."""


class MofVerdict(Record):
    """The Model Openness Framework class of a release and the evaluation behind it."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, defer_build=True, use_attribute_docstrings=True
    )

    class_: int | None = Field(default=None, alias="class")
    """The best class reached: 1 (Open Science), 2 (Open Tooling), 3 (Open Model); None: no class."""
    progress: dict[str, float] = Field(default_factory=dict)
    """Per class ("1", "2", "3"), the fraction of its required components met."""
    mode: Literal["mot_exact", "normalised"] = "normalised"
    """How licences were matched: "mot_exact" (exact SPDX strings, as MOT) or "normalised" (mapped first)."""
    reasons: list[str] = Field(default_factory=list)
    """Why the class is what it is (components missing or not openly licensed)."""
    warnings: list[str] = Field(default_factory=list)
    """Open licences that are not type-appropriate."""
    components: dict[str, MofComponentStatus] = Field(default_factory=dict)
    """MOF component id -> status."""


class OsaidVerdict(Record):
    """The OSI Open Source AI Definition 1.0 verdict."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, defer_build=True, use_attribute_docstrings=True
    )

    pass_: bool = Field(alias="pass")
    """Whether the release meets the definition (serialised as `pass`)."""
    failing: list[str] = Field(default_factory=list)
    """The requirements it fails, in words."""


class EuFossVerdict(Record):
    """Whether the release meets the EU AI Act's free-and-open-source licence condition (Art. 53(2))."""

    verdict: YesNoReview
    """Yes, no, or needs review (e.g. safety-motivated use restrictions)."""
    reasons: list[str] = Field(default_factory=list)
    """The facts the verdict rests on."""


class EosaiScores(Record):
    """European Open Source AI Index scores."""

    scores: dict[str, float] = Field(default_factory=dict)
    """Parameter → score (open 1, partial 0.5, closed 0)."""
    mean: float | None = None
    """The unweighted mean of the scores; None when nothing could be scored."""


class LicenceSummary(Record):
    """The release licence as classified from the licence table (openness data/licences.yaml)."""

    text: str | None = None
    """As written in the card, manifest or identified LICENSE file."""
    id: str | None = None
    """Canonical id when known."""
    name: str | None = None
    """The licence's full name."""
    kind: str = "unknown"
    """Osi, open_data, open_content, restricted, non_commercial, no_derivatives, ..."""
    restrictions: list[str] = Field(default_factory=list)
    """Restrictions the licence table records (use, scale, territory, output use, ...)."""
    provenance: Provenance | None = None
    """Where the licence was read."""


class OpennessReport(Record):
    """What a release really opens: per-component evidence and every framework's verdict."""

    licence: LicenceSummary = Field(default_factory=LicenceSummary)
    """The release licence as classified."""
    components: dict[str, ComponentEvidence] = Field(default_factory=dict)
    """MOF component id → what the release shows for it."""
    mof: MofVerdict
    """The MOF class and progress."""
    osaid: OsaidVerdict
    """The OSI Open Source AI Definition verdict."""
    eu_foss_licence: EuFossVerdict
    """The EU Art. 53(2) free-and-open-source licence verdict."""
    eosai: EosaiScores
    """The European Open Source AI Index scores."""
    release_level: str | None = None
    """Solaiman's release level (fully_closed … fully_open), when it can be told."""
    release_level_reason: str | None = None
    """Why that level (or why it cannot be told from files)."""


# ---------------------------------------------------------------------------------------------------
# Compute — issue: assess
# ---------------------------------------------------------------------------------------------------


class Band(Record):
    """A FLOP figure as an honest range: the low and high edges and the figure between them we report.

    Not validated here (records from other stages and stored documents are checked where they enter:
    the registry refuses non-finite values); the compute stage builds low <= central <= high.
    """

    low: float
    """The low edge, FLOP."""
    central: float
    """The figure reported, FLOP."""
    high: float
    """The high edge, FLOP."""

    @classmethod
    def point(cls, value: float) -> Band:
        """A band of no width: an exactly known figure."""
        return cls(low=value, central=value, high=value)

    def __add__(self, other: Band) -> Band:
        return Band(
            low=self.low + other.low, central=self.central + other.central, high=self.high + other.high
        )

    def scaled(self, factor: float) -> Band:
        """The band multiplied by `factor` (all three edges)."""
        return Band(low=self.low * factor, central=self.central * factor, high=self.high * factor)


class ThresholdCall(StrEnum):
    """Where a band lies relative to a legal line, with a factor-2 margin for "near"."""

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
    """How a compute figure was obtained, in order of precedence (docs/reference/compute.md §0 item 5)."""

    DEVELOPER_STATED = "developer_stated"
    OPERATION_COUNT = "operation_count"
    HARDWARE = "hardware"
    COMBINED = "combined"  # stages estimated by different methods, summed
    INSUFFICIENT_DATA = "insufficient_data"


class MethodEstimate(Record):
    """One independent estimate of one piece of compute, with the arithmetic that produced it."""

    scope: str
    """What the estimate covers: "training" (the main run), "modification", or "stage:<name>"."""
    method: ComputeMethod
    """The method used."""
    band: Band
    """The estimate as a band."""
    formula: str
    """The arithmetic with its numbers, for humans."""
    used: bool = True
    """False: shown as a cross-check, a higher-precedence figure was used instead."""


class StageCompute(Record):
    """A declared stage; whether it counts toward training and/or cumulative compute
    (docs/reference/regulation.md §1.11)."""

    name: str
    """The stage's name as declared in the manifest."""
    kind: str
    """The kind of stage (pretraining, finetuning, rl, synthetic_data, reward_model, ...)."""
    band: Band | None = None
    """Its compute, when it could be estimated."""
    method: ComputeMethod = ComputeMethod.INSUFFICIENT_DATA
    """How `band` was obtained."""
    in_training: bool
    """Whether it counts toward training (parameter-update) compute."""
    in_cumulative: bool
    """Whether it counts toward cumulative training compute (EU Art. 51(2))."""
    reason: str
    """Why it counts or not, with the provision."""


class ModifierRule(Record):
    """EU Guidelines paras 60-61: a modifier becomes provider when the modification compute exceeds one
    third of the original model's training compute (fallbacks 1e25/3 or 1e23/3 when it is unknown)."""

    threshold: float | None
    """The one-third line in FLOP; None when the basis cannot be decided (base compute and risk unknown)."""
    basis: Literal["base_compute", "fallback_systemic_risk", "fallback_not_systemic_risk", "unknown"]
    """What the line is one third of: the base model's compute, or a fallback line."""
    call: ThresholdCall
    """Where the modification's compute lies relative to the line."""
    explanation: str
    """The rule applied, with its numbers."""


class ComputeEstimate(Record):
    """Training compute as bands, the methods behind them and where they lie against every threshold."""

    training_flop: Band | None = None
    """Parameter-update compute (EU 1e23 GPAI indicator), the base model included for derivatives when its
    compute is known (docs/reference/regulation.md §1.11)."""
    cumulative_flop: Band | None = None
    """Cumulative compute: training plus non-public synthetic-data generation and merged or initialising
    weights (EU Art. 51(2), SB 53 / RAISE, Korea)."""
    modification_flop: Band | None = None
    """A modifier's own compute on top of a base model."""
    method: str
    """A ComputeMethod value: how training_flop was obtained."""
    thresholds: dict[str, ThresholdCall] = Field(default_factory=dict)
    """Strict ">" calls (EU, US EO 14110, CA SB 53, NY RAISE): "1e23" on training_flop, "1e25" and "1e26" on
    cumulative_flop."""
    other_thresholds: dict[str, ThresholdCall] = Field(default_factory=dict)
    """Calls with other strictness or bases: "1e23_inclusive", "1e25_inclusive", "1e26_inclusive" (">=",
    Korea's "or more"), "1e23_bio" (EO 14110 biological sequences), "modification_one_third" (EU Guidelines
    paras 60-61)."""
    modification_threshold: float | None = None
    """The one-third line used, when it could be decided."""
    modifier: ModifierRule | None = None
    """The one-third rule with its basis and explanation."""
    stated_flop: float | None = None
    """The developer's figure for this model's own run, when stated."""
    operation_count_flop: Band | None = None
    """6·N·D (or LoRA's (4N + 2N_t)·D) of the own run."""
    hardware_flop: Band | None = None
    """Chip-hours x peak x utilisation of the own run."""
    geometric_mean_flop: float | None = None
    """Of operation-count and hardware centrals, when both exist."""
    implied_utilisation: float | None = None
    """Operation count (or stated) / (chip-hours x peak)."""
    parameters_used: int | None = None
    """N in 6·N·D, central convention (active for mixture-of-experts)."""
    tokens: float | None = None
    """D, tokens seen."""
    accelerator: str | None = None
    """From the accelerator table, when hardware was stated."""
    chip_hours: float | None = None
    """Accelerator-hours stated or derived from count × hours."""
    energy_kwh: Band | None = None
    """Stated, or chip-hours x board power x PUE."""
    planned: bool = False
    """From a planned run (manifest training.planned)."""
    estimates: list[MethodEstimate] = Field(default_factory=list)
    """Every method tried, with formulas."""
    stages: list[StageCompute] = Field(default_factory=list)
    """Every declared stage and whether it counts toward training and cumulative compute."""
    warnings: list[str] = Field(default_factory=list)
    """Inconsistencies worth a look (implausible utilisation, disagreeing figures)."""
    assumptions: list[Fact[str]] = Field(default_factory=list)
    """Every default the estimate relied on, with why."""


# ---------------------------------------------------------------------------------------------------
# Rules — issue: assess
# ---------------------------------------------------------------------------------------------------


class Classification(StrEnum):
    """The answer to one classification question of an instrument."""

    YES = "yes"
    NO = "no"
    NEEDS_REVIEW = "needs_review"
    INSUFFICIENT_DATA = "insufficient_data"


class Citation(Record):
    """The provision a result rests on."""

    instrument: str
    """The legal instrument ("EU AI Act", "California SB 53")."""
    article: str
    """The article, section or paragraph."""
    url: str | None = None
    """Where the text can be read."""


class Obligation(Record):
    """A duty an instrument imposes, with who owes it, when and on what it depends."""

    id: str
    """A stable id for the duty: "eu.art53.1a", "ca.sb53.framework", ..."""
    title: str
    """The duty in a few words."""
    citation: Citation
    """The provision that imposes it."""
    applies_from: dt.date | None = None
    """The date from which it applies, when it is a date."""
    deadline: str | None = None
    """A date or a relative deadline ("within 2 weeks of ...")."""
    note: str | None = None
    """Anything a reader needs to act on it (scope, penalties, how to comply)."""
    conditional_on: list[str] = Field(default_factory=list)
    """Classifications (or conditions) still needing review on which this duty depends; empty = settled."""
    applies_to: str | None = None
    """Who owes the duty: model_provider, system_provider (a provider of an AI system built on the model),
    developer, deployer or service_provider (docs/assess.md, "Who owes a duty")."""
    status: Literal["in_force", "not_yet_in_force"] | None = None
    """Whether the duty is "in_force" on the as-of date or "not_yet_in_force" (listed with applies_from;
    docs/assess.md, "Future duties"); None only in assessments stored before the field existed."""


class Exemption(Record):
    """An exemption that switches obligations off."""

    id: str
    """Its id ("eu.art53.2")."""
    title: str
    """The exemption in a few words."""
    citation: Citation
    """The provision that grants it."""
    removes: list[str] = Field(default_factory=list)
    """Obligation ids it switches off."""


class TraceStep(Record):
    """One evaluated condition: why a classification came out as it did."""

    rule: str
    """Which rule/condition id."""
    expression: str | None = None
    """The CEL condition."""
    result: str
    """What it evaluated to."""
    explanation: str | None = None
    """The rule's reason, in words."""


class RegimeResult(Record):
    """One instrument's outcome on the as-of date: classifications, obligations, exemptions and the trace."""

    id: str
    """Eu_ai_act, us_eo_14110, ..."""
    instrument: str
    """The instrument's name."""
    in_force: bool
    """Whether the instrument is in force on the as-of date."""
    classification: dict[str, Classification] = Field(default_factory=dict)
    """Classification question → answer (serialised beside `in_force` in the JSON contract)."""
    obligations: list[Obligation] = Field(default_factory=list)
    """The duties that apply (or would, once in force), with their conditions."""
    exemptions: list[Exemption] = Field(default_factory=list)
    """The exemptions that apply."""
    trace: list[TraceStep] = Field(default_factory=list)
    """Every evaluated condition, in order."""
    needs_review: list[str] = Field(default_factory=list)
    """Questions a person must answer before the result is final."""
    notes: list[str] = Field(default_factory=list)
    """Enforcement dates, penalties, open questions."""

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
    """What was assessed: the model's name, version, location and file hashes."""

    name: str
    """The model's name (manifest, then files, then the manifest's folder)."""
    version: str | None = None
    """Release version or hub revision."""
    root: str | None = None
    """Where the files were read (path or hf:// id); None for a manifest-only assessment."""
    file_hashes: dict[str, str] = Field(default_factory=dict)
    """Path -> sha256."""


class Assessment(Record):
    """The result of `modelwarden assess`: every stage's record for one model on one as-of date."""

    subject: Subject
    """What was assessed."""
    as_of: dt.date
    """The date the law was applied as of."""
    created_at: dt.datetime
    """When the assessment was made (UTC)."""
    tool_version: str
    """The modelwarden version that made it."""
    ruleset_version: str
    """The rule set's version and the digest of its files."""
    facts: ModelFacts | None = None
    """What inspect read from the files (tensor lists dropped); None for a manifest-only assessment."""
    scan: ScanReport | None = None
    """The safety scan's report; None when it did not run (see `scan_status`)."""
    openness: OpennessReport | None = None
    """The openness report."""
    compute: ComputeEstimate
    """The training-compute estimate."""
    regimes: dict[str, RegimeResult] = Field(default_factory=dict)
    """Instrument id → its outcome, in the bundled order."""
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
