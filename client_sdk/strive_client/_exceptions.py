"""The SDK's exceptions. Catch ``StriveClientError`` to catch them all.

::

    StriveClientError
    ├── ReferralInvalid          the referral failed local validation; nothing was sent
    ├── SandboxViolation         a live referral given to a sandbox client; nothing was sent
    ├── SchemaVersionUnsupported the receiver does not list the referral's schema version;
    │                            nothing was sent
    ├── DiscoveryInvalid         the receiver's discovery document is unusable (``pointer``
    │                            names the member at fault)
    ├── TransportError           no usable HTTP response, after every retry
    │   ├── ConnectionFailed
    │   └── RequestTimeout
    ├── APIError                 the receiver answered with an RFC 9457 problem document
    │   ├── BadRequest                     400
    │   ├── AuthenticationFailed           401
    │   ├── PermissionDenied               403
    │   ├── NotFound                       404
    │   ├── ReferralConflict               409
    │   ├── PayloadTooLarge                413
    │   ├── UnsupportedMediaType           415
    │   ├── ReferralRejected               422
    │   ├── RateLimited                    429
    │   └── ServerError                    5xx
    └── VerificationError        a receipt or signature did not verify (also a
                                 ``strive_schema.errors.VerificationError``)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from strive_schema import errors as _schema_errors
from strive_schema.semantics import Finding

__all__ = [
    "APIError",
    "AuthenticationFailed",
    "BadRequest",
    "ConnectionFailed",
    "DiscoveryInvalid",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "ReferralConflict",
    "ReferralInvalid",
    "ReferralRejected",
    "RequestTimeout",
    "SandboxViolation",
    "SchemaVersionUnsupported",
    "ServerError",
    "StriveClientError",
    "TransportError",
    "UnsupportedMediaType",
    "VerificationError",
]


class StriveClientError(Exception):
    """Root of every exception the SDK raises."""


class ReferralInvalid(StriveClientError):
    """The referral failed local validation; nothing was sent.

    ``errors`` holds every finding, each with ``pointer``, ``code`` and ``message``.
    """

    def __init__(self, errors: Sequence[Finding]) -> None:
        self.errors = tuple(errors)
        first = self.errors[0] if self.errors else None
        where = f": {first.code} at {first.pointer or '/'}" if first else ""
        super().__init__(f"the referral is invalid ({len(self.errors)} error(s)){where}")


class SandboxViolation(StriveClientError):
    """A sandbox client was given a referral with ``is_test`` false; nothing was sent."""


class SchemaVersionUnsupported(StriveClientError):
    """The referral's ``schema_version`` is not one the receiver lists in its discovery
    document (``supported_schema_versions``); nothing was sent.

    Attributes:
        schema_version: the referral's version (``None`` when it has none).
        supported: the versions the receiver lists.
    """

    def __init__(self, schema_version: object, supported: Sequence[str]) -> None:
        self.schema_version = schema_version if isinstance(schema_version, str) else None
        self.supported = tuple(supported)
        listed = ", ".join(self.supported) or "none"
        super().__init__(
            f"the receiver does not accept schema version {schema_version!r} "
            f"(it lists: {listed}); the referral was not sent"
        )


class DiscoveryInvalid(StriveClientError):
    """The receiver's discovery document (``/.well-known/strive-configuration``) cannot be
    used: a member is missing, of the wrong type, or holds an unusable value (such as a
    receipt key whose ``kid`` is not its thumbprint).

    Attributes:
        pointer: the JSON Pointer of the member at fault (``""`` for the whole document).
        reason: what is wrong with it.
    """

    def __init__(self, pointer: str, reason: str) -> None:
        self.pointer = pointer
        self.reason = reason
        super().__init__(
            f"the receiver's discovery document is invalid at {pointer or '/'}: {reason}"
        )


class TransportError(StriveClientError):
    """The receiver could not be reached or did not answer in time, after every retry."""


class ConnectionFailed(TransportError):
    """The connection could not be made or was broken."""


class RequestTimeout(TransportError):
    """The receiver did not answer in time."""


class APIError(StriveClientError):
    """The receiver refused the request with a problem document (RFC 9457).

    Attributes:
        status: the HTTP status code.
        code: the stable error code (``problem["code"]``), e.g. ``schema_invalid``.
        pointer: the JSON Pointer of the first field at fault, if the problem names one.
        problem: the whole problem document.
    """

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem: dict[str, Any] = dict(problem)
        self.code: str = str(problem.get("code") or problem.get("type") or f"http_{status}")
        errors = problem.get("errors")
        pointer = None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            pointer = errors[0].get("pointer")
        self.pointer: str | None = pointer if isinstance(pointer, str) else None
        detail = problem.get("detail") or problem.get("title") or "request refused"
        where = f" at {self.pointer}" if self.pointer is not None else ""
        super().__init__(f"{status} {self.code}{where}: {detail}")

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The problem's ``errors`` array (each with ``pointer``, ``code``, ``message``)."""
        found = self.problem.get("errors")
        return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


class BadRequest(APIError):
    """400: the request is malformed."""


class AuthenticationFailed(APIError):
    """401: the signature, key or freshness check failed at the receiver."""


class PermissionDenied(APIError):
    """403: authenticated, but not allowed (another ASW's referral, a revoked key)."""


class NotFound(APIError):
    """404: no such referral or resource for this ASW."""


class ReferralConflict(APIError):
    """409: this referral id was already used with different content."""


class PayloadTooLarge(APIError):
    """413: the envelope or batch is larger than the receiver accepts."""


class UnsupportedMediaType(APIError):
    """415: the content type is not one the receiver accepts."""


class ReferralRejected(APIError):
    """422: the referral is invalid; ``errors`` lists every field at fault."""


class RateLimited(APIError):
    """429: too many requests; ``retry_after`` is the receiver's requested wait, seconds."""

    def __init__(
        self, status: int, problem: Mapping[str, Any], retry_after: float | None = None
    ) -> None:
        super().__init__(status, problem)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the receiver failed; the request may be retried."""


class VerificationError(StriveClientError, _schema_errors.VerificationError):
    """A receipt or signature did not verify. ``code`` is the stable protocol code."""

    def __init__(self, code: str, detail: str) -> None:
        _schema_errors.VerificationError.__init__(self, _schema_errors.ProtocolCode(code), detail)


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: ReferralConflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ReferralRejected,
}


def api_error(status: int, problem: Mapping[str, Any], retry_after: float | None) -> APIError:
    """Build the exception class that matches ``status``."""
    if status == 429:
        return RateLimited(status, problem, retry_after)
    if status >= 500:
        return ServerError(status, problem)
    return _BY_STATUS.get(status, APIError)(status, problem)
