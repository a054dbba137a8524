"""Which files hold a model's weights, and how many parameters their tensors make.

A release often ships the same weights more than once: `model.safetensors` beside
`pytorch_model.bin`, an `onnx/` export, fp16 variants of diffusers components, several GGUF
quantisations. Summing every file would double-count, so per component we choose one *primary*
weight set and list the rest as *alternatives* (with their own per-file counts):

1. the format ranked best among the files of the component's own folder (safetensors, then PyTorch,
   GGUF, ONNX, Keras, HDF5, NumPy), or among its sub-folders when its folder holds none;
2. within that format, a sharded index (`*.index.json`) names the shards; otherwise files are merged
   while their tensor names are disjoint (shards) and a file that repeats names already taken is an
   alternative (a variant or a second quantisation). Non-variant names (no `.fp16.`) come first.

Counting then follows docs/reference/compute.md §4.7: parameters only (buffers, quantisation auxiliaries and
training state excluded), packed storage expanded, a tied head counted once; mixture-of-experts
active parameters from the routed-expert tensors and the config's experts-per-token.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from modelwarden.artifacts.tensors import COMPONENTS, ClassifyContext, classify, mark_tied, numel
from modelwarden.model import ArtifactFormat as F
from modelwarden.model import ArtifactInfo, Problem, TensorInfo, TensorKind

_RANK = {
    F.SAFETENSORS: 0, F.TORCH_ZIP: 1, F.TORCH_LEGACY: 1, F.GGUF: 2, F.ONNX: 3, F.KERAS: 4, F.KERAS_H5: 5,
    F.HDF5: 6, F.NPZ: 7, F.NPY: 8, F.TORCHSCRIPT: 9,
}  # fmt: skip
_FAMILY = {F.TORCH_LEGACY: F.TORCH_ZIP}
_VARIANT = re.compile(r"\.(?:fp16|bf16|fp32|fp8|int8|int4|non_ema|ema)\.", re.IGNORECASE)
_EXPERT = re.compile(r"^(?P<layer>.*?)\.experts\.(?P<index>\d+)\.")
_FUSED_EXPERTS = re.compile(
    r"^(?P<layer>.*?)(?:\.experts\.(?:gate_up_proj|down_proj|gate_proj|up_proj|w1|w2|w3|w13_weight|w2_weight)"
    r"(?P<bias>_bias)?(?:\.weight)?|\.ffn_(?:gate|up|down|gate_up)_exps\.weight)$"
)


@dataclass(frozen=True)
class ShardIndex:
    """A sharded checkpoint's index: `weight_map` (tensor -> shard file, relative to the index's folder)."""

    path: str
    weight_map: dict[str, str]

    @property
    def family(self) -> F:
        """The format of the shards the index lists."""
        return F.SAFETENSORS if self.path.endswith(".safetensors.index.json") else F.TORCH_ZIP


@dataclass
class WeightSet:
    """The weight files chosen as the counted set, the ones that repeat them, and what went wrong."""

    primary: list[ArtifactInfo] = field(default_factory=list)
    alternatives: list[ArtifactInfo] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class TensorCount:
    """Parameters counted from tensors: total, active, per component and per dtype."""

    total: int = 0
    active: int | None = None
    breakdown: dict[str, int] = field(default_factory=dict)
    non_parameter_elements: int = 0
    dtypes: dict[str, int] = field(default_factory=dict)
    experts: int | None = None  # routed experts per MoE layer, when the tensors show experts
    tied: bool = False
    warnings: list[str] = field(default_factory=list)


def is_variant(path: str) -> bool:
    """A precision or EMA variant of weights stored beside the main ones (`model.fp16.safetensors`)."""
    return bool(_VARIANT.search(path))


def is_weight_file(info: ArtifactInfo) -> bool:
    """Whether the file's format holds weights."""
    return info.format in _RANK


def select(files: list[ArtifactInfo], folder: str, *, indexes: Sequence[ShardIndex] = ()) -> WeightSet:
    """Choose the primary weight set among `files` (all inside one component) for `folder`."""
    result = WeightSet()
    candidates = [f for f in files if is_weight_file(f) and (f.tensors or f.problems)]
    if not candidates:
        return result
    here = [f for f in candidates if _parent(f.path) == folder]
    pool = here or candidates
    best = min(_RANK[f.format] for f in pool)
    family = _FAMILY.get(_best_format(pool, best), _best_format(pool, best))
    same = sorted(
        (f for f in pool if _FAMILY.get(f.format, f.format) == family),
        key=lambda f: (bool(_VARIANT.search(f.path)), f.path.count("/"), f.path),
    )
    index = next((i for i in indexes if i.family == family), None)
    if index is not None:
        _from_index(result, {f.path: f for f in files}, index, folder)
    else:
        _greedy(result, same)
    chosen = {id(f) for f in result.primary}
    result.alternatives = [f for f in candidates if id(f) not in chosen]
    return result


def _best_format(pool: list[ArtifactInfo], rank: int) -> F:
    return next(f.format for f in pool if _RANK[f.format] == rank)


def _parent(path: str) -> str:
    parent = PurePosixPath(path).parent.as_posix()
    return "" if parent == "." else parent


def _greedy(result: WeightSet, files: list[ArtifactInfo]) -> None:
    taken: set[str] = set()
    for f in files:
        names = {t.name for t in f.tensors}
        if not names:
            continue  # unreadable: reported by its own problems, never part of the count
        if taken and names & taken:
            continue  # repeats weights already taken: a variant, a second quantisation
        result.primary.append(f)
        taken |= names
    if not result.primary and files:
        result.warnings.append("no weight file of this component could be read")


def _from_index(result: WeightSet, by_path: dict[str, ArtifactInfo], index: ShardIndex, folder: str) -> None:
    index_file = index.path
    shards: dict[str, list[str]] = defaultdict(list)
    for tensor, shard in index.weight_map.items():
        shards[(PurePosixPath(folder) / shard).as_posix() if folder else shard].append(tensor)
    for shard, tensors in sorted(shards.items()):
        f = by_path.get(shard)
        if f is None:
            result.problems.append(
                Problem(
                    file=index_file,
                    code="missing_shard",
                    message=f"weight_map names shard {shard!r} ({len(tensors):,} tensors) "
                    "but the file is not there",
                )
            )
            continue
        result.primary.append(f)
        present = {t.name for t in f.tensors}
        if not f.tensors and f.problems:
            result.warnings.append(f"shard {shard} could not be read: its parameters are not in the total")
            continue
        missing = [t for t in tensors if t not in present]
        if missing:
            result.problems.append(
                Problem(
                    file=f.path,
                    code="missing_tensor",
                    message=f"{len(missing):,} tensor(s) the index places here are absent, "
                    f"e.g. {missing[0]!r}",
                )
            )
        extra = present - set(tensors)
        if extra:
            result.warnings.append(
                f"{f.path}: {len(extra):,} tensor(s) not listed in {index_file}, e.g. {sorted(extra)[0]!r}"
            )


def count(
    primary: list[ArtifactInfo], ctx: ClassifyContext, *, experts_per_token: int | None = None
) -> TensorCount:
    """Parameters of a primary weight set (the tensors are classified in place)."""
    result = TensorCount()
    tensors = [t for f in primary for t in f.tensors]
    head = mark_tied(tensors, ctx.tie_word_embeddings)
    result.tied = head is not None
    breakdown: dict[str, int] = defaultdict(int)
    dtypes: dict[str, int] = defaultdict(int)
    for t in tensors:
        if t.kind is TensorKind.PARAMETER:
            breakdown[t.component or "other"] += t.parameters
            dtypes[t.dtype] += t.parameters
        elif t.kind is not TensorKind.TIED:
            result.non_parameter_elements += numel(t.shape)
    order = {c: i for i, c in enumerate(COMPONENTS)}
    result.breakdown = {k: v for k, v in sorted(breakdown.items(), key=lambda kv: order.get(kv[0], 99)) if v}
    result.dtypes = dict(sorted(dtypes.items(), key=lambda kv: -kv[1]))
    result.total = sum(result.breakdown.values())
    _moe_active(result, tensors, experts_per_token)
    for f in primary:
        f.parameters = sum(t.parameters for t in f.tensors)
    return result


def classify_files(files: list[ArtifactInfo], ctx: ClassifyContext) -> None:
    """Mark each tensor's kind and component, and sum each file's parameters."""
    for f in files:
        classify(f.tensors, ctx)
        f.parameters = sum(t.parameters for t in f.tensors)


def _moe_active(result: TensorCount, tensors: list[TensorInfo], k: int | None) -> None:
    routed: dict[str, int] = defaultdict(int)  # layer prefix -> routed-expert parameters
    experts: dict[str, set[int] | int] = {}
    for t in tensors:
        if t.kind is not TensorKind.PARAMETER or t.component == "mtp":
            continue
        m = _EXPERT.match(t.name)
        if m:
            routed[m["layer"]] += t.parameters
            seen = experts.setdefault(m["layer"], set())
            if isinstance(seen, set):
                seen.add(int(m["index"]))
            continue
        m = _FUSED_EXPERTS.match(t.name)
        # Fused expert weights are (experts, in, out); gpt-oss also fuses their biases, (experts, out).
        if m and (len(t.shape) == 3 or (m["bias"] and len(t.shape) == 2)):
            routed[m["layer"]] += t.parameters
            experts[m["layer"]] = t.shape[0]
    if not routed:
        return
    counts = {layer: len(e) if isinstance(e, set) else e for layer, e in experts.items()}
    result.experts = max(counts.values())
    if not k:
        result.warnings.append(
            "the tensors hold routed experts but the number of experts per token is not stated: "
            "active parameters unknown"
        )
        return
    main = result.total - result.breakdown.get("mtp", 0)
    reduction = sum(
        params - params // max(counts[layer], 1) * min(k, counts[layer]) for layer, params in routed.items()
    )
    result.active = main - reduction
