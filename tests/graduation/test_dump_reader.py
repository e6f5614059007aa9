"""Reading a dump directory: which collections, under which names, and every refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mdb_engine.errors import DumpError
from mdb_engine.graduation import read_dump
from tests.graduation.conftest import write_dump


def export_info(**changes: Any) -> dict[str, Any]:
    return {
        "format": "mdb-engine-export/1",
        "slug": "shop",
        "database": "appdb",
        "strip_prefix": False,
        **changes,
    }


def test_a_plain_dump_takes_every_collection_under_its_own_name(tmp_path: Path) -> None:
    root = write_dump(
        tmp_path,
        {"tasks": [{"a": 1}, {"a": 2}], "empty": None, "bare": [{"b": 1}]},
        metadata={
            "tasks": '{"indexes": [{"v": 2, "key": {"a": 1}, "name": "a_1"}]}',
            "empty": '{"indexes": []}',
            "open_tasks": '{"options": {"viewOn": "tasks", "pipeline": []}, "indexes": []}',
        },
    )
    (root / "appdb" / "notes.txt").write_text("not a dump file")
    (root / "appdb" / "system.views.bson").write_bytes(b"")
    (root / "prelude.json").write_text("{}")
    dump = read_dump(root)
    assert (dump.database, dump.source_slug, dump.is_prefixed, dump.manifest) == (
        "appdb",
        None,
        False,
        None,
    )
    assert [(c.name, c.document_count) for c in dump.collections] == [
        ("bare", 1),
        ("empty", 0),
        ("tasks", 2),
    ]
    assert dump.collections[1].bson_path is None  # metadata only: an empty collection
    assert dump.collections[0].metadata.indexes == ()  # .bson only: no indexes known
    assert dump.collections[2].metadata.indexes[0]["name"] == "a_1"
    assert [note.split(": ", 1)[1] for note in dump.skipped] == [
        "not a dump file",
        "a system collection",
        "a view (views are not imported)",
    ]


def test_an_engine_export_says_its_app_and_its_prefix(tmp_path: Path) -> None:
    root = write_dump(
        tmp_path,
        {"shop_tasks": [{"app_id": "shop"}], "other_x": [{"app_id": "other"}]},
        info=export_info(),
    )
    dump = read_dump(root)
    assert (dump.source_slug, dump.is_prefixed) == ("shop", True)
    assert [c.name for c in dump.collections] == ["tasks"]
    assert dump.skipped == ("appdb.other_x: not a collection of app 'shop'",)
    with pytest.raises(DumpError, match="this is an export of app 'shop', not 'blog'"):
        read_dump(root, source_slug="blog")


@pytest.mark.parametrize(
    ("info", "problem"),
    [
        (export_info(format="other/2"), "unknown format 'other/2'"),
        (export_info(slug="Bad Slug"), "has no valid 'slug' and 'database'"),
        (export_info(strip_prefix="yes"), "has no 'strip_prefix' true or false"),
        (export_info(database="gone"), "has no database directory 'gone'"),
    ],
)
def test_a_damaged_export_description_is_refused(
    tmp_path: Path, info: dict[str, Any], problem: str
) -> None:
    root = write_dump(tmp_path, {"shop_tasks": []}, info=info)
    with pytest.raises(DumpError, match=problem):
        read_dump(root)


def test_documents_of_another_app_are_refused(tmp_path: Path) -> None:
    root = write_dump(tmp_path, {"shop_tasks": [{"app_id": "shop"}, {"app_id": "blog"}]})
    with pytest.raises(DumpError, match="document #2 has app_id 'blog', not 'shop'"):
        read_dump(root, source_slug="shop")


@pytest.mark.parametrize(
    ("collections", "metadata", "options", "problem"),
    [
        ({"_private": []}, {}, {}, "collection name '_private' must not start with '_'"),
        ({}, {"m": '{"options": {"timeseries": {"timeField": "t"}}}'}, {}, "time-series"),
        ({"other_x": []}, {}, {"source_slug": "shop"}, "holds no collection to import"),
        ({"x": []}, {}, {"source_slug": "Not A Slug"}, "is not a valid app slug"),
    ],
)
def test_what_cannot_be_imported_is_refused(
    tmp_path: Path,
    collections: dict[str, Any],
    metadata: dict[str, str],
    options: dict[str, Any],
    problem: str,
) -> None:
    root = write_dump(tmp_path, collections, metadata=metadata)
    with pytest.raises(DumpError, match=problem):
        read_dump(root, **options)


def test_a_missing_or_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="is not a directory"):
        read_dump(tmp_path / "missing")
    with pytest.raises(DumpError, match="holds 0 database directories"):
        read_dump(tmp_path)
