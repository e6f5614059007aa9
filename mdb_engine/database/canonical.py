"""Bring user input to the form the server will read, before the sandbox checks it.

The checks walk Python objects, but the server reads the BSON the driver encodes. The two can
differ: a ``RawBSONDocument`` may repeat a key (Python sees the last ``$set``, the server
applies both), a dict subclass may hide keys from iteration, and a codec's type registry may
encode an arbitrary object as a document. Anything that is not a plain ``dict``, ``list``,
``tuple`` or BSON scalar is therefore encoded with the collection's codec options and decoded
back into plain values, and those plain values are what is checked and sent.
"""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

import bson
from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.codec_options import CodecOptions

from mdb_engine.database.depth import MAX_NESTING_DEPTH, check_nesting_depth, too_deep

__all__ = ["canonical"]

_SCALAR_TYPES = frozenset(
    {
        str,
        int,
        float,
        bool,
        type(None),
        bytes,
        ObjectId,
        datetime.datetime,
        Decimal128,
        Int64,
        Regex,
        re.Pattern,
        uuid.UUID,
        Binary,
        Timestamp,
        MinKey,
        MaxKey,
        Code,
    }
)


def canonical(value: Any, codec_options: CodecOptions[Any]) -> Any:
    """``value`` as plain dicts, lists and BSON scalars; the same object when already plain.
    ``InputTooDeep`` when it is nested deeper than MongoDB accepts."""
    return _canonical(value, codec_options, MAX_NESTING_DEPTH)


def _canonical(value: Any, codec_options: CodecOptions[Any], depth_left: int) -> Any:
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return value
    if depth_left == 0:
        raise too_deep("input")
    if kind is dict:
        plain: dict[str, Any] = {}
        is_changed = False
        for key, item in value.items():
            if type(key) is not str:
                return _round_trip(value, codec_options)
            plain[key] = _canonical(item, codec_options, depth_left - 1)
            is_changed = is_changed or plain[key] is not item
        return plain if is_changed else value
    if kind is list or kind is tuple:
        items = [_canonical(item, codec_options, depth_left - 1) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
        return value
    return _round_trip(value, codec_options)


def _round_trip(value: Any, codec_options: CodecOptions[Any]) -> Any:
    try:
        encoded = bson.encode({"v": value}, codec_options=codec_options)
    except RecursionError:
        raise too_deep("input") from None
    plain_options: CodecOptions[dict[str, Any]] = CodecOptions(
        uuid_representation=codec_options.uuid_representation,
        tz_aware=codec_options.tz_aware,
        tzinfo=codec_options.tzinfo,
    )
    decoded = bson.decode(encoded, codec_options=plain_options)["v"]
    # What a codec turned into documents is walked again, so its depth counts as well.
    check_nesting_depth(decoded, where="input")
    return decoded
