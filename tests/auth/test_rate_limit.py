"""``@rate_limit_auth`` and ``RateLimiter``: fixed windows counted in MongoDB, shared by engines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from mdb_engine.auth import rate_limit_auth
from mdb_engine.auth.app_state import attach_engine
from mdb_engine.auth.rate_limit import RateLimiter, client_and_route_key
from mdb_engine.core import MongoDBEngine
from mdb_engine.errors import ConfigurationError

COUNTERS = "_mdb_engine_rate_limits"


async def authenticate(credentials: dict[str, Any]) -> dict[str, Any]:
    return {"logged_in": credentials.get("email")}


def seed_login_app(engine: MongoDBEngine, calls: list[dict[str, Any]] | None = None) -> FastAPI:
    """The seed's example, as written in the README."""
    app = FastAPI()
    attach_engine(app, engine)

    @app.post("/login")
    @rate_limit_auth(max_attempts=5, window_seconds=300)
    async def login(credentials: dict):  # type: ignore[type-arg]
        if calls is not None:
            calls.append(credentials)
        return await authenticate(credentials)

    return app


async def away_from_a_window_edge(window_seconds: int) -> None:
    """Windows are fixed: a test that crossed into the next one would see its count reset."""
    left = window_seconds - time.time() % window_seconds
    if left < 3:
        await asyncio.sleep(left + 0.1)


def client(app: FastAPI, ip: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_the_seed_example_refuses_the_sixth_attempt(engine: MongoDBEngine) -> None:
    await away_from_a_window_edge(300)
    calls: list[dict[str, Any]] = []
    app = seed_login_app(engine, calls)
    async with client(app) as http:
        for attempt in range(5):
            response = await http.post("/login", json={"email": f"a{attempt}@example.com"})
            assert response.status_code == 200
            assert response.json() == {"logged_in": f"a{attempt}@example.com"}
        refused = await http.post("/login", json={"email": "a5@example.com"})

    assert refused.status_code == 429
    assert "try again in" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 300
    assert len(calls) == 5  # the sixth attempt never reached the endpoint


async def test_the_limit_holds_across_two_engines_sharing_a_database(
    engine: MongoDBEngine, mongodb_uri: str, mongodb_database: str
) -> None:
    await away_from_a_window_edge(300)
    second_engine = MongoDBEngine(mongodb_uri, mongodb_database)
    await second_engine.initialize()
    try:
        first_app = seed_login_app(engine)
        second_app = seed_login_app(second_engine)
        statuses = []
        async with client(first_app) as first, client(second_app) as second:
            for http in (first, first, first, second, second):
                statuses.append((await http.post("/login", json={})).status_code)
            sixth = await second.post("/login", json={})
            seventh = await first.post("/login", json={})
        assert statuses == [200] * 5
        assert sixth.status_code == 429
        assert seventh.status_code == 429
    finally:
        await second_engine.shutdown()


async def test_counters_expire_with_their_window(
    engine: MongoDBEngine,
    mongo_client: AsyncMongoClient[dict[str, Any]],
    mongodb_database: str,
) -> None:
    await away_from_a_window_edge(300)
    async with client(seed_login_app(engine), ip="10.9.9.9") as http:
        await http.post("/login", json={})
        await http.post("/login", json={})

    counters = mongo_client[mongodb_database][COUNTERS]
    documents = await counters.find({}).to_list()
    assert len(documents) == 1
    counter = documents[0]
    assert counter["count"] == 2
    assert counter["key"] == "10.9.9.9:/login"
    assert counter["expires_at"] - counter["window_start"] == timedelta(seconds=300)
    indexes = await (await counters.list_indexes()).to_list()
    ttl = [index for index in indexes if index.get("expireAfterSeconds") == 0]
    assert [dict(index["key"]) for index in ttl] == [{"expires_at": 1}]


async def test_clients_and_routes_are_counted_apart(engine: MongoDBEngine) -> None:
    await away_from_a_window_edge(60)
    app = FastAPI()
    attach_engine(app, engine)

    @app.post("/login")
    @rate_limit_auth(max_attempts=1, window_seconds=60)
    async def login() -> dict[str, str]:
        return {"route": "login"}

    @app.post("/reset/{user}")
    @rate_limit_auth(max_attempts=1, window_seconds=60)
    async def reset(user: str) -> dict[str, str]:
        return {"route": "reset", "user": user}

    async with client(app, ip="10.0.0.1") as first, client(app, ip="10.0.0.2") as second:
        assert (await first.post("/login")).status_code == 200
        assert (await second.post("/login")).status_code == 200
        assert (await first.post("/reset/ann")).json() == {"route": "reset", "user": "ann"}
        assert (await first.post("/login")).status_code == 429
        # The route template is the key, so changing the path parameter does not escape it.
        assert (await first.post("/reset/bob")).status_code == 429
        assert (await second.post("/reset/bob")).status_code == 200


async def test_endpoint_with_request_dependencies_and_custom_key(engine: MongoDBEngine) -> None:
    await away_from_a_window_edge(60)
    app = FastAPI()
    attach_engine(app, engine)

    def current_tenant(request: Request) -> str:
        return request.headers.get("x-tenant", "none")

    @app.post("/token")
    @rate_limit_auth(max_attempts=2, window_seconds=60, key=lambda r: r.headers["x-user"])
    async def token(request: Request, tenant: str = Depends(current_tenant)) -> dict[str, str]:
        return {"path": request.url.path, "tenant": tenant}

    async with client(app, ip="10.0.0.1") as first, client(app, ip="10.0.0.2") as second:
        ok = await first.post("/token", headers={"x-user": "ann", "x-tenant": "t1"})
        assert ok.json() == {"path": "/token", "tenant": "t1"}
        assert (await second.post("/token", headers={"x-user": "ann"})).status_code == 200
        # Same user from another address: the custom key ignores the IP.
        assert (await second.post("/token", headers={"x-user": "ann"})).status_code == 429
        assert (await first.post("/token", headers={"x-user": "bob"})).status_code == 200


async def test_a_sync_endpoint_still_works(engine: MongoDBEngine) -> None:
    await away_from_a_window_edge(60)
    app = FastAPI()
    attach_engine(app, engine)

    @app.get("/ping")
    @rate_limit_auth(max_attempts=1, window_seconds=60)
    def ping(name: str = "x") -> dict[str, str]:
        return {"pong": name}

    async with client(app) as http:
        assert (await http.get("/ping", params={"name": "y"})).json() == {"pong": "y"}
        assert (await http.get("/ping")).status_code == 429


async def test_the_hidden_request_parameter_is_not_in_the_openapi_schema(
    engine: MongoDBEngine,
) -> None:
    app = seed_login_app(engine)
    operation = app.openapi()["paths"]["/login"]["post"]
    assert "parameters" not in operation
    assert "requestBody" in operation


async def test_no_attached_engine_is_a_configuration_error() -> None:
    app = FastAPI()

    @app.post("/login")
    @rate_limit_auth()
    async def login() -> dict[str, str]:
        return {}

    async with client(app) as http:
        with pytest.raises(ConfigurationError, match="no MongoDBEngine is attached"):
            await http.post("/login")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": -1}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"max_attempts": "5"}, "max_attempts"),
        ({"window_seconds": 0}, "window_seconds"),
        ({"window_seconds": 1.5}, "window_seconds"),
        ({"key": "ip"}, "key must be a function"),
    ],
)
def test_bad_arguments_are_refused_when_decorating(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as error:
        rate_limit_auth(**options)
    assert isinstance(error.value, ValueError)


def test_forgetting_the_parentheses_says_so() -> None:
    async def login() -> None:
        return None

    with pytest.raises(ConfigurationError, match="needs parentheses"):
        rate_limit_auth(login)  # type: ignore[arg-type]


async def test_windows_roll_over_and_retry_after_counts_down(engine: MongoDBEngine) -> None:
    now = [1_000_000.0]  # a multiple of 100: a window starts here
    limiter = RateLimiter(2, 100, clock=lambda: now[0])
    assert await limiter.hit(engine, "k") == (True, 100)
    now[0] += 30.5
    assert await limiter.hit(engine, "k") == (True, 70)
    now[0] += 10
    assert await limiter.hit(engine, "k") == (False, 60)
    now[0] += 59
    assert await limiter.hit(engine, "k") == (False, 1)
    now[0] += 0.6  # the next window
    assert await limiter.hit(engine, "k") == (True, 100)


async def test_concurrent_attempts_never_exceed_the_limit(engine: MongoDBEngine) -> None:
    await away_from_a_window_edge(60)
    limiter = RateLimiter(5, 60)
    results = await asyncio.gather(*(limiter.hit(engine, "burst") for _ in range(12)))
    assert sum(is_allowed for is_allowed, _ in results) == 5


class _RacingCollection:
    """Loses the insert race once, as a concurrent first attempt on another process would."""

    def __init__(self) -> None:
        self.calls: list[Mapping[str, Any]] = []

    async def find_one_and_update(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], **options: Any
    ) -> dict[str, Any]:
        self.calls.append(filter)
        if len(self.calls) == 1:
            raise DuplicateKeyError("E11000 duplicate key error")
        return {"_id": filter["_id"], "count": 2}


class _EngineWithCollection:
    def __init__(self, collection: _RacingCollection) -> None:
        self.collection = collection

    async def system_collection(self, name: str, *, ttl_field: str | None = None) -> Any:
        assert (name, ttl_field) == ("rate_limits", "expires_at")
        return self.collection


async def test_a_lost_insert_race_is_retried_as_an_increment() -> None:
    collection = _RacingCollection()
    limiter = RateLimiter(2, 60)
    is_allowed, _ = await limiter.hit(_EngineWithCollection(collection), "k")  # type: ignore[arg-type]
    assert is_allowed
    assert len(collection.calls) == 2
    assert collection.calls[0] == collection.calls[1]


def test_default_key_without_a_route_uses_the_url_path() -> None:
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/raw",
            "query_string": b"",
            "headers": [],
            "server": ("test", 80),
            "scheme": "http",
        }
    )
    assert client_and_route_key(request) == "unknown:/raw"
