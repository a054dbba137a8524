"""The operator's API token: the server is read-only unless one is configured; writes must present it.

The token comes from a file (`serve --token-file`) or the `MODELWARDEN_API_TOKEN` environment
variable, never from the command line (other users can read process arguments).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from modelwarden.errors import UsageError
from modelwarden.untrusted.io import read_bounded
from modelwarden.web.errors import ApiError

TOKEN_ENV = "MODELWARDEN_API_TOKEN"  # noqa: S105 - the variable's name, not a secret
READ_TOKEN_ENV = "MODELWARDEN_READ_TOKEN"  # noqa: S105 - the variable's name, not a secret
MIN_TOKEN_CHARS = 16
MAX_TOKEN_FILE_BYTES = 4096  # a token is a line of a few dozen characters

bearer = HTTPBearer(auto_error=False, description="The API token configured by the server's operator.")


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison. Hashing first makes the time independent of both lengths too."""
    a = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    b = hashlib.sha256(expected.encode("utf-8")).digest()
    return hmac.compare_digest(a, b)


def load_token(token_file: Path | None, *, env: str = TOKEN_ENV, label: str = "API token") -> str | None:
    """The configured token (from the file, else the environment variable `env`), or None."""
    if token_file is not None:
        try:
            # Bounded, and never blocking: --token-file may name a FIFO or a device such as /dev/zero.
            raw = read_bounded(token_file, MAX_TOKEN_FILE_BYTES)
            if len(raw) > MAX_TOKEN_FILE_BYTES:
                raise UsageError(
                    f"cannot read the {label}: the file is over {MAX_TOKEN_FILE_BYTES} bytes, "
                    "not a token file",
                    path=token_file,
                )
            token = raw.decode("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            if isinstance(exc, UnicodeDecodeError):
                reason = "not UTF-8 text"
            elif token_file.is_dir():
                reason = "is a folder, not a file"
            else:
                reason = exc.strerror or str(exc)
            raise UsageError(f"cannot read the {label}: {reason}", path=token_file) from None
        source = str(token_file)
    else:
        token = os.environ.get(env, "").strip()
        source = f"${env}"
        if not token:
            return None
    if len(token) < MIN_TOKEN_CHARS:
        raise UsageError(f"the {label} in {source} is too short: use at least {MIN_TOKEN_CHARS} characters")
    if not token.isascii() or not token.isprintable():
        raise UsageError(f"the {label} in {source} must be printable ASCII (it travels in an HTTP header)")
    return token


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """Dependency of every write route."""
    expected: str | None = request.app.state.settings.token
    if expected is None:
        raise ApiError(
            403,
            "writes_disabled",
            "this server is read-only: its operator has not configured an API token",
        )
    if credentials is None or not token_matches(credentials.credentials, expected):
        raise ApiError(
            401,
            "unauthorized",
            "a valid API token is required: send `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
