"""The SDK against the real receiver, started in-process (tests/server/conftest.py).

Every scenario runs twice, with ``StriveClient`` and with ``AsyncStriveClient``, through one
facade (:class:`Driven`). Where a real receiver cannot be made to misbehave (5xx, timeouts, bad
receipts, a malformed discovery document), :class:`Interposer` sits between the client and
the real receiver and changes only that answer: everything else is the receiver's own, and the
problem documents it invents come from the receiver's own catalogue (``Problem``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from strive_client import AsyncStriveClient, StriveClient
from strive_schema.codes import ProblemCode
from strive_server.problems import Problem

from ..server.conftest import (  # noqa: F401 - fixtures of the real receiver
    RECEIVER_ID,
    Receiver,
    database_url,
    fresh_referral,
    receiver,
    receiver_settings,
)

ASW_ID = "example-adverts"

Rewrite = Callable[[httpx.Request, httpx.Response], httpx.Response]


def problem_response(status: int, code: ProblemCode, detail: str) -> httpx.Response:
    """A problem answer exactly as the receiver would write it (its own catalogue)."""
    document = Problem(status, code, detail).document()
    return httpx.Response(
        status, json=document, headers={"Content-Type": "application/problem+json"}
    )


@dataclass
class Interposer:
    """Forwards requests to the real receiver; can answer in its place (``scripted``, in
    order: a response, or an exception to raise) or rewrite its answers (``rewrite``)."""

    base_url: str
    scripted: list[httpx.Response | Exception] = field(default_factory=list)
    rewrite: Rewrite | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def _scripted(self, request: httpx.Request) -> httpx.Response | None:
        self.requests.append(request)
        if not self.scripted:
            return None
        answer = self.scripted.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _forward(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if self.rewrite is None:
            return response
        return self.rewrite(request, response)

    def sync(self) -> httpx.BaseTransport:
        return _SyncInterposed(self)

    def asynchronous(self) -> httpx.AsyncBaseTransport:
        return _AsyncInterposed(self)

    def posts(self, path: str = "/v1/referrals") -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST" and r.url.path == path]

    def discoveries(self) -> int:
        return sum(r.url.path == "/.well-known/strive-configuration" for r in self.requests)


class _SyncInterposed(httpx.BaseTransport):
    def __init__(self, interposer: Interposer) -> None:
        self._interposer = interposer
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._interposer._scripted(request)
        if answer is not None:
            return answer
        response = self._inner.handle_request(request)
        content = response.read()
        response.close()
        return self._interposer._forward(request, _copy(response, content))

    def close(self) -> None:
        self._inner.close()


class _AsyncInterposed(httpx.AsyncBaseTransport):
    def __init__(self, interposer: Interposer) -> None:
        self._interposer = interposer
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._interposer._scripted(request)
        if answer is not None:
            return answer
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        await response.aclose()
        return self._interposer._forward(request, _copy(response, content))

    async def aclose(self) -> None:
        await self._inner.aclose()


def _copy(response: httpx.Response, content: bytes) -> httpx.Response:
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-encoding"]
    return httpx.Response(response.status_code, headers=headers, content=content)


def rewrite_json(path: str, change: Callable[[dict[str, Any]], None]) -> Rewrite:
    """A rewrite that edits the JSON answer of ``path`` in place."""

    def rewrite(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path != path:
            return response
        body = response.json()
        change(body)
        return httpx.Response(response.status_code, json=body)

    return rewrite


class Driven:
    """One facade over a sync or an async client: the same call, the same result.

    The async client runs on its own event loop, kept for the client's life so that its
    connection pool stays on one loop.
    """

    def __init__(self, client: StriveClient | AsyncStriveClient) -> None:
        self.client = client
        self._loop = asyncio.new_event_loop() if isinstance(client, AsyncStriveClient) else None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if self._loop is None or not callable(attribute):
            return attribute
        loop = self._loop

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            return loop.run_until_complete(result) if inspect.isawaitable(result) else result

        return call

    def close(self) -> None:
        if isinstance(self.client, AsyncStriveClient):
            assert self._loop is not None
            self._loop.run_until_complete(self.client.aclose())
            self._loop.close()
        else:
            self.client.close()


@dataclass
class Clients:
    """Makes clients of one kind (``sync`` or ``async``) for ASWs of the real receiver."""

    kind: str
    receiver: Receiver
    made: list[Driven] = field(default_factory=list)

    def __call__(
        self,
        asw_id: str = ASW_ID,
        *,
        interposer: Interposer | None = None,
        on_sleep: Callable[[float], None] = lambda _seconds: None,
        **kwargs: Any,
    ) -> Driven:
        """A client; its waits between retries are not slept but passed to ``on_sleep``."""
        kwargs.setdefault("key", self.receiver.keys[asw_id])
        if self.kind == "sync":
            kwargs["sleep"] = on_sleep
            if interposer is not None:
                kwargs["transport"] = interposer.sync()
            client: StriveClient | AsyncStriveClient = StriveClient(
                self.receiver.url, asw_id=asw_id, **kwargs
            )
        else:

            async def sleep(seconds: float) -> None:
                on_sleep(seconds)

            kwargs["sleep"] = sleep
            if interposer is not None:
                kwargs["transport"] = interposer.asynchronous()
            client = AsyncStriveClient(self.receiver.url, asw_id=asw_id, **kwargs)
        driven = Driven(client)
        self.made.append(driven)
        return driven

    def interposer(self) -> Interposer:
        return Interposer(self.receiver.url)


@pytest.fixture(params=["sync", "async"])
def clients(request: pytest.FixtureRequest, receiver: Receiver) -> Iterator[Clients]:  # noqa: F811
    """Clients of the kind under test, for ASWs registered on the running receiver."""
    receiver.register_asw(ASW_ID)
    made = Clients(request.param, receiver)
    try:
        yield made
    finally:
        for driven in made.made:
            driven.close()


@pytest.fixture
def fresh() -> dict[str, Any]:
    """A valid sandbox referral of ``ASW_ID``, dated now, with a fresh id."""
    return fresh_referral(asw_id=ASW_ID)


def another(referral: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``referral`` under a new id, with ``changes``."""
    copied: dict[str, Any] = json.loads(json.dumps(referral))
    copied.update(referral_id=str(uuid.uuid4()), **changes)
    return copied
