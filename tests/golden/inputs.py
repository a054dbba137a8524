"""The inputs of the golden files, built the same way on every run (no clock, no randomness).

- `tiny-llama/`: a two-layer Llama release (config, header-faithful safetensors, card, manifest);
- `scan-samples/`: a pickle that calls `os.system`, a plain pickle and a safetensors file;
- the repository's `examples/planned-405b/modelwarden.yaml` (a manifest-only plan), used in place;
- two assessment documents with a fixed `created_at` and `tool_version`, imported into a registry, so
  that the registry's digests and summaries are the same on every run.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from tests.support.models import llama_tensors, write_config, write_sparse_safetensors

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "examples" / "planned-405b" / "modelwarden.yaml"
AS_OF = "2026-11-22"
FIXED_CREATED_AT = "2026-11-22T12:00:00Z"
FIXED_TOOL_VERSION = "0.0.0-golden"
FIXED_ROOT = "/golden"

TINY_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "vocab_size": 256,
    "tie_word_embeddings": False,
    "max_position_embeddings": 512,
    "torch_dtype": "bfloat16",
}
CARD = """---
license: apache-2.0
datasets: [example/tiny-corpus]
language: [en]
pipeline_tag: text-generation
library_name: transformers
---
# tiny-llama

A two-layer Llama for the golden files. See https://arxiv.org/abs/2302.13971 for the architecture.
"""
MANIFEST = """model:
  name: tiny-llama
  version: "1.0"
  generality: general
  modalities: {input: [text], output: [text]}
training:
  tokens: 1.0e9
release:
  role: provider
  provider: {name: Example Labs Inc., established_in: US}
  markets: [EU]
  weights: public
  license: apache-2.0
components:
  training_code: {location: "https://example.org/tiny-llama/train", license: apache-2.0}
"""
# GLOBAL os.system, then a call on one string: the classic malicious pickle, written as opcodes.
EVIL_PICKLE = b"cos\nsystem\n(S'echo pwned'\ntR."


def build(root: Path) -> None:
    """Every input under `root`."""
    model = root / "tiny-llama"
    write_config(model, TINY_CONFIG)
    write_sparse_safetensors(model / "model.safetensors", llama_tensors(TINY_CONFIG), {"format": "pt"})
    (model / "README.md").write_text(CARD, encoding="utf-8")
    (model / "modelwarden.yaml").write_text(MANIFEST, encoding="utf-8")

    samples = root / "scan-samples"
    samples.mkdir()
    (samples / "evil.pkl").write_bytes(EVIL_PICKLE)
    (samples / "plain.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0], "step": 3}, protocol=4))
    write_sparse_safetensors(samples / "weights.safetensors", {"w": ("F32", (4, 4))}, {"format": "pt"})


def fixed_document(raw: str, root: Path) -> str:
    """An `assess --format json` document with the clock, the tool version and the folder of the
    inputs and the scan's timing pinned (the registry's digest is of the document's bytes)."""
    doc = json.loads(raw.replace(json.dumps(str(root))[1:-1], FIXED_ROOT))
    doc["created_at"] = FIXED_CREATED_AT
    doc["tool_version"] = FIXED_TOOL_VERSION
    if doc.get("scan"):
        doc["scan"]["duration_seconds"] = 0.0
    return json.dumps(doc, indent=2) + "\n"
