"""What the receiver's OpenAPI document promises beyond what FastAPI derives from the routes:
how each operation authenticates, every error status it can answer with its RFC 9457 problem
document, and the security schemes.

Routes declare; :func:`complete_openapi` writes. A dependency that authenticates is marked
with :func:`authenticates` (its scheme, its headers, the statuses it refuses with); a route
that authenticates inline says so with ``openapi_extra=authenticated_by(...)``; a route lists
the further problems it answers with in ``responses=problems(409, 415)``. Everything every
route can answer (422 ``request_invalid`` for a bad parameter, 503 when the database does not
answer, 404 for a path naming nothing, 400, 408 and 413 for a body, 409 where ``asw_id``
picks the referral) is added from what the route is, so no route repeats it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from strive_schema.codes import ProblemCode
from strive_schema.errors import LogCode, ProtocolCode
from strive_server.problems import PROBLEM_MEDIA_TYPE

__all__ = [
    "ASW_SIGNATURE",
    "BEARER",
    "BEARER_OR_ANONYMOUS",
    "LOG_READER",
    "PROBLEM_CODES",
    "RECIPIENT_SIGNATURE",
    "SECURITY_SCHEMES",
    "WITNESS_SIGNATURE",
    "Authentication",
    "ProblemDocument",
    "ProblemFinding",
    "authenticated_by",
    "authenticates",
    "complete_openapi",
    "problems",
]

_AUTH_MARK: Final = "__strive_authentication__"
_AUTH_EXTRA: Final = "x-strive-authentication"
_PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}

PROBLEM_CODES: Final = sorted(
    {c.value for c in ProblemCode} | {c.value for c in ProtocolCode} | {c.value for c in LogCode}
)
"""Every stable ``code`` a problem document of this receiver can carry (spec/errors.md)."""


class ProblemFinding(BaseModel):
    """One reason a request or referral was refused, where it is and its stable code."""

    model_config = ConfigDict(title="ProblemFinding")

    pointer: str = Field(
        description="A JSON Pointer (RFC 6901): into the referral for a referral's findings; "
        "`/path/<name>`, `/query/<name>` or `/header/<name>` for a request parameter; "
        "into the request body otherwise. Empty for the document as a whole.",
        examples=["/phones/0/e164"],
    )
    code: str = Field(
        description="The finding's stable code (spec/errors.md, the validation codes).",
        examples=["invalid_format"],
    )
    message: str = Field(description="For people; never holds a value from the referral.")
    kind: Literal["schema", "semantic"] = Field(
        description="`schema` for what the JSON Schema refuses, `semantic` for a documented rule."
    )


class ProblemDocument(BaseModel):
    """An RFC 9457 problem document, the body of every refusal (``application/problem+json``)."""

    model_config = ConfigDict(
        title="Problem",
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:strive:problem:referral_invalid",
                    "title": "Unprocessable content",
                    "status": 422,
                    "detail": "the referral has 1 error",
                    "code": "referral_invalid",
                    "instance": "/v1/referrals",
                    "errors": [
                        {
                            "pointer": "/phones/0/e164",
                            "code": "invalid_format",
                            "message": "must be an E.164 number",
                            "kind": "schema",
                        }
                    ],
                }
            ]
        },
    )

    type: str = Field(
        description="`urn:strive:problem:<code>`.", examples=["urn:strive:problem:not_found"]
    )
    title: str = Field(description="The status's short phrase.")
    status: int = Field(ge=400, le=599, description="The HTTP status, repeated.")
    detail: str = Field(description="What went wrong, for people; never holds referral content.")
    code: str = Field(
        description="The stable code clients act on (spec/errors.md).",
        json_schema_extra={"enum": [*PROBLEM_CODES]},
    )
    instance: str | None = Field(None, description="The path of the request refused.")
    errors: list[ProblemFinding] | None = Field(
        None,
        description="Each finding, with its JSON Pointer: `referral_invalid`, `request_invalid`.",
    )
    asw_ids: list[str] | None = Field(
        None, description="`referral_ambiguous`: the ASWs that used the referral id."
    )
    state: str | None = Field(None, description="`transition_invalid`: the referral's state.")
    referral_id: str | None = Field(
        None, description="`referral_conflict`: the referral id already used."
    )


_DESCRIPTIONS: Final[dict[int, str]] = {
    400: "Malformed request (`request_malformed`, or a malformed envelope or signature)",
    401: "Not authenticated: no or an invalid token or signature",
    403: "Authenticated, but not allowed (`forbidden`, or a protocol code)",
    404: "Nothing with this id (`not_found`), or not visible to the caller",
    408: "The body did not arrive in time (`request_timeout`)",
    409: "Conflicts with what the receiver holds",
    413: "The body is too large (`body_too_large`, `batch_too_large`)",
    415: "Wrong content type (`unsupported_media_type`)",
    422: "Invalid request (`request_invalid`, each error with its JSON Pointer) or content",
    429: "A rate limit (`rate_limited`); retry after `Retry-After` seconds",
    503: "The database does not answer (`service_unavailable`); retry after `Retry-After`",
}


_RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}
_HEADERS: Final[dict[int, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'On calls taking a bearer token: `Bearer realm="strive"`.',
            "schema": {"type": "string"},
        }
    },
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


def problems(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for the problem statuses it answers with beyond those every
    route has; ``descriptions`` (``s409="..."``) replace the default wording of a status."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": descriptions.get(f"s{status}", _DESCRIPTIONS.get(status, "Refused")),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
        }
        if status in _HEADERS:
            response["headers"] = _HEADERS[status]
        responses[status] = response
    return responses


@dataclass(frozen=True)
class Authentication:
    """How an operation authenticates: the security requirements (alternatives), the header
    parameters the caller sends, and the statuses it refuses with."""

    security: tuple[tuple[str, ...], ...]
    """Alternatives, each the names of the schemes it needs; ``()`` admits anyone."""
    statuses: tuple[int, ...]
    headers: tuple[str, ...] = ()
    """Signature headers, documented as parameters (required when no alternative exists)."""


_SIGNED: Final = ("Signature-Input", "Content-Digest")
BEARER: Final = Authentication((("bearer",),), (401, 403))
BEARER_OR_ANONYMOUS: Final = Authentication(((), ("bearer",)), (401, 403))
ASW_SIGNATURE: Final = Authentication(
    (("aswSignature",),), (400, 401, 429), ("Strive-Asw-Id", *_SIGNED)
)
RECIPIENT_SIGNATURE: Final = Authentication(
    (("recipientSignature",),), (400, 401, 429), ("Strive-Recipient-Id", *_SIGNED)
)
WITNESS_SIGNATURE: Final = Authentication(
    (("witnessSignature",),), (400, 401), ("Strive-Witness-Id", *_SIGNED)
)
LOG_READER: Final = Authentication(
    (("bearer",), ("aswSignature",), ("witnessSignature",)),
    (400, 401, 429),
    ("Strive-Asw-Id", "Strive-Witness-Id", *_SIGNED),
)

_Call = TypeVar("_Call", bound=Callable[..., Any])


def authenticates(authentication: Authentication) -> Callable[[_Call], _Call]:
    """Mark a dependency (function or class) as authenticating the way ``authentication``
    says; every operation depending on it is documented so."""

    def mark(call: _Call) -> _Call:
        setattr(call, _AUTH_MARK, authentication)
        return call

    return mark


def authenticated_by(authentication: Authentication) -> dict[str, Any]:
    """``openapi_extra`` of a route that authenticates in its body rather than by a
    dependency (a signed upload, a witness's cosignature)."""
    return {_AUTH_EXTRA: authentication}


_HEADER_DESCRIPTIONS: Final[dict[str, str]] = {
    "Signature-Input": "RFC 9421 signature parameters, label `strive`: covered components "
    '`("@method" "@authority" "@path" "@query" "content-digest")`, `created`, `keyid`, '
    '`alg="ed25519"`, `nonce`, `tag="strive"` (spec/protocol.md, "Signed HTTP requests").',
    "Content-Digest": "RFC 9530 `sha-256=:<base64>:` of the body, also of an empty body.",
    "Strive-Asw-Id": "The signing ASW's organisation id (not a covered component).",
    "Strive-Recipient-Id": "The signing recipient's id (not a covered component).",
    "Strive-Witness-Id": "The signing witness's name, as configured (not a covered component).",
}

_SIGNATURE_PROFILE: Final = (
    "The Strive profile of RFC 9421 HTTP Message Signatures with an RFC 9530 Content-Digest "
    '(spec/protocol.md, "Signed HTTP requests"): an Ed25519 signature, label `strive`, over '
    "`@method`, `@authority`, `@path`, `@query` and `content-digest`, with `created`, "
    '`keyid`, `alg="ed25519"`, a fresh 128-bit `nonce` and `tag="strive"`. The request carries '
    "`Signature` (this scheme), `Signature-Input` and `Content-Digest`, and names its signer in "
    "{header}. The receiver refuses a `created` older than 300 s or more than 60 s ahead, and a "
    "nonce it has seen before (`nonce_replayed`)."
)
SECURITY_SCHEMES: Final[dict[str, dict[str, str]]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A law-enforcement user's token (issued by `strive admin token` or the "
        'token API); its role decides what it may do (spec/api.md, "Roles").',
    },
    "aswSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Signature",
        "description": "An ASW's signed request, by a key registered for it. "
        + _SIGNATURE_PROFILE.format(header="`Strive-Asw-Id`"),
    },
    "recipientSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Signature",
        "description": "A recipient's (force, unit, agency) signed request, by its Ed25519 "
        "`sig` key. " + _SIGNATURE_PROFILE.format(header="`Strive-Recipient-Id`"),
    },
    "witnessSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Signature",
        "description": "A configured transparency-log witness's signed request, by its "
        "cosigner key. " + _SIGNATURE_PROFILE.format(header="`Strive-Witness-Id`"),
    },
}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _authentication(route: APIRoute) -> Authentication | None:
    declared = (route.openapi_extra or {}).get(_AUTH_EXTRA)
    if isinstance(declared, Authentication):
        return declared
    for call in _calls(route.dependant):
        found = getattr(call, _AUTH_MARK, None)
        if isinstance(found, Authentication):
            return found
    return None


def _uses(route: APIRoute, name: str) -> bool:
    # By name: the dependencies live in api/deps.py, which imports this module.
    return any(getattr(call, "__name__", None) == name for call in _calls(route.dependant))


def _parameters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = operation.get("parameters", [])
    return parameters


def _problem_response(status: int) -> dict[str, Any]:
    return problems(status)[status]


def _document_operation(operation: dict[str, Any], route: APIRoute) -> None:
    operation.pop(_AUTH_EXTRA, None)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses = {422}
    if "{" in route.path:
        statuses.add(404)
    if _uses(route, "get_sessions"):
        statuses.add(503)
    if "requestBody" in operation:  # the guard's limits; a body that cannot be read is 400
        statuses |= {400, 408, 413}
    if any(p.get("in") == "query" and p.get("name") == "asw_id" for p in _parameters(operation)):
        statuses.add(409)  # several ASWs used the referral id: name one (`referral_ambiguous`)
    authentication = _authentication(route)
    if authentication is not None:
        statuses.update(authentication.statuses)
        operation["security"] = [
            {scheme: [] for scheme in alternative} for alternative in authentication.security
        ]
        required = len(authentication.security) == 1
        parameters = operation.setdefault("parameters", [])
        known = {(p.get("in"), p.get("name", "").lower()) for p in parameters}
        for header in authentication.headers:
            if ("header", header.lower()) not in known:
                parameters.append(
                    {
                        "name": header,
                        "in": "header",
                        "required": required,
                        "description": _HEADER_DESCRIPTIONS[header],
                        "schema": {"type": "string"},
                    }
                )
    else:
        operation["security"] = []
    if responses.get("422", {}).get("description") == "Validation Error":
        del responses["422"]  # FastAPI's HTTPValidationError, never sent
    for number in statuses:
        responses.setdefault(str(number), _problem_response(number))
    for status, response in responses.items():
        if status.startswith(("4", "5")):  # every refusal is a problem document
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
            headers = response.get("headers") or _HEADERS.get(int(status))
            if headers:
                response["headers"] = headers
    operation["responses"] = dict(sorted(responses.items()))


def complete_openapi(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """Add authentication, problem responses and security schemes to FastAPI's document of
    ``app`` (in place), and drop FastAPI's validation-error schemas, which are never sent."""
    components = document.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    problem_schema = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    components["securitySchemes"] = SECURITY_SCHEMES
    routes = {route.operation_id: route for route in _api_routes(app.routes)}
    for item in document["paths"].values():
        for operation in item.values():
            route = routes.get(operation.get("operationId"))
            if route is None:
                raise ValueError(
                    f"no route declares the operation id {operation.get('operationId')}"
                )
            _document_operation(operation, route)
    return document


def _api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every route with an operation id, also inside included routers (whichever way the
    FastAPI version keeps them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            if route.operation_id:
                yield route
            continue
        inner = getattr(route, "original_router", None)
        yield from _api_routes(getattr(inner or route, "routes", None) or ())
