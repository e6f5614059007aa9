"""Run a check before a FastAPI endpoint that may not take a ``Request`` itself.

The seeds decorate endpoints such as ``async def login(credentials: dict)`` under
``@app.post(...)``. To see the request, the wrapper shows FastAPI a signature with one more
parameter annotated ``Request`` (FastAPI fills such a parameter with the request whatever its
name) and hides it from the endpoint again. Every other parameter, default and ``Depends(...)``
stays as it was, so FastAPI resolves them exactly as it would for the bare endpoint.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mdb_engine.errors import ConfigurationError

__all__ = ["Before", "with_request"]

Before = Callable[[Request], Awaitable[Response | None]]
"""A check run before the endpoint: a response to send instead of calling it, or ``None``."""

_HIDDEN_NAME = "_mdb_engine_request"
_REQUEST_NAMES = frozenset({"Request", "fastapi.Request", "starlette.requests.Request"})


def with_request(endpoint: Callable[..., Any], before: Before) -> Callable[..., Awaitable[Any]]:
    """``endpoint`` wrapped so that ``await before(request)`` runs before each call.

    ``before`` runs after FastAPI has resolved the endpoint's parameters and dependencies (they
    are arguments of the wrapper) and before the endpoint body. When it returns a response, that
    response is sent and the endpoint is not called. The endpoint receives the request only if
    its own signature asks for one; a synchronous endpoint runs in the thread pool, as FastAPI
    would run it. Wrappers stack: an outer one reuses the request parameter of an inner one.
    """
    if inspect.isgeneratorfunction(endpoint) or inspect.isasyncgenfunction(endpoint):
        raise ConfigurationError(
            f"{getattr(endpoint, '__qualname__', endpoint)!r} is a generator; security "
            "decorators wrap endpoints that return a value (return a StreamingResponse instead)"
        )
    signature = _signature(endpoint)
    request_name = _request_parameter(signature)
    is_visible = request_name is not None
    if request_name is None:
        request_name = _free_name(signature)
        signature = _add_request_parameter(signature, request_name)
    # Not ``inspect.unwrap``: an inner wrapper of ours is async even when its endpoint is not.
    is_async = inspect.iscoroutinefunction(endpoint) or inspect.iscoroutinefunction(
        getattr(endpoint, "__call__", None)  # noqa: B004 - an object with ``async __call__``
    )

    @functools.wraps(endpoint)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = kwargs[request_name] if is_visible else kwargs.pop(request_name)
        response = await before(request)
        if response is not None:
            return response
        if is_async:
            return await endpoint(*args, **kwargs)
        return await run_in_threadpool(endpoint, *args, **kwargs)

    # ``functools.wraps`` copied an inner wrapper's ``__signature__``; this one replaces it.
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    return wrapper


def _signature(endpoint: Callable[..., Any]) -> inspect.Signature:
    # Resolve string annotations (``from __future__ import annotations``) here, with the
    # endpoint's own globals: FastAPI would otherwise evaluate them in the wrapper's module.
    try:
        return inspect.signature(endpoint, eval_str=True)
    except NameError:  # a name only imported under TYPE_CHECKING: leave it to FastAPI
        return inspect.signature(endpoint)


def _request_parameter(signature: inspect.Signature) -> str | None:
    for parameter in signature.parameters.values():
        annotation = parameter.annotation
        if isinstance(annotation, type) and issubclass(annotation, Request):
            return parameter.name
        if isinstance(annotation, str) and annotation in _REQUEST_NAMES:
            return parameter.name
    return None


def _free_name(signature: inspect.Signature) -> str:
    name = _HIDDEN_NAME
    while name in signature.parameters:
        name += "_"
    return name


def _add_request_parameter(signature: inspect.Signature, name: str) -> inspect.Signature:
    parameters = list(signature.parameters.values())
    hidden = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
    # A keyword-only parameter must come before ``**kwargs``; FastAPI passes all by keyword.
    position = len(parameters)
    if parameters and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD:
        position -= 1
    parameters.insert(position, hidden)
    return signature.replace(parameters=parameters)
