"""What the document drafts take from the compute stage: the energy line of Annex XI (stated, from
chip-hours, or derived from the compute band) and the compute line, each with its source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from modelwarden.assess.drafts import write_drafts
from modelwarden.assess.run import build_assessment, gather

MODEL = "model: {name: m, parameters: 8030000000, modalities: {input: [text], output: [text]}}\n"


def annex_xi(tmp_path: Path, training: str) -> str:
    decl = tmp_path / "modelwarden.yaml"
    decl.write_text(MODEL + training, encoding="utf-8")
    inputs = gather(None, decl)
    a = build_assessment(inputs, as_of=dt.date(2026, 11, 22), scan=False)
    write_drafts(a, inputs.manifest, tmp_path / "out")
    return (tmp_path / "out" / "eu_annex_xi_technical_documentation.md").read_text(encoding="utf-8")


def energy_line(text: str) -> str:
    return next(line for line in text.splitlines() if "Energy consumption" in line)


def test_energy_from_chip_hours_board_power_and_pue(tmp_path: Path) -> None:
    line = energy_line(
        annex_xi(tmp_path, "training: {tokens: 15e12, hardware: {accelerator: H100, gpu_hours: 1.3e6}}\n")
    )
    # 1.3e6 h x 0.7 kW x PUE 1.3 = 1,183,000 kWh central; 1.1 and 1.6 at the edges.
    assert "≈ 1,183,000 kWh" in line and "1,001,000–1,456,000 kWh" in line
    assert "700 W board power" in line and "compute estimate" in line


def test_energy_derived_from_compute_when_hours_are_unknown(tmp_path: Path) -> None:
    line = energy_line(annex_xi(tmp_path, "training: {tokens: 15e12, hardware: {accelerator: H100}}\n"))
    assert "kWh" in line and "chip-hours from compute" in line


def test_stated_energy_wins_and_no_hardware_is_a_question(tmp_path: Path) -> None:
    stated = energy_line(annex_xi(tmp_path, "training: {tokens: 15e12, energy_kwh: 12345}\n"))
    assert "12,345 kWh" in stated and "training.energy_kwh" in stated
    gap = energy_line(annex_xi(tmp_path, "training: {tokens: 15e12}\n"))
    assert "How much energy did training consume" in gap
