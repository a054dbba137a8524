"""GGUF reader on files written by the `gguf` package (llama.cpp's own writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter
from gguf.quants import quantize

from modelwarden.artifacts.reader import read_artifact
from modelwarden.artifacts.tensors import ClassifyContext, classify
from modelwarden.facts.gather import inspect_path
from modelwarden.model import ArtifactFormat, TensorKind

D, FF, V, L = 64, 128, 100, 2


def write_tiny_llama_gguf(path: Path, *, moe: bool = False) -> int:
    """A two-layer Llama-style GGUF with a quantised matrix; returns its parameter count."""
    w = GGUFWriter(str(path), "llama")
    w.add_name("Tiny Llama GGUF")
    w.add_license("apache-2.0")
    w.add_context_length(2048)
    w.add_block_count(L)
    w.add_token_list([f"tok{i}" for i in range(V)])
    w.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    if moe:
        w.add_expert_count(4)
        w.add_expert_used_count(2)
    params = 0

    def add(name: str, shape: tuple[int, ...], qtype: GGMLQuantizationType | None = None) -> None:
        nonlocal params
        data = np.zeros(shape, dtype=np.float32)
        if qtype is None:
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, quantize(data, qtype), raw_dtype=qtype)
        params += data.size

    add("token_embd.weight", (V, D))
    for i in range(L):
        add(f"blk.{i}.attn_norm.weight", (D,))
        add(f"blk.{i}.attn_q.weight", (D, D), GGMLQuantizationType.Q8_0)
        add(f"blk.{i}.attn_k.weight", (D, D))
        add(f"blk.{i}.attn_v.weight", (D, D))
        add(f"blk.{i}.attn_output.weight", (D, D))
        add(f"blk.{i}.ffn_norm.weight", (D,))
        if moe:
            add(f"blk.{i}.ffn_gate_inp.weight", (4, D))
            add(f"blk.{i}.ffn_gate_exps.weight", (4, FF, D))
            add(f"blk.{i}.ffn_up_exps.weight", (4, FF, D))
            add(f"blk.{i}.ffn_down_exps.weight", (4, D, FF))
        else:
            add(f"blk.{i}.ffn_gate.weight", (FF, D))
            add(f"blk.{i}.ffn_up.weight", (FF, D))
            add(f"blk.{i}.ffn_down.weight", (D, FF))
    add("output_norm.weight", (D,))
    add("output.weight", (V, D))
    w.add_tensor("rope_freqs.weight", np.ones(D // 4, dtype=np.float32))  # rope scaling factors: a buffer
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return params


def test_tensors_metadata_and_logical_shapes(tmp_path: Path) -> None:
    p = tmp_path / "tiny.gguf"
    expected = write_tiny_llama_gguf(p)
    info = read_artifact(p, "tiny.gguf")
    assert info.format is ArtifactFormat.GGUF and not info.problems
    q = next(t for t in info.tensors if t.name == "blk.0.attn_q.weight")
    assert q.dtype == "Q8_0" and q.shape == (D, D)  # logical elements, not bytes of blocks
    classify(info.tensors, ClassifyContext(num_layers=L))
    rope = next(t for t in info.tensors if t.name == "rope_freqs.weight")
    assert rope.kind is TensorKind.BUFFER
    assert sum(t.parameters for t in info.tensors) == expected
    assert info.metadata["general.license"] == "apache-2.0"
    assert info.metadata["tokenizer.ggml.tokens"] == {"array_length": V}
    assert info.bytes_read is not None and info.bytes_read < p.stat().st_size


def test_facts_from_a_single_gguf(tmp_path: Path) -> None:
    p = tmp_path / "tiny.gguf"
    expected = write_tiny_llama_gguf(p)
    facts = inspect_path(p)
    assert facts.parameters.total == expected and facts.parameters.source == "tensors"
    assert facts.name == "Tiny Llama GGUF"
    assert facts.architecture is not None and facts.architecture.value == "llama"
    assert facts.context_length is not None and facts.context_length.value == 2048
    assert facts.context_length.provenance.field == "llama.context_length"
    assert facts.license is not None and facts.license.id == "apache-2.0"
    assert facts.license.provenance is not None and facts.license.provenance.field == "general.license"
    assert facts.tokenizer is not None and facts.tokenizer.vocab_size == V and facts.tokenizer.chat_template
    assert facts.quantization is not None and facts.quantization.value == "gguf:F32"


def test_fused_experts_give_active_parameters(tmp_path: Path) -> None:
    p = tmp_path / "moe.gguf"
    expected = write_tiny_llama_gguf(p, moe=True)
    facts = inspect_path(p)
    assert facts.parameters.total == expected
    routed_per_layer = 3 * 4 * FF * D
    assert facts.parameters.active == expected - L * routed_per_layer // 2  # 2 of 4 experts per token


def test_truncated_tensor_data(tmp_path: Path) -> None:
    p = tmp_path / "cut.gguf"
    expected = write_tiny_llama_gguf(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    info = read_artifact(p, "cut.gguf")
    assert info.problems and {x.code for x in info.problems} == {"offset_out_of_range"}
    assert "beyond the end" in info.problems[0].message and "truncated?" in info.problems[0].message
    assert sum(t.parameters for t in info.tensors) == expected + D // 4  # the header is intact


def test_header_walk_agrees_with_gguf_reader(tmp_path: Path) -> None:
    p = tmp_path / "tiny.gguf"
    write_tiny_llama_gguf(p, moe=True)
    ours = read_artifact(p, "tiny.gguf")
    reader = GGUFReader(p)
    assert [(t.name, t.shape, t.dtype, t.data_offsets[0]) for t in ours.tensors if t.data_offsets] == [
        (t.name, tuple(reversed(t.shape.tolist())), t.tensor_type.name, t.data_offset) for t in reader.tensors
    ]
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key not in ours.metadata:
            continue
        value = ours.metadata[key]
        if isinstance(value, dict):
            assert value == {"array_length": len(field.data)}
        else:
            assert value == field.contents(), key


def test_header_cut_inside_metadata(tmp_path: Path) -> None:
    p = tmp_path / "cut.gguf"
    write_tiny_llama_gguf(p)
    p.write_bytes(p.read_bytes()[:200])
    info = read_artifact(p, "cut.gguf")
    assert info.problems and info.problems[0].code in ("truncated", "invalid_gguf")
    assert not info.tensors


def test_lying_lengths_are_bounded(tmp_path: Path) -> None:
    import struct

    p = tmp_path / "liar.gguf"
    # One key whose declared length is 2**60 bytes: refused before anything is allocated.
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**60) + b"general.name")
    info = read_artifact(p, "liar.gguf")
    assert [x.code for x in info.problems] == ["truncated"] and "metadata key" in info.problems[0].message
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 10**12, 0) + b"\0" * 16)
    info = read_artifact(p, "liar.gguf")
    assert [x.code for x in info.problems] == ["too_many_entries"]


def test_gguf_without_tensors_says_so(tmp_path: Path) -> None:
    # A valid GGUF holding only metadata was reported as "no model files" (the CLI's fallback reason).
    path = tmp_path / "vocab-only.gguf"
    w = GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_token_list(["<s>", "</s>", "hello"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    info = read_artifact(path, "vocab-only.gguf")
    assert info.format is ArtifactFormat.GGUF and info.tensors == []
    assert [(p.code, p.severity) for p in info.problems] == [("no_tensors", "warning")]
    assert "GGUF file declares no tensors" in info.problems[0].message
    facts = inspect_path(path)
    assert facts.parameters.total is None
    assert any(p.code == "no_tensors" for p in facts.problems)
    assert facts.files[0].metadata["llama.block_count"] == 2  # the metadata was still read


def test_gguf_without_tensors_cli_reason(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "vocab-only.gguf"
    w = GGUFWriter(str(path), "llama")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    done = subprocess.run(
        [sys.executable, "-m", "modelwarden", "inspect", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    err = " ".join(done.stderr.split())
    assert done.returncode == 2 and "declares no tensors" in err and "no model files" not in err
