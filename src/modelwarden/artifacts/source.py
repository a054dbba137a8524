"""Where a reader's bytes come from: the byte-source interface every format reader reads through.

Readers never open paths themselves. They ask a `ByteSource` for byte ranges (`read_at`) and its
`size`, so the same reader serves a local file today and byte ranges of a remote file tomorrow (an
HTTP `Range` request per read), and inspect and scan read the very same bytes through the same code.
Every read is bounded by the caller (see `modelwarden.limits`); a source never returns more than asked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from modelwarden.untrusted.io import open_regular


@runtime_checkable
class ByteSource(Protocol):
    """A read-only sequence of bytes of known size, read by offset."""

    @property
    def name(self) -> str:
        """How problems and findings name this source (a display path, or `repo@rev:path` remotely)."""
        ...

    @property
    def size(self) -> int:
        """Total length in bytes, known before any read (a local `fstat`, a remote `Content-Length`)."""
        ...

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes starting at `offset`; fewer only at the end of the source."""
        ...


class LocalFile:
    """A regular local file opened once (no FIFO, device or socket: `open_regular`), read with pread."""

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self._fh = open_regular(path)
        self._fd = self._fh.fileno()
        self._size = os.fstat(self._fd).st_size
        self._name = name if name is not None else str(path)

    @property
    def name(self) -> str:
        """The display name given at opening (the path by default)."""
        return self._name

    @property
    def size(self) -> int:
        """The file's size when it was opened."""
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length) clipped to the file; pread, so no shared file position."""
        if offset < 0 or length < 0:
            raise ValueError(f"{self._name}: negative read ({offset}, {length})")
        end = min(offset + length, self._size)
        if end <= offset:
            return b""
        return os.pread(self._fd, end - offset, offset)

    def close(self) -> None:
        """Release the descriptor."""
        self._fh.close()

    def __enter__(self) -> LocalFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BytesSource:
    """Bytes already in memory (an archive member, a test sample) seen through the same interface."""

    def __init__(self, data: bytes, name: str) -> None:
        self._data = data
        self._name = name

    @property
    def name(self) -> str:
        """The display name given at creation."""
        return self._name

    @property
    def size(self) -> int:
        """len(data)."""
        return len(self._data)

    def read_at(self, offset: int, length: int) -> bytes:
        """A slice of the data (a copy: callers may keep it)."""
        if offset < 0 or length < 0:
            raise ValueError(f"{self._name}: negative read ({offset}, {length})")
        return self._data[offset : offset + length]
