"""Request signing (RFC 9421 with an RFC 9530 content digest) as an ``httpx.Auth``."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey

__all__ = ["RequestSigner"]


class RequestSigner(httpx.Auth):
    """Signs every request with the ASW's key: no shared secret ever leaves the ASW.

    Each attempt (also each retry) gets a fresh ``created`` time and nonce, so a receiver can
    refuse replays without refusing retries.
    """

    requires_request_body = True

    def __init__(self, key: SigningKey, asw_id: str, *, header: str = "Strive-Asw-Id") -> None:
        self._key = key
        self._asw_id = asw_id
        self._header = header  # Strive-Witness-Id for a witness reading the log

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._asw_id
        added = sign_request(
            request.method, str(request.url), dict(request.headers), request.content, self._key
        )
        request.headers.update(added)
        yield request

    def __repr__(self) -> str:
        return f"RequestSigner(asw_id={self._asw_id!r}, key_id={self._key.key_id!r})"
