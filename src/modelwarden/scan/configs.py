"""JSON and text files of a release: remote-code hooks, chat templates, Keras configs, scripts.

- `auto_map` in config.json / tokenizer_config.json / processor configs names Python classes that
  an enabled `trust_remote_code` downloads and runs (docs/reference/scanners.md §13), possibly
  from another repository ("org/repo--module.Class");
- sentence-transformers `modules.json` and diffusers `model_index.json` can name custom module classes;
- `chat_template` (a string or a list of named templates), `chat_template.json` and `chat_template.jinja`
  are Jinja code (technique 10).
"""

from __future__ import annotations

import json
from typing import Any

from modelwarden.scan import keras_files
from modelwarden.scan.context import Buffer, Ctx, Scope

_KNOWN_LIBRARIES = {"diffusers", "transformers", "sentence_transformers", "peft", "timm", "open_clip", None}


def analyse_json(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    if scope.name.endswith((".jinja", ".j2")):
        analyse_text(buf, scope, ctx)  # a template that starts with "{{" looks like JSON
        return
    if len(buf) > ctx.limits.max_json_bytes:
        return  # large JSON (tokenizer.json vocabularies) holds data, not hooks
    try:
        obj = json.loads(buf[: len(buf)])
    except (ValueError, RecursionError):
        analyse_text(buf, scope, ctx)  # not JSON after all
        return
    if keras_files.looks_like_keras_config(obj):
        keras_files.analyse_config(obj, scope, ctx)
        return
    if isinstance(obj, dict):
        _auto_map(obj, scope, ctx)
        _chat_templates(obj, scope, ctx)
        if scope.name == "model_index.json":
            _diffusers_components(obj, scope, ctx)
    if isinstance(obj, list) and scope.name == "modules.json":
        _sentence_transformers_modules(obj, scope, ctx)


def auto_map_modules(obj: Any) -> set[str]:
    """Module file stems referenced by an auto_map ("modeling_x.Class" -> "modeling_x")."""
    refs: set[str] = set()
    if not isinstance(obj, dict) or not isinstance(obj.get("auto_map"), dict):
        return refs
    for value in obj["auto_map"].values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and "." in item:
                refs.add(item.split("--")[-1].rsplit(".", 1)[0])
    return refs


def _auto_map(obj: dict[str, Any], scope: Scope, ctx: Ctx) -> None:
    amap = obj.get("auto_map")
    if not isinstance(amap, dict) or not amap:
        return
    refs = []
    for key, value in amap.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                refs.append(f"{key}={item}")
    remote = [r for r in refs if "--" in r]
    message = f"auto_map names {len(refs)} class(es) loaded with trust_remote_code"
    if remote:
        message += f"; {len(remote)} come from another repository"
    ctx.add(scope, "folder.remote-code", message, evidence=", ".join(refs[:6]), pointer="/auto_map")


def _chat_templates(obj: dict[str, Any], scope: Scope, ctx: Ctx) -> None:
    template = obj.get("chat_template")
    if isinstance(template, str):
        analyse_template(template, scope, ctx, label="chat_template")
    elif isinstance(template, list):
        for i, item in enumerate(template):
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                analyse_template(item["template"], scope, ctx, label=f"chat_template[{item.get('name', i)}]")


def _sentence_transformers_modules(obj: list[Any], scope: Scope, ctx: Ctx) -> None:
    for i, module in enumerate(obj):
        kind = module.get("type") if isinstance(module, dict) else None
        if isinstance(kind, str) and not kind.startswith("sentence_transformers."):
            ctx.add(
                scope,
                "folder.remote-code",
                f"sentence-transformers module {kind!r} is custom code loaded with trust_remote_code",
                evidence=kind,
                pointer=f"/{i}/type",
            )


def _diffusers_components(obj: dict[str, Any], scope: Scope, ctx: Ctx) -> None:
    for name, value in obj.items():
        if name.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        library = value[0]
        if library not in _KNOWN_LIBRARIES:
            ctx.add(
                scope,
                "folder.remote-code",
                f"pipeline component {name!r} comes from {library!r}: custom code (trust_remote_code)",
                evidence=f"{library}.{value[1]}",
                pointer=f"/{name}",
            )


def analyse_text(buf: Buffer, scope: Scope, ctx: Ctx) -> None:
    name = scope.name
    if name.endswith(".jinja") or name.endswith(".j2"):
        if len(buf) <= ctx.limits.max_template_chars * 4:
            analyse_template(buf[: len(buf)].decode("utf-8", errors="replace"), scope, ctx, label=name)
        return
    if buf[:2] == b"#!" and scope.depth == 0 and not name.endswith(".py"):
        ctx.add(scope, "folder.script", f"script with interpreter line {buf[:80].splitlines()[0]!r}")


def analyse_template(source: str, scope: Scope, ctx: Ctx, *, label: str) -> None:
    # jinja2 is imported only when a file carries a template: most scans never need it.
    from modelwarden.scan.templates import analyse_template as analyse

    analyse(source, scope, ctx, label=label)
