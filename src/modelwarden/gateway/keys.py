"""API keys: 32 random bytes behind a public key id, shown once, stored as a SHA-256 digest.

Reference: docs/reference/gateway.md §11.2. The key id is public (it appears in logs and audit entries); the
secret part never leaves the `keys create` output. With 256 random bits a plain SHA-256 cannot be
brute-forced, and it lets the gateway check a key in microseconds; the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "mw_"
_KEY_RE = re.compile(r"^mw_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
MAX_KEY_LEN = 128  # bound what we hash from an untrusted header


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    digest: bytes


def new_key() -> tuple[str, str, bytes]:
    """(key id, full key to show once, digest to store)."""
    key_id = secrets.token_hex(6)
    full = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key_id, full, digest(full)


def digest(full_key: str) -> bytes:
    return hashlib.sha256(full_key.encode()).digest()


def parse(presented: str) -> ParsedKey | None:
    """Split a presented key into its id and digest; None if it cannot be one of ours."""
    if len(presented) > MAX_KEY_LEN:
        return None
    m = _KEY_RE.match(presented)
    if not m:
        return None
    return ParsedKey(m.group(1), digest(presented))


def matches(parsed: ParsedKey, stored_digest: bytes) -> bool:
    return hmac.compare_digest(parsed.digest, stored_digest)


def display_id(key_id: str) -> str:
    return f"{PREFIX}{key_id}"


def normalise_id(value: str) -> str:
    """Accept `mw_3f9a…`, the bare id, or a whole key (its id part)."""
    value = value.strip()
    m = _KEY_RE.match(value)
    if m:
        return m.group(1)
    return value.removeprefix(PREFIX)
