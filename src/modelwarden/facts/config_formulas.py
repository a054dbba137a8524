"""Exact parameter counts from `config.json`, one formula per architecture family (docs/reference/compute.md
§4.7).

These reproduce the published totals of docs/reference/compute_examples.md exactly (GPT-2 small 124,439,808;
Llama-2-7B 6,738,415,616; Mistral-7B 7,241,732,096; Mixtral-8x7B 46,702,792,704 / 12,879,925,248
active; Qwen2.5-7B 7,615,616,512; Gemma-7B 8,537,680,896; Phi-3-mini 3,821,079,552; Falcon-7B
6,921,720,704; DeepSeek-V2 235,741,444,320 / 21,375,809,760; DeepSeek-V3 671,026,419,200;
Qwen3-30B-A3B 30,532,122,624 / 3,353,032,704; Pythia-6.9B 6,857,302,016).

Conventions:
* `total` is the main model. Modules outside it that checkpoints carry (DeepSeek-V3's
  multi-token-prediction layer) are in `extras`, not in `total`.
* `active` (mixture-of-experts only) is `total` with only `k` of the `E` routed experts of each MoE
  layer, embedding included — the convention of Mixtral's 12.9B and DeepSeek-V2's 21B. (The
  compute estimate may drop the input embedding: it is a lookup, docs/reference/compute.md §4.3.)
* A size field the config does not state is never guessed: the formula reports what is missing.
  Only flags with a documented default (e.g. `tie_word_embeddings`, `attention_bias`) default.
* `breakdown` uses the component names of tensor counting (embedding, layers, norm, head) so the
  two counts can be compared component by component.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_MISSING: Any = object()
# A bound on any single size field (hidden size, layers, vocabulary, experts): the largest real ones
# are around 1e6 (vocabularies), so 1e12 rejects only hostile or corrupt configs.
MAX_SIZE_FIELD = 10**12

# Families whose model classes tie the output head to the input embedding unless the config says not to.
TIED_BY_DEFAULT = frozenset(
    {
        "gemma", "gemma2", "gemma3_text", "gpt2", "falcon", "bert", "roberta", "xlm-roberta", "camembert",
        "starcoder2", "cohere", "gpt_bigcode",
    }
)  # fmt: skip


# Size fields no real model sets to zero: a zero there is a corrupt config, and the formula would give
# a confident wrong count (an embedding-only "model"), so it gives none (issue 17 review).
POSITIVE_FIELDS = frozenset(
    {
        "hidden_size", "n_embd", "d_model", "num_hidden_layers", "n_layer", "num_layers",
        "num_attention_heads", "n_head", "vocab_size", "padded_vocab_size", "intermediate_size",
        "num_local_experts", "num_key_value_heads", "head_dim", "moe_intermediate_size", "n_inner",
        "num_experts_per_tok", "experts_per_token",
    }
)  # fmt: skip


class UnsupportedConfig(Exception):
    """No formula for this config (unknown family, or a size field it does not state)."""


@dataclass(frozen=True)
class ConfigCount:
    """One config's parameter count (docs/reference/compute.md §4.7)."""

    family: str
    """The formula family used (a `model_type`, after aliases)."""
    total: int
    """Every parameter of the main model, each tied matrix once."""
    active: int | None = None
    """Mixture-of-experts only: `total` with k of E routed experts per layer, input embedding INCLUDED."""
    breakdown: dict[str, int] = field(default_factory=dict)
    """Component -> parameters (embedding, layers, norm, head); sums to `total`."""
    extras: dict[str, int] = field(default_factory=dict)
    """Modules stored beside the main model and outside `total` (DeepSeek-V3's MTP layer)."""
    fields: tuple[str, ...] = ()
    """Config keys the formula read, as key paths."""
    notes: tuple[str, ...] = ()
    """What the reader should know about this count (tied head, language model only, ...)."""
    lookup: int | None = None
    """Parameters used only as table lookups (input embedding, position and token-type tables) and
    never in a matmul; None = the whole `embedding` component, or 0 when it is tied to the head."""

    @property
    def input_lookup(self) -> int:
        """The lookup-only parameters: what vendors leave out of an "active parameters" figure."""
        if self.lookup is not None:
            return self.lookup
        if self.breakdown.get("head", 0) == 0 and "output head tied to the embedding" in self.notes:
            return 0  # the one matrix also works as the output head: a matmul
        return self.breakdown.get("embedding", 0)

    @property
    def active_without_input_embedding(self) -> int | None:
        """`active` in the convention of DeepSeek-V2, gpt-oss and Kimi: input-embedding lookup left out."""
        return None if self.active is None else self.active - self.input_lookup


class _Cfg:
    """Typed access to a config dict that records which keys were read."""

    def __init__(self, data: dict[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix
        self.used: list[str] = []

    def _get(self, keys: tuple[str, ...]) -> tuple[str, Any] | None:
        for key in keys:
            value = self.data.get(key)
            if value is not None:
                self.used.append(self.prefix + key)
                return key, value
        return None

    def integer(self, *keys: str, default: Any = _MISSING) -> int:
        found = self._get(keys)
        if found is None:
            if default is _MISSING:
                raise UnsupportedConfig(f"{self.prefix}{keys[0]} is not stated")
            return int(default)
        key, value = found
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
            or value < 0
            or value != int(value)
        ):
            raise UnsupportedConfig(f"{self.prefix}{key} = {str(value)[:40]} is not a non-negative integer")
        if value == 0 and key in POSITIVE_FIELDS:
            raise UnsupportedConfig(f"{self.prefix}{key} = 0: a model dimension cannot be zero")
        if value > MAX_SIZE_FIELD:
            # No real size field comes near; products of such values would run to thousands of digits.
            raise UnsupportedConfig(
                f"{self.prefix}{key} = {str(value)[:40]} is implausibly large for a size field "
                f"(over {MAX_SIZE_FIELD:.0e})"
            )
        return int(value)

    def flag(self, key: str, default: bool) -> bool:
        found = self._get((key,))
        if found is None:
            return default
        value = found[1]
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)  # 0/1 as Python's model classes read them
        # A string "false" is true to Python: the count would follow whichever reading we guessed.
        raise UnsupportedConfig(f"{self.prefix}{key} = {str(value)[:40]!r} is not true or false")

    def items(self, key: str) -> list[Any]:
        found = self._get((key,))
        return list(found[1]) if found is not None and isinstance(found[1], list) else []

    def text(self, key: str) -> str | None:
        found = self._get((key,))
        return str(found[1]) if found is not None else None


# ---------------------------------------------------------------------------------------------------
# Llama-style decoders (SwiGLU MLP, RMSNorm, rotary): Llama, Mistral, Qwen2/3, Gemma, Phi-3, and MoE
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Attn:
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: bool = False  # per-head q/k RMSNorm (Qwen3, Gemma 3): 2·head_dim per layer


def _attention(c: _Cfg, d: int, a: _Attn) -> int:
    h = c.integer("num_attention_heads")
    kv = c.integer("num_key_value_heads", default=h)
    hd = c.integer("head_dim", default=d // h if h else 0)  # explicit head_dim wins (Gemma: 16×256 ≠ 3072)
    n = d * h * hd + 2 * d * kv * hd + h * hd * d
    if a.qkv_bias:
        n += h * hd + 2 * kv * hd
    if a.o_bias:
        n += d
    if a.qk_norm:
        n += 2 * hd
    return n


_LayerFn = Callable[[int], tuple[int, int]]  # layer index -> (total, active) of its feed-forward part


def _decoder(
    c: _Cfg,
    family: str,
    *,
    attn: _Attn,
    norms_per_layer: int = 2,
    ffn: Callable[[_Cfg, int], _LayerFn] | None = None,
    moe: bool = False,
    final_norm: int = 1,
    extra_per_layer: int = 0,
) -> ConfigCount:
    """`norms_per_layer` and `final_norm` count d-sized vectors (2 per LayerNorm with bias);
    `extra_per_layer` adds what else a layer holds (q/k norms, attention sinks)."""
    d = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    vocab = c.integer("vocab_size")
    attention = _attention(c, d, attn) + extra_per_layer
    ffn_of = (ffn or _dense_swiglu)(c, d)
    total_layers = active_layers = 0
    for i in range(layers):
        t, a = ffn_of(i)
        total_layers += attention + t + norms_per_layer * d
        active_layers += attention + a + norms_per_layer * d
    tied = c.flag("tie_word_embeddings", family in TIED_BY_DEFAULT)
    head = 0 if tied else vocab * d
    breakdown = {"embedding": vocab * d, "layers": total_layers, "norm": final_norm * d, "head": head}
    total = sum(breakdown.values())
    active = total - total_layers + active_layers if moe else None
    notes = ("output head tied to the embedding",) if tied else ()
    return ConfigCount(family, total, active, breakdown, fields=tuple(c.used), notes=notes)


def _dense_swiglu(c: _Cfg, d: int) -> _LayerFn:
    ff = c.integer("intermediate_size")
    bias = c.flag("mlp_bias", False)
    n = 3 * d * ff + ((2 * ff + d) if bias else 0)
    return lambda _i: (n, n)


def _mixtral_ffn(c: _Cfg, d: int) -> _LayerFn:
    experts = c.integer("num_local_experts")
    k = c.integer("num_experts_per_tok")
    ff = c.integer("intermediate_size")
    router = d * experts
    return lambda _i: (experts * 3 * d * ff + router, k * 3 * d * ff + router)


def _qwen_moe_ffn(shared: bool) -> Callable[[_Cfg, int], _LayerFn]:
    def build(c: _Cfg, d: int) -> _LayerFn:
        experts = c.integer("num_experts")
        k = c.integer("num_experts_per_tok")
        ff_expert = c.integer("moe_intermediate_size")
        step = c.integer("decoder_sparse_step", default=1)
        dense_layers = set(c.items("mlp_only_layers"))
        dense = 3 * d * c.integer("intermediate_size") if dense_layers or step > 1 else 0
        # Qwen2-MoE: one always-on shared expert with a sigmoid gate (d -> 1).
        always = 3 * d * c.integer("shared_expert_intermediate_size") + d if shared else 0
        router = d * experts

        def layer(i: int) -> tuple[int, int]:
            if i in dense_layers or experts == 0 or (i + 1) % max(step, 1) != 0:
                return dense, dense
            return experts * 3 * d * ff_expert + router + always, k * 3 * d * ff_expert + router + always

        return layer

    return build


# ---------------------------------------------------------------------------------------------------
# DeepSeek-V2 / V3: multi-head latent attention + MoE with shared experts
# ---------------------------------------------------------------------------------------------------


def _deepseek(c: _Cfg, family: str) -> ConfigCount:
    d = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    vocab = c.integer("vocab_size")
    h = c.integer("num_attention_heads")
    if family == "deepseek":
        # DeepSeekMoE (v1) keeps Llama's attention; V2/V3 use multi-head latent attention.
        attn_bias = c.flag("attention_bias", False)
        attention = _attention(c, d, _Attn(qkv_bias=attn_bias, o_bias=attn_bias))
    else:
        attention = _mla(c, d, h)
    ff = c.integer("intermediate_size")
    experts = c.integer("n_routed_experts", default=0)
    ff_moe = c.integer("moe_intermediate_size", default=0) if experts else 0
    shared = c.integer("n_shared_experts", default=0) if experts else 0
    k = c.integer("num_experts_per_tok", default=0) if experts else 0
    first_dense = c.integer("first_k_dense_replace", default=0)
    freq = c.integer("moe_layer_freq", default=1)
    # V3's router carries a per-expert score-correction bias (topk_method "noaux_tc").
    bias = experts if (family == "deepseek_v3" or c.text("topk_method") == "noaux_tc") else 0
    moe_total = (experts + shared) * 3 * d * ff_moe + d * experts + bias
    moe_active = (k + shared) * 3 * d * ff_moe + d * experts + bias
    dense = 3 * d * ff
    total_layers = active_layers = 0
    for i in range(layers):
        is_moe = experts > 0 and i >= first_dense and i % max(freq, 1) == 0
        total_layers += attention + 2 * d + (moe_total if is_moe else dense)
        active_layers += attention + 2 * d + (moe_active if is_moe else dense)
    breakdown = {"embedding": vocab * d, "layers": total_layers, "norm": d, "head": vocab * d}
    total = sum(breakdown.values())
    extras: dict[str, int] = {}
    notes: list[str] = []
    mtp = c.integer("num_nextn_predict_layers", default=0)
    if mtp:
        # Each MTP module as stored on the Hub: enorm + hnorm + eh_proj (2d -> d) + one MoE decoder layer
        # + shared_head (norm + head) + its own copy of the embedding.
        layer = attention + 2 * d + (moe_total if experts else dense)
        extras["mtp"] = mtp * (2 * d + 2 * d * d + layer + d + 2 * vocab * d)
        notes.append(f"{mtp} multi-token-prediction module(s) stored beside the main model, not in the total")
    active = total - total_layers + active_layers if experts else None
    return ConfigCount(family, total, active, breakdown, extras, tuple(c.used), tuple(notes))


def _mla(c: _Cfg, d: int, h: int) -> int:
    """Multi-head latent attention (DeepSeek-V2/V3): low-rank q (optional) and joint kv compression."""
    q_lora = c.integer("q_lora_rank", default=0)
    kv_lora = c.integer("kv_lora_rank")
    nope = c.integer("qk_nope_head_dim")
    rope = c.integer("qk_rope_head_dim")
    v = c.integer("v_head_dim")
    q = d * q_lora + q_lora + q_lora * h * (nope + rope) if q_lora else d * h * (nope + rope)
    return q + d * (kv_lora + rope) + kv_lora + kv_lora * h * (nope + v) + h * v * d


# ---------------------------------------------------------------------------------------------------
# GPT-2, GPT-NeoX / Pythia, Falcon
# ---------------------------------------------------------------------------------------------------


def _gpt2(c: _Cfg, family: str) -> ConfigCount:
    return _gpt2_shape(c, family, qkv=3 * c.integer("n_embd", "hidden_size"))


def _gpt2_shape(c: _Cfg, family: str, *, qkv: int) -> ConfigCount:
    """GPT-2's layout (learned positions, biased fused attention, GELU MLP) with a given q+k+v width."""
    d = c.integer("n_embd", "hidden_size")
    layers = c.integer("n_layer", "num_hidden_layers")
    vocab = c.integer("vocab_size")
    positions = c.integer("n_positions", "max_position_embeddings")
    ff = c.integer("n_inner", default=4 * d)
    # ln_1, c_attn (d -> qkv, bias), c_proj (bias), ln_2, c_fc (bias), c_proj (bias): 12d² + 13d when
    # qkv = 3d and ff = 4d.
    layer = 2 * d + (d * qkv + qkv) + (d * d + d) + 2 * d + (d * ff + ff) + (ff * d + d)
    return _untied_or_tied(
        c,
        family,
        embedding=vocab * d + positions * d,
        layers=layers * layer,
        norm=2 * d,
        head=vocab * d,
        positions=positions * d,
    )


def _gpt_neox(c: _Cfg, family: str) -> ConfigCount:
    d = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    vocab = c.integer("vocab_size")  # the padded vocabulary: the tensor's rows, not the tokenizer's size
    ff = c.integer("intermediate_size")
    bias = c.flag("attention_bias", True)
    attention = 4 * d * d + (4 * d if bias else 0)
    layer = attention + (2 * d * ff + ff + d) + 4 * d
    return _untied_or_tied(c, family, embedding=vocab * d, layers=layers * layer, norm=2 * d, head=vocab * d)


def _falcon(c: _Cfg, family: str) -> ConfigCount:
    d = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers", "n_layer")
    vocab = c.integer("vocab_size")
    h = c.integer("num_attention_heads", "n_head")
    hd = d // h
    new_arch = c.flag("new_decoder_architecture", False)
    bias = c.flag("bias", False)
    if new_arch:
        kv = c.integer("num_kv_heads", "n_head_kv", default=h)
        qkv_out = (h + 2 * kv) * hd
        norms = 2 * d * c.integer("num_ln_in_parallel_attn", default=2)
    else:
        qkv_out = d + 2 * hd if c.flag("multi_query", True) else 3 * d
        norms = 2 * d if c.flag("parallel_attn", True) else 4 * d
    ff = c.integer("ffn_hidden_size", default=4 * d)
    attention = d * qkv_out + d * d + ((qkv_out + d) if bias else 0)
    mlp = 2 * d * ff + ((ff + d) if bias else 0)
    return _untied_or_tied(
        c, family, embedding=vocab * d, layers=layers * (norms + attention + mlp), norm=2 * d, head=vocab * d
    )


def _untied_or_tied(
    c: _Cfg, family: str, *, embedding: int, layers: int, norm: int, head: int, positions: int = 0
) -> ConfigCount:
    """A dense model's count, the head counted only when it is not tied to the embedding.

    `head` may exceed the embedding matrix by an output bias (GPT-J, Phi); `positions` is a learned
    position table inside `embedding` (a lookup even when the token table is tied).
    """
    tied = c.flag("tie_word_embeddings", family in TIED_BY_DEFAULT)
    breakdown = {"embedding": embedding, "layers": layers, "norm": norm, "head": 0 if tied else head}
    notes = ("output head tied to the embedding",) if tied else ()
    lookup = positions if tied else embedding
    return ConfigCount(
        family, sum(breakdown.values()), None, breakdown, fields=tuple(c.used), notes=notes, lookup=lookup
    )


# ---------------------------------------------------------------------------------------------------
# BERT-family encoders
# ---------------------------------------------------------------------------------------------------


def _bert(c: _Cfg, family: str) -> ConfigCount:
    d = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    vocab = c.integer("vocab_size")
    positions = c.integer("max_position_embeddings")
    types = c.integer("type_vocab_size", default=2 if family == "bert" else 1)
    ff = c.integer("intermediate_size")
    embedding = (vocab + positions + types) * d + 2 * d  # + LayerNorm
    layer = (4 * d * d + 4 * d) + 2 * d + (d * ff + ff) + (ff * d + d) + 2 * d
    head, note = _encoder_head(c, d, vocab, family)
    breakdown = {"embedding": embedding, "layers": layers * layer, "head": head}
    # A masked-LM head's decoder is the token table: that matrix does a matmul; the rest is lookup.
    lookup = embedding - vocab * d if "decoder tied" in " ".join(note) else embedding
    return ConfigCount(
        family, sum(breakdown.values()), None, breakdown, fields=tuple(c.used), notes=note, lookup=lookup
    )


def _encoder_head(c: _Cfg, d: int, vocab: int, family: str) -> tuple[int, tuple[str, ...]]:
    arch = (c.items("architectures") or [""])[0]
    labels = len(c.data.get("id2label") or {}) or 2
    pooler = d * d + d
    if arch.endswith("ForMaskedLM") or arch.endswith("ForPreTraining"):
        mlm = (d * d + d) + 2 * d + vocab  # transform dense + LayerNorm + decoder bias (decoder tied)
        nsp = (pooler + 2 * d + 2) if arch.endswith("ForPreTraining") else 0
        return mlm + nsp, (f"{arch}: masked-LM head, decoder tied to the embedding",)
    if arch.endswith("ForSequenceClassification"):
        if family == "bert":
            return pooler + d * labels + labels, (f"{arch}: pooler + {labels}-label classifier",)
        return (d * d + d) + d * labels + labels, (f"{arch}: classification head ({labels} labels)",)
    if arch.endswith("ForTokenClassification"):
        return d * labels + labels, (f"{arch}: {labels}-label token classifier",)
    if arch.endswith("ForQuestionAnswering"):
        return 2 * d + 2, (f"{arch}: span head",)
    # BertModel / RobertaModel (and sentence-transformers' use of them) carry the pooler.
    return pooler, (f"{arch or 'base model'}: pooler included",)


def _distilbert(c: _Cfg, family: str) -> ConfigCount:
    d = c.integer("dim", "hidden_size")
    layers = c.integer("n_layers", "num_hidden_layers")
    vocab = c.integer("vocab_size")
    positions = c.integer("max_position_embeddings")
    ff = c.integer("hidden_dim", "intermediate_size")
    embedding = (vocab + positions) * d + 2 * d
    layer = (4 * d * d + 4 * d) + 2 * d + (d * ff + ff) + (ff * d + d) + 2 * d
    breakdown = {"embedding": embedding, "layers": layers * layer}
    return ConfigCount(family, sum(breakdown.values()), None, breakdown, fields=tuple(c.used))


# ---------------------------------------------------------------------------------------------------
# Further decoders (issue 17): each checked against a released checkpoint in
# tests/compute/data/real-model-configs (exact where the checkpoint total is known).
# ---------------------------------------------------------------------------------------------------


def _olmo2(c: _Cfg, family: str) -> ConfigCount:
    """OLMo 2: Llama-style with RMSNorm over the full q and k projections and norms after each block."""
    d = c.integer("hidden_size")
    h = c.integer("num_attention_heads")
    kv = c.integer("num_key_value_heads", default=h)
    hd = d // h
    # q_norm over h·hd and k_norm over kv·hd; post-attention and post-feed-forward norms (2d).
    extra_norms = h * hd + kv * hd
    return _decoder(c, family, attn=_Attn(), norms_per_layer=2, extra_per_layer=extra_norms)


def _cohere(c: _Cfg, family: str) -> ConfigCount:
    """Command-R / Aya: one bias-free LayerNorm per layer (attention and MLP in parallel), tied head."""
    qk_norm = 0
    if c.flag("use_qk_norm", False):
        h = c.integer("num_attention_heads")
        kv = c.integer("num_key_value_heads", default=h)
        hd = c.integer("hidden_size") // h
        qk_norm = (h + kv) * hd  # per-head LayerNorm weights, shape (heads, head_dim)
    bias = c.flag("attention_bias", False)
    return _decoder(
        c, family, attn=_Attn(qkv_bias=bias, o_bias=bias), norms_per_layer=1, extra_per_layer=qk_norm
    )


def _internlm2(c: _Cfg, family: str) -> ConfigCount:
    """InternLM2: Llama shapes with a fused wqkv; `bias` covers the attention projections."""
    bias = c.flag("bias", False)
    return _decoder(c, family, attn=_Attn(qkv_bias=bias, o_bias=bias))


def _baichuan(c: _Cfg, family: str) -> ConfigCount:
    """Baichuan 1/2: Llama shapes with a fused W_pack and a normalised head (same parameter count)."""
    return _decoder(c, family, attn=_Attn())


def _stablelm(c: _Cfg, family: str) -> ConfigCount:
    """StableLM (3B-4E1T, 2-1.6B): LayerNorm with bias, optional q/k/v bias and per-head q/k norms."""
    d = c.integer("hidden_size")
    h = c.integer("num_attention_heads")
    kv = c.integer("num_key_value_heads", default=h)
    hd = d // h
    parallel = c.flag("use_parallel_residual", False)
    extra = (h + kv) * hd if c.flag("qk_layernorm", False) else 0  # per-head LayerNorm, no bias
    return _decoder(
        c,
        family,
        attn=_Attn(qkv_bias=c.flag("use_qkv_bias", False)),
        norms_per_layer=2 if parallel else 4,  # LayerNorm weight + bias, one or two per layer
        final_norm=2,
        extra_per_layer=extra,
    )


def _starcoder2(c: _Cfg, family: str) -> ConfigCount:
    """StarCoder2: GQA with biases everywhere (use_bias), a plain GELU MLP, LayerNorm, tied head."""
    bias = c.flag("use_bias", True)
    return _decoder(
        c,
        family,
        attn=_Attn(qkv_bias=bias, o_bias=bias),
        norms_per_layer=4,
        final_norm=2,
        ffn=_plain_mlp(bias),
    )


def _plain_mlp(bias: bool) -> Callable[[_Cfg, int], _LayerFn]:
    def build(c: _Cfg, d: int) -> _LayerFn:
        ff = c.integer("intermediate_size", "n_inner")
        n = 2 * d * ff + ((ff + d) if bias else 0)
        return lambda _i: (n, n)

    return build


def _gpt_oss(c: _Cfg, family: str) -> ConfigCount:
    """gpt-oss: biased GQA with per-head attention sinks; MoE of biased SwiGLU experts, biased router."""

    def ffn(c: _Cfg, d: int) -> _LayerFn:
        experts = c.integer("num_local_experts")
        k = c.integer("num_experts_per_tok", "experts_per_token")
        ff = c.integer("intermediate_size")
        expert = d * 2 * ff + 2 * ff + ff * d + d  # gate_up_proj (+bias), down_proj (+bias)
        router = d * experts + experts
        return lambda _i: (experts * expert + router, k * expert + router)

    h = c.integer("num_attention_heads")
    bias = c.flag("attention_bias", True)
    return _decoder(c, family, attn=_Attn(qkv_bias=bias, o_bias=bias), ffn=ffn, moe=True, extra_per_layer=h)


def _deepseek_v1(c: _Cfg, family: str) -> ConfigCount:
    """DeepSeekMoE (v1): Llama attention; routed + shared SwiGLU experts after `first_k_dense_replace`."""
    return _deepseek(c, family)


def _phi(c: _Cfg, family: str) -> ConfigCount:
    """Phi-1/1.5/2: one LayerNorm per layer (parallel attention and MLP), biases, GELU MLP, biased head.

    Covers both the transformers `phi` config and the original remote-code `phi-msft` (MixFormer) one,
    whose keys follow GPT-2 (n_embd, n_layer, n_inner, n_head_kv).
    """
    d = c.integer("hidden_size", "n_embd")
    layers = c.integer("num_hidden_layers", "n_layer")
    vocab = c.integer("vocab_size")
    h = c.integer("num_attention_heads", "n_head")
    kv = c.integer("num_key_value_heads", "n_head_kv", default=h)
    hd = d // h
    ff = c.integer("intermediate_size", "n_inner", default=4 * d)
    attention = (d * h * hd + h * hd) + 2 * (d * kv * hd + kv * hd) + (h * hd * d + d)
    qk_norm = 4 * hd if c.flag("qk_layernorm", False) else 0  # LayerNorm(head_dim) with bias, q and k
    layer = 2 * d + attention + qk_norm + (d * ff + ff) + (ff * d + d)
    return _untied_or_tied(
        c, family, embedding=vocab * d, layers=layers * layer, norm=2 * d, head=vocab * d + vocab
    )


def _gptj(c: _Cfg, family: str) -> ConfigCount:
    """GPT-J: parallel block with one LayerNorm, bias-free attention, biased MLP and biased head."""
    d = c.integer("n_embd", "hidden_size")
    layers = c.integer("n_layer", "num_hidden_layers")
    vocab = c.integer("vocab_size")
    ff = c.integer("n_inner", default=4 * d)
    layer = 2 * d + 4 * d * d + (d * ff + ff) + (ff * d + d)
    return _untied_or_tied(
        c, family, embedding=vocab * d, layers=layers * layer, norm=2 * d, head=vocab * d + vocab
    )


def _gpt_bigcode(c: _Cfg, family: str) -> ConfigCount:
    """GPTBigCode (SantaCoder, StarCoder 1): GPT-2 with multi-query attention, tied head."""
    d = c.integer("n_embd", "hidden_size")
    h = c.integer("n_head", "num_attention_heads")
    return _gpt2_shape(c, family, qkv=d + 2 * (d // h) if c.flag("multi_query", True) else 3 * d)


def _qwen_v1(c: _Cfg, family: str) -> ConfigCount:
    """Qwen (v1): fused biased c_attn, SwiGLU whose `intermediate_size` is the sum of its two halves."""
    d = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    vocab = c.integer("vocab_size")
    h = c.integer("num_attention_heads")
    proj = c.integer("kv_channels", default=d // h) * h
    ff = c.integer("intermediate_size") // 2
    bias = not c.flag("no_bias", True)  # `no_bias` covers c_proj and the MLP; c_attn always has one
    attention = (d * 3 * proj + 3 * proj) + (proj * d + (d if bias else 0))
    mlp = 3 * d * ff + ((2 * ff + d) if bias else 0)
    layer = attention + mlp + 2 * d
    return _untied_or_tied(c, family, embedding=vocab * d, layers=layers * layer, norm=d, head=vocab * d)


def _chatglm(c: _Cfg, family: str) -> ConfigCount:
    """ChatGLM2/3 (and GLM-4's remote-code config): multi-query groups, fused qkv, SwiGLU MLP."""
    d = c.integer("hidden_size")
    layers = c.integer("num_layers", "num_hidden_layers")
    vocab = c.integer("padded_vocab_size", "vocab_size")
    h = c.integer("num_attention_heads")
    kvc = c.integer("kv_channels", default=d // h)
    groups = c.integer("multi_query_group_num", default=h) if c.flag("multi_query_attention", False) else h
    ff = c.integer("ffn_hidden_size")
    linear_bias = c.flag("add_bias_linear", False)
    qkv_out = h * kvc + 2 * groups * kvc
    qkv_bias = qkv_out if (c.flag("add_qkv_bias", False) or linear_bias) else 0
    attention = d * qkv_out + qkv_bias + h * kvc * d + (d if linear_bias else 0)
    mlp = d * 2 * ff + ff * d + ((2 * ff + d) if linear_bias else 0)
    norm = d if c.flag("rmsnorm", True) else 2 * d
    layer = 2 * norm + attention + mlp
    final = norm if c.flag("post_layer_norm", True) else 0
    return _untied_or_tied(c, family, embedding=vocab * d, layers=layers * layer, norm=final, head=vocab * d)


# ---------------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------------

_Formula = Callable[[_Cfg, str], ConfigCount]

FORMULAS: dict[str, _Formula] = {
    "llama": lambda c, f: _decoder(
        c, f, attn=_Attn(qkv_bias=c.flag("attention_bias", False), o_bias=c.flag("attention_bias", False))
    ),
    "mistral": lambda c, f: _decoder(c, f, attn=_Attn()),
    "phi3": lambda c, f: _decoder(c, f, attn=_Attn()),
    "qwen2": lambda c, f: _decoder(c, f, attn=_Attn(qkv_bias=True)),  # q/k/v biases, no flag says so
    "qwen3": lambda c, f: _decoder(
        c,
        f,
        attn=_Attn(
            qkv_bias=c.flag("attention_bias", False), o_bias=c.flag("attention_bias", False), qk_norm=True
        ),
    ),
    "gemma": lambda c, f: _decoder(c, f, attn=_Attn()),
    "gemma2": lambda c, f: _decoder(c, f, attn=_Attn(), norms_per_layer=4),
    "gemma3_text": lambda c, f: _decoder(c, f, attn=_Attn(qk_norm=True), norms_per_layer=4),
    "mixtral": lambda c, f: _decoder(c, f, attn=_Attn(), ffn=_mixtral_ffn, moe=True),
    "qwen2_moe": lambda c, f: _decoder(
        c, f, attn=_Attn(qkv_bias=True), ffn=_qwen_moe_ffn(shared=True), moe=True
    ),
    "qwen3_moe": lambda c, f: _decoder(
        c,
        f,
        attn=_Attn(
            qkv_bias=c.flag("attention_bias", False), o_bias=c.flag("attention_bias", False), qk_norm=True
        ),
        ffn=_qwen_moe_ffn(shared=False),
        moe=True,
    ),
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "falcon": _falcon,
    "bert": _bert,
    "roberta": _bert,
    "xlm-roberta": _bert,
    "camembert": _bert,
    "distilbert": _distilbert,
    "olmo2": _olmo2,
    "cohere": _cohere,
    "internlm2": _internlm2,
    "baichuan": _baichuan,
    "stablelm": _stablelm,
    "starcoder2": _starcoder2,
    "gpt_oss": _gpt_oss,
    "deepseek": _deepseek_v1,
    "phi": _phi,
    "phi-msft": _phi,
    "gptj": _gptj,
    "gpt_bigcode": _gpt_bigcode,
    "qwen": _qwen_v1,
    "chatglm": _chatglm,
}
_ALIASES = {
    "RefinedWeb": "falcon",
    "RefinedWebModel": "falcon",
    "kimi_k2": "deepseek_v3",
    "stablelm_epoch": "stablelm",
    "mixformer-sequential": "phi-msft",
}
_ARCH_PREFIXES = {
    "LlamaFor": "llama", "MistralFor": "mistral", "Qwen2For": "qwen2", "Qwen3For": "qwen3",
    "GemmaFor": "gemma", "Gemma2For": "gemma2", "MixtralFor": "mixtral", "Phi3For": "phi3", "GPT2": "gpt2",
    "GPTNeoX": "gpt_neox", "FalconFor": "falcon", "RWFor": "falcon", "BertFor": "bert", "BertModel": "bert",
    "RobertaFor": "roberta", "RobertaModel": "roberta", "DistilBert": "distilbert",
    "DeepseekV2": "deepseek_v2", "DeepseekV3": "deepseek_v3", "DeepseekFor": "deepseek",
    "Olmo2For": "olmo2", "CohereFor": "cohere", "InternLM2For": "internlm2", "BaichuanFor": "baichuan",
    "StableLmFor": "stablelm", "Starcoder2For": "starcoder2", "GptOssFor": "gpt_oss", "PhiFor": "phi",
    "GPTJFor": "gptj", "GPTBigCode": "gpt_bigcode", "QWenLMHead": "qwen", "ChatGLM": "chatglm",
}  # fmt: skip

SUPPORTED_MODEL_TYPES = tuple(sorted(FORMULAS))


def family_of(config: dict[str, Any]) -> str | None:
    """The formula family for a config (`model_type`, then `architectures`); None when no formula fits."""
    model_type = config.get("model_type")
    if isinstance(model_type, str):
        model_type = _ALIASES.get(model_type, model_type)
        if model_type in FORMULAS:
            return model_type
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        for prefix, family in _ARCH_PREFIXES.items():
            if architectures[0].startswith(prefix):
                return family
    return None


def tie_default(config: dict[str, Any]) -> bool | None:
    """`tie_word_embeddings` as the model class defaults it, when the config does not say (None: unknown)."""
    family = family_of(config)
    return None if family is None else family in TIED_BY_DEFAULT


def config_formula(config: dict[str, Any]) -> ConfigCount:
    """The config-derived count, or `UnsupportedConfig` saying why there is none."""
    if not isinstance(config, dict):
        raise UnsupportedConfig("config is not a JSON object")
    family = family_of(config)
    if family is not None:
        return _run(family, _Cfg(config))
    text = config.get("text_config")
    if isinstance(text, dict):
        # Vision-language models: the language model's config is nested; its vision tower is not counted here.
        inner = dict(text)
        inner.setdefault("architectures", [])
        text_family = family_of(inner)
        if text_family is not None:
            result = _run(text_family, _Cfg(inner, prefix="text_config."))
            note = "language model only (text_config): the vision tower is not in this formula"
            return ConfigCount(
                result.family, result.total, result.active, result.breakdown, result.extras, result.fields,
                (*result.notes, note),
            )  # fmt: skip
    model_type = config.get("model_type")
    raise UnsupportedConfig(
        f"no parameter formula for model_type {model_type!r}" if model_type else "no model_type"
    )


def _run(family: str, cfg: _Cfg) -> ConfigCount:
    try:
        result = FORMULAS[family](cfg, family)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise UnsupportedConfig(f"{family} config has unusable values ({exc})") from None
    # A count no model can have (more experts per token than experts, a field that empties a layer)
    # means the config is inconsistent: no formula rather than a confident wrong number.
    if result.total <= 0:
        raise UnsupportedConfig(
            f"{family} config gives {result.total} parameters: its sizes are inconsistent"
        )
    if result.active is not None and not 0 < result.active <= result.total:
        raise UnsupportedConfig(
            f"{family} config gives {result.active:,} active of {result.total:,} parameters: more experts "
            "per token than experts, or inconsistent expert sizes"
        )
    return result


def params_from_config(config: dict[str, Any]) -> ConfigCount | None:
    """Total, active (MoE) and per-component parameters from a config.json dict; None without a formula."""
    try:
        return config_formula(config)
    except UnsupportedConfig:
        return None
