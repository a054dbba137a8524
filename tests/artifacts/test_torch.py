"""PyTorch checkpoints written by torch 2.13 itself, read without unpickling (never torch.load)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from modelwarden.artifacts.reader import read_artifact
from modelwarden.artifacts.tensors import ClassifyContext, classify
from modelwarden.model import ArtifactFormat, TensorKind


class TinyLM(nn.Module):
    """Hugging Face naming, a rotary buffer, optionally a tied head."""

    def __init__(self, tied: bool = False) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(50, 16)
        self.layers = nn.ModuleList(nn.Linear(16, 16) for _ in range(2))
        self.norm = nn.LayerNorm(16)
        self.lm_head = nn.Linear(16, 50, bias=False)
        if tied:
            self.lm_head.weight = self.embed_tokens.weight
        self.register_buffer("inv_freq", torch.ones(4))


PARAMS = 50 * 16 + 2 * (16 * 16 + 16) + 2 * 16 + 50 * 16


def _read(path: Path, ctx: ClassifyContext | None = None):  # type: ignore[no-untyped-def]
    info = read_artifact(path, path.name)
    classify(info.tensors, ctx)
    return info


def _params(info) -> int:  # type: ignore[no-untyped-def]
    return sum(t.parameters for t in info.tensors)


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_state_dict_shapes_and_dtypes(tmp_path: Path, zip_format: bool) -> None:
    model = TinyLM().to(torch.bfloat16)
    p = tmp_path / "pytorch_model.bin"
    torch.save(model.state_dict(), p, _use_new_zipfile_serialization=zip_format)
    info = _read(p)
    assert info.format is (ArtifactFormat.TORCH_ZIP if zip_format else ArtifactFormat.TORCH_LEGACY)
    assert not info.problems
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {t.name: t.shape for t in info.tensors} == expected
    assert {t.dtype for t in info.tensors} == {"BF16"}
    assert _params(info) == PARAMS  # the inv_freq buffer is not a parameter
    assert next(t for t in info.tensors if t.name == "inv_freq").kind is TensorKind.BUFFER


def test_tied_weights_share_storage_and_count_once(tmp_path: Path) -> None:
    model = TinyLM(tied=True)
    p = tmp_path / "tied.pt"
    torch.save(model.state_dict(), p)
    info = _read(p)
    kinds = {t.name: t.kind for t in info.tensors}
    assert kinds["embed_tokens.weight"] is TensorKind.PARAMETER
    assert kinds["lm_head.weight"] is TensorKind.TIED
    assert _params(info) == PARAMS - 50 * 16


def test_whole_module_pickle_names_parameters_and_buffers(tmp_path: Path) -> None:
    model = TinyLM()
    p = tmp_path / "model.pt"
    torch.save(model, p)  # pickles the module object graph (never loaded here)
    info = _read(p)
    names = {t.name: t.kind for t in info.tensors}
    assert "layers.1.weight" in names and "lm_head.weight" in names
    assert names["inv_freq"] is TensorKind.BUFFER  # registered buffer, seen through `_buffers`
    assert _params(info) == PARAMS


def test_training_checkpoint_excludes_optimizer_state(tmp_path: Path) -> None:
    model = TinyLM()
    opt = torch.optim.Adam(model.parameters())
    for prm in model.parameters():
        prm.grad = torch.zeros_like(prm)
    opt.step()
    p = tmp_path / "last.ckpt"
    torch.save({"state_dict": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, p)
    info = _read(p)
    state = [t for t in info.tensors if t.kind is TensorKind.TRAINING_STATE]
    assert state and all(t.name.startswith("optimizer.") for t in state)
    assert _params(info) == PARAMS


def test_float8_and_v3_rebuild(tmp_path: Path) -> None:
    p = tmp_path / "fp8.pt"
    torch.save({"w": torch.zeros(4, 8, dtype=torch.float8_e4m3fn), "s": torch.ones(1)}, p)
    info = _read(p)
    assert {t.name: (t.dtype, t.shape) for t in info.tensors} == {
        "w": ("F8_E4M3", (4, 8)),
        "s": ("F32", (1,)),
    }


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive(tmp_path: Path) -> None:
    p = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))), str(p))
    info = _read(p)
    assert info.format is ArtifactFormat.TORCHSCRIPT
    assert {t.name: t.shape for t in info.tensors} == {
        "0.weight": (4, 3), "0.bias": (4,), "2.weight": (2, 4), "2.bias": (2,),
    }  # fmt: skip


def test_truncated_zip(tmp_path: Path) -> None:
    p = tmp_path / "cut.bin"
    torch.save(TinyLM().state_dict(), p)
    p.write_bytes(p.read_bytes()[:-200])  # the central directory is gone
    info = read_artifact(p, "cut.bin")
    assert info.problems and info.problems[0].file == "cut.bin"
    assert info.problems[0].code in ("corrupt_zip", "unknown_format")


def test_truncated_legacy_storage_data(tmp_path: Path) -> None:
    p = tmp_path / "legacy.bin"
    torch.save(TinyLM().state_dict(), p, _use_new_zipfile_serialization=False)
    p.write_bytes(p.read_bytes()[:-1000])
    info = read_artifact(p, "legacy.bin")
    codes = {x.code for x in info.problems}
    assert codes == {"offset_out_of_range"}
    assert any("truncated" in x.message for x in info.problems)


def test_missing_storage_entry(tmp_path: Path) -> None:
    buf = io.BytesIO()
    torch.save({"a": torch.zeros(3), "b": torch.zeros(5)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    p = tmp_path / "missing.pt"
    with zipfile.ZipFile(p, "w") as dst:
        for item in src.infolist():
            if not item.filename.endswith("/data/1"):
                dst.writestr(item, src.read(item))
    info = read_artifact(p, "missing.pt")
    assert [x.code for x in info.problems] == ["missing_storage"]
    assert "'b'" in info.problems[0].message


def test_zip_bomb_data_pkl_is_not_decompressed(tmp_path: Path) -> None:
    p = tmp_path / "bomb.pt"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\0" * (100 * 1024 * 1024))
        z.writestr("archive/version", "3\n")
    info = read_artifact(p, "bomb.pt")
    assert [x.code for x in info.problems] == ["zip_bomb"]
    assert "refusing to decompress" in info.problems[0].message
