"""Schema 1.0 (MDB_RUNTIME) manifests are migrated to 2.0, with a warning and original paths."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from mdb_engine.core.manifest import (
    check_manifest,
    load_manifest_file,
    migrate_manifest,
    parse_manifest,
)
from mdb_engine.errors import ManifestError, ManifestProblem

RUNTIME_SEED_MANIFEST: dict[str, Any] = {
    "slug": "task_manager",
    "name": "My Task App",
    "auth_required": True,
    "managed_indexes": {"tasks": [{"keys": {"priority": -1}, "name": "priority_idx"}]},
}


def problems_of(data: Any) -> list[ManifestProblem]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data)
    return caught.value.problems


def test_the_runtime_seed_manifest_parses_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="schema 1.0") as record:
        manifest = parse_manifest(RUNTIME_SEED_MANIFEST)

    assert manifest.schema_version == "2.0"
    assert manifest.status == "active"
    assert manifest.auth is not None
    assert manifest.auth.policy is not None
    assert manifest.auth.policy.required is True
    assert manifest.auth.policy.allow_anonymous is False
    (index,) = manifest.managed_indexes["tasks"]
    assert (index.type, index.name, index.keys) == ("regular", "priority_idx", {"priority": -1})
    (warning,) = record
    message = str(warning.message)
    assert "'task_manager'" in message
    assert "schema 1.0" in message
    assert '"schema_version": "2.0"' in message
    assert "move 'auth_required' to 'auth.policy.required'" in message
    assert warning.filename == __file__  # stacklevel points at the caller


def test_migration_does_not_change_the_input() -> None:
    data = copy.deepcopy(RUNTIME_SEED_MANIFEST)

    with pytest.warns(DeprecationWarning, match="schema 1.0"):
        parse_manifest(data)
    migrated, was_migrated = migrate_manifest(data)

    assert data == RUNTIME_SEED_MANIFEST
    assert was_migrated is True
    migrated["managed_indexes"]["tasks"][0]["name"] = "changed"
    assert data == RUNTIME_SEED_MANIFEST


def test_migrate_manifest_returns_the_2_0_form() -> None:
    migrated, was_migrated = migrate_manifest(RUNTIME_SEED_MANIFEST)

    assert was_migrated is True
    assert migrated == {
        "schema_version": "2.0",
        "slug": "task_manager",
        "name": "My Task App",
        "status": "active",
        "auth": {"policy": {"required": True, "allow_anonymous": False}},
        "managed_indexes": {"tasks": [{"keys": {"priority": -1}, "name": "priority_idx"}]},
    }


def test_a_2_0_manifest_is_not_migrated() -> None:
    data = {"schema_version": "2.0", "slug": "my_app", "name": "A"}

    migrated, was_migrated = migrate_manifest(data)

    assert (migrated, was_migrated) == (data, False)
    assert migrated is not data


def test_explicit_schema_version_1_0_is_migrated() -> None:
    with pytest.warns(DeprecationWarning, match="schema 1.0"):
        manifest = parse_manifest({"schema_version": "1.0", "slug": "ab", "name": "A"})

    assert manifest.schema_version == "2.0"


def test_a_manifest_without_schema_version_is_read_as_1_0() -> None:
    with pytest.warns(DeprecationWarning, match="schema_version"):
        manifest = parse_manifest({"slug": "ab", "name": "A"})

    assert manifest.auth is None


def test_auth_policy_and_sub_auth_move_under_auth() -> None:
    data = {
        "slug": "task_manager",
        "name": "Tasks",
        "auth_required": False,
        "auth_policy": {
            "provider": "casbin",
            "allowed_roles": ["user", "admin"],
            "model": "rbac",
            "policies": [["admin", "tasks", "write"]],
        },
        "sub_auth": {
            "enabled": True,
            "strategy": "anonymous_session",
            "allow_registration": False,
            "demo_users": [{"email": "demo@example.com", "password": "demo"}],
        },
    }

    with pytest.warns(DeprecationWarning, match="move 'auth_policy.allowed_roles' to "):
        manifest = parse_manifest(data)

    assert manifest.auth is not None
    policy, users = manifest.auth.policy, manifest.auth.users
    assert policy is not None
    assert users is not None
    assert (policy.provider, policy.required, policy.allow_anonymous) == ("casbin", False, True)
    assert policy.authorization is not None
    assert policy.authorization.default_roles == ["user", "admin"]
    assert policy.authorization.model == "rbac"
    assert policy.authorization.initial_policies == [["admin", "tasks", "write"]]
    assert (users.enabled, users.strategy, users.allow_registration) == (
        True,
        "anonymous_session",
        False,
    )
    assert users.demo_users[0].email == "demo@example.com"


def test_roles_alias_and_initial_policies_alias() -> None:
    migrated, _ = migrate_manifest(
        {"slug": "ab", "name": "A", "auth_policy": {"roles": ["r"], "initial_policies": []}}
    )

    assert migrated["auth"] == {
        "policy": {"authorization": {"default_roles": ["r"], "initial_policies": []}}
    }


def test_explicit_allow_anonymous_is_kept() -> None:
    migrated, _ = migrate_manifest(
        {"slug": "ab", "name": "A", "auth_required": True, "auth_policy": {"allow_anonymous": True}}
    )

    assert migrated["auth"]["policy"] == {"allow_anonymous": True, "required": True}


def test_1_0_keys_merge_with_a_2_0_auth_block() -> None:
    with pytest.warns(DeprecationWarning, match="schema 1.0"):
        manifest = parse_manifest(
            {
                "slug": "ab",
                "name": "A",
                "auth_required": True,
                "auth": {"users": {"enabled": True}},
            }
        )

    assert manifest.auth is not None
    assert manifest.auth.users is not None
    assert manifest.auth.users.enabled is True
    assert manifest.auth.policy is not None
    assert manifest.auth.policy.required is True


def test_problems_in_migrated_parts_point_to_the_1_0_paths() -> None:
    problems = problems_of(
        {
            "slug": "task_manager",
            "name": "Tasks",
            "auth_required": "yes",
            "auth_policy": {"provder": "casbin", "allowed_role": ["x"], "model": "abac"},
            "sub_auth": {"strategy": "anon", "demo_users": [{"email": "demo"}], "enabeld": True},
        }
    )

    assert [str(problem) for problem in problems] == [
        '$.auth_required: expected a boolean, got "yes"',
        "$.auth_policy.model: unknown authorization model 'abac' "
        "(use 'rbac', 'acl' or the path of a Casbin model file ending in '.conf')",
        "$.auth_policy.provder: unknown key 'provder' (did you mean 'provider'?)",
        "$.auth_policy.allowed_role: unknown key 'allowed_role' (did you mean 'allowed_roles'?)",
        '$.sub_auth.strategy: expected one of "app_users", "anonymous_session", got "anon"',
        '$.sub_auth.demo_users[0].email: expected an email address, got "demo" '
        '(e.g. "demo@example.com")',
        "$.sub_auth.demo_users[0].password: missing required key 'password'",
        "$.sub_auth.enabeld: unknown key 'enabeld' (did you mean 'enabled'?)",
    ]


def test_non_object_1_0_blocks_are_reported_at_their_1_0_paths() -> None:
    problems = problems_of({"slug": "ab", "name": "A", "auth_policy": "casbin", "sub_auth": True})

    assert [(problem.path, problem.message) for problem in problems] == [
        ("$.auth_policy", 'expected an object, got "casbin"'),
        ("$.sub_auth", "expected an object, got true"),
    ]


def test_a_typo_of_a_1_0_key_is_suggested() -> None:
    problems = problems_of({"slug": "ab", "name": "A", "auth_requird": True})

    assert problems == [
        ManifestProblem(
            "$.auth_requird", "unknown key 'auth_requird'", "did you mean 'auth_required'?"
        )
    ]


def test_a_1_0_manifest_may_name_its_json_schema() -> None:
    data = {"$schema": "./manifest.schema.json", **RUNTIME_SEED_MANIFEST}

    with pytest.warns(DeprecationWarning, match="schema 1.0") as record:
        manifest = parse_manifest(data)
    with pytest.warns(DeprecationWarning, match="schema 1.0"):
        plain = parse_manifest(RUNTIME_SEED_MANIFEST)

    assert manifest.schema_reference == "./manifest.schema.json"
    assert manifest.to_document() == plain.to_document()
    assert manifest.fingerprint() == plain.fingerprint()
    assert "$schema" not in str(record[0].message)  # nothing to change about it
    migrated, was_migrated = migrate_manifest(data)
    assert was_migrated
    assert migrated["$schema"] == "./manifest.schema.json"


def test_a_1_0_manifest_with_a_bad_schema_key() -> None:
    problems = problems_of({"$schema": 1, "slug": "ab", "name": "A", "auth_required": True})

    assert [(problem.path, problem.message) for problem in problems] == [
        ('$["$schema"]', "expected a string, got 1")
    ]


def test_a_typo_of_the_schema_key_in_a_1_0_manifest_is_suggested() -> None:
    problems = problems_of({"$shema": "x.json", "slug": "ab", "name": "A", "auth_required": True})

    assert problems == [
        ManifestProblem('$["$shema"]', "unknown key '$shema'", "did you mean '$schema'?")
    ]


def test_contradicting_1_0_and_2_0_values_are_an_error() -> None:
    data = {
        "slug": "ab",
        "name": "A",
        "auth_required": True,
        "auth": {"policy": {"required": False}},
    }

    problems = problems_of(data)

    assert [(problem.path, problem.message) for problem in problems] == [
        (
            "$.auth_required",
            "conflicts with 'auth.policy.required', which sets the same thing differently",
        ),
    ]
    with pytest.raises(ManifestError):
        migrate_manifest(data)


def test_two_1_0_aliases_with_different_values_conflict() -> None:
    problems = problems_of(
        {"slug": "ab", "name": "A", "auth_policy": {"roles": ["a"], "allowed_roles": ["b"]}}
    )

    assert [problem.path for problem in problems] == ["$.auth_policy.allowed_roles"]
    assert "'auth_policy.roles'" in problems[0].message


@pytest.mark.parametrize(
    ("key", "target"),
    [
        ("auth_required", "auth.policy.required"),
        ("auth_policy", "auth.policy"),
        ("sub_auth", "auth.users"),
    ],
)
def test_1_0_keys_in_a_2_0_manifest_are_errors_with_a_move_hint(key: str, target: str) -> None:
    problems = problems_of({"schema_version": "2.0", "slug": "ab", "name": "A", key: {}})

    assert problems == [
        ManifestProblem(
            f"$.{key}",
            f"unknown key '{key}'",
            f"'{key}' is a schema 1.0 key; in schema 2.0 move it to '{target}'",
        )
    ]


def test_unknown_schema_version() -> None:
    problems = problems_of({"schema_version": "3.0", "slug": "ab", "name": "A"})

    assert [(problem.path, problem.message) for problem in problems] == [
        ("$.schema_version", 'expected "2.0", got "3.0"')
    ]


def test_migrate_manifest_refuses_non_objects() -> None:
    with pytest.raises(ManifestError) as caught:
        migrate_manifest([])  # type: ignore[arg-type]

    assert caught.value.problems[0].path == "$"


def test_check_manifest_reports_1_0_problems_at_1_0_paths() -> None:
    ok, problems = check_manifest({"slug": "ab", "name": "A", "auth_required": 1})

    assert ok is False
    assert problems == ["$.auth_required: expected a boolean, got 1"]


def test_loading_a_1_0_file_warns_and_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(
        '{"slug": "task_manager", "name": "My Task App", "auth_required": true}', encoding="utf-8"
    )

    with pytest.warns(DeprecationWarning, match=str(path).replace("\\", "\\\\")) as record:
        manifest = load_manifest_file(path)

    assert manifest.auth is not None
    assert manifest.auth.policy is not None
    assert manifest.auth.policy.required is True
    assert record[0].filename == __file__
