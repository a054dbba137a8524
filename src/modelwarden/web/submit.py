"""Assess a path on the server's machine for `POST /api/v1/assessments/from-path`.

Only paths inside the folders the operator allowed (`serve --submit-root DIR`) are read, after
resolving symbolic links, so a token holder cannot make the server read arbitrary files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from modelwarden.model import Assessment
from modelwarden.web.errors import ApiError


def allowed_path(raw: str, roots: Sequence[Path], *, what: str = "path") -> Path:
    if not roots:
        raise ApiError(
            403,
            "submit_disabled",
            "submitting paths is disabled: start the server with --submit-root DIR to allow a folder",
        )
    candidate = Path(raw)
    if not candidate.is_absolute():
        raise ApiError(422, "invalid_request", f"{what} must be an absolute path on the server")
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ApiError(404, "not_found", f"{what} does not exist on the server: {raw}") from None
    if not any(resolved.is_relative_to(root) for root in roots):
        raise ApiError(403, "path_not_allowed", f"{what} is outside the folders this server may read: {raw}")
    return resolved


def run_assess(path: Path, manifest: Path | None, as_of: dt.date | None) -> Assessment:
    """Run the assess stage on a path of the server's machine (inside the allowed roots)."""
    from modelwarden.assessment import build_assessment, gather
    from modelwarden.errors import ModelwardenError

    try:
        return build_assessment(gather(str(path), manifest), as_of=as_of or dt.date.today())
    except ModelwardenError as exc:
        raise ApiError(422, "unprocessable", exc.message) from None
