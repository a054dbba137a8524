"""Per-component evidence: which of the 17 MOF components a release has, where, and under which licence.

Files give what they can (docs/reference/openness.md §8.3: weight files, checkpoint folders, configs, modeling
code, tokenizer, card, `datasets:` and `model-index` metadata, arXiv links, LICENSE/NOTICE/USE_POLICY);
the release manifest gives the rest (training code repositories, datasets, papers...) and overrides
the files. Each piece of evidence names its source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from modelwarden.manifest import Component, ComponentDecl, Manifest
from modelwarden.model import ArtifactFormat, ComponentEvidence, Evidence, ModelFacts, Provenance, Source
from modelwarden.openness.licences import lookup

WEIGHT_FORMATS = {
    ArtifactFormat.SAFETENSORS,
    ArtifactFormat.GGUF,
    ArtifactFormat.TORCH_ZIP,
    ArtifactFormat.TORCH_LEGACY,
    ArtifactFormat.ONNX,
    ArtifactFormat.KERAS,
    ArtifactFormat.KERAS_H5,
    ArtifactFormat.HDF5,
    ArtifactFormat.NPY,
    ArtifactFormat.NPZ,
}
_CHECKPOINT_DIR = re.compile(r"(^|/)(checkpoint[-_]?\d+|step[-_]?\d+|global_step\d+|ckpt[-_]?\d+)(/|$)", re.I)
_METADATA_FILES = re.compile(
    r"(^|/)(config\.json|generation_config\.json|trainer_state\.json|training_args\.bin|optimizer\.pt"
    r"|scheduler\.pt|training_config\.(json|ya?ml))$"
)
_TOKENIZER = re.compile(
    r"(^|/)(tokenizer(_config)?\.json|tokenizer\.model|vocab\.(txt|json)|merges\.txt|spiece\.model)$"
)
# Optimizer, scheduler and RNG state hold tensors but are not the model: they are training metadata.
_TRAINING_STATE = re.compile(r"(^|/)(optimizer|scheduler|rng_state|training_args|trainer_state)[^/]*$", re.I)
_CODE_SUFFIXES = (".py", ".sh", ".ipynb", ".rs", ".c", ".cc", ".cpp", ".cu", ".jl", ".js", ".ts")
# What a source file, document or data file is for, judged from its path: data/file_roles.yaml.
_Roles = tuple[tuple[Component, re.Pattern[str]], ...]
MAX_LISTED = 5  # files named per piece of evidence; the rest are counted
_ARXIV = re.compile(r"arxiv\.org/(abs|pdf)/(\d{4}\.\d{4,5})", re.I)
ARXIV_LICENCE = "arXiv.org perpetual non-exclusive license"


@dataclass
class ReleaseLicence:
    """The licence of the release as a whole: the default for every component found in its files."""

    text: str | None
    """As written where it was found (manifest, card, or the id of an identified LICENSE text)."""
    provenance: Provenance | None
    """Where it was found."""
    identifier: bool = False
    """True when `text` is an id from a fixed vocabulary (the Hub's licence ids, or the id modelwarden
    gave a LICENSE text it identified) rather than words a person wrote: MOT-exact mode may then
    write it as its SPDX id, as a MOT file would (docs/openness.md)."""


def release_licence(facts: ModelFacts | None, manifest: Manifest | None) -> ReleaseLicence:
    """The licence of the release: the manifest's, else the card's, else an identified licence file."""
    if manifest is not None and manifest.release.license:
        return ReleaseLicence(
            manifest.release.license, Provenance(source=Source.MANIFEST, field="release.license")
        )
    if facts is not None and facts.license is not None:
        lic = facts.license
        if lic.id and lic.id.lower() not in {"other", "unknown"}:
            return ReleaseLicence(lic.id, lic.provenance, identifier=True)
        if lic.name:
            return ReleaseLicence(lic.name, lic.provenance)
    if facts is not None:
        for f in facts.license_files:
            if f.kind == "license" and f.identified_as:
                return ReleaseLicence(
                    f.identified_as,
                    Provenance(source=Source.FILE, file=f.path, note=f.method or "licence text"),
                    identifier=True,
                )
    return ReleaseLicence(None, None)


def _declared_release(release: ReleaseLicence) -> bool:
    return release.provenance is not None and release.provenance.source is Source.MANIFEST


def _open(licence: str | None) -> bool | None:
    rec = lookup(licence)
    if rec is None or rec.kind == "unknown":
        return None
    return rec.open


def _canonical(licence: str | None) -> str | None:
    rec = lookup(licence)
    return rec.id if rec is not None and rec.kind != "unknown" else licence


def _file_prov(path: str, note: str | None = None) -> Provenance:
    return Provenance(source=Source.FILE, file=path, note=note)


def _from_files(facts: ModelFacts) -> dict[Component, list[Evidence]]:
    found: dict[Component, list[Evidence]] = {}

    def add(c: Component, text: str, prov: Provenance) -> None:
        found.setdefault(c, []).append(Evidence(description=text, provenance=prov))

    paths = [f.path for f in facts.files]
    candidates = [f for f in facts.files if f.format in WEIGHT_FORMATS and not _TRAINING_STATE.search(f.path)]
    weights = [f.path for f in candidates if f.parameters or f.tensors] or [f.path for f in candidates]
    if weights:
        ckpt = [p for p in weights if _CHECKPOINT_DIR.search(p)]
        final = [p for p in weights if p not in ckpt]
        if final:
            add(
                Component.MODEL_PARAMETERS_FINAL,
                f"{len(final)} weight file(s), e.g. {final[0]}",
                _file_prov(final[0]),
            )
        if ckpt:
            add(
                Component.MODEL_PARAMETERS_INTERMEDIATE,
                f"{len(ckpt)} weight file(s) in checkpoint folders, e.g. {ckpt[0]}",
                _file_prov(ckpt[0]),
            )
    for p in paths:
        if (_METADATA_FILES.search(p) or _TRAINING_STATE.search(p)) and not _CHECKPOINT_DIR.search(p):
            add(Component.MODEL_METADATA, f"training/model configuration {p}", _file_prov(p))
        if _TOKENIZER.search(p):
            add(Component.SUPPORTING_LIBRARIES, f"tokenizer file {p}", _file_prov(p))
    for cid, files in _by_role(paths).items():
        shown = ", ".join(files[:MAX_LISTED]) + (
            f" and {len(files) - MAX_LISTED} more" if len(files) > MAX_LISTED else ""
        )
        word = "files" if any(cid is c for c, _ in _roles()["documents"]) else "code"
        add(cid, f"{word}: {shown}", _file_prov(files[0]))
    if Component.MODEL_ARCHITECTURE not in found and facts.architecture is not None:
        add(
            Component.MODEL_ARCHITECTURE,
            f"architecture {facts.architecture.value} described by the config (its code lives in a library)",
            facts.architecture.provenance,
        )
    if facts.card is not None:
        card = facts.card
        add(
            Component.MODEL_CARD,
            f"model card {card.path} ({card.text_chars:,} characters)",
            _file_prov(card.path),
        )
        if card.metadata.get("model-index"):
            add(
                Component.EVALUATION_RESULTS,
                "evaluation results in the card's model-index",
                Provenance(source=Source.CARD, file=card.path, field="model-index"),
            )
        # docs/reference/openness.md §8.3: arXiv links → paper. The card's own `arxiv:` tags say which paper
        # is the model's; bare links may cite related work (MiniLM's cite its datasets' papers), so say so.
        tagged = [t.split(":", 1)[1] for t in facts.tags if t.lower().startswith("arxiv:")]
        linked = sorted({m.group(2) for link in card.links if (m := _ARXIV.search(link))} - set(tagged))
        if tagged:
            add(
                Component.RESEARCH_PAPER,
                "paper(s) tagged in the card: " + ", ".join(f"arXiv:{p}" for p in tagged),
                Provenance(source=Source.CARD, file=card.path, field="tags", note="arXiv tag"),
            )
        elif linked:
            add(
                Component.RESEARCH_PAPER,
                "paper(s) linked from the card (not tagged as the model's own; may be related work): "
                + ", ".join(f"arXiv:{p}" for p in linked),
                Provenance(source=Source.CARD, file=card.path, note="arXiv link"),
            )
    if any(p.startswith(".eval_results/") for p in paths):
        add(
            Component.EVALUATION_RESULTS,
            "evaluation result files in .eval_results/",
            _file_prov(".eval_results/"),
        )
    if facts.datasets:
        names = ", ".join(d.value for d in facts.datasets[:5]) + (" ..." if len(facts.datasets) > 5 else "")
        add(Component.DATASETS, f"training datasets declared: {names}", facts.datasets[0].provenance)
    return found


@cache
def _roles() -> dict[str, _Roles]:
    """{"code": ..., "documents": ...}: (component, path pattern) in order, the first match wins."""
    text = resources.files("modelwarden.openness").joinpath("data/file_roles.yaml").read_text("utf-8")
    raw: dict[str, list[dict[str, str]]] = yaml.safe_load(text)
    return {
        kind: tuple((Component(r["component"]), re.compile(r["pattern"], re.I)) for r in rules)
        for kind, rules in raw.items()
    }


def _by_role(paths: list[str]) -> dict[Component, list[str]]:
    """Source files and shipped documents or data, grouped by the component their path says they are."""
    found: dict[Component, list[str]] = {}
    for p in paths:
        if p.lower().endswith(_CODE_SUFFIXES):
            role = next((cid for cid, rx in _roles()["code"] if rx.search(p)), None)
        else:
            role = next((cid for cid, rx in _roles()["documents"] if rx.search(p)), None)
        if role is not None:
            found.setdefault(role, []).append(p)
    return found


def _manifest_evidence(cid: Component, decl: ComponentDecl) -> Evidence:
    where = decl.location or "(no location given)"
    text = f"declared in the manifest: {where}" + (f" — {decl.note}" if decl.note else "")
    return Evidence(
        description=text, provenance=Provenance(source=Source.MANIFEST, field=f"components.{cid.value}")
    )


def _shipped(evidence: list[Evidence]) -> bool:
    """Whether a component is in the release's own files (so under its licence), not only cited."""
    return any(e.provenance.source is Source.FILE for e in evidence)


@dataclass
class Collected:
    """The shared per-component record, plus what MOT-exact mode compares."""

    components: dict[str, ComponentEvidence]
    """All 17 components: presence, evidence, licence (canonical id) and openness (normalised)."""
    written: dict[str, str | None]
    """Present component → its licence string as the release description wrote it (None: none).
    MOT-exact mode compares these character for character; the research paper follows the same
    fall-back to the release licence as every other component (MOT's rule)."""


def _as_written(release: ReleaseLicence) -> str | None:
    """The release licence as a MOT file would carry it: a vocabulary id becomes its SPDX id (the
    Hub's `apache-2.0` is SPDX `Apache-2.0`); words a person wrote stay exactly as written."""
    if release.identifier:
        rec = lookup(release.text)
        if rec is not None and rec.spdx:
            return rec.spdx
    return release.text


def licence_as_written(facts: ModelFacts | None, manifest: Manifest | None) -> str | None:
    """The release licence as MOT-exact mode compares it (see `_as_written`)."""
    return _as_written(release_licence(facts, manifest))


def collect(facts: ModelFacts | None, manifest: Manifest | None) -> Collected:
    """All 17 components with presence, evidence, licence (as written) and openness (normalised)."""
    release = release_licence(facts, manifest)
    from_files = _from_files(facts) if facts is not None else {}
    declared = manifest.components if manifest is not None else {}
    out: dict[str, ComponentEvidence] = {}
    written: dict[str, str | None] = {}
    for cid in Component:
        evidence = list(from_files.get(cid, []))
        licence: str | None = None
        exact: str | None = None
        present = bool(evidence)
        if present:
            licence, exact = release.text, _as_written(release)
            if cid is Component.RESEARCH_PAPER and not _shipped(evidence):
                licence = exact = ARXIV_LICENCE
            if cid is Component.DATASETS and not _shipped(evidence):
                licence = exact = None  # the card names the datasets; their licences are not in these files
        decl = declared.get(cid)
        if decl is not None:
            evidence.append(_manifest_evidence(cid, decl))
            present = decl.present
            if decl.license:
                licence = exact = decl.license
            elif present and not from_files.get(cid) and _declared_release(release):
                # The publisher's release.license covers what they declare; a licence read from the
                # card is not stretched to components kept elsewhere (nothing guessed). Normalised
                # mode keeps a declared paper's licence open to question (an arXiv paper is usually
                # under arXiv's licence, not the release's); MOT gives it the release licence.
                exact = release.text
                licence = release.text if cid is not Component.RESEARCH_PAPER else None
        if not present:
            out[cid.value] = ComponentEvidence(present=False, evidence=evidence)
            continue
        written[cid.value] = exact
        out[cid.value] = ComponentEvidence(
            present=True, evidence=evidence, licence=_canonical(licence), open=_open(licence)
        )
    return Collected(out, written)
