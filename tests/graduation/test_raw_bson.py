"""Byte-exact edits of app_id in raw BSON: every other byte stays as the server stored it."""

from __future__ import annotations

import datetime
import struct
from typing import Any

import bson
import pytest
from bson import (
    Binary,
    Code,
    DBRef,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
)
from bson.errors import InvalidBSON

from mdb_engine.graduation.raw_bson import get_field, iter_fields, with_string_field, without_field

EVERY_TYPE: dict[str, Any] = {
    "_id": ObjectId(),
    "double": 1.5,
    "string": "héllo",
    "document": {"nested": {"deeper": [1, {"x": None}]}},
    "array": [1, "two", 3.0],
    "binary": Binary(b"\x00\x01", 0),
    "uuid": Binary(b"0123456789abcdef", 4),
    "boolean": True,
    "datetime": datetime.datetime(2024, 2, 29, 12, 0, 0, 123000),
    "null": None,
    "regex": Regex("^a.*z$", "im"),
    "dbref": DBRef("other", ObjectId()),
    "code": Code("function () {}"),
    "code_with_scope": Code("function () { return x; }", {"x": 1}),
    "int32": 7,
    "timestamp": Timestamp(1_700_000_000, 3),
    "int64": Int64(2**40),
    "decimal": Decimal128("1234.5678"),
    "min": MinKey(),
    "max": MaxKey(),
    "app_id": "shop",
    "after": "last",
}

# Deprecated element types, written by hand: undefined (0x06), DBPointer (0x0C), symbol (0x0E).
_DEPRECATED = (
    b"\x06undef\x00"
    + b"\x0cpointer\x00"
    + struct.pack("<i", 2)
    + b"c\x00"
    + bytes(12)
    + b"\x0esymbol\x00"
    + struct.pack("<i", 4)
    + b"sym\x00"
)


def with_deprecated_types(raw: bytes) -> bytes:
    body = raw[4:-1] + _DEPRECATED + b"\x00"
    return struct.pack("<i", len(body) + 4) + body


def test_every_element_is_walked() -> None:
    raw = with_deprecated_types(bson.encode(EVERY_TYPE))
    names = [name for name, *_ in iter_fields(raw)]
    assert names == [*EVERY_TYPE, "undef", "pointer", "symbol"]


def test_removing_app_id_keeps_every_other_byte() -> None:
    raw = with_deprecated_types(bson.encode(EVERY_TYPE))
    stripped = without_field(raw, "app_id")
    expected = {key: value for key, value in EVERY_TYPE.items() if key != "app_id"}
    assert stripped == with_deprecated_types(bson.encode(expected))
    assert without_field(stripped, "app_id") is stripped  # nothing to remove: unchanged


def test_retagging_replaces_in_place_or_appends() -> None:
    raw = bson.encode(EVERY_TYPE)
    retagged = with_string_field(raw, "app_id", "new-shop")
    assert retagged == bson.encode({**EVERY_TYPE, "app_id": "new-shop"})
    stripped = without_field(raw, "app_id")
    appended = with_string_field(stripped, "app_id", "shop")
    without = {key: value for key, value in EVERY_TYPE.items() if key != "app_id"}
    assert appended == bson.encode({**without, "app_id": "shop"})


def test_get_field_decodes_only_that_field() -> None:
    raw = bson.encode(EVERY_TYPE)
    assert get_field(raw, "app_id") == (True, "shop")
    assert get_field(raw, "int64") == (True, Int64(2**40))
    assert get_field(raw, "missing") == (False, None)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x05\x00\x00",
        struct.pack("<i", 9) + b"\x10a\x00\x01\x00",  # length says 9, 8 bytes given
        struct.pack("<i", 8) + b"\x10a\x00\x00",  # int32 cut off
        struct.pack("<i", 9) + b"\x20a\x00\x00\x00",  # unknown type 0x20
        struct.pack("<i", 8) + b"\x0ba\x00\x00",  # regex without its options
        struct.pack("<i", 12) + b"\x02a\x00" + struct.pack("<i", -1) + b"\x00",
    ],
)
def test_malformed_documents_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidBSON):
        without_field(raw, "app_id")
