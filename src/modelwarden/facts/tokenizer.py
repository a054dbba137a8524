"""Tokenizer facts from the tokenizer files of a release: vocabulary size and chat template presence.

Read as data only (JSON, text lines). A chat template is a Jinja program that inference servers
render: inspect notes that one exists and where; `scan` examines it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelwarden.model import Provenance, Source, TokenizerInfo

TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt",
    "vocab.json", "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
    "chat_template.jinja", "chat_template.json",
)  # fmt: skip

JsonReader = Callable[[str], Any]
LineCounter = Callable[[str], int | None]


def tokenizer_info(
    names: set[str], read_json: JsonReader, count_lines: LineCounter, folder: str = ""
) -> TokenizerInfo | None:
    """Tokenizer facts for the tokenizer files found in `folder` (relative names in `names`)."""
    prefix = f"{folder}/" if folder else ""
    present = [prefix + n for n in TOKENIZER_FILES if prefix + n in names]
    if not present:
        return None
    info = TokenizerInfo(files=present)
    vocab, where = _vocab_size(prefix, names, read_json, count_lines)
    if vocab is not None:
        info.vocab_size = vocab
        info.provenance = Provenance(source=Source.FILE, file=where[0], field=where[1])
    config = (
        read_json(prefix + "tokenizer_config.json") if prefix + "tokenizer_config.json" in names else None
    )
    if isinstance(config, dict) and config.get("chat_template"):
        info.chat_template = True
    if prefix + "chat_template.jinja" in names or prefix + "chat_template.json" in names:
        info.chat_template = True
    return info


def _vocab_size(
    prefix: str, names: set[str], read_json: JsonReader, count_lines: LineCounter
) -> tuple[int | None, tuple[str, str | None]]:
    rel = prefix + "tokenizer.json"
    if rel in names:
        doc = read_json(rel)
        if isinstance(doc, dict) and isinstance(doc.get("model"), dict):
            vocab = doc["model"].get("vocab")
            if isinstance(vocab, dict | list):
                base = len(vocab)
                ids = [t.get("id") for t in doc.get("added_tokens") or [] if isinstance(t, dict)]
                extra = sum(1 for i in ids if isinstance(i, int) and i >= base)
                return base + extra, (rel, "model.vocab + added_tokens")
    rel = prefix + "vocab.json"
    if rel in names:
        doc = read_json(rel)
        if isinstance(doc, dict):
            return len(doc), (rel, None)
    rel = prefix + "vocab.txt"
    if rel in names:
        lines = count_lines(rel)
        if lines is not None:
            return lines, (rel, "lines")
    return None, ("", None)
