"""Parameter counts of a release: per component, from tensors and from config formulas.

For each unit of the release (the model; or each diffusers component / sentence-transformers module)
the primary weight set is chosen (`weights.select`), its tensors are classified with what the unit's
config.json says (layer count for MTP detection, quantisation bits, tied embeddings) and counted
(`weights.count`). The config formula (`compute.params`) gives an independent figure: when both
exist, tensors win and the formula's figure is reported beside it; a disagreement beyond the known
artefacts (docs/reference/compute.md §4.7) is a warning that says by how much and, where it can, why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelwarden.artifacts.reader import WEIGHT_FORMATS
from modelwarden.artifacts.safetensors import read_index
from modelwarden.artifacts.tensors import ClassifyContext
from modelwarden.facts import weights
from modelwarden.facts.config_formulas import ConfigCount, UnsupportedConfig, config_formula, tie_default
from modelwarden.facts.files import ReleaseFiles, as_dict, compressed_tensors_bits, config_int
from modelwarden.facts.parameter_count import resolve_counts
from modelwarden.manifest import Manifest
from modelwarden.model import (
    ArtifactFormat,
    ArtifactInfo,
    ComponentFacts,
    Layout,
    Provenance,
    Source,
)
from modelwarden.release import ComponentSpec

# Components the config formulas do not cover: excluded when the two counts are compared.
OUTSIDE_FORMULA = ("mtp", "vision", "audio", "adapter")
_K_KEYS = (
    "num_experts_per_tok",
    "num_experts_per_token",
    "experts_per_token",
    "moe_topk",
    "num_selected_experts",
    "moe_k",
)


def gather_parameters(files: ReleaseFiles) -> None:
    """Fill `parameters`, `components` and `dtypes` of `files.facts`."""
    _Counter(files).run()


@dataclass
class _Unit:
    """A part of the release counted on its own: the model, a diffusers component, an ST module."""

    name: str
    folder: str
    spec: ComponentSpec | None
    files: list[ArtifactInfo] = field(default_factory=list)
    tensors: weights.TensorCount | None = None
    config: ConfigCount | None = None
    config_rel: str | None = None


class _Counter:
    def __init__(self, files: ReleaseFiles) -> None:
        self.f = files

    def _units(self) -> list[_Unit]:
        specs = self.f.release.components
        if self.f.release.layout is Layout.DIFFUSERS:
            units = [_Unit(s.name, s.path, s) for s in specs]
        elif self.f.release.layout is Layout.SENTENCE_TRANSFORMERS and specs:
            units = [_Unit(s.name, s.path, s) for s in specs]
            if not any(u.folder == "" for u in units):
                units.insert(0, _Unit("model", "", None))
        else:
            units = [_Unit("adapter" if self.f.release.layout is Layout.PEFT_ADAPTER else "model", "", None)]
        folders = sorted({u.folder for u in units}, key=len, reverse=True)
        for info in self.f.facts.files:
            if info.format not in WEIGHT_FORMATS and not (
                info.problems and info.format is ArtifactFormat.UNKNOWN
            ):
                continue
            owner = next((fo for fo in folders if fo == "" or info.path.startswith(fo + "/")), None)
            if owner is None:
                continue
            for u in units:
                if u.folder == owner:
                    u.files.append(info)
                    info.component = u.name if len(units) > 1 else None
                    break
        return units

    def run(self) -> None:
        units = self._units()
        for unit in units:
            self._count_unit(unit)
        main = next((u for u in units if u.folder == ""), None) if len(units) > 1 else units[0]
        counted = [u for u in units if u.tensors is not None and u.tensors.total > 0]
        if counted:
            self._from_tensors(counted, main)
        elif main is not None and main.config is not None:
            self._from_config(main)
        elif self.f.manifest is not None and self.f.manifest.model.parameters:
            self._from_manifest(self.f.manifest)
        if main is not None and main.config is not None:
            self.f.facts.parameters.notes.extend(f"config formula: {note}" for note in main.config.notes)
        self._lookup(main)
        self._components(units)
        self._manifest_check()

    def _from_tensors(self, counted: list[_Unit], main: _Unit | None) -> None:
        pc = self.f.facts.parameters
        counts = [u.tensors for u in counted if u.tensors is not None]
        pc.total = sum(c.total for c in counts)
        pc.source = "tensors"
        pc.non_parameter_elements = sum(c.non_parameter_elements for c in counts)
        if len(counted) == 1:
            pc.breakdown = dict(counts[0].breakdown)
        else:
            pc.breakdown = {u.name: u.tensors.total for u in counted if u.tensors is not None}
        dtypes: dict[str, int] = {}
        for c in counts:
            for k, v in c.dtypes.items():
                dtypes[k] = dtypes.get(k, 0) + v
        self.f.facts.dtypes = dict(sorted(dtypes.items(), key=lambda kv: -kv[1]))
        primary = [f.path for u in counted for f in u.files if f.role == "primary"]
        pc.provenance = Provenance(
            source=Source.TENSORS,
            file=_files_label(primary),
            note="tensor headers; buffers, quantisation auxiliaries and training state excluded, "
            "packed weights expanded, tied matrices counted once",
        )
        if main is None or main.tensors is None or not main.tensors.total:
            return
        pc.active = main.tensors.active
        pc.experts = main.tensors.experts
        for w in main.tensors.warnings:
            self.f.warn(w)
        if main.config is not None:
            pc.config_total = main.config.total
            pc.config_active = main.config.active
            if pc.active is None and main.tensors.experts and main.config.active is not None:
                pc.active = main.config.active  # experts in the tensors, top-k only in the formula
            self._compare(main)

    def _from_config(self, main: _Unit) -> None:
        pc, cfg = self.f.facts.parameters, main.config
        assert cfg is not None
        pc.total, pc.active, pc.source = cfg.total, cfg.active, "config"
        pc.config_total, pc.config_active = cfg.total, cfg.active
        pc.breakdown = dict(cfg.breakdown)
        pc.provenance = Provenance(
            source=Source.CONFIG,
            file=main.config_rel,
            note=f"{cfg.family} formula (docs/reference/compute.md §4.7) over " + ", ".join(cfg.fields[:12]),
        )
        self.f.warn("no readable weights: the parameter count comes from the config formula alone")

    def _lookup(self, main: _Unit | None) -> None:
        """The lookup-only parameters and the active figure without them (docs/compute.md)."""
        pc = self.f.facts.parameters
        if pc.source == "config" and main is not None and main.config is not None:
            pc.input_embedding = main.config.input_lookup
        elif pc.source == "tensors" and main is not None and main.tensors is not None:
            tc, cfg = main.tensors, main.config
            outside = sum(tc.breakdown.get(c, 0) for c in OUTSIDE_FORMULA)
            if cfg is not None and tc.total - outside == cfg.total:
                pc.input_embedding = cfg.input_lookup  # the formula knows which tables are lookups
            elif not tc.tied and "head" in tc.breakdown:
                pc.input_embedding = tc.breakdown.get("embedding")
            # tied, or no head found: which part of the embedding is a lookup is not known
        if pc.active is not None and pc.input_embedding is not None:
            pc.active_without_input_embedding = pc.active - pc.input_embedding

    def _from_manifest(self, manifest: Manifest) -> None:
        pc = self.f.facts.parameters
        pc.total = int(manifest.model.parameters) if manifest.model.parameters else None
        pc.active = int(manifest.model.active_parameters) if manifest.model.active_parameters else None
        pc.source = "manifest"
        where = self.f.release.manifest.name if self.f.release.manifest else None
        pc.provenance = Provenance(source=Source.MANIFEST, file=where, field="model.parameters")

    def _count_unit(self, unit: _Unit) -> None:
        config_rel = f"{unit.folder}/config.json" if unit.folder else self.f.config_rel
        doc = self.f.json(config_rel) if config_rel is not None and config_rel in self.f.names else None
        config: dict[str, Any] = doc if isinstance(doc, dict) else {}
        if config:
            try:
                unit.config = config_formula(config)
                unit.config_rel = config_rel
            except UnsupportedConfig as exc:
                if unit.folder == "" and self.f.release.layout is not Layout.DIFFUSERS:
                    self.f.facts.parameters.notes.append(f"no config formula: {exc}")
        chosen = weights.select(unit.files, unit.folder, indexes=self._indexes(unit.folder))
        self.f.facts.problems.extend(chosen.problems)
        for w in chosen.warnings:
            self.f.warn(w)
        for f in chosen.primary:
            f.role = "primary"
        for f in chosen.alternatives:
            f.role = "alternative"
        ctx = self._context(config, chosen.primary)
        weights.classify_files(chosen.primary + chosen.alternatives, ctx)
        if chosen.primary:
            k = self._experts_per_token(config, chosen.primary)
            unit.tensors = weights.count(chosen.primary, ctx, experts_per_token=k)
            if unit.tensors.tied:
                self.f.facts.parameters.notes.append(
                    "output head stored but tied to the embedding: counted once"
                )

    def _indexes(self, folder: str) -> list[weights.ShardIndex]:
        """The sharded-checkpoint indexes directly in `folder` (variant indexes such as .fp16. aside)."""
        prefix = f"{folder}/" if folder else ""
        found = []
        for name in sorted(self.f.names):
            if not name.startswith(prefix) or "/" in name[len(prefix) :]:
                continue
            if not name.endswith((".safetensors.index.json", ".bin.index.json", ".pt.index.json")):
                continue
            if weights.is_variant(name):
                continue
            doc = self.f.json(name)
            if doc is None:
                continue
            weight_map, total_size, problems = read_index(doc, name)
            self.f.facts.problems.extend(problems)
            if total_size is not None:
                self._check_index_bytes(name, folder, weight_map, total_size)
            found.append(weights.ShardIndex(name, weight_map))
        return found

    def _check_index_bytes(
        self, index_rel: str, folder: str, weight_map: dict[str, str], total_size: int
    ) -> None:
        prefix = f"{folder}/" if folder else ""
        shards = {prefix + s for s in weight_map.values()}
        infos = [self.f.artifacts[s] for s in shards if s in self.f.artifacts and self.f.artifacts[s].tensors]
        if len(infos) != len(shards):
            return
        stored = sum(
            t.data_offsets[1] - t.data_offsets[0]
            for f in infos for t in f.tensors if t.data_offsets is not None and t.name in weight_map
        )  # fmt: skip
        if stored and stored != total_size:
            self.f.warn(
                f"{index_rel}: metadata.total_size says {total_size:,} bytes but the shards' tensors take "
                f"{stored:,} bytes (total_size is bytes, not parameters)"
            )

    def _context(self, config: dict[str, Any], primary: list[ArtifactInfo]) -> ClassifyContext:
        text = as_dict(config.get("text_config"))
        layers = config_int(config, "num_hidden_layers", "n_layer", "num_layers") or config_int(
            text, "num_hidden_layers"
        )
        quant = as_dict(config.get("quantization_config"))
        bits = config_int(quant, "bits", "w_bit") or compressed_tensors_bits(quant)
        if bits is None and "quantize_config.json" in self.f.names:
            bits = config_int(self.f.json("quantize_config.json") or {}, "bits")
        tie: bool | None = None
        for source in (config, text):
            if isinstance(source.get("tie_word_embeddings"), bool):
                tie = source["tie_word_embeddings"]
                break
        else:
            tie = tie_default(config) if config else None
        for f in primary:
            if f.format is ArtifactFormat.GGUF and layers is None:
                arch = f.metadata.get("general.architecture")
                layers = f.metadata.get(f"{arch}.block_count") if isinstance(arch, str) else None
        return ClassifyContext(
            num_layers=layers if isinstance(layers, int) else None,
            quant_bits=bits or 4,
            tie_word_embeddings=tie,
        )

    def _experts_per_token(self, config: dict[str, Any], primary: list[ArtifactInfo]) -> int | None:
        text = as_dict(config.get("text_config"))
        k = config_int(config, *_K_KEYS) or config_int(text, *_K_KEYS)
        if k is None:
            for f in primary:
                arch = f.metadata.get("general.architecture")
                value = f.metadata.get(f"{arch}.expert_used_count") if isinstance(arch, str) else None
                if isinstance(value, int):
                    return value
        return k

    def _compare(self, unit: _Unit) -> None:
        tc, cfg = unit.tensors, unit.config
        if tc is None or cfg is None:
            return
        outside = sum(tc.breakdown.get(c, 0) for c in OUTSIDE_FORMULA)
        comparable = tc.total - outside
        if comparable != cfg.total:
            diff = comparable - cfg.total
            why = _explain(diff, self.f.config)
            scope = (
                f" (excluding {', '.join(c for c in OUTSIDE_FORMULA if tc.breakdown.get(c))})"
                if outside
                else ""
            )
            self.f.facts.parameters.warnings.append(
                f"tensors{scope} hold {comparable:,} parameters but the {cfg.family} formula over "
                f"{unit.config_rel} "
                f"gives {cfg.total:,} ({diff:+,}, {abs(diff) / max(cfg.total, 1):.2%}){why}"
            )
        if (
            tc.active is not None
            and cfg.active is not None
            and tc.active != cfg.active
            and comparable == cfg.total
        ):
            self.f.facts.parameters.warnings.append(
                f"active parameters from tensors ({tc.active:,}) differ from the config formula "
                f"({cfg.active:,})"
            )
        mtp = tc.breakdown.get("mtp")
        if mtp and cfg.extras.get("mtp") and mtp != cfg.extras["mtp"]:
            self.f.facts.parameters.warnings.append(
                f"multi-token-prediction tensors hold {mtp:,} parameters; "
                f"the config implies {cfg.extras['mtp']:,}"
            )

    def _manifest_check(self) -> None:
        if self.f.manifest is None or self.f.release.layout is Layout.PEFT_ADAPTER:
            return
        where = self.f.release.manifest.name if self.f.release.manifest else None
        resolved = resolve_counts(self.f.facts.parameters, self.f.manifest, manifest_file=where)
        self.f.facts.parameters = resolved  # disagreements and their warnings recorded in it

    def _components(self, units: list[_Unit]) -> None:
        if len(units) > 1 or self.f.release.layout is Layout.DIFFUSERS:
            for u in units:
                total = u.tensors.total if u.tensors is not None and u.tensors.total else None
                self.f.facts.components.append(
                    ComponentFacts(
                        name=u.name,
                        path=u.folder or None,
                        class_name=u.spec.class_name if u.spec else None,
                        library=u.spec.library if u.spec else None,
                        parameters=total,
                        source="tensors" if total is not None else None,
                    )
                )
            return
        # One checkpoint holding several models: a vision or audio tower, multi-token-prediction layers.
        breakdown = self.f.facts.parameters.breakdown if self.f.facts.parameters.source == "tensors" else {}
        extra = {c: breakdown[c] for c in OUTSIDE_FORMULA if breakdown.get(c)}
        if extra:
            core = sum(breakdown.values()) - sum(extra.values())
            self.f.facts.components.append(
                ComponentFacts(name="language_model", parameters=core, source="tensors")
            )
            for name, n in extra.items():
                self.f.facts.components.append(ComponentFacts(name=name, parameters=n, source="tensors"))


def _explain(diff: int, config: dict[str, Any]) -> str:
    d = config_int(config, "hidden_size", "n_embd", "dim") or 0
    vocab = config_int(config, "vocab_size") or 0
    if vocab and d and abs(diff) == vocab * d:
        return (
            ": exactly one vocabulary × hidden matrix — a tied head stored twice, "
            "or tie_word_embeddings mis-stated"
        )
    if d and abs(diff) == d * d + d:
        return ": exactly one hidden × hidden layer with bias (a pooler or projection the formula leaves out)"
    return ""


def _files_label(paths: list[str]) -> str | None:
    if not paths:
        return None
    if len(paths) == 1:
        return paths[0]
    return f"{paths[0]} … {paths[-1]} ({len(paths)} files)"
