"""Accelerator names as papers and Epoch AI's records write them (issue 17: 26 of 97 hardware-based
runs got no estimate because "NVIDIA A100 SXM4 80 GB" and the like were not recognised)."""

from __future__ import annotations

import pytest

from modelwarden.compute import estimate_compute
from modelwarden.compute.hardware import table
from modelwarden.manifest import parse_manifest


@pytest.mark.parametrize(
    ("written", "entry"),
    [
        ("NVIDIA A100 SXM4 80 GB", "nvidia-a100"),
        ("NVIDIA A100 SXM4 40 GB", "nvidia-a100"),
        ("NVIDIA A100-PCIE-40GB", "nvidia-a100"),
        ("A100 80GB PCIe", "nvidia-a100"),
        ("NVIDIA DGX A100", "nvidia-a100"),
        ("2,048 × A100", "nvidia-a100"),
        ("2048 NVIDIA A100 GPUs", "nvidia-a100"),
        ("8 x H100 SXM5", "nvidia-h100-sxm"),
        ("A100-80GB", "nvidia-a100"),
        ("NVIDIA H100 SXM5 80GB", "nvidia-h100-sxm"),
        ("NVIDIA H100 80GB HBM3", "nvidia-h100-sxm"),
        ("H100-SXM", "nvidia-h100-sxm"),
        ("NVIDIA HGX H100", "nvidia-h100-sxm"),
        ("NVIDIA H100 Tensor Core GPU", "nvidia-h100-sxm"),
        ("NVIDIA H100 PCIe 80 GB", "nvidia-h100-pcie"),
        ("NVIDIA H100 NVL", "nvidia-h100-nvl"),
        ("NVIDIA H800 SXM5", "nvidia-h800"),
        ("NVIDIA Tesla V100 DGXS 32 GB", "nvidia-v100"),
        ("Tesla V100-SXM2-16GB", "nvidia-v100"),
        ("NVIDIA Tesla V100 PCIe 16 GB", "nvidia-v100-pcie"),
        ("NVIDIA Tesla V100S PCIe 32 GB", "nvidia-v100s-pcie"),
        ("NVIDIA Tesla P100 SXM2 16 GB", "nvidia-p100-sxm2"),
        ("Google TPU v4", "google-tpu-v4"),
        ("Google Cloud TPU v4 Pod", "google-tpu-v4"),
        ("TPUv3", "google-tpu-v3"),
        ("tpu-v5-lite", "google-tpu-v5e"),
        ("Google TPU v5e", "google-tpu-v5e"),
        ("Trillium", "google-tpu-v6e"),
        ("AMD Radeon Instinct MI250X", "amd-mi250x"),
        ("AMD Instinct MI300X OAM 192GB", "amd-mi300x"),
        ("Huawei Ascend 910", "huawei-ascend-910"),
        ("Huawei Ascend 910B", "huawei-ascend-910b"),
        ("NVIDIA GB200 NVL72", "nvidia-gb200"),
        ("Intel Habana Gaudi 3", "intel-gaudi3"),
        ("nvidia-h100-sxm", "nvidia-h100-sxm"),
        ("NVIDIA A100 (80GB)", "nvidia-a100"),
        ("Google TPU v6e (Trillium)", "google-tpu-v6e"),
        ("NVIDIA A100 (SXM4/PCIe, 40/80 GB)", "nvidia-a100"),
    ],
)
def test_paper_spellings_find_their_entry(written: str, entry: str) -> None:
    found = table().find(written)
    assert found is not None, written
    assert found.id == entry


@pytest.mark.parametrize(
    "written",
    ["NVIDIA", "", "GPU", "NVIDIA GeForce RTX 3090", "NVIDIA L4 24GB", "H800 PCIe", "A10G", "V100 NVL"],
)
def test_unknown_chips_and_unlisted_boards_are_not_guessed(written: str) -> None:
    # A PCIe or NVL board of a chip the table lists only as SXM has other peaks: never the SXM figure.
    assert table().find(written) is None


def test_a_run_described_as_a_paper_writes_it_gets_a_hardware_estimate() -> None:
    m = parse_manifest(
        {
            "training": {
                "hardware": {"accelerator": "NVIDIA H100 SXM5 80GB", "gpu_hours": 1e6, "precision": "bf16"}
            }
        }
    )
    e = estimate_compute(None, m)
    assert e.hardware_flop is not None
    assert e.accelerator == "NVIDIA H100 SXM5"
    assert e.hardware_flop.central == pytest.approx(1e6 * 3600 * 989.4e12 * 0.34)


def test_every_alias_finds_its_own_entry() -> None:
    # Catches an alias shadowed by another entry's (v100s must not become v100, h100nvl not h100).
    tab = table()
    for acc in tab.accelerators:
        for alias in acc.aliases:
            found = tab.find(alias)
            assert found is not None and found.id == acc.id, (alias, found)
