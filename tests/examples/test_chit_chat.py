"""examples/chit_chat end to end: the real `mdb-engine serve`, app users, the chat over the
WebSocket with the chat stand-in as the model, per-user memories, and the page in Chromium."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets
from playwright.async_api import WebSocket, expect
from pymongo import AsyncMongoClient

from tests.browser import launch_chromium, save_screenshot
from tests.examples.conftest import EXAMPLES
from tests.llm.chat_standin import ChatStandIn, QueuedAnswer

APP = EXAMPLES / "chit_chat"
PREFIX = "/apps/chit_chat"
PASSWORD = "correct horse battery staple"
NO_LLM = {"MDB_ENGINE_LLM_MODEL": "", "OPENAI_MODEL": "", "AZURE_OPENAI_ENDPOINT": ""}

Serve = Callable[..., str]


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + PREFIX + "/ws"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register_and_log_in(client: httpx.AsyncClient, email: str) -> str:
    """Register ``email``, then log in; the access token of the login."""
    registered = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    logged_in = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert logged_in.status_code == 200, logged_in.text
    token: str = logged_in.json()["access_token"]
    return token


def connect(base: str, token: str) -> Any:
    return websockets.connect(ws_url(base), subprotocols=["mdb-engine", f"bearer.{token}"])


async def say(socket: Any, text: str) -> tuple[list[str], dict[str, Any]]:
    """Send a chat message; the token pieces received, then the final reply or error."""
    await socket.send(json.dumps({"type": "message", "text": text}))
    pieces: list[str] = []
    async with asyncio.timeout(30):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == "token":
                pieces.append(message["text"])
            elif message["type"] in ("reply", "error"):
                return pieces, message


async def test_two_users_chat_and_only_their_own_memories_reach_the_model(
    serve: Serve,
    llm_env: dict[str, str],
    chat_server: ChatStandIn,
    mongodb_uri: str,
    mongodb_database: str,
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> None:
    base = serve(APP, "--mongo-uri", mongodb_uri, "--db", mongodb_database, env=llm_env)
    async with httpx.AsyncClient(base_url=base + PREFIX, timeout=30) as client:
        ana = await register_and_log_in(client, "ana@example.com")
        bob = await register_and_log_in(client, "bob@example.com")

        async with connect(base, ana) as socket:
            assert socket.subprotocol == "mdb-engine"
            pieces, reply = await say(socket, "my favourite colour is green")
            assert reply == {"type": "reply", "text": "echo: my favourite colour is green"}
            assert len(pieces) > 1
            assert "".join(pieces) == reply["text"]
            [first] = chat_server.requests
            assert first.body["stream"] is True
            assert "do not remember anything" in first.body["messages"][0]["content"]

            pieces, reply = await say(socket, "what is my favourite colour?")
            assert reply == {"type": "reply", "text": "echo: what is my favourite colour?"}
            asked = chat_server.requests[1].body["messages"]
            assert asked[0]["role"] == "system"
            assert "- my favourite colour is green" in asked[0]["content"]  # recalled memory
            assert asked[1:] == [  # the recent conversation, from MongoDB, then the question
                {"role": "user", "content": "my favourite colour is green"},
                {"role": "assistant", "content": "echo: my favourite colour is green"},
                {"role": "user", "content": "what is my favourite colour?"},
            ]

        async with connect(base, bob) as socket:
            pieces, reply = await say(socket, "what is my favourite colour?")
            assert reply["type"] == "reply"
            assert pieces
        assert len(chat_server.requests) == 3
        bobs = chat_server.requests[2].body["messages"]
        assert "do not remember anything" in bobs[0]["content"]
        assert len(bobs) == 2
        assert "green" not in json.dumps(bobs)

        history = await client.get("/history", headers=bearer(ana))
        assert [m["content"] for m in history.json()["messages"]] == [
            "my favourite colour is green",
            "echo: my favourite colour is green",
            "what is my favourite colour?",
            "echo: what is my favourite colour?",
        ]
        remembered = (await client.get("/memories", headers=bearer(ana))).json()["memories"]
        assert {m["memory"] for m in remembered} == {
            "my favourite colour is green",
            "what is my favourite colour?",
        }
        bobs_memories = (await client.get("/memories", headers=bearer(bob))).json()["memories"]
        assert [m["memory"] for m in bobs_memories] == ["what is my favourite colour?"]

        database = mongo_client[mongodb_database]
        stored = await database["chit_chat_messages"].find().to_list()
        assert len(stored) == 6
        assert {m["app_id"] for m in stored} == {"chit_chat"}
        ana_id = (await client.get("/auth/me", headers=bearer(ana))).json()["user_id"]
        assert sum(m["user_id"] == ana_id for m in stored) == 4
        memories = await database["chit_chat_memories"].find({"user_id": ana_id}).to_list()
        assert len(memories) == 2
        assert {m["app_id"] for m in memories} == {"chit_chat"}
        assert len(memories[0]["embedding"]) == 384  # the local model's vectors

        forgotten = await client.delete("/memories", headers=bearer(ana))
        assert forgotten.json() == {"deleted": 2}
        assert await database["chit_chat_memories"].count_documents({"user_id": ana_id}) == 0
        assert await database["chit_chat_memories"].count_documents({}) == 1  # bob's stays

        client.cookies.clear()  # the login's cookies authenticate too
        assert (await client.get("/memories")).status_code == 401
        assert (await client.get("/history")).status_code == 401
        answered = await client.post("/chat", json={"text": "hello"}, headers=bearer(bob))
        assert answered.json() == {"reply": "echo: hello"}  # the same turn over HTTP

        chat_server.queue(QueuedAnswer(401, {"error": {"message": "bad key"}}))
        async with connect(base, bob) as socket:
            pieces, failed = await say(socket, "are you there?")
        assert pieces == []
        assert failed["type"] == "error"
        assert "OPENAI_API_KEY" in failed["detail"]
        assert await database["chit_chat_messages"].count_documents({}) == 8  # nothing new

    for subprotocols in (None, ["mdb-engine", "bearer.not-a-token"]):
        async with websockets.connect(ws_url(base), subprotocols=subprotocols) as socket:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008


async def test_without_a_model_the_chat_says_which_variables_to_set(
    serve: Serve,
    mongodb_uri: str,
    mongodb_database: str,
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> None:
    base = serve(APP, "--mongo-uri", mongodb_uri, "--db", mongodb_database, env=NO_LLM)
    async with httpx.AsyncClient(base_url=base + PREFIX, timeout=30) as client:
        token = await register_and_log_in(client, "cleo@example.com")
        async with connect(base, token) as socket:
            pieces, answer = await say(socket, "hello")
            assert pieces == []
            assert answer["type"] == "error"
            assert "MDB_ENGINE_LLM_MODEL" in answer["detail"]
            assert "OPENAI_BASE_URL" in answer["detail"]
            _, blank = await say(socket, "   ")
            assert blank == {"type": "error", "detail": "text must be a non-empty string"}
            await socket.send(json.dumps({"type": "shout"}))
            wrong = json.loads(await socket.recv())
            assert wrong["type"] == "error"
            assert '"type": "message"' in wrong["detail"]

        refused = await client.post("/chat", json={"text": "hello"}, headers=bearer(token))
        assert refused.status_code == 503
        assert "MDB_ENGINE_LLM_MODEL" in refused.json()["detail"]
        empty = await client.post("/chat", json={"text": ""}, headers=bearer(token))
        assert empty.status_code == 422
        too_long = await client.get("/history?limit=0", headers=bearer(token))
        assert too_long.status_code == 422

    database = mongo_client[mongodb_database]
    assert await database["chit_chat_messages"].count_documents({}) == 0


async def test_the_page_registers_and_shows_the_streamed_reply(
    serve: Serve, llm_env: dict[str, str], mongodb_uri: str, mongodb_database: str
) -> None:
    base = serve(APP, "--mongo-uri", mongodb_uri, "--db", mongodb_database, env=llm_env)
    frames: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    async with launch_chromium() as browser:
        page = await browser.new_page()
        page.on("websocket", watch)
        await page.goto(base + PREFIX + "/")
        await page.fill("#email", "dana@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("#register-button")
        await expect(page.locator("#status")).to_have_text("connected", timeout=15_000)

        await page.fill("#text", "I grow tomatoes on my balcony")
        await page.click("#send")
        answer = page.locator("#log li.assistant")
        await expect(answer).to_have_text("echo: I grow tomatoes on my balcony", timeout=30_000)
        await expect(page.locator("#memories li")).to_have_text(["I grow tomatoes on my balcony"])
        await save_screenshot(page, "chit_chat")

    kinds = [frame["type"] for frame in frames if frame["type"] != "ping"]
    assert kinds[-1] == "reply"
    assert kinds.count("token") > 1
    assert set(kinds) == {"token", "reply"}
