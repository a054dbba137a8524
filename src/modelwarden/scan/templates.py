"""Chat templates analysed as a Jinja syntax tree — parsed, never rendered.

Inference servers render `tokenizer.chat_template` (GGUF) and `chat_template` (tokenizer_config.json,
chat_template.jinja): an unsandboxed Jinja environment runs whatever Python the template reaches
(llama-cpp-python CVE-2024-34359, docs/reference/scanners.md §10). `SandboxedEnvironment().parse`
builds the AST only; this module looks for dunder chains, private attributes, attribute access on Jinja
globals (cycler/joiner/lipsum/namespace/self), computed attribute names, includes and references to
modules — constructs ordinary chat templates (Llama 3, ChatML, Mistral, Qwen) never use.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from modelwarden.scan.context import Ctx, Scope
from modelwarden.scan.policy import format_policy

_FORMAT_FIELD = re.compile(r"\{[^{}]*?(?:\.|\[)\s*_")


@cache
def _env() -> SandboxedEnvironment:
    # The extensions HF and llama.cpp enable (loop controls) so their templates parse.
    return SandboxedEnvironment(extensions=["jinja2.ext.loopcontrols"])


def analyse_template(source: str, scope: Scope, ctx: Ctx, *, label: str) -> None:
    if len(source) > ctx.limits.max_template_chars:
        ctx.add(
            scope,
            "template.suspicious",
            f"{len(source)} characters, beyond the {ctx.limits.max_template_chars} analysed",
            entry=label,
        )
        return
    try:
        tree = _env().parse(source)
    except TemplateSyntaxError as exc:
        ctx.add(scope, "template.syntax-error", f"line {exc.lineno}: {exc.message}", entry=label)
        return
    except (RecursionError, MemoryError):
        ctx.add(scope, "template.syntax-error", "nested too deeply to parse", entry=label)
        return
    _Judge(scope, ctx, label).run(tree)


class _Judge:
    def __init__(self, scope: Scope, ctx: Ctx, label: str) -> None:
        policy = format_policy()["templates"]
        self.scope, self.ctx, self.label = scope, ctx, label
        self.escape = set(policy["escape_attributes"])
        self.globals = set(policy["jinja_globals"])
        self.names = set(policy["suspicious_names"])
        self.methods = set(policy["suspicious_methods"])

    def run(self, tree: nodes.Template) -> None:
        todo: list[nodes.Node] = [tree]
        while todo:
            node = todo.pop()
            self.judge(node)
            todo.extend(node.iter_child_nodes())

    def add(self, rule_id: str, node: nodes.Node, message: str, evidence: str) -> None:
        line = getattr(node, "lineno", None)
        self.ctx.add(self.scope, rule_id, f"line {line}: {message}", evidence=evidence, entry=self.label)

    def attribute(self, node: nodes.Node, base: nodes.Node, attr: str) -> None:
        if attr in self.escape or (attr.startswith("__") and attr.endswith("__")):
            self.add("template.sandbox-escape", node, f"accesses {attr!r}, a Python internal", attr)
        elif attr.startswith("_"):
            self.add("template.suspicious", node, f"accesses the private attribute {attr!r}", attr)
        elif isinstance(base, nodes.Name) and base.name in self.globals and base.name != "loop":
            self.add(
                "template.suspicious",
                node,
                f"accesses {base.name}.{attr} on a Jinja global",
                f"{base.name}.{attr}",
            )

    def judge(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Getattr):
            self.attribute(node, node.node, node.attr)
        elif isinstance(node, nodes.Getitem):
            key = node.arg
            if isinstance(key, nodes.Const) and isinstance(key.value, str):
                self.attribute(node, node.node, key.value)
            elif _is_computed_string(key):
                self.add(
                    "template.suspicious",
                    node,
                    "indexes with a computed string (hides an attribute name)",
                    "[computed]",
                )
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            arg = node.args[0] if node.args else None
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                self.attribute(node, node.node or node, arg.value)
            else:
                self.add(
                    "template.suspicious", node, "the attr filter with a computed name", "|attr(computed)"
                )
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in self.names:
            if node.name == "self":
                return
            self.add("template.suspicious", node, f"refers to {node.name!r}", node.name)
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            if node.node.attr in self.methods:
                self.add(
                    "template.suspicious", node, f"calls a method named {node.node.attr!r}", node.node.attr
                )
        elif isinstance(node, nodes.Import | nodes.FromImport | nodes.Include | nodes.Extends):
            self.add(
                "template.suspicious",
                node,
                f"{type(node).__name__.lower()} loads another template file",
                type(node).__name__,
            )
        elif (
            isinstance(node, nodes.Const) and isinstance(node.value, str) and _FORMAT_FIELD.search(node.value)
        ):
            self.add(
                "template.sandbox-escape", node, "format string reaches a private attribute", node.value[:60]
            )


def _is_computed_string(key: Any) -> bool:
    """A key built from string pieces ('__cla' ~ 'ss__', [...]|join, 'x'|format(...))."""
    if isinstance(key, nodes.Concat):
        return True
    if isinstance(key, nodes.Add) and any(
        isinstance(side, nodes.Const) and isinstance(side.value, str) for side in (key.left, key.right)
    ):
        return True
    return isinstance(key, nodes.Filter) and key.name in (
        "join",
        "format",
        "replace",
        "reverse",
        "string",
        "lower",
        "upper",
    )
