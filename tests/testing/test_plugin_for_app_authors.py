"""The plugin as an app author uses it: a separate pytest run of the README's example."""

from __future__ import annotations

import json

import pytest

README_TEST = """
async def test_insert(engine, command_log):
    await engine.register_app("manifest.json")
    await engine.get_scoped_db("my_app").tasks.insert_one({"title": "t"})
    [insert] = command_log.named("insert")
    assert insert.collection == "my_app_tasks"


async def test_uses_the_configured_server(engine, mongodb_uri, mongo_client):
    assert mongodb_uri == "%s"
    assert engine.db_name.startswith("mdbtest_")
    await engine.register_app("manifest.json")  # creates the fresh database
    assert engine.db_name in await mongo_client.list_database_names()
"""


def test_an_app_author_runs_the_readme_example(
    pytester: pytest.Pytester, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MDB_ENGINE_TEST_URI", mongodb_uri)
    pytester.makeconftest('pytest_plugins = ["mdb_engine.testing"]')
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    manifest = {"schema_version": "2.0", "slug": "my_app", "name": "My App"}
    (pytester.path / "manifest.json").write_text(json.dumps(manifest))
    pytester.makepyfile(test_tasks=README_TEST % mongodb_uri)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
