"""CasbinProvider: Casbin's ``AsyncEnforcer`` over rules kept in the app's own collection.

Checks are answered from memory. Changes made by other processes reach this one through a
change stream on the rules collection (each change reloads the policy; bursts coalesce). On a
server without change streams (standalone) the policy is instead reloaded at check time once
it is older than ``stale_after`` seconds. Needs the ``casbin`` extra.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo.errors import InvalidOperation, OperationFailure, PyMongoError

from mdb_engine.auth.providers.casbin_models import import_casbin, load_model
from mdb_engine.errors import ConfigurationError

if TYPE_CHECKING:
    from mdb_engine.auth.providers.casbin_adapter import MongoPolicyAdapter
    from mdb_engine.core.manifest.models_auth import AuthorizationConfig
    from mdb_engine.database import ScopedCollection

__all__ = ["SEED_MARKER", "CasbinProvider"]

logger = logging.getLogger(__name__)

#: Stored beside the seeded rules, so that removing every rule does not seed them again.
SEED_MARKER = {"_id": "_seeded", "ptype": "_seeded"}

# Server errors meaning "no change streams here": standalone server, very old server.
_NO_CHANGE_STREAM_CODES = frozenset({40573, 40324})
# Delays (seconds) between attempts after a failed watch or reload: doubled up to the maximum.
RETRY_FIRST_DELAY = 1.0
RETRY_MAX_DELAY = 30.0
CLOSE_TIMEOUT = 5.0
# The enforcer methods that change only the rules in memory, by (ptype, is_added).
_MEMORY_UPDATES = {
    ("p", True): "add_named_policy",
    ("p", False): "remove_named_policy",
    ("g", True): "add_named_grouping_policy",
    ("g", False): "remove_named_grouping_policy",
}


class CasbinProvider:
    """Casbin rules of one app: in-memory checks, stored changes, cross-process refresh.

    Build it with :meth:`create`; call :meth:`close` before the engine shuts down.
    """

    def __init__(
        self,
        enforcer: Any,
        adapter: MongoPolicyAdapter,
        collection: ScopedCollection,
        config: AuthorizationConfig,
        *,
        stale_after: float,
    ) -> None:
        self._enforcer = enforcer
        self._adapter = adapter
        self._collection = collection
        self._config = config
        self._stale_after = stale_after
        self._has_roles = enforcer.get_model()["g"] is not None
        self._lock = asyncio.Lock()
        self._loaded_at = time.monotonic()
        self._is_polling = False
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def create(
        cls,
        collection: ScopedCollection,
        config: AuthorizationConfig,
        *,
        base_dir: Path | None = None,
        watch: bool = True,
        stale_after: float = 5.0,
    ) -> CasbinProvider:
        """Load the model and the stored rules, then watch for changes (unless ``watch`` is
        false: then only :meth:`reload` refreshes the rules)."""
        model = await asyncio.to_thread(load_model, config.model, base_dir=base_dir)
        from mdb_engine.auth.providers.casbin_adapter import MongoPolicyAdapter

        adapter = MongoPolicyAdapter(collection)
        enforcer = import_casbin().AsyncEnforcer(model, adapter)
        enforcer.enable_auto_save(False)  # the provider stores changes itself, storage first
        provider = cls(enforcer, adapter, collection, config, stale_after=stale_after)
        if not provider._has_roles and (
            config.initial_roles or (config.link_users_roles and config.default_roles)
        ):
            raise ConfigurationError(
                f"the Casbin model {config.model!r} has no roles ([role_definition]), but "
                "initial_roles or default_roles are set; remove them or use the 'rbac' model"
            )
        await provider.reload()
        if watch:
            provider._tasks = [
                asyncio.create_task(provider._watch(), name=f"casbin watch {collection!r}"),
                asyncio.create_task(
                    provider._reload_on_change(), name=f"casbin reload {collection!r}"
                ),
            ]
        return provider

    async def check(
        self,
        subject: str,
        resource: str,
        action: str,
        user: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether ``subject`` (directly or through its roles) may ``action`` on ``resource``.

        Answered from memory; ``user`` is not used by Casbin models.
        """
        if self._is_polling and time.monotonic() - self._loaded_at > self._stale_after:
            await self._reload_if_stale()
        return bool(self._enforcer.enforce(subject, resource, action))

    async def add_policy(self, subject: str, resource: str, action: str) -> bool:
        """Allow ``subject`` to ``action`` on ``resource``; ``False`` if already stored."""
        return await self._store("p", [subject, resource, action], is_added=True)

    async def remove_policy(self, subject: str, resource: str, action: str) -> bool:
        """Remove that rule; ``False`` if it was not stored."""
        return await self._store("p", [subject, resource, action], is_added=False)

    async def add_role_for_user(self, user: str, role: str) -> bool:
        """Give ``role`` to ``user``; ``False`` if that grant was already stored."""
        self._require_roles()
        return await self._store("g", [user, role], is_added=True)

    async def remove_role_for_user(self, user: str, role: str) -> bool:
        """Take ``role`` from ``user``; ``False`` if that grant was not stored."""
        self._require_roles()
        return await self._store("g", [user, role], is_added=False)

    async def get_roles_for_user(self, user: str) -> list[str]:
        """The roles given directly to ``user`` (empty for a model without roles)."""
        if not self._has_roles:
            return []
        return [str(role) for role in await self._enforcer.get_roles_for_user(user)]

    async def get_policies(self) -> list[list[str]]:
        """Every ``p`` rule as ``[subject, resource, action]`` (role assignments excluded)."""
        return [list(rule) for rule in self._enforcer.get_policy()]

    async def seed(self, config: AuthorizationConfig) -> bool:
        """Store ``initial_policies`` and ``initial_roles`` if the app has no stored rules yet.

        Once seeded, a marker document stays, so rules an admin removed do not come back on
        restart. Two processes seeding at once store each rule once. ``True`` if this call
        found the collection empty and seeded it.
        """
        from mdb_engine.auth.providers.casbin_adapter import rule_document

        rules = [rule_document("p", rule) for rule in config.initial_policies]
        if config.initial_roles:
            self._require_roles()
            rules += [
                rule_document("g", [grant.user, grant.role]) for grant in config.initial_roles
            ]
        if not rules or await self._collection.find_one({}, {"_id": 1}) is not None:
            return False
        await self._adapter.insert_documents([dict(SEED_MARKER), *rules])
        await self.reload()
        return True

    async def assign_default_roles(self, user_subject: str) -> None:
        """Give ``user_subject`` each of ``default_roles`` when ``link_users_roles`` is on."""
        if not self._config.link_users_roles:
            return
        for role in self._config.default_roles:
            await self.add_role_for_user(user_subject, role)

    async def reload(self) -> None:
        """Load the stored rules again, replacing those in memory."""
        async with self._lock:
            await self._load()

    async def close(self) -> None:
        """Stop watching for changes; checks keep using the rules last loaded. Idempotent."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a task stuck in the driver (seen once, not understood yet) must not
            # hang the engine's shutdown.
            done, pending = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved: a task that failed was already logged
            for task in pending:
                logger.warning("the Casbin watcher task %r did not stop in time", task.get_name())

    # -- internals ---------------------------------------------------------------------------

    async def _load(self) -> None:
        started = time.monotonic()
        await self._enforcer.load_policy()
        self._loaded_at = started

    async def _store(self, ptype: str, rule: list[str], *, is_added: bool) -> bool:
        # Storage first, then memory (the enforcer's auto-save is off): a failed write leaves
        # the rules in memory as they were. Under the lock, so that a reload cannot swap in
        # rules read before this write.
        async with self._lock:
            if is_added:
                is_changed = await self._adapter.add_policy(ptype, ptype, rule)
            else:
                is_changed = await self._adapter.remove_policy(ptype, ptype, rule)
            await getattr(self._enforcer, _MEMORY_UPDATES[ptype, is_added])(ptype, rule)
            return is_changed

    async def _reload_if_stale(self) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded_at <= self._stale_after:
                return  # another check reloaded it while this one waited
            try:
                await self._load()
            except PyMongoError as error:
                self._loaded_at = time.monotonic()  # retry after stale_after, not every check
                logger.warning(
                    "could not reload the Casbin policy of %r; checks use the rules loaded "
                    "earlier: %s",
                    self._collection,
                    error,
                )

    def _require_roles(self) -> None:
        if not self._has_roles:
            raise ConfigurationError(
                f"the Casbin model {self._config.model!r} has no roles ([role_definition])"
            )

    async def _watch(self) -> None:
        delay = RETRY_FIRST_DELAY
        while True:
            try:
                # Only the event kind is needed: every change means "reload".
                stream = await self._collection.watch([{"$project": {"operationType": 1}}])
                async with stream:
                    self._changed.set()  # changes made before the stream opened
                    async for _event in stream:
                        delay = RETRY_FIRST_DELAY
                        self._changed.set()
            except OperationFailure as error:
                if error.code in _NO_CHANGE_STREAM_CODES:
                    self._fall_back_to_polling(error)
                    return
                self._warn_retry("watch", error, delay)
            except InvalidOperation as error:  # the client was closed: nothing to retry
                logger.warning("stopped watching Casbin rules of %r: %s", self._collection, error)
                return
            except Exception as error:
                self._warn_retry("watch", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY)

    async def _reload_on_change(self) -> None:
        delay = RETRY_FIRST_DELAY
        while True:
            await self._changed.wait()
            self._changed.clear()  # changes arriving during the reload cause one more
            try:
                await self.reload()
            except Exception as error:
                self._changed.set()
                self._warn_retry("reload", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
            else:
                delay = RETRY_FIRST_DELAY

    def _fall_back_to_polling(self, error: OperationFailure) -> None:
        self._is_polling = True
        logger.warning(
            "MongoDB has no change streams here (%s): Casbin rule changes made by other "
            "processes for %r are picked up at check time once the loaded rules are older "
            "than %.0f s, not immediately; use a replica set for immediate propagation",
            error,
            self._collection,
            self._stale_after,
        )

    def _warn_retry(self, what: str, error: Exception, delay: float) -> None:
        logger.warning(
            "could not %s the Casbin rules of %r (%s: %s); retrying in %.0f s",
            what,
            self._collection,
            type(error).__name__,
            error,
            delay,
        )
