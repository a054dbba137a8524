"""Properties of every estimate, over generated manifests: ordered bands, no silent default,
cumulative never below training, calls consistent with the bands they come from."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modelwarden.compute import estimate_compute, threshold_call
from modelwarden.manifest import parse_manifest
from modelwarden.model import Band, ComputeEstimate

flop = st.floats(min_value=1e15, max_value=1e28)
params = st.integers(min_value=1_000_000, max_value=2_000_000_000_000)
hardware = st.fixed_dictionaries(
    {"accelerator": st.sampled_from(["A100", "H100", "H800", "TPU v4", "MI300X", "B200", "V100"])},
    optional={
        "gpu_hours": st.floats(min_value=1.0, max_value=1e9),
        "precision": st.sampled_from(["bf16", "fp16", "fp8"]),
        "utilisation": st.floats(min_value=0.05, max_value=0.9),
    },
)
stage = st.fixed_dictionaries(
    {
        "name": st.text("abcdef", min_size=1, max_size=5),
        "kind": st.sampled_from(
            ["pretraining", "finetuning", "rl", "synthetic_data", "reward_model", "teacher", "evaluation"]
        ),
    },
    optional={"compute_flop": flop, "tokens": flop},
)
training = st.fixed_dictionaries(
    {},
    optional={
        "tokens": st.floats(min_value=1e6, max_value=1e14),
        "compute_flop": flop,
        "hardware": hardware,
        "stages": st.lists(stage, max_size=3),
        "synthetic_data_flop": flop,
        "merged_or_initialising_flop": flop,
        "trainable_parameters": st.integers(min_value=1, max_value=1_000_000_000),
    },
)
documents = st.fixed_dictionaries(
    {"training": training},
    optional={
        "model": st.one_of(
            st.builds(lambda n: {"parameters": n}, params),
            st.builds(
                lambda n, k: {"parameters": n, "active_parameters": max(1, n // k)},
                params,
                st.integers(1, 64),
            ),
        ),
        "release": st.fixed_dictionaries({"role": st.sampled_from(["provider", "modifier", "deployer"])}),
        "base_model": st.fixed_dictionaries(
            {}, optional={"compute_flop": flop, "systemic_risk": st.booleans()}
        ),
    },
)


def bands(e: ComputeEstimate) -> list[Band]:
    found = [e.training_flop, e.cumulative_flop, e.modification_flop, e.operation_count_flop, e.hardware_flop]
    found += [m.band for m in e.estimates] + [s.band for s in e.stages] + [e.energy_kwh]
    return [b for b in found if b is not None]


@settings(max_examples=150, deadline=None)
@given(doc=documents)
def test_estimates_are_ordered_bands_and_never_a_silent_default(doc: dict[str, Any]) -> None:
    e = estimate_compute(None, parse_manifest(doc))
    for b in bands(e):
        assert 0 <= b.low <= b.central <= b.high, b
    if e.training_flop is None:
        assert e.method == "insufficient_data"
        assert e.thresholds["1e23"].value in {"insufficient_data", "near_above", "clearly_above"}
        assert e.warnings  # what is missing is said
    else:
        assert e.cumulative_flop is not None
        assert e.cumulative_flop.low >= e.training_flop.low * (1 - 1e-12)
        assert e.thresholds["1e23"] == threshold_call(e.training_flop, 1e23, inclusive=False)
        assert e.thresholds["1e26"] == threshold_call(e.cumulative_flop, 1e26, inclusive=False)
        assert e.other_thresholds["1e26_inclusive"] == threshold_call(e.cumulative_flop, 1e26, inclusive=True)
    # Every figure the estimate used is traceable to an input or a recorded default.
    assert all(a.provenance.source for a in e.assumptions)
