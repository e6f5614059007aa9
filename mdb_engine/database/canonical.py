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
    """``value`` as plain dicts, lists and BSON scalars; the same object when already plain."""
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return value
    if kind is dict:
        plain: dict[str, Any] = {}
        is_changed = False
        for key, item in value.items():
            if type(key) is not str:
                return _round_trip(value, codec_options)
            plain[key] = canonical(item, codec_options)
            is_changed = is_changed or plain[key] is not item
        return plain if is_changed else value
    if kind is list or kind is tuple:
        items = [canonical(item, codec_options) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
        return value
    return _round_trip(value, codec_options)


def _round_trip(value: Any, codec_options: CodecOptions[Any]) -> Any:
    encoded = bson.encode({"v": value}, codec_options=codec_options)
    plain_options: CodecOptions[dict[str, Any]] = CodecOptions(
        uuid_representation=codec_options.uuid_representation,
        tz_aware=codec_options.tz_aware,
        tzinfo=codec_options.tzinfo,
    )
    return bson.decode(encoded, codec_options=plain_options)["v"]
