"""HDF5 attributes read only once their size is bounded — the guard inspect (`artifacts/keras.py`) and
scan (`scan/keras_files.py`) both apply before h5py reads a Keras `model_config`.

A fixed-size attribute is bounded by its declared dimensions; a variable-length string by the global
heap collections holding it: HDF5 allocates a collection's declared size, and the length a reference
claims, before reading them (one declaring 4 GB made the scan take 4.2 GB). h5py itself stays the
reader; this module only decides whether to let it read. Imports h5py only when called.
"""

from __future__ import annotations

import struct
from typing import Any

from modelwarden.artifacts.source import Buffer, View
from modelwarden.limits import MAX_HDF5_HEAP_COLLECTIONS, MAX_HDF5_HEAP_OBJECTS

_GCOL = b"GCOL"


def attribute_too_big(f: Any, name: str, buf: Buffer | None, cap: int, heap: list[str | None]) -> str | None:
    """Why reading the root attribute `name` of the open h5py file `f` could take unbounded memory, or
    None when it is safe to read. `buf` holds the file's bytes (for the heap check), `heap` caches
    that check's answer for the file (it reads the whole file; pass the same list for every
    attribute)."""
    import h5py

    aid = f.attrs.get_id(name)
    npoints = aid.get_space().get_simple_extent_npoints()
    dtype = aid.dtype
    vlen = h5py.check_vlen_dtype(dtype) is not None or (
        (info := h5py.check_string_dtype(dtype)) is not None and info.length is None
    )
    per_item = 16 if vlen else max(1, dtype.itemsize)
    if npoints * per_item > cap:
        return f"declares {npoints} elements of {dtype.itemsize} bytes, over the {cap}-byte cap"
    if vlen:
        if not heap:
            heap.append(_heap_too_big(buf, cap))
        return heap[0]
    return None


def _heap_too_big(buf: Buffer | None, cap: int) -> str | None:
    """Variable-length strings are global heap objects. A collection ("GCOL", version 1, 3 zero bytes,
    an 8-byte size) is read whole, and each reference to an object (a 4-byte length, the collection's
    8-byte address, a 4-byte object index) makes HDF5 allocate the length it claims before comparing
    it with the object: a reference claiming 4.2 GB took the scan to 4.2 GB. Refuse when a collection
    or a reference to one of its objects claims more than the object holds and more than the cap."""
    if buf is None:
        return "variable-length attribute in a file whose bytes are not available for the size check"
    view = View(buf)
    size = len(buf)
    pos = view.find(_GCOL)
    collections = 0
    while pos >= 0:
        head = buf[pos : pos + 16]
        if len(head) == 16 and head[4] == 1 and head[5:8] == b"\0\0\0":
            collections += 1
            if collections > MAX_HDF5_HEAP_COLLECTIONS:
                return f"more than {MAX_HDF5_HEAP_COLLECTIONS} global heap collections to check"
            (declared,) = struct.unpack("<Q", head[8:16])
            if declared > cap or pos + declared > size:
                where = "past the end of the file" if pos + declared > size else "over the cap"
                return f"a global heap collection at byte {pos} declares {declared} bytes ({where})"
            bad = _bad_reference(buf, view, pos, _heap_objects(buf, pos, declared), cap)
            if bad:
                return bad
        pos = view.find(_GCOL, pos + 4)
    return None


def _heap_objects(buf: Buffer, start: int, declared: int) -> dict[int, int]:
    """Object index -> size, for the objects of the collection at `start`."""
    objects: dict[int, int] = {}
    pos, end = start + 16, start + declared
    while pos + 16 <= end and len(objects) < MAX_HDF5_HEAP_OBJECTS:
        index, _refs, _reserved, size = struct.unpack("<HHIQ", buf[pos : pos + 16])
        if index == 0:
            break  # free space: the last object
        objects[index] = size
        pos += 16 + size + (-size % 8)
    return objects


def _bad_reference(buf: Buffer, view: View, address: int, objects: dict[int, int], cap: int) -> str | None:
    needle = struct.pack("<Q", address)
    hit = view.find(needle)
    while hit >= 0:
        if hit >= 4:
            (claimed,) = struct.unpack("<I", buf[hit - 4 : hit])
            (index,) = struct.unpack("<I", buf[hit + 8 : hit + 12] or b"\0\0\0\0")
            if index in objects and claimed > objects[index] and claimed > cap:
                return (
                    f"a variable-length value at byte {hit - 4} claims {claimed} bytes of a"
                    f" {objects[index]}-byte heap object"
                )
        hit = view.find(needle, hit + 1)
    return None
