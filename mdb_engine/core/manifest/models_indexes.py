"""Index declarations (``managed_indexes``) and collection options (``collection_settings``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator
from pymongo import IndexModel

from mdb_engine.core.manifest.fields import ManifestModel, Violation, rule_error, rule_violations
from mdb_engine.core.manifest.index_rules import (
    MAX_TTL_SECONDS,
    SEARCH_INDEX_TYPES,
    key_violations,
    option_violations,
)
from mdb_engine.core.manifest.partial_filter_rules import partial_filter_violations

__all__ = [
    "INDEX_DIRECTIONS",
    "CollectionSettings",
    "IndexDirection",
    "IndexKeys",
    "IndexSpec",
    "IndexType",
    "TimeseriesOptions",
]

IndexType = Literal[
    "regular",
    "text",
    "geospatial",
    "ttl",
    "partial",
    "hashed",
    "wildcard",
    "vectorSearch",
    "search",
]
INDEX_DIRECTIONS: tuple[int | str, ...] = (1, -1, "text", "2dsphere", "2d", "hashed")


def _normalize_direction(value: Any) -> Any:
    # Literal[1] would quietly accept True and 1.0; a boolean is a mistake, 1.0 is fine JSON.
    if isinstance(value, bool):
        raise rule_error(
            f"expected one of {_render_directions()}, got {str(value).lower()}",
            "use 1 for ascending or -1 for descending",
        )
    if isinstance(value, float) and value in (1.0, -1.0):
        return int(value)
    return value


def _render_directions() -> str:
    return ", ".join(
        f'"{item}"' if isinstance(item, str) else str(item) for item in INDEX_DIRECTIONS
    )


def _keys_from_pairs(value: Any) -> Any:
    """Accept ``[[field, direction], ...]`` as well as ``{field: direction}``, keeping order."""
    if not isinstance(value, list):
        return value
    keys: dict[str, Any] = {}
    violations: list[Violation] = []
    for position, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            violations.append(
                ((position,), "expected a [field, direction] pair", 'e.g. ["created_at", -1]', pair)
            )
        elif pair[0] in keys:
            violations.append(((position,), f"field {pair[0]!r} appears twice", None, pair))
        else:
            keys[pair[0]] = pair[1]
    if violations:
        raise rule_violations("keys", violations)
    return keys


IndexDirection = Annotated[
    Literal[1, -1, "text", "2dsphere", "2d", "hashed"], BeforeValidator(_normalize_direction)
]
IndexKeys = Annotated[
    dict[str, IndexDirection],
    BeforeValidator(_keys_from_pairs),
    WithJsonSchema(
        {
            "description": "Indexed fields in order, field -> direction; "
            "a list of [field, direction] pairs is accepted too.",
            "anyOf": [
                {"type": "object", "additionalProperties": {"enum": list(INDEX_DIRECTIONS)}},
                {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [{"type": "string"}, {"enum": list(INDEX_DIRECTIONS)}],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
            ],
        }
    ),
]


class IndexSpec(ManifestModel):
    """One index the engine keeps in place on a collection."""

    type: IndexType = Field(
        default="regular",
        description="The kind of index, which decides the keys and options it needs; "
        "'vectorSearch' and 'search' are Atlas indexes.",
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        description="The index's name; default the one MongoDB generates from the keys, or "
        "'default' for a search index.",
    )
    keys: IndexKeys | None = None
    unique: bool | None = Field(
        default=None, description="Refuse two documents with the same indexed values."
    )
    sparse: bool | None = Field(
        default=None, description="Index only the documents that have the indexed fields."
    )
    hidden: bool | None = Field(
        default=None,
        description="Keep the index but hide it from the query planner; changed in place.",
    )
    expireAfterSeconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_TTL_SECONDS,
        description="Delete a document this many seconds after the date in its indexed field "
        "(ttl); changed in place.",
    )
    partialFilterExpression: dict[str, Any] | None = Field(
        default=None, description="Index only the documents that match this filter (partial)."
    )
    weights: dict[str, int] | None = Field(
        default=None, description="Text index: field -> weight in its score (1 when not given)."
    )
    default_language: str | None = Field(
        default=None,
        description="Text index: the language of stemming and stop words (default 'english').",
    )
    language_override: str | None = Field(
        default=None,
        min_length=1,
        description="Text index: the document field that names its own language (default "
        "'language').",
    )
    collation: dict[str, Any] | None = Field(
        default=None,
        description="Language rules for comparing strings, such as {'locale': 'en', "
        "'strength': 2}; default the collection's.",
    )
    wildcardProjection: dict[str, Any] | None = Field(
        default=None,
        description="Wildcard index on '$**': the fields to include (1) or exclude (0).",
    )
    definition: dict[str, Any] | None = Field(
        default=None, description="The Atlas index definition (vectorSearch and search only)."
    )

    @property
    def is_search(self) -> bool:
        """Whether this is an Atlas Search or Vector Search index (not a MongoDB index)."""
        return self.type in SEARCH_INDEX_TYPES

    @property
    def resolved_name(self) -> str:
        """The index's name on the server: ``name`` if declared; otherwise ``"default"`` for a
        Search or Vector Search index, and for any other index the name MongoDB generates from
        the keys (``status_1_created_at_-1``, ``title_text``)."""
        if self.name is not None:
            return self.name
        if self.is_search:
            return "default"
        if not self.keys:  # only a spec built without validation lacks them
            raise ValueError("an index without keys has no generated name")
        return str(IndexModel(list(self.keys.items())).document["name"])

    @model_validator(mode="after")
    def _check_type_rules(self) -> IndexSpec:
        violations = (
            self._search_index_violations() if self.is_search else self._regular_index_violations()
        )
        if violations:
            raise rule_violations(type(self).__name__, violations)
        return self

    def _search_index_violations(self) -> list[Violation]:
        violations: list[Violation] = []
        if self.definition is None:
            violations.append(
                (
                    ("definition",),
                    f"missing required key 'definition' (a {self.type!r} index needs it)",
                    'e.g. {"fields": [{"type": "vector", "path": "embedding", '
                    '"numDimensions": 1536, "similarity": "cosine"}]}'
                    if self.type == "vectorSearch"
                    else 'e.g. {"mappings": {"dynamic": true}}',
                    None,
                )
            )
        if self.keys is not None:
            violations.append(
                (
                    ("keys",),
                    f"'keys' is not used by {self.type!r} indexes",
                    "declare the indexed fields inside 'definition'",
                    self.keys,
                )
            )
        return violations

    def _regular_index_violations(self) -> list[Violation]:
        keys = self.keys or {}
        directions = list(keys.values())
        violations: list[Violation] = []
        if self.definition is not None:
            violations.append(
                (
                    ("definition",),
                    "'definition' is only used by 'vectorSearch' and 'search' indexes",
                    "remove it, or set the type",
                    self.definition,
                )
            )
        if self.keys is None:
            violations.append(
                (("keys",), "missing required key 'keys'", 'e.g. {"created_at": -1}', None)
            )
        elif not keys:
            violations.append(
                (("keys",), "an index needs at least one key", 'e.g. {"created_at": -1}', keys)
            )
        if self.type == "ttl":
            if self.expireAfterSeconds is None:
                violations.append(
                    (
                        ("expireAfterSeconds",),
                        "missing required key 'expireAfterSeconds' (a 'ttl' index needs it)",
                        "e.g. 3600 to delete documents one hour after the indexed date",
                        None,
                    )
                )
            if len(keys) > 1:
                violations.append(
                    (("keys",), f"a 'ttl' index has exactly one key, got {len(keys)}", None, keys)
                )
        elif self.expireAfterSeconds is not None and len(keys) > 1:
            violations.append(
                (
                    ("expireAfterSeconds",),
                    "'expireAfterSeconds' cannot be used on a compound index",
                    "expire documents with a single-field 'ttl' index",
                    self.expireAfterSeconds,
                )
            )
        if self.type == "partial" and self.partialFilterExpression is None:
            violations.append(
                (
                    ("partialFilterExpression",),
                    "missing required key 'partialFilterExpression' (a 'partial' index needs it)",
                    'e.g. {"status": {"$eq": "active"}}',
                    None,
                )
            )
        if self.type == "text" and keys and "text" not in directions:
            violations.append(
                (("keys",), "a 'text' index needs a \"text\" key", 'e.g. {"title": "text"}', keys)
            )
        if (
            self.type == "geospatial"
            and keys
            and not {"2dsphere", "2d"} & set(map(str, directions))
        ):
            violations.append(
                (
                    ("keys",),
                    'a \'geospatial\' index needs a "2dsphere" or "2d" key',
                    'e.g. {"location": "2dsphere"}',
                    keys,
                )
            )
        if self.type == "hashed" and keys and directions.count("hashed") != 1:
            violations.append(
                (
                    ("keys",),
                    f"a 'hashed' index has exactly one \"hashed\" key, "
                    f"got {directions.count('hashed')}",
                    'e.g. {"user_id": "hashed"}',
                    keys,
                )
            )
        if self.unique and "hashed" in directions:
            violations.append(
                (("unique",), "a hashed index cannot be unique", "remove 'unique'", self.unique)
            )
        violations.extend(key_violations(keys, self.type))
        violations.extend(option_violations(self))
        if self.partialFilterExpression is not None:
            violations.extend(
                partial_filter_violations(
                    self.partialFilterExpression, at=("partialFilterExpression",)
                )
            )
        return violations


class TimeseriesOptions(ManifestModel):
    """Makes the collection a time-series collection."""

    timeField: str = Field(min_length=1, description="The field that holds each document's date.")
    metaField: str | None = Field(
        default=None,
        description="The field that names a document's series, such as a sensor id.",
    )
    granularity: Literal["seconds", "minutes", "hours"] | None = Field(
        default=None,
        description="About the time between two documents of one series; the server buckets "
        "documents by it.",
    )


class CollectionSettings(ManifestModel):
    """Options the engine applies when it creates the collection."""

    validator: dict[str, Any] | None = Field(
        default=None,
        description="A query or {'$jsonSchema': ...} that documents must match; a schema that "
        "forbids unknown fields is extended to allow app_id.",
    )
    validation_level: Literal["off", "strict", "moderate"] | None = Field(
        default=None,
        description="'strict' checks every insert and update, 'moderate' skips updates of "
        "documents that already fail, 'off' checks nothing.",
    )
    validation_action: Literal["error", "warn"] | None = Field(
        default=None,
        description="'error' refuses a write that fails the validator; 'warn' accepts it and "
        "the server logs it.",
    )
    collation: dict[str, Any] | None = Field(
        default=None,
        description="The collection's default collation, which its indexes inherit, such as "
        "{'locale': 'en'}.",
    )
    capped: bool = Field(
        default=False,
        description="A fixed-size collection that drops its oldest documents when full; needs "
        "'size'.",
    )
    size: int | None = Field(default=None, gt=0, description="Maximum size in bytes (capped).")
    max: int | None = Field(default=None, gt=0, description="Maximum documents (capped).")
    timeseries: TimeseriesOptions | None = None
    expireAfterSeconds: int | None = Field(
        default=None,
        ge=0,
        description="Time-series only: delete a document this many seconds after its "
        "timeField date.",
    )

    def create_options(self) -> dict[str, Any]:
        """The keyword arguments of ``create_collection`` that these settings stand for."""
        options: dict[str, Any] = {
            "validator": self.validator,
            "validationLevel": self.validation_level,
            "validationAction": self.validation_action,
            "collation": self.collation,
            "size": self.size,
            "max": self.max,
            "expireAfterSeconds": self.expireAfterSeconds,
        }
        if self.capped:
            options["capped"] = True
        if self.timeseries is not None:
            options["timeseries"] = self.timeseries.model_dump(exclude_none=True)
        return {key: value for key, value in options.items() if value is not None}

    @model_validator(mode="after")
    def _check_capped(self) -> CollectionSettings:
        violations: list[Violation] = []
        if self.capped and self.size is None:
            violations.append(
                (
                    ("size",),
                    "missing required key 'size' (a capped collection needs it)",
                    "e.g. 1048576 for one megabyte",
                    None,
                )
            )
        if not self.capped:
            violations.extend(
                ((key,), f"{key!r} is only used by capped collections", "set 'capped': true", value)
                for key, value in (("size", self.size), ("max", self.max))
                if value is not None
            )
        if self.expireAfterSeconds is not None and self.timeseries is None:
            violations.append(
                (
                    ("expireAfterSeconds",),
                    "'expireAfterSeconds' is only used by time-series collections",
                    "add 'timeseries', or expire documents with a 'ttl' index",
                    self.expireAfterSeconds,
                )
            )
        if self.capped and self.timeseries is not None:
            violations.append(
                (
                    ("timeseries",),
                    "a collection cannot be both capped and time-series",
                    "remove 'capped' or 'timeseries'",
                    None,
                )
            )
        if violations:
            raise rule_violations(type(self).__name__, violations)
        return self
