"""Index declarations the server would refuse fail at manifest validation, at their path.

The second half runs the same declarations against a real server: what the manifest refuses,
MongoDB refuses too (a few rules are stricter on purpose, and say why), and the edge cases the
manifest accepts, MongoDB creates.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient, IndexModel
from pymongo.errors import OperationFailure

from mdb_engine.core.manifest import IndexSpec, parse_manifest
from mdb_engine.errors import ManifestError, ManifestProblem

RawClient = AsyncMongoClient[dict[str, Any]]
Spec = dict[str, Any]

# A rule's problem carries a hint; these constraints are plain bounds whose message says it all.
_BOUND_MESSAGES = ("must be at most 2147483647, got 2147483648", "must not be empty")


def manifest(specs: list[Spec]) -> dict[str, Any]:
    return {
        "schema_version": "2.0",
        "slug": "my_app",
        "name": "My App",
        "managed_indexes": {"tasks": specs},
    }


def problems_of(specs: list[Spec]) -> list[ManifestProblem]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest(specs))
    return caught.value.problems


def index_model(spec: Spec) -> IndexModel:
    """What the engine sends for a declaration: the keys, and every option but ``type``."""
    keys = spec["keys"]
    pairs = list(keys.items()) if isinstance(keys, dict) else [tuple(pair) for pair in keys]
    options = {key: value for key, value in spec.items() if key not in ("type", "keys")}
    return IndexModel(pairs, **options)


def refused(
    case_id: str, specs: Spec | list[Spec], *problems: tuple[str, str]
) -> pytest.ParameterSet:
    """A declaration (or a collection's list of them) and every (path, message) it yields;
    paths are relative to ``$.managed_indexes.tasks``."""
    return pytest.param(specs if isinstance(specs, list) else [specs], problems, id=case_id)


PARTIAL = "[0].partialFilterExpression"

REFUSED_BY_THE_SERVER_TOO = [
    # -- key field names
    refused(
        "empty field", {"keys": {"": 1}}, ('[0].keys[""]', "a key's field name must not be empty")
    ),
    refused(
        "empty part",
        {"keys": {"a..b": 1}},
        ('[0].keys["a..b"]', "field 'a..b' has an empty part (a leading, trailing or double '.')"),
    ),
    refused(
        "leading dot",
        {"keys": {".a": 1}},
        ('[0].keys[".a"]', "field '.a' has an empty part (a leading, trailing or double '.')"),
    ),
    refused(
        "trailing dot",
        {"keys": {"a.": 1}},
        ('[0].keys["a."]', "field 'a.' has an empty part (a leading, trailing or double '.')"),
    ),
    refused(
        "dollar field",
        {"keys": {"$a": 1}},
        ('[0].keys["$a"]', "field '$a' has a part starting with '$'"),
    ),
    refused(
        "dollar part",
        {"keys": {"a.$b": 1}},
        ('[0].keys["a.$b"]', "field 'a.$b' has a part starting with '$'"),
    ),
    refused(
        "wildcard not last",
        {"keys": {"$**.a": 1}},
        ('[0].keys["$**.a"]', "field '$**.a': '$**' can only be its last part"),
    ),
    refused(
        "wildcard in the middle",
        {"keys": {"a.$**.b": 1}},
        ('[0].keys["a.$**.b"]', "field 'a.$**.b': '$**' can only be its last part"),
    ),
    refused(
        "descending wildcard",
        {"keys": {"$**": -1}},
        ('[0].keys["$**"]', 'a wildcard key can only be 1 or "text", got -1'),
    ),
    refused(
        "descending path wildcard",
        {"keys": {"a.$**": -1}},
        ('[0].keys["a.$**"]', "a wildcard key can only be 1, got -1"),
    ),
    refused(
        "text path wildcard",
        {"keys": {"a.$**": "text"}},
        ('[0].keys["a.$**"]', 'a wildcard key can only be 1, got "text"'),
    ),
    refused(
        "hashed wildcard",
        {"keys": {"$**": "hashed"}},
        ('[0].keys["$**"]', 'a wildcard key can only be 1 or "text", got "hashed"'),
    ),
    # -- _id
    refused(
        "descending _id alone",
        {"keys": {"_id": -1}},
        (
            "[0].keys",
            "the index on '_id' alone always exists: MongoDB creates it with the collection",
        ),
    ),
    refused(
        "ttl on _id",
        {"keys": {"_id": 1}, "expireAfterSeconds": 60},
        (
            "[0].keys",
            "the index on '_id' alone always exists: MongoDB creates it with the collection",
        ),
        ("[0].expireAfterSeconds", "a TTL index cannot be on '_id'"),
    ),
    refused(
        "unique _id alone",
        {"keys": {"_id": 1}, "unique": True},
        (
            "[0].keys",
            "the index on '_id' alone always exists: MongoDB creates it with the collection",
        ),
    ),
    # -- text
    refused(
        "text keys apart",
        {"keys": {"a": "text", "b": 1, "c": "text"}},
        ("[0].keys", '"text" keys must be next to each other in the key order'),
    ),
    refused(
        "text collation",
        {"type": "text", "keys": {"a": "text"}, "collation": {"locale": "en"}},
        ("[0].collation", "a text index cannot have a 'collation'"),
    ),
    refused(
        "text weight 0",
        {"keys": {"a": "text"}, "weights": {"a": 0}},
        ("[0].weights.a", "a text weight must be greater than 0 and less than 100000, got 0"),
    ),
    refused(
        "text weight 100000",
        {"keys": {"a": "text"}, "weights": {"a": 100000}},
        ("[0].weights.a", "a text weight must be greater than 0 and less than 100000, got 100000"),
    ),
    refused(
        "weights without text",
        {"keys": {"a": 1}, "weights": {"a": 5}},
        ("[0].weights", "'weights' is only used by text indexes"),
    ),
    refused(
        "unknown language",
        {"keys": {"a": "text"}, "default_language": "klingon"},
        ("[0].default_language", "unknown text search language 'klingon'"),
    ),
    refused(
        "simple is no language",
        {"keys": {"a": "text"}, "default_language": "simple"},
        ("[0].default_language", "unknown text search language 'simple'"),
    ),
    refused(
        "empty language_override",
        {"keys": {"a": "text"}, "language_override": ""},
        ("[0].language_override", "must not be empty"),
    ),
    # -- 2d
    refused(
        "2d not first",
        {"keys": {"a": 1, "loc": "2d"}},
        ("[0].keys.loc", 'a "2d" key must be the first key'),
    ),
    refused(
        "two 2d",
        {"keys": {"loc": "2d", "other": "2d"}},
        ("[0].keys.other", 'an index can have only one "2d" key'),
    ),
    refused(
        "2d collation",
        {"keys": {"loc": "2d"}, "collation": {"locale": "en"}},
        ("[0].collation", "a 2d index cannot have a 'collation'"),
    ),
    # -- one kind of special key per index
    *(
        refused(
            f"{first} and {second}",
            {"keys": {"a": first, "b": second}},
            (
                "[0].keys",
                'an index can use only one kind of "text", "2dsphere", "2d", "hashed" keys, '
                f'got "{first}" and "{second}"',
            ),
        )
        for first, second in [
            ("text", "2dsphere"),
            ("text", "hashed"),
            ("2dsphere", "hashed"),
            ("2d", "2dsphere"),
            ("2d", "hashed"),
        ]
    ),
    refused(
        "two hashed",
        {"keys": {"a": "hashed", "b": "hashed"}},
        ("[0].keys", 'an index can have only one "hashed" key, got 2'),
    ),
    # -- wildcard
    refused(
        "wildcard unique",
        {"type": "wildcard", "keys": {"$**": 1}, "unique": True},
        ("[0].unique", "a wildcard index cannot be unique"),
    ),
    refused(
        "wildcard sparse",
        {"keys": {"a.$**": 1}, "sparse": True},
        ("[0].sparse", "a wildcard index cannot be sparse"),
    ),
    refused(
        "wildcard ttl",
        {"keys": {"$**": 1}, "expireAfterSeconds": 60},
        ("[0].expireAfterSeconds", "a wildcard index cannot expire documents (TTL)"),
    ),
    refused(
        "projection on a path wildcard",
        {"keys": {"a.$**": 1}, "wildcardProjection": {"a.b": 1}},
        (
            "[0].wildcardProjection",
            "'wildcardProjection' needs the keys {\"$**\": 1} and no other key",
        ),
    ),
    refused(
        "projection without wildcard",
        {"keys": {"a": 1}, "wildcardProjection": {"a": 1}},
        (
            "[0].wildcardProjection",
            "'wildcardProjection' needs the keys {\"$**\": 1} and no other key",
        ),
    ),
    refused(
        "two wildcard keys",
        {"keys": {"a.$**": 1, "b.$**": 1}},
        ("[0].keys", "an index can have only one wildcard key, got 2"),
    ),
    # -- sparse and partial
    refused(
        "sparse and partial",
        {"keys": {"a": 1}, "sparse": True, "partialFilterExpression": {"a": {"$gt": 1}}},
        ("[0].sparse", "'sparse' and 'partialFilterExpression' cannot be used together"),
    ),
    # -- partialFilterExpression
    *(
        refused(
            f"partial {operator}",
            {"keys": {"a": 1}, "partialFilterExpression": {"a": {operator: argument}}},
            (
                f'{PARTIAL}.a["{operator}"]',
                f"'{operator}' cannot be used in a partial index filter",
            ),
        )
        for operator, argument in [
            ("$ne", 1),
            ("$nin", [1]),
            ("$regex", "^x"),
            ("$not", {"$gt": 1}),
            ("$elemMatch", {"b": 1}),
            ("$size", 1),
            ("$mod", [2, 0]),
        ]
    ),
    *(
        refused(
            f"partial exists {argument}",
            {"keys": {"a": 1}, "partialFilterExpression": {"a": {"$exists": argument}}},
            (
                f'{PARTIAL}.a["$exists"]',
                f"'$exists': {text} cannot be used in a partial index filter",
            ),
        )
        for argument, text in [(False, "false"), (0, "0"), (None, "null")]
    ),
    *(
        refused(
            f"partial {operator}",
            {"keys": {"a": 1}, "partialFilterExpression": {operator: argument}},
            (f'{PARTIAL}["{operator}"]', f"'{operator}' cannot be used in a partial index filter"),
        )
        for operator, argument in [
            ("$nor", [{"a": 1}]),
            ("$expr", {"$gt": ["$a", 1]}),
            ("$where", "true"),
            ("$text", {"$search": "x"}),
        ]
    ),
    refused(
        "partial nested in or and",
        {
            "keys": {"a": 1},
            "partialFilterExpression": {"$or": [{"a": 1}, {"$and": [{"b": {"$ne": 2}}]}]},
        },
        (
            f'{PARTIAL}["$or"][1]["$and"][0].b["$ne"]',
            "'$ne' cannot be used in a partial index filter",
        ),
    ),
    refused(
        "partial nested too deep",
        {
            "keys": {"a": 1},
            "partialFilterExpression": {
                "$or": [{"$and": [{"b": {"$gte": 1, "$lt": 5}}, {"c": 1}]}, {"d": 1}],
                "e": 1,
            },
        },
        (PARTIAL, "the filter is nested 5 levels deep, more than the 4 MongoDB allows"),
    ),
    refused(
        "partial single-item $or five deep",
        {
            "keys": {"a": 1},
            "partialFilterExpression": {"$or": [{"$or": [{"$or": [{"$or": [{"a": 1}]}]}]}]},
        },
        (PARTIAL, "the filter is nested 5 levels deep, more than the 4 MongoDB allows"),
    ),
    refused(
        "partial and not an array",
        {"keys": {"a": 1}, "partialFilterExpression": {"$and": {"a": 1}}},
        (f'{PARTIAL}["$and"]', "'$and' needs a non-empty array of filters"),
    ),
    refused(
        "partial empty or",
        {"keys": {"a": 1}, "partialFilterExpression": {"$or": []}},
        (f'{PARTIAL}["$or"]', "'$or' needs a non-empty array of filters"),
    ),
    refused(
        "partial in not an array",
        {"keys": {"a": 1}, "partialFilterExpression": {"a": {"$in": 1}}},
        (f'{PARTIAL}.a["$in"]', "'$in' needs an array"),
    ),
    refused(
        "partial field among operators",
        {"keys": {"a": 1}, "partialFilterExpression": {"a": {"$gt": 1, "b": 1}}},
        (f"{PARTIAL}.a.b", "'b' is not an operator, yet the object starts with one"),
    ),
    # -- ttl, collation, name
    refused(
        "ttl too long",
        {"type": "ttl", "keys": {"a": 1}, "expireAfterSeconds": 2147483648},
        ("[0].expireAfterSeconds", "must be at most 2147483647, got 2147483648"),
    ),
    refused(
        "collation without locale",
        {"keys": {"a": 1}, "collation": {"strength": 2}},
        ("[0].collation.locale", "missing required key 'locale'"),
    ),
    refused(
        "empty collation",
        {"keys": {"a": 1}, "collation": {}},
        ("[0].collation.locale", "missing required key 'locale'"),
    ),
    refused(
        "collation locale not a string",
        {"keys": {"a": 1}, "collation": {"locale": 5}},
        ("[0].collation.locale", "'locale' must be a string"),
    ),
    refused(
        "name *",
        {"keys": {"a": 1}, "name": "*"},
        ("[0].name", "'*' is not a valid index name"),
    ),
    refused(
        "name _id_",
        {"keys": {"a": 1}, "name": "_id_"},
        ("[0].name", "'_id_' is reserved for the _id index"),
    ),
    # -- declarations side by side
    refused(
        "same name",
        [{"keys": {"a": 1}, "name": "x"}, {"keys": {"b": 1}, "name": "x"}],
        ("[1].name", "index name 'x' is already used by tasks[0]"),
    ),
    refused(
        "same generated name",
        [{"keys": {"a": 1}}, {"keys": {"a": 1}, "unique": True}],
        ("[1].name", "index name 'a_1' is already used by tasks[0]"),
    ),
    refused(
        "declared twice",
        [{"keys": {"a": 1, "b": -1}}, {"keys": [["a", 1], ["b", -1]]}],
        ("[1].name", "index name 'a_1_b_-1' is already used by tasks[0]"),
    ),
    refused(
        "explicit name equals a generated one",
        [{"keys": {"a": 1}}, {"keys": {"b": 1}, "name": "a_1"}],
        ("[1].name", "index name 'a_1' is already used by tasks[0]"),
    ),
    *(
        refused(
            f"same index, other name, {label}",
            [{"keys": {"a": 1}, "name": "x", **first}, {"keys": {"a": 1}, "name": "y", **second}],
            ("[1].keys", "the same index as tasks[0] under another name"),
        )
        for label, first, second in [
            ("same options", {"unique": True}, {"unique": True}),
            ("hidden differs", {}, {"hidden": True}),
            ("ttl differs", {"expireAfterSeconds": 5}, {"expireAfterSeconds": 6}),
            ("unique false", {}, {"unique": False}),
            (
                "partial filter in another key order",
                {"partialFilterExpression": {"a": {"$gt": 1}, "b": 1}},
                {"partialFilterExpression": {"b": 1, "a": {"$gt": 1}}},
            ),
        ]
    ),
    refused(
        "two text indexes",
        [{"keys": {"title": "text"}}, {"keys": {"body": "text"}}],
        ("[1].keys", "a collection can have only one text index; tasks[0] is one already"),
    ),
]

# The server accepts these, and the manifest refuses them on purpose: each is a mistake that
# MongoDB ignores silently or that it does not promise to accept.
REFUSED_THOUGH_THE_SERVER_ACCEPTS = [
    refused(
        "_id alone: the server does nothing, yet reports the name as created",
        {"keys": {"_id": 1}, "name": "by_id"},
        (
            "[0].keys",
            "the index on '_id' alone always exists: MongoDB creates it with the collection",
        ),
    ),
    refused(
        "default_language without text: stored, never used",
        {"keys": {"a": 1}, "default_language": "french"},
        ("[0].default_language", "'default_language' is only used by text indexes"),
    ),
    refused(
        "language_override without text: stored, never used",
        {"keys": {"a": 1}, "language_override": "lang"},
        ("[0].language_override", "'language_override' is only used by text indexes"),
    ),
    *(
        refused(
            f"partial {operator}: not among the documented partial filter operators",
            {"keys": {"a": 1}, "partialFilterExpression": {"a": {operator: argument}}},
            (
                f'{PARTIAL}.a["{operator}"]',
                f"'{operator}' cannot be used in a partial index filter",
            ),
        )
        for operator, argument in [
            ("$all", [1, 2]),
            ("$geoWithin", {"$centerSphere": [[0, 0], 1]}),
        ]
    ),
    refused(
        "partial $comment: not among the documented partial filter operators",
        {"keys": {"a": 1}, "partialFilterExpression": {"$comment": "why"}},
        (f'{PARTIAL}["$comment"]', "'$comment' cannot be used in a partial index filter"),
    ),
]

ACCEPTED = [
    pytest.param([{"keys": {"_id": 1, "a": 1}}], id="compound _id"),
    pytest.param([{"keys": {"_id": -1, "a": 1}, "hidden": True}], id="compound descending _id"),
    pytest.param([{"keys": {"_id": "hashed"}}], id="hashed _id"),
    pytest.param(
        [{"type": "geospatial", "keys": {"loc": "2dsphere", "a": 1}}], id="2dsphere + regular"
    ),
    pytest.param(
        [{"keys": {"a": 1, "loc": "2dsphere", "b": -1, "area": "2dsphere"}}], id="two 2dsphere"
    ),
    pytest.param([{"keys": {"loc": "2d", "a": 1}}], id="2d first"),
    pytest.param([{"keys": {"a": "hashed", "b": 1}}], id="compound hashed"),
    pytest.param(
        [
            {"keys": {"loc": "2dsphere"}, "collation": {"locale": "fr"}},
            {"keys": {"a": "hashed"}, "collation": {"locale": "en", "strength": 2}},
        ],
        id="collation on 2dsphere and hashed",
    ),
    pytest.param(
        [{"keys": {"a": 1}, "partialFilterExpression": {"a": {"$exists": True}}}],
        id="partial $exists true",
    ),
    pytest.param(
        [
            {
                "keys": {"a": 1},
                "partialFilterExpression": {
                    "$or": [
                        {"a": {"$in": [1, 2]}},
                        {"$and": [{"b": {"$gte": 1}}, {"c": {"$type": "string"}}]},
                    ],
                    "d": {"$eq": 3},
                    "e": {"$gt": 0, "$lte": 9},
                    "f": {"nested": 1},
                    "g": None,
                },
            }
        ],
        id="partial with every allowed form",
    ),
    pytest.param(
        [
            {
                "keys": {"a": 1},
                "partialFilterExpression": {
                    "$or": [{"$and": [{"b": {"$gte": 1, "$lt": 5}}, {"c": 1}]}, {"d": 1}]
                },
            },
            {
                "keys": {"b": 1},
                "partialFilterExpression": {"$or": [{"$or": [{"$or": [{"a": 1}]}]}]},
            },
        ],
        id="partial nested four deep",
    ),
    pytest.param(
        [{"keys": {"a": 1}, "sparse": False, "partialFilterExpression": {"a": 1}}],
        id="sparse false with partial",
    ),
    pytest.param([{"type": "text", "keys": {"title": "text"}, "unique": True}], id="text unique"),
    pytest.param(
        [
            {
                "keys": {"owner": 1, "title": "text", "body": "text", "year": -1},
                "weights": {"title": 99999, "body": 1},
                "default_language": "EN",
                "language_override": "lang",
            }
        ],
        id="text with prefix, suffix and options",
    ),
    pytest.param([{"keys": {"$**": "text"}, "default_language": "none"}], id="wildcard text"),
    pytest.param(
        [{"type": "ttl", "keys": {"expires": -1}, "expireAfterSeconds": 2147483647}],
        id="ttl on a descending key, longest",
    ),
    pytest.param([{"type": "wildcard", "keys": {"a.$**": 1}}], id="path wildcard"),
    pytest.param(
        [
            {
                "keys": {"$**": 1},
                "wildcardProjection": {"a": 0},
                "unique": False,
                "sparse": False,
                "hidden": True,
                "collation": {"locale": "en"},
                "partialFilterExpression": {"b": {"$exists": True}},
            }
        ],
        id="wildcard with projection and options",
    ),
    pytest.param(
        [
            {"keys": {"a": 1}, "name": "plain"},
            {"keys": {"a": 1}, "name": "unique", "unique": True},
            {"keys": {"a": 1}, "name": "sparse", "sparse": True},
            {"keys": {"a": 1}, "name": "french", "collation": {"locale": "fr"}},
            {"keys": {"a": 1}, "name": "partial", "partialFilterExpression": {"a": {"$gt": 1}}},
            {"keys": {"a": -1}},
        ],
        id="same keys, options that tell indexes apart",
    ),
]


def _refused_cases() -> list[pytest.ParameterSet]:
    return REFUSED_BY_THE_SERVER_TOO + REFUSED_THOUGH_THE_SERVER_ACCEPTS


# -- the manifest -----------------------------------------------------------------------------


@pytest.mark.parametrize(("specs", "expected"), _refused_cases())
def test_refused_declarations_are_reported_at_their_path(
    specs: list[Spec], expected: tuple[tuple[str, str], ...]
) -> None:
    problems = problems_of(specs)

    found = [
        (problem.path.removeprefix("$.managed_indexes.tasks"), problem.message)
        for problem in problems
    ]
    assert found == list(expected)
    for problem in problems:
        assert problem.hint or problem.message in _BOUND_MESSAGES, problem


@pytest.mark.parametrize("specs", ACCEPTED)
def test_accepted_declarations_validate(specs: list[Spec]) -> None:
    parse_manifest(manifest(specs))


@pytest.mark.parametrize(
    "keys",
    [{"$**": 1, "a": 1}, {"a": 1, "b.$**": 1}, {"a": -1, "$**": 1, "b": 1}],
    ids=["wildcard first", "path wildcard last", "wildcard inside"],
)
def test_compound_wildcard_indexes_are_accepted(keys: dict[str, int]) -> None:
    """MongoDB 7.0 creates them (6.0 does not, so they are not checked against the server)."""
    parse_manifest(manifest([{"type": "wildcard", "keys": keys}]))


def test_every_broken_rule_of_one_declaration_is_reported() -> None:
    problems = problems_of(
        [
            {
                "keys": {"$**": 1},
                "unique": True,
                "sparse": True,
                "partialFilterExpression": {"a": {"$ne": 1}},
            }
        ]
    )

    assert [problem.path for problem in problems] == [
        "$.managed_indexes.tasks[0].unique",
        "$.managed_indexes.tasks[0].sparse",
        "$.managed_indexes.tasks[0].sparse",
        '$.managed_indexes.tasks[0].partialFilterExpression.a["$ne"]',
    ]


def test_hints_say_how_to_fix() -> None:
    language = problems_of([{"keys": {"a": "text"}, "default_language": "englsh"}])[0]
    two_d = problems_of([{"keys": {"a": 1, "loc": "2d"}}])[0]
    apart = problems_of([{"keys": {"a": "text", "b": 1, "c": "text"}}])[0]
    partial = problems_of([{"keys": {"a": 1}, "partialFilterExpression": {"a": {"$ne": 1}}}])[0]

    assert language.hint == "did you mean 'english'?"
    assert two_d.hint == "move 'loc' to the front"
    assert apart.hint == "list 'a', 'c' one after another"
    assert partial.hint is not None
    assert "$exists: true" in partial.hint
    assert "$in" in partial.hint


def test_a_second_unnamed_search_index_collides_on_default() -> None:
    search = {"type": "search", "definition": {"mappings": {"dynamic": True}}}

    problems = problems_of([search, {**search}])

    assert [(problem.path, problem.message) for problem in problems] == [
        ("$.managed_indexes.tasks[1].name", "index name 'default' is already used by tasks[0]")
    ]
    assert problems[0].hint == "a Search index without 'name' is named 'default'; set 'name'"


def test_search_and_regular_index_names_do_not_collide() -> None:
    parse_manifest(
        manifest(
            [
                {"type": "search", "definition": {"mappings": {"dynamic": True}}},
                {"keys": {"a": 1}, "name": "default"},
            ]
        )
    )


def test_indexes_in_different_collections_do_not_conflict() -> None:
    data = manifest([{"keys": {"a": 1}}, {"keys": {"t": "text"}}])
    data["managed_indexes"]["other"] = [{"keys": {"a": 1}}, {"keys": {"u": "text"}}]

    parse_manifest(data)


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ({"keys": {"a": 1}, "name": "mine"}, "mine"),
        ({"keys": {"status": 1, "created_at": -1}}, "status_1_created_at_-1"),
        ({"type": "text", "keys": {"title": "text"}}, "title_text"),
        ({"keys": {"a.$**": 1}}, "a.$**_1"),
        ({"type": "search", "definition": {}}, "default"),
        ({"type": "vectorSearch", "definition": {}, "name": "vectors"}, "vectors"),
    ],
)
def test_resolved_name(spec: Spec, name: str) -> None:
    assert IndexSpec.model_validate(spec).resolved_name == name


def test_resolved_name_of_an_unvalidated_spec_without_keys() -> None:
    with pytest.raises(ValueError, match="no generated name"):
        _ = IndexSpec.model_construct(keys=None).resolved_name


# -- the server -------------------------------------------------------------------------------


@pytest.mark.parametrize(("specs", "expected"), REFUSED_BY_THE_SERVER_TOO)
async def test_the_server_refuses_what_the_manifest_refuses(
    mongo_client: RawClient,
    mongodb_database: str,
    specs: list[Spec],
    expected: tuple[tuple[str, str], ...],
) -> None:
    collection = mongo_client[mongodb_database]["c"]

    with pytest.raises(OperationFailure):
        await collection.create_indexes([index_model(spec) for spec in specs])


@pytest.mark.parametrize(("specs", "expected"), REFUSED_THOUGH_THE_SERVER_ACCEPTS)
async def test_the_stricter_rules_refuse_what_the_server_accepts(
    mongo_client: RawClient,
    mongodb_database: str,
    specs: list[Spec],
    expected: tuple[tuple[str, str], ...],
) -> None:
    collection = mongo_client[mongodb_database]["c"]

    await collection.create_indexes([index_model(spec) for spec in specs])


async def test_the_server_ignores_an_index_on_id_alone(
    mongo_client: RawClient, mongodb_database: str
) -> None:
    collection = mongo_client[mongodb_database]["c"]

    assert await collection.create_indexes([IndexModel([("_id", 1)], name="by_id")]) == ["by_id"]
    assert list(await collection.index_information()) == ["_id_"]


@pytest.mark.parametrize("specs", ACCEPTED)
async def test_the_server_creates_what_the_manifest_accepts(
    mongo_client: RawClient, mongodb_database: str, specs: list[Spec]
) -> None:
    declared = parse_manifest(manifest(specs)).managed_indexes["tasks"]
    collection = mongo_client[mongodb_database]["c"]

    names = await collection.create_indexes([index_model(spec) for spec in specs])

    assert names == [spec.resolved_name for spec in declared]
    assert set(names) <= set(await collection.index_information())
