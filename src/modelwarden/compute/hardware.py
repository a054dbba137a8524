"""The accelerator table (`data/hardware.yaml`): dense peak throughput per precision, utilisation band.

The hardware method of compute estimation (docs/reference/compute.md §5, EU Guidelines Annex A) multiplies
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
    """The utilisation (MFU) range used when a developer states none (docs/reference/compute.md §3.2)."""

    low: float = Field(gt=0, le=1)
    central: float = Field(gt=0, le=1)
    high: float = Field(gt=0, le=1)
    source: str
    plausible_low: float = Field(gt=0, le=1)
    plausible_high: float = Field(gt=0, le=1)
    stated_wallclock_factor: float = Field(gt=0, le=1)
    stated_source: str
    stated_high_factor: float = Field(ge=1, le=2)
    """A stated MFU times this is the band's high edge (a stated MFU is not an exact ceiling)."""
    stated_high_source: str


class Pue(_Strict):
    """Data-centre power usage effectiveness range, for energy from chip-hours."""

    low: float = Field(ge=1)
    central: float = Field(ge=1)
    high: float = Field(ge=1)


class Accelerator(_Strict):
    """One accelerator of the table: names it goes by, dense peak per precision, board power."""

    id: str
    name: str
    aliases: list[str]
    peak_tflops: dict[str, float]
    tdp_watts: float | None = None
    confidence: str

    def peak_flop_s(self, precision: str) -> float | None:
        """Dense peak FLOP/s at `precision` ("bf16", "fp8", ...); None when the table has no figure."""
        tflops = self.peak_tflops.get(precision)
        return tflops * 1e12 if tflops is not None else None


class Naming(_Strict):
    """How accelerator names as papers write them are reduced to a table key (hardware.yaml `naming`)."""

    vendor_words: list[str]
    """Vendor and brand words that never tell chips apart ("nvidia", "tesla", "instinct")."""
    generic_words: list[str]
    """Words such as "gpu", "tensor core", "pod" that name no chip."""
    memory_types: list[str]
    """Memory-technology words ("hbm3"), dropped like memory sizes ("80 GB")."""
    form_factors: dict[str, str]
    """Form-factor word -> the form factor it names ("dgxs" -> "sxm")."""
    default_form_factors: list[str]
    """Form factors that fall back to the chip's bare entry (the entries describe these boards)."""


class HardwareTable(_Strict):
    """The accelerator table (compute/data/hardware.yaml) with utilisation and PUE ranges."""

    utilisation: Utilisation
    pue: Pue
    naming: Naming
    accelerators: list[Accelerator]

    def find(self, name: str) -> Accelerator | None:
        """The accelerator a name as papers write it refers to ("H100 SXM5 80GB"), or None."""
        key = (id(self), name)
        if key not in _FOUND:
            if len(_FOUND) > 4096:  # names come from manifests: keep the memo bounded
                _FOUND.clear()
            _FOUND[key] = self._find(name)
        return _FOUND[key]

    def _find(self, name: str) -> Accelerator | None:
        index = _INDEXES.get(id(self))
        if index is None:
            index = _INDEXES[id(self)] = _index(self)
        chip, form = parse_name(name, self.naming)
        if not chip:
            return None
        if form is not None:
            for key in (chip + form, chip + form.rstrip("0123456789")):
                if key in index:
                    return index[key]
            if form not in self.naming.default_form_factors and form.rstrip("0123456789") not in (
                self.naming.default_form_factors
            ):
                return None  # a PCIe/NVL board of a chip the table lists only as SXM: different peaks
        return index.get(chip)

    def names(self) -> list[str]:
        """The accelerators' display names, for messages listing what is known."""
        return [acc.aliases[0].upper() for acc in self.accelerators]


# "80GB", "80 GB", "(40 GiB)", "32G": a memory size, dropped wherever it stands.
_MEMORY = re.compile(r"\b\d+(?:\.\d+)?\s*(?:gb|gib|g|tb)\b")
# "A100 (SXM4, 80 GB)", "TPU v6e (Trillium)": an aside in brackets, never the chip's name.
_ASIDE = re.compile(r"\([^()]*\)")
# "8x A100", "2048 × H100": a leading chip count.
_COUNT = re.compile(r"^\s*\d[\d,]*\s*(?:x|×)\s*")


def parse_name(name: str, naming: Naming) -> tuple[str, str | None]:
    """(chip key, form factor or None): "NVIDIA Tesla V100 DGXS 32 GB" -> ("v100", "sxm")."""
    lowered = _MEMORY.sub(" ", _COUNT.sub("", _ASIDE.sub(" ", name.strip().lower())))
    words = [w for w in re.split(r"[^a-z0-9]+", lowered) if w]
    while len(words) > 1 and words[0].isdigit():
        words.pop(0)  # "2048 A100 GPUs": a chip count (never a chip name: "910" needs its "Ascend")
    drop = {*naming.vendor_words, *naming.generic_words, *naming.memory_types}
    chip: list[str] = []
    form: str | None = None
    for word in words:
        if not word or word in drop:
            continue
        if word in naming.form_factors:
            form = form or naming.form_factors[word]
            continue
        chip.append(word)
    return "".join(chip), form


def normalise(name: str) -> str:
    """A table key: lower-case letters and digits only (`H100 SXM5` -> `h100sxm5`)."""
    return re.sub(r"[^a-z0-9]", "", name.strip().lower())


_INDEXES: dict[int, dict[str, Accelerator]] = {}  # per loaded table (tables are frozen and few)
_FOUND: dict[tuple[int, str], Accelerator | None] = {}  # (table, name as written) -> entry


def _index(tab: HardwareTable) -> dict[str, Accelerator]:
    """Normalised id and aliases -> accelerator (the first entry wins, as a linear search would)."""
    index: dict[str, Accelerator] = {}
    for acc in tab.accelerators:
        for key in (normalise(acc.id), *acc.aliases):
            index.setdefault(key, acc)
    return index


class Sparsity(_Strict):
    """Active ÷ total parameters of released mixture-of-experts models (data/sparsity.yaml)."""

    observed: dict[str, float]
    """Model -> active ÷ total (input embedding included), from its config formula."""
    low: float = Field(gt=0, le=1)
    """Lower edge for a model known to be sparse whose active count is unknown."""
    central: float = Field(gt=0, le=1)
    """The median of `observed`: the central figure in that case."""
    expert_keys: list[str]
    """config.json keys giving the number of routed experts."""
    architecture_words: list[str]
    """Words of a declared architecture that mean mixture of experts."""
    model_types: list[str] = Field(default_factory=list)
    """Model types (and family names) that are always mixtures of experts."""


class EncoderDecoder(_Strict):
    """Share of an encoder-decoder's parameters one training token passes through."""

    central: float = Field(gt=0, le=1)
    """Central share (half the parameters)."""
    low: float = Field(gt=0, le=1)
    """Low-edge share (the encoder's ~40%)."""
    model_types: list[str]
    """config.json model types that are encoder-decoders."""
    architecture_words: list[str]
    """Words of a declared architecture that mean encoder-decoder."""


class ParameterSharing(_Strict):
    """Cross-layer parameter sharing: a stored layer runs several times per token."""

    max_factor: float = Field(ge=1)
    """Passes per token the high edge allows when the files do not give the factor."""
    model_types: list[str]
    """config.json model types that share layers (ALBERT)."""
    architecture_words: list[str]
    """Words of a declared architecture that mean shared layers."""


class TokenPaths(_Strict):
    """data/token_paths.yaml."""

    encoder_decoder: EncoderDecoder
    """Encoder-decoder shares."""
    parameter_sharing: ParameterSharing
    """How shared layers are recognised."""


@cache
def token_paths() -> TokenPaths:
    """Where model cards state training tokens (compute/data/token_paths.yaml), loaded once."""
    data = yaml.safe_load((DATA.parent / "token_paths.yaml").read_text(encoding="utf-8"))
    return TokenPaths.model_validate(data)


@cache
def sparsity() -> Sparsity:
    """Names that mark a sparse peak figure (compute/data/sparsity.yaml), loaded once."""
    data = yaml.safe_load((DATA.parent / "sparsity.yaml").read_text(encoding="utf-8"))
    return Sparsity.model_validate(data)


@cache
def table() -> HardwareTable:
    """The accelerator table (compute/data/hardware.yaml), loaded and validated once."""
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return HardwareTable.model_validate(data)
