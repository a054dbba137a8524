"""`inspect_path(target) -> ModelFacts`: everything a release's own files say about the model.

Reads every file's header (never tensor data, never executing anything), then gathers, each with
provenance: parameter counts from tensors and independently from `config.json` (docs/reference/compute.md
§4.7), architecture, model type, modalities, context length, tokenizer, licence (card, GGUF metadata,
LICENSE text), base model, datasets, languages, pipeline tag, library, card links, components
(diffusers, sentence-transformers, vision tower, MTP), adapter, quantisation.

A file that cannot be read becomes a `Problem` and the rest is still inspected. `UsageError` is raised
only for a target that does not exist; "nothing could be read" is for the caller to decide
(`nothing_readable`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from modelwarden.artifacts.reader import read_artifact, read_artifact_source
from modelwarden.errors import ManifestError, ModelwardenError
from modelwarden.facts.card import Card, as_list, read_card
from modelwarden.facts.files import ReleaseFiles, as_dict, compressed_tensors_bits, config_int, dedupe, fact
from modelwarden.facts.licence_text import read_licence_file
from modelwarden.facts.parameters import gather_parameters
from modelwarden.facts.tokenizer import tokenizer_info
from modelwarden.hashing import Advance, hash_files
from modelwarden.manifest import load_manifest
from modelwarden.model import (
    AdapterInfo,
    ArtifactFormat,
    BaseModelRef,
    Fact,
    Layout,
    LicenseInfo,
    Modalities,
    ModelFacts,
    Problem,
    Provenance,
    Source,
    TokenizerInfo,
    TrustFile,
)
from modelwarden.release import Release, resolve

if TYPE_CHECKING:
    from modelwarden.trust.records import TrustAnchor

_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_sequence_length",
    "seq_length",
    "n_ctx",
    "max_seq_len",
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
    target: str | Path,
    *,
    hash_files: bool = False,
    advance: Advance | None = None,
    trust_anchor: TrustAnchor | None = None,
) -> ModelFacts:
    """Inspect a folder, a file or an `org/name` id of the local Hugging Face cache."""
    return inspect_release(resolve(target), hash_files=hash_files, advance=advance, trust_anchor=trust_anchor)


def inspect_release(
    release: Release,
    *,
    hash_files: bool = False,
    advance: Advance | None = None,
    trust_anchor: TrustAnchor | None = None,
) -> ModelFacts:
    """The facts of a resolved release; files are hashed when `hash_files`; the signature and
    attestations it carries are verified against `trust_anchor` when one is given."""
    gatherer = _Gatherer(release)
    gatherer.run()
    if hash_files:
        gatherer.hash(advance)
    gatherer.facts.trust = _trust(release, trust_anchor, gatherer.facts.problems)
    return gatherer.facts


def _trust(release: Release, anchor: TrustAnchor | None, problems: list[Problem]) -> list[TrustFile]:
    """What the release carries of the trust chain (docs/trust.md); a failure to read it is a problem of
    the release, never an exception that hides its other facts."""
    from modelwarden.trust.presence import trust_files

    if any(f.source is not None for f in release.files):
        # A hub repository read by byte ranges: a model signature covers every byte of every file, which
        # a remote read does not fetch, so nothing here could be verified; say so instead of "none".
        problems.append(
            Problem(
                file=".",
                code="trust_not_examined",
                message="signatures and attestations are not examined when a release is read remotely",
                severity="warning",
            )
        )
        return []
    path = release.files[0].path if release.single_file and release.files else release.root
    try:
        return trust_files(path, anchor)
    except ModelwardenError as exc:
        problems.append(Problem(file=".", code="trust_unreadable", message=exc.message))
        return []


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
    """Total size of the release's files, for a progress bar."""
    total = 0
    for f in release.files:
        with contextlib.suppress(OSError):
            total += f.path.stat().st_size
    return total


class _Gatherer(ReleaseFiles):
    def __init__(self, release: Release) -> None:
        super().__init__(release)
        self.card: Card | None = None

    # -- the steps -------------------------------------------------------------------------------------
    def run(self) -> None:
        self._read_files()
        self._manifest()
        self._config()
        self._card()
        gather_parameters(self)
        self._identity()
        self._tokenizer()
        self._licence()
        self._lineage()
        self._adapter()
        self._modalities()
        self._quantisation()
        self._generation()
        self._remote_code()
        self.facts.problems = dedupe(self.facts.problems)

    def _read_files(self) -> None:
        for f in self.release.files:
            info = read_artifact(f.path, f.rel) if f.source is None else read_artifact_source(f.source, f.rel)
            if f.host_sha256 is not None:
                # The host's record (the hub's LFS metadata), with that provenance: not read here.
                info.sha256 = f.host_sha256
                info.metadata["sha256_from"] = "hub LFS metadata (not recomputed from the bytes)"
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
    # -- identity --------------------------------------------------------------------------------------
    def _identity(self) -> None:
        cfg, rel = self.config, self.config_rel
        text = as_dict(cfg.get("text_config"))
        arch = cfg.get("architectures")
        if isinstance(arch, list) and arch and isinstance(arch[0], str):
            self.facts.architecture = fact(arch[0], Source.CONFIG, rel, "architectures[0]")
        if isinstance(cfg.get("model_type"), str):
            self.facts.model_type = fact(cfg["model_type"], Source.CONFIG, rel, "model_type")
        for source, prefix in ((cfg, ""), (text, "text_config.")):
            key = next((k for k in _CONTEXT_KEYS if config_int(source, k)), None)
            if key is not None:
                self.facts.context_length = fact(int(source[key]), Source.CONFIG, rel, prefix + key)
                break
        gguf = self.gguf()
        if gguf is not None:
            meta, arch_name = gguf.metadata, gguf.metadata.get("general.architecture")
            if self.facts.architecture is None and isinstance(arch_name, str):
                self.facts.architecture = fact(arch_name, Source.FILE, gguf.path, "general.architecture")
                self.facts.model_type = fact(arch_name, Source.FILE, gguf.path, "general.architecture")
            ctx = meta.get(f"{arch_name}.context_length")
            if self.facts.context_length is None and isinstance(ctx, int):
                self.facts.context_length = fact(ctx, Source.FILE, gguf.path, f"{arch_name}.context_length")
            if isinstance(meta.get("general.name"), str):
                self.facts.name = meta["general.name"]
        if self.release.layout is Layout.DIFFUSERS:
            index = self.json("model_index.json")
            if isinstance(index, dict) and isinstance(index.get("_class_name"), str):
                self.facts.architecture = fact(
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
                self.facts.architecture = fact(
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
                self.facts.architecture = fact(m.architecture, Source.MANIFEST, where, "model.architecture")
            if self.facts.context_length is None and m.context_length:
                self.facts.context_length = fact(
                    int(m.context_length), Source.MANIFEST, where, "model.context_length"
                )

    def _tokenizer(self) -> None:
        info = tokenizer_info(self.names, self.json, self.count_lines)
        if info is None and self.release.layout is Layout.DIFFUSERS:
            info = tokenizer_info(self.names, self.json, self.count_lines, folder="tokenizer")
        gguf = self.gguf()
        if gguf is not None:
            tokens = gguf.metadata.get("tokenizer.ggml.tokens")
            template = "tokenizer.chat_template" in gguf.metadata
            if info is None and (tokens is not None or template):
                info = TokenizerInfo(files=[gguf.path])
            if info is not None:
                # Long arrays are summarised by their length (artifacts/gguf.py), short ones kept.
                count = tokens.get("array_length") if isinstance(tokens, dict) else None
                count = len(tokens) if isinstance(tokens, list) else count
                if isinstance(count, int) and info.vocab_size is None:
                    info.vocab_size = count
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
        declared = as_list(meta.get("license"))
        if len(declared) > 1:
            self.warn(f"the card lists several licences ({', '.join(declared)}): the first is reported")
        if declared:
            self.facts.license = LicenseInfo(
                id=declared[0].lower(),
                name=str(meta["license_name"]) if meta.get("license_name") else None,
                link=str(meta["license_link"]) if meta.get("license_link") else None,
                provenance=Provenance(
                    source=Source.CARD, file=self.card.info.path if self.card else None, field="license"
                ),
            )
        else:
            gguf = self.gguf()
            gmeta = gguf.metadata if gguf is not None else {}
            if gguf is not None and isinstance(gmeta.get("general.license"), str):
                self.facts.license = LicenseInfo(
                    id=gmeta["general.license"].lower(),
                    name=_text(gmeta, "general.license.name"),
                    link=_text(gmeta, "general.license.link"),
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
            said = lic.name if lic.id == "other" and lic.name else lic.id
            if said not in (None, "unknown", "other") and said != identified.identified_as:
                self.warn(
                    f"{lic.provenance.describe()} declares licence {said!r} but {identified.path} "
                    f"is the text of {identified.identified_as!r}"
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
            fact(d, Source.CARD, card_rel, "datasets") for d in as_list(meta.get("datasets"))
        ]
        self.facts.language = as_list(meta.get("language"))
        if meta.get("pipeline_tag"):
            self.facts.pipeline_tag = fact(str(meta["pipeline_tag"]), Source.CARD, card_rel, "pipeline_tag")
        if meta.get("library_name"):
            self.facts.library_name = fact(str(meta["library_name"]), Source.CARD, card_rel, "library_name")
        else:
            self._infer_library()
        self.facts.tags = as_list(meta.get("tags"))
        gguf = self.gguf()
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
        gguf = self.gguf()
        if inferred is None and gguf is not None:
            inferred = ("gguf", gguf.path)
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
            target_modules=as_list(targets),  # a list of names, or one regular expression
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
            gguf = self.gguf()
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

    def _quantisation(self) -> None:
        quant = as_dict(self.config.get("quantization_config"))
        if quant:
            bnb = "bitsandbytes" if quant.get("load_in_4bit") or quant.get("load_in_8bit") else "unknown"
            method = str(quant.get("quant_method") or bnb)
            bits = config_int(quant, "bits", "w_bit") or compressed_tensors_bits(quant)
            if quant.get("load_in_4bit"):
                bits = 4
            elif quant.get("load_in_8bit"):
                bits = 8
            value = f"{method}-{bits}bit" if bits else method
            self.facts.quantization = fact(value, Source.CONFIG, self.config_rel, "quantization_config")
            return
        gguf = self.gguf()
        counts = (
            Counter(t.dtype for t in gguf.tensors if len(t.shape) >= 2) if gguf is not None else Counter()
        )
        if gguf is not None and counts:
            self.facts.quantization = Fact[str](
                value=f"gguf:{counts.most_common(1)[0][0]}",
                provenance=Provenance(
                    source=Source.TENSORS, file=gguf.path, note="most common type of the matrices"
                ),
            )

    def _generation(self) -> None:
        gen = as_dict(self.json("generation_config.json")) if "generation_config.json" in self.names else {}
        self.facts.generation_config = {k: gen[k] for k in _GENERATION_KEYS if k in gen}

    def _remote_code(self) -> None:
        """Model code the release ships (never run): top-level .py files and config `auto_map` entries."""
        code = sorted(n for n in self.names if n.endswith(".py") and "/" not in n)
        for key, value in as_dict(self.config.get("auto_map")).items():
            targets = value if isinstance(value, list) else [value]
            code += [f"auto_map.{key} = {t}" for t in targets if isinstance(t, str)]
        self.facts.remote_code = code
        if code:
            shown = ", ".join(code[:3]) + (", ..." if len(code) > 3 else "")
            self.warn(
                f"the release ships its own model code ({shown}): loading it with trust_remote_code "
                "would run it; inspect never does"
            )

    # -- hashing -------------------------------------------------------------------------------------
    def hash(self, advance: Advance | None) -> None:
        # Files read by byte ranges keep the digest their host records; they are never downloaded.
        paths = {f.rel: f.path for f in self.release.files if f.source is None}
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


def _text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) else None


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


@cache
def _modality_rules() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (Path(__file__).parent / "data" / "modalities.yaml").read_text("utf-8")
    )
    return data
