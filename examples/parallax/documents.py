"""Documents in and out of HTTP: MongoDB Extended JSON both ways, ISO date strings as dates.

Request bodies are read as Extended JSON, so every BSON type can be sent
(``{"$date": "2024-05-01T10:00:00Z"}``, ``{"$numberLong": "7"}``, ``{"$numberDecimal": "1.5"}``,
``{"$oid": "…"}``); plain strings that are full ISO 8601 date-times
(``2024-05-01T10:00:00Z``, ``2024-05-01T10:00:00.500+02:00``) become dates too, unless the
caller turns that off. Responses are relaxed Extended JSON (``{"$oid": "…"}``, ``{"$date": …}``).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from typing import Any

from bson import json_util
from bson.errors import BSONError
from bson.json_util import RELAXED_JSON_OPTIONS

__all__ = ["MAX_DOCUMENTS", "BadDocuments", "parse_documents", "to_json"]

MAX_DOCUMENTS = 1000
APP_ID_FIELD = "app_id"
# A date and a time (seconds, milli- or microseconds optional), with Z, an offset or none (UTC);
# the forms every supported Python's ``datetime.fromisoformat`` reads.
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{3}(\d{3})?)?)?(Z|[+-]\d{2}:\d{2})?",
)


class BadDocuments(ValueError):
    """The request body is not one document or a list of documents."""


def parse_documents(body: bytes, *, parse_dates: bool = True) -> list[dict[str, Any]]:
    """The documents of a request body: one JSON object or a non-empty list of them."""
    try:
        parsed = json_util.loads(body)
    except (ValueError, TypeError, ArithmeticError, BSONError) as error:
        raise BadDocuments(f"the body is not valid (Extended) JSON: {error}") from None
    documents = parsed if isinstance(parsed, list) else [parsed]
    if not documents:
        raise BadDocuments("the list of documents is empty")
    if len(documents) > MAX_DOCUMENTS:
        raise BadDocuments(f"at most {MAX_DOCUMENTS} documents per request")
    for index, document in enumerate(documents):
        if not isinstance(document, dict):
            raise BadDocuments(f"document {index} is not a JSON object")
    if parse_dates:
        documents = [_with_dates(document) for document in documents]
    return documents


def _with_dates(value: Any) -> Any:
    """``value`` with every ISO 8601 date-time string replaced by a UTC datetime."""
    if isinstance(value, str) and _ISO_DATETIME.fullmatch(value):
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:  # matches the shape but is no real date (month 13…): keep it
            return value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=datetime.timezone.utc)
        return moment.astimezone(datetime.timezone.utc)
    if isinstance(value, dict):
        return {key: _with_dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_dates(item) for item in value]
    return value


def to_json(value: Any, *, drop_app_id: bool = False) -> Any:
    """``value`` as JSON-ready data (relaxed Extended JSON); ``drop_app_id`` removes the
    engine's top-level ``app_id`` from a document."""
    if drop_app_id and isinstance(value, Mapping):
        value = {key: item for key, item in value.items() if key != APP_ID_FIELD}
    return json.loads(json_util.dumps(value, json_options=RELAXED_JSON_OPTIONS))
