"""The hub benchmark's generator (benchmarks/hubgen.py) writes files the real libraries accept, and its
sparse hub serves them as the hub would: the benchmark's numbers are about valid repositories."""

from __future__ import annotations

import json
import math
import pickletools
import zipfile
from collections.abc import Iterator

import gguf
import pytest
from benchmarks.hubgen import (
    MIX,
    REAL_CONFIGS,
    BuiltRepo,
    RepoSpec,
    SparseHub,
    declared_digest,
    generate,
    load_config,
    plan,
    tensors_for,
)
from safetensors import safe_open

from modelwarden.facts.gather import inspect_path
from modelwarden.hub import HubSettings, assess_remote, inspect_remote
from tests.hub.test_remote_inspect import comparable

SPECS = [
    RepoSpec("gen/sharded-3b", "safetensors", "qwen2.5-3b"),  # 2 shards of about 3 GB, tied embeddings
    RepoSpec("gen/single-135m", "safetensors", "smollm-135m"),
    RepoSpec("gen/gguf-135m", "gguf", "smollm-135m", "Q8_0"),
    RepoSpec("gen/gguf-mistral", "gguf", "mistral-7b-instruct-v0.3", "Q4_K_M"),  # K-quants, 32k vocab
    RepoSpec("gen/torch-tiny", "torch", "tiny", "tiny"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltRepo]:
    """The repositories, generated once."""
    out = generate(SPECS, tmp_path_factory.mktemp("hubgen"))
    return {b.spec.repo_id: b for b in out}


@pytest.fixture(scope="module")
def hub(built: dict[str, BuiltRepo]) -> Iterator[SparseHub]:
    """The sparse hub serving them."""
    server = SparseHub()
    for b in built.values():
        server.add_built(b)
    server.start()
    yield server
    server.stop()


def test_sharded_safetensors_open_with_the_safetensors_library(built: dict[str, BuiltRepo]) -> None:
    b = built["gen/sharded-3b"]
    index = json.loads((b.folder / "model.safetensors.index.json").read_text())
    shards = sorted(b.folder.glob("model-*.safetensors"))
    assert [p.name for p in shards] == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    expected = tensors_for(json.loads((b.folder / "config.json").read_text()))
    seen: dict[str, tuple[int, ...]] = {}
    for p in shards:
        with safe_open(str(p), "np") as f:
            assert f.metadata() == {"format": "pt"}
            for k in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                seen[k] = tuple(f.get_slice(k).get_shape())
                assert index["weight_map"][k] == p.name
    assert seen == {k: s for k, (_, s) in expected.items()}
    assert "lm_head.weight" not in seen  # Qwen2.5-3B ties its embeddings
    assert index["metadata"]["total_size"] == sum(math.prod(s) * 2 for s in seen.values())
    assert b.parameters == 3_085_938_688  # Qwen2.5-3B's checkpoint total
    # sparse: gigabytes declared, a few kilobytes on disk
    assert sum(p.stat().st_size for p in shards) > 6e9 > 1e6 > sum(p.stat().st_blocks * 512 for p in shards)


def test_a_tensor_reads_as_zeros(built: dict[str, BuiltRepo]) -> None:
    with safe_open(str(built["gen/single-135m"].folder / "model.safetensors"), "pt") as f:  # BF16: torch
        t = f.get_tensor("model.norm.weight")
    assert tuple(t.shape) == (576,) and not t.any()


@pytest.mark.parametrize(
    ("repo_id", "vocab", "quant"), [("gen/gguf-135m", 49152, "Q8_0"), ("gen/gguf-mistral", 32768, "Q4_K")]
)
def test_gguf_reads_with_the_gguf_library(
    built: dict[str, BuiltRepo], repo_id: str, vocab: int, quant: str
) -> None:
    b = built[repo_id]
    (path,) = b.folder.glob("*.gguf")
    r = gguf.GGUFReader(path)
    arch = r.fields["general.architecture"]
    assert arch.contents() == "llama"
    cfg = json.loads((REAL_CONFIGS / b.spec.slug / "config.json").read_text())
    assert r.fields["llama.block_count"].contents() == cfg["num_hidden_layers"]
    assert len(r.fields["tokenizer.ggml.tokens"].data) == vocab
    names = {t.name for t in r.tensors}
    assert {"token_embd.weight", "blk.0.attn_q.weight", "output_norm.weight"} <= names
    assert any(t.tensor_type.name == quant for t in r.tensors)
    assert sum(int(t.n_elements) for t in r.tensors) == b.parameters
    last = max(r.tensors, key=lambda t: t.data_offset)
    assert last.data_offset + last.n_bytes <= path.stat().st_size  # every tensor inside the file
    assert path.stat().st_blocks * 512 < path.stat().st_size / 10  # and its data a hole


def test_torch_checkpoint_is_a_real_torch_zip(built: dict[str, BuiltRepo]) -> None:
    path = built["gen/torch-tiny"].folder / "pytorch_model.bin"
    with zipfile.ZipFile(path) as z:
        pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        ops = list(pickletools.genops(z.read(pkl)))  # disassembled, never loaded
    strings = {arg for _, arg, _ in ops if isinstance(arg, str)}
    assert {"wte.weight", "h.1.mlp.c_proj.weight", "torch._utils _rebuild_tensor_v2"} <= strings


def test_sparse_hub_serves_declared_digests_and_the_same_facts(
    built: dict[str, BuiltRepo], hub: SparseHub
) -> None:
    settings = HubSettings(endpoint=hub.endpoint)
    for repo_id in ("gen/sharded-3b", "gen/gguf-mistral"):
        b = built[repo_id]
        remote = inspect_remote(repo_id, settings)
        assert comparable(remote) == comparable(inspect_path(b.folder))
        for f in remote.files:
            if f.path in b.declared_sha256:
                assert f.sha256 == b.declared_sha256[f.path] == declared_digest(repo_id, f.path, f.size)
        assert remote.remote is not None
        assert remote.remote.bytes_read == hub.bytes_for(repo_id)
        assert any("not recomputed" in n for n in remote.remote.not_verified)


def test_assessment_counts_the_generated_parameters_for_a_small_fraction(
    built: dict[str, BuiltRepo], hub: SparseHub
) -> None:
    b = built["gen/sharded-3b"]
    a = assess_remote("gen/sharded-3b", HubSettings(endpoint=hub.endpoint))
    assert a.facts.parameters.total == b.parameters
    assert a.facts.remote is not None
    # the weight files' ranges are tiny; the tokenizer.json fetched whole dominates what is read
    assert a.facts.remote.bytes_read < b.bytes_held / 500


def test_plan_has_the_asked_count_and_every_layout() -> None:
    specs = plan(200)
    assert len(specs) == 200 and len({s.repo_id for s in specs}) == 200
    assert {s.kind for s in specs} == {"safetensors", "gguf", "torch"}
    assert any(s.slug == "llama-3.1-405b" for s in specs)
    small = plan(10)  # never fewer than one of each layout
    assert len(small) == len({(s.kind, s.slug, s.variant) for s in small}) == len(MIX)


def test_generated_layouts_hold_the_real_checkpoints_parameter_counts() -> None:
    """Every layout with an exact checkpoint total (truth.json beside the configs) matches it to the
    parameter: the shards' sizes are the real releases' sizes."""
    truth = {e["slug"]: e for e in json.loads((REAL_CONFIGS / "truth.json").read_text())}
    checked = 0
    for kind, slug, _, _ in MIX:
        if kind == "torch" or truth.get(slug, {}).get("gt_kind") != "exact-checkpoint":
            continue
        layout = tensors_for(load_config(slug))
        assert sum(math.prod(s) for _, s in layout.values()) == truth[slug]["gt_total"], slug
        checked += 1
    assert checked >= 20
    # Llama 3.1 405B (its config is not in the data): inspect's count (benchmarks/results/inspect_bench.md)
    assert (
        sum(math.prod(s) for _, s in tensors_for(load_config("llama-3.1-405b")).values()) == 405_853_388_800
    )


def test_assess_reads_a_long_gguf_header_once(built: dict[str, BuiltRepo], hub: SparseHub) -> None:
    # Inspect and the scan walk the same header; the second walk must come from what the first kept.
    b = built["gen/gguf-mistral"]
    header = gguf.GGUFReader(str(next(b.folder.rglob("*.gguf")))).data_offset
    assert header > 1 << 20  # long enough for the reads that bypass the block cache
    settings = HubSettings(endpoint=hub.endpoint)
    inspected = inspect_remote("gen/gguf-mistral", settings).remote
    assessed = assess_remote("gen/gguf-mistral", settings).facts.remote
    assert inspected is not None and assessed is not None
    assert assessed.bytes_read - inspected.bytes_read < header // 4


def test_a_repository_keeps_no_more_long_reads_than_its_budget(hub: SparseHub) -> None:
    from modelwarden.hub.release import open_release
    from modelwarden.hub.remote import ExtentBudget, RemoteFile

    with open_release("gen/gguf-mistral", HubSettings(endpoint=hub.endpoint)) as remote:
        opened = next(s for rel, s in remote.sources.items() if rel.endswith(".gguf"))
        budget = ExtentBudget(1 << 20)  # smaller than one long read: nothing may be kept
        src = RemoteFile(remote.http, opened.url, name=opened.name, size=opened.size, budget=budget)
        first = src.read_at(0, 2 << 20)
        assert src.read_at(0, 2 << 20) == first
        assert src.bytes_received == 2 * (2 << 20)  # fetched again, not held over the budget
        assert budget.remaining == 1 << 20
