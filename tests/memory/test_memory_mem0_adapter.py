"""Mem0Memory's mapping and scoping, on a fake with AsyncMemory's shape (NOT real mem0ai).

The fake mirrors mem0ai 2.x's AsyncMemory signatures and answers ({"results": [...]},
bare-id get/update/delete); the adapter has not been run against the real package here.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from mdb_engine.errors import ConfigurationError, OptionalDependencyMissing
from mdb_engine.memory import Mem0Memory, MemoryStore, load_mem0_config


class FakeAsyncMemory:
    """Stores each message as one memory (like ``infer=False``); entity ids in the payload."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(1)

    async def add(self, messages: Any, *, user_id: str, metadata: Any, infer: bool) -> Any:
        self.calls.append(("add", {"user_id": user_id, "infer": infer}))
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        results = []
        for message in messages:
            memory_id = f"m{next(self._ids)}"
            self.items[memory_id] = {
                "id": memory_id,
                "memory": message["content"],
                "user_id": user_id,
                "metadata": dict(metadata),
                "created_at": f"2025-01-01T00:00:{len(self.items):02d}+00:00",
            }
            results.append({"id": memory_id, "memory": message["content"], "event": "ADD"})
        results.append({"id": "gone", "memory": "old", "event": "DELETE"})
        return {"results": results}

    def _matching(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            item
            for item in self.items.values()
            if item["user_id"] == filters["user_id"]
            and all(item["metadata"].get(k) == v for k, v in filters.items() if k != "user_id")
        ]

    async def search(self, query: str, *, top_k: int, filters: dict[str, Any]) -> Any:
        self.calls.append(("search", {"top_k": top_k, "filters": filters}))
        found = [{**item, "score": 0.5} for item in self._matching(filters)]
        return {"results": found[:top_k]}

    async def get_all(self, *, filters: dict[str, Any], top_k: int) -> Any:
        return {"results": self._matching(filters)[:top_k]}

    async def get(self, memory_id: str) -> Any:
        return self.items.get(memory_id)

    async def update(self, memory_id: str, text: str, metadata: Any = None) -> Any:
        self.items[memory_id]["memory"] = text
        if metadata is not None:
            self.items[memory_id]["metadata"] = metadata
        return {"message": "Memory updated successfully!"}

    async def delete(self, memory_id: str) -> Any:
        del self.items[memory_id]

    async def delete_all(self, user_id: str) -> Any:
        for memory_id in [k for k, v in self.items.items() if v["user_id"] == user_id]:
            del self.items[memory_id]
        return {"message": "Memories deleted successfully!"}


async def test_the_adapter_maps_and_scopes_every_call() -> None:
    fake = FakeAsyncMemory()
    diary = Mem0Memory(fake, slug="diary")
    notes = Mem0Memory(fake, slug="notes", infer=False)
    assert isinstance(diary, MemoryStore)
    [ana] = await diary.add("likes tea", user_id="ana", metadata={"topic": "food"})
    assert ana.memory == "likes tea"
    assert ana.user_id == "ana"
    assert fake.calls[0] == ("add", {"user_id": "diary:ana", "infer": True})
    await diary.add("bob's", user_id="bob")
    await notes.add([{"role": "user", "content": "notes of ana"}], user_id="ana")
    assert fake.calls[-1] == ("add", {"user_id": "notes:ana", "infer": False})

    [hit] = await diary.search("tea", user_id="ana", limit=3, filters={"topic": "food"})
    assert (hit.memory, hit.score, hit.user_id) == ("likes tea", 0.5, "ana")
    assert hit.metadata == {"topic": "food"}
    assert fake.calls[-1][1] == {"top_k": 3, "filters": {"topic": "food", "user_id": "diary:ana"}}
    assert [m.memory for m in await notes.get_all(user_id="ana")] == ["notes of ana"]

    # Another user or another app cannot reach the memory by its id.
    for store, user in ((diary, "bob"), (notes, "ana")):
        assert await store.get(ana.id, user_id=user) is None
        assert await store.update(ana.id, "x", user_id=user) is None
        assert await store.delete(ana.id, user_id=user) is False
    updated = await diary.update(ana.id, "loves tea", user_id="ana")
    assert updated is not None
    assert updated.memory == "loves tea"
    assert updated.created_at is not None
    assert updated.created_at.tzinfo is not None
    assert await diary.delete_all(user_id="ana") == 1
    assert await diary.delete_all(user_id="ana") == 0
    assert [m.memory for m in await diary.get_all(user_id="bob")] == ["bob's"]
    assert await diary.delete(ana.id, user_id="ana") is False
    with pytest.raises(ConfigurationError, match="user_id"):
        await diary.search("x", user_id="")
    with pytest.raises(ValueError, match="scope"):
        await diary.search("x", user_id="ana", filters={"user_id": "eve"})
    await diary.aclose()


def test_config_comes_from_the_argument_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("MDB_ENGINE_MEM0_CONFIG", raising=False)
    with pytest.raises(ConfigurationError, match="MDB_ENGINE_MEM0_CONFIG"):
        load_mem0_config()
    given = {"llm": {"provider": "openai"}}
    assert load_mem0_config(given) == given
    assert load_mem0_config(given) is not given
    monkeypatch.setenv("MDB_ENGINE_MEM0_CONFIG", '{"version": "v1.1"}')
    assert load_mem0_config() == {"version": "v1.1"}
    path = tmp_path / "mem0.json"
    path.write_text('{"version": "file"}')
    monkeypatch.setenv("MDB_ENGINE_MEM0_CONFIG", str(path))
    assert load_mem0_config() == {"version": "file"}
    monkeypatch.setenv("MDB_ENGINE_MEM0_CONFIG", "[1]")
    with pytest.raises(ConfigurationError):
        load_mem0_config()


async def test_without_the_extra_the_error_names_it() -> None:
    try:
        import mem0  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover
        pytest.skip("mem0ai is installed")
    with pytest.raises(OptionalDependencyMissing, match=r"mdb-engine\[mem0\]"):
        await Mem0Memory.create("diary", config={"version": "v1.1"})
