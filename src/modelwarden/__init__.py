"""modelwarden: read, scan, classify and govern AI model releases from their files.

The public API, imported lazily so that `import modelwarden` (and every CLI start-up) stays cheap:

    from modelwarden import inspect_path, scan_paths, assess_path, ModelwardenError
    facts = inspect_path("path/to/release")          # ModelFacts
    report = scan_paths(["path/to/release"])         # ScanReport
    result = assess_path("path/to/release")          # Assessment

Records (`ModelFacts`, `ScanReport`, `Assessment`, …) live in `modelwarden.model`; exceptions in
`modelwarden.errors`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The single source of the version (pyproject reads it through hatch): a literal rather than
# importlib.metadata, which costs ~25 ms of start-up for every command.
__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "inspect_path": "modelwarden.facts.gather",
    "scan_paths": "modelwarden.scan.engine",
    # Not `assess`: that name is the `modelwarden.assess` subpackage, which Python binds as an attribute
    # of this package as soon as any module of it is imported, shadowing a function of the same name.
    "assess_path": "modelwarden.assess",
    "ModelFacts": "modelwarden.model",
    "ScanReport": "modelwarden.model",
    "Assessment": "modelwarden.model",
    "ModelwardenError": "modelwarden.errors",
}

if TYPE_CHECKING:
    from modelwarden.assess import assess_path
    from modelwarden.errors import ModelwardenError
    from modelwarden.facts.gather import inspect_path
    from modelwarden.model import Assessment, ModelFacts, ScanReport
    from modelwarden.scan.engine import scan_paths


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelwarden' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Assessment",
    "ModelFacts",
    "ModelwardenError",
    "ScanReport",
    "__version__",
    "assess_path",
    "inspect_path",
    "scan_paths",
]
