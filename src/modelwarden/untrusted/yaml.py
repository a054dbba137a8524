"""YAML from files we did not write, parsed with bounds on nesting and on alias expansion.

`yaml.safe_load` executes nothing, but two shapes of a few kilobytes still take a process down:
nesting thousands of levels deep overflows the recursive composer (RecursionError), and a "billion
laughs" chain of anchors (`a: &a [x, x]`, `b: &b [*a, *a]`, ...) loads instantly as shared objects
that then expand exponentially the moment anything walks them (JSON encoding, pydantic, a copy).
Release folders (model cards, modelwarden.yaml) and operator files (gateway config, tiers, rules)
all go through `load`: the node graph is checked before any Python object is built.
"""

from __future__ import annotations

from typing import Any

import yaml

# A real manifest, card or gateway config nests under ten levels and holds a few thousand values.
MAX_DEPTH = 64
MAX_NODES = 200_000


class YamlTooComplex(yaml.YAMLError):
    """Nesting or alias expansion beyond the caps; reads like any other YAML error to callers."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        self.problem_mark = None
        super().__init__(problem)


class _Bounded:
    """Composer mix-in: counts nesting while composing, so depth fails before the stack does."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlTooComplex(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


def _expanded_size(root: yaml.Node) -> int:
    """Nodes the document would have with every alias expanded, stopping once over the cap.

    Shared nodes are counted once per reference (that is what a consumer walks) but sized once
    (memoised), so the check itself stays linear in the document."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk: a deep (but under-cap) document must not recurse either.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            total = 1 + sum(sizes[id(c)] for c in _children(node))
            sizes[key] = min(total, MAX_NODES + 1)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise YamlTooComplex("an alias refers to the node that contains it (a recursive document)")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load(text: str, *, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """Parse one YAML document with `loader` (a SafeLoader or subclass); YAMLError when invalid or
    over the caps, ValueError for an impossible date (`describe` words either for the user). The
    pure-Python composer is used on purpose: libyaml's recurses in C."""
    bounded = type(f"Bounded{loader.__name__}", (_Bounded, loader), {})
    parser = bounded(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise YamlTooComplex(f"expands to more than {MAX_NODES:,} values (aliases of aliases)")
        return parser.construct_document(node)
    finally:
        parser.dispose()


def describe(exc: Exception) -> str:
    """What `load` raised, as one line for the person who wrote the file (callers add the path)."""
    if isinstance(exc, yaml.reader.ReaderError):  # a control character or byte YAML does not allow
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"not valid YAML: character U+{char:04X} at offset {exc.position} is not allowed"
    if isinstance(exc, yaml.YAMLError):
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"
    # PyYAML builds dates while parsing: 2026-13-01 fails with a ValueError.
    return f"invalid value: {exc} (dates are YYYY-MM-DD)"
