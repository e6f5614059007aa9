"""Read vectors straight out of raw BSON documents into a numpy matrix.

Decoding a 384-number array into Python floats costs far more than fetching it. A BSON array
of ``n`` doubles has a fixed layout (type byte, key ``"0"``, ``"1"``…, eight bytes each), so
the doubles of many documents are read at once through strided numpy views. A document whose
array does not have that layout (integers in it, a nested path, another length) is decoded the
ordinary way. Pure CPU work: callers run it in a worker thread.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import bson
import numpy as np
import numpy.typing as npt
from bson import ObjectId

__all__ = ["ArrayLayout", "VectorBatch", "array_layout", "read_vectors"]

_DOUBLE, _STRING, _DOCUMENT, _ARRAY, _BINARY = 0x01, 0x02, 0x03, 0x04, 0x05
# Sizes of the fixed-size BSON values an _id can have.
_FIXED_SIZES = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16}
_INT32 = struct.Struct("<i")

FloatMatrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ArrayLayout:
    """Where the type bytes and the doubles sit in a BSON array of ``dimensions`` doubles."""

    dimensions: int
    size: int  # bytes, length prefix and final NUL included
    type_offsets: npt.NDArray[np.intp]
    groups: tuple[tuple[int, int, int, int], ...]  # (first index, count, value offset, stride)


@functools.lru_cache(maxsize=16)
def array_layout(dimensions: int) -> ArrayLayout:
    """The layout of a BSON array holding ``dimensions`` doubles."""
    type_offsets: list[int] = []
    groups: list[tuple[int, int, int, int]] = []
    position = 4
    first = 0
    while first < dimensions:
        key_length = len(str(first))
        last = min(dimensions, 10**key_length)  # same key length up to the next power of ten
        stride = 1 + key_length + 1 + 8
        groups.append((first, last - first, position + 2 + key_length, stride))
        type_offsets.extend(range(position, position + (last - first) * stride, stride))
        position += (last - first) * stride
        first = last
    offsets = np.array(type_offsets, dtype=np.intp)
    return ArrayLayout(dimensions, position + 1, offsets, tuple(groups))


@dataclass
class VectorBatch:
    """The ``_id`` values and vectors read from a batch of documents, row for row."""

    ids: list[Any]
    vectors: FloatMatrix


def read_vectors(
    documents: Iterable[bytes | memoryview], path: str, dimensions: int
) -> VectorBatch:
    """The ``_id`` and the ``path`` vector of each document whose vector has ``dimensions``
    numbers (NaN and infinities included: scoring leaves them out); other documents are
    left out.

    The common case, ``{_id: ObjectId, <path>: [doubles]}`` as a projection returns it, is
    read for all documents at once; any other document is walked or decoded one by one.
    """
    layout = array_layout(dimensions)
    shape = None if "." in path else _DocumentShape.of(path, layout)
    same_shape: list[bytes | memoryview] = []
    others: list[bytes] = []
    for raw in documents:
        if shape is not None and len(raw) == shape.length:
            same_shape.append(raw)
        else:
            others.append(bytes(raw))
    ids: list[Any] = []
    parts: list[FloatMatrix] = []
    if shape is not None and same_shape:
        found_ids, vectors = _read_same_shape(same_shape, shape, layout, others)
        ids.extend(found_ids)
        parts.append(vectors)
    other_ids, other_vectors = _read_one_by_one(others, path, layout)
    ids.extend(other_ids)
    parts.append(other_vectors)
    return VectorBatch(ids, np.concatenate(parts) if len(parts) > 1 else parts[0])


@dataclass(frozen=True)
class _DocumentShape:
    """The bytes of ``{_id: <ObjectId>, <path>: [<dimensions> doubles]}``."""

    length: int
    field_header: bytes  # type byte, field name, NUL, and the array's own length
    array_start: int

    @classmethod
    def of(cls, path: str, layout: ArrayLayout) -> _DocumentShape:
        field_header = b"\x04" + path.encode() + b"\x00" + _INT32.pack(layout.size)
        array_start = _OBJECT_ID_END + len(field_header) - 4
        return cls(array_start + layout.size + 1, field_header, array_start)


_ID_HEADER = b"\x07_id\x00"
_OBJECT_ID_START = 4 + len(_ID_HEADER)
_OBJECT_ID_END = _OBJECT_ID_START + 12


def _read_same_shape(
    documents: list[bytes | memoryview],
    shape: _DocumentShape,
    layout: ArrayLayout,
    others: list[bytes],
) -> tuple[list[Any], FloatMatrix]:
    """Read documents of the expected length at once; those not of the expected shape after
    all go to ``others``."""
    joined = b"".join(documents)
    rows = len(documents)
    buffer = np.frombuffer(joined, dtype=np.uint8).reshape(rows, shape.length)
    id_header = np.frombuffer(_ID_HEADER, dtype=np.uint8)
    field_header = np.frombuffer(shape.field_header, dtype=np.uint8)
    header_end = _OBJECT_ID_END + len(field_header)
    matrix, is_double = _doubles(joined, rows, shape.length, shape.array_start, layout)
    is_expected = (
        (buffer[:, 4:_OBJECT_ID_START] == id_header).all(axis=1)
        & (buffer[:, _OBJECT_ID_END:header_end] == field_header).all(axis=1)
        & is_double
    )
    if not is_expected.all():
        others.extend(bytes(documents[row]) for row in np.flatnonzero(~is_expected))
        keep = np.flatnonzero(is_expected)
        buffer, matrix = buffer[keep], matrix[keep]
    ids = [ObjectId(row.tobytes()) for row in buffer[:, _OBJECT_ID_START:_OBJECT_ID_END]]
    return ids, matrix


def _read_one_by_one(
    documents: list[bytes], path: str, layout: ArrayLayout
) -> tuple[list[Any], FloatMatrix]:
    """Find the vector of each document by walking its top-level fields (or decoding it)."""
    array_ids: list[Any] = []
    arrays = bytearray()
    ids: list[Any] = []
    vectors: list[list[float]] = []
    for raw in documents:
        found = None if "." in path else _find_fields(raw, path)
        if found is not None and found[1][0] == _ARRAY and found[1][2] == layout.size:
            identifier, (_, start, size) = found
            array_ids.append(identifier)
            arrays += memoryview(raw)[start : start + size]
            continue
        document = bson.decode(raw)
        vector = _numbers(_lookup(document, path), layout.dimensions)
        if vector is not None:
            ids.append(document.get("_id"))
            vectors.append(vector)
    matrix, is_double = _doubles(arrays, len(array_ids), layout.size, 0, layout)
    for row in np.flatnonzero(~is_double):  # integers or other types in the array
        array = bytes(arrays[row * layout.size : (row + 1) * layout.size])
        vector = _numbers(list(bson.decode(array).values()), layout.dimensions)
        if vector is not None:
            ids.append(array_ids[row])
            vectors.append(vector)
    keep = np.flatnonzero(is_double)
    found_ids = [array_ids[int(row)] for row in keep]
    extra: FloatMatrix = np.array(vectors, dtype=np.float64).reshape(-1, layout.dimensions)
    return found_ids + ids, np.concatenate([matrix[keep], extra])


def _doubles(
    buffer: bytes | bytearray, rows: int, row_size: int, array_start: int, layout: ArrayLayout
) -> tuple[FloatMatrix, npt.NDArray[np.bool_]]:
    """The doubles of the array at ``array_start`` of each row, and whether every element
    of that row's array really is a double."""
    matrix: FloatMatrix = np.empty((rows, layout.dimensions), dtype=np.float64)
    if not rows:
        return matrix, np.ones(0, dtype=np.bool_)
    bytes_view = np.frombuffer(buffer, dtype=np.uint8, count=rows * row_size)
    types = bytes_view.reshape(rows, row_size)[:, array_start + layout.type_offsets]
    for first, count, offset, stride in layout.groups:
        view: FloatMatrix = np.ndarray(
            (rows, count),
            dtype="<f8",
            buffer=buffer,
            offset=array_start + offset,
            strides=(row_size, stride),
        )
        matrix[:, first : first + count] = view
    return matrix, (types == _DOUBLE).all(axis=1)


def _lookup(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def _numbers(value: Any, dimensions: int) -> list[float] | None:
    if not isinstance(value, list) or len(value) != dimensions:
        return None
    numbers: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            return None
        numbers.append(float(item))
    return numbers


def _find_fields(raw: bytes, name: str) -> tuple[Any, tuple[int, int, int]] | None:
    """The decoded ``_id`` and ``(type, value start, value size)`` of top-level ``name``."""
    wanted = name.encode()
    identifier: Any = None
    field: tuple[int, int, int] | None = None
    position, end = 4, len(raw) - 1
    while position < end:
        kind = raw[position]
        key_end = raw.index(b"\x00", position + 1)
        key = raw[position + 1 : key_end]
        start = key_end + 1
        size = _value_size(raw, kind, start)
        if size is None:
            return None
        if key == b"_id":
            element = raw[position : start + size]
            identifier = bson.decode(_INT32.pack(len(element) + 5) + element + b"\x00")["_id"]
        elif key == wanted:
            field = (kind, start, size)
        position = start + size
    if field is None:
        return None
    return identifier, field


def _value_size(raw: bytes, kind: int, start: int) -> int | None:
    fixed = _FIXED_SIZES.get(kind)
    if fixed is not None:
        return fixed
    if kind in (_DOCUMENT, _ARRAY):
        return int(_INT32.unpack_from(raw, start)[0])
    if kind == _STRING:
        return 4 + int(_INT32.unpack_from(raw, start)[0])
    if kind == _BINARY:
        return 5 + int(_INT32.unpack_from(raw, start)[0])
    return None
