"""The package's public API: lazy, complete, and the same objects as the stage modules."""

from __future__ import annotations

import subprocess
import sys

import pytest

import modelwarden

PUBLIC = [
    "inspect_path",
    "scan_paths",
    "assess_path",
    "ModelFacts",
    "ScanReport",
    "Assessment",
    "ModelwardenError",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_resolves_to_the_stage_object(name: str) -> None:
    value = getattr(modelwarden, name)
    module = modelwarden._LAZY[name]
    assert value is getattr(__import__(module, fromlist=[name]), name)
    assert name in modelwarden.__all__


def test_the_function_survives_the_subpackage_being_imported() -> None:
    import modelwarden.assess.run  # binds `modelwarden.assess` to the subpackage

    assert callable(modelwarden.assess_path)
    assert modelwarden.assess_path is modelwarden.assess.assess_path


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = modelwarden.no_such_thing  # type: ignore[attr-defined]


def test_import_is_lazy() -> None:
    # `import modelwarden` must not pull in the stages (every CLI start-up pays for what it imports).
    code = (
        "import sys, modelwarden; "
        "print(sorted(m for m in sys.modules if m.startswith(('modelwarden.', 'pydantic'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_assess_through_the_public_api(tmp_path: object) -> None:
    from pathlib import Path

    import numpy as np
    from safetensors.numpy import save_file

    root = Path(str(tmp_path))
    save_file({"w": np.zeros((4, 3), dtype=np.float32)}, str(root / "model.safetensors"))
    facts = modelwarden.inspect_path(root)
    assert facts.parameters is not None and facts.parameters.total == 12
    result = modelwarden.assess_path(root)
    assert result.scan_status == "scanned"
    assert result.parameters is not None and result.parameters.total == 12
