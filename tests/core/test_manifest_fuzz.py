"""Fuzzing the manifest: whatever is given, the answer is a manifest or a ManifestError.

Hypothesis feeds every way in (``parse_manifest`` and ``check_manifest`` on a dict,
``load_manifest_file`` and ``engine.load_manifest`` on a file, ``mdb-engine validate`` on a file,
``engine.register_app``) with arbitrary JSON values and with near-valid manifests: a valid 2.0 or
1.0 manifest with keys removed, renamed to look-alikes, or given values of the wrong type, huge
strings and numbers, deep nesting, odd unicode, NaN and infinities. The only acceptable outcomes
are a valid manifest or a :class:`ManifestError` whose every problem has a JSON path and a short
message; any other exception (``RecursionError``, ``TypeError``, ``ValueError``…) is a bug, and an
invalid manifest given to ``register_app`` leaves the registry as it was.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient
from typer.testing import CliRunner

from mdb_engine import MongoDBEngine
from mdb_engine.cli.app import app as cli_app
from mdb_engine.core.manifest import AppManifest, check_manifest, load_manifest_file, parse_manifest
from mdb_engine.core.registry_store import REGISTRY_COLLECTION
from mdb_engine.errors import ManifestError

Doc = dict[str, Any]
Strategy = st.SearchStrategy
Location = tuple[str | int, ...]

# A problem names a place and says what is wrong there in a line or two: never an echo of a
# megabyte of input.
MAX_PROBLEM_LENGTH = 1_000
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}

BASE_2_0: Doc = {
    "schema_version": "2.0",
    "slug": "fuzz_app",
    "name": "Fuzz App",
    "description": "every section of the manifest, valid",
    "status": "active",
    "version": "1.2.3",
    "auth": {
        "policy": {
            "provider": "casbin",
            "required": True,
            "allow_anonymous": False,
            "authorization": {
                "model": "rbac",
                "initial_policies": [["writer", "notes", "write"]],
                "initial_roles": [{"user": "boss@example.com", "role": "writer"}],
                "link_users_roles": True,
                "default_roles": ["writer"],
            },
        },
        "users": {
            "enabled": True,
            "strategy": "app_users",
            "allow_registration": True,
            "demo_users": [{"email": "demo@example.com", "password": "demo-password"}],
        },
    },
    "managed_indexes": {
        "notes": [
            {"type": "regular", "keys": {"owner": 1, "created_at": -1}, "name": "owner_newest"},
            {
                "keys": {"sku": 1},
                "name": "sku_unique",
                "unique": True,
                "partialFilterExpression": {"sku": {"$exists": True}},
            },
        ],
        "places": [{"type": "regular", "keys": {"where": "2dsphere"}, "name": "where_geo"}],
    },
    "collection_settings": {
        "notes": {"validator": {"$jsonSchema": {"required": ["owner"]}}},
    },
    "initial_data": {"notes": [{"owner": "seed", "text": "hello", "n": 1}]},
    "websockets": {"events": {"path": "/events", "auth": {"required": True}}},
    "data_access": {"allow_read_by": ["other_app"], "shared_collections": ["notes"]},
    "cors": {"enabled": True, "allow_origins": ["https://example.com"]},
    "observability": {"enabled": True},
    "embedding_config": {"provider": "local", "max_tokens_per_chunk": 254, "chunk_overlap": 0},
    "memory_config": {"provider": "builtin", "collection": "memories"},
}
BASE_1_0: Doc = {
    "slug": "legacy_app",
    "name": "Legacy App",
    "auth_required": True,
    "auth_policy": {
        "provider": "casbin",
        "allowed_roles": ["user", "admin"],
        "model": "rbac",
        "policies": [["admin", "tasks", "write"]],
    },
    "sub_auth": {
        "enabled": True,
        "strategy": "app_users",
        "allow_registration": False,
        "demo_users": [{"email": "demo@example.com", "password": "demo"}],
    },
    "managed_indexes": {"tasks": [{"keys": {"priority": -1}, "name": "priority_idx"}]},
}
BASES = (BASE_2_0, BASE_1_0)


class Nested(dict[str, Any]):
    """A deeply nested object that Hypothesis can print (its own printer recurses)."""

    def __repr__(self) -> str:
        return f"Nested(depth={self.depth})"

    depth = 0


def nested(depth: int, leaf: Any = 1, *, as_list: bool = False) -> Any:
    """``leaf`` inside ``depth`` objects (or arrays), the outermost always an object."""
    value = leaf
    for _ in range(depth - 1):
        value = [value] if as_list else {"a": value}
    outer = Nested(a=value)
    outer.depth = depth
    return outer


class LongText(str):
    """A long string that Hypothesis shows by its length (it prints every example it runs)."""

    def __repr__(self) -> str:
        return f"LongText(length={len(self)})"


class LongArray(list[Any]):
    """A long array, shown by its length."""

    def __repr__(self) -> str:
        return f"LongArray(length={len(self)})"


class LongObject(dict[str, Any]):
    """An object with many keys, shown by their number."""

    def __repr__(self) -> str:
        return f"LongObject(keys={len(self)})"


class HugeInt(int):
    """An integer with more digits than ``str(int)`` allows by default (4,300); shown as the
    power it is, so that Hypothesis can print an example that holds one."""

    def __repr__(self) -> str:
        return "HugeInt(10**5_000)"


# -- values ----------------------------------------------------------------------------------

JSON_SCALARS: Strategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
JSON_VALUES: Strategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)
ODD_TEXT: Strategy[str] = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=20),  # surrogates too
    st.sampled_from(["", " ", "\x00", "\u202e", "💥" * 50, "\ufeff", "$where", "a.b", "$"]),
)
HUGE_VALUES: Strategy[Any] = st.one_of(
    st.sampled_from(
        [
            10**400,
            -(10**400),
            HugeInt(10**5_000),
            float("nan"),
            float("inf"),
            float("-inf"),
            1e308,
            -0.0,
        ]
    ),
    # Built for each example (a mutation may change a container in place; and Hypothesis
    # would print a huge constant in its description of the strategy).
    st.builds(lambda: LongText("x" * 200_000)),
    st.builds(lambda: LongArray(["x"] * 20_000)),
    st.builds(lambda: LongObject({f"k{i}": i for i in range(5_000)})),
)
DEEP_VALUES: Strategy[Any] = st.builds(
    nested,
    st.sampled_from([50, 101, 300, 1_000, 5_000, 20_000]),
    st.sampled_from([1, "x", None]),
    as_list=st.booleans(),
)
# Values no JSON document holds, for the dict entry points.
ODD_VALUES: Strategy[Any] = st.one_of(
    st.sampled_from(
        [
            b"bytes",
            frozenset({1, 2}),
            (1, "a"),
            datetime.datetime(2024, 1, 1),
            decimal.Decimal("1.5"),
            complex(1, 2),
            range(3),
        ]
    ),
    st.builds(object),
    st.builds(lambda: {1: "int key"}),
    st.builds(lambda: {("tuple", "key"): 1}),
    st.builds(lambda: {None: 1}),
    st.builds(lambda: {1, 2}),
)
JUNK: Strategy[Any] = st.one_of(
    JSON_VALUES, JSON_VALUES, ODD_TEXT, HUGE_VALUES, DEEP_VALUES, ODD_VALUES
)

# -- near-valid manifests ---------------------------------------------------------------------


def locations(value: Any) -> list[Location]:
    """The keys and list positions of ``value`` down to a few levels, outermost first; the
    inside of large or deep values put there by an earlier change is left alone."""
    found: list[Location] = []
    pending: list[tuple[Location, Any]] = [((), value)]
    while pending:
        here, item = pending.pop(0)
        if len(here) >= 6 or not isinstance(item, (dict, list)) or len(item) > 20:
            continue
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in pairs:
            found.append((*here, key))
            pending.append(((*here, key), child))
    return found


def look_alike(key: str) -> Strategy[str]:
    """Keys a careless author might write for ``key``."""
    return st.sampled_from(
        [
            key.upper(),
            key.title(),
            f" {key}",
            f"{key} ",
            key.replace("_", "-"),
            key.replace("_", ""),
            key[:-1],
            key + "s",
            key[::-1],
            f"${key}",
            f"{key}\u200b",  # a zero-width space
            key.replace("e", "е"),  # a Cyrillic e
        ]
    )


def _container_and_key(manifest: Doc, location: Location) -> tuple[Any, str | int]:
    container: Any = manifest
    for part in location[:-1]:
        container = container[part]
    return container, location[-1]


@st.composite
def mutated(draw: st.DrawFn, base: Doc) -> Doc:
    """``base`` with one to three random changes at random places."""
    manifest = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        places = locations(manifest)
        if not places:
            break
        container, key = _container_and_key(manifest, draw(st.sampled_from(places)))
        change = draw(
            st.sampled_from(["remove", "replace", "replace", "rename", "add", "wrap", "stringify"])
        )
        if change == "remove":
            del container[key]
        elif change == "replace":
            container[key] = draw(JUNK)
        elif change == "wrap":
            container[key] = [container[key]]
        elif change == "stringify":
            container[key] = json_text(container[key]) or repr(container[key])[:1_000]
        elif change == "rename" and isinstance(key, str):
            container[draw(look_alike(key))] = container.pop(key)
        elif isinstance(container, dict):
            container[draw(st.one_of(ODD_TEXT, look_alike(str(key))))] = draw(JUNK)
        else:
            container.append(draw(JUNK))
    return manifest


MANIFESTS: Strategy[Any] = st.one_of(
    mutated(BASE_2_0),
    mutated(BASE_2_0),
    mutated(BASE_1_0),
    JSON_VALUES,
    st.dictionaries(st.sampled_from(sorted({*BASE_2_0, *BASE_1_0})), JUNK, max_size=6),
)

# -- the invariant ----------------------------------------------------------------------------


def outcome(parse: Any, data: Any) -> AppManifest | ManifestError:
    """The manifest ``parse(data)`` returns, or the ManifestError it raises; anything else it
    raises fails the test (with the input, through Hypothesis)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 1.0 manifests are migrated
        try:
            result = parse(data)
        except ManifestError as error:
            assert_well_formed(error)
            return error
    assert isinstance(result, AppManifest)
    return result


def assert_well_formed(error: ManifestError) -> None:
    assert error.problems, "a ManifestError without problems"
    for problem in error.problems:
        assert isinstance(problem.path, str), problem
        assert problem.path.startswith("$"), problem
        assert isinstance(problem.message, str), problem
        assert problem.message.strip(), problem
        assert problem.hint is None or isinstance(problem.hint, str), problem
        assert len(str(problem)) <= MAX_PROBLEM_LENGTH, str(problem)[:300]
    assert str(error).startswith("invalid manifest")


def summary(result: AppManifest | ManifestError) -> Any:
    if isinstance(result, ManifestError):
        return [str(problem) for problem in result.problems]
    return result.to_document()


def json_text(data: Any) -> str | None:
    """``data`` as the text of a manifest file, or ``None`` when it is not JSON data."""
    try:
        return json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None


def is_plain_json(value: Any) -> bool:
    """Whether ``value`` comes back from a JSON round trip as it was (no tuples, non-string
    keys, or values JSON cannot hold)."""
    text = json_text(value)
    if text is None:
        return False
    try:
        again = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return _same(again, value)


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


# -- dicts and files --------------------------------------------------------------------------


@settings(max_examples=300, **SETTINGS)
@given(data=MANIFESTS)
def test_any_dict_gives_a_manifest_or_a_manifest_error(data: Any) -> None:
    parsed = outcome(parse_manifest, data)
    is_valid, lines = check_manifest(data)

    assert is_valid == isinstance(parsed, AppManifest)
    assert lines == ([] if is_valid else summary(parsed))


@settings(max_examples=150, **SETTINGS)
@given(data=MANIFESTS)
def test_any_file_gives_the_same_answer_as_its_dict(data: Any, tmp_path: Path) -> None:
    text = json_text(data)
    if text is None:  # not JSON data: the file form of it is tested with raw text below
        text = repr(data)[:10_000]
    path = tmp_path / "manifest.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")

    from_file = outcome(load_manifest_file, path)

    if is_plain_json(data):
        assert summary(from_file) == summary(outcome(parse_manifest, data))


RAW_TEXTS: Strategy[str] = st.one_of(
    st.text(max_size=200),
    JSON_VALUES.map(json.dumps).map(lambda text: text[: len(text) // 2]),  # cut short
    st.sampled_from(
        [
            "",
            "\ufeff",
            "{}",
            "[]",
            "null",
            '{"slug": "a", }',
            "{'slug': 'single_quotes'}",
            '{"slug": "my_app" // a comment\n}',
            '{"schema_version": "2.0", "slug": "my_app", "name": NaN}',
            '{"schema_version": "2.0", "slug": "my_app", "name": Infinity}',
            '{"schema_version": "2.0", "slug": "\\ud800", "name": "lone surrogate"}',
            '{"schema_version": "2.0", "slug": "my_app", "name": "x", "version": 1e999}',
        ]
    ),
    st.builds(
        lambda: (
            '{"schema_version": "2.0", "slug": "my_app", "name": "x", "version": '
            + "9" * 5_000
            + "}"
        )
    ),
    st.builds(
        lambda: (
            '{"schema_version": "2.0", "slug": "my_app", "name": "x", "initial_data": '
            + '{"t": ['
            + "[" * 50_000
            + "]" * 50_000
            + "]}}"
        )
    ),
    st.builds(lambda: "{" * 10_000),
    st.builds(lambda: '{"a":' * 10_000 + "1" + "}" * 10_000),
)


@settings(max_examples=100, **SETTINGS)
@given(text=RAW_TEXTS)
def test_any_file_text_gives_a_manifest_or_a_manifest_error(text: str, tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")

    outcome(load_manifest_file, path)


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe{}", b'{"slug": "\xc3("}', b"\x00" * 10, bytes(range(256))],
    ids=["utf16-bom", "truncated-utf8", "nul-bytes", "every-byte"],
)
def test_a_file_that_is_not_utf8_gives_a_manifest_error(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(content)

    error = outcome(load_manifest_file, path)

    assert isinstance(error, ManifestError)
    assert error.problems[0].path == "$"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_in_a_file_is_a_manifest_error(depth: int, tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(
        '{"schema_version": "2.0", "slug": "my_app", "name": "x", "initial_data": {"t": ['
        + "[" * depth
        + "]" * depth
        + "]}}",
        encoding="utf-8",
    )

    error = outcome(load_manifest_file, path)

    assert isinstance(error, ManifestError)


@pytest.mark.parametrize("depth", [300, 1_000, 10_000])
@pytest.mark.parametrize(
    "place",
    ["initial_data", "partialFilterExpression", "validator", "unknown_key", "legacy_auth_policy"],
)
def test_deeply_nested_values_are_a_manifest_error(depth: int, place: str) -> None:
    """A manifest is stored as a MongoDB document (at most 100 levels) and its values are
    sent to the server: nesting deeper than any real manifest needs is refused, at its path."""
    data: Doc = {"schema_version": "2.0", "slug": "my_app", "name": "x"}
    deep = nested(depth)
    if place == "initial_data":
        data["initial_data"] = {"t": [deep]}
    elif place == "partialFilterExpression":
        data["managed_indexes"] = {"t": [{"keys": {"a": 1}, "partialFilterExpression": deep}]}
    elif place == "validator":
        data["collection_settings"] = {"t": {"validator": deep}}
    elif place == "unknown_key":
        data["junk"] = deep
    else:
        data = {"slug": "my_app", "name": "x", "auth_policy": deep}

    error = outcome(parse_manifest, data)

    assert isinstance(error, ManifestError)
    assert check_manifest(data)[0] is False


def test_a_duplicated_key_in_a_file_is_a_manifest_error(tmp_path: Path) -> None:
    """JSON parsers keep the last of two equal keys; an author who wrote both meant one of them,
    so the file is refused rather than one silently dropped."""
    path = tmp_path / "manifest.json"
    path.write_text(
        '{"schema_version": "2.0", "slug": "my_app", "name": "x",'
        ' "managed_indexes": {"tasks": [{"keys": {"a": 1}, "name": "a_idx"}]},'
        ' "managed_indexes": {}}',
        encoding="utf-8",
    )

    error = outcome(load_manifest_file, path)

    assert isinstance(error, ManifestError)
    assert [problem.path for problem in error.problems] == ["$.managed_indexes"]


# -- the engine and the CLI -------------------------------------------------------------------


@settings(max_examples=40, **SETTINGS)
@given(data=MANIFESTS)
async def test_register_app_with_an_invalid_manifest_changes_nothing(
    data: Any,
    engine: MongoDBEngine,
    mongo_client: AsyncMongoClient[Doc],
    mongodb_database: str,
    tmp_path: Path,
) -> None:
    registry = mongo_client[mongodb_database][REGISTRY_COLLECTION]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        is_valid, _ = check_manifest(data)
    if is_valid:
        return  # valid manifests register; that is tested in tests/core/test_registry.py
    before = (engine.list_apps(), await registry.find().to_list())
    text = json_text(data)

    with pytest.raises(ManifestError):
        await engine.register_app(data)
    if text is not None:
        path = tmp_path / "manifest.json"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        with pytest.raises(ManifestError) as caught:
            await engine.load_manifest(path)
        assert_well_formed(caught.value)
        with pytest.raises(ManifestError):
            await engine.register_app(path)

    assert (engine.list_apps(), await registry.find().to_list()) == before


def test_cli_validate_reports_every_problem_with_its_path(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(BASE_2_0), encoding="utf-8")
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps(BASE_1_0), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({**BASE_2_0, "slug": "Bad Slug", "status": 3, "managed_index": {}}),
        encoding="utf-8",
    )
    deep = tmp_path / "deep.json"
    deep.write_text('{"slug": "my_app", "name": "x", "j": ' + "[" * 100_000 + "]" * 100_000 + "}")
    huge = tmp_path / "huge.json"
    huge.write_text('{"slug": "my_app", "name": "x", "version": ' + "9" * 5_000 + "}")
    runner = CliRunner()

    valid = runner.invoke(cli_app, ["validate", str(good), str(legacy)])
    invalid = runner.invoke(
        cli_app, ["validate", str(bad), str(deep), str(huge), str(tmp_path / "missing.json")]
    )

    assert valid.exit_code == 0, valid.output
    assert "'fuzz_app' is valid" in valid.output
    assert "schema 1.0" in valid.output
    assert invalid.exception is None or isinstance(invalid.exception, SystemExit), repr(
        invalid.exception
    )
    assert invalid.exit_code == 1, invalid.output
    assert "$.slug: invalid slug" in invalid.stderr
    assert "$.status: " in invalid.stderr
    assert "$.managed_index: unknown key" in invalid.stderr
    for path in (deep, huge):
        assert f"✗ {path}" in invalid.stderr
    assert "4 of 4 manifest(s) invalid" in invalid.stderr
    assert "Traceback" not in invalid.output
