"""korrel8 errors as korrel8r's error responses: ``{"error": message}`` with the status
that says whose fault it is. Bad input is a 4xx naming the problem, never a 500; an
unexpected failure is a 500 with no traceback and no detail (the log has it)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from korrel8.errors import (
    Korrel8Error,
    KubernetesError,
    QueryTimeoutError,
    StartNotFoundError,
    StoreError,
    Unauthenticated,
    UnknownDomainError,
)

log = logging.getLogger("korrel8.api")


def status_of(exc: Korrel8Error) -> int:
    """The HTTP status of a korrel8 error."""
    if isinstance(exc, Unauthenticated):
        return 401
    if isinstance(exc, KubernetesError):  # Kubernetes could not say who the caller is
        return 503
    if isinstance(exc, UnknownDomainError | StartNotFoundError):
        return 404
    if isinstance(exc, QueryTimeoutError):
        return 504
    if isinstance(exc, StoreError):  # Neo4j down or refusing: not the caller's fault
        return 503
    return 400  # parse, class, depth, window, limit: the request is wrong


def error_response(status: int, message: str) -> JSONResponse:
    # A 401 says how to authenticate (RFC 6750).
    headers = {"WWW-Authenticate": 'Bearer realm="korrel8"'} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Error handlers in korrel8r's shape on ``app``."""

    @app.exception_handler(Korrel8Error)
    async def korrel8_error(request: Request, exc: Korrel8Error) -> JSONResponse:
        return error_response(status_of(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _describe(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}; see korrel8's log)")


def _describe(exc: RequestValidationError) -> str:
    """pydantic's errors as one line: where, and what was wrong."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


__all__ = ["error_response", "install", "status_of"]
