"""The console's plumbing: templates, security headers, sessions as dependencies, CSRF, and
refusals rendered as pages (never as the data, never as JSON)."""

from __future__ import annotations

import functools
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from strive_server.console import auth
from strive_server.console.vendor import check as check_vendored
from strive_server.core.config import Settings
from strive_server.db.engine import write_guard
from strive_server.problems import Problem

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "ConsoleRefusal",
    "ConsoleRoute",
    "PersonDep",
    "is_loopback",
    "render",
    "require_csrf",
    "role_gate",
]

HERE: Final = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
STATIC_PREFIX: Final = "/console/static"

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
"""No inline script or style, nothing from another origin (spec/console.md)."""
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
SIGN_IN_COOKIE: Final = "strive_console_sign_in"
"""The double-submit CSRF cookie of the sign-in form (there is no session yet)."""
OIDC_COOKIE: Final = "strive_console_oidc"
"""A single sign-on's browser binding, from its start to the provider's callback."""

ROLE_PAGES: Final = {
    "analyst": ("queue", "Triage queue"),
    "supervisor": ("queue", "Triage queue"),
    "auditor": ("audit", "Audit trail"),
    "admin": ("admin", "Administration"),
}


class ConsoleRefusal(Exception):
    """A refusal shown as a page: a status, a title and plain words."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""


@functools.cache
def integrity() -> dict[str, str]:
    """The SRI value of each vendored file, checked against the manifest once per process: a
    tampered asset stops the console rendering rather than being served."""
    return check_vendored()


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    person: auth.Person | None = None,
) -> HTMLResponse:
    """A page, with the signed-in person (for the navigation and the sign-out form)."""
    values = {"person": person, "static": STATIC_PREFIX, "sri": integrity(), **(context or {})}
    return templates.TemplateResponse(request, template, values, status_code=status)


def _refusal_page(request: Request, refusal: ConsoleRefusal) -> Response:
    person = request.scope.get("console_person")
    return render(
        request,
        "refusal.html",
        {"title": refusal.title, "message": refusal.message, "status": refusal.status},
        status=refusal.status,
        person=person,
    )


_PROBLEM_TITLES: Final = {
    401: "Sign in again",
    403: "You cannot do this",
    404: "Not found",
    409: "That cannot be done now",
    422: "Check what you entered",
}


class ConsoleRoute(APIRoute):
    """Routes whose refusals (the services' ``Problem``, bad form input, missing sessions)
    become pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except GateRefused as refused:
                if isinstance(refused.refusal, ConsoleRefusal):
                    return _refusal_page(request, refused.refusal)
                return RedirectResponse("/console/sign-in", status_code=303)
            except SignInRequired:
                return RedirectResponse("/console/sign-in", status_code=303)
            except ConsoleRefusal as refusal:
                return _refusal_page(request, refusal)
            except Problem as problem:
                title = _PROBLEM_TITLES.get(problem.status, "Something went wrong")
                return _refusal_page(request, ConsoleRefusal(problem.status, title, problem.detail))
            except RequestValidationError as exc:
                fields = sorted({".".join(str(p) for p in e["loc"][1:]) for e in exc.errors()})
                return _refusal_page(
                    request,
                    ConsoleRefusal(
                        422, "Check what you entered", "Missing or invalid: " + ", ".join(fields)
                    ),
                )

        return handler


def is_loopback(request: Request) -> bool:
    """Served to this machine only (the demo), where the Secure cookie flag is dropped so a
    plain-HTTP browser keeps the cookie. Decided by configuration and by the socket, never by
    the client's ``Host``: with ``public_base_url`` set, only an ``http://`` URL naming
    localhost or a loopback address; without it, a connection to a loopback address of this
    server (behind a proxy, set ``public_base_url``)."""
    public = settings_of(request).public_base_url
    if public:
        parts = urlsplit(public)
        return parts.scheme == "http" and _is_loopback_host(parts.hostname or "")
    server = request.scope.get("server")  # this end of the connection (None: a Unix socket)
    return server is not None and _is_loopback_host(str(server[0]))


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int,
    *, samesite: Literal["strict", "lax"] = "strict",
) -> None:  # fmt: skip
    response.set_cookie(
        name, value, max_age=max_age, path="/console", httponly=True,
        secure=not is_loopback(request), samesite=samesite,
    )  # fmt: skip


def sessions_of(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _find_person(request: Request) -> auth.Person:
    session_id = request.cookies.get(auth.COOKIE, "")
    if not session_id:
        raise SignInRequired
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        person = auth.find_session(session, settings_of(request), session_id, now=auth.now_utc())
    if person is None:
        raise SignInRequired
    request.scope["console_person"] = person
    return person


class GateRefused(StarletteHTTPException):
    """A console gate's refusal raised before the body is read (by the request guard,
    ``api/guard.py``): an HTTP exception, so FastAPI's body parsing lets it through to
    ``ConsoleRoute``, which answers it as the gate would have."""

    def __init__(self, refusal: SignInRequired | ConsoleRefusal) -> None:
        super().__init__(refusal.status if isinstance(refusal, ConsoleRefusal) else 401)
        self.refusal = refusal


class _SessionGate:
    """A dependency admitting a signed-in person (with one of ``roles``, when given). The
    request guard runs :meth:`authorise` before a form is read, so nobody without a session
    makes the receiver read or parse a body."""

    def __init__(self, roles: tuple[str, ...] = ()) -> None:
        self.roles = roles

    def __call__(self, request: Request) -> auth.Person:
        """The signed-in person.

        Raises:
            SignInRequired: no cookie, or its session is unknown, ended or expired.
            ConsoleRefusal: 403, the person holds none of ``roles``.
        """
        person = _find_person(request)
        if self.roles and person.role not in self.roles:
            raise ConsoleRefusal(
                403,
                "You do not have access to this page",
                f"This page is for the roles: {', '.join(self.roles)}. You are signed in as "
                f"{person.name} ({person.role}).",
            )
        return person

    def authorise(self, request: Request) -> auth.Person:
        """As a call, but refusing with :class:`GateRefused` (for the request guard)."""
        try:
            return self(request)
        except (SignInRequired, ConsoleRefusal) as refusal:
            raise GateRefused(refusal) from None


signed_in = _SessionGate()
"""The signed-in person (raises ``SignInRequired`` otherwise)."""
PersonDep = Annotated[auth.Person, Depends(signed_in)]


def role_gate(*roles: str) -> Any:
    """A dependency admitting only people holding one of ``roles``; others get a page saying
    so, never the data."""
    return Depends(_SessionGate(roles))


def _same_origin(request: Request) -> bool:
    """No Origin header (an older browser), or this receiver's: as the request's Host names
    it, or as ``STRIVE_PUBLIC_BASE_URL`` does behind a proxy."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https"):
        return False  # including "null"
    public = settings_of(request).public_base_url
    if public and urlsplit(public)[:2] == parts[:2]:
        return True
    return parts.netloc == request.headers.get("host", "")


def require_csrf(request: Request, person: auth.Person, presented: str | None) -> None:
    """The synchroniser token of the person's session must come back with every change, and a
    browser's Origin, when sent, must be this receiver.

    Raises:
        ConsoleRefusal: 403 otherwise.
    """
    if (
        not presented
        or not hmac.compare_digest(presented.encode(), person.csrf_token.encode())
        or not _same_origin(request)
    ):
        raise ConsoleRefusal(
            403,
            "The form has expired",
            "This form was not sent from your current session. Go back, reload the page and "
            "try again.",
        )


def sign_in_csrf(request: Request) -> str:
    """The sign-in form's token: the cookie's, or a new one."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)


def check_sign_in_csrf(request: Request, presented: str | None) -> None:
    cookie = request.cookies.get(SIGN_IN_COOKIE, "")
    if (
        not presented
        or not cookie
        or not hmac.compare_digest(presented.encode(), cookie.encode())
        or not _same_origin(request)
    ):
        raise ConsoleRefusal(
            403,
            "The form has expired",
            "Reload the sign-in page and try again.",
        )


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Every console response: the strict policy; pages are not cached."""
    response = await call_next(request)
    if request.url.path.startswith("/console"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith(STATIC_PREFIX):
            response.headers["Cache-Control"] = "no-store"
    return response
