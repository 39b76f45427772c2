"""RFC 9457 problem documents: the one way the receiver says no.

Domain code raises ``Problem``; one set of handlers (``install_problem_handlers``) turns it,
FastAPI's own validation errors, 404s, 405s and unexpected failures into
``application/problem+json`` with a stable ``code``. Messages never carry referral content.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from strive_schema.codes import ProblemCode
from strive_schema.errors import ProtocolCode, VerificationError
from strive_schema.semantics import Finding, json_pointer

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "RETRY_AFTER_UNAVAILABLE_SECONDS",
    "Problem",
    "RefusedWhileReading",
    "database_unavailable",
    "install_problem_handlers",
    "internal_problem",
    "parameter_pointer",
    "problem_type",
    "unavailable_problem",
    "verification_problem",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
RETRY_AFTER_UNAVAILABLE_SECONDS: Final = 5
"""The ``Retry-After`` of a 503: the database did not answer; clients retry after it."""
logger = logging.getLogger("strive.server")

# HTTP status of each protocol failure: malformed input is 400, failed authentication 401,
# a valid signature by the wrong party 403.
_PROTOCOL_STATUS: Final[dict[str, int]] = {
    ProtocolCode.ENVELOPE_MALFORMED: 400,
    ProtocolCode.SIGNATURE_MALFORMED: 400,
    ProtocolCode.PAYLOAD_TYPE_UNSUPPORTED: 400,
    ProtocolCode.PAYLOAD_MALFORMED: 400,
    ProtocolCode.KEY_UNKNOWN: 401,
    ProtocolCode.SIGNATURE_INVALID: 401,
    ProtocolCode.AUDIENCE_MISMATCH: 401,
    ProtocolCode.ENVELOPE_STALE: 401,
    ProtocolCode.ENVELOPE_FROM_FUTURE: 401,
    ProtocolCode.ASW_MISMATCH: 403,
    ProtocolCode.REQUEST_SIGNATURE_MISSING: 401,
    ProtocolCode.REQUEST_SIGNATURE_MALFORMED: 400,
    ProtocolCode.REQUEST_SIGNATURE_STALE: 401,
    ProtocolCode.REQUEST_SIGNATURE_FROM_FUTURE: 401,
    ProtocolCode.CONTENT_DIGEST_MISSING: 400,
    ProtocolCode.CONTENT_DIGEST_MISMATCH: 400,
    ProtocolCode.NONCE_REPLAYED: 401,
}

_TITLES: Final[dict[int, str]] = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
_CLOSE: Final = {"Connection": "close"}
# Failures that mean "the database cannot answer now" (down, restarting, locked, out of
# connections), not "this request is wrong": 503 with Retry-After, never 500.
_UNAVAILABLE_ERRORS: Final = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


def problem_type(code: str) -> str:
    """The problem ``type`` URI for a stable code."""
    return f"urn:strive:problem:{code}"


class Problem(Exception):
    """A refusal, with everything its problem document needs."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: Sequence[Finding] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = str(code)
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def document(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document (RFC 9457) with the ``code`` and ``errors`` extensions."""
        body: dict[str, Any] = {
            "type": problem_type(self.code),
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [
                {"pointer": f.pointer, "code": f.code, "message": f.message, "kind": f.kind}
                for f in self.errors
            ]
        body.update(self.extra)
        return body

    def response(self, instance: str | None = None) -> JSONResponse:
        return JSONResponse(
            self.document(instance),
            status_code=self.status,
            headers=self.headers,
            media_type=PROBLEM_MEDIA_TYPE,
        )


class RefusedWhileReading(StarletteHTTPException):
    """A ``Problem`` raised from ``receive`` while a route reads its body (see
    ``api/guard.py``). It is an HTTP exception because FastAPI lets those, and only those,
    through its body parsing unchanged; the handler answers with ``problem``."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.status, problem.detail, headers=problem.headers)
        self.problem = problem


def verification_problem(error: VerificationError) -> Problem:
    """The problem for a failed signature, key or freshness check."""
    return Problem(_PROTOCOL_STATUS.get(error.code, 401), error.code.value, error.detail)


def parameter_pointer(where: str, name: str) -> str:
    """Where a refused parameter is: ``/path/<name>``, ``/query/<name>`` or ``/header/<name>``
    (a JSON Pointer into the request, ``where`` being FastAPI's location)."""
    return json_pointer(where, name)


def unavailable_problem(detail: str = "the database is unavailable; retry later") -> Problem:
    """The 503 for a receiver that cannot reach its database, with ``Retry-After``."""
    return Problem(
        503,
        ProblemCode.SERVICE_UNAVAILABLE,
        detail,
        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE_SECONDS)},
    )


def database_unavailable(exc: BaseException) -> Problem | None:
    """The 503 problem when ``exc`` says the database cannot answer now, else ``None``.
    Logs the error's type and SQLSTATE, never a value."""
    if not isinstance(exc, _UNAVAILABLE_ERRORS):
        return None
    original = getattr(exc, "orig", None)
    logger.warning(
        "database unavailable",
        extra={
            "event": "database_unavailable",
            "error": type(exc).__name__,
            "cause": type(original).__name__ if original is not None else None,
            "sqlstate": getattr(original, "sqlstate", None),
        },
    )
    return unavailable_problem()


def internal_problem(exc: BaseException) -> Problem:
    """The 500 for an unexpected failure, logged with its type and, for database errors, the
    SQLSTATE: enough to diagnose, and never a value from the request."""
    original = getattr(exc, "orig", None)
    logger.error(
        "unhandled error",
        extra={
            "event": "internal_error",
            "error": type(exc).__name__,
            "cause": type(original).__name__ if original is not None else None,
            "sqlstate": getattr(original, "sqlstate", None),
        },
    )
    # The server closes the connection after a handler raised; say so, so that a client does
    # not send its next request on it.
    return Problem(
        500, ProblemCode.INTERNAL_ERROR, "the receiver failed; try again", headers=_CLOSE
    )


def _request_validation_problem(exc: RequestValidationError) -> Problem:
    findings = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        where = location[0] if location else "request"
        if where == "body":
            pointer = json_pointer(*location[1:])
        elif len(location) > 1:
            pointer = parameter_pointer(where, location[1])
        else:
            pointer = ""
        message = f"{where} parameter {'/'.join(location[1:])}: {error.get('msg', 'invalid')}"
        findings.append(Finding(pointer, "invalid_value", message, kind="schema"))
    return Problem(422, ProblemCode.REQUEST_INVALID, "the request is invalid", errors=findings)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error response of ``app`` a problem document."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return exc.response(request.url.path)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _request_validation_problem(exc).response(request.url.path)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc, RefusedWhileReading):
            return exc.problem.response(request.url.path)
        code = {
            404: ProblemCode.NOT_FOUND,
            405: ProblemCode.METHOD_NOT_ALLOWED,
            408: ProblemCode.REQUEST_TIMEOUT,
            413: ProblemCode.BODY_TOO_LARGE,
            415: ProblemCode.UNSUPPORTED_MEDIA_TYPE,
        }.get(exc.status_code, ProblemCode.REQUEST_MALFORMED)
        detail = str(exc.detail) if exc.status_code not in (404, 405) else code.replace("_", " ")
        headers = dict(exc.headers or {})
        return Problem(exc.status_code, code, detail, headers=headers).response(request.url.path)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_problem(exc).response(request.url.path)

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        problem = database_unavailable(exc)
        if problem is None:  # registered only for _UNAVAILABLE_ERRORS
            return await on_unexpected(request, exc)
        return problem.response(request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for unavailable in _UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, on_unavailable)
    app.add_exception_handler(Exception, on_unexpected)
