"""Training compute as an honest band: `estimate_compute(facts, manifest) -> ComputeEstimate`.

Methods, in Epoch AI's order of precedence (docs/reference/compute.md §0 item 5, §3.3): a figure the developer
states; the operation count 6·N·D with stated tokens (docs/reference/compute.md §4); the hardware method,
chip-hours × dense peak × utilisation (docs/reference/compute.md §5; EU Guidelines Annex A). Lower-precedence
estimates are kept as cross-checks, with the implied utilisation as a plausibility test. When nothing supports
an estimate the answer is `insufficient_data` with what is missing, never a default.

Two quantities (docs/reference/regulation.md §1.11): *training* compute (parameter updates; the EU 1e23
indicator and the one-third rule) and *cumulative* compute (adds non-public synthetic-data generation and
weights merged in or used for initialisation; EU Art. 51(2), SB 53, RAISE, Korea). Reward models,
distillation teachers and evaluations are excluded.

For a derivative (a modifier's fine-tune, an adapter, a model with a declared base), the manifest's
`training` section describes the modification; the base model's compute is added where known.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from modelwarden.compute.calls import CUMULATIVE_KEYS, DEFAULT_THRESHOLDS, one_third_rule, threshold_call
from modelwarden.compute.hardware import DEFAULT_PRECISIONS, sparsity, table, token_paths
from modelwarden.facts.parameter_count import disagreement_text, resolve
from modelwarden.manifest import HardwareDecl, Manifest, Role, StageDecl, StageKind
from modelwarden.model import (
    Band,
    ComputeEstimate,
    ComputeMethod,
    Fact,
    Layout,
    MethodEstimate,
    ModelFacts,
    ParameterCount,
    Provenance,
    Source,
    StageCompute,
    ThresholdCall,
)

# Without the architecture, the attention term is bounded by the largest share in docs/reference/compute.md
# §4.2's table (DeepSeek-V3 at 4k context: 16.6% of 6·N·D).
ATTENTION_SHARE_FALLBACK = 0.17
# Without a per-component breakdown, the input embedding (and head) share is unknown: at most ~10% of
# models of 1B parameters and more (0.5-7.2% in docs/reference/compute.md §4.3), up to ~31% for small ones
# (GPT-2).
EMBEDDING_SHARE_FALLBACK = 0.10
EMBEDDING_SHARE_FALLBACK_SMALL = 0.35
# A developer's figure and an operation count usually agree within ±25% (docs/reference/compute.md §6); the EU
# tolerates ±30% (docs/reference/regulation.md §1.11). Beyond that the two figures conflict.
CONFLICT_TOLERANCE = 1.3
BORDERLINE = 0.3  # docs/reference/regulation.md §8 note 2: within 30% of a line is borderline
MAX_CONFIG_BYTES = 4_000_000
SECONDS_PER_HOUR = 3600.0

PARTIAL_METHODS = frozenset({"lora", "qlora", "dora", "adapter", "prefix", "ia3", "peft"})
TRAINING_KINDS = frozenset(
    {
        StageKind.PRETRAINING,
        StageKind.CONTINUED_PRETRAINING,
        StageKind.FINETUNING,
        StageKind.RL,
        StageKind.DISTILLATION,
        StageKind.OTHER,
    }
)


_StrFact = Fact[str]  # parametrised once: pydantic builds the generic class on each subscription


def estimate_compute(
    facts: ModelFacts | None, manifest: Manifest | None, *, parameters: ParameterCount | None = None
) -> ComputeEstimate:
    """Training and cumulative compute bands, threshold calls and the one-third modifier rule.

    `parameters`: the count `parameter_count.resolve(facts, manifest)` decided (computed here if not
    given).
    """
    return _Estimator(facts, manifest or Manifest(), parameters).run()


def _mf(field: str, note: str | None = None) -> Provenance:
    return Provenance(source=Source.MANIFEST, field=field, note=note)


def _default(note: str) -> Provenance:
    return Provenance(source=Source.DEFAULT, note=note)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


@dataclass(frozen=True)
class _Params:
    """Parameters taking part in matmuls per token: the low / central / high edges of
    docs/reference/compute.md §0 item 2."""

    low: float  # non-embedding (Kaplan): input embedding and output head excluded
    central: float  # all but the input-embedding lookup (the head is a matmul)
    high: float  # every (active) parameter: the EU Guidelines' 6·P·D convention
    provenance: Provenance
    description: str


@dataclass(frozen=True)
class _Hardware:
    band: Band
    capacity: float  # chip-hours x 3600 x peak at the assumed precision (utilisation 1)
    chip_hours: float
    tdp_watts: float | None
    formula: str
    accelerator: str | None  # the table's name, or the stated name when peak_flop_s was given


class _Estimator:
    def __init__(
        self, facts: ModelFacts | None, manifest: Manifest, parameters: ParameterCount | None = None
    ) -> None:
        self.facts = facts
        self.m = manifest
        self.t = manifest.training
        self.warnings: list[str] = []
        self.assumptions: list[Fact[str]] = []
        self.estimates: list[MethodEstimate] = []
        self.implied: float | None = None
        self.geomean: float | None = None
        # The own run's (or the modification's) individual estimates, for ComputeEstimate's flat fields.
        self.ops: Band | None = None
        self.hw: _Hardware | None = None
        self.n_used: float | None = None
        self.config = _read_config(facts)
        self.parameters = parameters if parameters is not None else resolve(facts, manifest)
        # Set when N is the total of a model known to be a mixture of experts (no active count):
        # then no threshold is called "clearly above" (docs/compute.md, "A sparse total").
        self.sparse_total: str | None = None
        # Set when the weights were initialised from another model whose compute is not stated: the
        # cumulative band is then a lower bound and is never called below a line.
        self.inherited_unknown: str | None = None

    # -- bookkeeping ------------------------------------------------------------------------------

    def assume(self, text: str, provenance: Provenance) -> None:
        if not any(a.value == text for a in self.assumptions):
            self.assumptions.append(_StrFact(value=text, provenance=provenance))

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    # -- the whole estimate -----------------------------------------------------------------------

    def run(self) -> ComputeEstimate:
        derivative = self._is_derivative()
        if self.t.planned:
            self.assume(
                "figures describe a planned training run, not a finished one", _mf("training.planned")
            )
        if self.t.epochs and self.t.epochs > 1 and self.t.tokens:
            self.assume(
                f"training.tokens ({_fmt(self.t.tokens)}) read as tokens seen, repeats included, as the "
                f"manifest defines; epochs={self.t.epochs:g} is not multiplied in",
                _mf("training.epochs"),
            )
        own, own_method = self._own_run(derivative)
        stages = self._stages(own_stated=self._stated(derivative) is not None, derivative=derivative)
        stage_training = [s for s in stages if s.in_training and s.band is not None]
        if own is None and stage_training:
            own = _sum(s.band for s in stage_training if s.band)
            own_method = ComputeMethod.COMBINED if len(stage_training) > 1 else stage_training[0].method
        elif own is not None and self._stated(derivative) is None and stage_training:
            own = own + _sum(s.band for s in stage_training if s.band)
            own_method = ComputeMethod.COMBINED
        missing_stage = [s.name for s in stages if s.in_training and s.band is None]
        if missing_stage and own is not None and self._stated(derivative) is None:
            self.warn(
                f"stage(s) {', '.join(missing_stage)} have no compute, tokens or hardware: training compute "
                "excludes them and is a lower bound"
            )

        modification: Band | None = None
        training: Band | None = own
        method = own_method if own is not None else ComputeMethod.INSUFFICIENT_DATA
        modifier = None
        if derivative:
            modification = own
            base = self.m.base_model
            base_flop = base.compute_flop if base else None
            if base_flop is not None:
                self.assume(
                    f"base model training compute {_fmt(base_flop)} FLOP (as stated) is part of this model's "
                    "training and cumulative compute",
                    _mf("base_model.compute_flop"),
                )
                training = Band.point(base_flop) + own if own is not None else None
                method = ComputeMethod.COMBINED if own is not None else ComputeMethod.INSUFFICIENT_DATA
            else:
                training = None
                method = ComputeMethod.INSUFFICIENT_DATA
                self.warn(
                    "derivative model: the base model's training compute is unknown "
                    "(base_model.compute_flop), so the model's own training and cumulative compute cannot be "
                    "totalled; only lines the "
                    "modification alone crosses are called"
                )
            modifier = one_third_rule(modification, base_flop, base.systemic_risk if base else None)
            if own is None:
                self.warn(
                    "modification compute cannot be estimated: state training.modification_flop, or "
                    "training.tokens with the parameter count (and training.trainable_parameters for LoRA), "
                    "or training.hardware"
                )

        cumulative = self._cumulative(training, stages)
        self.inherited_unknown = self._initialising_unknown(derivative)
        if not any(e.used and e.method is ComputeMethod.OPERATION_COUNT for e in self.estimates):
            self.sparse_total = None  # a stated or hardware figure does not depend on the active share
        thresholds, inclusive = self._calls(training, cumulative, modification)
        other = {f"{k}_inclusive": v for k, v in inclusive.items()}
        # EO 14110's 1e23 line for biological-sequence models: training compute, strict ">" (§4.2(b)(i)).
        other["1e23_bio"] = thresholds["1e23"]
        if modifier is not None:
            other["modification_one_third"] = modifier.call
        if training is None and not derivative:
            self.warn(
                "insufficient data: no training compute can be estimated. State training.compute_flop, or "
                "training.tokens with the parameter count (from the model files or model.parameters), or "
                "training.hardware {accelerator, gpu_hours or count and hours}"
            )
        self._borderline(training, cumulative)
        return ComputeEstimate(
            training_flop=training,
            cumulative_flop=cumulative,
            modification_flop=modification,
            method=method.value,
            thresholds=thresholds,
            other_thresholds=other,
            modification_threshold=modifier.threshold if modifier is not None else None,
            modifier=modifier,
            stated_flop=stated[0] if (stated := self._stated(derivative)) is not None else None,
            operation_count_flop=self.ops,
            hardware_flop=self.hw.band if self.hw is not None else None,
            geometric_mean_flop=self.geomean,
            implied_utilisation=self.implied,
            parameters_used=self._parameters_used(),
            tokens=self.t.tokens or None,
            accelerator=self.hw.accelerator if self.hw is not None else None,
            chip_hours=self.hw.chip_hours if self.hw is not None else None,
            estimates=self.estimates,
            stages=stages,
            energy_kwh=self._energy(training if not derivative else modification),
            planned=self.t.planned,
            warnings=self.warnings,
            assumptions=self.assumptions,
        )

    def _parameters_used(self) -> int | None:
        """N of the operation count; without one, the resolved (active) count, as reported."""
        if self.n_used is not None:
            return round(self.n_used)
        return self.parameters.active or self.parameters.total

    def _is_derivative(self) -> bool:
        f = self.facts
        if self.m.release.role is Role.MODIFIER or self.m.base_model is not None:
            return True
        if self.t.modification_flop is not None:
            return True
        if f is not None and (f.layout is Layout.PEFT_ADAPTER or f.adapter is not None):
            return True
        if f is not None and f.base_model and self.m.release.role is not Role.PROVIDER:
            names = ", ".join(b.name for b in f.base_model)
            self.assume(
                f"the model card names a base model ({names}): treated as a derivative; the manifest's "
                "training figures describe the modification",
                f.base_model[0].provenance,
            )
            return True
        return False

    # -- the main run (or the modification) -------------------------------------------------------

    def _stated(self, derivative: bool) -> tuple[float, str] | None:
        if derivative and self.t.modification_flop is not None:
            return self.t.modification_flop, "training.modification_flop"
        if self.t.compute_flop is not None:
            return self.t.compute_flop, "training.compute_flop"
        return None

    def _own_run(self, derivative: bool) -> tuple[Band | None, ComputeMethod]:
        stated = self._stated(derivative)
        mod, total = self.t.modification_flop, self.t.compute_flop
        if (
            derivative
            and mod is not None
            and total is not None
            and not math.isclose(mod, total, rel_tol=0.05)
        ):
            self.warn(
                f"training.compute_flop ({_fmt(total)}) and training.modification_flop ({_fmt(mod)}) differ; "
                "for a modifier both describe the modification: training.modification_flop is used"
            )
        scope = "modification" if derivative else "training"
        ops = self._operation_count(scope, derivative)
        hw = self._hardware(self.t.hardware, scope, "training.hardware")
        self.ops, self.hw = ops, hw
        if ops is not None and hw is not None:
            self.implied = ops.central / hw.capacity
            self.geomean = math.sqrt(ops.central * hw.band.central)
            self._plausibility(self.implied, "the operation count")
        elif stated is not None and hw is not None:
            self.implied = stated[0] / hw.capacity
            self._plausibility(self.implied, f"the stated {stated[1]}")

        if stated is not None:
            value, field = stated
            band = Band.point(value)
            self.estimates.insert(
                0,
                MethodEstimate(
                    scope=scope,
                    method=ComputeMethod.DEVELOPER_STATED,
                    band=band,
                    formula=f"{field} = {_fmt(value)}",
                ),
            )
            self.assume(f"developer-stated compute {_fmt(value)} FLOP takes precedence", _mf(field))
            for e in self.estimates:
                if e.scope == scope and e.method is not ComputeMethod.DEVELOPER_STATED:
                    e.used = False
            if ops is not None:
                self._conflict(value, ops, "the operation count 6·N·D")
            elif hw is not None:
                self._conflict(value, hw.band, "the hardware estimate", tolerance=2.0)
            return band, ComputeMethod.DEVELOPER_STATED
        if ops is not None:
            for e in self.estimates:
                if e.scope == scope and e.method is ComputeMethod.HARDWARE:
                    e.used = False
            return ops, ComputeMethod.OPERATION_COUNT
        if hw is not None:
            return hw.band, ComputeMethod.HARDWARE
        return None, ComputeMethod.INSUFFICIENT_DATA

    def _conflict(self, stated: float, band: Band, what: str, tolerance: float = CONFLICT_TOLERANCE) -> None:
        if stated < band.low / tolerance or stated > band.high * tolerance:
            self.warn(
                f"the stated figure {_fmt(stated)} FLOP is outside {what} "
                f"({_fmt(band.low)}–{_fmt(band.high)}) by more than a factor {tolerance:g}: check tokens, "
                "parameters and what the stated figure covers (stages, restarts, a different model size)"
            )

    def _plausibility(self, implied: float, what: str) -> None:
        u = table().utilisation
        pct = f"{implied:.0%}"
        if implied > 1:
            self.warn(
                f"{what} implies {pct} utilisation, which exceeds the hardware's peak: the GPU-hours are "
                "probably partial (per stage, per trillion tokens, one model of a family) or the tokens "
                "are overstated"
            )
        elif implied > u.plausible_high:
            self.warn(
                f"{what} implies {pct} utilisation, above the plausible {u.plausible_low:.0%}–"
                f"{u.plausible_high:.0%}: the GPU-hours may be partial, or the peak precision too low "
                "(FP8 training measured against a BF16 peak)"
            )
        elif implied < u.plausible_low:
            self.warn(
                f"{what} implies {pct} utilisation, below the plausible {u.plausible_low:.0%}–"
                f"{u.plausible_high:.0%}: the GPU-hours may include uncounted work (distillation, "
                "synthetic data, restarts, other models) or the tokens are understated"
            )

    # -- operation counting -----------------------------------------------------------------------

    def _params(self) -> _Params | None:
        """N per token, adjusted for encoder-decoders and cross-layer sharing (docs/compute.md)."""
        params = self._raw_params()
        if params is None:
            return None
        return self._shared_layers(self._encoder_decoder(params))

    def _declared(self, words: list[str]) -> str | None:
        declared = (self.m.model.architecture or "").lower()
        if declared and _words_pattern(tuple(words)).search(declared):
            return f"model.architecture says {self.m.model.architecture!r:.60}"
        return None

    def _declared_type(self, types: list[str]) -> str | None:
        """A declared architecture naming a model type ("DeepSeek-V3", "deepseek_v3", "Mixtral 8x7B")."""
        declared = _normal(self.m.model.architecture or "")
        for t in types:
            if re.search(r"(?<![a-z0-9])" + re.escape(_normal(t)) + r"(?![a-z0-9])", declared):
                return f"model.architecture names {t}, a mixture-of-experts family"
        return None

    def _model_type(self) -> str | None:
        cfg = self.config
        value = cfg.get("model_type") if cfg is not None else None
        if isinstance(value, str):
            return value
        if self.facts is not None and self.facts.model_type is not None:
            return str(self.facts.model_type.value)
        return None

    def _encoder_decoder(self, p: _Params) -> _Params:
        ed = token_paths().encoder_decoder
        why = self._declared(ed.architecture_words)
        model_type = self._model_type()
        if why is None and self.config is not None and self.config.get("is_encoder_decoder") is True:
            why = "config.json is_encoder_decoder = true"
        if why is None and model_type in ed.model_types:
            why = f"model_type {model_type}"
        if why is None:
            return p
        self.assume(
            f"encoder-decoder ({why}): a training token passes through about half the parameters; "
            f"N is {ed.central:.0%} of the count (low edge {ed.low:.0%}, high edge all of it)",
            _default("data/token_paths.yaml (docs/compute.md)"),
        )
        return _Params(
            low=p.low * ed.low,
            central=p.central * ed.central,
            high=p.high,
            provenance=p.provenance,
            description=f"{ed.central:.0%} of {p.description} (encoder-decoder)",
        )

    def _shared_layers(self, p: _Params) -> _Params:
        ps = token_paths().parameter_sharing
        cfg = self.config or {}
        model_type = self._model_type()
        why = self._declared(ps.architecture_words)
        if why is None and model_type in ps.model_types:
            why = f"model_type {model_type}"
        if why is None:
            return p
        layers = _int(cfg, "num_hidden_layers", "n_layer", "num_layers")
        groups = _int(cfg, "num_hidden_groups") or (1 if model_type in ps.model_types else None)
        if not layers or not groups:
            self.warn(
                f"cross-layer parameter sharing ({why}): each token runs through shared layers several "
                "times, so compute exceeds 6·N·D by a factor the files do not give (config.json "
                f"num_hidden_layers ÷ num_hidden_groups): the high edge allows up to {ps.max_factor:g} passes"
            )
            return _Params(
                low=p.low,
                central=p.central,
                high=p.high + (ps.max_factor - 1) * p.low,
                provenance=p.provenance,
                description=f"{p.description}, shared layers (passes per token unknown)",
            )
        factor = layers / groups
        if factor <= 1:
            return p
        pc = self.facts.parameters if self.facts is not None else None
        shared = float(pc.breakdown.get("layers", 0)) if pc is not None else 0.0
        if not shared:
            shared = p.low  # the non-embedding part: the shared layers and little else
        extra = (factor - 1) * shared
        self.assume(
            f"cross-layer parameter sharing ({why}): {layers} layers over {groups} stored group(s), so the "
            f"{int(shared):,} layer parameters run {factor:g} times per token",
            Provenance(source=Source.CONFIG, file="config.json", field="num_hidden_groups"),
        )
        return _Params(
            low=p.low + extra,
            central=p.central + extra,
            high=p.high + extra,
            provenance=p.provenance,
            description=f"{p.description}, shared layers counted {factor:g} times",
        )

    def _raw_params(self) -> _Params | None:
        pc = self.parameters  # decided once, in parameters.resolve: the files' count wins
        for d in pc.disagreements:
            self.warn(disagreement_text(d))
        if pc.total and pc.source in ("tensors", "config"):
            n = float(pc.active or pc.total or 0)
            if pc.active is None and (why := self._moe_evidence()):
                prov = pc.provenance or Provenance(source=Source.TENSORS)
                return self._sparse_params(n, prov, why)
            emb = float(pc.breakdown.get("embedding", 0))
            head = float(pc.breakdown.get("head", 0))
            prov = pc.provenance or Provenance(source=Source.TENSORS)
            if pc.active_source == "manifest":
                self.assume(
                    f"active parameters {pc.active:,} as the manifest states (the files hold the experts "
                    "but not how many run per token)",
                    _mf("model.active_parameters"),
                )
            if not emb:
                return self._stated_params(n, prov, "from the model files, no embedding breakdown")
            kind = "active " if pc.active else ""
            if pc.input_embedding is not None and self._has_head_class():
                # The lookup-only part as the count knows it (tied tables and position tables sorted out).
                lookup = float(pc.input_embedding)
                central, low = n - lookup, n - emb - head
                desc = (
                    f"{kind}parameters {int(n):,} minus the input-embedding lookup {int(lookup):,}"
                    if lookup
                    else f"{kind}parameters {int(n):,} (tied embedding counted once, as the output head)"
                )
            elif self._tied():
                # The shared matrix works as the output head, a real matmul (docs/reference/compute.md §4.3).
                central, low = n, n - emb
                desc = f"{kind}parameters {int(n):,} (tied embedding counted once, as the output head)"
            else:
                central, low = n - emb, n - emb - head
                desc = f"{kind}parameters {int(n):,} minus the input embedding {int(emb):,}"
            return _Params(low=max(low, 0.0), central=central, high=n, provenance=prov, description=desc)
        stated = pc.active or pc.total
        if stated:
            stated_field = "model.active_parameters" if pc.active else "model.parameters"
            if not pc.active and (why := self._moe_evidence()):
                return self._sparse_params(float(stated), _mf(stated_field), why)
            return self._stated_params(float(stated), _mf(stated_field), "stated in the manifest")
        return None

    def _moe_evidence(self) -> str | None:
        """Why the model is known to be a mixture of experts, or None."""
        sp = sparsity()
        declared = self._declared(sp.architecture_words) or self._declared_type(sp.model_types)
        if declared is not None:
            return declared
        for source in (self.config, (self.config or {}).get("text_config")):
            if isinstance(source, dict):
                for key in sp.expert_keys:
                    n = source.get(key)
                    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
                        return f"config.json {key} = {n}"
        model_type = self._model_type()
        if model_type is not None and _normal(model_type) in {_normal(t) for t in sp.model_types}:
            return f"model_type {model_type}"
        experts = self.parameters.experts
        if experts is not None and experts > 1:
            # Expert tensors in the weights with no config to say how many run per token.
            return f"the weights hold {experts} experts per layer"
        return None

    def _sparse_params(self, n: float, prov: Provenance, why: str) -> _Params:
        """N for a mixture of experts known only by its total: from the sparsest model seen to all of it."""
        sp = sparsity()
        share = EMBEDDING_SHARE_FALLBACK if n >= 1e9 else EMBEDDING_SHARE_FALLBACK_SMALL
        self.sparse_total = why
        self.warn(
            f"mixture of experts ({why}) but only its total parameters ({int(n):,}) are known: a token "
            f"passes through a fraction of them (released models: {sp.low:.1%}-28% by their configs). "
            "State model.active_parameters (per token, input embedding included). Until then the "
            f"operation count runs from {sp.low:.1%} of the total to all of it, and no line is called "
            "clearly above"
        )
        self.assume(
            f"sparse total: N from {sp.low:.1%} (below the sparsest released model) through {sp.central:.0%} "
            f"(their median) to 100% of {int(n):,}",
            _default("data/sparsity.yaml: active ÷ total of released MoE models (docs/compute.md)"),
        )
        return _Params(
            low=n * sp.low * (1 - share),
            central=n * sp.central,
            high=n,
            provenance=prov,
            description=f"{sp.central:.0%} of the sparse total {int(n):,} (active count unknown)",
        )

    def _stated_params(self, n: float, prov: Provenance, where: str) -> _Params:
        share = EMBEDDING_SHARE_FALLBACK if n >= 1e9 else EMBEDDING_SHARE_FALLBACK_SMALL
        self.assume(
            f"embedding share unknown ({where}): central uses all {int(n):,} parameters (the EU Guidelines' "
            f"6·P·D), the low edge drops up to {share:.0%} for the input embedding and head",
            _default(
                "docs/reference/compute.md §4.3: 0.5-7% of models from 1B parameters, to 31% for small ones"
            ),
        )
        return _Params(
            low=n * (1 - share), central=n, high=n, provenance=prov, description=f"{int(n):,} parameters"
        )

    def _has_head_class(self) -> bool:
        """False for an encoder released without a head (its whole embedding is a lookup)."""
        if self.config is None:
            return True
        archs = self.config.get("architectures")
        return not (isinstance(archs, list) and archs and not any(_has_head(str(a)) for a in archs))

    def _tied(self) -> bool:
        """Whether the embedding matrix also works as the output head (a matmul worth counting).

        An encoder released without a head (BertModel, sentence-transformers) ties nothing in use:
        its embedding is only a lookup, however the config's tie flag reads.
        """
        from modelwarden.facts.config_formulas import tie_default

        if self.config is not None:
            archs = self.config.get("architectures")
            if isinstance(archs, list) and archs and not any(_has_head(str(a)) for a in archs):
                return False
            flag = self.config.get("tie_word_embeddings")
            if isinstance(flag, bool):
                return flag
            return bool(tie_default(self.config))
        return self.facts is not None and "head" not in self.facts.parameters.breakdown

    def _operation_count(self, scope: str, derivative: bool) -> Band | None:
        tokens = self.t.tokens
        if not tokens:
            if tokens == 0:
                self.warn("training.tokens is 0: ignored")
            return None
        params = self._base_params() if derivative else self._params()
        if params is None:
            self.warn(
                "training.tokens is stated but the parameter count is unknown (no model files and no "
                "model.parameters): the operation count cannot be made"
            )
            return None
        trainable = self._trainable(derivative)
        attention = self._attention_per_token(params)
        self.n_used = params.central
        if trainable is not None:
            # LoRA-style partial training: forward 2N + activation gradients 2N + weight gradients 2N_t
            # (docs/reference/compute.md §4.6); the attention term has no weight gradients either.
            factor = 4.0 / 6.0
            low = (4 * params.low + 2 * trainable) * tokens
            central = (4 * params.central + 2 * trainable) * tokens
            high = max(
                (4 * params.central + 2 * trainable) * tokens + factor * attention * tokens,
                (4 * params.high + 2 * trainable) * tokens,
            )
            formula = (
                f"(4·N + 2·N_trainable)·D with N = {params.description}, N_trainable = {trainable:,}, "
                f"D = {_fmt(tokens)}"
            )
        else:
            low = 6 * params.low * tokens
            central = 6 * params.central * tokens
            high = max(central + attention * tokens, 6 * params.high * tokens)
            formula = f"6·N·D with N = {params.description}, D = {_fmt(tokens)} tokens"
        self.assume(f"training tokens {_fmt(tokens)} (tokens seen)", _mf("training.tokens"))
        self.assume(f"parameters for the operation count: {params.description}", params.provenance)
        band = Band(low=low, central=central, high=high)
        self.estimates.append(
            MethodEstimate(scope=scope, method=ComputeMethod.OPERATION_COUNT, band=band, formula=formula)
        )
        return band

    def _base_params(self) -> _Params | None:
        """N for a modification: the full model the modification runs through (base = model size)."""
        return self._params()

    def _trainable(self, derivative: bool) -> int | None:
        f = self.facts
        method = (self.t.modification_method or "").lower()
        if self.t.trainable_parameters:
            self.assume(
                f"{self.t.trainable_parameters:,} trainable parameters (partial training)",
                _mf("training.trainable_parameters"),
            )
            return self.t.trainable_parameters
        if f is not None and f.adapter is not None and (f.adapter.parameters or f.parameters.total):
            n = int(f.adapter.parameters or f.parameters.total or 0)
            self.assume(
                f"{n:,} trainable parameters: the adapter's own weights",
                f.adapter.provenance or f.parameters.provenance or Provenance(source=Source.TENSORS),
            )
            return n
        if derivative and method in PARTIAL_METHODS:
            self.warn(
                f"training.modification_method is {method!r} but the trainable parameter count is unknown "
                "(training.trainable_parameters): counted as full training, an upper bound"
            )
        return None

    def _attention_per_token(self, params: _Params) -> float:
        """Kaplan's attention term, 6·n_layer·n_ctx·d_attn per training token (docs/reference/compute.md
        §4.2)."""
        cfg = self.config
        if cfg is not None:
            nested = cfg.get("text_config")
            text: dict[str, Any] = nested if isinstance(nested, dict) else cfg
            layers = _int(text, "num_hidden_layers", "n_layer", "num_layers")
            heads = _int(text, "num_attention_heads", "n_head", "num_heads")
            hidden = _int(text, "hidden_size", "n_embd", "d_model")
            qk = (_int(text, "qk_nope_head_dim") or 0) + (_int(text, "qk_rope_head_dim") or 0)
            head_dim = qk or _int(text, "head_dim") or (hidden // heads if hidden and heads else None)
            ctx, ctx_prov = self._sequence_length(text)
            if layers and heads and head_dim and ctx:
                per_token = 6.0 * layers * ctx * heads * head_dim
                self.assume(
                    f"attention term 6·{layers} layers·{ctx} context·{heads * head_dim} attention width = "
                    f"{_fmt(per_token)} FLOP per token (upper edge of the band)",
                    ctx_prov,
                )
                return per_token
        share = ATTENTION_SHARE_FALLBACK
        self.assume(
            f"architecture unknown: the attention term is bounded by {share:.0%} of 6·N·D (upper edge)",
            _default("largest attention share in docs/reference/compute.md §4.2 (DeepSeek-V3 @4k: 16.6%)"),
        )
        return 6.0 * params.central * share

    def _sequence_length(self, text: dict[str, Any]) -> tuple[int | None, Provenance]:
        if self.t.sequence_length:
            return self.t.sequence_length, _mf("training.sequence_length")
        ctx = _int(text, "max_position_embeddings", "n_positions", "max_seq_len", "seq_length")
        if ctx:
            return ctx, Provenance(
                source=Source.CONFIG,
                file="config.json",
                field="max_position_embeddings",
                note="the maximum context; most training runs at a shorter length, so this over-states",
            )
        if self.facts is not None and self.facts.context_length is not None:
            return self.facts.context_length.value, self.facts.context_length.provenance
        return None, _default("no sequence length")

    # -- hardware ---------------------------------------------------------------------------------

    def _hardware(self, hw: HardwareDecl | None, scope: str, where: str) -> _Hardware | None:
        if hw is None:
            return None
        chip_hours = self._chip_hours(hw, where)
        if chip_hours is None:
            return None
        tab = table()
        acc = tab.find(hw.accelerator) if hw.accelerator else None
        precision = hw.precision.value if hw.precision else None
        if hw.peak_flop_s:
            peak, peak_note = hw.peak_flop_s, f"{where}.peak_flop_s"
            alt_peak = low_peak = None
        elif acc is None:
            if hw.accelerator:
                self.warn(
                    f"{where}.accelerator {hw.accelerator!r} is not in the hardware table (known: "
                    f"{', '.join(tab.names())}); state {where}.peak_flop_s (dense, at the training precision)"
                )
            else:
                self.warn(f"{where}: the accelerator is not stated, so the hardware method cannot be used")
            return None
        else:
            if precision is None:
                precision = next((p for p in DEFAULT_PRECISIONS if p in acc.peak_tflops), None)
                if precision is None:
                    self.warn(f"{acc.name}: no BF16/FP16 peak in the table; state {where}.precision")
                    return None
                self.assume(
                    f"training precision not stated: {precision.upper()} peak of {acc.name} assumed",
                    _default(f"{where}.precision not stated"),
                )
                alt_peak = acc.peak_flop_s("fp8")
                if alt_peak is not None:
                    self.assume(
                        f"{acc.name} also runs FP8: the upper edge allows FP8 training at median utilisation",
                        _default(
                            "docs/reference/compute.md §5.1: compute both precisions and widen the band"
                        ),
                    )
                low_peak, low_precision = _full_precision_peak(acc.peak_tflops)
                if low_peak is not None:
                    self.assume(
                        f"the lower edge allows {low_precision.upper()} training at low utilisation (older "
                        f"runs trained in full precision: {acc.name} {low_precision.upper()} "
                        f"{low_peak / 1e12:g} TFLOP/s)",
                        _default("docs/compute.md: an unknown precision widens the band both ways"),
                    )
            else:
                alt_peak = low_peak = None
            found = acc.peak_flop_s(precision)
            if found is None:
                self.warn(
                    f"{acc.name} has no dense {precision.upper()} peak in the hardware table "
                    f"(it has {', '.join(acc.peak_tflops)}): the hardware method cannot be used"
                )
                return None
            peak, peak_note = (
                found,
                f"hardware table: {acc.name} dense {precision.upper()} ({acc.confidence})",
            )
        u = tab.utilisation
        if hw.utilisation:
            ul, uc = hw.utilisation * u.stated_wallclock_factor, hw.utilisation
            uh = min(1.0, hw.utilisation * u.stated_high_factor)
            self.assume(
                f"stated utilisation {hw.utilisation:.0%}; low edge {ul:.0%} (averaged over all chip-hours), "
                f"high edge {uh:.0%} (a stated MFU may leave out attention FLOPs or be rounded down)",
                _mf(f"{where}.utilisation", f"{u.stated_source}; {u.stated_high_source}"),
            )
        else:
            ul, uc, uh = u.low, u.central, u.high
            self.assume(
                f"utilisation not stated: band {ul:.0%}/{uc:.0%}/{uh:.0%} (low/central/high)",
                _default(u.source),
            )
        capacity = chip_hours * SECONDS_PER_HOUR * peak
        high = capacity * uh
        if alt_peak is not None:
            high = max(high, chip_hours * SECONDS_PER_HOUR * alt_peak * uc)
        low = capacity * ul
        if low_peak is not None:
            low = min(low, chip_hours * SECONDS_PER_HOUR * low_peak * ul)
        band = Band(low=low, central=capacity * uc, high=high)
        formula = f"{_fmt(chip_hours)} chip-hours × 3600 × {_fmt(peak)} FLOP/s ({peak_note}) × utilisation"
        self.estimates.append(
            MethodEstimate(scope=scope, method=ComputeMethod.HARDWARE, band=band, formula=formula)
        )
        return _Hardware(
            band=band,
            capacity=capacity,
            chip_hours=chip_hours,
            tdp_watts=acc.tdp_watts if acc is not None else None,
            formula=formula,
            accelerator=acc.name if acc is not None else hw.accelerator,
        )

    def _chip_hours(self, hw: HardwareDecl, where: str) -> float | None:
        product = hw.count * hw.hours if hw.count and hw.hours else None
        if hw.gpu_hours is not None:
            if product is not None and not math.isclose(product, hw.gpu_hours, rel_tol=0.05):
                self.warn(
                    f"{where}.gpu_hours ({_fmt(hw.gpu_hours)}) differs from count × hours ({_fmt(product)}): "
                    "gpu_hours is used"
                )
            self.assume(f"{_fmt(hw.gpu_hours)} chip-hours", _mf(f"{where}.gpu_hours"))
            return hw.gpu_hours
        if product is not None:
            self.assume(
                f"{hw.count} chips × {hw.hours:g} hours = {_fmt(product)} chip-hours", _mf(f"{where}.count")
            )
            return product
        if hw.count or hw.hours:
            self.warn(f"{where}: both count and hours (or gpu_hours) are needed for the hardware method")
        return None

    # -- stages and cumulative compute ------------------------------------------------------------

    def _stages(self, *, own_stated: bool, derivative: bool) -> list[StageCompute]:
        out = []
        for i, st in enumerate(self.t.stages):
            in_training, in_cumulative, reason = _stage_policy(st)
            if own_stated and in_training:
                reason += "; already inside the stated training compute"
            band, method = self._stage_band(st, i, derivative)
            out.append(
                StageCompute(
                    name=st.name,
                    kind=st.kind.value,
                    band=band,
                    method=method,
                    in_training=in_training and not own_stated,
                    in_cumulative=in_cumulative and not (own_stated and in_training),
                    reason=reason,
                )
            )
            if st.kind is StageKind.OTHER:
                self.warn(f"stage {st.name!r} has kind 'other': counted in both totals; review what it is")
        return out

    def _stage_band(self, st: StageDecl, i: int, derivative: bool) -> tuple[Band | None, ComputeMethod]:
        where = f"training.stages[{i}]"
        scope = f"stage:{st.name}"
        if st.compute_flop is not None:
            band = Band.point(st.compute_flop)
            self.estimates.append(
                MethodEstimate(
                    scope=scope,
                    method=ComputeMethod.DEVELOPER_STATED,
                    band=band,
                    formula=f"{where}.compute_flop = {_fmt(st.compute_flop)}",
                )
            )
            return band, ComputeMethod.DEVELOPER_STATED
        if st.tokens and st.kind in TRAINING_KINDS:
            params = self._params()
            if params is not None:
                if st.trainable_parameters:
                    central = (4 * params.central + 2 * st.trainable_parameters) * st.tokens
                    band = Band(
                        low=(4 * params.low + 2 * st.trainable_parameters) * st.tokens,
                        central=central,
                        high=max(central, (4 * params.high + 2 * st.trainable_parameters) * st.tokens),
                    )
                    formula = f"(4·N + 2·N_trainable)·D, D = {_fmt(st.tokens)}"
                else:
                    central = 6 * params.central * st.tokens
                    band = Band(
                        low=6 * params.low * st.tokens,
                        central=central,
                        high=max(central, 6 * params.high * st.tokens),
                    )
                    formula = f"6·N·D with D = {_fmt(st.tokens)} ({where}.tokens)"
                self.estimates.append(
                    MethodEstimate(
                        scope=scope, method=ComputeMethod.OPERATION_COUNT, band=band, formula=formula
                    )
                )
                return band, ComputeMethod.OPERATION_COUNT
        hw = self._hardware(st.hardware, scope, f"{where}.hardware")
        if hw is not None:
            return hw.band, ComputeMethod.HARDWARE
        return None, ComputeMethod.INSUFFICIENT_DATA

    def _cumulative(self, training: Band | None, stages: list[StageCompute]) -> Band | None:
        if training is None:
            return None
        total = training
        if self.t.synthetic_data_flop:
            if self.t.synthetic_data_public:
                self.assume(
                    f"synthetic-data generation ({_fmt(self.t.synthetic_data_flop)} FLOP) excluded: "
                    "its output is public",
                    _mf(
                        "training.synthetic_data_public",
                        "EU Guidelines Annex A.1 allows excluding public data",
                    ),
                )
            else:
                total = total + Band.point(self.t.synthetic_data_flop)
                self.assume(
                    f"non-public synthetic-data generation {_fmt(self.t.synthetic_data_flop)} FLOP added to "
                    "cumulative compute (discarded samples included)",
                    _mf("training.synthetic_data_flop", "docs/reference/regulation.md §1.11"),
                )
        if self.t.merged_or_initialising_flop:
            total = total + Band.point(self.t.merged_or_initialising_flop)
            self.assume(
                f"compute of merged or initialising weights {_fmt(self.t.merged_or_initialising_flop)} FLOP "
                "added to cumulative compute",
                _mf("training.merged_or_initialising_flop", "docs/reference/regulation.md §1.11"),
            )
        for s in stages:
            if s.in_cumulative and not s.in_training:
                if s.band is None:
                    self.warn(
                        f"stage {s.name!r} counts toward cumulative compute but has no figure: lower bound"
                    )
                else:
                    total = total + s.band
        return total

    # -- calls --------------------------------------------------------------------------------------

    def _calls(
        self, training: Band | None, cumulative: Band | None, modification: Band | None
    ) -> tuple[dict[str, ThresholdCall], dict[str, ThresholdCall]]:
        strict: dict[str, ThresholdCall] = {}
        inclusive: dict[str, ThresholdCall] = {}
        for key, value in DEFAULT_THRESHOLDS.items():
            band = cumulative if key in CUMULATIVE_KEYS else training
            for calls, incl in ((strict, False), (inclusive, True)):
                call = threshold_call(band, value, inclusive=incl)
                if band is None and modification is not None:
                    # Base compute unknown: the modification alone is a lower bound of the total.
                    lower = threshold_call(modification, value, inclusive=incl)
                    if lower.crossed:
                        call = lower
                if self.inherited_unknown and key in CUMULATIVE_KEYS and call.crossed is False:
                    call = ThresholdCall.UNCERTAIN  # a lower bound cannot show a line is not crossed
                if self.sparse_total and call is ThresholdCall.CLEARLY_ABOVE:
                    # The active share of a sparse total is not known: never a confident call above.
                    call = ThresholdCall.NEAR_ABOVE
                calls[key] = call
        return strict, inclusive

    def _initialising_unknown(self, derivative: bool) -> str | None:
        """A provider's model initialised from another model (the card names a base model) whose
        compute is not stated: that compute counts toward cumulative compute (EU Art. 51(2))."""
        f = self.facts
        if derivative or f is None or not f.base_model or self.t.merged_or_initialising_flop is not None:
            return None
        names = ", ".join(b.name for b in f.base_model)
        self.warn(
            f"the model card names {names} as the base model and the manifest makes this release its "
            "provider's own: compute inherited from an initialising model counts toward cumulative "
            "compute, and it is not stated (training.merged_or_initialising_flop). Cumulative compute "
            "is a lower bound and is not called below any line"
        )
        return names

    def _borderline(self, training: Band | None, cumulative: Band | None) -> None:
        for key, value in DEFAULT_THRESHOLDS.items():
            band = cumulative if key in CUMULATIVE_KEYS else training
            if band is not None and abs(band.central - value) <= BORDERLINE * value:
                self.warn(
                    f"the central estimate {_fmt(band.central)} is within 30% of the {key} line: "
                    "the EU accepts estimates within ±30% (Guidelines Annex A), so document method and "
                    "assumptions carefully"
                )

    # -- energy -------------------------------------------------------------------------------------

    def _energy(self, band: Band | None) -> Band | None:
        if self.t.energy_kwh is not None:
            self.assume(f"energy {_fmt(self.t.energy_kwh)} kWh as stated", _mf("training.energy_kwh"))
            return Band.point(self.t.energy_kwh)
        hw = self.t.hardware
        tab = table()
        acc = tab.find(hw.accelerator) if hw and hw.accelerator else None
        if acc is None or acc.tdp_watts is None:
            return None
        pue = tab.pue
        kw = acc.tdp_watts / 1000.0
        chip_hours = self._chip_hours_quiet(hw) if hw else None
        if chip_hours is not None:
            hours = Band.point(chip_hours)
            how = f"{_fmt(chip_hours)} chip-hours"
        elif band is not None:
            precision = hw.precision.value if hw and hw.precision else "bf16"
            peak = acc.peak_flop_s(precision) or acc.peak_flop_s("fp16")
            if peak is None:
                return None
            u = tab.utilisation
            # Fewer chip-hours at high utilisation, more at low.
            hours = Band(
                low=band.low / (peak * u.high) / SECONDS_PER_HOUR,
                central=band.central / (peak * u.central) / SECONDS_PER_HOUR,
                high=band.high / (peak * u.low) / SECONDS_PER_HOUR,
            )
            how = (
                f"chip-hours from compute at the {acc.name} {precision.upper()} peak and the utilisation band"
            )
        else:
            return None
        energy = Band(
            low=hours.low * kw * pue.low,
            central=hours.central * kw * pue.central,
            high=hours.high * kw * pue.high,
        )
        self.assume(
            f"energy = {how} × {acc.tdp_watts:g} W board power × PUE {pue.low}/{pue.central}/{pue.high}; "
            "host servers and networking not counted separately",
            _default("hardware table tdp_watts and pue (confidence L)"),
        )
        return energy

    @staticmethod
    def _chip_hours_quiet(hw: HardwareDecl) -> float | None:
        if hw.gpu_hours is not None:
            return hw.gpu_hours
        if hw.count and hw.hours:
            return hw.count * hw.hours
        return None


@cache
def _normal(name: str) -> str:
    """A model type or family name with case and separators folded ("DeepSeek-V3" -> "deepseek_v3")."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Any of `words` as a whole word (a data file's word list, compiled once)."""
    return re.compile(r"(?<![a-z])(?:" + "|".join(re.escape(w) for w in words) + r")(?![a-z])")


def _full_precision_peak(peaks: dict[str, float]) -> tuple[float | None, str]:
    """The chip's full-precision matmul peak: TF32 where the chip has it (frameworks ran FP32 matmuls
    on TF32 tensor cores), else FP32; (None, "") when the table lists neither."""
    for precision in ("tf32", "fp32"):
        if precision in peaks:
            return peaks[precision] * 1e12, precision
    return None, ""


def _stage_policy(st: StageDecl) -> tuple[bool, bool, str]:
    """(in training compute, in cumulative compute, why) — docs/reference/regulation.md §1.11 (Guidelines
    Annex A.1)."""
    k = st.kind
    if k in (StageKind.PRETRAINING, StageKind.CONTINUED_PRETRAINING, StageKind.FINETUNING, StageKind.RL):
        return True, True, "parameter updates of this model"
    if k is StageKind.DISTILLATION:
        return (
            True,
            True,
            "the student's parameter updates (teacher forward passes: declare a synthetic_data stage)",
        )
    if k is StageKind.SYNTHETIC_DATA:
        if st.public_output:
            return False, False, "synthetic data that is published may be excluded"
        return (
            False,
            True,
            "forward passes generating non-public synthetic data count, discarded samples included",
        )
    if k is StageKind.REWARD_MODEL:
        return False, False, "auxiliary models (reward models, value functions) may be excluded"
    if k is StageKind.TEACHER:
        return False, False, "training a distillation teacher may be excluded"
    if k is StageKind.EVALUATION:
        return False, False, "purely diagnostic compute (evaluations, red-teaming) may be excluded"
    return True, True, "kind 'other': counted in both to be safe"


# Model classes that end in an output projection over the vocabulary (or masked-token head).
HEAD_CLASS_SUFFIXES = (
    "LMHeadModel",
    "ForCausalLM",
    "ForConditionalGeneration",
    "ForMaskedLM",
    "ForPreTraining",
)


def _has_head(architecture: str) -> bool:
    return architecture.endswith(HEAD_CLASS_SUFFIXES)


def _sum(bands: Any) -> Band:
    total = Band.point(0.0)
    for b in bands:
        total = total + b
    return total


def _int(cfg: dict[str, Any], *keys: str) -> int | None:
    for k in keys:
        v = cfg.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _read_config(facts: ModelFacts | None) -> dict[str, Any] | None:
    """The release's config.json (bounded), for the attention term and the tie flag; None if absent."""
    if facts is None:
        return None
    if facts.root.startswith("hf://"):
        # A Hugging Face cache snapshot: its config.json is in the local cache (never downloaded).
        from modelwarden.errors import UsageError
        from modelwarden.release import resolve as resolve_release

        try:
            path = resolve_release(facts.root).root
        except (UsageError, OSError):
            return None
    else:
        path = Path(facts.root)
    path = path / "config.json" if path.is_dir() else path.parent / "config.json"
    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # inspect reports these; here the config is optional
        return None
    return data if isinstance(data, dict) else None
