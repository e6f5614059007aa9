"""Byte-exact edits of one top-level field of a raw BSON document (pure, no I/O).

Graduation removes or retags ``app_id`` without decoding and re-encoding the rest of the
document: every other byte (field order, int32 vs int64, deprecated types, nested documents)
stays exactly as the server stored it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import bson
from bson.errors import InvalidBSON

__all__ = ["get_field", "iter_fields", "with_string_field", "without_field"]

_INT32 = struct.Struct("<i")
# Value sizes of the element types whose size does not depend on their bytes.
_FIXED_SIZES = {
    0x01: 8,  # double
    0x06: 0,  # undefined (deprecated)
    0x07: 12,  # ObjectId
    0x08: 1,  # boolean
    0x09: 8,  # UTC datetime
    0x0A: 0,  # null
    0x10: 4,  # int32
    0x11: 8,  # timestamp
    0x12: 8,  # int64
    0x13: 16,  # decimal128
    0x7F: 0,  # max key
    0xFF: 0,  # min key
}
_STRING_TYPES = frozenset({0x02, 0x0D, 0x0E})  # string, JavaScript code, symbol
_DOCUMENT_TYPES = frozenset({0x03, 0x04, 0x0F})  # document, array, code with scope


def iter_fields(raw: bytes) -> Iterator[tuple[str, int, int, int]]:
    """``(name, element type, start, end)`` of each top-level element of ``raw``.

    ``raw[start:end]`` is the whole element (type byte, name, value). Raises ``InvalidBSON``
    when the bytes do not hold a well-formed document.
    """
    if len(raw) < 5 or _INT32.unpack_from(raw, 0)[0] != len(raw) or raw[-1] != 0:
        raise InvalidBSON("the document's declared length does not match its bytes")
    position = 4
    last = len(raw) - 1
    while position < last:
        start = position
        element_type = raw[position]
        name_end = raw.find(b"\x00", position + 1, last)
        if name_end < 0:
            raise InvalidBSON("a field name is not terminated")
        name = raw[position + 1 : name_end].decode("utf-8", "surrogateescape")
        position = _value_end(raw, element_type, name_end + 1, last)
        yield name, element_type, start, position
    if position != last:
        raise InvalidBSON("the last element runs past the end of the document")


def without_field(raw: bytes, name: str) -> bytes:
    """``raw`` without its top-level field ``name`` (unchanged when it has none)."""
    for field, _, start, end in iter_fields(raw):
        if field == name:
            body = raw[4:start] + raw[end:]
            return _INT32.pack(len(body) + 4) + body
    return raw


def get_field(raw: bytes, name: str) -> tuple[bool, Any]:
    """``(True, value)`` for the top-level field ``name`` of ``raw``, ``(False, None)`` when it
    has none; only that element is decoded."""
    for field, _, start, end in iter_fields(raw):
        if field == name:
            element = raw[start:end]
            return True, bson.decode(_INT32.pack(len(element) + 5) + element + b"\x00")[name]
    return False, None


def with_string_field(raw: bytes, name: str, value: str) -> bytes:
    """``raw`` with the top-level field ``name`` set to the string ``value``: replaced where it
    is, or appended as the last field (where the engine's inserts put ``app_id``)."""
    encoded = value.encode("utf-8")
    element = (
        b"\x02" + name.encode("utf-8") + b"\x00" + _INT32.pack(len(encoded) + 1) + encoded + b"\x00"
    )
    for field, _, start, end in iter_fields(raw):
        if field == name:
            body = raw[4:start] + element + raw[end:]
            break
    else:
        body = raw[4:-1] + element + b"\x00"
    return _INT32.pack(len(body) + 4) + body


def _value_end(raw: bytes, element_type: int, position: int, last: int) -> int:
    """Where the value of an element of ``element_type`` starting at ``position`` ends."""
    if element_type in _FIXED_SIZES:
        end = position + _FIXED_SIZES[element_type]
    elif element_type in _STRING_TYPES:
        end = position + 4 + _length(raw, position, last)
    elif element_type in _DOCUMENT_TYPES:
        end = position + _length(raw, position, last)
    elif element_type == 0x05:  # binary: length, subtype, bytes
        end = position + 4 + 1 + _length(raw, position, last)
    elif element_type == 0x0C:  # DBPointer (deprecated): string, then a 12-byte ObjectId
        end = position + 4 + _length(raw, position, last) + 12
    elif element_type == 0x0B:  # regular expression: two C strings
        pattern_end = raw.find(b"\x00", position, last)
        options_end = raw.find(b"\x00", pattern_end + 1, last) if pattern_end >= 0 else -1
        if options_end < 0:
            raise InvalidBSON("a regular expression is not terminated")
        end = options_end + 1
    else:
        raise InvalidBSON(f"unknown element type 0x{element_type:02x}")
    if end > last:
        raise InvalidBSON("an element runs past the end of the document")
    return end


def _length(raw: bytes, position: int, last: int) -> int:
    if position + 4 > last:
        raise InvalidBSON("an element runs past the end of the document")
    length: int = _INT32.unpack_from(raw, position)[0]
    if length < 0:
        raise InvalidBSON("an element declares a negative length")
    return length
