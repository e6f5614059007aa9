"""A Casbin async adapter that keeps one app's rules in its scoped collection.

Each rule is one document ``{"_id": rule_id(ptype, rule), "ptype": "p", "v0": ..., "v1": ...}``
(the engine adds ``app_id``). The ``_id`` is derived from the rule itself, so two processes
adding the same rule at the same time store one document: the second insert meets a duplicate
key and is counted as "already there". Needs the ``casbin`` extra.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from casbin.persist.adapters.asyncio import AsyncAdapter, AsyncBatchAdapter
from pymongo.errors import BulkWriteError, DuplicateKeyError

if TYPE_CHECKING:
    from mdb_engine.database import ScopedCollection

__all__ = ["MongoPolicyAdapter", "document_rule", "rule_document", "rule_id"]

_DUPLICATE_KEY = 11000
_RULE_SECTIONS = ("p", "g")


def rule_id(ptype: str, rule: Sequence[str]) -> str:
    """The ``_id`` of a rule: a SHA-256 of its unambiguous JSON form ``[ptype, v0, v1, ...]``."""
    encoded = json.dumps([ptype, *rule], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def rule_document(ptype: str, rule: Sequence[str]) -> dict[str, Any]:
    """The document that stores ``rule`` of type ``ptype``."""
    document: dict[str, Any] = {"_id": rule_id(ptype, rule), "ptype": ptype}
    document.update((f"v{index}", value) for index, value in enumerate(rule))
    return document


def document_rule(document: dict[str, Any]) -> tuple[str, list[str]]:
    """The ``(ptype, rule)`` stored in ``document``: ``v0``, ``v1``, ... up to the first gap."""
    rule: list[str] = []
    while f"v{len(rule)}" in document:
        rule.append(str(document[f"v{len(rule)}"]))
    return str(document["ptype"]), rule


class MongoPolicyAdapter(AsyncAdapter, AsyncBatchAdapter):  # type: ignore[misc]
    """Loads and auto-saves the rules of a Casbin ``AsyncEnforcer`` in a ``ScopedCollection``.

    The write methods return ``False`` when nothing changed in the database (the rule was
    already stored, or already gone), which the enforcer passes on to its caller.
    """

    def __init__(self, collection: ScopedCollection) -> None:
        self._collection = collection

    async def load_policy(self, model: Any) -> None:
        """Add every stored rule of the rule types ``model`` defines to ``model``."""
        async for document in self._collection.find({"ptype": {"$in": _model_ptypes(model)}}):
            ptype, rule = document_rule(document)
            model[ptype[:1]][ptype].policy.append(rule)

    async def save_policy(self, model: Any) -> bool:
        """Make the stored rules exactly those of ``model`` (other documents are kept)."""
        documents = [rule_document(ptype, rule) for ptype, rule in _model_rules(model)]
        await self.insert_documents(documents)
        await self._collection.delete_many(
            {
                "_id": {"$nin": [document["_id"] for document in documents]},
                "ptype": {"$in": _model_ptypes(model)},
            }
        )
        return True

    async def add_policy(self, sec: str, ptype: str, rule: Sequence[str]) -> bool:
        """Store one rule; ``False`` when it was already stored."""
        try:
            await self._collection.insert_one(rule_document(ptype, rule))
        except DuplicateKeyError:
            return False
        return True

    async def add_policies(self, sec: str, ptype: str, rules: Iterable[Sequence[str]]) -> bool:
        """Store rules; ``False`` when all of them were already stored."""
        inserted = await self.insert_documents([rule_document(ptype, rule) for rule in rules])
        return inserted > 0

    async def remove_policy(self, sec: str, ptype: str, rule: Sequence[str]) -> bool:
        """Delete one rule; ``False`` when it was not stored."""
        result = await self._collection.delete_one({"_id": rule_id(ptype, rule)})
        return result.deleted_count > 0

    async def remove_policies(self, sec: str, ptype: str, rules: Iterable[Sequence[str]]) -> bool:
        """Delete rules; ``False`` when none of them was stored."""
        ids = [rule_id(ptype, rule) for rule in rules]
        result = await self._collection.delete_many({"_id": {"$in": ids}})
        return result.deleted_count > 0

    async def remove_filtered_policy(
        self, sec: str, ptype: str, field_index: int, *field_values: str
    ) -> bool:
        """Delete the rules whose fields from ``field_index`` on match (``""`` matches any)."""
        query: dict[str, Any] = {"ptype": ptype}
        for offset, value in enumerate(field_values):
            if value != "":
                query[f"v{field_index + offset}"] = value
        result = await self._collection.delete_many(query)
        return result.deleted_count > 0

    async def insert_documents(self, documents: list[dict[str, Any]]) -> int:
        """Insert documents, skipping those whose ``_id`` is already stored; how many were new."""
        if not documents:
            return 0
        try:
            result = await self._collection.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            details = error.details
            is_only_duplicates = not details.get("writeConcernErrors") and all(
                failure.get("code") == _DUPLICATE_KEY for failure in details.get("writeErrors", [])
            )
            if not is_only_duplicates:
                raise
            return int(details.get("nInserted", 0))
        return len(result.inserted_ids)


def _model_ptypes(model: Any) -> list[str]:
    return [ptype for section in _RULE_SECTIONS for ptype in (model[section] or {})]


def _model_rules(model: Any) -> list[tuple[str, list[str]]]:
    return [
        (ptype, list(rule))
        for section in _RULE_SECTIONS
        for ptype, assertion in (model[section] or {}).items()
        for rule in assertion.policy
    ]
