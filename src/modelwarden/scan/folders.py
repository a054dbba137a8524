"""Release folders: which files to scan, and what the folder itself says (docs/reference/scanners.md §6, §13).

- symbolic links must stay inside the release (a Hugging Face cache snapshot links into its repo's
  `blobs/`, which is inside the release as far as loaders are concerned); escaping links are reported
  and not followed;
- Python files named like remote-code modules, or referenced by an `auto_map`, run when
  `trust_remote_code` is enabled; other Python files are listed at info level;
- version-control folders are skipped (their zlib objects are not model content).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from modelwarden.limits import MAX_FOLDER_FILES
from modelwarden.records import Problem
from modelwarden.scan.configs import auto_map_modules

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints"}
_REMOTE_CODE = re.compile(
    r"(modeling|configuration|tokenization|processing|image_processing|feature_extraction|"
    r"video_processing|pipeline|custom_generate|generate)_.*\.py$|^custom_.*\.py$|^pipeline\.py$"
)
_CONFIGS_WITH_AUTO_MAP = (
    "config.json",
    "tokenizer_config.json",
    "processor_config.json",
    "preprocessor_config.json",
    "feature_extractor_config.json",
    "image_processor_config.json",
    "video_preprocessor_config.json",
)


@dataclass
class FolderEntry:
    path: Path  # on disk
    rel: str  # relative to the folder, with forward slashes


@dataclass
class FolderIssue:
    rule_id: str
    rel: str
    message: str
    evidence: str | None = None


@dataclass
class Walk:
    files: list[FolderEntry] = field(default_factory=list)
    issues: list[FolderIssue] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def allowed_roots(root: Path) -> list[Path]:
    real = Path(os.path.realpath(root))
    roots = [real]
    # models--org--name/snapshots/<rev>/file -> ../../blobs/<sha>
    if real.parent.name == "snapshots":
        roots.append(real.parent.parent / "blobs")
    return roots


def walk(root: Path) -> Walk:
    out = Walk()
    roots = allowed_roots(root)
    todo = [root]
    seen_dirs: set[str] = set()
    while todo:
        folder = todo.pop()
        try:
            with os.scandir(folder) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            out.problems.append(
                Problem(file=str(folder), code="unreadable", message=f"cannot list folder: {exc}")
            )
            continue
        for item in items:
            path = Path(item.path)
            rel = path.relative_to(root).as_posix()
            if item.is_symlink():
                target = os.readlink(path)
                real = Path(os.path.realpath(path))
                if not any(real == r or real.is_relative_to(r) for r in roots):
                    out.issues.append(
                        FolderIssue(
                            "folder.symlink-escape",
                            rel,
                            f"symlink {rel!r} points to {target!r}, outside the model folder",
                            evidence=str(real),
                        )
                    )
                    continue
                if not real.exists():
                    continue  # a dangling link inside the folder: nothing to read
                if real.is_dir():
                    continue  # the linked folder is inside the release and scanned where it lives
            if item.is_dir(follow_symlinks=False):
                if item.name in SKIP_DIRS:
                    continue
                key = os.path.realpath(path)
                if key not in seen_dirs:
                    seen_dirs.add(key)
                    todo.append(path)
                continue
            if not item.is_file():  # a FIFO, socket or device: opening it could block or never end
                out.problems.append(
                    Problem(
                        file=str(root / rel),
                        code="not_a_regular_file",
                        message="not a regular file (device, socket or pipe): not opened",
                    )
                )
                continue
            if len(out.files) >= MAX_FOLDER_FILES:
                out.problems.append(
                    Problem(
                        file=str(root),
                        code="too_many_files",
                        message=f"more than {MAX_FOLDER_FILES} files: rest skipped",
                    )
                )
                return out
            out.files.append(FolderEntry(path, rel))
    out.files.sort(key=lambda f: f.rel)
    _python_files(root, out)
    return out


def _python_files(root: Path, out: Walk) -> None:
    referenced: set[str] = set()
    for f in out.files:
        if f.path.name in _CONFIGS_WITH_AUTO_MAP and f.path.stat().st_size < 16 << 20:
            try:
                referenced |= auto_map_modules(json.loads(f.path.read_bytes()))
            except (ValueError, OSError, RecursionError):
                continue
    for f in out.files:
        if not f.rel.endswith(".py"):
            continue
        stem = f.rel[:-3].replace("/", ".")
        name = f.path.name
        if stem in referenced or name[:-3] in referenced:
            out.issues.append(
                FolderIssue("folder.remote-code", f.rel, f"{f.rel} is referenced by auto_map", evidence=f.rel)
            )
        elif _REMOTE_CODE.search(name):
            out.issues.append(
                FolderIssue(
                    "folder.remote-code",
                    f.rel,
                    f"{f.rel} is named like a remote-code module that trust_remote_code loads",
                    evidence=f.rel,
                )
            )
        else:
            out.issues.append(
                FolderIssue("folder.python-file", f.rel, f"{f.rel} is Python code, not loaded automatically")
            )
