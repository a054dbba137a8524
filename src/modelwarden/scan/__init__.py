"""`modelwarden scan`: find malicious or unsafe content in model artifacts without loading them.

`scan_paths(paths)` returns a `ScanReport` (model.py, "Scan"); `render` turns it into text, JSON or
SARIF 2.1.0. Nothing here imports, unpickles, renders or runs what it scans.
"""

from __future__ import annotations

from modelwarden.scan.engine import analyse_buffer, scan_paths
from modelwarden.scan.rules import Rule, catalogue

__all__ = ["Rule", "analyse_buffer", "catalogue", "scan_paths"]
