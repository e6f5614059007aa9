"""Bad input over HTTP: a hosted app answers it with a clear 4xx, never a 500 and a traceback.

A small app served by ``create_host_app`` stores whatever JSON it is sent (as FastAPI apps
commonly do: ``body: dict`` straight into ``insert_one``). It is sent a document over MongoDB's
16 MB limit, JSON nested deeper than MongoDB (and Python's parser) accepts, bodies that are not
UTF-8 or not JSON, and the wrong content type. Each answer must be a 4xx with a JSON ``detail``
saying what was wrong; nothing is stored; the app keeps serving.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.host.conftest import Host

MB = 1024 * 1024
APP_CODE = """
from typing import Any

from bson import ObjectId
from fastapi import Depends, FastAPI, Request

from mdb_engine import ScopedDatabase
from mdb_engine.host import get_app_db

app = FastAPI()


@app.post("/docs", status_code=201)
async def add(body: dict[str, Any], db: ScopedDatabase = Depends(get_app_db)) -> dict[str, str]:
    result = await db.docs.insert_one(body)
    return {"id": str(result.inserted_id)}


@app.post("/raw", status_code=201)
async def add_raw(request: Request, db: ScopedDatabase = Depends(get_app_db)) -> dict[str, str]:
    result = await db.docs.insert_one({"body": await request.json()})
    return {"id": str(result.inserted_id)}


@app.post("/docs/{doc_id}/set")
async def set_fields(
    doc_id: str, body: dict[str, Any], db: ScopedDatabase = Depends(get_app_db)
) -> dict[str, int]:
    result = await db.docs.update_one({"_id": ObjectId(doc_id)}, {"$set": body})
    return {"modified": result.modified_count}


@app.post("/find")
async def find(body: dict[str, Any], db: ScopedDatabase = Depends(get_app_db)) -> list[Any]:
    return [str(doc["_id"]) async for doc in db.docs.find(body)]


@app.get("/count")
async def count(db: ScopedDatabase = Depends(get_app_db)) -> dict[str, int]:
    return {"count": await db.docs.count_documents({})}
"""
MANIFEST = {"schema_version": "2.0", "slug": "inbox", "name": "Inbox"}


@pytest.fixture
async def client(
    tmp_path: Path, host: Host, mongo_client: AsyncMongoClient[dict[str, Any]]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the hosted app ``inbox`` that sees a 500 as a response, as a browser
    would, instead of the exception the in-process transport raises by default."""
    folder = tmp_path / "apps" / "inbox"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    (folder / "app.py").write_text(APP_CODE, encoding="utf-8")
    app, _ = await host(tmp_path / "apps")
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://host/apps/inbox", timeout=120
    ) as served:
        yield served


def nested_json(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def assert_clear_refusal(response: httpx.Response, status: int, *words: str) -> None:
    """A JSON error with ``status`` whose detail mentions each of ``words``."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json")
    detail = json.dumps(response.json()["detail"]).lower()
    assert "traceback" not in detail
    for word in words:
        assert word in detail, (word, detail[:500])


async def stored(client: httpx.AsyncClient) -> int:
    response = await client.get("/count")
    assert response.status_code == 200, response.text
    count = response.json()["count"]
    assert isinstance(count, int)
    return count


# -- oversized documents ----------------------------------------------------------------------


async def test_a_large_document_under_the_limit_is_stored(client: httpx.AsyncClient) -> None:
    response = await client.post("/docs", json={"blob": "x" * (15 * MB)})

    assert response.status_code == 201, response.text[:500]
    assert await stored(client) == 1


@pytest.mark.parametrize("route", ["/docs", "/raw"])
async def test_a_document_over_16_mb_is_a_413(client: httpx.AsyncClient, route: str) -> None:
    response = await client.post(route, json={"blob": "x" * (17 * MB)})

    assert_clear_refusal(response, 413, "16")
    assert await stored(client) == 0


async def test_many_fields_adding_up_to_more_than_16_mb_is_a_413(
    client: httpx.AsyncClient,
) -> None:
    body = {f"field_{i}": "y" * 1_000 for i in range(17_500)}

    response = await client.post("/docs", json=body)

    assert_clear_refusal(response, 413, "16")
    assert await stored(client) == 0


async def test_an_update_that_grows_a_document_past_16_mb_is_a_413(
    client: httpx.AsyncClient,
) -> None:
    """The server refuses it (BSONObjectTooLarge): the client is told why, nothing changes."""
    created = await client.post("/docs", json={"a": "x" * (9 * MB)})
    assert created.status_code == 201, created.text[:300]

    response = await client.post(f"/docs/{created.json()['id']}/set", json={"b": "y" * (9 * MB)})

    assert_clear_refusal(response, 413, "16")
    assert await stored(client) == 1


# -- deep nesting -----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [10_000, 100_000])
@pytest.mark.parametrize("route", ["/docs", "/find"])
async def test_json_nested_past_the_parser_is_a_4xx(
    client: httpx.AsyncClient, route: str, depth: int
) -> None:
    response = await client.post(
        route, content=nested_json(depth), headers={"content-type": "application/json"}
    )

    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert "detail" in response.json()
    assert await stored(client) == 0


# Depths the JSON parser always takes. Somewhere past about 600 levels Python's own parser (in
# FastAPI, or in an app's request.json()) gives up first, at a depth that depends on how deep the
# interpreter's stack already is (a coverage run is deeper); past the parser is the test above.
@pytest.mark.parametrize("depth", [190, 250, 400])
@pytest.mark.parametrize("route", ["/docs", "/raw"])
async def test_a_document_nested_deeper_than_mongodb_accepts_is_a_400(
    client: httpx.AsyncClient, route: str, depth: int
) -> None:
    """Python parses it; MongoDB refuses documents nested past its limit (the engine before
    sending, or the server): either way the client is told, with a 4xx, not a 500."""
    response = await client.post(
        route, content=nested_json(depth), headers={"content-type": "application/json"}
    )

    assert_clear_refusal(response, 400, "nested")
    assert await stored(client) == 0


@pytest.mark.parametrize("depth", [70, 130])  # 3 levels each: 210 and 390
async def test_a_filter_nested_deeper_than_mongodb_accepts_is_a_400(
    client: httpx.AsyncClient, depth: int
) -> None:
    condition = "1"
    for _ in range(depth):
        condition = '{"$and": [{"n": ' + condition + "}]}"
    response = await client.post(
        "/find", content=condition, headers={"content-type": "application/json"}
    )

    assert_clear_refusal(response, 400, "nested")


# -- not JSON, not UTF-8, not the right type --------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"title": "\xff\xfe"}',
        b'{"title": "\xc3("}',
        b"\xef\xbb\xbf{}",  # a byte order mark
        b'{"title": "\\ud800"}',  # a lone surrogate, escaped
        b'{"title": "x", }',
        b"{" * 1_000,
        b"",
        b"null",
        b"[1, 2]",
        b'"just a string"',
        b'{"n": NaN}',
        b'{"n": 1e999}',
        b'{"n": ' + b"9" * 5_000 + b"}",
        b"\x00" * 100,
    ],
    ids=[
        "invalid-utf8",
        "truncated-utf8",
        "bom",
        "lone-surrogate",
        "trailing-comma",
        "unclosed",
        "empty",
        "null",
        "array",
        "string",
        "nan",
        "infinity",
        "5000-digit-integer",
        "nul-bytes",
    ],
)
async def test_bodies_that_are_not_a_json_object_are_a_4xx(
    client: httpx.AsyncClient, content: bytes
) -> None:
    """Parsed by FastAPI (an app that calls ``request.json()`` itself handles its errors)."""
    response = await client.post(
        "/docs", content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code == 201:  # accepted as JSON (NaN, a BOM, null...): stored as given
        assert await stored(client) == 1
    else:
        assert 400 <= response.status_code < 500
        assert "detail" in response.json()


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/xml",
        None,
    ],
)
async def test_the_wrong_content_type_is_a_4xx(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}

    response = await client.post("/docs", content=b'{"title": "caf\xe9"}', headers=headers)

    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert await stored(client) == 0


async def test_the_app_keeps_serving_after_bad_input(client: httpx.AsyncClient) -> None:
    await client.post("/docs", json={"blob": "x" * (17 * MB)})
    await client.post(
        "/docs", content=nested_json(250), headers={"content-type": "application/json"}
    )
    await client.post("/docs", content=nested_json(10_000), headers={"content-type": "text/x"})

    response = await client.post("/docs", json={"title": "fine"})

    assert response.status_code == 201, response.text
    assert await stored(client) == 1
