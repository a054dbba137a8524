"""The files of a release as the inspect stage reads them: artifacts, cached JSON, problems, warnings.

Shared by the gatherers of `facts` and `parameters`: each reads JSON through `json()` (size-capped,
parsed once, a Problem instead of an exception) and reports through `facts.problems` / `warn()`.
"""

from __future__ import annotations

from typing import Any

from modelwarden.manifest import Manifest
from modelwarden.model import ArtifactFormat, ArtifactInfo, Fact, ModelFacts, Problem, Provenance, Source
from modelwarden.release import Release, read_json
from modelwarden.untrusted.io import open_regular

LINES_MAX_BYTES = 64 * 1024 * 1024


class ReleaseFiles:
    """The files of one release and the facts being assembled from them (shared by the inspect steps)."""

    def __init__(self, release: Release) -> None:
        self.release = release
        self.facts = ModelFacts(root=release.display, layout=release.layout, revision=release.revision)
        self.facts.problems.extend(release.problems)
        self.names = {f.rel for f in release.files}
        self.artifacts: dict[str, ArtifactInfo] = {}
        self.manifest: Manifest | None = None
        self.config_rel: str | None = None  # the model's config.json (or the single JSON file inspected)
        self._json_cache: dict[str, Any] = {}

    def json(self, rel: str) -> Any:
        """The parsed JSON of a release file, or None (the problem is recorded once)."""
        if rel not in self._json_cache:
            f = self.release.file(rel)
            doc, problem = None, None
            if f is not None and f.source is not None:  # a hub file too large to fetch whole
                problem = Problem(
                    file=rel, code="too_large", message="not fetched whole from the hub: not read as JSON"
                )
            elif f is not None:
                doc, problem = read_json(f.path, rel)
            if problem is not None:
                self.facts.problems.append(problem)
                info = self.artifacts.get(rel)
                if info is not None:
                    info.problems.append(problem)
            self._json_cache[rel] = doc
        return self._json_cache[rel]

    @property
    def config(self) -> dict[str, Any]:
        """The parsed config.json (an empty dict when absent or not a JSON object)."""
        return as_dict(self.json(self.config_rel) if self.config_rel else None)

    def count_lines(self, rel: str) -> int | None:
        """Lines of a text file of the release (bounded read); None when it cannot be read."""
        f = self.release.file(rel)
        if f is None:
            return None
        try:
            with open_regular(f.path) as fh:
                data = fh.read(LINES_MAX_BYTES)
        except OSError:
            return None
        return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)

    def warn(self, message: str) -> None:
        """Add a warning to the facts once."""
        if message not in self.facts.warnings:
            self.facts.warnings.append(message)

    def gguf(self) -> ArtifactInfo | None:
        """The GGUF file whose tensors were counted, if the model is a GGUF."""
        return next(
            (f for f in self.facts.files if f.format is ArtifactFormat.GGUF and f.role == "primary"), None
        )


def fact(value: Any, source: Source, file: str | None, fieldname: str | None = None) -> Fact[Any]:
    """A `Fact` read from `file` (and `fieldname` in it)."""
    return Fact[Any](value=value, provenance=Provenance(source=source, file=file, field=fieldname))


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a dict, else an empty one (JSON from a release may be anything)."""
    return value if isinstance(value, dict) else {}


def config_int(d: dict[str, Any], *keys: str) -> int | None:
    """The first positive integer among `keys` of a config dict."""
    for k in keys:
        v = d.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def compressed_tensors_bits(quant: dict[str, Any]) -> int | None:
    """Weight bits of a compressed-tensors `quantization_config` (config_groups.*.weights.num_bits)."""
    groups = quant.get("config_groups")
    if isinstance(groups, dict):
        for g in groups.values():
            w = g.get("weights") if isinstance(g, dict) else None
            if isinstance(w, dict) and isinstance(w.get("num_bits"), int):
                return int(w["num_bits"])
    return None


def dedupe(problems: list[Problem]) -> list[Problem]:
    """The problems without repeats (same file, code and message), in order."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for p in problems:
        key = (p.file, p.code, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
