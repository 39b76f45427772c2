"""``StriveClient`` and ``AsyncStriveClient``: submit referrals and read what came of them.

Both share one core that prepares requests and reads responses; they differ only in how they
send. Neither keeps global state: every setting lives on the client instance.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import random
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import httpx
from pydantic import ValidationError

from strive_client._auth import RequestSigner
from strive_client._exceptions import (
    APIError,
    ConnectionFailed,
    DiscoveryInvalid,
    ReferralInvalid,
    RequestTimeout,
    SandboxViolation,
    SchemaVersionUnsupported,
    StriveClientError,
    TransportError,
    VerificationError,
    api_error,
)
from strive_client._models import (
    AttachmentUpload,
    BatchItemResult,
    Discovery,
    InformationRequest,
    InformationRequestPage,
    ReferralStatus,
    SubmissionResult,
)
from strive_client._retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after
from strive_client._tlog import (
    CheckpointStore,
    FileCheckpointStore,
    InclusionProof,
    LogTrust,
    NeedResource,
    receipt_leaf_hash,
    run_check,
    trust_from,
)
from strive_schema import Referral
from strive_schema import errors as schema_errors
from strive_schema.envelope import (
    SUBMISSION_MAX_AGE,
    SUBMISSION_PAYLOAD_TYPE,
    build_submission,
    parse_envelope,
    parse_submission,
    sign_envelope,
)
from strive_schema.errors import KeyFormatError, LogCode, LogError
from strive_schema.httpsig import sign_request
from strive_schema.key_validity import VALIDITY_MEMBERS, KeyValidity
from strive_schema.keys import PublicKey, SigningKey
from strive_schema.normalise import DEFAULT_REGION, normalise_phone
from strive_schema.note import verify_promise
from strive_schema.receipts import Receipt, check_receipt, envelope_sha256
from strive_schema.semantics import Finding
from strive_schema.validator import DocumentReadError, load_json, validate_document

__all__ = ["AsyncStriveClient", "StriveClient"]

ENVELOPE_MEDIA_TYPE: Final = "application/vnd.dsse.envelope.v1+json"
NDJSON_MEDIA_TYPE: Final = "application/x-ndjson"
DISCOVERY_PATH: Final = "/.well-known/strive-configuration"
USER_AGENT: Final = "strive-client-python/0.1"
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)

ReferralInput = Referral | Mapping[str, Any] | bytes | str
"""A referral as a model, a JSON object, or JSON text."""


def _load_key(key: SigningKey | bytes | str | Path, password: bytes | str | None) -> SigningKey:
    if isinstance(key, SigningKey):
        return key
    if isinstance(key, bytes):
        return SigningKey.from_pem(key, password=password)
    return SigningKey.from_file(Path(key), password=password)


@dataclass
class _Submission:
    """One referral's submission: the same bytes on every retry while they are fresh."""

    referral: dict[str, Any]
    asw_id: str
    audience: str
    key: SigningKey
    clock: Callable[[], datetime]
    issued_at: datetime = field(init=False)
    envelope: bytes = field(init=False)

    def __post_init__(self) -> None:
        self._sign()

    def _sign(self) -> None:
        self.issued_at = self.clock().replace(microsecond=0)
        payload = build_submission(
            self.referral, asw_id=self.asw_id, audience=self.audience, issued_at=self.issued_at
        )
        self.envelope = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [self.key]).to_json()

    def current(self) -> bytes:
        """The envelope to send now: re-signed (same referral) once half the freshness window
        has passed, so a long retry is not refused as stale."""
        if self.clock() - self.issued_at > SUBMISSION_MAX_AGE / 2:
            self._sign()
        return self.envelope

    @property
    def referral_id(self) -> str:
        return str(self.referral["referral_id"])


class _Core:
    """Everything the two clients share: preparing referrals, reading responses."""

    def __init__(
        self,
        *,
        asw_id: str,
        key: SigningKey,
        sandbox: bool,
        validate: bool,
        default_region: str,
        retry: RetryPolicy,
        clock: Callable[[], datetime],
        rng: random.Random,
        pinned_keys: Sequence[PublicKey] | None,
        log_key: str | None = None,
        witness_keys: Sequence[str] | None = None,
        witness_quorum: int = 0,
        checkpoint_store: CheckpointStore | None = None,
    ) -> None:
        self.pinned_keys = list(pinned_keys) if pinned_keys is not None else None
        self.log_key = log_key
        self.witness_keys = list(witness_keys) if witness_keys is not None else None
        self.witness_quorum = witness_quorum
        if witness_quorum and witness_keys is None:
            # Keys taken from the receiver's own discovery document would let a dishonest
            # operator name witnesses it controls: a quorum means nothing without the
            # caller's own list.
            raise ValueError("witness_quorum needs witness_keys obtained out of band")
        self.checkpoint_store: CheckpointStore = checkpoint_store or FileCheckpointStore()
        self.asw_id = asw_id
        self.key = key
        self.sandbox = sandbox
        self.validate = validate
        self.default_region = default_region
        self.retry = retry
        self.clock = clock
        self.rng = rng
        self.signer = RequestSigner(key, asw_id)
        self.discovery: Discovery | None = None
        self.published_keys: list[PublicKey] = []
        self.published_validity: dict[str, KeyValidity] = {}

    # -- referrals ---------------------------------------------------------------------------

    def prepare(self, referral: ReferralInput) -> dict[str, Any]:
        """Turn the input into the document to sign, checking it first.

        Raises ReferralInvalid, SandboxViolation.
        """
        document = self._as_document(referral)
        for phone in document.get("phones", []):
            if (
                isinstance(phone, dict)
                and "e164" not in phone
                and isinstance(phone.get("raw"), str)
            ):
                e164 = normalise_phone(phone["raw"], self.default_region)
                if e164 is not None:
                    phone["e164"] = e164
        if self.sandbox and document.get("is_test") is not True:
            raise SandboxViolation(
                "this client is in sandbox mode and sends only referrals with is_test true"
            )
        reporter = document.get("reporter")
        if isinstance(reporter, dict) and reporter.get("organisation_id") != self.asw_id:
            raise ReferralInvalid(
                [
                    Finding(
                        "/reporter/organisation_id",
                        schema_errors.ProtocolCode.ASW_MISMATCH,
                        "must be the organisation id this client signs for",
                    )
                ]
            )
        if self.validate:
            result = validate_document(document, default_region=self.default_region)
            if not result.valid:
                raise ReferralInvalid(result.errors)
        return document

    @staticmethod
    def _as_document(referral: ReferralInput) -> dict[str, Any]:
        if isinstance(referral, Referral):
            loaded: object = json.loads(referral.model_dump_json(exclude_none=True))
        elif isinstance(referral, bytes | str):
            try:
                loaded = load_json(referral)
            except DocumentReadError as exc:
                raise ReferralInvalid([exc.finding]) from None
        else:
            loaded = copy.deepcopy(dict(referral))
        if not isinstance(loaded, dict):
            raise ReferralInvalid(
                [Finding("", "not_an_object", "a referral must be a JSON object", kind="schema")]
            )
        return loaded

    def submission(self, document: dict[str, Any], discovery: Discovery) -> _Submission:
        """Sign ``document`` for the receiver of ``discovery``.

        Raises SchemaVersionUnsupported: the receiver does not list the referral's version.
        """
        version = document.get("schema_version")
        if version not in discovery.supported_schema_versions:
            raise SchemaVersionUnsupported(version, discovery.supported_schema_versions)
        return _Submission(document, self.asw_id, discovery.receiver_id, self.key, self.clock)

    # -- retries -----------------------------------------------------------------------------

    def retry_delay(
        self, attempt: int, outcome: httpx.Response | httpx.TransportError
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or ``None`` when ``outcome`` is
        final: a response that is not retryable, or the last attempt. Raises the transport
        error when attempts are exhausted after one."""
        if isinstance(outcome, httpx.Response):
            if outcome.status_code not in RETRYABLE_STATUSES:
                return None
            retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
        else:
            retry_after = None
        delay = self.retry.delay(attempt, retry_after, self.rng)
        if delay is None and isinstance(outcome, httpx.TransportError):
            raise _transport_error(outcome) from None
        return delay

    @staticmethod
    def batch_body(submissions: list[_Submission], sent: list[bytes]) -> Callable[[], bytes]:
        """The NDJSON body of a batch, re-signing stale items; records what was sent."""

        def body() -> bytes:
            sent[:] = [s.current() for s in submissions]
            return b"".join(envelope + b"\n" for envelope in sent)

        return body

    # -- evidence files ----------------------------------------------------------------------

    def upload_request(
        self, http: httpx.Client | httpx.AsyncClient, referral_id: str, attachment_id: str,
        path: Path, sha256: bytes, size: int, chunks: Any,
    ) -> httpx.Request:  # fmt: skip
        """A signed ``PUT`` of one file: signed over the file's SHA-256 (``Content-Digest``),
        so the body streams from disk; a fresh signature (time, nonce) per attempt."""
        quoted = urllib.parse.quote(referral_id, safe="")
        target = f"/v1/referrals/{quoted}/attachments/{urllib.parse.quote(attachment_id, safe='')}"
        request = http.build_request(
            "PUT", target, content=chunks,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )  # fmt: skip
        request.headers["Strive-Asw-Id"] = self.asw_id
        request.headers.update(
            sign_request("PUT", str(request.url), dict(request.headers), b"", self.key,
                         body_sha256=sha256)
        )  # fmt: skip
        return request

    # -- responses ---------------------------------------------------------------------------

    @staticmethod
    def problem_of(response: httpx.Response) -> APIError:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            body = {"title": response.reason_phrase or "error", "status": response.status_code}
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return api_error(response.status_code, body, retry_after)

    def json_of(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise self.problem_of(response)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise StriveClientError(
                f"the receiver answered {response.status_code} with a body that is not JSON"
            ) from None

    def known_discovery(self) -> Discovery:
        if self.discovery is None:  # the clients fetch it before they need it
            raise StriveClientError("the receiver's discovery document has not been fetched")
        return self.discovery

    def receiver_keys(self) -> list[PublicKey]:
        if self.pinned_keys is not None:
            return self.pinned_keys
        self.known_discovery()
        return self.published_keys

    @property
    def receipt_key_validity(self) -> dict[str, KeyValidity]:
        """The published lifecycle of the receipt keys (none for pinned keys: the caller
        who pins keys vouches for them)."""
        return {} if self.pinned_keys is not None else self.published_validity

    def may_refresh_keys(self, error: VerificationError) -> bool:
        """A receipt under an unknown key may mean the receiver rotated: look again, unless
        the caller pinned the receiver's keys."""
        return error.code == "key_unknown" and self.pinned_keys is None

    def read_receipt(
        self, body: Mapping[str, Any], sent: bytes, referral_id: str | None
    ) -> SubmissionResult:
        """Verify the receipt in ``body`` against the receiver's keys and what was sent.

        A first submission's receipt must acknowledge exactly the bytes sent. A replay
        (``"replayed": true``) is answered with the original receipt, which acknowledges the
        original envelope: then the referral digest must equal that of the referral sent.
        """
        discovery = self.known_discovery()
        envelope = body.get("receipt_envelope")
        if not isinstance(envelope, str):
            raise VerificationError(
                "payload_malformed",
                "the response carries no receipt envelope text (a string holding its exact JSON)",
            )
        raw = envelope.encode("utf-8")  # the exact bytes the receiver signed and hashed
        replayed = body.get("replayed") is True
        try:
            # A fresh receipt must come from a key valid now, by this client's clock, as well
            # as at its received_at; a replay's original receipt is judged at its
            # received_at (its key may have been retired since).
            checked = check_receipt(
                raw,
                self.receiver_keys(),
                key_validity=self.receipt_key_validity,
                observed_at=None if replayed else self.clock(),
                expected_envelope_sha256=None if replayed else envelope_sha256(sent),
                expected_asw_id=self.asw_id,
                expected_referral_id=referral_id,
                expected_receiver_id=discovery.receiver_id,
            )
        except schema_errors.VerificationError as exc:
            raise VerificationError(exc.code, exc.detail) from None
        receipt = checked.receipt
        if replayed:
            sent_digest = parse_submission(parse_envelope(sent).payload).referral_digest
            if receipt.referral_digest != sent_digest:
                raise VerificationError(
                    "receipt_mismatch", "the replay receipt is for different referral content"
                )
        promise = body.get("log_promise")
        return SubmissionResult(
            receipt=receipt,
            receipt_envelope=raw,
            replayed=replayed,
            log_promise=promise if isinstance(promise, str) else None,
            receipt_key=checked.key_judgement,
        )

    def batch_results(
        self, body: Mapping[str, Any], submissions: list[_Submission], sent: list[bytes]
    ) -> list[BatchItemResult]:
        items = body.get("results")
        if not isinstance(items, list) or len(items) != len(submissions):
            raise StriveClientError("the batch response does not have one result per item")
        results = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise StriveClientError("a batch result is not an object")
            if item.get("index") != index:
                raise StriveClientError(
                    f"batch result {index} does not carry its index ({item.get('index')!r})"
                )
            status = item.get("status")
            if status not in ("accepted", "duplicate", "rejected"):
                raise StriveClientError("a batch result has an unknown status")
            outcome = None
            if status != "rejected":
                outcome = self.read_receipt(item, sent[index], submissions[index].referral_id)
            results.append(
                BatchItemResult(
                    index=index,
                    referral_id=submissions[index].referral_id,
                    status=status,
                    result=outcome,
                    problem=item.get("problem"),
                )
            )
        return results

    def discovery_of(self, response: httpx.Response) -> Discovery:
        """Read the discovery document, keys included.

        Raises DiscoveryInvalid naming the member at fault; APIError for a problem answer.
        """
        if response.status_code >= 400:
            raise self.problem_of(response)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DiscoveryInvalid("", "is not JSON") from None
        if not isinstance(body, dict):
            raise DiscoveryInvalid("", "must be a JSON object")
        if "jwks" in body and not isinstance(body["jwks"], dict):
            raise DiscoveryInvalid("/jwks", 'must be a JWK Set: an object with a "keys" array')
        try:
            discovery = Discovery.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            pointer = "".join(f"/{part}" for part in first["loc"])
            raise DiscoveryInvalid(pointer, first["msg"].lower()) from None
        self.published_keys = [
            _published_key(jwk, f"/jwks/keys/{i}") for i, jwk in enumerate(discovery.jwks.keys)
        ]
        self.published_validity = {
            key.key_id: _published_validity(jwk, f"/jwks/keys/{i}")
            for i, (key, jwk) in enumerate(
                zip(self.published_keys, discovery.jwks.keys, strict=True)
            )
        }
        self.discovery = discovery
        return discovery

    # -- the transparency log ----------------------------------------------------------------

    def log_trust(self) -> LogTrust:
        """The log key and witnesses: pinned ones when given, else the discovery document's."""
        published = self.known_discovery().log
        log_key = self.log_key or (published.vkey if published else None)
        if log_key is None:
            raise StriveClientError("the receiver publishes no transparency log; pass log_key")
        witnesses = self.witness_keys
        if witnesses is None:
            witnesses = published.witnesses if published else []
        return trust_from(log_key, witnesses, self.witness_quorum)

    def log_resource(self, response: httpx.Response) -> bytes:
        """A log resource's bytes; ``log_entry_unknown`` (not sequenced yet) as a LogError."""
        if response.status_code == 404:
            error = self.problem_of(response)
            if error.code == LogCode.ENTRY_UNKNOWN:
                raise LogError(LogCode.ENTRY_UNKNOWN, "the entry is not in the log yet")
            raise error
        if response.status_code >= 400:
            raise self.problem_of(response)
        return response.content

    def check_promise(
        self, receipt: SubmissionResult | bytes | str, trust: LogTrust, error: LogError
    ) -> LogError:
        """For an entry not in the log yet: ``log_promise_broken`` when the receipt came with
        the log's signed promise and its time has passed, else ``error`` unchanged."""
        if not isinstance(receipt, SubmissionResult) or receipt.log_promise is None:
            return error
        leaf = receipt_leaf_hash(receipt.receipt_envelope)
        include_by = verify_promise(receipt.log_promise, trust.log_key, leaf)
        if self.clock().timestamp() > include_by:
            return LogError(
                LogCode.PROMISE_BROKEN,
                f"the log promised to include this receipt by {include_by} (POSIX time)",
            )
        return error

    @staticmethod
    def receipt_bytes(receipt: SubmissionResult | bytes | str) -> bytes:
        if isinstance(receipt, SubmissionResult):
            return receipt.receipt_envelope
        return receipt.encode("utf-8") if isinstance(receipt, str) else receipt

    @staticmethod
    def answer(
        referral: dict[str, Any], request: InformationRequest | str, original: str | None
    ) -> dict[str, Any]:
        """Mark ``referral`` as the answer to ``request``."""
        request_id = request.id if isinstance(request, InformationRequest) else request
        original_id = request.referral_id if isinstance(request, InformationRequest) else original
        if original_id is None:
            raise ValueError("give the InformationRequest, or the original referral id")
        referral["supplements"] = {
            "referral_id": original_id,
            "relationship": "answers_request",
            "information_request_id": request_id,
        }
        return referral


def _published_key(jwk: dict[str, Any], pointer: str) -> PublicKey:
    """One receipt key of the discovery document, or DiscoveryInvalid naming the member."""
    try:
        return PublicKey.from_jwk(jwk)
    except KeyFormatError as exc:
        if "kid" in jwk:  # is it the key itself, or only its kid, that is wrong?
            try:
                PublicKey.from_jwk({name: v for name, v in jwk.items() if name != "kid"})
            except KeyFormatError:
                pass
            else:
                pointer += "/kid"
        raise DiscoveryInvalid(pointer, str(exc)) from None


def _published_validity(jwk: dict[str, Any], pointer: str) -> KeyValidity:
    """The lifecycle members of a receipt key, or DiscoveryInvalid naming the member."""
    try:
        return KeyValidity.from_members(jwk)
    except KeyFormatError as exc:
        member = next((name for name in VALIDITY_MEMBERS if f'"{name}"' in str(exc)), "not_after")
        raise DiscoveryInvalid(f"{pointer}/{member}", str(exc)) from None


_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _check_url(base_url: str, *, allow_insecure: bool) -> None:
    url = httpx.URL(base_url)
    if url.scheme == "https" or allow_insecure:
        return
    if url.scheme == "http" and url.host in _LOOPBACK:
        return  # a receiver on this machine (the demo, tests)
    raise ValueError(
        "the receiver URL must use https (plain http only on loopback, or allow_insecure=True)"
    )


def _transport_error(exc: httpx.TransportError) -> TransportError:
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeout(f"the receiver did not answer in time ({type(exc).__name__})")
    return ConnectionFailed(f"could not reach the receiver ({type(exc).__name__})")


_UPLOAD_CHUNK = 1024 * 1024


def _referral_id_of(receipt: SubmissionResult | Receipt | str) -> str:
    if isinstance(receipt, SubmissionResult):
        return receipt.receipt.referral_id
    if isinstance(receipt, Receipt):
        return receipt.referral_id
    return receipt


def _file_digest(path: Path) -> tuple[bytes, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_UPLOAD_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.digest(), size


def _file_chunks(
    path: Path, attachment_id: str, size: int, progress: Callable[[str, int, int], None] | None
) -> Iterator[bytes]:
    sent = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_UPLOAD_CHUNK):
            sent += len(chunk)
            yield chunk
            if progress is not None:
                progress(attachment_id, sent, size)


async def _async_file_chunks(
    path: Path, attachment_id: str, size: int, progress: Callable[[str, int, int], None] | None
) -> AsyncIterator[bytes]:
    for chunk in _file_chunks(path, attachment_id, size, progress):
        yield chunk


class StriveClient:
    """Submit referrals to a Strive receiver and read their status, feedback and requests.

    Args:
        base_url: the receiver's base URL, e.g. ``https://referrals.police.example``.
        asw_id: your organisation id, as registered with the receiver.
        key: your Ed25519 private key: a ``SigningKey``, PEM bytes, or a path to a PEM file.
        key_password: the key's passphrase, if it has one.
        sandbox: only send referrals marked ``is_test`` (raises ``SandboxViolation``
            otherwise); use it in test environments.
        validate: validate each referral locally before sending (raises
            ``ReferralInvalid``); on by default.
        retry: the retry policy (default: 5 attempts, jittered backoff, honours
            ``Retry-After``).
        timeout: per-request timeout.
        transport: an httpx transport (e.g. ``httpx.MockTransport`` in tests).
        receiver_keys: the receiver's receipt keys, obtained out of band: when given, receipts
            are verified against these only, never against keys the server publishes (which
            a man in the middle could replace).
        allow_insecure: permit a plain ``http://`` URL that is not on loopback.
        log_key: the transparency log's verifier key (c2sp.org/signed-note), obtained out of
            band; by default the discovery document's, pinned on first use.
        witness_keys: the witnesses' verifier keys, obtained out of band; by default the
            discovery document's (checked, never counted towards a quorum). A cosignature by
            any other key is refused (``log_cosigner_unknown``).
        witness_quorum: how many distinct witnesses must have cosigned a checkpoint
            (default 0); needs ``witness_keys`` (``ValueError`` otherwise).
        checkpoint_store: where the log key, origin and newest verified checkpoint are
            pinned per receiver URL, so a key change (``log_key_changed``), rollback or
            fork is refused (default: ``FileCheckpointStore()``, a file under
            ``$STRIVE_STATE_DIR``, else ``$XDG_STATE_HOME/strive`` or
            ``~/.local/state/strive``; ``MemoryCheckpointStore()`` for tests only).

    Raises:
        ValueError: the URL is plain ``http://`` off loopback without ``allow_insecure``;
            ``witness_quorum`` without ``witness_keys``.

    Example::

        with StriveClient("https://receiver.example", asw_id="example-adverts",
                          key="keys/private_key.pem") as client:
            result = client.submit_referral(referral)
            print(result.receipt.referral_id, result.receipt.received_at)
    """

    def __init__(
        self,
        base_url: str,
        *,
        asw_id: str,
        key: SigningKey | bytes | str | Path,
        key_password: bytes | str | None = None,
        sandbox: bool = False,
        validate: bool = True,
        default_region: str = DEFAULT_REGION,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        receiver_keys: Sequence[PublicKey] | None = None,
        allow_insecure: bool = False,
        log_key: str | None = None,
        witness_keys: Sequence[str] | None = None,
        witness_quorum: int = 0,
        checkpoint_store: CheckpointStore | None = None,
    ) -> None:
        _check_url(base_url, allow_insecure=allow_insecure)
        self._core = _Core(
            asw_id=asw_id,
            key=_load_key(key, key_password),
            sandbox=sandbox,
            validate=validate,
            default_region=default_region,
            retry=retry or RetryPolicy(),
            clock=clock or (lambda: datetime.now(UTC)),
            rng=rng or random.Random(),  # noqa: S311 - jitter only
            pinned_keys=receiver_keys,
            log_key=log_key,
            witness_keys=witness_keys,
            witness_quorum=witness_quorum,
            checkpoint_store=checkpoint_store,
        )
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Strive-Asw-Id": asw_id},
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __repr__(self) -> str:
        return f"StriveClient(base_url={str(self._http.base_url)!r}, asw_id={self._core.asw_id!r})"

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Callable[[], bytes] | None = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
        signed: bool = False,
    ) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        auth = self._core.signer if signed else None
        for attempt in itertools.count(1):
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self._http.request(
                    method, path, content=body() if body else None, headers=headers,
                    params=params, auth=auth,
                )  # fmt: skip
            except httpx.TransportError as exc:
                outcome = exc
            delay = self._core.retry_delay(attempt, outcome)
            if delay is None:
                assert isinstance(outcome, httpx.Response)
                return outcome
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_configuration(self, *, refresh: bool = False) -> Discovery:
        """Fetch (once, then cached on this client) the receiver's discovery document.

        Raises:
            DiscoveryInvalid: the document is unusable; ``pointer`` names the member at fault.
            APIError, TransportError: as for every call.
        """
        if self._core.discovery is None or refresh:
            self._core.discovery_of(self._send("GET", DISCOVERY_PATH))
        return self._core.known_discovery()

    def receiver_keys(self) -> list[PublicKey]:
        """The receiver's public keys that sign receipts."""
        self.get_configuration()
        return self._core.receiver_keys()

    def _verified(self, body: Mapping[str, Any], sent: bytes, referral_id: str) -> SubmissionResult:
        try:
            return self._core.read_receipt(body, sent, referral_id)
        except VerificationError as exc:
            if not self._core.may_refresh_keys(exc):
                raise
            self.get_configuration(refresh=True)  # the receiver may have rotated its key
            return self._core.read_receipt(body, sent, referral_id)

    def submit_referral(self, referral: ReferralInput) -> SubmissionResult:
        """Validate, sign and submit one referral; return its verified receipt.

        Retries are safe: every attempt carries the same referral id and content, so the
        receiver stores it once and answers a repeat with the original receipt
        (``result.replayed``).

        Raises:
            ReferralInvalid: local validation failed; nothing was sent.
            SandboxViolation: a live referral on a sandbox client; nothing was sent.
            SchemaVersionUnsupported: the receiver does not list the referral's
                ``schema_version``; nothing was sent.
            DiscoveryInvalid: the receiver's discovery document is unusable.
            ReferralRejected, ReferralConflict, AuthenticationFailed, ...: the receiver refused.
            TransportError: no answer after every retry.
            VerificationError: the receipt did not verify.
        """
        discovery = self.get_configuration()
        submission = self._core.submission(self._core.prepare(referral), discovery)
        response = self._send(
            "POST", "/v1/referrals", body=submission.current, content_type=ENVELOPE_MEDIA_TYPE
        )
        body = self._core.json_of(response)
        return self._verified(body, submission.envelope, submission.referral_id)

    def submit_batch(self, referrals: Iterable[ReferralInput]) -> list[BatchItemResult]:
        """Submit several referrals in one request; return one result per item, in order.

        One bad or duplicate item never fails the others: each result says ``accepted``,
        ``duplicate`` (with the original receipt) or ``rejected`` (with its problem).
        Local validation still raises ``ReferralInvalid`` before anything is sent.
        """
        discovery = self.get_configuration()
        submissions = [self._core.submission(self._core.prepare(r), discovery) for r in referrals]
        sent: list[bytes] = []
        response = self._send(
            "POST",
            "/v1/referrals/batch",
            body=self._core.batch_body(submissions, sent),
            content_type=NDJSON_MEDIA_TYPE,
        )
        return self._core.batch_results(self._core.json_of(response), submissions, sent)

    def upload_attachments(
        self,
        receipt: SubmissionResult | Receipt | str,
        files: Mapping[str, str | Path],
        *,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> list[AttachmentUpload]:
        """Upload the evidence files a submitted referral declared (spec/evidence-files.md).

        Args:
            receipt: the referral's submission result, receipt, or referral id.
            files: attachment id (as declared in ``attachments[]``) to file path.
            progress: called as ``progress(attachment_id, bytes_sent, size)`` while sending.

        Each file is hashed, then streamed (never read into memory) in a signed request
        whose ``Content-Digest`` is the file's SHA-256. Retries are safe: the receiver stores
        a file once and answers a repeat with the same result (``replayed``).

        Raises:
            APIError: a refusal (digest, size or type mismatch, undeclared id, ...), by its
                problem code.
        """
        referral_id = _referral_id_of(receipt)
        results: list[AttachmentUpload] = []
        for attachment_id, name in files.items():
            path = Path(name)
            sha256, size = _file_digest(path)
            for attempt in itertools.count(1):
                outcome: httpx.Response | httpx.TransportError
                request = self._core.upload_request(
                    self._http, referral_id, attachment_id, path, sha256, size,
                    _file_chunks(path, attachment_id, size, progress),
                )  # fmt: skip
                try:
                    outcome = self._http.send(request)
                except httpx.TransportError as exc:
                    outcome = exc
                delay = self._core.retry_delay(attempt, outcome)
                if delay is None:
                    assert isinstance(outcome, httpx.Response)
                    break
                self._sleep(delay)
            assert isinstance(outcome, httpx.Response)
            results.append(AttachmentUpload.model_validate(self._core.json_of(outcome)))
        return results

    def get_referral_status(self, referral_id: str) -> ReferralStatus:
        """Return a referral's state, outcome and the feedback released to you."""
        response = self._send("GET", f"/v1/referrals/{referral_id}/status", signed=True)
        return ReferralStatus.model_validate(self._core.json_of(response))

    def _log_check(self, leaf: bytes | None) -> InclusionProof:
        self.get_configuration()
        trust: LogTrust = self._core.log_trust()
        receiver = str(self._http.base_url).rstrip("/")
        fetched: dict[str, bytes] = {}
        while True:
            try:
                return run_check(
                    fetched, trust, self._core.checkpoint_store, receiver=receiver, leaf=leaf
                )
            except NeedResource as need:
                response = self._send("GET", f"/v1/log/{need.path}", signed=True)
                fetched[need.path] = self._core.log_resource(response)

    def verify_inclusion(self, receipt: SubmissionResult | bytes | str) -> InclusionProof:
        """Prove that the receiver logged a receipt: fetch the newest checkpoint and the
        tiles it needs, verify the log's signature and the witnesses' cosignatures, that the
        tiles hash to its root, its consistency with the newest checkpoint seen before (kept
        in ``checkpoint_store``), and the receipt's inclusion. ``receipt`` is a
        ``SubmissionResult`` or the receipt envelope's exact bytes.

        Raises:
            LogError: ``log_entry_unknown`` (not sequenced yet: retry within the log's
                maximum merge delay), ``log_promise_broken`` (not sequenced, and the time
                the log's signed promise named has passed), ``log_promise_invalid``,
                ``log_checkpoint_signature_invalid``,
                ``log_cosigner_unknown``, ``log_cosignature_invalid``, ``log_rollback``,
                ``log_consistency_failed`` (a fork), ``log_tile_mismatch``,
                ``log_inclusion_proof_invalid``.
            APIError, TransportError: as for every call.
        """
        try:
            return self._log_check(receipt_leaf_hash(self._core.receipt_bytes(receipt)))
        except LogError as exc:
            if exc.code is not LogCode.ENTRY_UNKNOWN:
                raise
            raise self._core.check_promise(receipt, self._core.log_trust(), exc) from None

    def verify_log(self) -> InclusionProof:
        """Verify the newest checkpoint and its consistency with the last one seen (as
        :meth:`verify_inclusion`, without an entry)."""
        return self._log_check(None)

    def list_information_requests(
        self, *, state: str | None = "open", cursor: str | None = None
    ) -> InformationRequestPage:
        """List requests for further information addressed to you, one page at a time
        (``state=None`` lists every state)."""
        params = {"state": state or "all", **({"cursor": cursor} if cursor else {})}
        response = self._send("GET", "/v1/information-requests", params=params, signed=True)
        return InformationRequestPage.model_validate(self._core.json_of(response))

    def answer_information_request(
        self,
        request: InformationRequest | str,
        referral: ReferralInput,
        *,
        original_referral_id: str | None = None,
    ) -> SubmissionResult:
        """Answer a request for information with a supplementary referral.

        ``referral`` is a complete referral; its ``supplements`` member is set to answer
        ``request`` (give ``original_referral_id`` when passing only the request's id).
        """
        document = _Core.answer(_Core._as_document(referral), request, original_referral_id)
        return self.submit_referral(document)


class AsyncStriveClient:
    """The asynchronous twin of :class:`StriveClient`, with the same arguments and methods."""

    def __init__(
        self,
        base_url: str,
        *,
        asw_id: str,
        key: SigningKey | bytes | str | Path,
        key_password: bytes | str | None = None,
        sandbox: bool = False,
        validate: bool = True,
        default_region: str = DEFAULT_REGION,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        rng: random.Random | None = None,
        receiver_keys: Sequence[PublicKey] | None = None,
        allow_insecure: bool = False,
        log_key: str | None = None,
        witness_keys: Sequence[str] | None = None,
        witness_quorum: int = 0,
        checkpoint_store: CheckpointStore | None = None,
    ) -> None:
        _check_url(base_url, allow_insecure=allow_insecure)
        self._core = _Core(
            asw_id=asw_id,
            key=_load_key(key, key_password),
            sandbox=sandbox,
            validate=validate,
            default_region=default_region,
            retry=retry or RetryPolicy(),
            clock=clock or (lambda: datetime.now(UTC)),
            rng=rng or random.Random(),  # noqa: S311 - jitter only
            pinned_keys=receiver_keys,
            log_key=log_key,
            witness_keys=witness_keys,
            witness_quorum=witness_quorum,
            checkpoint_store=checkpoint_store,
        )
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Strive-Asw-Id": asw_id},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def __repr__(self) -> str:
        return (
            f"AsyncStriveClient(base_url={str(self._http.base_url)!r}, "
            f"asw_id={self._core.asw_id!r})"
        )

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: Callable[[], bytes] | None = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
        signed: bool = False,
    ) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        auth = self._core.signer if signed else None
        for attempt in itertools.count(1):
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = await self._http.request(
                    method, path, content=body() if body else None, headers=headers,
                    params=params, auth=auth,
                )  # fmt: skip
            except httpx.TransportError as exc:
                outcome = exc
            delay = self._core.retry_delay(attempt, outcome)
            if delay is None:
                assert isinstance(outcome, httpx.Response)
                return outcome
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_configuration(self, *, refresh: bool = False) -> Discovery:
        """See :meth:`StriveClient.get_configuration`."""
        if self._core.discovery is None or refresh:
            self._core.discovery_of(await self._send("GET", DISCOVERY_PATH))
        return self._core.known_discovery()

    async def receiver_keys(self) -> list[PublicKey]:
        """See :meth:`StriveClient.receiver_keys`."""
        await self.get_configuration()
        return self._core.receiver_keys()

    async def _verified(
        self, body: Mapping[str, Any], sent: bytes, referral_id: str
    ) -> SubmissionResult:
        try:
            return self._core.read_receipt(body, sent, referral_id)
        except VerificationError as exc:
            if not self._core.may_refresh_keys(exc):
                raise
            await self.get_configuration(refresh=True)
            return self._core.read_receipt(body, sent, referral_id)

    async def submit_referral(self, referral: ReferralInput) -> SubmissionResult:
        """See :meth:`StriveClient.submit_referral`."""
        discovery = await self.get_configuration()
        submission = self._core.submission(self._core.prepare(referral), discovery)
        response = await self._send(
            "POST", "/v1/referrals", body=submission.current, content_type=ENVELOPE_MEDIA_TYPE
        )
        body = self._core.json_of(response)
        return await self._verified(body, submission.envelope, submission.referral_id)

    async def submit_batch(self, referrals: Iterable[ReferralInput]) -> list[BatchItemResult]:
        """See :meth:`StriveClient.submit_batch`."""
        discovery = await self.get_configuration()
        submissions = [self._core.submission(self._core.prepare(r), discovery) for r in referrals]
        sent: list[bytes] = []
        response = await self._send(
            "POST",
            "/v1/referrals/batch",
            body=self._core.batch_body(submissions, sent),
            content_type=NDJSON_MEDIA_TYPE,
        )
        return self._core.batch_results(self._core.json_of(response), submissions, sent)

    async def upload_attachments(
        self,
        receipt: SubmissionResult | Receipt | str,
        files: Mapping[str, str | Path],
        *,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> list[AttachmentUpload]:
        """See :meth:`StriveClient.upload_attachments`."""
        referral_id = _referral_id_of(receipt)
        results: list[AttachmentUpload] = []
        for attachment_id, name in files.items():
            path = Path(name)
            sha256, size = _file_digest(path)
            for attempt in itertools.count(1):
                outcome: httpx.Response | httpx.TransportError
                request = self._core.upload_request(
                    self._http, referral_id, attachment_id, path, sha256, size,
                    _async_file_chunks(path, attachment_id, size, progress),
                )  # fmt: skip
                try:
                    outcome = await self._http.send(request)
                except httpx.TransportError as exc:
                    outcome = exc
                delay = self._core.retry_delay(attempt, outcome)
                if delay is None:
                    assert isinstance(outcome, httpx.Response)
                    break
                await self._sleep(delay)
            assert isinstance(outcome, httpx.Response)
            results.append(AttachmentUpload.model_validate(self._core.json_of(outcome)))
        return results

    async def get_referral_status(self, referral_id: str) -> ReferralStatus:
        """See :meth:`StriveClient.get_referral_status`."""
        response = await self._send("GET", f"/v1/referrals/{referral_id}/status", signed=True)
        return ReferralStatus.model_validate(self._core.json_of(response))

    async def _log_check(self, leaf: bytes | None) -> InclusionProof:
        await self.get_configuration()
        trust: LogTrust = self._core.log_trust()
        receiver = str(self._http.base_url).rstrip("/")
        fetched: dict[str, bytes] = {}
        while True:
            try:
                return run_check(
                    fetched, trust, self._core.checkpoint_store, receiver=receiver, leaf=leaf
                )
            except NeedResource as need:
                response = await self._send("GET", f"/v1/log/{need.path}", signed=True)
                fetched[need.path] = self._core.log_resource(response)

    async def verify_inclusion(self, receipt: SubmissionResult | bytes | str) -> InclusionProof:
        """See :meth:`StriveClient.verify_inclusion`."""
        try:
            return await self._log_check(receipt_leaf_hash(self._core.receipt_bytes(receipt)))
        except LogError as exc:
            if exc.code is not LogCode.ENTRY_UNKNOWN:
                raise
            raise self._core.check_promise(receipt, self._core.log_trust(), exc) from None

    async def verify_log(self) -> InclusionProof:
        """See :meth:`StriveClient.verify_log`."""
        return await self._log_check(None)

    async def list_information_requests(
        self, *, state: str | None = "open", cursor: str | None = None
    ) -> InformationRequestPage:
        """See :meth:`StriveClient.list_information_requests`."""
        params = {"state": state or "all", **({"cursor": cursor} if cursor else {})}
        response = await self._send("GET", "/v1/information-requests", params=params, signed=True)
        return InformationRequestPage.model_validate(self._core.json_of(response))

    async def answer_information_request(
        self,
        request: InformationRequest | str,
        referral: ReferralInput,
        *,
        original_referral_id: str | None = None,
    ) -> SubmissionResult:
        """See :meth:`StriveClient.answer_information_request`."""
        document = _Core.answer(_Core._as_document(referral), request, original_referral_id)
        return await self.submit_referral(document)
