"""The release manifest, `modelwarden.yaml`: what the files of a release cannot tell.

It states training facts (tokens, hardware, compute), where components that live outside the
weights folder are (code, data, papers) and under which licence, and release facts (provider,
establishment, revenue, role, markets, distribution, monetisation). The openness, compute and
rules stages all read this one record. See docs/reference/regulation.md §1 (roles, the
one-third rule, monetisation, cumulative compute) and docs/reference/compute.md §4–5 (what a compute estimate
needs).

Every key is optional. Unknown keys, wrong types and impossible values are errors that name the
key path; nothing is guessed. The JSON Schema shipped in `data/manifest.schema.json` is generated
from these models (`python -m modelwarden.manifest --schema`) and a test keeps the two in sync.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from modelwarden.errors import ManifestError
from modelwarden.untrusted import yaml as untrusted_yaml
from modelwarden.untrusted.io import read_bounded

MANIFEST_NAMES = ("modelwarden.yaml", "modelwarden.yml")
MAX_MANIFEST_BYTES = 1_000_000  # a manifest is a hand-written document; anything bigger is not one

# Non-negative quantities. FLOP figures reach 1e27; floats carry them exactly enough (we report 2-3
# significant figures, the EU Guidelines ask for 2 and tolerate ±30%). The upper bounds are far past
# any real value and keep products of a few of them finite (a 300-digit count used to make inf FLOP).
MAX_QUANTITY = 1e40
MAX_COUNT = 10**16


def _not_bool(value: Any) -> Any:
    # YAML `true` is a bool, and pydantic's lax mode would read it as the number 1.
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


Flop = Annotated[float, BeforeValidator(_not_bool), Field(ge=0, le=MAX_QUANTITY, allow_inf_nan=False)]
Positive = Annotated[float, BeforeValidator(_not_bool), Field(gt=0, le=MAX_QUANTITY, allow_inf_nan=False)]
Count = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=MAX_COUNT)]
PositiveCount = Annotated[int, BeforeValidator(_not_bool), Field(gt=0, le=MAX_COUNT)]
Fraction = Annotated[float, BeforeValidator(_not_bool), Field(gt=0, le=1)]


class _Strict(BaseModel):
    """Base of the manifest's sections: unknown keys are errors, and keys may use field names."""

    model_config = ConfigDict(
        extra="forbid", use_enum_values=False, populate_by_name=True, use_attribute_docstrings=True
    )


class Component(StrEnum):
    """The 17 MOF components as implemented by the Model Openness Tool (docs/reference/openness.md §1.2)."""

    MODEL_ARCHITECTURE = "model_architecture"
    MODEL_PARAMETERS_FINAL = "model_parameters_final"
    MODEL_PARAMETERS_INTERMEDIATE = "model_parameters_intermediate"
    MODEL_METADATA = "model_metadata"
    DATASETS = "datasets"
    DATA_PREPROCESSING_CODE = "data_preprocessing_code"
    TRAINING_CODE = "training_code"
    INFERENCE_CODE = "inference_code"
    EVALUATION_CODE = "evaluation_code"
    EVALUATION_DATA = "evaluation_data"
    EVALUATION_RESULTS = "evaluation_results"
    SUPPORTING_LIBRARIES = "supporting_libraries"
    MODEL_CARD = "model_card"
    DATA_CARD = "data_card"
    TECHNICAL_REPORT = "technical_report"
    RESEARCH_PAPER = "research_paper"
    SAMPLE_OUTPUTS = "sample_outputs"


class Modality(StrEnum):
    """A kind of input or output a model handles."""

    TEXT = "text"
    CODE = "code"
    IMAGE = "image"
    AUDIO = "audio"
    SPEECH = "speech"
    VIDEO = "video"
    TABULAR = "tabular"
    TIME_SERIES = "time_series"
    BIOLOGICAL_SEQUENCE = "biological_sequence"
    EMBEDDING = "embedding"  # vector output (sentence encoders)
    ACTION = "action"  # agents, robotics
    THREE_D = "3d"
    OTHER = "other"


class Generality(StrEnum):
    """Whether a model is general-purpose or built for a narrow task (EU Guidelines para 20)."""

    GENERAL = "general"
    NARROW = "narrow"


class Role(StrEnum):
    """The releaser's role toward the model (EU AI Act: provider, modifier, deployer)."""

    PROVIDER = "provider"  # develops the model and places it on the market under its own name
    MODIFIER = "modifier"  # fine-tunes / merges / otherwise modifies someone else's model
    DEPLOYER = "deployer"  # only uses or serves a model placed on the market by others


class WeightsAccess(StrEnum):
    """How the weights can be obtained."""

    PUBLIC = "public"  # free download, no gate
    GATED = "gated"  # download after accepting terms or verification
    API_ONLY = "api_only"
    CLOSED = "closed"


class WeightsHolder(StrEnum):
    """Who holds the weights of a modified model (EU Guidelines §3.2: control of the weights matters)."""

    SELF = "self"  # the releaser downloaded or trained them and holds them
    ORIGINAL_PROVIDER = "original_provider"  # fine-tuned through the original provider's hosted API
    THIRD_PARTY = "third_party"  # held by someone else (a hosting or training service)


class ReleaseLevel(StrEnum):
    """Solaiman's gradient of generative AI release (docs/reference/openness.md §4)."""

    FULLY_CLOSED = "fully_closed"
    GRADUAL = "gradual"
    HOSTED = "hosted"
    API = "api"
    DOWNLOADABLE = "downloadable"
    FULLY_OPEN = "fully_open"


class Precision(StrEnum):
    """The number format of the training matmuls (decides the accelerator peak used)."""

    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    FP4 = "fp4"
    INT8 = "int8"


class StageKind(StrEnum):
    """What a training stage does, which decides whether it counts toward cumulative compute."""

    PRETRAINING = "pretraining"
    CONTINUED_PRETRAINING = "continued_pretraining"
    FINETUNING = "finetuning"
    RL = "rl"
    DISTILLATION = "distillation"
    SYNTHETIC_DATA = "synthetic_data"  # forward passes generating training data
    # auxiliary: excluded from cumulative compute (docs/reference/regulation.md §1.11)
    REWARD_MODEL = "reward_model"
    TEACHER = "teacher"  # training of a distillation teacher: excluded
    EVALUATION = "evaluation"  # diagnostic: excluded
    OTHER = "other"


# ---------------------------------------------------------------------------------------------------


class ComponentDecl(_Strict):
    """Where a release component is and under which licence (a URL or a path relative to the manifest)."""

    present: bool = True
    """Whether the component is released (false: declared absent)."""
    location: str | None = None
    """A URL, or a path relative to the manifest."""
    license: str | None = None
    """SPDX id, Hugging Face licence id, or the licence's name."""
    note: str | None = None
    """Anything a reader should know about it."""


class ModalitiesDecl(_Strict):
    """Input and output modalities as the developer declares them."""

    input: list[Modality] = Field(default_factory=list)
    """What the model takes in."""
    output: list[Modality] = Field(default_factory=list)
    """What it generates."""


class ModelDecl(_Strict):
    """Facts about the model that its files may not show."""

    name: str | None = None
    """The model's name."""
    version: str | None = None
    """The release version."""
    architecture: str | None = None
    """The architecture, in words or as its class name."""
    parameters: PositiveCount | None = None
    """Total parameters."""
    active_parameters: PositiveCount | None = None
    """Parameters per token, for mixture-of-experts."""
    context_length: PositiveCount | None = None
    """Maximum context length in tokens."""
    modalities: ModalitiesDecl | None = None
    """Input and output modalities."""
    generality: Generality | None = None
    """General-purpose or narrow (rebuts the EU GPAI presumption either way)."""
    intended_tasks: list[str] = Field(default_factory=list)
    """What the model is meant for, in words."""
    primarily_biological_sequence_data: bool | None = None
    """EO 14110 §4.2(b)(i): a lower threshold for models trained primarily on biological sequence data."""
    broad_serious_risk_to_life_safety_rights: bool | None = None
    """Korea AI Basic Act Art. 32: a judgement the files cannot make (docs/reference/regulation.md §4)."""

    @model_validator(mode="after")
    def _active_le_total(self) -> ModelDecl:
        if self.parameters and self.active_parameters and self.active_parameters > self.parameters:
            raise ValueError("model.active_parameters cannot exceed model.parameters")
        return self


class HardwareDecl(_Strict):
    """The accelerators a run used (the hardware method of compute estimation)."""

    accelerator: str | None = None
    """A name from the hardware table, e.g. "H100-SXM", "A100", "TPUv4"."""
    count: PositiveCount | None = None
    """Number of chips."""
    hours: Positive | None = None
    """Wall-clock hours with `count` chips."""
    gpu_hours: Positive | None = None
    """Chip-hours, when stated directly."""
    precision: Precision | None = None
    """The number format of the matmuls (bf16, fp8, ...)."""
    utilisation: Fraction | None = None
    """MFU, when the developer states it."""
    peak_flop_s: Positive | None = None
    """Dense peak FLOP/s per chip at the training precision, for an accelerator missing from the table."""


class StageDecl(_Strict):
    """A training stage beyond the main run (fine-tuning, RL, distillation, synthetic data, ...)."""

    name: str
    """The stage's name."""
    kind: StageKind = StageKind.OTHER
    """What the stage does."""
    tokens: Flop | None = None
    """Tokens seen in the stage."""
    compute_flop: Flop | None = None
    """The stage's compute, when stated."""
    hardware: HardwareDecl | None = None
    """The stage's hardware, for the hardware method."""
    trainable_parameters: PositiveCount | None = None
    """LoRA and other partial training."""
    public_output: bool | None = None
    """Synthetic data that is published may be excluded (EU Annex A.1)."""


class DatasetDecl(_Strict):
    """A training dataset and where it can be found."""

    name: str
    """The dataset's name or Hub id."""
    location: str | None = None
    """A URL or a path relative to the manifest."""
    license: str | None = None
    """Its licence (SPDX id, Hub id or name)."""
    public: bool | None = None
    """Whether it is publicly available."""
    tokens: Flop | None = None
    """Tokens taken from it."""


class ClusterDecl(_Strict):
    """Facts about a computing cluster (US EO 14110 §4.2(b)(ii): cluster reporting while it was in force)."""

    peak_ops_per_s: Positive | None = None
    """Theoretical maximum for AI training, operations per second."""
    networking_gbit_s: Positive | None = None
    """Data-centre networking between the machines."""
    single_datacenter: bool | None = None
    """Co-located in one data centre."""


class TrainingDecl(_Strict):
    """How the model was trained: tokens, hardware, stages, compute and data."""

    tokens: Flop | None = None
    """Tokens *seen*, repeats included."""
    epochs: Positive | None = None
    """Passes over the data, when `tokens` counts unique tokens."""
    sequence_length: PositiveCount | None = None
    """Training sequence length (tokens per example), for the attention term of the operation count; defaults
    to the model's context length (an upper bound: long-context phases are usually short)."""
    compute_flop: Flop | None = None
    """Developer-stated training compute."""
    hardware: HardwareDecl | None = None
    """The main run's hardware."""
    stages: list[StageDecl] = Field(default_factory=list)
    """Stages beyond the main run."""
    synthetic_data_flop: Flop | None = None
    """Forward passes generating non-public synthetic data."""
    synthetic_data_public: bool | None = None
    """Whether the synthetic data is published (then its generation may be excluded, EU Annex A.1)."""
    merged_or_initialising_flop: Flop | None = None
    """Compute of weights merged into / initialising the model."""
    modification_flop: Flop | None = None
    """Compute a modifier spent on top of a base model."""
    modification_method: str | None = None
    """Full, lora, qlora, merge, ..."""
    trainable_parameters: PositiveCount | None = None
    """Parameters trained by the modification (LoRA and other partial training)."""
    datasets: list[DatasetDecl] = Field(default_factory=list)
    """The training datasets."""
    started: dt.date | None = None
    """When the run started."""
    finished: dt.date | None = None
    """When the run finished."""
    energy_kwh: Flop | None = None
    """Energy used, kWh, when stated (Annex XI)."""
    planned: bool = False
    """The run has not happened yet (notification when crossing is foreseeable)."""
    # --- law inputs (issue 17) -----------------------------------------------------------------------
    cluster: ClusterDecl | None = None
    """The computing cluster the model was trained on."""

    @model_validator(mode="after")
    def _dates_in_order(self) -> TrainingDecl:
        if self.started and self.finished and self.finished < self.started:
            raise ValueError("training.finished is before training.started")
        return self


class BaseModelDecl(_Strict):
    """The model a modified model was derived from."""

    name: str | None = None
    """Its name or Hub id."""
    provider: str | None = None
    """Who placed it on the market."""
    compute_flop: Flop | None = None
    """Its training compute, when known (the basis of the one-third rule)."""
    systemic_risk: bool | None = None
    """Whether it is a systemic-risk model (decides the fallback line when its compute is unknown)."""
    license: str | None = None
    """Its licence."""


class ProviderDecl(_Strict):
    """Who releases the model."""

    name: str | None = None
    """The provider's name."""
    established_in: str | None = None
    """ISO 3166-1 alpha-2 ("DE", "US") or "EU"."""
    revenue_usd: Flop | None = None
    """Previous year, with affiliates (SB 53 / RAISE "large" test)."""
    microenterprise: bool | None = None
    """An EU microenterprise (Recital 103: transactions between them are not monetisation)."""
    sme: bool | None = None
    """A small or medium-sized enterprise."""


class MonetisationDecl(_Strict):
    """Guidelines §4.2.2 and Recital 103: what makes an open release 'monetised'."""

    paid_access: bool | None = None
    """Weights or access only against payment."""
    dual_licensing: bool | None = None
    """Free for some, paid for commercial use or above a scale."""
    required_paid_services: bool | None = None
    """Paid support/services indispensable for use."""
    exclusive_paid_platform: bool | None = None
    """Only hosted by the provider behind payment or ads."""
    ad_funded: bool | None = None
    """Free access funded by advertising on the provider's platform."""
    personal_data_required: bool | None = None
    """Access conditioned on personal data beyond security."""
    optional_paid_services: bool | None = None
    """Premium support, hosted API next to free weights."""
    microenterprise_transactions_only: bool | None = None
    """Paid only in transactions between microenterprises (not monetisation)."""


class ReleaseDecl(_Strict):
    """How and where the model is released: role, provider, markets, access, monetisation."""

    role: Role | None = None
    """The releaser's role toward the model."""
    provider: ProviderDecl | None = None
    """Who releases it."""
    placed_on_market: dt.date | None = None
    """When it was (or will be) first placed on the market."""
    markets: list[str] = Field(default_factory=list)
    """Region codes where it is offered: "EU", "US", "US-CA", "US-NY", "KR", "CN", ..."""
    weights: WeightsAccess | None = None
    """How the weights can be obtained."""
    license: str | None = None
    """The licence of the weights."""
    monetised: bool | None = None
    """Whether the release is monetised (Recital 103), when stated as a whole."""
    monetisation: MonetisationDecl | None = None
    """The facts that decide monetisation, one by one."""
    public_service_in_china: bool | None = None
    """Offered as a public-facing service in mainland China."""
    public_opinion_attributes: bool | None = None
    """China: "public opinion attributes or social mobilisation"."""
    eu_registered_business_users: Count | None = None
    """Annex XIII(f): ≥ 10,000 presumes high impact."""
    korea_daily_users: Count | None = None
    """Average daily users in Korea (domestic-representative threshold)."""
    level: ReleaseLevel | None = None
    """Release gradient, when files cannot tell (levels 1–4)."""
    staged: bool | None = None
    """Released in stages (Solaiman's gradual release)."""
    api_available: bool | None = None
    """Offered through an API."""
    # --- law inputs (issue 17): facts the rules need that files cannot tell -----------------------------
    model_line_first_placed: dt.date | None = None
    """First placed on the market of the model *line* (an earlier version): a new version of a model placed
    before 2025-08-02 keeps the legacy deadline 2027-08-02 (EU Guidelines §2.2, Art. 111(3))."""
    internal_research_only: bool | None = None
    """Used only for internal research, development or prototyping and never placed on the market or deployed
    (EU Art. 3(63) last sentence; a transparency report is owed only on deployment)."""
    weights_held_by: WeightsHolder | None = None
    """For modifiers: who holds the modified weights."""
    consequential_decisions: bool | None = None
    """The model (or a system built on it) is used, or intended, to make or materially influence consequential
    decisions about people (employment, housing, credit, education, health care, ...)."""
    system_offered: bool | None = None
    """The releaser also provides an AI system built on the model (app, chat service, hosted API): the duties
    of EU Art. 50, California's AI Transparency Act and service rules fall on that system."""
    monthly_users: Count | None = None
    """Monthly visitors or users of that system (California SB 942)."""
    anthropomorphic_service: bool | None = None
    """A service simulating human personality for sustained emotional interaction (China, 2026 measures)."""

    @model_validator(mode="after")
    def _markets_upper(self) -> ReleaseDecl:
        bad = [m for m in self.markets if not re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,3})?", m)]
        if bad:
            raise ValueError(f"release.markets: {bad!r} are not region codes like EU, US-CA, KR, CN")
        return self


class Manifest(_Strict):
    """`modelwarden.yaml`: what the files of a release cannot tell. Every key is optional."""

    schema_version: int = 1
    """The manifest format's version (1)."""
    model: ModelDecl = Field(default_factory=ModelDecl)
    """Facts about the model."""
    components: dict[Component, ComponentDecl] = Field(default_factory=dict)
    """MOF component → where it is and under which licence."""
    training: TrainingDecl = Field(default_factory=TrainingDecl)
    """How the model was trained."""
    base_model: BaseModelDecl | None = None
    """The base model, for a modified model."""
    release: ReleaseDecl = Field(default_factory=ReleaseDecl)
    """How and where the model is released."""


# ---------------------------------------------------------------------------------------------------
# Loading


class YamlLoader(yaml.SafeLoader):
    """SafeLoader that reads `1e25` and `3.8e+25` as floats (YAML 1.1 wants `1.0e+25`)."""


_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
# Dates stay strings for pydantic to parse, so a bad one is reported with its key path
# ("release.placed_on_market: ...") instead of failing inside the YAML parser.
YamlLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in {"tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"}]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _format_errors(path: str, exc: ValidationError) -> str:
    lines = [f"{path}: invalid release manifest ({exc.error_count()} problem(s))"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (see the manifest schema for the allowed keys)"
        elif err["type"] == "less_than_equal":  # pydantic spells 1e40 with all forty zeros
            msg = f"must be at most {float(err['ctx']['le']):g}"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_manifest(data: Any, *, origin: str = "<manifest>") -> Manifest:
    """Validate parsed YAML into a `Manifest`; errors name every bad key path."""
    if data is None:
        return Manifest()
    if not isinstance(data, dict):
        raise ManifestError(f"the manifest must be a mapping of keys, got {type(data).__name__}", path=origin)
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_format_errors(origin, exc)) from None


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest file (bounded, UTF-8, YAML without aliases)."""
    p = Path(path)
    try:
        raw = read_bounded(p, MAX_MANIFEST_BYTES)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"file is over {MAX_MANIFEST_BYTES} bytes, the cap for a manifest", path=p)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ManifestError("manifest file not found", path=p) from None
    except UnicodeDecodeError:
        raise ManifestError("manifest is not UTF-8 text", path=p) from None
    except OSError as exc:
        raise ManifestError(f"cannot read manifest: {exc.strerror}", path=p) from None
    try:
        data = untrusted_yaml.load(text, loader=YamlLoader)
    except (yaml.YAMLError, ValueError) as exc:
        raise ManifestError(untrusted_yaml.describe(exc), path=p) from None
    return parse_manifest(data, origin=str(p))


def find_manifest(root: str | Path) -> Path | None:
    """The manifest next to a model: inside a model folder, or beside a single model file."""
    r = Path(root)
    folder = r if r.is_dir() else r.parent
    for name in MANIFEST_NAMES:
        candidate = folder / name
        # Not only regular files: a manifest that cannot be read must be an error, not ignored.
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


def json_schema() -> dict[str, Any]:
    """The manifest's JSON Schema as published in data/manifest.schema.json."""
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://modelwarden.dev/schema/manifest-v1.json"
    schema["title"] = "modelwarden release manifest (modelwarden.yaml)"
    return schema


SCHEMA_PATH = Path(__file__).parent / "data" / "manifest.schema.json"


def _main(argv: list[str]) -> int:
    if argv[1:] == ["--schema"]:
        SCHEMA_PATH.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(SCHEMA_PATH)
        return 0
    print("usage: python -m modelwarden.manifest --schema", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv))
