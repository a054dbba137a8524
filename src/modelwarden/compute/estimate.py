"""Training compute as an honest band (compute.md §0, §4, §5; regulation.md §1.11).

Precedence (compute.md §0.5): a developer-stated figure, then operation counting (6·N·D with N the
parameters that take part in matrix multiplies per token — the active set for mixture-of-experts —
and D the tokens seen), then the hardware method (chip-hours × peak × a utilisation band). The other
methods are still computed and shown, and their disagreement checked (implied utilisation). Nothing
is defaulted silently: without a basis the answer is "insufficient data".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from modelwarden.compute.thresholds import threshold_call
from modelwarden.manifest import HardwareDecl, Manifest, Precision, Role, StageDecl, StageKind
from modelwarden.model import Band, ComputeEstimate, Fact, ModelFacts, Provenance, Source

# Stages whose compute updates the model's parameters (regulation.md §1.11: "training compute").
UPDATE_STAGES = {
    StageKind.PRETRAINING,
    StageKind.CONTINUED_PRETRAINING,
    StageKind.FINETUNING,
    StageKind.RL,
    StageKind.DISTILLATION,
}
# Stages the Guidelines let a provider leave out of cumulative compute (Annex A.1).
EXCLUDED_STAGES = {StageKind.REWARD_MODEL, StageKind.TEACHER, StageKind.EVALUATION}
ATTENTION_SHARE_DEFAULT = 0.17  # the largest attention ÷ 6N in compute.md §4.2's table
EMBEDDING_SHARE_DEFAULT = 0.07  # input table share of N in compute.md §4.3's examples (0–7%)
STATED_TOLERANCE = 0.30  # the EU tolerates ±30% estimates (Guidelines Annex A; regulation.md §1.11)


@dataclass(frozen=True)
class Accelerator:
    name: str
    peaks: dict[str, float]  # precision -> dense TFLOP/s
    confidence: str


@cache
def _hardware() -> tuple[dict[str, Accelerator], dict[str, float], dict[str, float]]:
    text = resources.files("modelwarden.compute").joinpath("data/accelerators.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    table: dict[str, Accelerator] = {}
    for name, row in data["accelerators"].items():
        peaks = {k: float(v) for k, v in row.items() if k in {p.value for p in Precision} or k == "fp32"}
        acc = Accelerator(name, peaks, row.get("confidence", "L"))
        for key in [name, *row.get("aliases", [])]:
            table[_key(key)] = acc
    return table, data["utilisation"], data["plausible_utilisation"]


def _key(name: str) -> str:
    return re.sub(r"[\s\-_]+", "", name.lower())


def accelerator(name: str) -> Accelerator | None:
    table = _hardware()[0]
    key = _key(name)
    if key in table:
        return table[key]
    # "H100-SXM5-80GB" and the like: the longest known name the text starts with.
    matches = [k for k in table if key.startswith(k)]
    return table[max(matches, key=len)] if matches else None


@dataclass
class _Notes:
    warnings: list[str] = field(default_factory=list)
    assumptions: list[Fact[str]] = field(default_factory=list)

    def assume(
        self, text: str, source: Source = Source.DEFAULT, fld: str | None = None, file: str | None = None
    ) -> None:
        self.assumptions.append(Fact(value=text, provenance=Provenance(source=source, field=fld, file=file)))


def _scale(band: Band, k: float) -> Band:
    return Band(low=band.low * k, central=band.central * k, high=band.high * k)


def _add(a: Band | None, b: Band | None) -> Band | None:
    if a is None:
        return b
    if b is None:
        return a
    return Band(low=a.low + b.low, central=a.central + b.central, high=a.high + b.high)


def _point(x: float) -> Band:
    return Band(low=x, central=x, high=x)


# --- the model's parameters -------------------------------------------------------------------------


@dataclass
class _Params:
    n: int | None  # N for 6·N·D: active if mixture-of-experts
    embedding: int | None  # input embedding table, when counted from tensors
    head: int | None
    attention_per_token: float | None  # 6·n_layer·n_ctx·d_attn (Kaplan), from config.json
    source: str


def _config(facts: ModelFacts | None) -> dict[str, Any]:
    if facts is None or facts.root.startswith("hf://"):
        return {}
    path = Path(facts.root) / "config.json"
    try:
        if path.is_file() and path.stat().st_size < 4_000_000:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                text = data.get("text_config")
                return text if isinstance(text, dict) and "num_hidden_layers" in text else data
    except (OSError, ValueError):
        pass
    return {}


def _attention(cfg: dict[str, Any], notes: _Notes) -> float | None:
    def num(*keys: str) -> int | None:
        for k in keys:
            v = cfg.get(k)
            if isinstance(v, int) and v > 0:
                return v
        return None

    layers = num("num_hidden_layers", "n_layer", "num_layers")
    heads = num("num_attention_heads", "n_head")
    hidden = num("hidden_size", "n_embd", "d_model")
    ctx = num("max_position_embeddings", "n_positions", "seq_length")
    if not (layers and heads and hidden and ctx):
        return None
    head_dim = num("head_dim") or hidden // heads
    # The training context is rarely in the config; long-context extensions come late in training.
    n_ctx = min(ctx, 8192)
    if ctx > n_ctx:
        notes.assume(f"attention term uses a training context of {n_ctx:,} tokens (config allows {ctx:,})")
    return 6.0 * layers * n_ctx * heads * head_dim


def _parameters(facts: ModelFacts | None, manifest: Manifest | None, notes: _Notes) -> _Params:
    decl = manifest.model if manifest is not None else None
    attention = _attention(_config(facts), notes)
    if decl is not None and (decl.active_parameters or decl.parameters):
        n = decl.active_parameters or decl.parameters
        what = "active_parameters" if decl.active_parameters else "parameters"
        notes.assume(f"N = {n:,} ({what} stated in the manifest)", Source.MANIFEST, f"model.{what}")
        return _Params(n, None, None, attention, "manifest")
    if facts is not None and facts.parameters.total:
        p = facts.parameters
        n = p.active or p.total
        emb = p.breakdown.get("embedding")
        head = p.breakdown.get("head")
        kind = "active parameters (mixture-of-experts)" if p.active else "total parameters"
        notes.assume(
            f"N = {n:,} {kind}, counted from the release files",
            Source.TENSORS if p.source == "tensors" else Source.CONFIG,
        )
        return _Params(n, emb, head, attention, p.source or "files")
    return _Params(None, None, None, attention, "none")


# --- methods ---------------------------------------------------------------------------------------


def _operation_count(params: _Params, tokens: float, notes: _Notes) -> Band | None:
    """6·N·D with the band of compute.md §0.2: low excludes embedding and head, central excludes the
    input embedding (a lookup), high adds the attention term."""
    if params.n is None:
        return None
    n = params.n
    if params.embedding:
        central = 6.0 * (n - params.embedding) * tokens
        low = 6.0 * (n - params.embedding - (params.head or 0)) * tokens
    else:
        central = 6.0 * n * tokens
        low = central * (1 - EMBEDDING_SHARE_DEFAULT)
        notes.assume(
            f"input embedding share unknown: low edge {EMBEDDING_SHARE_DEFAULT:.0%} below 6·N·D "
            "(compute.md §4.3)"
        )
    if params.attention_per_token is not None:
        high = central + params.attention_per_token * tokens
    else:
        high = central * (1 + ATTENTION_SHARE_DEFAULT)
        notes.assume(
            f"attention term unknown: high edge {ATTENTION_SHARE_DEFAULT:.0%} above (compute.md §4.2)"
        )
    return Band(low=low, central=central, high=high)


def _lora(params: _Params, trainable: int, tokens: float) -> Band | None:
    """(4N + 2·N_trainable)·D for LoRA/QLoRA (compute.md §4.6)."""
    if params.n is None:
        return None
    central = (4.0 * params.n + 2.0 * trainable) * tokens
    return Band(low=central * 0.95, central=central, high=central * 1.1)


@dataclass
class _Capacity:
    peak_flop: float  # chip-seconds × peak FLOP/s at the stated (or BF16) precision
    max_flop: float  # with the highest precision peak the chip has (FP8 when precision is unknown)
    utilisation: float | None
    label: str


def _capacity(hw: HardwareDecl | None, notes: _Notes, where: str) -> _Capacity | None:
    if hw is None or hw.accelerator is None:
        return None
    acc = accelerator(hw.accelerator)
    if acc is None:
        notes.warnings.append(
            f"{where}.hardware.accelerator {hw.accelerator!r} is not in the accelerator table"
        )
        return None
    if hw.gpu_hours is not None:
        chip_hours = hw.gpu_hours
    elif hw.count is not None and hw.hours is not None:
        chip_hours = hw.count * hw.hours
    else:
        notes.warnings.append(
            f"{where}.hardware needs gpu_hours, or count and hours, for a hardware estimate"
        )
        return None
    seconds = chip_hours * 3600.0
    if hw.precision is not None:
        peak = acc.peaks.get(hw.precision.value)
        if peak is None:
            notes.warnings.append(f"{acc.name} has no {hw.precision.value} peak in the table; BF16 used")
            peak = acc.peaks.get("bf16") or acc.peaks.get("fp16", 0.0)
        top = peak
    else:
        peak = acc.peaks.get("bf16") or acc.peaks.get("fp16", 0.0)
        top = max(peak, acc.peaks.get("fp8", 0.0))
        if top > peak:
            notes.assume(
                f"training precision unknown: band's high edge uses the {acc.name} FP8 peak (compute.md §5.1)"
            )
    notes.assume(
        f"{chip_hours:,.0f} {acc.name} chip-hours at {peak:,.1f} TFLOP/s dense peak "
        f"(confidence {acc.confidence})",
        Source.MANIFEST,
        f"{where}.hardware",
    )
    return _Capacity(seconds * peak * 1e12, seconds * top * 1e12, hw.utilisation, acc.name)


def _hardware_band(cap: _Capacity, notes: _Notes) -> Band:
    util = _hardware()[1]
    if cap.utilisation is not None:
        central = cap.peak_flop * cap.utilisation
        return Band(
            low=central * (1 - STATED_TOLERANCE), central=central, high=central * (1 + STATED_TOLERANCE)
        )
    notes.assume(
        f"utilisation unknown: {util['low']:.2f}–{util['high']:.2f}, central {util['central']:.2f} "
        "(Epoch's language-model MFU range, compute.md §3.2)"
    )
    return Band(
        low=cap.peak_flop * util["low"],
        central=cap.peak_flop * util["central"],
        high=cap.max_flop * util["high"],
    )


def _check_utilisation(central: float, cap: _Capacity, notes: _Notes) -> float:
    implied = central / cap.peak_flop
    lo, hi = _hardware()[2]["low"], _hardware()[2]["high"]
    if implied > 1.0:
        notes.warnings.append(
            f"implied utilisation {implied:.0%} exceeds the hardware's peak: the GPU-hour figure is probably "
            "per stage or per trillion tokens, or the tokens are wrong (compute.md §0.4)"
        )
    elif not lo <= implied <= hi:
        notes.warnings.append(
            f"implied utilisation {implied:.0%} is outside the plausible {lo:.0%}–{hi:.0%}: "
            "check the GPU-hours, "
            "the tokens, uncounted work (distillation, restarts) or the precision (FP8 vs BF16)"
        )
    return implied


def _stage_band(stage: StageDecl, params: _Params, notes: _Notes, i: int) -> Band | None:
    where = f"training.stages[{i}]"
    if stage.compute_flop is not None:
        notes.assume(f"stage {stage.name!r}: {stage.compute_flop:.3g} FLOP stated", Source.MANIFEST, where)
        return _point(stage.compute_flop)
    if stage.tokens is not None:
        if stage.trainable_parameters is not None:
            band = _lora(params, stage.trainable_parameters, stage.tokens)
        else:
            band = _operation_count(params, stage.tokens, notes)
        if band is not None:
            return band
    cap = _capacity(stage.hardware, notes, where)
    if cap is not None:
        return _hardware_band(cap, notes)
    notes.warnings.append(f"stage {stage.name!r} has no compute, tokens or hardware: not counted")
    return None


# --- the estimate ----------------------------------------------------------------------------------


def _modification_threshold(manifest: Manifest | None, notes: _Notes) -> float:
    """One third of the original model's training compute; the fallbacks of Guidelines para 61."""
    base = manifest.base_model if manifest is not None else None
    if base is not None and base.compute_flop is not None:
        notes.assume(
            f"one-third rule: base model compute {base.compute_flop:.3g} FLOP",
            Source.MANIFEST,
            "base_model.compute_flop",
        )
        return base.compute_flop / 3.0
    if base is not None and base.systemic_risk:
        notes.assume(
            "one-third rule: base compute unknown, base has systemic risk → 1e25/3 (Guidelines para 61)"
        )
        return 1e25 / 3.0
    notes.assume("one-third rule: base compute unknown → 1e23/3 (Guidelines para 61)")
    return 1e23 / 3.0


def estimate_compute(facts: ModelFacts | None, manifest: Manifest | None) -> ComputeEstimate:
    notes = _Notes()
    training = manifest.training if manifest is not None else None
    params = _parameters(facts, manifest, notes)
    tokens = training.tokens if training is not None else None

    stated = training.compute_flop if training is not None else None
    opcount = _operation_count(params, tokens, notes) if tokens is not None else None
    cap = _capacity(training.hardware, notes, "training") if training is not None else None
    hardware = _hardware_band(cap, notes) if cap is not None else None

    stage_update: Band | None = None
    stage_extra: Band | None = None
    for i, stage in enumerate(training.stages if training is not None else []):
        if stage.kind in EXCLUDED_STAGES:
            notes.assume(
                f"stage {stage.name!r} ({stage.kind.value}) excluded from cumulative compute "
                "(Guidelines Annex A.1)"
            )
            continue
        band = _stage_band(stage, params, notes, i)
        if stage.kind is StageKind.SYNTHETIC_DATA:
            if stage.public_output:
                notes.assume(f"stage {stage.name!r}: synthetic data published, so excluded (Annex A.1)")
            else:
                stage_extra = _add(stage_extra, band)
        elif stage.kind in UPDATE_STAGES:
            stage_update = _add(stage_update, band)
        else:
            stage_extra = _add(stage_extra, band)

    if stated is not None:
        train, method = _point(stated), "developer_stated"
        notes.assume(
            f"training compute {stated:.3g} FLOP stated by the developer",
            Source.MANIFEST,
            "training.compute_flop",
        )
    elif stage_update is not None:
        train, method = stage_update, "stages"
    elif opcount is not None:
        train, method = opcount, "operation_count"
    elif hardware is not None:
        train, method = hardware, "hardware"
    else:
        train, method = None, "insufficient_data"
        missing = [
            x for x, ok in (("tokens", tokens is not None), ("parameters", params.n is not None)) if not ok
        ]
        notes.warnings.append(
            "insufficient data for a compute estimate: state training.compute_flop, or training.tokens"
            + (" and the parameters" if params.n is None else "")
            + ", or training.hardware with GPU-hours"
            + (f" (missing: {', '.join(missing)})" if missing else "")
        )

    implied = None
    if cap is not None:
        basis = stated if stated is not None else opcount.central if opcount is not None else None
        if basis is not None:
            implied = _check_utilisation(basis, cap, notes)

    cumulative = train
    if train is not None:
        extras = stage_extra
        if training is not None and training.synthetic_data_flop is not None:
            if training.synthetic_data_public:
                notes.assume("synthetic data is public: its generation is excluded (Annex A.1)")
            else:
                extras = _add(extras, _point(training.synthetic_data_flop))
        if training is not None and training.merged_or_initialising_flop is not None:
            extras = _add(extras, _point(training.merged_or_initialising_flop))
        cumulative = _add(train, extras)

    modification = _modification(training, manifest, params, train, notes)
    est = ComputeEstimate(
        training_flop=train,
        cumulative_flop=cumulative,
        modification_flop=modification,
        method=method,
        stated_flop=stated,
        operation_count_flop=opcount,
        hardware_flop=hardware,
        implied_utilisation=implied,
        parameters_used=params.n,
        tokens=tokens,
    )
    est.thresholds = {
        "1e23": threshold_call(train, 1e23, inclusive=False),
        "1e25": threshold_call(cumulative, 1e25, inclusive=False),
        "1e26": threshold_call(cumulative, 1e26, inclusive=False),
    }
    est.other_thresholds = {
        "1e26_inclusive": threshold_call(cumulative, 1e26, inclusive=True),
        "1e23_bio": threshold_call(train, 1e23, inclusive=False),
    }
    if modification is not None:
        est.modification_threshold = _modification_threshold(manifest, notes)
        est.other_thresholds["modification_one_third"] = threshold_call(
            modification, est.modification_threshold, inclusive=False
        )
    est.warnings = notes.warnings
    est.assumptions = notes.assumptions
    return est


def _modification(
    training: Any, manifest: Manifest | None, params: _Params, train: Band | None, notes: _Notes
) -> Band | None:
    if training is None:
        return None
    if training.modification_flop is not None:
        notes.assume(
            f"modification compute {training.modification_flop:.3g} FLOP stated",
            Source.MANIFEST,
            "training.modification_flop",
        )
        return _point(training.modification_flop)
    role = manifest.release.role if manifest is not None else None
    if role is not Role.MODIFIER:
        return None
    if training.trainable_parameters is not None and training.tokens is not None:
        notes.assume(
            f"modification by parameter-efficient training: (4N + 2·{training.trainable_parameters:,})·D"
        )
        return _lora(params, training.trainable_parameters, training.tokens)
    if train is not None:
        notes.assume("role is modifier: the training described in the manifest is the modification")
    return train
