"""mongodump's files: metadata in canonical Extended JSON, BSON files read with checks."""

from __future__ import annotations

import json
from pathlib import Path

import bson
import pytest
from bson import Int64, ObjectId

from mdb_engine.errors import DumpError
from mdb_engine.graduation.dump_format import (
    CollectionMetadata,
    bson_file_name,
    collection_from_file_name,
    decode_metadata,
    encode_metadata,
    iter_bson_file,
    metadata_file_name,
)

INDEXES = (
    {"v": 2, "key": {"_id": 1}, "name": "_id_"},
    {"v": 2, "key": {"b": 1, "a": -1}, "name": "b_1_a_-1", "unique": True},
    {"v": 2, "key": {"at": 1}, "name": "at_1", "expireAfterSeconds": Int64(60)},
)


def test_metadata_is_written_as_mongodump_writes_it() -> None:
    metadata = CollectionMetadata(
        "shop_tasks", {"collation": {"locale": "fr", "strength": 2}}, INDEXES, "ab" * 16
    )
    text = encode_metadata(metadata)
    # Key order and canonical Extended JSON (typed numbers), no spaces: mongodump 100.x.
    assert text.startswith('{"options":{"collation":{"locale":"fr","strength":{"$numberInt":"2"}}}')
    assert list(json.loads(text)) == ["options", "indexes", "uuid", "collectionName", "type"]
    assert '"key":{"b":{"$numberInt":"1"},"a":{"$numberInt":"-1"}}' in text
    assert '"expireAfterSeconds":{"$numberLong":"60"}' in text
    assert text.endswith(
        '"uuid":"' + "ab" * 16 + '","collectionName":"shop_tasks","type":"collection"}'
    )
    decoded = decode_metadata(text, "x.metadata.json", "shop_tasks")
    assert decoded == metadata
    assert list(decoded.indexes[1]["key"]) == ["b", "a"]  # key order survives
    assert type(decoded.indexes[2]["expireAfterSeconds"]) is Int64


def test_empty_options_are_left_out_and_old_metadata_is_read() -> None:
    text = encode_metadata(CollectionMetadata("tasks", {}, INDEXES[:1]))
    assert list(json.loads(text)) == ["indexes", "collectionName", "type"]
    # A file from an older mongodump: relaxed JSON, no collectionName, no type.
    old = '{"options":{"viewOn":"tasks","pipeline":[]},"indexes":[]}'
    assert decode_metadata(old, "v.metadata.json", "v").is_view
    assert decode_metadata("", "e.metadata.json", "e") == CollectionMetadata("e")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"indexes": [', "not valid Extended JSON"),
        ("[]", "not a JSON object"),
        ('{"indexes": {}}', "'indexes' is not an array"),
        ('{"indexes": [{"name": "a_1"}]}', "indexes[0] has no 'key' object"),
        ('{"indexes": [{"key": {"a": 1}}]}', "indexes[0] has no 'name'"),
        ('{"options": 3}', "'options' is not an object"),
        ('{"collectionName": "other"}', "does not match the file name"),
        ('{"uuid": 5}', "'uuid' is not a string"),
        ('{"type": "table"}', "unknown collection type 'table'"),
        ('{"indexes": [{"key": {"a": {"$numberInt": "x"}}, "name": "a"}]}', "Extended JSON"),
    ],
)
def test_invalid_metadata_names_the_file_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(DumpError) as caught:
        decode_metadata(text, "dump/db/tasks.metadata.json", "tasks")
    assert str(caught.value).startswith("dump/db/tasks.metadata.json: ")
    assert problem in str(caught.value)
    assert caught.value.hint


def test_file_names_are_escaped_like_mongodump() -> None:
    assert bson_file_name("shop_tasks.v2") == "shop_tasks.v2.bson"
    assert metadata_file_name("a/b c") == "a%2Fb%20c.metadata.json"
    assert collection_from_file_name("a%2Fb%20c.metadata.json") == ("a/b c", "metadata")
    assert collection_from_file_name("tasks.bson") == ("tasks", "bson")
    assert collection_from_file_name("notes.txt") is None
    assert collection_from_file_name(".bson") is None


def write_documents(path: Path, count: int) -> bytes:
    data = b"".join(bson.encode({"_id": ObjectId(), "n": n, "pad": "x" * n}) for n in range(count))
    path.write_bytes(data)
    return data


def test_a_complete_file_is_read_document_by_document(tmp_path: Path) -> None:
    path = tmp_path / "tasks.bson"
    data = write_documents(path, 5)
    assert b"".join(iter_bson_file(path)) == data
    (tmp_path / "empty.bson").write_bytes(b"")
    assert list(iter_bson_file(tmp_path / "empty.bson")) == []


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda data: data[:-3], "document #5 at byte"),
        (lambda data: data + b"\x10\x00", "document #6 at byte"),
        (lambda data: data + b"\xff\xff\xff\x7f" + b"\x00" * 10, "impossible size"),
        (lambda data: data[:21] + b"\x99" + data[22:], "not valid BSON"),  # a type byte
    ],
    ids=["cut-in-body", "cut-in-header", "impossible-size", "corrupt-byte"],
)
def test_a_damaged_file_is_refused_with_where_and_why(
    tmp_path: Path, damage: object, problem: str
) -> None:
    path = tmp_path / "tasks.bson"
    data = write_documents(path, 5)
    path.write_bytes(damage(data))  # type: ignore[operator]
    with pytest.raises(DumpError) as caught:
        list(iter_bson_file(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "cut off while being written or copied" in message
