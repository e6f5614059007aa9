"""Mem0Memory's configuration and its error without the extra (no Mem0 calls here).

The calls themselves are tested on real mem0ai in ``test_memory_mem0_real.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mdb_engine.errors import ConfigurationError, OptionalDependencyMissing
from mdb_engine.memory import Mem0Memory, load_mem0_config


def test_config_comes_from_the_argument_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
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
    monkeypatch.setenv("MDB_ENGINE_MEM0_CONFIG", "{not json")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_mem0_config()
    monkeypatch.setenv("MDB_ENGINE_MEM0_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigurationError, match="readable file"):
        load_mem0_config()


async def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mem0", None)  # what an install without mem0ai sees
    with pytest.raises(OptionalDependencyMissing, match=r"mdb-engine\[mem0\]"):
        await Mem0Memory.create("diary", config={"version": "v1.1"})
