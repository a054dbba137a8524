"""Assess a path on the server's machine for `POST /api/v1/assessments/from-path`.

Only what lies inside the folders the operator allowed (`serve --submit-root DIR`) is read. Resolving
the submitted path is not enough: the assess stage reads every file of a folder, and a file of the
folder may be a symbolic link to a secret elsewhere (`.git-credentials -> ~/.git-credentials`), a
hard link to one, or sit under a bind mount of another folder. What the stage extracts is then stored
where unauthenticated readers see it. So before anything is read, `confine` walks the whole
submission without following links and refuses it if any entry:

- is a symbolic link whose target (fully resolved) is outside the submit root, or broken;
- is a regular file with more than one hard link (its other names may be anywhere on the disk);
- is a mount point below the submit root (a bind mount brings another folder in), or a folder on
  another device than its parent;
- is neither a regular file nor a folder (device, FIFO, socket).

Links that stay inside the root (a Hugging Face cache's snapshot links into `blobs/`) are allowed,
and the folders they point to are walked too. The walk records what it saw; `unchanged` checks it
again after the assessment, so swapping an entry for a link while the stage runs makes the
submission fail instead of storing what the link reached.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelwarden.limits import MAX_FOLDER_FILES
from modelwarden.model import Assessment
from modelwarden.web.errors import ApiError

# As many entries as inspect and scan walk (one cap, limits.py); a larger tree is refused unchecked.
MAX_ENTRIES = MAX_FOLDER_FILES
MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class Seen:
    """What the walk saw of one entry, to notice a swap after the assessment."""

    kind: int
    """`stat.S_IFMT` of the entry itself (a link is a link)."""
    device: int
    """`st_dev` of the entry."""
    inode: int
    """`st_ino` of the entry."""
    changed_ns: int
    """`st_ctime_ns`: any rename, relink or write updates it, and no caller can set it back."""
    target: str | None
    """For a symbolic link: its fully resolved target."""


@dataclass
class Confined:
    """A submission that passed the checks."""

    path: Path
    """The resolved path to assess."""
    root: Path
    """The submit root it lies in."""
    seen: dict[str, Seen] = field(default_factory=dict)
    """Every entry walked, by absolute path."""


def _refuse(message: str) -> ApiError:
    return ApiError(403, "path_not_allowed", message)


def allowed_path(raw: str, roots: Sequence[Path], *, what: str = "path") -> tuple[Path, Path]:
    """The resolved path and the submit root holding it, or an error."""
    if not roots:
        raise ApiError(
            403,
            "submit_disabled",
            "submitting paths is disabled: start the server with --submit-root DIR to allow a folder",
        )
    candidate = Path(raw)
    if not candidate.is_absolute():
        raise ApiError(422, "invalid_request", f"{what} must be an absolute path on the server")
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ApiError(404, "not_found", f"{what} does not exist on the server: {raw}") from None
    root = next((r for r in roots if resolved.is_relative_to(r)), None)
    if root is None:
        raise _refuse(f"{what} is outside the folders this server may read: {raw}")
    return resolved, root


def mount_points(mountinfo: Path = MOUNTINFO) -> frozenset[Path]:
    """Every mount point of this process's mount namespace (bind mounts included, which `st_dev`
    alone does not reveal). Without a readable table, every folder is treated as a possible one."""
    points: set[Path] = set()
    with mountinfo.open("rb") as fh:
        for line in fh:
            fields = line.split(b" ")
            if len(fields) > 4:
                # Field 5 is the mount point, with space, tab, newline and backslash as octal escapes.
                raw = fields[4].decode("unicode_escape").encode("latin-1")
                points.add(Path(raw.decode("utf-8", "surrogateescape")))
    return frozenset(points)


class _Walk:
    """An iterative walk (a tree deeper than Python's recursion limit is still checked)."""

    def __init__(self, root: Path, mounts: frozenset[Path]) -> None:
        self.root = root
        self.mounts = mounts
        self.seen: dict[str, Seen] = {}
        self.folders: set[tuple[int, int]] = set()
        self.todo: list[tuple[Path, int | None]] = []

    def run(self, start: Path, *, descend: bool = True) -> None:
        self.todo.append((start, None))
        while self.todo:
            path, parent_device = self.todo.pop()
            self._entry(path, parent_device, descend=descend)

    def note(self, path: Path, st: os.stat_result, target: str | None = None) -> None:
        if len(self.seen) >= MAX_ENTRIES:
            raise ApiError(
                422, "too_many_files", f"more than {MAX_ENTRIES:,} entries: too many to check before reading"
            )
        self.seen[str(path)] = Seen(stat.S_IFMT(st.st_mode), st.st_dev, st.st_ino, st.st_ctime_ns, target)

    def ancestors(self, path: Path) -> None:
        """The folders from the root down to `path`: none may be a mount point or change device."""
        device = self.root.stat().st_dev
        for folder in reversed(path.parents):
            if folder == self.root or not folder.is_relative_to(self.root):
                continue
            st = folder.lstat()
            self.note(folder, st)
            if folder in self.mounts or st.st_dev != device:
                raise _refuse(f"{self._rel(folder)} is a mount point: it may bring in another folder")

    def _entry(self, path: Path, parent_device: int | None, *, descend: bool) -> None:
        """Check one entry, not following it if it is a link; queue what a folder holds."""
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            target = self._link_target(path)
            self.note(path, st, str(target))
            self.ancestors(target)
            self.todo.append((target, None))  # the target itself: a file, a folder to walk, a link
            return
        self.note(path, st)
        if stat.S_ISREG(st.st_mode):
            if st.st_nlink > 1:
                raise _refuse(
                    f"{self._rel(path)} has {st.st_nlink} hard links, and the other names may be outside "
                    "the submit root: copy the file instead of linking it"
                )
        elif stat.S_ISDIR(st.st_mode):
            if path != self.root and path in self.mounts:
                raise _refuse(f"{self._rel(path)} is a mount point: it may bring in a folder from elsewhere")
            if parent_device is not None and st.st_dev != parent_device:
                raise _refuse(f"{self._rel(path)} is on another device than its parent folder (a mount)")
            if descend and (st.st_dev, st.st_ino) not in self.folders:  # a folder reached twice: done
                self.folders.add((st.st_dev, st.st_ino))
                with os.scandir(path) as listing:
                    names = sorted((e.name for e in listing), reverse=True)
                self.todo += [(path / name, st.st_dev) for name in names]
        else:
            raise _refuse(f"{self._rel(path)} is not a regular file or folder (device, FIFO or socket)")

    def _link_target(self, path: Path) -> Path:
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise _refuse(f"{self._rel(path)} is a broken or looping symbolic link") from None
        if not target.is_relative_to(self.root):
            raise _refuse(f"{self._rel(path)} is a symbolic link to a place outside the submit root")
        return target

    def _rel(self, path: Path) -> str:
        # Paths inside the root only: where a link points outside is not echoed back.
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else path.name


def confine(raw: str, roots: Sequence[Path], *, what: str = "path", mountinfo: Path = MOUNTINFO) -> Confined:
    """Check the whole submission before anything of it is read (see the module docstring).

    A folder is walked entirely; a single file is checked with the folder it sits in (the assess
    stage reads the manifest, card and configs beside it), but not that folder's subfolders.
    """
    path, root = allowed_path(raw, roots, what=what)
    try:
        mounts = mount_points(mountinfo)
    except OSError:
        raise _refuse("the mount table cannot be read, so bind mounts cannot be ruled out") from None
    walk = _Walk(root, mounts)
    try:
        walk.ancestors(path)
        if path.is_dir():
            walk.run(path)
        else:
            walk.run(path)
            # The folder beside the file: its entries are checked, its subfolders noted (a swap of
            # one for a link is still noticed) but not walked.
            for sibling in sorted(path.parent.iterdir()):
                if sibling != path:
                    walk.run(sibling, descend=False)
    except OSError as exc:
        raise _refuse(f"{what} cannot be checked: {exc.strerror or exc}") from None
    return Confined(path=path, root=root, seen=walk.seen)


def unchanged(confined: Confined) -> bool:
    """True when every entry the check saw is still the same (same inode, no change since)."""
    for name, before in confined.seen.items():
        try:
            st = os.lstat(name)
        except OSError:
            return False
        now = Seen(stat.S_IFMT(st.st_mode), st.st_dev, st.st_ino, st.st_ctime_ns, before.target)
        if now != before:
            return False
        if before.target is not None and str(Path(name).resolve()) != before.target:
            return False
    return True


def run_assess(path: Path, manifest: Path | None, as_of: dt.date | None) -> Assessment:
    """Run the assess stage on a path of the server's machine (inside the allowed roots)."""
    from modelwarden.assess import assess_path
    from modelwarden.errors import ModelwardenError

    try:
        return assess_path(path, manifest=manifest, as_of=as_of)
    except ModelwardenError as exc:
        raise ApiError(422, "unprocessable", exc.message) from None
