"""The manifest models: the seed manifests parse, every field exists, documents round-trip."""

from __future__ import annotations

import copy
import json
from typing import Any

import pydantic
import pytest

from mdb_engine.core.manifest import (
    SLUG_PATTERN,
    AppManifest,
    AuthorizationConfig,
    IndexSpec,
    WebSocketEndpoint,
    parse_manifest,
)
from mdb_engine.core.manifest.fields import manifest_keys

QUICK_START_MANIFEST: dict[str, Any] = {
    "schema_version": "2.0",
    "slug": "my_app",
    "name": "My First App",
    "status": "active",
    "auth": {
        "policy": {
            "provider": "casbin",
            "required": False,
            "allow_anonymous": True,
            "authorization": {"model": "rbac", "link_users_roles": True},
        }
    },
    "managed_indexes": {
        "tasks": [{"type": "regular", "keys": {"priority": -1}, "name": "priority_idx"}]
    },
}

# The README shows this block on its own; a manifest also needs a slug and a name.
AUTH_CONFIG_BLOCK: dict[str, Any] = {
    "auth": {
        "policy": {
            "provider": "casbin",
            "required": True,
            "authorization": {
                "model": "rbac",
                "policies_collection": "casbin_policies",
                "link_users_roles": True,
                "default_roles": ["user", "admin"],
            },
        },
        "users": {"enabled": True, "strategy": "app_users"},
    }
}

MAXIMAL_MANIFEST: dict[str, Any] = {
    "schema_version": "2.0",
    "slug": "kitchen-sink_1",
    "name": "Kitchen sink",
    "description": "Uses every field of schema 2.0.",
    "status": "draft",
    "version": "1.4.2",
    "auth": {
        "policy": {
            "provider": "oso",
            "required": True,
            "allow_anonymous": False,
            "authorization": {
                "model": "models/rbac_with_domains.conf",
                "policies_collection": "policies",
                "link_users_roles": True,
                "default_roles": ["reader"],
                "initial_roles": [{"user": "ada@example.com", "role": "admin"}],
                "initial_policies": [["admin", "tasks", "write"], ["reader", "tasks", "read"]],
                "polar": "allow(actor, action, resource) if has_role(actor, action, resource);",
                "polar_file": None,
            },
        },
        "users": {
            "enabled": True,
            "strategy": "anonymous_session",
            "allow_registration": False,
            "collection": "members",
            "demo_users": [
                {
                    "email": "ada@example.com",
                    "password": "correct horse",
                    "roles": ["admin"],
                    "name": "Ada",
                }
            ],
        },
    },
    "managed_indexes": {
        "tasks": [
            {"type": "regular", "name": "by_status", "keys": {"status": 1, "created_at": -1}},
            {"keys": {"owner": 1}, "unique": True, "sparse": True, "hidden": False},
            {
                "type": "text",
                "keys": {"title": "text", "body": "text"},
                "weights": {"title": 10, "body": 1},
                "default_language": "english",
                "language_override": "lang",
            },
            {"type": "geospatial", "keys": {"location": "2dsphere"}},
            {"type": "ttl", "keys": {"expires_at": 1}, "expireAfterSeconds": 0},
            {
                "type": "partial",
                "keys": {"due": 1},
                "partialFilterExpression": {"done": {"$eq": False}},
                "collation": {"locale": "en", "strength": 2},
            },
            {"type": "hashed", "keys": {"user_id": "hashed"}},
            {"type": "wildcard", "keys": {"$**": 1}, "wildcardProjection": {"meta": 1}},
            {
                "type": "vectorSearch",
                "name": "embedding_idx",
                "definition": {
                    "fields": [
                        {
                            "type": "vector",
                            "path": "embedding",
                            "numDimensions": 3,
                            "similarity": "cosine",
                        }
                    ]
                },
            },
            {"type": "search", "definition": {"mappings": {"dynamic": True}}},
        ],
        "my-coll": [{"keys": [["a", 1], ["b", -1]]}],
    },
    "collection_settings": {
        "tasks": {
            "validator": {"$jsonSchema": {"bsonType": "object"}},
            "validation_level": "moderate",
            "validation_action": "warn",
            "collation": {"locale": "fr"},
        },
        "events": {"capped": True, "size": 1048576, "max": 1000},
        "readings": {
            "timeseries": {"timeField": "at", "metaField": "sensor", "granularity": "minutes"},
            "expireAfterSeconds": 86400,
        },
    },
    "initial_data": {"tasks": [{"title": "Say hello", "done": False}]},
    "websockets": {
        "realtime": {
            "path": "/ws",
            "auth": {"required": True, "allow_anonymous": False},
            "ping_interval": 15,
            "description": "Live task updates.",
        },
        "rooms": {"path": "/ws/rooms/{room_id}", "ping_interval": None},
    },
    "data_access": {
        "read_scopes": ["other_app"],
        "allow_read_by": ["reporting"],
        "shared_collections": ["tasks"],
    },
    "cors": {
        "enabled": True,
        "allow_origins": ["https://example.com"],
        "allow_methods": ["GET"],
        "allow_headers": ["Authorization"],
        "allow_credentials": True,
        "max_age": 60,
    },
    "observability": {
        "enabled": True,
        "logging": {"level": "warning", "format": "json"},
        "metrics": {"enabled": False, "path": "/internal/metrics"},
        "health": {"enabled": True, "path": "/healthz", "ready_path": "/readyz"},
    },
    "embedding_config": {
        "enabled": True,
        "provider": "openai",
        "model": "text-embedding-3-small",
        "dimensions": 1536,
        "max_tokens_per_chunk": 256,
        "chunk_overlap": 32,
        "api_base": "https://api.example.com/v1",
        "collection": "chunks",
    },
    "memory_config": {
        "enabled": True,
        "provider": "mem0",
        "collection": "memories",
        "max_memories_per_user": 100,
    },
}


def test_quick_start_manifest_parses() -> None:
    manifest = parse_manifest(QUICK_START_MANIFEST)

    assert manifest.slug == "my_app"
    assert manifest.status == "active"
    assert manifest.auth is not None
    assert manifest.auth.policy is not None
    assert manifest.auth.policy.provider == "casbin"
    assert manifest.auth.policy.authorization == AuthorizationConfig(
        model="rbac", link_users_roles=True
    )
    (index,) = manifest.managed_indexes["tasks"]
    assert (index.type, index.name, index.keys) == ("regular", "priority_idx", {"priority": -1})


def test_auth_config_block_parses_as_2_0() -> None:
    manifest = parse_manifest(
        {"schema_version": "2.0", "slug": "my_app", "name": "My App", **AUTH_CONFIG_BLOCK}
    )

    assert manifest.auth is not None
    assert manifest.auth.policy is not None
    assert manifest.auth.policy.required is True
    assert manifest.auth.policy.authorization is not None
    assert manifest.auth.policy.authorization.default_roles == ["user", "admin"]
    assert manifest.auth.policy.authorization.policies_collection == "casbin_policies"
    assert manifest.auth.users is not None
    assert manifest.auth.users.enabled is True
    assert manifest.auth.users.strategy == "app_users"


def test_auth_config_block_without_schema_version_parses_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="schema_version"):
        manifest = parse_manifest({"slug": "my_app", "name": "My App", **AUTH_CONFIG_BLOCK})

    assert manifest.auth is not None
    assert manifest.auth.users is not None
    assert manifest.auth.users.enabled is True


@pytest.mark.parametrize(
    "fragment",
    [
        {
            "managed_indexes": {
                "tasks": [
                    {
                        "type": "regular",
                        "keys": {"status": 1, "created_at": -1},
                        "name": "status_sort",
                    }
                ]
            }
        },
        {"managed_indexes": {"tasks": [{"keys": {"status": 1, "created_at": -1}, "name": "s"}]}},
        {"websockets": {"realtime": {"path": "/ws"}}},
    ],
)
def test_readme_fragments_parse(fragment: dict[str, Any]) -> None:
    manifest = parse_manifest({"schema_version": "2.0", "slug": "my_app", "name": "x", **fragment})

    assert manifest.slug == "my_app"


def test_minimal_manifest_gets_the_defaults() -> None:
    manifest = parse_manifest({"schema_version": "2.0", "slug": "ab", "name": "A"})

    assert manifest.schema_version == "2.0"
    assert manifest.status == "active"
    assert manifest.description is None
    assert manifest.version is None
    assert manifest.auth is None
    assert manifest.managed_indexes == {}
    assert manifest.collection_settings == {}
    assert manifest.initial_data == {}
    assert manifest.websockets == {}
    assert manifest.data_access is None
    assert manifest.cors is None
    assert manifest.observability is None
    assert manifest.embedding_config is None
    assert manifest.memory_config is None


def test_maximal_manifest_parses_with_every_field() -> None:
    manifest = parse_manifest(MAXIMAL_MANIFEST)

    assert manifest.auth is not None
    assert manifest.auth.users is not None
    assert manifest.auth.users.demo_users[0].email == "ada@example.com"
    assert manifest.observability is not None
    assert manifest.observability.logging.level == "WARNING"
    assert manifest.websockets["realtime"].ping_interval == 15.0
    assert manifest.websockets["rooms"].ping_interval is None
    assert manifest.managed_indexes["my-coll"][0].keys == {"a": 1, "b": -1}
    assert manifest.collection_settings["readings"].timeseries is not None
    assert manifest.embedding_config is not None
    assert manifest.embedding_config.dimensions == 1536


def test_maximal_manifest_round_trips_through_to_document() -> None:
    manifest = parse_manifest(MAXIMAL_MANIFEST)
    document = manifest.to_document()

    assert json.loads(json.dumps(document)) == document  # JSON-compatible
    again = parse_manifest(document)
    assert again == manifest
    assert again.to_document() == document
    assert again.fingerprint() == manifest.fingerprint()


def test_to_document_keeps_the_json_keys() -> None:
    document = parse_manifest(MAXIMAL_MANIFEST).to_document()

    ttl_index = document["managed_indexes"]["tasks"][4]
    assert ttl_index["expireAfterSeconds"] == 0
    assert document["collection_settings"]["readings"]["timeseries"]["timeField"] == "at"
    assert list(document["managed_indexes"]["tasks"][0]["keys"]) == ["status", "created_at"]


def test_every_field_of_the_maximal_manifest_is_known() -> None:
    # Guards the fixture itself: unknown keys would have failed, so every key listed is a field.
    # "$schema" is left out: it is not stored, so it does not round-trip (tested below).
    assert set(MAXIMAL_MANIFEST) == manifest_keys(AppManifest) - {"$schema"}


def test_schema_key_is_accepted_and_left_out_of_the_document_and_fingerprint() -> None:
    with_key = parse_manifest({"$schema": "./manifest.schema.json", **MAXIMAL_MANIFEST})
    without_key = parse_manifest(MAXIMAL_MANIFEST)

    assert with_key.schema_reference == "./manifest.schema.json"
    assert without_key.schema_reference is None
    assert "$schema" not in with_key.to_document()
    assert with_key.to_document() == without_key.to_document()
    assert with_key.fingerprint() == without_key.fingerprint()


def test_schema_key_does_not_change_the_fingerprint_whatever_it_names() -> None:
    first = parse_manifest({"$schema": "./manifest.schema.json", **QUICK_START_MANIFEST})
    second = parse_manifest({"$schema": "https://example.com/other.json", **QUICK_START_MANIFEST})

    assert first.fingerprint() == second.fingerprint()


def test_fingerprint_is_equal_for_equal_manifests() -> None:
    explicit = {
        "schema_version": "2.0",
        "slug": "my_app",
        "name": "A",
        "status": "active",
        "managed_indexes": {"tasks": [{"type": "regular", "keys": {"a": 1}}]},
    }
    implicit = {
        "schema_version": "2.0",
        "slug": "my_app",
        "name": "A",
        "managed_indexes": {"tasks": [{"keys": [["a", 1]]}]},
    }

    assert parse_manifest(explicit) == parse_manifest(implicit)
    assert parse_manifest(explicit).fingerprint() == parse_manifest(implicit).fingerprint()
    assert len(parse_manifest(explicit).fingerprint()) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"name": "B"},
        {"status": "archived"},
        {"managed_indexes": {"tasks": [{"keys": {"a": -1}}]}},
        {"websockets": {"realtime": {"path": "/ws"}}},
    ],
)
def test_fingerprint_changes_with_the_manifest(change: dict[str, Any]) -> None:
    base = {
        "schema_version": "2.0",
        "slug": "my_app",
        "name": "A",
        "managed_indexes": {"tasks": [{"keys": {"a": 1}}]},
    }

    assert parse_manifest(base).fingerprint() != parse_manifest({**base, **change}).fingerprint()


def test_fingerprint_sees_the_order_of_index_keys() -> None:
    def manifest(keys: dict[str, int]) -> AppManifest:
        return parse_manifest(
            {
                "schema_version": "2.0",
                "slug": "ab",
                "name": "A",
                "managed_indexes": {"tasks": [{"keys": keys}]},
            }
        )

    assert manifest({"a": 1, "b": 1}).fingerprint() != manifest({"b": 1, "a": 1}).fingerprint()


def test_models_are_frozen() -> None:
    manifest = parse_manifest(QUICK_START_MANIFEST)

    with pytest.raises(pydantic.ValidationError):
        manifest.slug = "other"


def test_index_keys_accept_pairs_and_keep_their_order() -> None:
    spec = IndexSpec.model_validate({"keys": [["z", 1], ["a", -1], ["m", "text"]]})

    assert list(spec.keys or {}) == ["z", "a", "m"]
    assert spec.keys == {"z": 1, "a": -1, "m": "text"}


def test_index_direction_accepts_json_float_one() -> None:
    assert IndexSpec.model_validate({"keys": {"a": 1.0, "b": -1.0}}).keys == {"a": 1, "b": -1}


def test_websocket_path_accepts_parameters() -> None:
    endpoint = WebSocketEndpoint.model_validate({"path": "/ws/{room}/chat-{user_id:int}"})

    assert endpoint.ping_interval == 20.0


def test_slug_pattern_is_exported() -> None:
    assert SLUG_PATTERN == r"^[a-z][a-z0-9_-]{1,62}$"


def test_parse_manifest_does_not_change_its_input() -> None:
    data = copy.deepcopy(MAXIMAL_MANIFEST)

    parse_manifest(data)

    assert data == MAXIMAL_MANIFEST


def test_collection_settings_become_create_collection_options() -> None:
    settings = parse_manifest(MAXIMAL_MANIFEST).collection_settings
    assert settings["tasks"].create_options() == {
        "validator": {"$jsonSchema": {"bsonType": "object"}},
        "validationLevel": "moderate",
        "validationAction": "warn",
        "collation": {"locale": "fr"},
    }
    assert settings["events"].create_options() == {"capped": True, "size": 1048576, "max": 1000}
    assert settings["readings"].create_options() == {
        "timeseries": {"timeField": "at", "metaField": "sensor", "granularity": "minutes"},
        "expireAfterSeconds": 86400,
    }
