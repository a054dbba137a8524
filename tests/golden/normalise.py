"""The golden files' normaliser: what is truly variable between two runs, replaced by a placeholder.

Only six things vary between runs of the same command on the same bytes, and only they are replaced:

- `<TMP>`: the throwaway folder the inputs are built in (plain, resolved and `file://` forms);
- `<VERSION>`: modelwarden's own version (`modelwarden.__version__`), wherever it is printed;
- `<DATETIME>`: wall-clock timestamps (an assessment's `created_at`, a registry's `recorded_at`) in ISO
  form or as "YYYY-MM-DD HH:MM"; plain dates are left alone (every command is given `--as-of`);
- `<DATE>`: the day a document draft was prepared (`**Draft prepared:** YYYY-MM-DD`, the clock's
  date, not the law's `--as-of`);
- `<SECONDS>`: timings (`duration_seconds` in the scan JSON, "scanned in 0.01 s" in the text);
- `<UUID>`: a CycloneDX BOM's `serialNumber` (`urn:uuid:…`), random by the standard's rule that every
  BOM has a unique serial number even when its content has not changed.

Everything else — hashes, counts, wording, key order, spacing — is the contract and compared byte for
byte. A new variable value must be added here with its reason, never hidden by loosening a pattern.
"""

from __future__ import annotations

import re
from pathlib import Path

from modelwarden import __version__

_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_VERSION = re.compile(rf"(?<![\w.]){re.escape(__version__)}(?![\w.])")
_JSON_SECONDS = re.compile(r'"duration_seconds": ?[0-9.eE+-]+')
_TEXT_SECONDS = re.compile(r"\bin \d+\.\d+ s\b")
_SERIAL = re.compile(
    r'("serialNumber": "urn:uuid:)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"'
)
_PREPARED = re.compile(r"(\*\*Draft prepared:\*\* )\d{4}-\d{2}-\d{2}")


def normalise(text: str, root: Path) -> str:
    """`text` with the run-dependent values above replaced; `root` is the folder of the inputs."""
    forms = {str(root), str(root.resolve()), root.resolve().as_uri()}
    for form in sorted(forms, key=len, reverse=True):  # the longest first: a URI contains the path
        text = text.replace(form, "<TMP>")
    text = _JSON_SECONDS.sub('"duration_seconds": "<SECONDS>"', text)
    text = _TEXT_SECONDS.sub("in <SECONDS> s", text)
    text = _DATETIME.sub("<DATETIME>", text)
    text = _PREPARED.sub(r"\1<DATE>", text)
    text = _SERIAL.sub(r'\1<UUID>"', text)
    return _VERSION.sub("<VERSION>", text)
