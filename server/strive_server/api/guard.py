"""The request guard: what a request may cost before a route has looked at it.

FastAPI reads and parses a JSON body before it solves a route's dependencies, so without the
guard an unauthenticated caller could make the receiver parse any body it likes, and a client
that declares a body and never sends it would hold a connection open for good.

``RequestGuard`` is a pure ASGI middleware that hands the routes a bounded ``receive``. When a
route asks for the first chunk of its body (the router has chosen the route by then), the
guard, in this order:

1. on a route that needs a bearer token, checks the token and the role (401
   ``authentication_required`` / ``token_invalid``, 403 ``forbidden``), the body unread;
   likewise any other dependency that can authorise from the headers alone (an
   :class:`AuthorisesBeforeBody`, such as the console's session gates);
2. refuses a declared ``Content-Length`` above the route's limit (413 ``body_too_large``),
   unread: submissions have ``max_envelope_bytes`` / ``max_batch_bytes``, file uploads
   ``max_attachment_bytes``, every other route ``max_request_body_bytes``;

and while the route reads, counts the body (413 past the limit, also without a
``Content-Length``) and times it (408 ``request_timeout`` once ``body_read_timeout_seconds``
have passed since the request arrived). A response sent before the whole body arrived
closes the connection, so the rest is never read.

``refuse_nul_parameters``, a dependency of every route, refuses a U+0000 in a path or query
parameter (422 ``request_invalid``, pointer ``/path/<name>`` or ``/query/<name>``): no
identifier holds one, and PostgreSQL cannot store one in text.
"""

from __future__ import annotations

import asyncio
from typing import Final, Protocol, runtime_checkable

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strive_schema.codes import ProblemCode
from strive_schema.semantics import Finding
from strive_server.core.config import Settings
from strive_server.problems import (
    Problem,
    RefusedWhileReading,
    database_unavailable,
    internal_problem,
    parameter_pointer,
)

__all__ = ["AuthorisesBeforeBody", "RequestGuard", "refuse_nul_parameters"]

_SUBMISSION_LIMITS: Final[dict[tuple[str, str], str]] = {
    ("POST", "/v1/referrals"): "max_envelope_bytes",
    ("POST", "/v1/referrals/batch"): "max_batch_bytes",
    ("PUT", "/v1/referrals/{referral_id}/attachments/{attachment_id}"): "max_attachment_bytes",
}
"""Routes whose body limit is a setting of their own (by method and route template)."""
_READ_TIMEOUTS: Final[dict[tuple[str, str], str]] = {
    ("PUT", "/v1/referrals/{referral_id}/attachments/{attachment_id}"):
        "attachment_read_timeout_seconds",
}  # fmt: skip
"""Routes whose body may take longer than ``body_read_timeout_seconds`` (file uploads)."""
_CLOSE: Final = {"Connection": "close"}


@runtime_checkable
class AuthorisesBeforeBody(Protocol):
    """A route dependency the guard runs before the body is read (``RoleCheck``, the
    console's session gates). ``authorise`` raises a ``Problem`` (answered as one) or a
    Starlette ``HTTPException`` (passed to the route unchanged, which answers it)."""

    def authorise(self, request: Request) -> object: ...


def refuse_nul_parameters(request: Request) -> None:
    """Refuse (422) a U+0000 in any path or query parameter, naming each one."""
    findings = [
        Finding(parameter_pointer("path", name), "invalid_value",
                f"path parameter {name}: must not contain U+0000", kind="schema")
        for name, value in request.path_params.items()
        if isinstance(value, str) and "\x00" in value
    ]  # fmt: skip
    findings.extend(
        Finding(parameter_pointer("query", name), "invalid_value",
                "query parameter: must not contain U+0000", kind="schema")
        for name, value in request.query_params.multi_items()
        if "\x00" in name or "\x00" in value
    )  # fmt: skip
    if findings:
        raise Problem(422, ProblemCode.REQUEST_INVALID, "the request is invalid", errors=findings)


def _body_limit(route: object, method: str, settings: Settings) -> int:
    if isinstance(route, APIRoute):
        setting = _SUBMISSION_LIMITS.get((method, route.path))
        if setting is not None:
            limit: int = getattr(settings, setting)
            return limit
    return settings.max_request_body_bytes


def _read_timeout(route: object, method: str, settings: Settings) -> float:
    if isinstance(route, APIRoute):
        setting = _READ_TIMEOUTS.get((method, route.path))
        if setting is not None:
            timeout: float = getattr(settings, setting)
            return timeout
    return settings.body_read_timeout_seconds


def _refused(problem: Problem) -> RefusedWhileReading:
    problem.headers.update(_CLOSE)
    return RefusedWhileReading(problem)


def _too_large(limit: int) -> RefusedWhileReading:
    detail = f"the body may be at most {limit} bytes"
    return _refused(Problem(413, ProblemCode.BODY_TOO_LARGE, detail))


async def _authorise(route: object, scope: Scope) -> None:
    """Check the bearer token and role (or console session) of the route, as its
    dependencies will again."""
    if not isinstance(route, APIRoute):
        return
    calls: list[object] = [d.call for d in route.dependant.dependencies]
    checks = [call for call in calls if isinstance(call, AuthorisesBeforeBody)]
    if not checks:
        return
    request = Request(scope)

    def authorise() -> None:
        for check in checks:
            check.authorise(request)

    try:
        await run_in_threadpool(authorise)
    except Problem as refused:
        raise _refused(refused) from None
    except StarletteHTTPException:
        raise
    except Exception as exc:
        # Raised plainly, FastAPI would turn it into "400, error parsing the body".
        raise _refused(database_unavailable(exc) or internal_problem(exc)) from None


class _GuardedReceive:
    """``receive`` that authorises, counts and times the body until its last chunk."""

    def __init__(self, scope: Scope, receive: Receive, *, arrived: float) -> None:
        self._scope = scope
        self._receive = receive
        self._arrived = arrived
        self._limit: int | None = None
        self._timeout: float | None = None
        self._received = 0
        self.complete = False

    async def _first(self) -> int:
        scope = self._scope
        settings: Settings = scope["app"].state.settings
        route = scope.get("route")
        await _authorise(route, scope)
        limit = _body_limit(route, scope["method"], settings)
        self._timeout = _read_timeout(route, scope["method"], settings)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        return limit

    async def __call__(self) -> Message:
        if self.complete:  # after the body: waiting for a disconnect is not bounded
            return await self._receive()
        if self._limit is None:
            self._limit = await self._first()
        settings: Settings = self._scope["app"].state.settings
        timeout = self._timeout if self._timeout is not None else settings.body_read_timeout_seconds
        deadline = self._arrived + timeout
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            message = await asyncio.wait_for(self._receive(), timeout=max(remaining, 0.0))
        except TimeoutError:
            problem = Problem(408, ProblemCode.REQUEST_TIMEOUT, "the body did not arrive in time")
            raise _refused(problem) from None
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                raise _too_large(self._limit)
            self.complete = not message.get("more_body", False)
        return message


def _has_body(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    declared = headers.get("content-length")
    return "transfer-encoding" in headers or (declared is not None and declared != "0")


class RequestGuard:
    """See the module docstring. Settings are read from the application's state on each
    request, so a test (or an operator's reload) can change them on a running receiver."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guarded = _GuardedReceive(scope, receive, arrived=asyncio.get_running_loop().time())
        expects_body = _has_body(scope)

        async def send_closing(message: Message) -> None:
            # Answered before the whole body came (refused, or a route that never reads
            # one): close, rather than keep reading what a client may drip forever.
            if message["type"] == "http.response.start" and expects_body and not guarded.complete:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"connection" for name, _ in headers):
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, guarded, send_closing)
