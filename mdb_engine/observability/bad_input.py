"""HTTP 413 and 400 for input MongoDB cannot store, instead of a 500 and a traceback.

A request whose data becomes a document over MongoDB's 16 MB limit (PyMongo's
``DocumentTooLarge`` before sending, the server's ``BSONObjectTooLarge`` after an update), that
is nested deeper than MongoDB accepts (the engine's ``InputTooDeep`` before sending, the
server's limit of 180 levels for a stored document) or that holds text which is not Unicode (a
lone surrogate, which JSON's ``\\ud800`` escapes allow and BSON cannot encode) is refused for
what the client sent: it gets a 413 or a 400 saying so. FastAPI's own answer to a body that
fails validation is also made safe for bodies that are not UTF-8 (FastAPI's handler fails to
encode them and answers 500).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from pymongo.errors import DocumentTooLarge, OperationFailure, PyMongoError
from starlette.requests import Request
from starlette.responses import JSONResponse

from mdb_engine.errors import InputTooDeep

__all__ = ["install_bad_input_handlers"]

logger = logging.getLogger(__name__)

# Server error codes for documents over the size limit: BSONObjectTooLarge, and an update whose
# result would be too large.
_TOO_LARGE_CODES = frozenset({10334, 17419})
# Overflow: "cannot insert document because it exceeds 180 levels of nesting".
_OVERFLOW_CODE = 15
_TOO_LARGE = "the document is larger than MongoDB's limit of 16 MB for one document"
_TOO_DEEP = "the input is nested deeper than MongoDB accepts (documents and arrays)"
_NOT_UNICODE = "the input holds text that is not valid Unicode (a lone surrogate)"


def _refusal(request: Request, exc: Exception, status: int, detail: str) -> JSONResponse:
    logger.info("%s %s: %s (%s)", request.method, request.url.path, detail, type(exc).__name__)
    return JSONResponse({"detail": detail, "error": type(exc).__name__}, status_code=status)


async def document_too_large(request: Request, exc: Exception) -> JSONResponse:
    """413: a document over MongoDB's 16 MB limit, refused before it was sent."""
    return _refusal(request, exc, 413, _TOO_LARGE)


async def input_too_deep(request: Request, exc: Exception) -> JSONResponse:
    """400: input nested deeper than MongoDB accepts, refused before it was sent."""
    return _refusal(request, exc, 400, _TOO_DEEP)


async def server_refused_input(request: Request, exc: Exception) -> JSONResponse:
    """413 or 400 when the server refused a document for its size or nesting; any other
    ``OperationFailure`` goes on to the 500 it was."""
    code = getattr(exc, "code", None)
    if code in _TOO_LARGE_CODES:
        return _refusal(request, exc, 413, _TOO_LARGE)
    if code == _OVERFLOW_CODE and "nesting" in str(exc):
        return _refusal(request, exc, 400, _TOO_DEEP)
    raise exc


async def text_not_unicode(request: Request, exc: Exception) -> JSONResponse:
    """400 for a lone surrogate that BSON could not encode; other encoding errors go on."""
    if isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed":
        return _refusal(request, exc, 400, _NOT_UNICODE)
    raise exc


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with a body that is not UTF-8 shown as text instead of failing."""
    if not isinstance(exc, RequestValidationError):
        raise exc
    errors = [_printable(error) for error in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def _printable(error: Any) -> Any:
    if isinstance(error, dict) and isinstance(error.get("input"), bytes):
        return {**error, "input": error["input"].decode("utf-8", "replace")}
    return error


def install_bad_input_handlers(app: Any) -> None:
    """Answer 413/400 on ``app`` (FastAPI or Starlette) for input MongoDB cannot store; a
    handler the app registered itself for these errors, or for a broader one, is kept."""
    handlers = getattr(app, "exception_handlers", None)
    if handlers is None:
        return
    own = set(handlers)
    chosen: list[tuple[type[Exception], Any, tuple[type[Exception], ...]]] = [
        (DocumentTooLarge, document_too_large, ()),
        (InputTooDeep, input_too_deep, ()),
        (OperationFailure, server_refused_input, (PyMongoError,)),
        (UnicodeEncodeError, text_not_unicode, (UnicodeError, ValueError)),
    ]
    for error, handler, broader in chosen:
        if error not in own and not own.intersection(broader):
            app.add_exception_handler(error, handler)
    if handlers.get(RequestValidationError) is request_validation_exception_handler:
        app.add_exception_handler(RequestValidationError, validation_failed)
    app.middleware_stack = None  # rebuilt with the handlers on the next request
