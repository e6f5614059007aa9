"""Validation errors: every problem is reported, at its JSON path, with a useful hint."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from mdb_engine.core.manifest import check_manifest, load_manifest_file, parse_manifest
from mdb_engine.errors import ManifestError, ManifestProblem


def valid(**changes: Any) -> dict[str, Any]:
    return {"schema_version": "2.0", "slug": "my_app", "name": "My App", **changes}


def problems_of(data: Any) -> list[ManifestProblem]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data)
    return caught.value.problems


def only_problem(data: Any) -> ManifestProblem:
    problems = problems_of(data)
    assert len(problems) == 1, problems
    return problems[0]


def index_problem(spec: dict[str, Any]) -> ManifestProblem:
    return only_problem(valid(managed_indexes={"tasks": [{"keys": {"a": 1}}, spec]}))


# -- unknown keys ---------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_close_one() -> None:
    problem = only_problem(valid(managed_index={"tasks": []}))

    assert problem == ManifestProblem(
        "$.managed_index", "unknown key 'managed_index'", "did you mean 'managed_indexes'?"
    )


def test_a_misspelt_schema_key_suggests_the_right_one() -> None:
    problem = only_problem(valid(**{"$shema": "./manifest.schema.json"}))

    assert problem == ManifestProblem(
        '$["$shema"]', "unknown key '$shema'", "did you mean '$schema'?"
    )


def test_unknown_nested_key_suggests_from_the_keys_allowed_there() -> None:
    problem = only_problem(valid(auth={"policy": {"provder": "casbin"}}))

    assert problem == ManifestProblem(
        "$.auth.policy.provder", "unknown key 'provder'", "did you mean 'provider'?"
    )


def test_unknown_key_in_an_index_spec() -> None:
    problem = index_problem({"keys": {"a": 1}, "uniqe": True})

    assert problem.path == "$.managed_indexes.tasks[1].uniqe"
    assert problem.hint == "did you mean 'unique'?"


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    problem = only_problem(valid(websockets={"live": {"path": "/ws", "zzz": 1}}))

    assert problem.path == "$.websockets.live.zzz"
    assert problem.hint == "allowed keys: 'auth', 'description', 'path', 'ping_interval'"


# -- wrong types and missing keys -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        (
            valid(auth={"policy": {"required": "yes"}}),
            "$.auth.policy.required",
            'expected a boolean, got "yes"',
        ),
        (valid(name=3), "$.name", "expected a string, got 3"),
        (valid(cors={"max_age": "600"}), "$.cors.max_age", 'expected an integer, got "600"'),
        (valid(cors={"allow_origins": "*"}), "$.cors.allow_origins", 'expected an array, got "*"'),
        (valid(auth=[]), "$.auth", "expected an object, got an array"),
        (
            valid(managed_indexes={"tasks": {}}),
            "$.managed_indexes.tasks",
            "expected an array, got an object",
        ),
        (
            valid(websockets={"live": {"path": "/ws", "ping_interval": "20"}}),
            "$.websockets.live.ping_interval",
            'expected a number, got "20"',
        ),
        (valid(initial_data={"t": [1]}), "$.initial_data.t[0]", "expected an object, got 1"),
        (
            valid(status="actve"),
            "$.status",
            'expected one of "active", "draft", "inactive", "archived", got "actve"',
        ),
        (valid(schema_version=2), "$.schema_version", 'expected "2.0", got 2'),
        (valid(cors={"max_age": -1}), "$.cors.max_age", "must be at least 0, got -1"),
        (valid(name=""), "$.name", "must not be empty"),
    ],
)
def test_wrong_types_say_what_was_expected_and_given(data: Any, path: str, message: str) -> None:
    problem = only_problem(data)

    assert (problem.path, problem.message) == (path, message)


def test_a_close_enum_value_is_suggested() -> None:
    problem = index_problem({"type": "vectorsearch", "definition": {}})

    assert problem.path == "$.managed_indexes.tasks[1].type"
    assert problem.hint == 'did you mean "vectorSearch"?'


def test_missing_required_keys() -> None:
    problems = problems_of({"schema_version": "2.0"})

    assert [(problem.path, problem.message) for problem in problems] == [
        ("$.slug", "missing required key 'slug'"),
        ("$.name", "missing required key 'name'"),
    ]


def test_missing_key_in_a_nested_model() -> None:
    problem = only_problem(valid(websockets={"live": {}}))

    assert (problem.path, problem.message) == (
        "$.websockets.live.path",
        "missing required key 'path'",
    )


def test_demo_user_needs_an_email_and_a_password() -> None:
    problems = problems_of(
        valid(auth={"users": {"demo_users": [{"email": "bob", "password": ""}]}})
    )

    assert [(problem.path, problem.message) for problem in problems] == [
        ("$.auth.users.demo_users[0].email", 'expected an email address, got "bob"'),
        ("$.auth.users.demo_users[0].password", "must not be empty"),
    ]


def test_policy_rules_have_three_parts() -> None:
    problems = problems_of(
        valid(
            auth={"policy": {"authorization": {"initial_policies": [["a", "b"], ["a", "", "c"]]}}}
        )
    )

    prefix = "$.auth.policy.authorization.initial_policies"
    assert [(problem.path, problem.message) for problem in problems] == [
        (f"{prefix}[0]", "a policy rule is [subject, resource, action], got 2 items"),
        (f"{prefix}[1][1]", "must not be empty"),
    ]


def test_unknown_authorization_model() -> None:
    problem = only_problem(valid(auth={"policy": {"authorization": {"model": "abac"}}}))

    assert problem.path == "$.auth.policy.authorization.model"
    assert problem.hint is not None
    assert ".conf" in problem.hint


# -- "$schema" -------------------------------------------------------------------------------


def test_a_schema_key_naming_the_json_schema_is_valid() -> None:
    assert check_manifest(valid(**{"$schema": "./manifest.schema.json"})) == (True, [])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (3, "expected a string, got 3"),
        (True, "expected a string, got true"),
        ({"url": "./manifest.schema.json"}, "expected a string, got an object"),
        (["./manifest.schema.json"], "expected a string, got an array"),
        (None, "expected a string, got null"),
    ],
)
def test_a_schema_key_that_is_not_a_string_is_a_problem_at_its_path(
    value: Any, message: str
) -> None:
    problem = only_problem(valid(**{"$schema": value}))

    assert (problem.path, problem.message) == ('$["$schema"]', message)


def test_a_bad_schema_key_is_reported_with_the_other_problems() -> None:
    problems = problems_of(valid(**{"$schema": 3}, status="actve"))

    assert [problem.path for problem in problems] == ['$["$schema"]', "$.status"]


def test_the_schema_key_has_no_other_spelling() -> None:
    problem = only_problem(valid(schema_reference="./manifest.schema.json"))

    assert (problem.path, problem.message) == (
        "$.schema_reference",
        "unknown key 'schema_reference'",
    )


# -- slugs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "suggestion"),
    [("My_App", "my_app"), ("a", "a_app"), ("1app", "app_1app"), ("my app", "my_app")],
)
def test_bad_slug_shows_the_rule_and_a_fix(slug: str, suggestion: str) -> None:
    problem = only_problem(valid(slug=slug))

    assert problem.path == "$.slug"
    assert problem.message == f'invalid slug "{slug}"'
    assert problem.hint is not None
    assert "lowercase letter" in problem.hint
    assert problem.hint.endswith(f'e.g. "{suggestion}"')


def test_read_scopes_must_be_slugs_of_other_apps() -> None:
    problems = problems_of(valid(data_access={"read_scopes": ["Other", "my_app"]}))

    assert [problem.path for problem in problems] == ["$.data_access.read_scopes[0]"]
    problem = only_problem(valid(data_access={"read_scopes": ["other", "my_app"]}))
    assert problem.path == "$.data_access.read_scopes[1]"
    assert problem.message == "an app does not need a read scope for itself"


# -- index specs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"keys": {}}, "keys", "an index needs at least one key"),
        ({"name": "x"}, "keys", "missing required key 'keys'"),
        (
            {"keys": {"a": 2}},
            "keys.a",
            'expected one of 1, -1, "text", "2dsphere", "2d", "hashed", got 2',
        ),
        (
            {"keys": {"a": True}},
            "keys.a",
            'expected one of 1, -1, "text", "2dsphere", "2d", "hashed", got true',
        ),
        (
            {"type": "btree", "keys": {"a": 1}},
            "type",
            'expected one of "regular", "text", "geospatial", "ttl", "partial", "hashed", '
            '"wildcard", "vectorSearch", "search", got "btree"',
        ),
        (
            {"type": "ttl", "keys": {"a": 1, "b": 1}, "expireAfterSeconds": 60},
            "keys",
            "a 'ttl' index has exactly one key, got 2",
        ),
        (
            {"type": "ttl", "keys": {"a": 1}},
            "expireAfterSeconds",
            "missing required key 'expireAfterSeconds' (a 'ttl' index needs it)",
        ),
        (
            {"keys": {"a": 1, "b": 1}, "expireAfterSeconds": 60},
            "expireAfterSeconds",
            "'expireAfterSeconds' cannot be used on a compound index",
        ),
        (
            {"type": "partial", "keys": {"a": 1}},
            "partialFilterExpression",
            "missing required key 'partialFilterExpression' (a 'partial' index needs it)",
        ),
        (
            {"type": "vectorSearch"},
            "definition",
            "missing required key 'definition' (a 'vectorSearch' index needs it)",
        ),
        (
            {"type": "search", "definition": {}, "keys": {"a": 1}},
            "keys",
            "'keys' is not used by 'search' indexes",
        ),
        ({"type": "text", "keys": {"a": 1}}, "keys", "a 'text' index needs a \"text\" key"),
        (
            {"type": "hashed", "keys": {"a": "hashed", "b": "hashed"}},
            "keys",
            "a 'hashed' index has exactly one \"hashed\" key, got 2",
        ),
        ({"keys": {"a": "hashed"}, "unique": True}, "unique", "a hashed index cannot be unique"),
        ({"keys": [["a", 1], ["a", -1]]}, "keys[1]", "field 'a' appears twice"),
        ({"keys": [["a", 1], "b"]}, "keys[1]", "expected a [field, direction] pair"),
        (
            {"keys": {"a": 1}, "expireAfterSeconds": -5},
            "expireAfterSeconds",
            "must be at least 0, got -5",
        ),
    ],
)
def test_bad_index_specs(spec: dict[str, Any], path: str, message: str) -> None:
    problem = index_problem(spec)

    assert (problem.path, problem.message) == (f"$.managed_indexes.tasks[1].{path}", message)


def test_ttl_index_without_expiry_and_with_two_keys_reports_both() -> None:
    problems = problems_of(
        valid(managed_indexes={"t": [{"type": "ttl", "keys": {"a": 1, "b": 1}}]})
    )

    assert sorted(problem.path for problem in problems) == [
        "$.managed_indexes.t[0].expireAfterSeconds",
        "$.managed_indexes.t[0].keys",
    ]


# -- collection names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path", "reason"),
    [
        ("_private", "$.managed_indexes._private", "must not start with '_'"),
        ("_mdb_engine_apps", "$.managed_indexes._mdb_engine_apps", "reserved for the engine"),
        ("system.users", '$.managed_indexes["system.users"]', "reserved by MongoDB"),
        ("a$b", '$.managed_indexes["a$b"]', "must not contain '$'"),
        ("a\x00b", '$.managed_indexes["a\\u0000b"]', "must not contain a NUL character"),
        ("", '$.managed_indexes[""]', "must not be empty"),
    ],
)
def test_bad_collection_names_are_reported_at_the_key(name: str, path: str, reason: str) -> None:
    problem = only_problem(valid(managed_indexes={name: []}))

    assert problem.path == path
    assert problem.message.startswith(f"invalid collection name {name!r}")
    assert reason in problem.message


def test_collection_names_are_checked_everywhere() -> None:
    problems = problems_of(
        valid(
            initial_data={"$bad": []},
            collection_settings={"system.x": {}},
            data_access={"shared_collections": ["_x"]},
            auth={"users": {"collection": "_users"}},
            memory_config={"collection": "a$"},
        )
    )

    assert [problem.path for problem in problems] == [
        "$.auth.users.collection",
        '$.collection_settings["system.x"]',
        '$.initial_data["$bad"]',
        "$.data_access.shared_collections[0]",
        "$.memory_config.collection",
    ]


# -- collection settings, embeddings --------------------------------------------------------


def test_capped_collection_rules() -> None:
    problems = problems_of(
        valid(
            collection_settings={
                "a": {"capped": True, "timeseries": {"timeField": "t"}},
                "b": {"max": 10},
            }
        )
    )

    prefix = "$.collection_settings"
    assert [(problem.path, problem.message) for problem in problems] == [
        (f"{prefix}.a.size", "missing required key 'size' (a capped collection needs it)"),
        (f"{prefix}.a.timeseries", "a collection cannot be both capped and time-series"),
        (f"{prefix}.b.max", "'max' is only used by capped collections"),
    ]


def test_chunk_overlap_must_be_smaller_than_the_chunk() -> None:
    problem = only_problem(
        valid(embedding_config={"max_tokens_per_chunk": 100, "chunk_overlap": 100})
    )

    assert problem.path == "$.embedding_config.chunk_overlap"


# -- websockets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason", "hint"),
    [
        ("ws", "must start with '/'", 'use "/ws"'),
        ("/my ws", "must not contain whitespace", 'use "/my-ws"'),
        ("/ws?token=1", "must not contain a query string or fragment", 'use "/ws"'),
        ("/ws#top", "must not contain a query string or fragment", 'use "/ws"'),
        ("/ws/../admin", "must not contain a '..' segment", None),
        (
            "/ws/ñ",
            "not URL-safe",
            "use letters, digits, '-', '.', '_', '~' and '/', and {name} for a path parameter",
        ),
        (
            "/ws/{room",
            "not URL-safe",
            "use letters, digits, '-', '.', '_', '~' and '/', and {name} for a path parameter",
        ),
    ],
)
def test_bad_websocket_paths(path: str, reason: str, hint: str | None) -> None:
    problem = only_problem(valid(websockets={"realtime": {"path": path}}))

    assert problem.path == "$.websockets.realtime.path"
    assert reason in problem.message
    assert problem.hint == hint


def test_duplicate_websocket_paths() -> None:
    problems = problems_of(
        valid(websockets={"a": {"path": "/ws"}, "b": {"path": "/other"}, "c": {"path": "/ws"}})
    )

    assert problems == [
        ManifestProblem(
            "$.websockets.c.path",
            "path '/ws' is already used by endpoint 'a'",
            "give each endpoint its own path",
        )
    ]


def test_websocket_names_that_are_not_identifiers_are_bracketed() -> None:
    problem = only_problem(valid(websockets={"live-feed": {"path": "ws"}}))

    assert problem.path == '$.websockets["live-feed"].path'


def test_observability_paths_are_checked() -> None:
    problem = only_problem(valid(observability={"health": {"ready_path": "ready"}}))

    assert problem.path == "$.observability.health.ready_path"


# -- many problems at once ------------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    data = {
        "schema_version": "2.0",
        "slug": "My App",
        "name": "",
        "managed_index": {},
        "auth": {"policy": {"provder": "casbin", "required": "yes"}},
        "managed_indexes": {"tasks": [{"keys": {}}, {"type": "ttl", "keys": {"a": 1}}]},
        "websockets": {"live": {"path": "ws"}},
    }

    with pytest.raises(ManifestError) as caught:
        parse_manifest(data, source="apps/demo/manifest.json")

    paths = [problem.path for problem in caught.value.problems]
    assert paths == [
        "$.slug",
        "$.name",
        "$.auth.policy.required",
        "$.auth.policy.provder",
        "$.managed_indexes.tasks[0].keys",
        "$.managed_indexes.tasks[1].expireAfterSeconds",
        "$.websockets.live.path",
        "$.managed_index",
    ]
    text = str(caught.value)
    assert text.startswith("invalid manifest in apps/demo/manifest.json: 8 problems")
    assert all(path in text for path in paths)
    assert caught.value.source == "apps/demo/manifest.json"


# -- not a manifest at all ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "given"),
    [([1, 2], "an array"), ("manifest.json", '"manifest.json"'), (None, "null"), (3, "3")],
)
def test_non_dict_input_is_a_problem_at_the_root(data: Any, given: str) -> None:
    problem = only_problem(data)

    assert (problem.path, problem.message) == ("$", f"expected an object, got {given}")


def test_non_string_keys_are_reported() -> None:
    problems = problems_of({**valid(), 1: 2})

    assert [(problem.path, problem.message) for problem in problems] == [
        ("$", "keys must be strings, got 1")
    ]


def test_any_mapping_is_accepted() -> None:
    data = types.MappingProxyType(
        valid(auth=types.MappingProxyType({}), managed_indexes={"t": ({"keys": (("a", 1),)},)})
    )

    assert parse_manifest(data).managed_indexes["t"][0].keys == {"a": 1}


# -- check_manifest -------------------------------------------------------------------------


def test_check_manifest_accepts_a_valid_manifest() -> None:
    assert check_manifest(valid()) == (True, [])


def test_check_manifest_returns_the_problems_as_text() -> None:
    ok, problems = check_manifest(valid(managed_index={}))

    assert ok is False
    assert problems == [
        "$.managed_index: unknown key 'managed_index' (did you mean 'managed_indexes'?)"
    ]


def test_check_manifest_does_not_warn_for_1_0_manifests() -> None:
    assert check_manifest({"slug": "my_app", "name": "x", "auth_required": True}) == (True, [])


def _cyclic() -> dict[str, Any]:
    data: dict[str, Any] = valid()
    data["self"] = data
    return data


@pytest.mark.parametrize(
    "data",
    [
        None,
        "text",
        b"bytes",
        42,
        [],
        object(),
        {},
        {1: 2},
        {"slug": object(), "name": b"x"},
        {"schema_version": None},
        {"schema_version": "3.0", "slug": "ab", "name": "x"},
        {"slug": "ab", "name": "x", "auth_policy": "casbin", "sub_auth": 1, "auth_required": None},
        {"slug": "ab", "name": "x", "auth": "yes", "auth_required": True},
        {"slug": "ab", "name": "x", "managed_indexes": {"t": [{"keys": [[1, 2, 3]]}]}},
        _cyclic(),
    ],
)
def test_check_manifest_never_raises(data: Any) -> None:
    ok, problems = check_manifest(data)

    assert ok is False
    assert problems
    assert all(isinstance(problem, str) and problem.startswith("$") for problem in problems)


# -- load_manifest_file ---------------------------------------------------------------------


def test_load_manifest_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"schema_version": "2.0", "slug": "my_app", "name": "A"}', encoding="utf-8")

    assert load_manifest_file(path).slug == "my_app"
    assert load_manifest_file(str(path)).slug == "my_app"


def test_load_manifest_file_reports_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"

    with pytest.raises(ManifestError) as caught:
        load_manifest_file(path)

    (problem,) = caught.value.problems
    assert problem.path == "$"
    assert "does not exist" in problem.message
    assert caught.value.source == str(path)


def test_load_manifest_file_reports_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest_file(tmp_path)

    assert "is a directory" in caught.value.problems[0].message


def test_load_manifest_file_reports_invalid_json_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{\n  "slug": "my_app",\n  "name": "A",\n}\n', encoding="utf-8")

    with pytest.raises(ManifestError) as caught:
        load_manifest_file(path)

    (problem,) = caught.value.problems
    assert problem.path == "$"
    assert problem.message.startswith("invalid JSON at line 4, column 1:")
    assert problem.hint == "JSON allows no trailing commas, comments or single quotes"


def test_load_manifest_file_reports_problems_with_the_file_as_source(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"schema_version": "2.0", "slug": "A", "name": "A"}', encoding="utf-8")

    with pytest.raises(ManifestError) as caught:
        load_manifest_file(path)

    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)
    assert caught.value.problems[0].path == "$.slug"


def test_load_manifest_file_reads_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(b'\xef\xbb\xbf{"schema_version": "2.0", "slug": "ab", "name": "A"}')

    assert load_manifest_file(path).slug == "ab"


def test_load_manifest_file_reports_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(b'{"name": "\xff"}')

    with pytest.raises(ManifestError) as caught:
        load_manifest_file(path)

    assert "not UTF-8" in caught.value.problems[0].message
