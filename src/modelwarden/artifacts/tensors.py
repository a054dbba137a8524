"""What each stored tensor is: a parameter, a buffer, a quantisation auxiliary — and where it belongs.

Exact parameter counts come from tensor shapes, but not every stored tensor is a parameter, and
packed quantised storage holds several parameters per element (docs/reference/compute.md §4.7, "Header-based
counting pitfalls"):

* non-parameters: rotary `inv_freq` buffers (+64 per layer in older Llama 2 checkpoints),
  `position_ids`, attention-mask buffers, BatchNorm running statistics; quantisation scales / zeros /
  `g_idx` (GPTQ, AWQ), FP8 `weight_scale_inv` (DeepSeek-V3), bitsandbytes `absmax` / `quant_map` /
  `quant_state`; optimizer moments and EMA copies inside training checkpoints;
* packed storage: GPTQ/AWQ `qweight` (int32 holding 32/bits values), compressed-tensors
  `weight_packed`, bitsandbytes 4-bit `weight` (uint8 holding two values) — multiplied out;
* components: embedding, layers, norm, head, vision, audio, mtp (multi-token prediction), adapter.

Classification looks at names and at sibling names (a `scales` tensor is a quantisation auxiliary
only beside a `qweight`), never at tensor data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from modelwarden.model import TensorInfo, TensorKind

# Bits per element of every dtype name the readers produce (safetensors names; others map to them).
DTYPE_BITS: dict[str, int] = {
    "F64": 64, "F32": 32, "F16": 16, "BF16": 16, "I64": 64, "I32": 32, "I16": 16, "I8": 8, "U8": 8,
    "U16": 16, "U32": 32, "U64": 64, "BOOL": 8, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4, "C64": 64, "C128": 128,
    "C32": 32, "U4": 4, "I4": 4, "U2": 2, "U1": 1,
}  # fmt: skip

FLOAT_DTYPES = frozenset(
    {
        "F64",
        "F32",
        "F16",
        "BF16",
        "F8_E4M3",
        "F8_E5M2",
        "F8_E4M3FNUZ",
        "F8_E5M2FNUZ",
        "F6_E2M3",
        "F6_E3M2",
        "F4",
    }
)

COMPONENTS = ("embedding", "layers", "norm", "head", "vision", "audio", "mtp", "adapter", "other")

_WRAPPERS = ("state_dict.", "model_state_dict.", "module.", "_orig_mod.")
_TRAINING_ROOTS = frozenset(
    {
        "optimizer", "optimizer_states", "optimizer_state_dict", "opt_state", "optim", "lr_scheduler",
        "lr_schedulers", "scheduler", "ema", "model_ema", "ema_state_dict", "ema_model", "loss_scaler",
        "scaler", "callbacks", "amp",
    }
)  # fmt: skip
_BUFFER_LEAVES = frozenset(
    {
        "inv_freq", "position_ids", "num_batches_tracked", "running_mean", "running_var", "cos_cached",
        "sin_cached", "freqs_cis", "_float_tensor", "masked_bias", "causal_mask", "token_type_ids",
        "_extra_state",
    }
)  # fmt: skip
_GPTQ_AUX = frozenset({"scales", "qzeros", "g_idx", "bias_scale"})
_WEIGHT_AUX = frozenset(
    {
        "weight_scale_inv", "weight_scale", "input_scale", "output_scale", "weight_zero_point",
        "input_zero_point", "weight_g_idx", "weight_shape", "weight_global_scale", "input_global_scale",
        "SCB", "weight_format",
    }
)  # fmt: skip
_BNB_AUX = frozenset({"absmax", "quant_map", "nested_absmax", "nested_quant_map"})
_KV_SCALES = frozenset({"k_scale", "v_scale", "q_scale", "prob_scale"})

_ADAPTER = re.compile(r"(?:^|\.)(?:lora_[AB]|lora_embedding_[AB]|lora_magnitude_vector|lora)(?:\.|$)")
_VISION = re.compile(
    r"(?:^|\.)(?:vision_tower|vision_model|visual|vision_encoder|image_encoder|vision|multi_modal_projector"
    r"|mm_projector|vision_projection|img_projection|image_newline|vpm|resampler)(?:\.|$)|^v\.|^mm\."
)
_AUDIO = re.compile(
    r"(?:^|\.)(?:audio_tower|audio_model|audio_encoder|audio_projection|speech_encoder)(?:\.|$)"
)
_LAYER = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block|blk|decoder_layers|encoder_layers)\.(\d+)\.")
_MTP = re.compile(r"(?:^|\.)(?:mtp|mtp_layers|nextn|mtp_block)(?:\.|$)")
_EMBEDDING = re.compile(
    r"(?:^|\.)(?:embed_tokens|word_embeddings|wte|wpe|tok_embeddings|token_embd|position_embeddings"
    r"|token_type_embeddings|embed_positions|embed_in|embeddings|position_embd|shared|word_embedding)(?:\.|$)"
)
_HEAD = re.compile(
    r"(?:^|\.)(?:lm_head|embed_out|score|classifier|pooler|cls|qa_outputs|output_layer)(?:\.|$)"
    r"|(?:^|\.)output\.(?:weight|bias)$"
)
_NORM = re.compile(
    r"(?:^|\.)(?:norm|ln_f|final_layernorm|final_layer_norm|output_norm|norm_f|final_norm)\.\w+$"
)

# Names of the input embedding and of the output head, in the layouts that tie them.
_EMBED_NAMES = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "tok_embeddings.weight",
                "token_embd.weight", "embed_in.weight", "shared.weight")  # fmt: skip
_HEAD_NAMES = ("lm_head.weight", "embed_out.weight", "output.weight", "lm_head.decoder.weight",
               "cls.predictions.decoder.weight")  # fmt: skip


@dataclass(frozen=True)
class ClassifyContext:
    """What the names alone cannot say, from config.json (or GGUF metadata)."""

    num_layers: int | None = None  # main stack depth: layer indices at or beyond it are MTP modules
    quant_bits: int = 4  # GPTQ / AWQ / compressed-tensors bits per packed value
    tie_word_embeddings: bool | None = None


def numel(shape: Iterable[int]) -> int:
    return math.prod(shape)


def strip_wrappers(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPERS:
            if name.startswith(prefix):
                name, changed = name[len(prefix) :], True
    return name


def component_of(name: str, ctx: ClassifyContext) -> str:
    n = strip_wrappers(name)
    component = _component_by_pattern(_DIGITS.sub("0", n))
    if component == "layers" and ctx.num_layers is not None:
        m = _LAYER.search(n)
        if m and int(m.group(1)) >= ctx.num_layers:
            return "mtp"
    return component


_DIGITS = re.compile(r"\d+")


@lru_cache(maxsize=65536)
def _component_by_pattern(n: str) -> str:
    """Component of a name whose numbers are all 0: layers and experts share one cache entry."""
    if _ADAPTER.search(n):
        return "adapter"
    if _VISION.search(n):
        return "vision"
    if _AUDIO.search(n):
        return "audio"
    if _MTP.search(n):
        return "mtp"
    if _LAYER.search(n):
        return "layers"
    if _EMBEDDING.search(n):
        return "embedding"
    if _HEAD.search(n):
        return "head"
    if _NORM.search(n):
        return "norm"
    return "other"


def classify(tensors: list[TensorInfo], ctx: ClassifyContext | None = None) -> None:
    """Set `kind`, `component` and `parameters` of every tensor of one file (in place)."""
    ctx = ctx or ClassifyContext()
    names = {t.name for t in tensors}
    for t in tensors:
        t.component = component_of(t.name, ctx)
        if t.kind is TensorKind.PARAMETER:  # a reader may already know better (shared storage, buffers)
            t.kind = _kind(t, names)
        t.parameters = _logical_parameters(t, names, ctx) if t.kind is TensorKind.PARAMETER else 0


def _kind(t: TensorInfo, names: set[str]) -> TensorKind:
    stripped = strip_wrappers(t.name)
    root = stripped.split(".", 1)[0]
    if root in _TRAINING_ROOTS and "." in stripped:
        return TensorKind.TRAINING_STATE
    stem, _, leaf = t.name.rpartition(".")
    if leaf in _BUFFER_LEAVES or t.name == "rope_freqs.weight" or stem.endswith("rope_freqs"):
        return TensorKind.BUFFER
    if leaf in ("bias", "masked_bias") and stem.endswith(".attn") and len(t.shape) == 4:
        return TensorKind.BUFFER  # GPT-2's causal mask, stored as `h.N.attn.bias`
    if leaf in _GPTQ_AUX and f"{stem}.qweight" in names:
        return TensorKind.QUANT_AUX
    if leaf in _WEIGHT_AUX and (f"{stem}.weight" in names or f"{stem}.weight_packed" in names):
        return TensorKind.QUANT_AUX
    if leaf in _KV_SCALES and numel(t.shape) <= 1:
        return TensorKind.QUANT_AUX
    if ".quant_state." in t.name or (leaf in _BNB_AUX and stem.endswith(".weight") and stem in names):
        return TensorKind.QUANT_AUX
    return TensorKind.PARAMETER


def _logical_parameters(t: TensorInfo, names: set[str], ctx: ClassifyContext) -> int:
    n = numel(t.shape)
    leaf = t.name.rpartition(".")[2]
    if leaf in ("qweight", "weight_packed") and t.dtype == "I32":
        return n * (32 // max(1, ctx.quant_bits))
    if leaf == "weight" and t.dtype == "U8" and _is_bnb4(t.name, names):
        return n * 2
    return n


def _is_bnb4(name: str, names: set[str]) -> bool:
    return (
        f"{name}.absmax" in names
        or f"{name}.quant_state.bitsandbytes__nf4" in names
        or f"{name}.quant_state.bitsandbytes__fp4" in names
    )


def mark_tied(tensors: list[TensorInfo], tie_word_embeddings: bool | None) -> TensorInfo | None:
    """When the config ties the head to the embedding and both are stored, count the head once.

    Returns the head tensor that was marked as a tied copy, if any. Without a config that says the
    weights are tied we cannot know (the data would have to be compared), so nothing is marked.
    """
    if not tie_word_embeddings:
        return None
    embed = _find(tensors, _EMBED_NAMES, "embedding")
    head = _find(tensors, _HEAD_NAMES, "head")
    if embed is None or head is None or head.kind is not TensorKind.PARAMETER:
        return None
    if tuple(embed.shape) != tuple(head.shape):
        return None
    head.kind = TensorKind.TIED
    head.parameters = 0
    return head


def _find(tensors: list[TensorInfo], suffixes: tuple[str, ...], component: str) -> TensorInfo | None:
    for t in tensors:
        if t.component == component and strip_wrappers(t.name).endswith(suffixes):
            return t
    return None
