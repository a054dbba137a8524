"""Opening files we did not create: only regular files, and never in a way that can block.

A release folder may hold a FIFO, socket or device under any name (`config.json`, `README.md`,
`modelwarden.yaml`). Opening a FIFO for reading blocks until a writer appears and a device may never
end, so every reader of untrusted paths goes through `open_regular`: it opens without blocking,
checks the opened descriptor (no race between a stat and the open), and only then reads.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

NOT_REGULAR = "not a regular file (device, socket or pipe)"


def open_regular(path: str | Path) -> io.BufferedReader:
    """Open a regular file for binary reading; OSError(EINVAL) for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, NOT_REGULAR, str(path))
        os.set_blocking(fd, True)
        return io.open(fd, "rb")  # noqa: UP020 - typed as BufferedReader, unlike builtins.open(int)
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file, so callers can tell "over the cap" apart."""
    with open_regular(path) as fh:
        return fh.read(limit + 1)
