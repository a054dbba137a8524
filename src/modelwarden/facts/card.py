"""The model card (`README.md`): YAML front matter through `huggingface_hub.ModelCard`, and its links.

`ModelCard` parses the front matter with `yaml.safe_load` and validates the Hub's fields (license,
base_model, datasets, model-index...). The card is read from disk under a size cap and handed to the
class directly, so nothing goes near the network. A front matter that does not parse is reported
and read again leniently (`ignore_metadata_errors`), so a broken `model-index` does not hide the
licence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelwarden.limits import MAX_CARD_BYTES
from modelwarden.model import CardInfo, Problem
from modelwarden.untrusted import yaml as untrusted_yaml
from modelwarden.untrusted.io import open_regular

_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+")
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5}|[a-z\-]+/\d{7})", re.IGNORECASE)
_ARXIV_TAG = re.compile(r"^arxiv:(.+)$", re.IGNORECASE)
MAX_LINKS = 200


@dataclass
class Card:
    """A parsed model card: its record, its text and what could not be read."""

    info: CardInfo
    text: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def metadata(self) -> dict[str, Any]:
        """The YAML front matter as parsed."""
        return self.info.metadata

    @property
    def arxiv_ids(self) -> list[str]:
        """arXiv ids linked in the text or tagged `arxiv:<id>`, first occurrence first."""
        ids = [m.group(1) for m in _ARXIV_URL.finditer(self.text)]
        for tag in self.metadata.get("tags") or []:
            m = _ARXIV_TAG.match(str(tag))
            if m:
                ids.append(m.group(1))
        return list(dict.fromkeys(ids))


def read_card(path: Path, rel: str) -> Card:
    """Parse a README.md model card; what cannot be read is reported in `Card.problems`."""
    # A card built from text (`ModelCard(content)`) is parsed locally: huggingface_hub loads nothing.
    from huggingface_hub import ModelCard

    problems: list[Problem] = []
    try:
        with open_regular(path) as fh:
            raw = fh.read(MAX_CARD_BYTES + 1)
    except OSError as exc:
        return Card(
            CardInfo(path=rel),
            "",
            [Problem(file=rel, code="unreadable", message=f"cannot be read ({exc.strerror})")],
        )
    if len(raw) > MAX_CARD_BYTES:
        problems.append(
            Problem(
                file=rel,
                code="too_large",
                message=f"card over {MAX_CARD_BYTES:,} bytes: only the start is read",
                severity="warning",
            )
        )
        raw = raw[:MAX_CARD_BYTES]
    content = _without_hostile_front_matter(raw.decode("utf-8", errors="replace"), rel, problems)
    try:
        card = ModelCard(content)
    except (
        Exception
    ) as exc:  # ModelCard raises ValueError, yaml errors, pydantic-like errors for bad metadata
        problems.append(
            Problem(
                file=rel,
                code="invalid_card_metadata",
                message=f"front matter does not parse ({type(exc).__name__}: {str(exc)[:120]}); "
                "read leniently",
                severity="warning",
            )
        )
        try:
            card = ModelCard(content, ignore_metadata_errors=True)
        except Exception:
            return Card(CardInfo(path=rel, text_chars=len(content)), content, problems)
    metadata = _plain(card.data.to_dict())  # type: ignore[no-untyped-call]
    text = card.text
    links = _URL.findall(text)
    result = Card(CardInfo(path=rel, metadata=metadata, text_chars=len(text)), text, problems)
    # arXiv papers named only by a tag (the Hub adds `arxiv:<id>` tags from paper links) become links too.
    links += [f"https://arxiv.org/abs/{i}" for i in result.arxiv_ids]
    result.info.links = list(dict.fromkeys(link.rstrip(".,;:") for link in links))[:MAX_LINKS]
    return result


def _without_hostile_front_matter(content: str, rel: str, problems: list[Problem]) -> str:
    """The card, minus a front matter that would exhaust memory or the stack once parsed.

    `ModelCard` uses plain `yaml.safe_load`: an alias chain of a few hundred bytes loads as shared
    objects that expand to billions of values when the metadata is copied. Such front matter is
    checked with bounded parsing first and dropped (reported) if over the caps."""
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    match = REGEX_YAML_BLOCK.search(content)
    if not match:
        return content
    try:
        untrusted_yaml.load(match.group(2))
    except untrusted_yaml.YamlTooComplex as exc:
        problems.append(
            Problem(
                file=rel,
                code="invalid_card_metadata",
                message=f"front matter ignored: {exc.problem}",
                severity="warning",
            )
        )
        return content[match.end() :]
    except Exception:  # noqa: S110 - any other YAML problem: ModelCard reports it, reads leniently
        pass
    return content


def _plain(value: Any) -> Any:
    """Front-matter values as JSON-compatible data (YAML dates become ISO strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def as_list(value: Any) -> list[str]:
    """A card field that may be a string or a list of strings, as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]
