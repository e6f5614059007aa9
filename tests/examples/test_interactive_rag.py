"""examples/interactive_rag end to end, offline: documents ingested over HTTP and embedded by
the bundled local model into a real mongod, searched by meaning, and questions answered by
the chat stand-in from the retrieved chunks, with numbered sources."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from bson import ObjectId
from chat_standin import ChatStandIn
from playwright.async_api import expect
from pymongo import AsyncMongoClient

from mdb_engine.embeddings import LocalEmbeddingProvider
from mdb_engine.host import create_host_app
from tests.browser import launch_chromium, save_screenshot
from tests.cli.processes import free_port
from tests.examples.conftest import EXAMPLES
from tests.host.conftest import Host
from tests.http_standin import QueuedAnswer

APP_DIR = EXAMPLES / "interactive_rag"
PREFIX = "/apps/interactive_rag"

BREAD = {
    "title": "Sourdough baking",
    "text": (
        "A sourdough starter is a culture of wild yeast and lactic acid bacteria kept in flour "
        "and water. Feed it every day and use it when it has doubled and smells pleasantly "
        "sour.\n\nBake the loaf in a preheated Dutch oven at 250 degrees Celsius for twenty "
        "minutes with the lid on, then lower the oven to 220 degrees and bake another twenty "
        "minutes without the lid, until the crust is deep brown."
    ),
}
BIKES = {
    "title": "Bicycle maintenance",
    "text": (
        "Clean and lubricate the bicycle chain every few hundred kilometres, and after every "
        "ride in the rain. Wipe off the old grime, put one drop of chain oil on each roller, "
        "then wipe away the excess so that dirt does not stick to it.\n\nCheck the tyre "
        "pressure every week: road tyres want six to eight bar, mountain bike tyres much "
        "less. Replace brake pads when the grooves in the rubber are worn away.\n\nBefore a "
        "long tour, true the wheels so that the rims run straight between the brake pads, "
        "tighten any loose spokes a quarter turn at a time, check that the headset turns "
        "freely without play, and make sure the quick releases and thru-axles are closed "
        "firmly. Adjust the derailleur limit screws so that the chain can never fall off the "
        "largest or the smallest sprocket, and replace a stretched chain before it wears out "
        "the cassette and the chainrings, which cost far more to replace than a chain does."
        "\n\nAfter the tour, hang the bicycle in a dry shed, let the tyres down a little if it "
        "will stand for months, and grease the seat post and the pedal threads so that they "
        "do not seize. Bearings in the hubs and the bottom bracket last for years when they "
        "are sealed, but open cup-and-cone hubs want fresh grease every season."
    ),
}
ASYNCIO_MARKDOWN = (
    "# Python asyncio notes\n\n"
    "An event loop runs coroutines. `await` suspends a coroutine until the awaited thing is "
    "done, letting the loop run other tasks meanwhile.\n\n"
    "## Blocking calls\n\n"
    "Never call `time.sleep` or other blocking functions inside a coroutine: run them with "
    "`asyncio.to_thread` so the event loop keeps serving other tasks.\n"
)

LLM_VARIABLES = (
    "MDB_ENGINE_LLM_MODEL",
    "OPENAI_MODEL",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_DEPLOYMENT",
    "AZURE_OPENAI_API_KEY",
)


def completion(content: str) -> QueuedAnswer:
    """A chat completion answering ``content``."""
    message = {"role": "assistant", "content": content}
    return QueuedAnswer(200, {"choices": [{"index": 0, "message": message}]})


def sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """The ``(event, data)`` pairs of a server-sent events body."""
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def add(client: httpx.AsyncClient, document: dict[str, str]) -> dict[str, Any]:
    response = await client.post(f"{PREFIX}/documents", json=document)
    assert response.status_code == 201, response.text
    stored: dict[str, Any] = response.json()
    return stored


async def test_served_app_ingests_searches_answers_and_deletes(
    serve: Any,
    llm_env: dict[str, str],
    chat_server: ChatStandIn,
    mongodb_uri: str,
    mongodb_database: str,
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> None:
    base = serve(APP_DIR, "--mongo-uri", mongodb_uri, "--db", mongodb_database, env=llm_env)
    database = mongo_client[mongodb_database]
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        bread = await add(client, BREAD)  # the first one loads the model in the server
        bikes = await add(client, BIKES)
        upload = await client.post(
            f"{PREFIX}/documents/upload",
            files={"file": ("asyncio-notes.md", ASYNCIO_MARKDOWN.encode(), "text/markdown")},
        )
        assert upload.status_code == 201, upload.text
        notes = upload.json()
        assert notes["title"] == "asyncio-notes"
        assert notes["filename"] == "asyncio-notes.md"

        one = (await client.get(f"{PREFIX}/documents/{bread['id']}")).json()
        assert one["text"] == BREAD["text"]
        assert one["chunk_count"] == bread["chunk_count"]
        listed = (await client.get(f"{PREFIX}/documents")).json()
        assert [doc["title"] for doc in listed] == ["asyncio-notes", BIKES["title"], BREAD["title"]]

        # What MongoDB holds: the app's prefixed collections, tagged, with 384-dim vectors.
        chunks = await database["interactive_rag_chunks"].find().to_list()
        ids = {doc["id"]: doc for doc in (bread, bikes, notes)}
        assert {str(chunk["source_id"]) for chunk in chunks} == set(ids)
        for chunk in chunks:
            assert chunk["app_id"] == "interactive_rag"
            assert len(chunk["embedding"]) == 384
            assert chunk["metadata"]["title"] == ids[str(chunk["source_id"])]["title"]
        for document_id, document in ids.items():
            mine = [chunk for chunk in chunks if str(chunk["source_id"]) == document_id]
            assert sorted(chunk["chunk_index"] for chunk in mine) == list(range(len(mine)))
            assert len(mine) == document["chunk_count"] >= 1
        records = await database["interactive_rag_documents"].find().to_list()
        assert {str(record["_id"]) for record in records} == set(ids)
        assert {record["app_id"] for record in records} == {"interactive_rag"}
        assert bikes["chunk_count"] >= 2  # longer than one chunk of 200 tokens
        assert "chunks" not in await database.list_collection_names()

        for query, expected in [
            ("How hot should the oven be to bake bread?", bread),
            ("How often should I oil my chain?", bikes),
            ("Why must a coroutine not call time.sleep?", notes),
        ]:
            found = await client.post(f"{PREFIX}/search", json={"query": query, "k": 3})
            assert found.status_code == 200, found.text
            results = found.json()["results"]
            assert results[0]["document_id"] == expected["id"], (query, results)
            assert results[0]["title"] == expected["title"]
            scores = [result["score"] for result in results]
            assert scores == sorted(scores, reverse=True)
            assert scores[0] > 0.3  # the cosine similarity: related
            assert all(-1 <= score <= 1 for score in scores)

        chat_server.queue(completion("Bake it at 250 °C, then at 220 °C [1]."))
        question = "At what temperature do I bake sourdough?"
        asked = await client.post(f"{PREFIX}/ask", json={"question": question, "k": 2})
        assert asked.status_code == 200, asked.text
        answered = asked.json()
        assert answered["answer"] == "Bake it at 250 °C, then at 220 °C [1]."
        sources = answered["sources"]
        assert [source["number"] for source in sources] == [1, 2]
        assert sources[0]["document_id"] == bread["id"]
        assert "250 degrees Celsius" in sources[0]["text"]
        [request] = chat_server.requests
        assert request.body["model"] == "standin-model"
        prompt = request.body["messages"][-1]["content"]
        assert f"[1] {BREAD['title']}" in prompt
        assert sources[0]["text"] in prompt
        assert sources[1]["text"] in prompt
        assert question in prompt

        deleted = await client.delete(f"{PREFIX}/documents/{bikes['id']}")
        assert deleted.json() == {"deleted": bikes["id"], "chunks_deleted": bikes["chunk_count"]}
        chunk_filter = {"source_id": ObjectId(bikes["id"])}
        assert await database["interactive_rag_chunks"].count_documents(chunk_filter) == 0
        assert await database["interactive_rag_chunks"].count_documents({}) == len(chunks) - len(
            [chunk for chunk in chunks if str(chunk["source_id"]) == bikes["id"]]
        )
        listed = (await client.get(f"{PREFIX}/documents")).json()
        assert [doc["id"] for doc in listed] == [notes["id"], bread["id"]]
        found = await client.post(f"{PREFIX}/search", json={"query": "oil the chain", "k": 20})
        assert bikes["id"] not in {result["document_id"] for result in found.json()["results"]}
        assert (await client.delete(f"{PREFIX}/documents/{bikes['id']}")).status_code == 404

        health = await client.get(f"{PREFIX}/health")
        assert health.json() == {"status": "alive"}


async def test_without_an_llm_ask_is_503_naming_the_variables_and_search_works(
    host: Host, local_model: LocalEmbeddingProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in LLM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    _, client = await host(APP_DIR)
    bread = await add(client, BREAD)

    found = await client.post(f"{PREFIX}/search", json={"query": "oven temperature"})
    assert found.status_code == 200
    assert [result["document_id"] for result in found.json()["results"]] == [bread["id"]]

    for path in ("/ask", "/ask/stream"):
        asked = await client.post(f"{PREFIX}{path}", json={"question": "How hot?"})
        assert asked.status_code == 503, path
        detail = asked.json()["detail"]
        assert "no LLM model is configured" in detail
        assert "MDB_ENGINE_LLM_MODEL" in detail
        assert "OPENAI_BASE_URL" in detail
        assert "search works without one" in detail


async def test_streamed_answer_sends_sources_then_the_pieces(
    host: Host,
    local_model: LocalEmbeddingProvider,
    llm_env: dict[str, str],
    chat_server: ChatStandIn,
) -> None:
    _, client = await host(APP_DIR)
    bread = await add(client, BREAD)
    uploaded = await client.post(
        f"{PREFIX}/documents/upload",
        data={"title": BIKES["title"]},
        files={"file": ("bikes.txt", BIKES["text"].encode(), "text/plain")},
    )
    assert uploaded.status_code == 201
    assert uploaded.json()["title"] == BIKES["title"]

    question = "How do I keep a bicycle chain running smoothly?"
    response = await client.post(f"{PREFIX}/ask/stream", json={"question": question, "k": 1})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)

    name, first = events[0]
    assert name == "sources"
    [source] = first["sources"]
    assert source["number"] == 1
    assert source["title"] == BIKES["title"]
    assert source["document_id"] != bread["id"]
    [request] = chat_server.requests
    assert request.body["stream"] is True
    prompt = request.body["messages"][-1]["content"]
    assert source["text"] in prompt
    assert BREAD["text"] not in prompt
    pieces = [data["text"] for name, data in events[1:-1]]
    assert {name for name, _ in events[1:-1]} == {"delta"}
    assert len(pieces) > 1  # the stand-in streams one word per event
    assert events[-1] == ("done", {"answer": "echo: " + prompt})
    assert "".join(pieces) == "echo: " + prompt


async def test_ask_with_nothing_stored_does_not_call_the_llm(
    host: Host,
    local_model: LocalEmbeddingProvider,
    llm_env: dict[str, str],
    chat_server: ChatStandIn,
) -> None:
    _, client = await host(APP_DIR)
    asked = await client.post(f"{PREFIX}/ask", json={"question": "Anything?"})
    assert asked.status_code == 200
    assert asked.json()["sources"] == []
    assert "no documents" in asked.json()["answer"]
    assert chat_server.requests == []


async def test_a_failing_llm_is_a_502_with_its_reason(
    host: Host,
    local_model: LocalEmbeddingProvider,
    llm_env: dict[str, str],
    chat_server: ChatStandIn,
) -> None:
    _, client = await host(APP_DIR)
    await add(client, BREAD)
    chat_server.queue(QueuedAnswer(401, {"error": {"message": "bad key"}}))
    asked = await client.post(f"{PREFIX}/ask", json={"question": "How hot?"})
    assert asked.status_code == 502
    assert asked.json()["detail"].startswith("the LLM failed:")
    assert "OPENAI_API_KEY" in asked.json()["detail"]


async def test_bad_input_is_a_clear_4xx_and_stores_nothing(
    host: Host,
    local_model: LocalEmbeddingProvider,
    mongodb_database: str,
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> None:
    _, client = await host(APP_DIR)
    documents, upload = f"{PREFIX}/documents", f"{PREFIX}/documents/upload"

    refused = {
        "empty text": await client.post(documents, json={"title": "t", "text": ""}),
        "blank text": await client.post(documents, json={"title": "t", "text": " \n\t "}),
        "no title": await client.post(documents, json={"text": "some text"}),
        "text not a string": await client.post(documents, json={"title": "t", "text": 3}),
        "not JSON": await client.post(documents, content=b"{nope", headers=_json),
        "text too long": await client.post(documents, json={"title": "t", "text": "a" * 100_001}),
        "body too large": await client.post(documents, content=b"x" * (1024 * 1024 + 1)),
        "upload without file": await client.post(upload, data={"title": "t"}),
        "binary upload": await client.post(
            upload, files={"file": ("a.png", b"\x89PNG", "image/png")}
        ),
        "not UTF-8": await client.post(upload, files={"file": ("a.txt", b"caf\xe9", "text/plain")}),
        "NUL bytes": await client.post(upload, files={"file": ("a.txt", b"a\x00b", "text/plain")}),
        "empty upload": await client.post(
            upload, files={"file": ("a.md", b"  \n", "text/markdown")}
        ),
        "long upload": await client.post(
            upload, files={"file": ("a.txt", b"a" * 100_001, "text/plain")}
        ),
        "empty query": await client.post(f"{PREFIX}/search", json={"query": "  "}),
        "k zero": await client.post(f"{PREFIX}/search", json={"query": "q", "k": 0}),
        "k too big": await client.post(f"{PREFIX}/search", json={"query": "q", "k": 21}),
        "no question": await client.post(f"{PREFIX}/ask", json={}),
        "unknown id": await client.delete(f"{documents}/{ObjectId()}"),
        "malformed id": await client.get(f"{documents}/not-an-id"),
    }
    statuses = {name: response.status_code for name, response in refused.items()}
    assert statuses == {
        "empty text": 422,
        "blank text": 422,
        "no title": 422,
        "text not a string": 422,
        "not JSON": 422,
        "text too long": 422,
        "body too large": 413,
        "upload without file": 422,
        "binary upload": 415,
        "not UTF-8": 422,
        "NUL bytes": 422,
        "empty upload": 422,
        "long upload": 413,
        "empty query": 422,
        "k zero": 422,
        "k too big": 422,
        "no question": 422,
        "unknown id": 404,
        "malformed id": 404,
    }
    for name, response in refused.items():
        assert response.json()["detail"], name
    assert "larger than the limit" in refused["body too large"].json()["detail"]
    assert "not UTF-8 text" in refused["not UTF-8"].json()["detail"]
    assert "longer than 100,000 characters" in refused["long upload"].json()["detail"]
    assert (
        await mongo_client[mongodb_database]["interactive_rag_documents"].count_documents({}) == 0
    )
    assert await mongo_client[mongodb_database]["interactive_rag_chunks"].count_documents({}) == 0


_json = {"content-type": "application/json"}


@asynccontextmanager
async def uvicorn_host(mongodb_uri: str, database: str) -> AsyncIterator[str]:
    """The example served by a real uvicorn in this process (the model is already loaded
    here); its base URL."""
    app = create_host_app(APP_DIR, mongo_uri=mongodb_uri, db_name=database, admin=False)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}{PREFIX}/"
    finally:
        server.should_exit = True
        await task


async def test_page_adds_searches_asks_and_deletes_in_chromium(
    local_model: LocalEmbeddingProvider,
    llm_env: dict[str, str],
    chat_server: ChatStandIn,
    mongodb_uri: str,
    mongodb_database: str,
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> None:
    markup_title = "<b>Bicycle</b> maintenance"
    async with uvicorn_host(mongodb_uri, mongodb_database) as url, launch_chromium() as browser:
        page = await browser.new_page()
        await page.goto(url)
        documents = page.locator("#documents li")
        await expect(documents).to_have_text(["No documents yet."])

        await page.fill("#add-title", BREAD["title"])
        await page.fill("#add-text", BREAD["text"])
        await page.click("#add-form button")
        await expect(page.locator("#add-status")).to_have_text(
            "Added “Sourdough baking” as 1 chunk(s)."
        )
        await expect(page.locator("#add-title")).to_have_value("")
        await page.fill("#add-title", markup_title)  # shown as text, never as markup
        await page.fill("#add-text", BIKES["text"])
        await page.click("#add-form button")
        await expect(documents).to_have_count(2)
        markdown = {"name": "asyncio.md", "mimeType": "text/markdown"}
        await page.set_input_files(
            "#upload-file", {**markdown, "buffer": ASYNCIO_MARKDOWN.encode()}
        )
        await page.click("#upload-form button")
        await expect(documents).to_have_count(3)
        await expect(documents.nth(0)).to_contain_text("asyncio")
        await expect(documents.nth(1)).to_contain_text(markup_title)
        assert await page.locator("#documents b").count() == 0

        await page.fill("#search-query", "What temperature is the oven for bread?")
        await page.click("#search-form button")
        await expect(page.locator("#results li").first).to_contain_text(BREAD["title"])

        await page.fill("#ask-question", "How do I oil a bicycle chain?")
        await page.click("#ask-form button")
        await expect(page.locator("#answer")).to_have_attribute("data-done", "true")
        [request] = chat_server.requests
        prompt = request.body["messages"][-1]["content"]
        await expect(page.locator("#answer")).to_have_text("echo: " + prompt)
        await expect(page.locator("#sources li").first).to_contain_text(f"[1] {markup_title}")
        await save_screenshot(page, "interactive_rag_answer")

        await documents.nth(1).get_by_role("button", name="Delete").click()
        await expect(documents).to_have_count(2)
        await expect(page.locator("#documents")).not_to_contain_text(markup_title)
    database = mongo_client[mongodb_database]
    titles = await database["interactive_rag_documents"].distinct("title")
    assert sorted(titles) == ["Sourdough baking", "asyncio"]
    chunk_titles = await database["interactive_rag_chunks"].distinct("metadata.title")
    assert sorted(chunk_titles) == ["Sourdough baking", "asyncio"]
