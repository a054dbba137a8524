"""Running the real `modelwarden` command in a child process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(
    *args: str | Path, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m modelwarden ARGS`: offline, on a wide terminal (table cells are not folded) and with
    no stdin; a command that blocks (on a FIFO, say) fails the test by TimeoutExpired, not a hung suite."""
    return subprocess.run(
        [sys.executable, "-m", "modelwarden", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "250", "HF_HUB_OFFLINE": "1"},
        stdin=subprocess.DEVNULL,
    )
