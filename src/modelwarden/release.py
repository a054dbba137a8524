"""What a release is: its files, its layout and its components, from a path or a Hugging Face cache id.

`resolve(target)` accepts a model folder (Hugging Face snapshot layout or any folder of weights),
a single file, or `org/name[@revision]` — a repository in the local Hugging Face cache, resolved
offline through `huggingface_hub` (docs/reference/formats.md "Local cache"; `local_files_only=True`, never the
network).

Layouts (docs/reference/formats.md "Hugging Face conventions"): diffusers pipelines (`model_index.json` + one
folder per component), PEFT adapters (`adapter_config.json`), sentence-transformers (`modules.json`),
Hugging Face snapshots (`config.json`), other folders, single files.

Nothing here opens a weight file; `facts.inspect_path` reads them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwarden.errors import UsageError
from modelwarden.limits import MAX_FOLDER_FILES, MAX_JSON_BYTES
from modelwarden.manifest import find_manifest
from modelwarden.model import Layout, Problem
from modelwarden.untrusted.io import open_regular

if TYPE_CHECKING:
    from modelwarden.artifacts.source import ByteSource

_SKIP_DIRS = frozenset({".git", ".cache", "__pycache__", ".ipynb_checkpoints", ".hg", ".svn", "node_modules"})
_REPO_ID = re.compile(r"^(?:hf://)?(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<rev>[\w./-]+))?$")


@dataclass(frozen=True)
class ReleaseFile:
    rel: str  # POSIX path relative to the release root
    path: Path  # absolute path (may be a symlink, e.g. into a cache's blobs/)
    # A file not on this disk (a hub file read by byte ranges, modelwarden.hub): its bytes come from
    # here, and `path` does not exist.
    source: ByteSource | None = None
    # The SHA-256 the file's host records (the hub's LFS metadata), not computed from the bytes here.
    host_sha256: str | None = None


@dataclass(frozen=True)
class ComponentSpec:
    """A part of the release with its own folder: a diffusers component or a sentence-transformers module."""

    name: str
    path: str  # folder relative to the root ("" for the root itself)
    class_name: str | None = None
    library: str | None = None


@dataclass
class Release:
    target: str  # what the user asked for
    root: Path  # the folder the release lives in (a single file's parent folder)
    display: str  # how to name the release in output: a path or hf://org/name@revision
    layout: Layout
    files: list[ReleaseFile]
    components: list[ComponentSpec] = field(default_factory=list)
    repo_id: str | None = None
    revision: str | None = None
    manifest: Path | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def single_file(self) -> bool:
        return self.layout is Layout.SINGLE_FILE

    def file(self, rel: str) -> ReleaseFile | None:
        return next((f for f in self.files if f.rel == rel), None)


def resolve(target: str | Path) -> Release:
    """Resolve a path or a Hugging Face cache repo id into a Release (raises UsageError if neither)."""
    text = str(target)
    path = Path(text).expanduser()
    if os.path.lexists(path):
        return _from_path(text, path)
    m = _REPO_ID.match(text)
    if m:
        return _from_cache(text, m.group("repo"), m.group("rev"))
    raise UsageError(
        "no such file or folder (and not an org/name id of the local Hugging Face cache)", path=text
    )


def _from_path(target: str, path: Path) -> Release:
    if path.is_symlink() and not path.exists():
        raise UsageError(f"broken symbolic link (points to {os.readlink(path)!r})", path=target)
    path = path.resolve() if not path.is_dir() else path.absolute()
    if path.is_file():
        return Release(
            target=target,
            root=path.parent,
            display=str(path),
            layout=Layout.SINGLE_FILE,
            files=[ReleaseFile(path.name, path)],
            manifest=find_manifest(path),
        )
    if not path.is_dir():
        raise UsageError("not a regular file or folder", path=target)
    return _from_folder(target, path, display=str(path))


def _from_cache(target: str, repo_id: str, revision: str | None) -> Release:
    # docs/reference/formats.md: offline only. `local_files_only=True` makes huggingface_hub read refs/ and
    # snapshots/ of the local cache and never call the Hub; the host process's environment is left alone.
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        folder = snapshot_download(repo_id, revision=revision, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, HFValidationError, OSError, ValueError) as exc:
        raise UsageError(
            f"not a path, and not found in the local Hugging Face cache ({_cache_dir()}): "
            f"{type(exc).__name__}. inspect never downloads; fetch it first with `hf download {repo_id}`",
            path=target,
        ) from None
    snapshot = Path(str(folder))
    commit = snapshot.name
    release = _from_folder(target, snapshot, display=f"hf://{repo_id}@{commit}")
    release.repo_id = repo_id
    release.revision = commit
    return release


def _cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _from_folder(target: str, root: Path, *, display: str) -> Release:
    files, problems = _walk(root)
    return from_files(target, root, files, problems, display=display)


def from_files(
    target: str, root: Path, files: list[ReleaseFile], problems: list[Problem], *, display: str
) -> Release:
    """A release of the given files (a folder's, or a hub repository's: small files written under
    `root`, the others read through their `source`), with its layout and components."""
    names = {f.rel for f in files}
    components: list[ComponentSpec] = []
    if "model_index.json" in names:
        layout = Layout.DIFFUSERS
        components, bad = _diffusers_components(root / "model_index.json", names)
        problems += bad
    elif "adapter_config.json" in names:
        layout = Layout.PEFT_ADAPTER
    elif "modules.json" in names or "config_sentence_transformers.json" in names:
        layout = Layout.SENTENCE_TRANSFORMERS
        components, bad = _sentence_transformers_modules(root / "modules.json", names)
        problems += bad
    elif "config.json" in names:
        layout = Layout.HF_SNAPSHOT
    else:
        layout = Layout.FOLDER
    manifest = find_manifest(root)
    if layout is Layout.FOLDER and manifest is not None and all(_is_manifest_or_text(n) for n in names):
        layout = Layout.MANIFEST_ONLY
    return Release(
        target=target,
        root=root,
        display=display,
        layout=layout,
        files=files,
        components=components,
        manifest=manifest,
        problems=problems,
    )


def _is_manifest_or_text(name: str) -> bool:
    return name.endswith((".yaml", ".yml", ".md", ".txt")) or ("/" not in name and name.startswith("LICENSE"))


def _walk(root: Path) -> tuple[list[ReleaseFile], list[Problem]]:
    files: list[ReleaseFile] = []
    problems: list[Problem] = []

    def onerror(exc: OSError) -> None:
        where = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "."
        problems.append(
            Problem(file=where, code="unreadable", message=f"folder cannot be listed ({exc.strerror})")
        )

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        base = Path(dirpath)
        for name in sorted(filenames):
            p = base / name
            files.append(ReleaseFile(p.relative_to(root).as_posix(), p))
            if len(files) >= MAX_FOLDER_FILES:
                problems.append(
                    Problem(
                        file=".",
                        code="too_many_files",
                        message=f"more than {MAX_FOLDER_FILES:,} files: the rest is ignored",
                    )
                )
                return files, problems
    return files, problems


def read_json(path: Path, rel: str) -> tuple[Any, Problem | None]:
    """A small JSON file (config, index, tokenizer), size-capped; a Problem instead of an exception."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            return None, Problem(
                file=rel,
                code="too_large",
                message=f"{size:,} bytes is over the {MAX_JSON_BYTES:,}-byte cap for JSON",
            )
        with open_regular(path) as fh:
            data = fh.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        return None, Problem(
            file=rel, code="broken_symlink", message="file (or the link's target) does not exist"
        )
    except OSError as exc:
        return None, Problem(file=rel, code="unreadable", message=f"cannot be read ({exc.strerror or exc})")
    try:
        return json.loads(data), None
    except ValueError as exc:  # undecodable, malformed, or an integer over Python's 4,300-digit limit
        return None, Problem(file=rel, code="invalid_json", message=f"not valid JSON ({str(exc)[:120]})")
    except RecursionError:
        return None, Problem(file=rel, code="invalid_json", message="JSON nested too deeply")


def _diffusers_components(index: Path, _names: set[str]) -> tuple[list[ComponentSpec], list[Problem]]:
    doc, problem = read_json(index, "model_index.json")
    if problem is not None:
        return [], [problem]
    if not isinstance(doc, dict):
        return [], [Problem(file="model_index.json", code="invalid_json", message="not a JSON object")]
    components = []
    for key, value in doc.items():
        if key.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        library, class_name = value
        if library is None and class_name is None:
            continue  # an optional component this pipeline does not ship
        components.append(
            ComponentSpec(
                name=key,
                path=key,
                class_name=str(class_name) if class_name is not None else None,
                library=str(library) if library is not None else None,
            )
        )
    return components, []


def _sentence_transformers_modules(
    modules: Path, names: set[str]
) -> tuple[list[ComponentSpec], list[Problem]]:
    if "modules.json" not in names:
        return [ComponentSpec(name="Transformer", path="", library="sentence_transformers")], []
    doc, problem = read_json(modules, "modules.json")
    if problem is not None:
        return [], [problem]
    if not isinstance(doc, list):
        return [], [Problem(file="modules.json", code="invalid_json", message="not a JSON list of modules")]
    components = []
    for entry in doc:
        if not isinstance(entry, dict):
            continue
        module_type = str(entry.get("type") or "")
        components.append(
            ComponentSpec(
                name=module_type.rsplit(".", 1)[-1] or str(entry.get("name")),
                path=str(entry.get("path") or "").strip("/"),
                class_name=module_type or None,
                library="sentence_transformers",
            )
        )
    return components, []
