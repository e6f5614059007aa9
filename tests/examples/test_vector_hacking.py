"""examples/vector_hacking end to end: `mdb-engine serve examples/vector_hacking` (one process
for the module, the chat stand-in as its LLM), a WebSocket client following the attacks, what
MongoDB holds, what the stand-in was asked, and the page in headless Chromium. Input errors and
the missing-LLM 503 use the app served in process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from bson import ObjectId
from playwright.async_api import expect
from pymongo import AsyncMongoClient, MongoClient

from tests.auth.conftest import SECRET
from tests.browser import launch_chromium, save_screenshot
from tests.cli.conftest import wait_until_serving
from tests.cli.processes import CLI, free_port, stop
from tests.examples.conftest import EXAMPLES, ChatStandIn
from tests.http_standin import QueuedAnswer

APP = EXAMPLES / "vector_hacking"
SECRET_TEXT = "the old man walked into the house"


@dataclass(frozen=True)
class Served:
    """The running `mdb-engine serve` of this module."""

    base: str
    chat: ChatStandIn
    database: str

    @property
    def app_url(self) -> str:
        return f"{self.base}/apps/vector_hacking"

    @property
    def ws_url(self) -> str:
        return self.app_url.replace("http://", "ws://") + "/ws"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.app_url, timeout=30)


@pytest.fixture(scope="module")
def served(mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `mdb-engine serve examples/vector_hacking` for the module (the local model loads
    once), its LLM the chat stand-in, on a database of its own."""
    database = f"mdbtest_{uuid.uuid4().hex[:12]}"
    folder = tmp_path_factory.mktemp("vector_hacking")
    log = folder / "serve.log"
    port = free_port()
    with ChatStandIn() as chat:
        inherited = ("MDB_ENGINE_", "OPENAI_", "AZURE_OPENAI_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
        env |= {
            "PYTHONUNBUFFERED": "1",
            "MDB_ENGINE_SECRET_KEY": SECRET,
            "MDB_ENGINE_LLM_MODEL": "standin-model",
            "OPENAI_BASE_URL": chat.base_url,
            "OPENAI_API_KEY": "standin-key",
        }
        command = [*CLI, "serve", str(APP), "--port", str(port)]
        command += ["--mongo-uri", mongodb_uri, "--db", database]
        with log.open("w") as output:
            process = subprocess.Popen(
                command, cwd=folder, stdout=output, stderr=subprocess.STDOUT, text=True, env=env
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_serving(base, process, log)
            yield Served(base, chat, database)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=30)
            stop(process)
            mongo: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
            try:
                mongo.drop_database(database)
            finally:
                mongo.close()


async def events_of(socket: Any, attack_id: str) -> list[dict[str, Any]]:
    """The attack's events as the WebSocket delivers them, up to and including ``done``."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(60):
        while True:
            message = json.loads(await socket.recv())
            if message.get("attack") != attack_id:
                continue  # pings, other attacks
            events.append(message)
            if message["type"] == "done":
                return events


def chat_answer(content: str) -> QueuedAnswer:
    """A chat completion answering ``content``."""
    choice = {"index": 0, "message": {"role": "assistant", "content": content}}
    return QueuedAnswer(200, {"id": "chatcmpl-q", "object": "chat.completion", "choices": [choice]})


def assert_progress(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The progress events, checked: in step order, the similarity never falling."""
    *progress, done = events
    assert [event["type"] for event in progress] == ["progress"] * len(progress)
    assert done["type"] == "done"
    assert [event["step"] for event in progress] == list(range(len(progress)))
    similarities = [event["similarity"] for event in progress]
    assert similarities == sorted(similarities)
    assert (done["step"], done["best"], done["similarity"]) == (
        progress[-1]["step"],
        progress[-1]["best"],
        progress[-1]["similarity"],
    )
    return progress


async def test_local_attack_streams_its_steps_and_recovers_words_of_the_secret(
    served: Served, mongodb_uri: str
) -> None:
    body = {"target_text": SECRET_TEXT, "max_steps": 4, "vocabulary_size": 1000}
    async with websockets.connect(served.ws_url) as socket, served.client() as client:
        started = await client.post("/attacks", json=body)
        assert started.status_code == 201, started.text
        attack_id = started.json()["id"]
        events = await events_of(socket, attack_id)
        recorded = (await client.get(f"/attacks/{attack_id}")).json()

    progress = assert_progress(events)
    done = events[-1]
    assert len(progress[0]["best"].split()) == 1  # the start: the closest single word
    assert len(progress) == 5  # step 0, then each of the 4 steps got closer
    assert progress[-1]["similarity"] > progress[0]["similarity"] + 0.3
    recovered = set(done["best"].split()) & set(SECRET_TEXT.split())
    assert len(recovered) >= 3, done["best"]
    assert done["shared_words"] == sorted(recovered)
    assert (done["status"], done["reason"], done["target_text"]) == (
        "done",
        "max_steps",
        SECRET_TEXT,
    )

    history = [{k: e[k] for k in ("step", "best", "similarity")} for e in progress]
    assert recorded["history"] == history
    assert (recorded["status"], recorded["best"]) == ("done", done["best"])
    assert recorded["target_text"] == SECRET_TEXT  # revealed once the attack ended

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        database = mongo[served.database]
        stored = await database["vector_hacking_attacks"].find_one({"_id": ObjectId(attack_id)})
        assert stored is not None
        assert (stored["app_id"], stored["strategy"], stored["status"]) == (
            "vector_hacking",
            "local",
            "done",
        )
        assert stored["target_text"] == SECRET_TEXT
        assert stored["history"] == history
        assert "attacks" not in await database.list_collection_names()
        indexes = await database["vector_hacking_attacks"].index_information()
        assert indexes["forget_after_a_week"]["expireAfterSeconds"] == 604800
        assert indexes["status_newest"]["key"] == [("status", 1), ("created_at", -1)]
    finally:
        await mongo.close()


async def test_llm_attack_shows_the_scores_to_the_llm_and_keeps_its_best_candidate(
    served: Served,
) -> None:
    first = '1. An old man walks home\n- "the elderly man entered a building"\n\nA cat on a sofa'
    second = f"{SECRET_TEXT}\nsomething else entirely"
    served.chat.queue(chat_answer(first), chat_answer(second))
    asked_before = len(served.chat.requests)
    body = {"target_text": SECRET_TEXT, "strategy": "llm", "max_steps": 5, "vocabulary_size": 300}
    async with websockets.connect(served.ws_url) as socket, served.client() as client:
        started = await client.post("/attacks", json=body)
        assert started.status_code == 201, started.text
        events = await events_of(socket, started.json()["id"])

    progress = assert_progress(events)
    done = events[-1]
    asked = served.chat.requests[asked_before:]
    assert len(asked) == 2  # the second answer held the secret itself: found, stopped
    assert [request.body["model"] for request in asked] == ["standin-model"] * 2
    prompts = [request.body["messages"][-1]["content"] for request in asked]
    for prompt, shown in zip(prompts, progress, strict=False):
        assert f"{shown['similarity']:.4f}  {shown['best']}" in prompt
    candidates = {"An old man walks home", "the elderly man entered a building", "A cat on a sofa"}
    assert progress[1]["best"] in candidates  # parsed: no list markers, no quotes
    assert progress[1]["similarity"] > progress[0]["similarity"]
    assert (done["status"], done["reason"], done["best"]) == ("done", "found", SECRET_TEXT)
    assert done["similarity"] > 0.999
    assert done["shared_words"] == sorted(set(SECRET_TEXT.split()))


async def test_an_llm_error_ends_the_attack_as_failed_with_the_reason(served: Served) -> None:
    served.chat.queue(QueuedAnswer(401, {"error": {"message": "bad key"}}))
    body = {"target_text": SECRET_TEXT, "strategy": "llm", "max_steps": 3, "vocabulary_size": 50}
    async with websockets.connect(served.ws_url) as socket, served.client() as client:
        started = await client.post("/attacks", json=body)
        attack_id = started.json()["id"]
        events = await events_of(socket, attack_id)
        recorded = (await client.get(f"/attacks/{attack_id}")).json()
    done = events[-1]
    assert [event["step"] for event in events[:-1]] == [0]  # the LLM failed at step 1
    assert (done["status"], done["reason"]) == ("failed", "error")
    assert "LLMError" in done["error"]
    assert "401" in done["error"]
    assert (recorded["status"], recorded["error"]) == ("failed", done["error"])


async def test_delete_cancels_running_attacks_and_too_many_at_once_are_refused(
    served: Served,
) -> None:
    body = {"target_text": "a secret that takes long", "max_steps": 30}
    async with websockets.connect(served.ws_url) as socket, served.client() as client:
        ids = []
        for _ in range(2):
            started = await client.post("/attacks", json=body)
            assert started.status_code == 201, started.text
            ids.append(started.json()["id"])
        refused = await client.post("/attacks", json=body)
        assert refused.status_code == 429
        assert "DELETE one" in refused.json()["detail"]
        for attack_id in ids:
            cancelled = await client.delete(f"/attacks/{attack_id}")
            assert cancelled.status_code == 202
        endings = [(await events_of(socket, attack_id))[-1] for attack_id in ids]
        assert [(end["status"], end["reason"]) for end in endings] == [("cancelled",) * 2] * 2
        for attack_id in ids:
            assert (await client.get(f"/attacks/{attack_id}")).json()["status"] == "cancelled"
            again = await client.delete(f"/attacks/{attack_id}")
            assert again.status_code == 409
        # The slots are free again.
        started = await client.post("/attacks", json={**body, "max_steps": 1})
        assert started.status_code == 201
        assert (await events_of(socket, started.json()["id"]))[-1]["status"] == "done"


async def test_a_cancellation_recorded_by_another_worker_stops_the_attack_at_its_next_step(
    served: Served, mongodb_uri: str
) -> None:
    body = {"target_text": SECRET_TEXT, "max_steps": 30, "vocabulary_size": 1000}
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        async with websockets.connect(served.ws_url) as socket, served.client() as client:
            started = await client.post("/attacks", json=body)
            attack_id = started.json()["id"]
            async with asyncio.timeout(60):
                while json.loads(await socket.recv()).get("attack") != attack_id:
                    pass  # until its first step is recorded
            # What DELETE writes when the attack runs in another worker process:
            attacks = mongo[served.database]["vector_hacking_attacks"]
            await attacks.update_one(
                {"_id": ObjectId(attack_id)}, {"$set": {"cancel_requested": True}}
            )
            events = await events_of(socket, attack_id)
        assert events[-1]["status"] == "cancelled"
        assert events[-1]["step"] <= 2  # the step running when the flag was set, at most
        stored = await attacks.find_one({"_id": ObjectId(attack_id)})
        assert stored is not None
        assert stored["status"] == "cancelled"
    finally:
        await mongo.close()


async def test_page_starts_an_attack_and_draws_its_progress(served: Served) -> None:
    async with launch_chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{served.app_url}/")
        status = page.locator("#status")
        await expect(status).to_have_text("Ready.")
        await page.fill("#target_text", SECRET_TEXT)
        await page.fill("#max_steps", "3")
        await page.fill("#vocabulary_size", "1000")
        await page.click("#start")
        await expect(status).to_have_attribute("data-state", "done", timeout=60_000)
        rows = page.locator("#steps tr")
        assert await rows.count() == 4
        first = float(await rows.nth(0).locator("td.score div").first.inner_text())
        last = float(await rows.nth(3).locator("td.score div").first.inner_text())
        assert last > first
        await expect(page.locator("#reveal")).to_contain_text(SECRET_TEXT)
        await save_screenshot(page, "vector_hacking")


async def test_llm_strategy_without_an_llm_is_503_and_stores_nothing(
    host: Any, monkeypatch: pytest.MonkeyPatch, mongodb_database: str, mongodb_uri: str
) -> None:
    for name in ("MDB_ENGINE_LLM_MODEL", "OPENAI_MODEL", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    _, client = await host(APP)
    response = await client.post(
        "/apps/vector_hacking/attacks", json={"target_text": "hidden", "strategy": "llm"}
    )
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "MDB_ENGINE_LLM_MODEL" in detail
    assert "OPENAI_BASE_URL" in detail
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        stored = mongo[mongodb_database]["vector_hacking_attacks"]
        assert await stored.count_documents({}) == 0
    finally:
        await mongo.close()


BAD_BODIES: list[tuple[Any, str]] = [
    ({}, "target_text"),
    ({"target_text": ""}, "target_text"),
    ({"target_text": "  ?! "}, "target_text"),
    ({"target_text": "x" * 301}, "target_text"),
    ({"target_text": "hi", "strategy": "quantum"}, "strategy"),
    ({"target_text": "hi", "max_steps": 0}, "max_steps"),
    ({"target_text": "hi", "max_steps": 1000}, "max_steps"),
    ({"target_text": "hi", "max_steps": "many"}, "max_steps"),
    ({"target_text": "hi", "vocabulary_size": 10}, "vocabulary_size"),
    ({"target_text": "hi", "secret": "extra"}, "secret"),
    ([1, 2], "body"),
]


async def test_bad_input_is_a_clear_4xx(host: Any, mongodb_database: str, mongodb_uri: str) -> None:
    _, client = await host(APP)
    for body, field in BAD_BODIES:
        response = await client.post("/apps/vector_hacking/attacks", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in json.dumps(response.json()["detail"]), (body, response.text)
    not_json = await client.post(
        "/apps/vector_hacking/attacks",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 422
    for path in ("/attacks/not-an-id", f"/attacks/{ObjectId()}"):
        assert (await client.get(f"/apps/vector_hacking{path}")).status_code == 404
        assert (await client.delete(f"/apps/vector_hacking{path}")).status_code == 404
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        stored = mongo[mongodb_database]["vector_hacking_attacks"]
        assert await stored.count_documents({}) == 0
    finally:
        await mongo.close()


def test_the_shipped_vocabulary_is_a_couple_thousand_common_words() -> None:
    words = (APP / "words.txt").read_text().split()
    assert 2000 <= len(words) <= 3100
    assert len(set(words)) == len(words)
    assert all(word.isalpha() and word.islower() for word in words)
    assert {"the", "man", "house", "cat", "walked"} <= set(words)
