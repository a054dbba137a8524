"""The protobuf wire walker, shared with the artifact readers (artifacts/protowire.py)."""

from __future__ import annotations

from modelwarden.artifacts.protowire import FIXED32, FIXED64, LEN, VARINT, WireError, fields, text, varint

__all__ = ["FIXED32", "FIXED64", "LEN", "VARINT", "WireError", "fields", "text", "varint"]
