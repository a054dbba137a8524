"""The command line loads only what the chosen command needs.

Every command starts by importing `modelwarden.cli`; pulling the database stack, the gateway's crypto
or the scanners' optional libraries in there would slow `inspect` and `scan` for everybody (it did:
1.1 s cold when the gateway commands imported Alembic at module level).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["sqlalchemy", "alembic", "cryptography", "torch", "fastapi", "uvicorn", "onnx", "h5py", "jinja2"]


def test_importing_the_cli_loads_no_heavy_stack() -> None:
    code = f"import sys, json, modelwarden.cli; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
