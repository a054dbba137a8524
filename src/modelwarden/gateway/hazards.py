"""The hazard categories every classifier reports in: S1–S14 plus JB (data/hazards.yaml)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict


class OpenAIMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    category: str
    partial: bool = False


class Hazard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    name: str
    gist: str
    openai: tuple[OpenAIMapping, ...] = ()


@cache
def hazards() -> dict[str, Hazard]:
    """Code → hazard, in taxonomy order (S1 … S14, JB)."""
    text = resources.files("modelwarden.gateway").joinpath("data/hazards.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)["categories"]
    return {code: Hazard(code=code, **body) for code, body in raw.items()}


def codes() -> tuple[str, ...]:
    return tuple(hazards())


def is_code(code: str) -> bool:
    return code in hazards()
