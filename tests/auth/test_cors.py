"""``apply_cors``: the manifest's cors block, before start-up and from a start-up hook."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.middleware.cors import CORSMiddleware

from mdb_engine.auth.cors import apply_cors
from mdb_engine.core.manifest.models import CorsConfig
from mdb_engine.errors import ConfigurationError

ALLOWED = "https://app.example.com"
OTHER = "https://evil.example.net"


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items")
    async def items() -> list[int]:
        return [1, 2]

    return app


def preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST"}


def cors_config(**options: object) -> CorsConfig:
    return CorsConfig.model_validate({"allow_origins": [ALLOWED], "max_age": 120, **options})


async def test_applied_before_start_up() -> None:
    app = make_app()
    assert apply_cors(app, cors_config(allow_methods=["GET", "POST"])) is True

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        allowed = await http.options("/items", headers=preflight(ALLOWED))
        refused = await http.options("/items", headers=preflight(OTHER))
        simple = await http.get("/items", headers={"Origin": ALLOWED})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert allowed.headers["access-control-max-age"] == "120"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == ALLOWED


def test_applied_from_a_start_up_hook() -> None:
    app = make_app()
    seen_at_start_up: list[bool] = []

    @app.on_event("startup")
    async def setup() -> None:
        # The seeds set up here; Starlette has already built its stack and refuses
        # add_middleware, which is the case apply_cors must handle.
        with pytest.raises(RuntimeError, match="after an application has started"):
            app.add_middleware(CORSMiddleware, allow_origins=[OTHER])
        seen_at_start_up.append(apply_cors(app, cors_config()))

    with TestClient(app) as client:
        allowed = client.options("/items", headers=preflight(ALLOWED))
        refused = client.options("/items", headers=preflight(OTHER))

    assert seen_at_start_up == [True]
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("cors", [None, CorsConfig(enabled=False, allow_origins=[ALLOWED])])
def test_disabled_or_absent_is_not_applied(cors: CorsConfig | None) -> None:
    app = make_app()
    assert apply_cors(app, cors) is False
    assert app.user_middleware == []
    with TestClient(app) as client:
        response = client.options("/items", headers=preflight(ALLOWED))
    assert "access-control-allow-origin" not in response.headers


def test_wildcard_with_credentials_is_refused() -> None:
    app = make_app()
    with pytest.raises(ConfigurationError, match="list the allowed origins"):
        apply_cors(app, cors_config(allow_origins=["*"], allow_credentials=True))
    assert app.user_middleware == []


def test_wildcard_without_credentials_allows_any_origin() -> None:
    app = make_app()
    apply_cors(app, cors_config(allow_origins=["*"]))
    with TestClient(app) as client:
        response = client.get("/items", headers={"Origin": OTHER})
    assert response.headers["access-control-allow-origin"] == "*"


def test_credentials_are_allowed_for_listed_origins() -> None:
    app = make_app()
    apply_cors(app, cors_config(allow_credentials=True))
    with TestClient(app) as client:
        response = client.get("/items", headers={"Origin": ALLOWED})
    assert response.headers["access-control-allow-credentials"] == "true"


def test_applying_again_replaces_the_settings() -> None:
    app = make_app()
    apply_cors(app, cors_config())
    apply_cors(app, cors_config(allow_origins=[OTHER]))
    assert [entry.cls for entry in app.user_middleware] == [CORSMiddleware]
    with TestClient(app) as client:
        old = client.options("/items", headers=preflight(ALLOWED))
        new = client.options("/items", headers=preflight(OTHER))
    assert (old.status_code, new.status_code) == (400, 200)


def test_no_origins_warns(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    assert apply_cors(app, CorsConfig()) is True
    assert "no allow_origins" in caplog.text
