"""TensorFlow SavedModel graphs: ops with file-system or Python side effects (docs/reference/scanners.md §9).

Reads `saved_model.pb` at the wire level (no TensorFlow needed): every NodeDef of every MetaGraph's
GraphDef and of every function in its FunctionDefLibrary. A Keras SavedModel also carries
`keras_metadata.pb`, whose per-layer JSON is checked like a Keras config (Lambda layers, modules).
"""

from __future__ import annotations

import json

from modelwarden.artifacts import protowire as pw
from modelwarden.scan import keras_files
from modelwarden.scan.context import Buffer, Ctx, Scope
from modelwarden.scan.policy import format_policy


def analyse_saved_model(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    ops: list[tuple[str, str, str, int]] = []  # (op, node name, function or "", offset)
    try:
        for number, wire, a, b in pw.fields(buf):
            if number == 2 and wire == pw.LEN:  # SavedModel.meta_graphs
                _meta_graph(buf, a, b, ops)
    except pw.WireError as exc:
        ctx.add(scope, "savedmodel.malformed", f"saved_model.pb does not parse: {exc}")
    policy = format_policy()["savedmodel"]
    code_ops, file_ops = set(policy["code_ops"]), set(policy["file_ops"])
    for op, node, function, offset in ops:
        where = f"node {node!r}" + (f" in function {function!r}" if function else "")
        if op in code_ops:
            ctx.add(
                scope,
                "savedmodel.code-op",
                f"{op} at {where} calls a Python function of the loading process",
                evidence=op,
                offset=offset,
            )
        elif op in file_ops:
            ctx.add(
                scope,
                "savedmodel.file-op",
                f"{op} at {where} touches the file system",
                evidence=op,
                offset=offset,
            )


def _meta_graph(buf: Buffer, a: int, b: int, ops: list[tuple[str, str, str, int]]) -> None:
    for number, wire, x, y in pw.fields(buf, a, b):
        if number == 2 and wire == pw.LEN:  # MetaGraphDef.graph_def
            _graph_def(buf, x, y, ops)


def _graph_def(buf: Buffer, a: int, b: int, ops: list[tuple[str, str, str, int]]) -> None:
    for number, wire, x, y in pw.fields(buf, a, b):
        if wire != pw.LEN:
            continue
        if number == 1:  # GraphDef.node
            ops.append((*_node(buf, x, y), "", x))
        elif number == 2:  # GraphDef.library: FunctionDefLibrary.function (1)
            for n2, w2, x2, y2 in pw.fields(buf, x, y):
                if n2 == 1 and w2 == pw.LEN:
                    _function(buf, x2, y2, ops)


def _function(buf: Buffer, a: int, b: int, ops: list[tuple[str, str, str, int]]) -> None:
    name = ""
    nodes: list[tuple[str, str, int]] = []
    for number, wire, x, y in pw.fields(buf, a, b):
        if wire != pw.LEN:
            continue
        if number == 1:  # FunctionDef.signature: OpDef.name (1)
            for n2, w2, x2, y2 in pw.fields(buf, x, y):
                if n2 == 1 and w2 == pw.LEN:
                    name = pw.text(buf, x2, y2)
        elif number == 3:  # FunctionDef.node_def
            op, node = _node(buf, x, y)
            nodes.append((op, node, x))
    ops.extend((op, node, name, offset) for op, node, offset in nodes)


def _node(buf: Buffer, a: int, b: int) -> tuple[str, str]:
    op = name = ""
    for number, wire, x, y in pw.fields(buf, a, b):
        if wire == pw.LEN and number == 1:
            name = pw.text(buf, x, y)
        elif wire == pw.LEN and number == 2:
            op = pw.text(buf, x, y)
    return op, name


def analyse_keras_metadata(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    """keras_metadata.pb: SavedMetadata.nodes (1) -> SavedObject.metadata (4), a JSON string per layer."""
    try:
        for number, wire, a, b in pw.fields(buf):
            if number != 1 or wire != pw.LEN:
                continue
            for n2, w2, x2, y2 in pw.fields(buf, a, b):
                if n2 == 4 and w2 == pw.LEN and y2 - x2 <= ctx.limits.max_json_bytes:
                    try:
                        obj = json.loads(buf[x2:y2])
                    except (ValueError, RecursionError):
                        continue
                    keras_files.analyse_config(obj, scope, ctx, pointer=f"@{x2}")
    except pw.WireError as exc:
        ctx.add(scope, "savedmodel.malformed", f"keras_metadata.pb does not parse: {exc}")
