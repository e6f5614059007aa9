"""The app-users routes: register, login, refresh, logout, me (and anonymous sessions).

Every route answers with the tokens in the JSON body (for API clients) and in HttpOnly
cookies (for browsers); refresh and logout accept the refresh token from either.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from mdb_engine.auth.app_state import engine_from_request
from mdb_engine.auth.dependencies import (
    app_auth_from,
    authenticate_request,
    get_current_user,
    refresh_cookie_path,
    set_session_cookies,
    unauthorized,
)
from mdb_engine.auth.rate_limit import RateLimiter
from mdb_engine.auth.service import AppAuth, RegistrationClosed
from mdb_engine.auth.transport import clear_auth_cookies, refresh_cookie_name
from mdb_engine.auth.users import (
    MAX_PASSWORD_LENGTH,
    UserAlreadyExists,
    WeakPassword,
    normalize_email,
)
from mdb_engine.errors import AuthError, InvalidToken

__all__ = [
    "LOGIN_ATTEMPTS",
    "Credentials",
    "RefreshRequest",
    "Registration",
    "create_auth_router",
]


class Credentials(BaseModel):
    """A login form."""

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class Registration(Credentials):
    """A sign-up form."""

    name: str | None = Field(default=None, max_length=200)


class RefreshRequest(BaseModel):
    """The refresh token, when it is not sent as a cookie."""

    refresh_token: str | None = Field(default=None, max_length=256)


OptionalRefresh = Annotated[RefreshRequest | None, Body()]


class ErrorDetail(BaseModel):
    """The body of an error answer."""

    detail: str


_ERRORS: dict[int, str] = {
    401: "Not authenticated: no token, or an invalid, expired or revoked one",
    403: "Registration is closed for this app",
    404: "This app has no user accounts (or no anonymous sessions)",
    409: "A user with this email already exists",
    429: "Too many login attempts; retry after the Retry-After header's seconds",
    503: "The database is unavailable right now; retry after the Retry-After header's seconds",
}


def _documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error answers a route may give (503 on every route)."""
    return {code: {"model": ErrorDetail, "description": _ERRORS[code]} for code in (*codes, 503)}


# Per app, client address and email: a password can be guessed 10 times per 5 minutes. The
# limiter holds only these settings; the counts are in MongoDB, shared by every process.
LOGIN_ATTEMPTS = RateLimiter(max_attempts=10, window_seconds=300)


def create_auth_router() -> APIRouter:
    """The auth routes; ``setup_auth_from_manifest`` mounts them under ``/auth``."""
    router = APIRouter(tags=["auth"])

    @router.post("/register", status_code=201, responses=_documented(403, 404, 409))
    async def register(form: Registration, request: Request, response: Response) -> dict[str, Any]:
        """Create an account and log it in."""
        app_auth = _app_users(request)
        try:
            user, pair = await app_auth.register(form.email, form.password, form.name)
        except RegistrationClosed as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        except UserAlreadyExists as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        except WeakPassword as exc:
            # The shape of every other 422: a validation error at the field.
            raise RequestValidationError(
                [{"loc": ("body", "password"), "msg": str(exc), "type": "value_error"}]
            ) from None
        set_session_cookies(request, response, app_auth, pair)
        return {"user": user, **pair.to_json()}

    @router.post("/login", responses=_documented(401, 404, 429))
    async def login(form: Credentials, request: Request, response: Response) -> dict[str, Any]:
        """Exchange an email and password for tokens."""
        app_auth = _app_users(request)
        client = request.client.host if request.client else "unknown"
        key = f"login:{app_auth.slug}:{client}:{normalize_email(form.email)}"
        allowed, retry_after = await LOGIN_ATTEMPTS.hit(engine_from_request(request), key)
        if not allowed:
            raise HTTPException(
                status_code=429,
                detail="too many login attempts; try again later",
                headers={"Retry-After": str(retry_after)},
            )
        result = await app_auth.login(form.email, form.password)
        if result is None:
            raise unauthorized("invalid email or password")
        user, pair = result
        set_session_cookies(request, response, app_auth, pair)
        return {"user": user, **pair.to_json()}

    @router.post("/session", responses=_documented(404))
    async def anonymous_session(request: Request, response: Response) -> dict[str, Any]:
        """Start an anonymous session (``anonymous_session`` strategy)."""
        app_auth = app_auth_from(request)
        if not app_auth.is_anonymous_strategy:
            raise HTTPException(status_code=404, detail="this app does not use anonymous sessions")
        user, pair = await app_auth.start_anonymous()
        set_session_cookies(request, response, app_auth, pair)
        return {"user": user, **pair.to_json()}

    @router.post("/refresh", responses=_documented(401))
    async def refresh(
        request: Request, response: Response, body: OptionalRefresh = None
    ) -> dict[str, Any]:
        """Rotate the refresh token: a new pair; the old refresh token is spent."""
        app_auth = app_auth_from(request)
        token = _refresh_token(request, app_auth, body)
        if token is None:
            raise unauthorized("no refresh token: send it in the body or its cookie")
        try:
            pair = await app_auth.refresh(token)
        except InvalidToken as exc:
            _clear(request, response, app_auth)
            raise unauthorized(str(exc)) from None
        set_session_cookies(request, response, app_auth, pair)
        return pair.to_json()

    @router.post("/logout", status_code=204, responses=_documented(401))
    async def logout(request: Request, body: OptionalRefresh = None) -> Response:
        """End the session: its refresh and access tokens stop working in every process."""
        app_auth = app_auth_from(request)
        response = Response(status_code=204)
        try:
            user = await authenticate_request(request)
        except InvalidToken:
            user = None
        if user is not None:
            await app_auth.logout(user["session_id"])
        else:
            token = _refresh_token(request, app_auth, body)
            if token is None or not await _logout_refresh(app_auth, token):
                raise unauthorized("not logged in: send the access or refresh token")
        _clear(request, response, app_auth)
        return response

    @router.get("/me", responses=_documented(401))
    async def me(user: Annotated[dict[str, Any], Depends(get_current_user)]) -> dict[str, Any]:
        """The logged-in user."""
        return user

    return router


def _app_users(request: Request) -> AppAuth:
    app_auth = app_auth_from(request)
    if app_auth.users is None:
        raise HTTPException(status_code=404, detail="this app has no user accounts")
    return app_auth


def _refresh_token(request: Request, app_auth: AppAuth, body: RefreshRequest | None) -> str | None:
    if body is not None and body.refresh_token:
        return body.refresh_token
    return request.cookies.get(refresh_cookie_name(app_auth.slug))


async def _logout_refresh(app_auth: AppAuth, token: str) -> bool:
    try:
        return await app_auth.logout_refresh_token(token)
    except AuthError:
        return False


def _clear(request: Request, response: Response, app_auth: AppAuth) -> None:
    clear_auth_cookies(
        response,
        app_auth.slug,
        refresh_path=refresh_cookie_path(request),
        secure=request.url.scheme == "https",
    )
