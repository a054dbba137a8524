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


class Sliceable(Protocol):
    """Bytes the scanner already holds: a memory map, a `View` of one, bytes inflated from a container."""

    def __len__(self) -> int: ...
    def __getitem__(self, key: slice, /) -> bytes: ...


class BufferSource:
    """A buffer the scan already holds (an mmap, a container member) seen as a `ByteSource`, so the scan
    reads a header through the same reader as inspect."""

    def __init__(self, buf: Sliceable, name: str) -> None:
        self._buf = buf
        self._name = name
        self._size = len(buf)

    @property
    def name(self) -> str:
        """The display name given at creation."""
        return self._name

    @property
    def size(self) -> int:
        """len(buf)."""
        return self._size

    @property
    def buffer(self) -> Sliceable:
        """The buffer itself: a walker that slices may read it directly, already in memory or mapped."""
        return self._buf

    def read_at(self, offset: int, length: int) -> bytes:
        """A slice of the buffer, as bytes."""
        if offset < 0 or length < 0:
            raise ValueError(f"{self._name}: negative read ({offset}, {length})")
        return bytes(self._buf[offset : offset + length])


class Window:
    """Sliceable bytes of a `ByteSource`, fetched in chunks as a walker advances.

    Header walkers (GGUF key-values, protobuf fields) read many small pieces in order; each goes to the
    source as one `read_at` per chunk, not one per piece (remotely, one HTTP Range request per chunk).
    The first chunk is small (most headers are a few KiB); while the walk goes on sequentially each
    next one is twice the last, up to `max_chunk`, so a long header (a 128k-token vocabulary) costs
    few requests too, and after a jump it is small again. Only what is sliced is fetched (plus the
    rest of its chunk): a walker that steps over tensor data by its declared length never reads it.
    `fetched` counts the bytes asked of the source.
    """

    def __init__(self, src: ByteSource, chunk: int = 4096, max_chunk: int = 1 << 20) -> None:
        self.src = src
        self.first_chunk = self.chunk = chunk
        self.max_chunk = max_chunk
        self.fetched = 0
        self._size = src.size
        self._at = 0
        self._data = b""

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, key: slice, /) -> bytes:
        start, stop, _ = key.indices(self._size)
        return self.bytes_at(start, stop - start) if stop > start else b""

    def bytes_at(self, start: int, n: int) -> bytes:
        """Bytes [start, start + n) clipped to the source: the walkers' fast path (no slice object)."""
        at = start - self._at
        if at >= 0 and at + n <= len(self._data):
            return self._data[at : at + n]
        if n >= self.chunk:
            self.fetched += n
            return self.src.read_at(start, n)
        # Reading on across the end of the last chunk, or just past it (a gap smaller than a chunk: a
        # vocabulary's strings stepped over), means a sequential walk: fetch more at once. After a
        # longer jump (tensor data stepped over) start small again, so what was jumped is not fetched.
        gap = start - (self._at + len(self._data))
        sequential = bool(self._data) and start > self._at and gap < self.chunk
        self.chunk = min(2 * self.chunk, self.max_chunk) if sequential else self.first_chunk
        self._data = self.src.read_at(start, max(n, self.chunk))
        self._at = start
        self.fetched += len(self._data)
        return self._data[:n]
