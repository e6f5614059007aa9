"""CasbinProvider: RBAC/ACL/custom models, seeding, isolation and cross-process propagation."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect, OperationFailure, WriteError

from mdb_engine.auth.providers import AuthorizationProvider, CasbinProvider
from mdb_engine.auth.providers import casbin as casbin_provider_module
from mdb_engine.core import MongoDBEngine
from mdb_engine.core.manifest.models_auth import AuthorizationConfig
from mdb_engine.database import ScopedCollection
from mdb_engine.errors import ConfigurationError, OptionalDependencyMissing
from mdb_engine.testing import CommandLog

LOGGER = "mdb_engine.auth.providers.casbin"
Make = Callable[..., Awaitable[CasbinProvider]]

SHOP_RULES: dict[str, Any] = {
    "initial_policies": [
        ["admin", "tasks", "delete"],
        ["editor", "tasks", "write"],
        ["viewer", "tasks", "read"],
    ],
    "initial_roles": [
        {"user": "alice", "role": "admin"},
        {"user": "admin", "role": "editor"},
        {"user": "bob", "role": "editor"},
        {"user": "editor", "role": "viewer"},
        {"user": "carol", "role": "viewer"},
    ],
}

CUSTOM_MODEL = """\
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && keyMatch(r.obj, p.obj) && r.act == p.act
"""


def manifest(slug: str) -> dict[str, Any]:
    return {"schema_version": "2.0", "slug": slug, "name": slug.title()}


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def casbin_tasks() -> set[asyncio.Task[Any]]:
    return {task for task in asyncio.all_tasks() if task.get_name().startswith("casbin ")}


@pytest_asyncio.fixture
async def shop(engine: MongoDBEngine) -> ScopedCollection:
    await engine.register_app(manifest("shop"))
    return engine.get_scoped_db("shop").casbin_policies


@pytest_asyncio.fixture
async def make(shop: ScopedCollection) -> AsyncIterator[Make]:
    """Builds providers (on ``shop`` unless told) and closes them after the test."""
    created: list[CasbinProvider] = []

    async def build(
        collection: ScopedCollection | None = None,
        *,
        base_dir: Path | None = None,
        watch: bool = True,
        stale_after: float = 5.0,
        **settings: Any,
    ) -> CasbinProvider:
        provider = await CasbinProvider.create(
            collection or shop,
            AuthorizationConfig.model_validate(settings),
            base_dir=base_dir,
            watch=watch,
            stale_after=stale_after,
        )
        created.append(provider)
        return provider

    yield build
    for provider in created:
        await provider.close()


@pytest.mark.parametrize(
    ("subject", "resource", "action", "expected"),
    [
        ("alice", "tasks", "delete", True),  # admin
        ("alice", "tasks", "write", True),  # admin inherits editor
        ("alice", "tasks", "read", True),  # ... and viewer
        ("bob", "tasks", "write", True),
        ("bob", "tasks", "read", True),
        ("bob", "tasks", "delete", False),
        ("carol", "tasks", "read", True),
        ("carol", "tasks", "write", False),
        ("dave", "tasks", "read", False),  # no role
        ("alice", "reports", "read", False),  # no rule on that resource
        ("editor", "tasks", "write", True),  # a role is a subject too
        ("viewer", "tasks", "write", False),
    ],
)
async def test_rbac_matrix(
    make: Make, subject: str, resource: str, action: str, expected: bool
) -> None:
    provider = await make(**SHOP_RULES)
    assert await provider.seed(AuthorizationConfig.model_validate(SHOP_RULES)) is True
    assert isinstance(provider, AuthorizationProvider)
    assert await provider.check(subject, resource, action) is expected


async def test_rules_and_roles_can_be_changed(make: Make) -> None:
    provider = await make()
    assert await provider.add_policy("admin", "tasks", "write") is True
    assert await provider.add_policy("admin", "tasks", "write") is False
    assert await provider.add_role_for_user("alice", "admin") is True
    assert await provider.add_role_for_user("alice", "admin") is False
    assert await provider.get_roles_for_user("alice") == ["admin"]
    assert await provider.get_policies() == [["admin", "tasks", "write"]]
    assert await provider.check("alice", "tasks", "write") is True

    assert await provider.remove_role_for_user("alice", "admin") is True
    assert await provider.remove_role_for_user("alice", "admin") is False
    assert await provider.check("alice", "tasks", "write") is False
    assert await provider.remove_policy("admin", "tasks", "write") is True
    assert await provider.remove_policy("admin", "tasks", "write") is False
    assert await provider.get_policies() == []


async def test_results_follow_storage_not_memory(make: Make) -> None:
    first, second = await make(watch=False), await make(watch=False)
    assert await second.add_policy("admin", "tasks", "write") is True
    # Already stored by the other provider: not new, yet enforced here at once.
    assert await first.add_policy("admin", "tasks", "write") is False
    assert await first.check("admin", "tasks", "write") is True
    assert await second.remove_policy("admin", "tasks", "write") is True
    assert await first.remove_policy("admin", "tasks", "write") is False
    assert await first.check("admin", "tasks", "write") is False


async def test_checks_do_not_touch_the_database(make: Make, command_log: CommandLog) -> None:
    provider = await make(watch=False, **SHOP_RULES)
    await provider.seed(AuthorizationConfig.model_validate(SHOP_RULES))
    command_log.clear()
    for _ in range(50):
        assert await provider.check("alice", "tasks", "delete") is True
    assert command_log.commands == []


async def test_acl_model_has_direct_rules_only(make: Make) -> None:
    provider = await make(model="acl", initial_policies=[["alice", "tasks", "read"]])
    await provider.seed(AuthorizationConfig(initial_policies=[["alice", "tasks", "read"]]))
    assert await provider.check("alice", "tasks", "read") is True
    assert await provider.check("alice", "tasks", "write") is False
    assert await provider.get_roles_for_user("alice") == []
    with pytest.raises(ConfigurationError, match="has no roles"):
        await provider.add_role_for_user("alice", "admin")


async def test_acl_model_refuses_role_settings(make: Make) -> None:
    with pytest.raises(ConfigurationError, match="'acl' has no roles"):
        await make(model="acl", link_users_roles=True, default_roles=["member"])


@pytest.mark.parametrize("is_absolute", [False, True])
async def test_custom_model_file(make: Make, tmp_path: Path, is_absolute: bool) -> None:
    (tmp_path / "model.conf").write_text(CUSTOM_MODEL)
    model = str(tmp_path / "model.conf") if is_absolute else "model.conf"
    provider = await make(model=model, base_dir=None if is_absolute else tmp_path)
    await provider.add_policy("alice", "/tasks/*", "read")
    assert await provider.check("alice", "/tasks/42", "read") is True
    assert await provider.check("alice", "/notes/1", "read") is False


async def test_missing_casbin_names_the_extra(
    shop: ScopedCollection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "casbin", None)
    with pytest.raises(OptionalDependencyMissing, match=r"mdb-engine\[casbin\]"):
        await CasbinProvider.create(shop, AuthorizationConfig())


async def test_missing_model_file_names_the_path(make: Make, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"model file '.*missing\.conf' does not exist"):
        await make(model="missing.conf", base_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (CUSTOM_MODEL.replace("keyMatch", "noSuchFunction"), "noSuchFunction"),
        (CUSTOM_MODEL.replace("some(where (p.eft == allow))", "sometimes"), "unsupported effect"),
        (CUSTOM_MODEL.replace("[matchers]\n", "").replace("m = ", "x = "), r"\[matchers\]"),
        (CUSTOM_MODEL.replace("r = sub, obj, act", "r = sub, dom, obj, act"), "three fields"),
    ],
)
async def test_invalid_model_file_says_where_and_why(
    make: Make, tmp_path: Path, text: str, reason: str
) -> None:
    (tmp_path / "bad.conf").write_text(text)
    with pytest.raises(ConfigurationError, match=rf"'.*bad\.conf'.*{reason}"):
        await make(model="bad.conf", base_dir=tmp_path)


async def test_seed_only_when_empty_and_removed_rules_stay_removed(
    make: Make, shop: ScopedCollection
) -> None:
    config = AuthorizationConfig.model_validate(SHOP_RULES)
    provider = await make(**SHOP_RULES)
    assert await provider.seed(config) is True
    assert await provider.remove_policy("viewer", "tasks", "read") is True
    assert await provider.remove_policy("admin", "tasks", "delete") is True
    assert await provider.remove_policy("editor", "tasks", "write") is True

    restarted = await make(**SHOP_RULES)
    assert await restarted.seed(config) is False
    assert await restarted.get_policies() == []
    assert await restarted.check("carol", "tasks", "read") is False


async def test_seed_skips_an_app_that_already_has_rules(make: Make) -> None:
    provider = await make(**SHOP_RULES)
    await provider.add_policy("someone", "tasks", "read")
    assert await provider.seed(AuthorizationConfig.model_validate(SHOP_RULES)) is False
    assert await provider.get_policies() == [["someone", "tasks", "read"]]


async def test_seed_without_initial_rules_writes_nothing(
    make: Make, shop: ScopedCollection
) -> None:
    provider = await make()
    assert await provider.seed(AuthorizationConfig()) is False
    assert await shop.count_documents({}) == 0


async def test_concurrent_seeds_store_each_rule_once(make: Make, shop: ScopedCollection) -> None:
    config = AuthorizationConfig.model_validate(SHOP_RULES)
    first, second = await make(**SHOP_RULES), await make(**SHOP_RULES)
    results = await asyncio.gather(first.seed(config), second.seed(config))
    assert True in results
    rule_count = len(SHOP_RULES["initial_policies"]) + len(SHOP_RULES["initial_roles"])
    assert await shop.count_documents({}) == rule_count + 1  # and the seed marker
    for provider in (first, second):
        await provider.reload()
        assert await provider.check("alice", "tasks", "delete") is True


async def test_default_roles_are_linked_when_enabled(make: Make) -> None:
    linked = await make(link_users_roles=True, default_roles=["member", "reader"])
    await linked.assign_default_roles("new@example.com")
    await linked.assign_default_roles("new@example.com")  # idempotent
    assert sorted(await linked.get_roles_for_user("new@example.com")) == ["member", "reader"]

    unlinked = await make(link_users_roles=False, default_roles=["member"])
    await unlinked.assign_default_roles("other@example.com")
    assert await unlinked.get_roles_for_user("other@example.com") == []


async def test_rules_are_tagged_and_invisible_to_another_app(
    engine: MongoDBEngine,
    make: Make,
    mongo_client: AsyncMongoClient[dict[str, Any]],
    mongodb_database: str,
) -> None:
    provider = await make()
    await provider.add_policy("admin", "tasks", "write")
    await provider.add_role_for_user("alice", "admin")

    documents = await mongo_client[mongodb_database]["shop_casbin_policies"].find({}).to_list()
    assert len(documents) == 2
    assert {document["app_id"] for document in documents} == {"shop"}
    assert {document["ptype"] for document in documents} == {"p", "g"}

    await engine.register_app(manifest("blog"))
    blog = await make(engine.get_scoped_db("blog").casbin_policies)
    assert await blog.get_policies() == []
    assert await blog.get_roles_for_user("alice") == []
    assert await blog.check("alice", "tasks", "write") is False


async def test_a_failed_write_leaves_no_rule_in_memory(
    make: Make, mongo_client: AsyncMongoClient[dict[str, Any]], mongodb_database: str
) -> None:
    await mongo_client[mongodb_database].create_collection(
        "shop_casbin_policies", validator={"v0": {"$ne": "forbidden"}}
    )
    provider = await make(watch=False)
    with pytest.raises(WriteError):
        await provider.add_policy("forbidden", "tasks", "read")
    assert await provider.check("forbidden", "tasks", "read") is False
    assert await provider.get_policies() == []


async def test_changes_made_through_another_engine_are_enforced(
    make: Make, mongodb_uri: str, mongodb_database: str
) -> None:
    here = await make()
    there: CasbinProvider | None = None
    engine2 = MongoDBEngine(mongodb_uri, mongodb_database)
    await engine2.initialize()
    try:
        await engine2.register_app(manifest("shop"))
        there = await make(engine2.get_scoped_db("shop").casbin_policies)

        await here.add_policy("admin", "tasks", "write")
        await here.add_role_for_user("alice", "admin")
        assert await eventually(lambda: there.check("alice", "tasks", "write"))

        await here.remove_role_for_user("alice", "admin")

        async def is_denied() -> bool:
            return not await there.check("alice", "tasks", "write")

        assert await eventually(is_denied)
        assert await there.get_policies() == [["admin", "tasks", "write"]]
    finally:
        if there is not None:
            await there.close()  # before its engine's client is closed
        await engine2.shutdown()


async def test_close_cancels_the_watcher(make: Make) -> None:
    before = casbin_tasks()
    provider = await make()
    assert casbin_tasks() - before
    await provider.close()
    await provider.close()  # idempotent
    assert {task for task in casbin_tasks() - before if not task.done()} == set()
    await provider.add_policy("admin", "tasks", "write")  # still usable in memory
    assert await provider.check("admin", "tasks", "write") is True


async def test_standalone_server_falls_back_to_reloading_at_check_time(
    make: Make, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def no_change_streams(self: ScopedCollection, *args: Any, **kwargs: Any) -> Any:
        raise OperationFailure(
            "The $changeStream stage is only supported on replica sets", code=40573
        )

    monkeypatch.setattr(ScopedCollection, "watch", no_change_streams)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    provider = await make(stale_after=0.2)
    writer = await make(watch=False)
    await writer.add_policy("admin", "tasks", "write")

    assert await eventually(lambda: provider.check("admin", "tasks", "write"))
    for _ in range(3):
        await asyncio.sleep(0.25)
        assert await provider.check("admin", "tasks", "write") is True
    warnings = [record for record in caplog.records if record.name == LOGGER]
    assert len(warnings) == 1
    assert "no change streams" in warnings[0].getMessage()


async def test_watcher_survives_transient_errors(
    make: Make, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_watch = ScopedCollection.watch
    failures = [AutoReconnect("connection reset"), AutoReconnect("connection reset")]

    async def flaky_watch(self: ScopedCollection, *args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real_watch(self, *args, **kwargs)

    monkeypatch.setattr(ScopedCollection, "watch", flaky_watch)
    monkeypatch.setattr(casbin_provider_module, "RETRY_FIRST_DELAY", 0.05)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    provider = await make()
    writer = await make(watch=False)

    async def has_retried() -> bool:
        return not failures

    assert await eventually(has_retried)
    await writer.add_policy("admin", "tasks", "write")
    assert await eventually(lambda: provider.check("admin", "tasks", "write"))
    retries = [record.getMessage() for record in caplog.records if record.name == LOGGER]
    assert len(retries) == 2
    assert all("AutoReconnect" in message and "retrying" in message for message in retries)
