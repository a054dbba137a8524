"""ONNX models: external-data locations and custom operator domains (reference/scanners.md technique 11).

Walks the ModelProto wire format (graph, nested subgraphs of If/Loop/Scan, functions, training graphs)
without reading initializer bytes. An external-data `location` that is absolute or climbs out of the
model's folder makes the loader read — or, when re-saving, overwrite — arbitrary files (CVE-2022-25882
and later bypasses); a location that resolves through a symlink outside the folder is the same thing.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from modelwarden.scan import protowire as pw
from modelwarden.scan.context import Buffer, Ctx, Scope
from modelwarden.scan.policy import format_policy

_MAX_DEPTH = 24


@dataclass
class _Collected:
    locations: list[tuple[str, str, int]] = field(default_factory=list)  # (tensor name, location, offset)
    domains: dict[str, int] = field(default_factory=dict)  # domain -> offset of its first use
    graphs: int = 0
    nodes: int = 0


def looks_like_model(buf: Buffer) -> bool:
    """True when the protobuf has the fields of a ModelProto (a graph or an opset import)."""
    try:
        for number, wire, _a, _b in pw.fields(buf, 0, min(len(buf), 1 << 16)):
            if (number, wire) in ((7, pw.LEN), (8, pw.LEN)):
                return True
    except pw.WireError:
        # The window may cut a field: decide on what was seen.
        return False
    return False


def analyse_onnx(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    got = _Collected()
    try:
        _model(buf, 0, len(buf), got)
    except pw.WireError as exc:
        ctx.add(scope, "onnx.malformed", f"ModelProto does not parse: {exc}")
    except RecursionError:
        ctx.add(scope, "onnx.malformed", "subgraphs nested too deeply")
    policy = format_policy()["onnx"]
    standard = set(policy["standard_domains"])
    runtime = set(policy["runtime_domains"])
    for domain, offset in got.domains.items():
        if domain in standard:
            continue
        if domain in runtime:
            ctx.add(
                scope,
                "onnx.runtime-domain",
                f"operators of the ONNX Runtime domain {domain!r}",
                evidence=domain,
                offset=offset,
            )
        else:
            ctx.add(
                scope,
                "onnx.custom-domain",
                f"operators of the custom domain {domain!r} need a native library",
                evidence=domain,
                offset=offset,
            )
    for tensor, location, offset in got.locations:
        _check_location(tensor, location, offset, scope, ctx)


def _check_location(tensor: str, location: str, offset: int, scope: Scope, ctx: Ctx) -> None:
    reason = _escapes(location)
    if reason:
        ctx.add(
            scope,
            "onnx.external-data-traversal",
            f"initializer {tensor!r} reads its data from {location!r}, which {reason}",
            evidence=location,
            offset=offset,
        )
        return
    folder = scope.path.parent if scope.path is not None else None
    if folder is None:
        return
    target = folder / location
    if target.is_symlink() or any(
        p.is_symlink() for p in target.parents if p != folder and folder in p.parents
    ):
        real = Path(os.path.realpath(target))
        if not real.is_relative_to(Path(os.path.realpath(folder))):
            ctx.add(
                scope,
                "onnx.external-data-traversal",
                f"initializer {tensor!r} reads {location!r}, a symlink to {real} outside the model folder",
                evidence=location,
                offset=offset,
            )
            return
    if not target.exists():
        ctx.add(
            scope,
            "onnx.external-data-missing",
            f"initializer {tensor!r} needs {location!r}, which is not next to the model",
            evidence=location,
            offset=offset,
        )


_DRIVE = re.compile(r"^[A-Za-z]:")


def _escapes(location: str) -> str | None:
    if not location:
        return "is empty"
    if "\x00" in location:
        return "contains a NUL byte"
    if location.startswith(("/", "\\")) or _DRIVE.match(location) or location.startswith("~"):
        return "is an absolute path"
    norm = posixpath.normpath(location.replace("\\", "/"))
    if norm == ".." or norm.startswith("../"):
        return "climbs out of the model folder"
    return None


# ModelProto field numbers (onnx.proto): opset_import 8, graph 7, training_info 20, functions 25.
def _model(buf: Buffer, a: int, b: int, got: _Collected) -> None:
    for number, wire, x, y in pw.fields(buf, a, b):
        if wire != pw.LEN:
            continue
        if number == 7:
            _graph(buf, x, y, got, 0)
        elif number == 8:
            _opset(buf, x, y, got)
        elif number == 20:  # TrainingInfoProto: initialization 1, algorithm 2
            for n2, w2, x2, y2 in pw.fields(buf, x, y):
                if w2 == pw.LEN and n2 in (1, 2):
                    _graph(buf, x2, y2, got, 1)
        elif number == 25:  # FunctionProto: node 7, opset_import 9, domain 10
            for n2, w2, x2, y2 in pw.fields(buf, x, y):
                if w2 != pw.LEN:
                    continue
                if n2 == 7:
                    _node(buf, x2, y2, got, 1)
                elif n2 == 9:
                    _opset(buf, x2, y2, got)


def _opset(buf: Buffer, a: int, b: int, got: _Collected) -> None:
    domain = ""
    for number, wire, x, y in pw.fields(buf, a, b):
        if number == 1 and wire == pw.LEN:
            domain = pw.text(buf, x, y)
    got.domains.setdefault(domain, a)


# GraphProto: node 1, initializer 5, sparse_initializer 15.
def _graph(buf: Buffer, a: int, b: int, got: _Collected, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise pw.WireError("subgraphs nested too deeply")
    got.graphs += 1
    for number, wire, x, y in pw.fields(buf, a, b):
        if wire != pw.LEN:
            continue
        if number == 1:
            _node(buf, x, y, got, depth)
        elif number == 5:
            _tensor(buf, x, y, got)
        elif number == 15:  # SparseTensorProto: values 1, indices 2
            for n2, w2, x2, y2 in pw.fields(buf, x, y):
                if w2 == pw.LEN and n2 in (1, 2):
                    _tensor(buf, x2, y2, got)


# NodeProto: attribute 5, domain 7.
def _node(buf: Buffer, a: int, b: int, got: _Collected, depth: int) -> None:
    got.nodes += 1
    domain = ""
    for number, wire, x, y in pw.fields(buf, a, b):
        if wire != pw.LEN:
            continue
        if number == 7:
            domain = pw.text(buf, x, y)
        elif number == 5:
            _attribute(buf, x, y, got, depth)
    got.domains.setdefault(domain, a)


# AttributeProto: t 5, g 6, tensors 10, graphs 11, sparse_tensor 22, sparse_tensors 23.
def _attribute(buf: Buffer, a: int, b: int, got: _Collected, depth: int) -> None:
    for number, wire, x, y in pw.fields(buf, a, b):
        if wire != pw.LEN:
            continue
        if number in (5, 10):
            _tensor(buf, x, y, got)
        elif number in (6, 11):
            _graph(buf, x, y, got, depth + 1)
        elif number in (22, 23):
            for n2, w2, x2, y2 in pw.fields(buf, x, y):
                if w2 == pw.LEN and n2 in (1, 2):
                    _tensor(buf, x2, y2, got)


# TensorProto: name 8, external_data 13 (key 1, value 2), data_location 14 (1 = EXTERNAL).
def _tensor(buf: Buffer, a: int, b: int, got: _Collected) -> None:
    name = ""
    location: str | None = None
    where = a
    for number, wire, x, y in pw.fields(buf, a, b):
        if number == 8 and wire == pw.LEN:
            name = pw.text(buf, x, y)
        elif number == 13 and wire == pw.LEN:
            key = value = ""
            for n2, w2, x2, y2 in pw.fields(buf, x, y):
                if w2 == pw.LEN and n2 == 1:
                    key = pw.text(buf, x2, y2)
                elif w2 == pw.LEN and n2 == 2:
                    value = pw.text(buf, x2, y2)
            if key == "location":
                location, where = value, x
    if location is not None:
        got.locations.append((name, location, where))
