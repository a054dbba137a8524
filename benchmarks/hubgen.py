"""Generate hub repositories of realistic sizes as sparse files, and serve them from a local hub.

Every weight file has its real header and its full declared size, but the data region is a hole
(`truncate`): a 405B-parameter repository (191 shards, 811 GB apparent) takes about a megabyte of disk.

- safetensors: tensor names, shapes and dtypes computed from real architecture configs
  (tests/compute/data/real-model-configs, or the constants below), sharded as transformers does
  (`model-0000i-of-0000N.safetensors` of about 5 GB, `model.safetensors.index.json`); models under
  5 GB as one `model.safetensors`. Headers per the safetensors format (tests/support/models.py).
- GGUF: one file written by the `gguf` package's writer (llama.cpp's own): realistic metadata (the
  architecture's hyper-parameters, a byte-level BPE vocabulary of the model's size with its merges,
  a chat template) and llama.cpp tensor infos with quantised sizes (Q4_K_M-like: Q4_K, Q6_K for
  `output`/`attn_v`/`ffn_down`; Q8_0); the tensor data region is a hole.
- torch: `pytorch_model.bin` written by real `torch.save` (zip format) of a tiny GPT-2-shaped state
  dict. These are small but real: a torch zip cannot be extended sparsely, and building a 10 GB one
  would write 10 GB.
- every repository: config.json (not for GGUF), README.md with a licence in its front matter,
  tokenizer_config.json, and for the safetensors ones a tokenizer.json of the real size (7–9 MB for
  a 128k–152k vocabulary: as on the hub it is a git file, fetched whole by a remote read).

LFS SHA-256 digests cannot be computed for 800 GB of holes in a benchmark: the generator declares one
per LFS file (a digest of the repository, path and size) and `SparseHub` serves it as the hub's
LFS metadata, unverified — as the real hub's LFS records are unverified by a remote read.

Run alone: python benchmarks/hubgen.py OUT --repos 200 (prints the plan's totals).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, tests.hub

from tests.hub.server import HubRepo, LocalHub
from tests.support.models import BYTES, Spec, gpt2_tensors, llama_tensors, qwen3_moe_tensors, shard

# Real config.json files as their publishers ship them (the README there says where each comes from).
REAL_CONFIGS = Path(__file__).resolve().parents[1] / "tests" / "compute" / "data" / "real-model-configs"
SHARD_BYTES = 5_000_000_000  # transformers' default max_shard_size ("5GB") for save_pretrained

# Llama 3.1 405B's config.json (meta-llama/Llama-3.1-405B): not among the shared configs.
LLAMA31_405B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16384,
    "intermediate_size": 53248, "num_hidden_layers": 126, "num_attention_heads": 128,
    "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "torch_dtype": "bfloat16",
}  # fmt: skip

# The mix of repositories, per 200 (scaled to --repos): kind, config slug, count, and for safetensors
# the shard count when the real release differs from ceil(size / 5 GB), for GGUF the quantisation.
# Weighted to small models, as the hub is; the 405B and 70B layouts are there for the worst cases.
MIX: list[tuple[str, str, int, str | int | None]] = [
    ("safetensors", "smollm-135m", 8, None),
    ("safetensors", "qwen2-0.5b", 12, None),
    ("safetensors", "qwen3-0.6b", 8, None),
    ("safetensors", "llama-3.2-1b-instruct", 8, None),
    ("safetensors", "qwen2-1.5b", 8, None),
    ("safetensors", "qwen2.5-3b", 6, None),
    ("safetensors", "qwen2.5-7b", 8, None),
    ("safetensors", "mistral-7b-instruct-v0.3", 6, None),
    ("safetensors", "llama-3.1-8b", 10, None),
    ("safetensors", "qwen3-8b", 6, None),
    ("safetensors", "llama-2-13b", 4, None),
    ("safetensors", "qwen2.5-14b", 4, None),
    ("safetensors", "qwen2.5-32b", 4, None),
    ("safetensors", "qwen3-30b-a3b", 3, None),
    ("safetensors", "mixtral-8x7b-v0.1", 3, 19),
    ("safetensors", "llama-3.1-70b-instruct", 4, 30),
    ("safetensors", "llama-3.1-405b", 2, 191),
    ("gguf", "qwen2-0.5b", 8, "Q8_0"),
    ("gguf", "qwen2-1.5b", 6, "Q4_K_M"),
    ("gguf", "llama-3.2-1b-instruct", 6, "Q4_K_M"),
    ("gguf", "mistral-7b-instruct-v0.3", 8, "Q4_K_M"),
    ("gguf", "llama-3.1-8b", 12, "Q4_K_M"),
    ("gguf", "llama-3.1-8b", 6, "Q8_0"),
    ("gguf", "qwen2.5-14b", 4, "Q4_K_M"),
    ("gguf", "llama-3.1-70b-instruct", 4, "Q4_K_M"),
    ("torch", "tiny", 10, "tiny"),
    ("torch", "small", 10, "small"),
]
LICENSES = {"llama": "llama3.1", "qwen2": "apache-2.0", "qwen3": "apache-2.0", "qwen3_moe": "apache-2.0",
            "mistral": "apache-2.0", "mixtral": "apache-2.0", "gpt2": "mit"}  # fmt: skip
TORCH_CONFIGS = {
    "tiny": {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 256, "vocab_size": 1000},
    "small": {"n_embd": 256, "n_layer": 4, "n_head": 8, "n_positions": 512, "vocab_size": 8000},
}
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
) * 8  # real templates are a few KB (tool use, system prompts)


@dataclass
class RepoSpec:
    """One repository to generate."""

    repo_id: str
    """`org/name` on the local hub."""
    kind: str
    """safetensors, gguf or torch: the weight format, the benchmark's row."""
    slug: str
    """The architecture config it is built from."""
    variant: str | int | None = None
    """Shard count (safetensors), quantisation (gguf) or size (torch)."""


@dataclass
class BuiltRepo:
    """A generated repository on disk."""

    spec: RepoSpec
    """What was asked for."""
    folder: Path
    """Its files."""
    declared_sha256: dict[str, str] = field(default_factory=dict)
    """Declared LFS digests of the sparse files (path in the repository -> hex)."""
    bytes_held: int = 0
    """Apparent size of all its files."""
    parameters: int = 0
    """Parameters its weights declare (elements of the tensors)."""


def plan(n: int) -> list[RepoSpec]:
    """`n` repositories in the proportions of MIX (deterministic; at least one of each layout)."""
    total = sum(c for _, _, c, _ in MIX)
    counts = [max(1, round(c * n / total)) for _, _, c, _ in MIX]
    while sum(counts) > n and max(counts) > 1:  # rounding: trim the largest groups
        counts[counts.index(max(counts))] -= 1
    i = 0
    while sum(counts) < n:
        counts[i % len(counts)] += 1
        i += 1
    out = []
    for (kind, slug, _, variant), count in zip(MIX, counts, strict=True):
        for k in range(count):
            tag = f"-{variant}".lower() if kind == "gguf" else ""
            out.append(RepoSpec(f"bench-{kind}/{slug}{tag}-{k:03d}", kind, slug, variant))
    return out


def load_config(slug: str) -> dict[str, Any]:
    """A real model's config.json."""
    if slug == "llama-3.1-405b":
        return dict(LLAMA31_405B)
    cfg: dict[str, Any] = json.loads((REAL_CONFIGS / slug / "config.json").read_text())
    return cfg


def tensors_for(cfg: dict[str, Any]) -> Spec:
    """Hugging Face tensor names and shapes of a config's model (BF16)."""
    mt = cfg["model_type"]
    if mt in ("qwen3", "qwen3_moe"):
        cfg = {**cfg, "head_dim": cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]}
        return qwen3_moe_tensors(cfg)
    out = llama_tensors(cfg)
    if mt == "qwen2":  # Qwen2 projects q, k and v with a bias
        d, h = cfg["hidden_size"], cfg["num_attention_heads"]
        kv, hd = cfg.get("num_key_value_heads", h), d // h
        with_bias: Spec = {}
        for name, spec in out.items():
            with_bias[name] = spec
            for proj, rows in (("q_proj", h * hd), ("k_proj", kv * hd), ("v_proj", kv * hd)):
                if name.endswith(f"self_attn.{proj}.weight"):
                    with_bias[name.replace(".weight", ".bias")] = ("BF16", (rows,))
        out = with_bias
    return out


def nbytes(spec: Spec) -> int:
    """Bytes of the tensors' data."""
    return sum(math.prod(s) * BYTES[d] for d, s in spec.values())


def declared_digest(repo_id: str, rel: str, size: int) -> str:
    """The LFS SHA-256 declared for a sparse file (not the digest of its bytes)."""
    return hashlib.sha256(f"{repo_id}\0{rel}\0{size}".encode()).hexdigest()


def write_sparse_safetensors(path: Path, tensors: Spec, metadata: dict[str, str]) -> int:
    """A safetensors file with its real header (JSON per the format: dtype, shape, data_offsets,
    `__metadata__`; padded with spaces to 8 bytes) and a hole for the data; returns its size."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as fh:
        fh.write(len(raw).to_bytes(8, "little"))
        fh.write(raw)
        fh.truncate(8 + len(raw) + offset)
    return 8 + len(raw) + offset


# -- tokenizers: a deterministic byte-level BPE vocabulary of the model's size --------------------------


def vocab_tokens(n: int) -> list[str]:
    """`n` distinct token strings of realistic length (6-7 characters on average, as in GPT-style
    byte-level BPE vocabularies), the first 256 the single bytes."""
    alphabet = "etaoinshrdlucmfwypvbgkqjxz"
    out = [chr(0x100 + i) if i < 33 or 126 < i < 161 else chr(i) for i in range(256)]
    i = 0
    while len(out) < n:
        word, k = "", i
        while True:
            word += alphabet[k % 26]
            k //= 26
            if k == 0:
                break
        out.append(("Ġ" if i % 3 == 0 else "") + word + alphabet[i % 7] * (1 + i % 4))
        i += 1
    return out[:n]


def merges_for(tokens: list[str], count: int) -> list[str]:
    """`count` merge rules "a b" over the vocabulary."""
    return [f"{tokens[256 + i % (len(tokens) - 256)][:3]} {tokens[256 + (7 * i) % (len(tokens) - 256)][3:]}"
            for i in range(count)]  # fmt: skip


def merge_count(vocab: int) -> int:
    """Merges a byte-level BPE vocabulary of this size ships (Llama 3: 280,147 for 128,256 tokens;
    Qwen2: 151,387 for 151,646): roughly the vocabulary, twice it for Llama 3's tiktoken export."""
    return 280_147 if vocab == 128_256 else max(0, vocab - 260)


def tokenizer_json(vocab: int, cache: Path) -> Path:
    """A tokenizer.json (tokenizers' format: BPE model, vocab, merges) for a vocabulary size, built
    once per size in `cache` (and hard-linked into each repository)."""
    path = cache / f"tokenizer-{vocab}.json"
    if not path.exists():
        tokens = vocab_tokens(vocab)
        doc = {
            "version": "1.0",
            "added_tokens": [{"id": vocab - 1, "content": "<|eot_id|>", "special": True}],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
            "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(tokens)},
                      "merges": merges_for(tokens, merge_count(vocab))},
        }  # fmt: skip
        # tokenizers saves pretty-printed (one vocabulary entry per line), hence real files' 7-9 MB
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2))
    return path


# -- the repositories -------------------------------------------------------------------------------------


def card(spec: RepoSpec, license_id: str, extra: str = "") -> str:
    """README.md as on the hub: YAML front matter (licence, tags, base model) then prose."""
    return (
        f"---\nlicense: {license_id}\nlibrary_name: transformers\npipeline_tag: text-generation\n"
        f"language:\n- en\ntags:\n- {spec.kind}\nbase_model: upstream/{spec.slug}\n{extra}---\n"
        f"# {spec.repo_id.split('/')[1]}\n\nA {spec.slug} release ({spec.kind}) generated for the hub "
        "benchmark: real headers, sparse weights.\n\n## Intended use\n\nBenchmarking only.\n"
    )


def _text_files(folder: Path, spec: RepoSpec, cfg: dict[str, Any], license_id: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(card(spec, license_id))
    tok = {"model_max_length": cfg.get("max_position_embeddings", 2048),
           "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>",
           "eos_token": "<|eot_id|>", "chat_template": CHAT_TEMPLATE}  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(tok, indent=2))
    if spec.kind != "gguf":
        (folder / "config.json").write_text(json.dumps(cfg, indent=2))
        (folder / "generation_config.json").write_text(json.dumps({"do_sample": True, "temperature": 0.6}))


def build_safetensors(spec: RepoSpec, folder: Path, cache: Path) -> BuiltRepo:
    """Sparse safetensors shards (or one file under 5 GB) and the index, with the text files."""
    cfg = load_config(spec.slug)
    _text_files(folder, spec, cfg, LICENSES.get(cfg["model_type"], "other"))
    os.link(tokenizer_json(cfg["vocab_size"], cache), folder / "tokenizer.json")
    tensors = tensors_for(cfg)
    total = nbytes(tensors)
    count = int(spec.variant) if isinstance(spec.variant, int) else max(1, math.ceil(total / SHARD_BYTES))
    built = BuiltRepo(spec, folder, parameters=sum(math.prod(s) for _, s in tensors.values()))
    if count == 1:
        names = {"model.safetensors": tensors}
    else:
        parts = shard(tensors, count)
        names = {f"model-{i:05d}-of-{len(parts):05d}.safetensors": p for i, p in enumerate(parts, start=1)}
        weight_map = {t: n for n, p in names.items() for t in p}
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    for name, part in names.items():
        size = write_sparse_safetensors(folder / name, part, {"format": "pt"})
        built.declared_sha256[name] = declared_digest(spec.repo_id, name, size)
    built.bytes_held = _held(folder)
    return built


# llama.cpp's tensor names for the llama graph (Hugging Face name suffix -> GGUF name suffix).
_GGUF_NAMES = {
    "input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight", "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
}  # fmt: skip


def gguf_name(hf: str) -> str:
    """The llama.cpp name of a Hugging Face tensor name."""
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    _, _, layer, rest = hf.split(".", 3)
    return f"blk.{layer}.{_GGUF_NAMES[rest]}"


def gguf_type(name: str, shape: tuple[int, ...], quant: str) -> Any:
    """The quantisation llama.cpp would give a tensor: norms and biases F32; Q4_K_M: Q6_K for the
    output, attn_v and ffn_down, Q4_K for the rest; Q8_0; Q8_0 where rows do not split in 256."""
    from gguf import GGMLQuantizationType as Q

    if len(shape) == 1:
        return Q.F32
    if quant == "Q8_0":
        return Q.Q8_0
    if shape[-1] % 256:
        return Q.Q8_0
    six = name == "output.weight" or name.endswith(("attn_v.weight", "ffn_down.weight"))
    return Q.Q6_K if six else Q.Q4_K


def gguf_header(cfg: dict[str, Any], quant: str, name: str, path: Path) -> tuple[int, int, int]:
    """Write a GGUF with llama.cpp's metadata and tensor infos and a sparse data region, with the
    gguf package's writer; returns (file size, parameters, where the tensor data begins)."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGUFWriter, LlamaFileType

    arch = {"qwen2": "qwen2", "qwen3": "qwen3"}.get(cfg["model_type"], "llama")
    d, h = cfg["hidden_size"], cfg["num_attention_heads"]
    vocab = cfg["vocab_size"]
    w = GGUFWriter(str(path), arch)
    w.add_name(name)
    w.add_quantization_version(2)
    w.add_file_type(LlamaFileType.MOSTLY_Q8_0 if quant == "Q8_0" else LlamaFileType.MOSTLY_Q4_K_M)
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(d)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(h)
    w.add_head_count_kv(cfg.get("num_key_value_heads", h))
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-5)))
    w.add_vocab_size(vocab)
    tokens = vocab_tokens(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe" if arch == "llama" else arch)
    w.add_token_list(tokens)
    w.add_token_types([1] * vocab)
    w.add_token_merges(merges_for(tokens, merge_count(vocab)))
    w.add_bos_token_id(0)
    w.add_eos_token_id(vocab - 1)
    w.add_chat_template(CHAT_TEMPLATE)
    data = 0
    params = 0
    for hf_name, (_, shape) in tensors_for(cfg).items():
        gname = gguf_name(hf_name)
        qt = gguf_type(gname, shape, quant)
        block, type_size = GGML_QUANT_SIZES[qt]
        size = math.prod(shape) // block * type_size
        w.add_tensor_info(gname, shape, np.dtype(np.float32), size, raw_dtype=qt)
        data += GGUFWriter.ggml_pad(size, w.data_alignment)
        params += math.prod(shape)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    assert w.fout is not None
    fh = w.fout[0]
    start = GGUFWriter.ggml_pad(fh.tell(), w.data_alignment)
    fh.truncate(start + data)
    w.close()
    return start + data, params, start


def build_gguf(spec: RepoSpec, folder: Path, cache: Path) -> BuiltRepo:
    """One GGUF file (header built once per layout in `cache`, copied: header bytes, then a hole)."""
    cfg = load_config(spec.slug)
    quant = str(spec.variant)
    _text_files(folder, spec, cfg, LICENSES.get(cfg["model_type"], "other"))
    template = cache / f"{spec.slug}-{quant}.gguf"
    meta = cache / f"{spec.slug}-{quant}.json"
    if not meta.exists():
        size, params, start = gguf_header(cfg, quant, spec.slug, template)
        meta.write_text(json.dumps({"size": size, "params": params, "header": start}))
    info = json.loads(meta.read_text())
    rel = f"{spec.slug}-{quant}.gguf"
    with template.open("rb") as src, (folder / rel).open("wb") as dst:
        dst.write(src.read(info["header"]))
        dst.truncate(info["size"])
    built = BuiltRepo(spec, folder, parameters=info["params"])
    built.declared_sha256[rel] = declared_digest(spec.repo_id, rel, info["size"])
    built.bytes_held = _held(folder)
    return built


def build_torch(spec: RepoSpec, folder: Path, cache: Path) -> BuiltRepo:
    """A tiny GPT-2-shaped state dict saved by torch.save (zip format), all of it real."""
    import torch

    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_ctx": 0,
           **TORCH_CONFIGS[str(spec.variant)]}  # fmt: skip
    cfg["n_ctx"] = cfg["n_positions"]
    _text_files(folder, spec, cfg, "mit")
    shapes = gpt2_tensors(cfg, mask_buffers=False)
    state = {k: torch.zeros(s, dtype=torch.float32) for k, (_, s) in shapes.items()}
    torch.save(state, folder / "pytorch_model.bin")
    built = BuiltRepo(spec, folder, parameters=sum(math.prod(s) for _, s in shapes.values()))
    built.bytes_held = _held(folder)
    return built


BUILDERS = {"safetensors": build_safetensors, "gguf": build_gguf, "torch": build_torch}


def _held(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def generate(specs: list[RepoSpec], out: Path) -> list[BuiltRepo]:
    """Build every repository under `out` (one folder each; shared headers and tokenizers in
    `out/_cache`)."""
    cache = out / "_cache"
    cache.mkdir(parents=True, exist_ok=True)
    built = []
    for spec in specs:
        folder = out / spec.repo_id.replace("/", "__") / spec.repo_id.split("/")[1]
        shutil.rmtree(folder.parent, ignore_errors=True)  # a previous run's copy
        built.append(BUILDERS[spec.kind](spec, folder, cache))
    return built


# -- serving them --------------------------------------------------------------------------------------


class SparseHub(LocalHub):
    """The local test hub, serving sparse repositories whose LFS digests are declared rather than
    hashed (tests/hub/server.py would read 800 GB of holes to hash a 405B repository)."""

    def __init__(self) -> None:
        super().__init__()
        self._blob_ids: dict[tuple[int, int], str] = {}

    def add_built(self, built: BuiltRepo) -> HubRepo:
        """Serve a generated repository: sizes from the files, git blob ids hashed (small text files,
        cached by inode: the tokenizer.json links), LFS digests as declared."""
        repo = HubRepo(built.spec.repo_id, built.folder)
        for p in sorted(built.folder.rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(built.folder).as_posix()
            st = p.stat()
            entry: dict[str, Any] = {"rfilename": rel, "size": st.st_size}
            if rel in built.declared_sha256 or rel.endswith((".bin", ".gguf", ".safetensors")):
                digest = built.declared_sha256.get(rel) or _sha256_small(p)
                pointer = (
                    f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\nsize {st.st_size}\n"
                )
                entry["blobId"] = _blob_id(pointer.encode())
                entry["lfs"] = {"sha256": digest, "size": st.st_size, "pointerSize": len(pointer)}
                repo.lfs[rel] = digest
            else:
                key = (st.st_dev, st.st_ino)
                if key not in self._blob_ids:
                    self._blob_ids[key] = _blob_id(p.read_bytes())
                entry["blobId"] = self._blob_ids[key]
            repo.siblings.append(entry)
        self.repos[repo.repo_id] = repo
        return repo


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _sha256_small(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    """Generate a plan's repositories and print what they hold."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--repos", type=int, default=200)
    args = ap.parse_args()
    built = generate(plan(args.repos), args.out)
    held: Counter[str] = Counter()
    for b in built:
        held[b.spec.kind] += b.bytes_held
    disk = sum(p.stat().st_blocks * 512 for p in args.out.rglob("*") if p.is_file())
    print(
        f"{len(built)} repositories, {sum(held.values()) / 1e12:.2f} TB apparent, {disk / 1e6:.0f} MB on disk"
    )
    for kind, n in sorted(held.items()):
        print(f"  {kind}: {n / 1e9:,.1f} GB")


if __name__ == "__main__":
    main()
