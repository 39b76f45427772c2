"""The receiver suite's connection to the receiver under test, and the helpers its checks
share: building sandbox referrals, signing envelopes and requests the way a conforming ASW
does (and the ways a broken or hostile one might), and judging problem documents.

Nothing here imports the reference server: the suite talks HTTP to a URL, so it tests any
receiver, whoever wrote it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx

from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    build_submission,
    format_timestamp,
    sign_envelope,
)
from strive_schema.httpsig import sign_request
from strive_schema.keys import PublicKey, SigningKey

from ._framework import Failed, Skipped

__all__ = ["Accepted", "ReceiverSession"]

ENVELOPE_MEDIA_TYPE: Final = "application/vnd.dsse.envelope.v1+json"
NDJSON_MEDIA_TYPE: Final = "application/x-ndjson"
PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
DISCOVERY_PATH: Final = "/.well-known/strive-configuration"
SANDBOX_NARRATIVE: Final = (
    "Strive conformance suite: sandbox referral; no real person is concerned; do not act on it."
)
USER_AGENT: Final = "strive-conformance/1"


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Accepted:
    """A submission the receiver accepted: what was sent and what came back."""

    referral: dict[str, Any]
    envelope: bytes
    status: int
    body: dict[str, Any]

    @property
    def receipt_envelope(self) -> bytes:
        text = self.body.get("receipt_envelope")
        if not isinstance(text, str):
            raise Failed("the response has no receipt_envelope string")
        return text.encode("utf-8")


@dataclass
class ReceiverSession:
    """Everything a receiver check needs."""

    url: str
    asw_id: str
    key: SigningKey
    analyst_token: str | None = None
    timeout: float = 30.0
    http: httpx.Client = field(init=False)
    _discovery: dict[str, Any] | None = field(default=None, init=False)
    _discovery_error: str | None = field(default=None, init=False)
    _baseline: Accepted | None = field(default=None, init=False)
    _baseline_error: str | None = field(default=None, init=False)
    problem_violations: list[str] = field(default_factory=list, init=False)
    """Refusals whose body was not a correct problem document (R-PROB-03 reports them)."""
    refusals_seen: int = field(default=0, init=False)
    shared: dict[str, Any] = field(default_factory=dict, init=False)
    """What one check module keeps between its checks (a referral refused several ways, a
    verified checkpoint)."""

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url, timeout=self.timeout, headers={"User-Agent": USER_AGENT}
        )

    def close(self) -> None:
        self.http.close()

    # -- discovery ---------------------------------------------------------------------------

    def fetch_discovery(self) -> httpx.Response:
        return self.http.get(DISCOVERY_PATH)

    def set_discovery(self, document: dict[str, Any] | None, error: str | None) -> None:
        self._discovery, self._discovery_error = document, error

    def discovery(self) -> dict[str, Any]:
        """The discovery document (fetched by R-DISC-01); checks that need it skip without."""
        if self._discovery is None and self._discovery_error is None:
            try:
                response = self.fetch_discovery()
                body = response.json()
                if response.status_code != 200 or not isinstance(body, dict):
                    raise ValueError(f"status {response.status_code}")
                self._discovery = body
            except (ValueError, httpx.HTTPError) as exc:
                self._discovery_error = str(exc) or type(exc).__name__
        if self._discovery is None:
            raise Skipped(f"needs the discovery document ({self._discovery_error})")
        return self._discovery

    @property
    def receiver_id(self) -> str:
        value = self.discovery().get("receiver_id")
        if not isinstance(value, str) or not value:
            raise Skipped("the discovery document has no receiver_id")
        return value

    def limit(self, name: str) -> int:
        limits = self.discovery().get("limits")
        value = limits.get(name) if isinstance(limits, dict) else None
        if not isinstance(value, int) or isinstance(value, bool):
            raise Skipped(f"the discovery document has no integer limits.{name}")
        return value

    def receiver_keys(self) -> list[PublicKey]:
        jwks = self.discovery().get("jwks")
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list) or not keys:
            raise Skipped("the discovery document publishes no receipt keys")
        published = []
        for jwk in keys:
            try:
                published.append(PublicKey.from_jwk(jwk))
            except (ValueError, TypeError) as exc:
                raise Skipped(f"a published key is unusable: {exc}") from None
        return published

    @property
    def origin(self) -> str:
        """The origin signed requests are signed under: the discovery document's, else the
        URL the suite was given."""
        try:
            value = self.discovery().get("origin")
        except Skipped:
            value = None
        return value.rstrip("/") if isinstance(value, str) and value else self.url

    # -- referrals and envelopes -------------------------------------------------------------

    def schema_version(self) -> str:
        versions = self.discovery().get("supported_schema_versions")
        if not isinstance(versions, list) or not versions:
            raise Skipped("the discovery document lists no supported schema versions")
        return "1.0" if "1.0" in versions else str(versions[0])

    def new_referral(self, **changes: Any) -> dict[str, Any]:
        """A valid sandbox (``is_test``) referral from this ASW with a fresh id: nothing a
        receiver does with it reaches an investigation (sandbox referrals are never
        disseminated)."""
        referral: dict[str, Any] = {
            "schema_version": self.schema_version(),
            "referral_id": str(uuid.uuid4()),
            "created_at": format_timestamp(utc_now() - timedelta(minutes=1)),
            "is_test": True,
            "reporter": {
                "organisation_id": self.asw_id,
                "platform_name": "Strive conformance suite",
                "safeguarding_contact": {
                    "name": "Conformance Suite",
                    "email": "conformance-suite@example.com",
                },
                "case_reference": "CONFORMANCE-" + uuid.uuid4().hex[:8].upper(),
            },
            "urgency": {"level": "routine"},
            "source": "staff_review",
            "narrative": SANDBOX_NARRATIVE,
            "indicators": [{"code": "third_person_advert_text", "risk": "low"}],
            "handling": {
                "protective_marking": "OFFICIAL-SENSITIVE",
                "lawful_basis": {"code": "uk_gdpr_6_1_f_legitimate_interests"},
                "declaration": {
                    "submitted_by": "Conformance Suite",
                    "role": "Tester",
                    "accurate_to_best_of_knowledge": True,
                },
            },
        }
        referral.update(changes)
        return referral

    def payload(
        self,
        referral: Mapping[str, Any],
        *,
        asw_id: str | None = None,
        audience: str | None = None,
        issued_at: datetime | None = None,
    ) -> bytes:
        return build_submission(
            referral,
            asw_id=self.asw_id if asw_id is None else asw_id,
            audience=self.receiver_id if audience is None else audience,
            issued_at=utc_now() if issued_at is None else issued_at,
        )

    def envelope(
        self,
        referral: Mapping[str, Any],
        *,
        key: SigningKey | None = None,
        payload_type: str = SUBMISSION_PAYLOAD_TYPE,
        **payload_changes: Any,
    ) -> bytes:
        """A signed envelope, as a conforming ASW would write it (or with one thing
        changed)."""
        payload = self.payload(referral, **payload_changes)
        return sign_envelope(payload, payload_type, [key or self.key]).to_json()

    @staticmethod
    def raw_envelope(payload_type: str, payload: bytes, keyid: str, sig: bytes) -> bytes:
        """An envelope with exactly these members: for malformed and forged cases."""
        document = {
            "payloadType": payload_type,
            "payload": base64.b64encode(payload).decode("ascii"),
            "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode("ascii")}],
        }
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    # -- requests ----------------------------------------------------------------------------

    def submit(
        self,
        body: bytes,
        *,
        content_type: str = ENVELOPE_MEDIA_TYPE,
        path: str = "/v1/referrals",
    ) -> httpx.Response:
        return self.http.post(
            path,
            content=body,
            headers={"Content-Type": content_type, "Strive-Asw-Id": self.asw_id},
        )

    def submit_batch(self, lines: list[bytes]) -> httpx.Response:
        body = b"".join(line + b"\n" for line in lines)
        return self.submit(body, content_type=NDJSON_MEDIA_TYPE, path="/v1/referrals/batch")

    def accept(self, referral: dict[str, Any] | None = None) -> Accepted:
        """Submit a fresh sandbox referral; fail unless it is stored (201)."""
        referral = referral or self.new_referral()
        envelope = self.envelope(referral)
        response = self.submit(envelope)
        if response.status_code != 201:
            raise Failed(f"a valid sandbox submission got {describe(response)}, not 201")
        body = json_object(response)
        return Accepted(referral, envelope, response.status_code, body)

    def baseline(self, *, strict: bool = False) -> Accepted:
        """The first accepted submission, shared by the checks that read what it left.
        Checks that rest on it skip when it failed; the check of the submission itself
        (``strict``) fails."""
        if self._baseline is None and self._baseline_error is None:
            try:
                self._baseline = self.accept()
            except (Failed, Skipped, httpx.HTTPError) as exc:
                self._baseline_error = str(exc)
        if self._baseline is None and strict:
            raise Failed(str(self._baseline_error))
        if self._baseline is None:
            raise Skipped(f"needs an accepted submission ({self._baseline_error})")
        return self._baseline

    def signed_headers(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        key: SigningKey | None = None,
        created: datetime | None = None,
        nonce: str | None = None,
        body_sha256: bytes | None = None,
    ) -> dict[str, str]:
        headers = {"Strive-Asw-Id": self.asw_id}
        headers.update(
            sign_request(
                method,
                self.origin + path,
                {},
                body,
                key or self.key,
                created=created,
                nonce=nonce,
                body_sha256=body_sha256,
            )
        )
        return headers

    def signed_get(self, path: str, **signing: Any) -> httpx.Response:
        return self.http.get(path, headers=self.signed_headers("GET", path, **signing))

    # -- judging answers ---------------------------------------------------------------------

    def expect_problem(self, response: httpx.Response, status: int, code: str) -> str:
        """Pass when ``response`` is the refusal ``status``/``code`` as an RFC 9457 problem
        document of the Strive form; raise :class:`Failed` naming what differs."""
        self.refusals_seen += 1
        got_code = problem_code(response)
        shape = (
            problem_shape_errors(response, got_code or code) if response.status_code >= 400 else []
        )
        if shape:
            self.problem_violations.append(f"{response.status_code}: {shape[0]}")
        if response.status_code != status or got_code != code:
            raise Failed(f"expected {status} {code}, got {describe(response)}")
        if shape:
            raise Failed(f"{status} {code} is not a Strive problem document: {'; '.join(shape)}")
        return f"{status} {code} as a problem document"


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Failed(f"the {response.status_code} answer is not JSON") from None
    if not isinstance(body, dict):
        raise Failed(f"the {response.status_code} answer is not a JSON object")
    return body


def problem_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def describe(response: httpx.Response) -> str:
    code = problem_code(response)
    media = response.headers.get("content-type", "no content type").split(";")[0]
    return f"{response.status_code} {code or '(no code)'} ({media})"


def problem_shape_errors(response: httpx.Response, code: str) -> list[str]:
    """What makes ``response`` not a problem document of spec/api.md, "Conventions"."""
    errors = []
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != PROBLEM_MEDIA_TYPE:
        errors.append(f"content type {media or 'missing'}, not {PROBLEM_MEDIA_TYPE}")
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return [*errors, "the body is not JSON"]
    if not isinstance(body, dict):
        return [*errors, "the body is not a JSON object"]
    if not isinstance(body.get("code"), str):
        errors.append("no code member")
    if body.get("type") != f"urn:strive:problem:{code}":
        errors.append(f"type is {body.get('type')!r}, not 'urn:strive:problem:{code}'")
    if body.get("status") != response.status_code:
        errors.append(f"status member {body.get('status')!r} differs from the HTTP status")
    if not isinstance(body.get("title"), str):
        errors.append("no title string")
    return errors
