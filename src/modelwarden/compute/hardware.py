"""The accelerator table (`data/hardware.yaml`): dense peak throughput per precision, utilisation band.

The hardware method of compute estimation (compute.md §5, EU Guidelines Annex A) multiplies
chip-hours by the chip's dense peak at the training precision and a utilisation. The numbers live in
the data file; this module validates and looks them up.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

DATA = Path(__file__).parent / "data" / "hardware.yaml"

# Training usually runs its matmuls in BF16 (or FP16 on chips without BF16): the default when the
# precision is not stated, recorded as an assumption by the caller.
DEFAULT_PRECISIONS = ("bf16", "fp16")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Utilisation(_Strict):
    low: float = Field(gt=0, le=1)
    central: float = Field(gt=0, le=1)
    high: float = Field(gt=0, le=1)
    source: str
    plausible_low: float = Field(gt=0, le=1)
    plausible_high: float = Field(gt=0, le=1)
    stated_wallclock_factor: float = Field(gt=0, le=1)
    stated_source: str


class Pue(_Strict):
    low: float = Field(ge=1)
    central: float = Field(ge=1)
    high: float = Field(ge=1)


class Accelerator(_Strict):
    id: str
    name: str
    aliases: list[str]
    peak_tflops: dict[str, float]
    tdp_watts: float | None = None
    confidence: str

    def peak_flop_s(self, precision: str) -> float | None:
        tflops = self.peak_tflops.get(precision)
        return tflops * 1e12 if tflops is not None else None


class HardwareTable(_Strict):
    utilisation: Utilisation
    pue: Pue
    accelerators: list[Accelerator]

    def find(self, name: str) -> Accelerator | None:
        index = _INDEXES.get(id(self))
        if index is None:
            index = _INDEXES[id(self)] = _index(self)
        return index.get(normalise(name))

    def names(self) -> list[str]:
        return [acc.aliases[0].upper() for acc in self.accelerators]


def normalise(name: str) -> str:
    """`A100-80GB` → `a100`; `TPU v4` → `tpuv4`; `H100 SXM5` → `h100sxm5`."""
    lowered = re.sub(r"[\s_-]*\(?\d+\s*gb\)?$", "", name.strip().lower())  # memory suffix: "-80GB"
    return re.sub(r"[^a-z0-9]", "", lowered)


_INDEXES: dict[int, dict[str, Accelerator]] = {}  # per loaded table (tables are frozen and few)


def _index(tab: HardwareTable) -> dict[str, Accelerator]:
    """Normalised id and aliases -> accelerator (the first entry wins, as a linear search would)."""
    index: dict[str, Accelerator] = {}
    for acc in tab.accelerators:
        for key in (normalise(acc.id), *acc.aliases):
            index.setdefault(key, acc)
    return index


@cache
def table() -> HardwareTable:
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return HardwareTable.model_validate(data)
