"""Where a reader's bytes come from: the byte-source interface every format reader reads through.

Readers never open paths themselves. They ask a `ByteSource` for byte ranges (`read_at`) and its
`size`, so the same reader serves a local file today and byte ranges of a remote file tomorrow (an
HTTP `Range` request per read), and inspect and scan read the very same bytes through the same code.
Every read is bounded by the caller (see `modelwarden.limits`); a source never returns more than asked.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from modelwarden.limits import WINDOW_FIRST_CHUNK, WINDOW_MAX_CHUNK
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


class Buffer(Protocol):
    """What the structural parsers (zip listing, pickle walker, .npy header) index: a length and slices.

    A memory map, `bytes`, a `View`, or a `ByteSource` seen through `SourceBuffer`."""

    def __len__(self) -> int: ...
    def __getitem__(self, key: slice, /) -> bytes: ...


# The header readers' name for the same protocol.
Sliceable = Buffer


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

    def __init__(
        self, src: ByteSource, chunk: int = WINDOW_FIRST_CHUNK, max_chunk: int = WINDOW_MAX_CHUNK
    ) -> None:
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


class SourceBuffer:
    """A `ByteSource` seen as a `Buffer`: every slice is one `read_at`.

    The zip reader and the pickle walker index bytes at random (an end record, then a directory, then
    local headers) and search for signatures; they were written against `Buffer`, which the scan
    satisfies with a memory map. Inspect opens a `LocalFile` and hands it to the same parsers through
    this adapter, so both read the very same bytes with the same code — and a remote source needs
    nothing more than `read_at`. `find` reads in 1 MiB chunks (overlapping by the needle's length), so
    a search never holds more than a chunk."""

    _CHUNK = 1 << 20

    def __init__(self, source: ByteSource) -> None:
        self.source = source

    def __len__(self) -> int:
        return self.source.size

    def __getitem__(self, key: slice, /) -> bytes:
        begin, stop, _ = key.indices(self.source.size)
        return self.source.read_at(begin, max(0, stop - begin))

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        """The first offset of `sub` in [start, end), or -1 (bytes.find's contract)."""
        stop = self.source.size if end is None else min(end, self.source.size)
        pos = max(0, start)
        while pos < stop:
            chunk = self.source.read_at(pos, min(self._CHUNK + len(sub) - 1, stop - pos))
            hit = chunk.find(sub)
            if hit >= 0:
                return pos + hit
            if pos + len(chunk) >= stop:
                break
            pos += self._CHUNK
        return -1


class View:
    """Bytes [start, end) of a larger buffer (an mmap), without copying them.

    Provides what the pickle walker and the parsers use: len, slicing (returns bytes) and find.
    """

    __slots__ = ("_base", "_end", "_start")
    _base: Buffer | bytearray  # a bytearray: data inflated from an archive, shared without a copy
    _start: int
    _end: int

    def __init__(self, base: Buffer | bytearray, start: int = 0, end: int | None = None) -> None:
        if isinstance(base, View):  # flatten views of views
            start += base._start
            end = base._start + (len(base) if end is None else end)
            base = base._base
        self._base = base
        self._start = start
        self._end = len(base) if end is None else min(end, len(base))

    def __len__(self) -> int:
        return max(0, self._end - self._start)

    def __getitem__(self, key: slice, /) -> bytes:
        begin, stop, _ = key.indices(len(self))
        return bytes(self._base[self._start + begin : self._start + max(begin, stop)])

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        stop = self._end if end is None else min(self._end, self._start + end)
        finder = getattr(self._base, "find", None)
        if finder is None:
            hit = bytes(self._base[self._start + start : stop]).find(sub)
            return -1 if hit < 0 else hit + start
        hit = int(finder(sub, self._start + start, stop))
        return -1 if hit < 0 else hit - self._start

    def rfind(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        stop = self._end if end is None else min(self._end, self._start + end)
        finder = getattr(self._base, "rfind", None)
        if finder is None:
            hit = bytes(self._base[self._start + start : stop]).rfind(sub)
            return -1 if hit < 0 else hit + start
        hit = int(finder(sub, self._start + start, stop))
        return -1 if hit < 0 else hit - self._start


class BufferFile(io.RawIOBase):
    """A read-only, seekable file object over a `Buffer`, for libraries that want a file (h5py reads a
    .keras archive's weights member through it, in place, without copying the member)."""

    def __init__(self, buf: Buffer) -> None:
        super().__init__()
        self._buf = buf
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._buf)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._buf[self._pos : self._pos + len(b)]
        n = len(chunk)
        memoryview(b).cast("B")[:n] = chunk
        self._pos += n
        return n
