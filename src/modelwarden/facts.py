"""`inspect_path(target) -> ModelFacts`: everything a release's own files say about the model.

Reads every file's header (never tensor data, never executing anything), then gathers, each with
provenance: parameter counts from tensors and independently from `config.json` (compute.md §4.7),
architecture, model type, modalities, context length, tokenizer, licence (card, GGUF metadata,
LICENSE text), base model, datasets, languages, pipeline tag, library, card links, components
(diffusers, sentence-transformers, vision tower, MTP), adapter, quantisation.

A file that cannot be read becomes a `Problem` and the rest is still inspected. `UsageError` is raised
only for a target that does not exist; "nothing could be read" is for the caller to decide
(`nothing_readable`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from modelwarden import weights
from modelwarden.artifacts.reader import WEIGHT_FORMATS, read_artifact
from modelwarden.artifacts.safetensors import read_index
from modelwarden.artifacts.tensors import ClassifyContext
from modelwarden.card import Card, as_list, read_card
from modelwarden.compute.params import ConfigCount, UnsupportedConfig, config_formula, family_of
from modelwarden.errors import ManifestError
from modelwarden.hashing import Advance, hash_files
from modelwarden.licence_text import read_licence_file
from modelwarden.manifest import Manifest, load_manifest
from modelwarden.model import (
    AdapterInfo,
    ArtifactFormat,
    ArtifactInfo,
    BaseModelRef,
    ComponentFacts,
    Fact,
    Layout,
    LicenseInfo,
    Modalities,
    ModelFacts,
    Problem,
    Provenance,
    Source,
)
from modelwarden.release import ComponentSpec, Release, read_json, resolve
from modelwarden.tokenizer import tokenizer_info

# Components the config formulas do not cover: excluded when the two counts are compared.
_OUTSIDE_FORMULA = ("mtp", "vision", "audio", "adapter")
_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_sequence_length",
    "seq_length",
    "n_ctx",
    "max_seq_len",
)
_K_KEYS = (
    "num_experts_per_tok",
    "num_experts_per_token",
    "experts_per_token",
    "moe_topk",
    "num_selected_experts",
    "moe_k",
)
_GENERATION_KEYS = (
    "max_length",
    "max_new_tokens",
    "do_sample",
    "temperature",
    "top_p",
    "top_k",
    "eos_token_id",
    "bos_token_id",
)


def inspect_path(
    target: str | Path, *, hash_files: bool = False, advance: Advance | None = None
) -> ModelFacts:
    """Inspect a folder, a file or an `org/name` id of the local Hugging Face cache."""
    return inspect_release(resolve(target), hash_files=hash_files, advance=advance)


def inspect_release(
    release: Release, *, hash_files: bool = False, advance: Advance | None = None
) -> ModelFacts:
    gatherer = _Gatherer(release)
    gatherer.run()
    if hash_files:
        gatherer.hash(advance)
    return gatherer.facts


def nothing_readable(facts: ModelFacts) -> bool:
    """True when no file yielded anything: the CLI exits 2 in that case (and only then)."""
    if facts.parameters.total is not None:
        return False
    for f in facts.files:
        if any(p.severity == "error" for p in f.problems):
            continue
        if f.tensors or f.format in (ArtifactFormat.JSON, ArtifactFormat.TEXT):
            return False
    return True


def bytes_to_hash(release: Release) -> int:
    total = 0
    for f in release.files:
        with contextlib.suppress(OSError):
            total += f.path.stat().st_size
    return total


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


class _Gatherer:
    def __init__(self, release: Release) -> None:
        self.release = release
        self.facts = ModelFacts(root=release.display, layout=release.layout, revision=release.revision)
        self.facts.problems.extend(release.problems)
        self.names = {f.rel for f in release.files}
        self.artifacts: dict[str, ArtifactInfo] = {}
        self._json_cache: dict[str, Any] = {}
        self.card: Card | None = None
        self.manifest: Manifest | None = None
        self.config_rel: str | None = None

    # -- plumbing ------------------------------------------------------------------------------------
    def json(self, rel: str) -> Any:
        if rel not in self._json_cache:
            f = self.release.file(rel)
            doc = None
            if f is not None:
                doc, problem = read_json(f.path, rel)
                if problem is not None:
                    self.facts.problems.append(problem)
                    self._mark(rel, problem)
            self._json_cache[rel] = doc
        return self._json_cache[rel]

    def _mark(self, rel: str, problem: Problem) -> None:
        info = self.artifacts.get(rel)
        if info is not None and problem not in info.problems:
            info.problems.append(problem)

    def count_lines(self, rel: str) -> int | None:
        f = self.release.file(rel)
        if f is None:
            return None
        try:
            with f.path.open("rb") as fh:
                data = fh.read(64 * 1024 * 1024)
        except OSError:
            return None
        return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)

    def warn(self, message: str) -> None:
        if message not in self.facts.warnings:
            self.facts.warnings.append(message)

    # -- the steps -------------------------------------------------------------------------------------
    def run(self) -> None:
        self._read_files()
        self._manifest()
        self._config()
        self._card()
        self._count()
        self._identity()
        self._tokenizer()
        self._licence()
        self._lineage()
        self._adapter()
        self._modalities()
        self._extras()
        self.facts.problems = _dedupe(self.facts.problems)

    def _read_files(self) -> None:
        for f in self.release.files:
            info = read_artifact(f.path, f.rel)
            self.artifacts[f.rel] = info
            self.facts.files.append(info)
            self.facts.problems.extend(info.problems)

    def _manifest(self) -> None:
        if self.release.manifest is None:
            return
        try:
            self.manifest = load_manifest(self.release.manifest)
        except ManifestError as exc:
            self.facts.problems.append(
                Problem(file=self.release.manifest.name, code="invalid_manifest", message=exc.message)
            )

    def _config(self) -> None:
        if "config.json" in self.names:
            self.config_rel = "config.json"
        elif self.release.single_file and len(self.release.files) == 1:
            only = self.release.files[0]
            if self.artifacts[only.rel].format is ArtifactFormat.JSON and isinstance(
                self.json(only.rel), dict
            ):
                self.config_rel = only.rel  # `inspect config.json`: count from the config alone
        config = self.json(self.config_rel) if self.config_rel else None
        if self.config_rel and not isinstance(config, dict) and config is not None:
            self.facts.problems.append(
                Problem(file=self.config_rel, code="invalid_config", message="not a JSON object")
            )

    @property
    def config(self) -> dict[str, Any]:
        doc = self.json(self.config_rel) if self.config_rel else None
        return doc if isinstance(doc, dict) else {}

    def _card(self) -> None:
        rel = next((n for n in ("README.md", "readme.md", "README.MD") if n in self.names), None)
        if rel is None or self.release.single_file:
            return
        f = self.release.file(rel)
        assert f is not None
        self.card = read_card(f.path, rel)
        self.facts.card = self.card.info
        self.facts.problems.extend(self.card.problems)

    # -- parameters ----------------------------------------------------------------------------------
    def _units(self) -> list[_Unit]:
        specs = self.release.components
        if self.release.layout is Layout.DIFFUSERS:
            units = [_Unit(s.name, s.path, s) for s in specs]
        elif self.release.layout is Layout.SENTENCE_TRANSFORMERS and specs:
            units = [_Unit(s.name, s.path, s) for s in specs]
            if not any(u.folder == "" for u in units):
                units.insert(0, _Unit("model", "", None))
        else:
            units = [_Unit("adapter" if self.release.layout is Layout.PEFT_ADAPTER else "model", "", None)]
        folders = sorted({u.folder for u in units}, key=len, reverse=True)
        for info in self.facts.files:
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

    def _count(self) -> None:
        units = self._units()
        for unit in units:
            self._count_unit(unit)
        main = next((u for u in units if u.folder == ""), None) if len(units) > 1 else units[0]
        counted = [u for u in units if u.tensors is not None and u.tensors.total > 0]
        if counted:
            self._from_tensors(counted, main)
        elif main is not None and main.config is not None:
            self._from_config(main)
        elif self.manifest is not None and self.manifest.model.parameters:
            self._from_manifest(self.manifest)
        if main is not None and main.config is not None:
            self.facts.parameters.notes.extend(f"config formula: {note}" for note in main.config.notes)
        self._components(units)
        self._manifest_check()

    def _from_tensors(self, counted: list[_Unit], main: _Unit | None) -> None:
        pc = self.facts.parameters
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
        self.facts.dtypes = dict(sorted(dtypes.items(), key=lambda kv: -kv[1]))
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
        for w in main.tensors.warnings:
            self.warn(w)
        if main.config is not None:
            pc.config_total = main.config.total
            pc.config_active = main.config.active
            if pc.active is None and main.tensors.experts and main.config.active is not None:
                pc.active = main.config.active  # experts in the tensors, top-k only in the formula
            self._compare(main)

    def _from_config(self, main: _Unit) -> None:
        pc, cfg = self.facts.parameters, main.config
        assert cfg is not None
        pc.total, pc.active, pc.source = cfg.total, cfg.active, "config"
        pc.config_total, pc.config_active = cfg.total, cfg.active
        pc.breakdown = dict(cfg.breakdown)
        pc.provenance = Provenance(
            source=Source.CONFIG,
            file=main.config_rel,
            note=f"{cfg.family} formula (compute.md §4.7) over " + ", ".join(cfg.fields[:12]),
        )
        self.warn("no readable weights: the parameter count comes from the config formula alone")

    def _from_manifest(self, manifest: Manifest) -> None:
        pc = self.facts.parameters
        pc.total = int(manifest.model.parameters) if manifest.model.parameters else None
        pc.active = int(manifest.model.active_parameters) if manifest.model.active_parameters else None
        pc.source = "manifest"
        where = self.release.manifest.name if self.release.manifest else None
        pc.provenance = Provenance(source=Source.MANIFEST, file=where, field="model.parameters")

    def _count_unit(self, unit: _Unit) -> None:
        config_rel = f"{unit.folder}/config.json" if unit.folder else self.config_rel
        doc = self.json(config_rel) if config_rel is not None and config_rel in self.names else None
        config: dict[str, Any] = doc if isinstance(doc, dict) else {}
        if config:
            try:
                unit.config = config_formula(config)
                unit.config_rel = config_rel
            except UnsupportedConfig as exc:
                if unit.folder == "" and self.release.layout is not Layout.DIFFUSERS:
                    self.facts.parameters.notes.append(f"no config formula: {exc}")
        chosen = weights.select(unit.files, unit.folder, indexes=self._indexes(unit.folder))
        self.facts.problems.extend(chosen.problems)
        for w in chosen.warnings:
            self.warn(w)
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
                self.facts.parameters.notes.append(
                    "output head stored but tied to the embedding: counted once"
                )

    def _indexes(self, folder: str) -> list[weights.ShardIndex]:
        """The sharded-checkpoint indexes directly in `folder` (variant indexes such as .fp16. aside)."""
        prefix = f"{folder}/" if folder else ""
        found = []
        for name in sorted(self.names):
            if not name.startswith(prefix) or "/" in name[len(prefix) :]:
                continue
            if not name.endswith((".safetensors.index.json", ".bin.index.json", ".pt.index.json")):
                continue
            if weights.is_variant(name):
                continue
            doc = self.json(name)
            if doc is None:
                continue
            weight_map, total_size, problems = read_index(doc, name)
            self.facts.problems.extend(problems)
            if total_size is not None:
                self._check_index_bytes(name, folder, weight_map, total_size)
            found.append(weights.ShardIndex(name, weight_map))
        return found

    def _check_index_bytes(
        self, index_rel: str, folder: str, weight_map: dict[str, str], total_size: int
    ) -> None:
        prefix = f"{folder}/" if folder else ""
        shards = {prefix + s for s in weight_map.values()}
        infos = [self.artifacts[s] for s in shards if s in self.artifacts and self.artifacts[s].tensors]
        if len(infos) != len(shards):
            return
        stored = sum(
            t.data_offsets[1] - t.data_offsets[0]
            for f in infos for t in f.tensors if t.data_offsets is not None and t.name in weight_map
        )  # fmt: skip
        if stored and stored != total_size:
            self.warn(
                f"{index_rel}: metadata.total_size says {total_size:,} bytes but the shards' tensors take "
                f"{stored:,} bytes (total_size is bytes, not parameters)"
            )

    def _context(self, config: dict[str, Any], primary: list[ArtifactInfo]) -> ClassifyContext:
        text = _dict(config.get("text_config"))
        layers = _int(config, "num_hidden_layers", "n_layer", "num_layers") or _int(text, "num_hidden_layers")
        quant = _dict(config.get("quantization_config"))
        bits = _int(quant, "bits", "w_bit") or _compressed_tensors_bits(quant)
        if bits is None and "quantize_config.json" in self.names:
            bits = _int(self.json("quantize_config.json") or {}, "bits")
        tie: bool | None = None
        for source in (config, text):
            if isinstance(source.get("tie_word_embeddings"), bool):
                tie = source["tie_word_embeddings"]
                break
        else:
            tie = _tie_default(config) if config else None
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
        text = _dict(config.get("text_config"))
        k = _int(config, *_K_KEYS) or _int(text, *_K_KEYS)
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
        outside = sum(tc.breakdown.get(c, 0) for c in _OUTSIDE_FORMULA)
        comparable = tc.total - outside
        if comparable != cfg.total:
            diff = comparable - cfg.total
            why = _explain(diff, self.config)
            scope = (
                f" (excluding {', '.join(c for c in _OUTSIDE_FORMULA if tc.breakdown.get(c))})"
                if outside
                else ""
            )
            self.facts.parameters.warnings.append(
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
            self.facts.parameters.warnings.append(
                f"active parameters from tensors ({tc.active:,}) differ from the config formula "
                f"({cfg.active:,})"
            )
        mtp = tc.breakdown.get("mtp")
        if mtp and cfg.extras.get("mtp") and mtp != cfg.extras["mtp"]:
            self.facts.parameters.warnings.append(
                f"multi-token-prediction tensors hold {mtp:,} parameters; "
                f"the config implies {cfg.extras['mtp']:,}"
            )

    def _manifest_check(self) -> None:
        pc = self.facts.parameters
        if self.manifest is None or not self.manifest.model.parameters or pc.source in (None, "manifest"):
            return
        declared = int(self.manifest.model.parameters)
        if pc.total and abs(declared - pc.total) > 0.01 * pc.total:
            self.warn(
                f"the manifest declares {declared:,} parameters; the files give {pc.total:,} ({pc.source})"
            )

    def _components(self, units: list[_Unit]) -> None:
        if len(units) > 1 or self.release.layout is Layout.DIFFUSERS:
            for u in units:
                total = u.tensors.total if u.tensors is not None and u.tensors.total else None
                self.facts.components.append(
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
        breakdown = self.facts.parameters.breakdown if self.facts.parameters.source == "tensors" else {}
        extra = {c: breakdown[c] for c in _OUTSIDE_FORMULA if breakdown.get(c)}
        if extra:
            core = sum(breakdown.values()) - sum(extra.values())
            self.facts.components.append(
                ComponentFacts(name="language_model", parameters=core, source="tensors")
            )
            for name, n in extra.items():
                self.facts.components.append(ComponentFacts(name=name, parameters=n, source="tensors"))

    # -- identity --------------------------------------------------------------------------------------
    def _gguf(self) -> ArtifactInfo | None:
        return next(
            (f for f in self.facts.files if f.format is ArtifactFormat.GGUF and f.role == "primary"), None
        )

    def _identity(self) -> None:
        cfg, rel = self.config, self.config_rel
        text = _dict(cfg.get("text_config"))
        arch = cfg.get("architectures")
        if isinstance(arch, list) and arch and isinstance(arch[0], str):
            self.facts.architecture = _fact(arch[0], Source.CONFIG, rel, "architectures[0]")
        if isinstance(cfg.get("model_type"), str):
            self.facts.model_type = _fact(cfg["model_type"], Source.CONFIG, rel, "model_type")
        for source, prefix in ((cfg, ""), (text, "text_config.")):
            key = next((k for k in _CONTEXT_KEYS if _int(source, k)), None)
            if key is not None:
                self.facts.context_length = _fact(int(source[key]), Source.CONFIG, rel, prefix + key)
                break
        gguf = self._gguf()
        if gguf is not None:
            meta, arch_name = gguf.metadata, gguf.metadata.get("general.architecture")
            if self.facts.architecture is None and isinstance(arch_name, str):
                self.facts.architecture = _fact(arch_name, Source.FILE, gguf.path, "general.architecture")
                self.facts.model_type = _fact(arch_name, Source.FILE, gguf.path, "general.architecture")
            ctx = meta.get(f"{arch_name}.context_length")
            if self.facts.context_length is None and isinstance(ctx, int):
                self.facts.context_length = _fact(ctx, Source.FILE, gguf.path, f"{arch_name}.context_length")
            if isinstance(meta.get("general.name"), str):
                self.facts.name = meta["general.name"]
        if self.release.layout is Layout.DIFFUSERS:
            index = self.json("model_index.json")
            if isinstance(index, dict) and isinstance(index.get("_class_name"), str):
                self.facts.architecture = _fact(
                    index["_class_name"], Source.CONFIG, "model_index.json", "_class_name"
                )
        for info in self.facts.files:
            keras = info.format in (ArtifactFormat.KERAS, ArtifactFormat.KERAS_H5)
            if (
                keras
                and info.role == "primary"
                and self.facts.architecture is None
                and info.metadata.get("keras_class")
            ):
                self.facts.architecture = _fact(
                    str(info.metadata["keras_class"]), Source.FILE, info.path, "class_name"
                )
        if self.manifest is not None and self.manifest.model.name:
            self.facts.name = self.manifest.model.name
        if self.facts.name is None:
            self.facts.name = self.release.repo_id or _card_title(self.card) or _default_name(self.release)
        if self.manifest is not None:
            m = self.manifest.model
            where = self.release.manifest.name if self.release.manifest else None
            if self.facts.architecture is None and m.architecture:
                self.facts.architecture = _fact(m.architecture, Source.MANIFEST, where, "model.architecture")
            if self.facts.context_length is None and m.context_length:
                self.facts.context_length = _fact(
                    int(m.context_length), Source.MANIFEST, where, "model.context_length"
                )

    def _tokenizer(self) -> None:
        info, problems = tokenizer_info(self.names, self.json, self.count_lines)
        if info is None and self.release.layout is Layout.DIFFUSERS:
            info, problems = tokenizer_info(self.names, self.json, self.count_lines, folder="tokenizer")
        self.facts.problems.extend(problems)
        gguf = self._gguf()
        if gguf is not None:
            tokens = gguf.metadata.get("tokenizer.ggml.tokens")
            template = "tokenizer.chat_template" in gguf.metadata
            if info is None and (tokens is not None or template):
                from modelwarden.model import TokenizerInfo

                info = TokenizerInfo(files=[gguf.path])
            if info is not None:
                if isinstance(tokens, dict) and info.vocab_size is None:
                    info.vocab_size = tokens.get("array_length")
                    info.provenance = Provenance(
                        source=Source.FILE, file=gguf.path, field="tokenizer.ggml.tokens"
                    )
                info.chat_template = info.chat_template or template
        self.facts.tokenizer = info

    # -- licence and lineage -----------------------------------------------------------------------------
    def _licence(self) -> None:
        meta = self.card.metadata if self.card else {}
        for rel in sorted(n for n in self.names if "/" not in n):
            f = self.release.file(rel)
            if f is None:
                continue
            lf, problem = read_licence_file(f.path, rel)
            if lf is not None:
                self.facts.license_files.append(lf)
            if problem:
                self.facts.problems.append(Problem(file=rel, code="unreadable", message=problem))
        identified = next(
            (lf for lf in self.facts.license_files if lf.kind == "license" and lf.identified_as), None
        )
        if meta.get("license"):
            self.facts.license = LicenseInfo(
                id=str(meta["license"]).lower(),
                name=str(meta["license_name"]) if meta.get("license_name") else None,
                link=str(meta["license_link"]) if meta.get("license_link") else None,
                provenance=Provenance(
                    source=Source.CARD, file=self.card.info.path if self.card else None, field="license"
                ),
            )
        else:
            gguf = self._gguf()
            gmeta = gguf.metadata if gguf is not None else {}
            if gguf is not None and isinstance(gmeta.get("general.license"), str):
                self.facts.license = LicenseInfo(
                    id=gmeta["general.license"].lower(),
                    name=gmeta.get("general.license.name")
                    if isinstance(gmeta.get("general.license.name"), str)
                    else None,
                    link=gmeta.get("general.license.link")
                    if isinstance(gmeta.get("general.license.link"), str)
                    else None,
                    provenance=Provenance(source=Source.FILE, file=gguf.path, field="general.license"),
                )
            elif identified is not None:
                self.facts.license = LicenseInfo(
                    id=identified.identified_as,
                    provenance=Provenance(source=Source.FILE, file=identified.path, note=identified.method),
                )
        lic = self.facts.license
        if (
            lic is not None
            and identified is not None
            and lic.provenance
            and lic.provenance.source is not Source.FILE
        ):
            declared = lic.name if lic.id == "other" and lic.name else lic.id
            if declared not in (None, "unknown", "other") and declared != identified.identified_as:
                self.warn(
                    f"{lic.provenance.describe()} declares licence {declared!r} but {identified.path} "
                    "is the text of "
                    f"{identified.identified_as!r}"
                )

    def _lineage(self) -> None:
        meta = self.card.metadata if self.card else {}
        card_rel = self.card.info.path if self.card else None
        relation = meta.get("base_model_relation")
        for name in as_list(meta.get("base_model")):
            self.facts.base_model.append(
                BaseModelRef(
                    name=name,
                    relation=str(relation) if relation else None,
                    provenance=Provenance(source=Source.CARD, file=card_rel, field="base_model"),
                )
            )
        self.facts.datasets = [
            _fact(d, Source.CARD, card_rel, "datasets") for d in as_list(meta.get("datasets"))
        ]
        self.facts.language = as_list(meta.get("language"))
        if meta.get("pipeline_tag"):
            self.facts.pipeline_tag = _fact(str(meta["pipeline_tag"]), Source.CARD, card_rel, "pipeline_tag")
        if meta.get("library_name"):
            self.facts.library_name = _fact(str(meta["library_name"]), Source.CARD, card_rel, "library_name")
        else:
            self._infer_library()
        self.facts.tags = as_list(meta.get("tags"))
        gguf = self._gguf()
        if gguf is not None:
            g = gguf.metadata
            count = g.get("general.base_model.count")
            for i in range(count if isinstance(count, int) and 0 < count < 64 else 0):
                base = g.get(f"general.base_model.{i}.repo_url") or g.get(f"general.base_model.{i}.name")
                if isinstance(base, str) and not any(b.name == base for b in self.facts.base_model):
                    self.facts.base_model.append(
                        BaseModelRef(
                            name=base,
                            provenance=Provenance(
                                source=Source.FILE, file=gguf.path, field=f"general.base_model.{i}"
                            ),
                        )
                    )
            if not self.facts.language and isinstance(g.get("general.languages"), list):
                self.facts.language = [str(x) for x in g["general.languages"]]

    def _infer_library(self) -> None:
        layout = self.release.layout
        inferred = {
            Layout.DIFFUSERS: ("diffusers", "model_index.json"),
            Layout.SENTENCE_TRANSFORMERS: (
                "sentence-transformers",
                "modules.json" if "modules.json" in self.names else "config_sentence_transformers.json",
            ),
            Layout.PEFT_ADAPTER: ("peft", "adapter_config.json"),
        }.get(layout)
        if inferred is None and self._gguf() is not None:
            inferred = ("gguf", self._gguf().path)  # type: ignore[union-attr]
        if inferred is None and self.config.get("transformers_version"):
            inferred = ("transformers", self.config_rel or "config.json")
        if inferred is not None:
            self.facts.library_name = Fact[str](
                value=inferred[0],
                provenance=Provenance(
                    source=Source.DERIVED, file=inferred[1], note="inferred from the release layout"
                ),
            )

    def _adapter(self) -> None:
        if self.release.layout is not Layout.PEFT_ADAPTER:
            return
        doc = self.json("adapter_config.json")
        if not isinstance(doc, dict):
            return
        targets = doc.get("target_modules")
        info = AdapterInfo(
            peft_type=str(doc["peft_type"]) if doc.get("peft_type") else None,
            base_model=str(doc["base_model_name_or_path"]) if doc.get("base_model_name_or_path") else None,
            rank=doc.get("r") if isinstance(doc.get("r"), int) else None,
            target_modules=[str(t) for t in targets]
            if isinstance(targets, list)
            else [str(targets)]
            if targets
            else [],
            parameters=self.facts.parameters.total,
            provenance=Provenance(source=Source.CONFIG, file="adapter_config.json"),
        )
        self.facts.adapter = info
        if info.base_model and not any(b.name == info.base_model for b in self.facts.base_model):
            self.facts.base_model.insert(
                0,
                BaseModelRef(
                    name=info.base_model,
                    relation="adapter",
                    provenance=Provenance(
                        source=Source.CONFIG, file="adapter_config.json", field="base_model_name_or_path"
                    ),
                ),
            )
        if self.facts.parameters.total is not None:
            self.facts.parameters.notes.append(
                "an adapter: these are the adapter's own parameters; the base model's are not in the files"
            )

    def _modalities(self) -> None:
        rules = _modality_rules()
        m = self.manifest.model.modalities if self.manifest is not None else None
        if m is not None and (m.input or m.output):
            self.facts.modalities = Modalities(
                input=[str(x.value) for x in m.input],
                output=[str(x.value) for x in m.output],
                provenance=Provenance(
                    source=Source.MANIFEST,
                    file=self.release.manifest.name if self.release.manifest else None,
                    field="model.modalities",
                ),
            )
            return
        tag = self.facts.pipeline_tag
        if tag is not None and tag.value in rules["pipeline_tags"]:
            r = rules["pipeline_tags"][tag.value]
            self.facts.modalities = Modalities(
                input=r["input"], output=r["output"], provenance=tag.provenance
            )
            return
        layout_rule = rules["layouts"].get(self.release.layout.value)
        if layout_rule:
            self.facts.modalities = Modalities(
                input=layout_rule["input"], output=layout_rule["output"],
                provenance=Provenance(source=Source.DERIVED, note=f"{self.release.layout.value} layout"),
            )  # fmt: skip
            return
        arch = self.facts.architecture
        if arch is None:
            gguf = self._gguf()
            if gguf is not None:
                where = Provenance(source=Source.DERIVED, file=gguf.path, note="GGUF language model")
                self.facts.modalities = Modalities(input=["text"], output=["text"], provenance=where)
            return
        table = rules["pipelines"] if self.release.layout is Layout.DIFFUSERS else rules["architectures"]
        for r in table:
            if r["match"] in arch.value and (
                not r.get("when_config_has") or r["when_config_has"] in self.config
            ):
                where = Provenance(
                    source=Source.DERIVED,
                    file=arch.provenance.file,
                    field=arch.provenance.field,
                    note=f"architecture {arch.value}",
                )
                self.facts.modalities = Modalities(input=r["input"], output=r["output"], provenance=where)
                return

    def _extras(self) -> None:
        cfg = self.config
        quant = cfg.get("quantization_config") if isinstance(cfg.get("quantization_config"), dict) else None
        if quant is not None:
            method = str(
                quant.get("quant_method")
                or ("bitsandbytes" if quant.get("load_in_4bit") or quant.get("load_in_8bit") else "unknown")
            )
            bits = _int(quant, "bits", "w_bit") or _compressed_tensors_bits(quant)
            if quant.get("load_in_4bit"):
                bits = 4
            elif quant.get("load_in_8bit"):
                bits = 8
            value = f"{method}-{bits}bit" if bits else method
            self.facts.quantization = _fact(value, Source.CONFIG, self.config_rel, "quantization_config")
        gguf = self._gguf()
        if gguf is not None and self.facts.quantization is None:
            from collections import Counter

            counts = Counter(t.dtype for t in gguf.tensors if len(t.shape) >= 2)
            if counts:
                self.facts.quantization = Fact[str](
                    value=f"gguf:{counts.most_common(1)[0][0]}",
                    provenance=Provenance(
                        source=Source.TENSORS, file=gguf.path, note="most common type of the matrices"
                    ),
                )
        gen = self.json("generation_config.json") if "generation_config.json" in self.names else None
        if isinstance(gen, dict):
            self.facts.generation_config = {k: gen[k] for k in _GENERATION_KEYS if k in gen}
        code = sorted(n for n in self.names if n.endswith(".py") and "/" not in n)
        auto_map = cfg.get("auto_map")
        if isinstance(auto_map, dict):
            code += [f"auto_map.{k} = {v}" for k, v in auto_map.items() if isinstance(v, str)]
        self.facts.remote_code = code
        if code:
            self.warn(
                "the release ships its own model code ("
                + ", ".join(code[:3])
                + (", ..." if len(code) > 3 else "")
                + "): loading it with trust_remote_code would run it; inspect never does"
            )

    # -- hashing -------------------------------------------------------------------------------------
    def hash(self, advance: Advance | None) -> None:
        paths = {f.rel: f.path for f in self.release.files}
        readable = {
            rel: p
            for rel, p in paths.items()
            if not any(
                pr.code in ("broken_symlink", "not_a_regular_file") for pr in self.artifacts[rel].problems
            )
        }
        digests = hash_files(list(readable.values()), advance=advance)
        for rel, path in readable.items():
            result = digests.get(path)
            if isinstance(result, str):
                self.artifacts[rel].sha256 = result
            elif result is not None:
                self.facts.problems.append(
                    Problem(
                        file=rel, code="unreadable", message=f"cannot be hashed ({result.strerror or result})"
                    )
                )


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------


def _fact(value: Any, source: Source, file: str | None, fieldname: str | None = None) -> Fact[Any]:
    return Fact[Any](value=value, provenance=Provenance(source=source, file=file, field=fieldname))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(d: dict[str, Any], *keys: str) -> int | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _compressed_tensors_bits(quant: dict[str, Any]) -> int | None:
    groups = quant.get("config_groups")
    if isinstance(groups, dict):
        for g in groups.values():
            w = g.get("weights") if isinstance(g, dict) else None
            if isinstance(w, dict) and isinstance(w.get("num_bits"), int):
                return int(w["num_bits"])
    return None


def _tie_default(config: dict[str, Any]) -> bool | None:
    """The model class's default for `tie_word_embeddings` when the config does not say."""
    family = family_of(config)
    if family is None:
        return None
    return family in {
        "gemma",
        "gemma2",
        "gemma3_text",
        "gpt2",
        "falcon",
        "bert",
        "roberta",
        "xlm-roberta",
        "camembert",
    }


def _explain(diff: int, config: dict[str, Any]) -> str:
    d = _int(config, "hidden_size", "n_embd", "dim") or 0
    vocab = _int(config, "vocab_size") or 0
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


def _card_title(card: Card | None) -> str | None:
    """The card's `model_name`, or its first level-1 heading."""
    if card is None:
        return None
    if isinstance(card.metadata.get("model_name"), str):
        return str(card.metadata["model_name"])
    for line in card.text.splitlines()[:200]:
        if line.startswith("# ") and len(line) < 120:
            return line[2:].strip() or None
    return None


def _default_name(release: Release) -> str:
    if release.single_file:
        return release.files[0].rel
    return release.root.name


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for p in problems:
        key = (p.file, p.code, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


@cache
def _modality_rules() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (Path(__file__).parent / "data" / "modalities.yaml").read_text("utf-8")
    )
    return data
