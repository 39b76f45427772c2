"""Signed HTTP requests: the Strive profile of RFC 9421 with an RFC 9530 content digest.

An ASW authenticates its calls other than submissions (status, feedback, requests for
information) by signing each request with the same Ed25519 key that signs its envelopes.
There is no shared secret. The profile (``spec/protocol.md``, "Signed HTTP requests"):

* label ``strive``, covered components, in this order: ``"@method" "@authority" "@path"
  "@query" "content-digest"``; ``@query`` is covered even when the request has no query
  (its value is then ``?``);
* ``Content-Digest: sha-256=:<base64>:`` on every request, also when the body is empty;
* parameters ``created``, ``keyid`` (the key id of the signing key), ``alg="ed25519"``,
  ``nonce`` (128 random bits, base64url) and ``tag="strive"``; no ``expires``.

The receiver enforces freshness (``created`` within the last 300 s, at most 60 s ahead) and
must itself refuse a nonce it has seen before for the same key
(:attr:`~strive_schema.errors.ProtocolCode.NONCE_REPLAYED`); this module cannot, having no
storage.

Example::

    headers = sign_request("GET", url, {}, b"", key)
    verified = verify_request("GET", url, headers, b"", [key.public_key],
                              now=datetime.now(UTC))
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from strive_schema._internal import b64, structured_fields, timestamps
from strive_schema._internal.structured_fields import InnerList, Item, StructuredFieldError
from strive_schema.errors import ProtocolCode, VerificationError
from strive_schema.keys import PublicKey, SigningKey

__all__ = [
    "ALGORITHM",
    "COVERED_COMPONENTS",
    "LABEL",
    "REQUEST_MAX_AGE",
    "REQUEST_MAX_FUTURE",
    "TAG",
    "VerifiedRequest",
    "check_request_headers",
    "content_digest",
    "sign_request",
    "signature_base",
    "verify_request",
    "verify_request_headers",
]

#: The signature label the Strive profile uses in ``Signature-Input`` and ``Signature``.
LABEL = "strive"
#: The ``tag`` parameter by which a verifier finds the Strive signature (RFC 9421 s. 2.3).
TAG = "strive"
#: The RFC 9421 algorithm name for Ed25519.
ALGORITHM = "ed25519"
#: The components every Strive request signature covers, in the order a signer lists them.
COVERED_COMPONENTS = ("@method", "@authority", "@path", "@query", "content-digest")
#: How old ``created`` may be when the receiver checks it.
REQUEST_MAX_AGE = timedelta(seconds=300)
#: How far ahead of the receiver's clock ``created`` may be (clock skew).
REQUEST_MAX_FUTURE = timedelta(seconds=60)

_REQUIRED_PARAMS = frozenset({"created", "keyid", "alg", "nonce", "tag"})
_ALLOWED_PARAMS = _REQUIRED_PARAMS | {"expires"}
_NONCE = re.compile(r"[A-Za-z0-9_-]{22,128}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SIGNATURE_LENGTH = 64


@dataclass(frozen=True)
class VerifiedRequest:
    """The result of :func:`verify_request`.

    Attributes:
        key_id: the computed key id of the registered key that verified the signature.
        nonce: the signature's nonce; the receiver must refuse it if already seen for
            this key (and remember it for at least the freshness window).
        created: the signature's creation time (aware, UTC).
    """

    key_id: str
    nonce: str
    created: datetime


def content_digest(body: bytes) -> str:
    """Return the RFC 9530 ``Content-Digest`` value for ``body``: ``sha-256=:<base64>:``.

    >>> content_digest(b'{"hello": "world"}')
    'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:'
    """
    return "sha-256=:" + b64.std_encode(hashlib.sha256(body).digest()) + ":"


def _fold_headers(headers: Mapping[str, str]) -> dict[str, str]:
    # RFC 9421 section 2.1: names are case-insensitive; values are trimmed, and several
    # lines of one field are joined with ", " in order.
    folded: dict[str, list[str]] = {}
    for name, value in headers.items():
        folded.setdefault(name.lower(), []).append(value.strip(" \t"))
    return {name: ", ".join(values) for name, values in folded.items()}


def _authority(scheme: str, url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ValueError("the request URL must be absolute (scheme://host/...)")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return host
    return f"{host}:{port}"


def _component_value(name: str, method: str, url: str, headers: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    if name == "@method":
        value = method
    elif name == "@authority":
        value = _authority(parts.scheme.lower(), url)
    elif name == "@path":
        value = parts.path or "/"
    elif name == "@query":
        value = "?" + parts.query
    elif name.startswith("@"):
        raise ValueError(f"derived component {name} is not supported")
    elif name != name.lower():
        raise ValueError("header component names are lower case")
    elif name not in headers:
        raise ValueError(f"the covered header field {name!r} is absent")
    else:
        value = headers[name]
    if "\r" in value or "\n" in value:
        raise ValueError(f"the value of {name} contains a line break")
    return value


def _base_from(method: str, url: str, headers: Mapping[str, str], inner: InnerList) -> bytes:
    lines: list[str] = []
    folded = _fold_headers(headers)
    seen: set[str] = set()
    for item in inner.items:
        if not isinstance(item.value, str) or isinstance(item.value, structured_fields.Token):
            raise ValueError("component identifiers are strings")
        if item.params:
            raise ValueError("component parameters are not supported")
        if item.value in seen:
            raise ValueError(f"component {item.value} is listed twice")
        seen.add(item.value)
        value = _component_value(item.value, method, url, folded)
        lines.append(f"{structured_fields.serialize_item(item)}: {value}")
    params = structured_fields.serialize_inner_list(inner)
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode("ascii")


def signature_base(
    method: str, url: str, headers: Mapping[str, str], signature_params: str
) -> bytes:
    """Build the RFC 9421 section 2.5 signature base for a request.

    Args:
        method: the request method, exactly as sent.
        url: the absolute target URI, exactly as sent (not percent-decoded).
        headers: the request's header fields (names in any case).
        signature_params: the signature parameters as serialised in ``Signature-Input``
            after ``label=``, e.g. ``("@method" "@path");created=1618884473;keyid="k"``.

    Supports the derived components ``@method``, ``@authority``, ``@path`` and ``@query``
    and plain header fields without component parameters.

    Raises:
        ValueError: the parameters do not parse, name an unsupported component or a header
            field that is absent, or a value contains a line break.
    """
    try:
        parsed = structured_fields.parse_dictionary(f"{LABEL}={signature_params}")
    except StructuredFieldError as exc:
        raise ValueError(f"signature parameters do not parse: {exc}") from None
    inner = parsed.get(LABEL)
    if not isinstance(inner, InnerList) or len(parsed) != 1:
        raise ValueError("signature parameters must be one inner list")
    return _base_from(method, url, headers, inner)


def _signature_params(created: int, key_id: str, nonce: str) -> InnerList:
    return InnerList(
        [Item(name, {}) for name in COVERED_COMPONENTS],
        {"created": created, "keyid": key_id, "alg": ALGORITHM, "nonce": nonce, "tag": TAG},
    )


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    key: SigningKey,
    *,
    created: datetime | None = None,
    nonce: str | None = None,
    body_sha256: bytes | None = None,
) -> dict[str, str]:
    """Sign a request; return the ``Content-Digest``, ``Signature-Input`` and ``Signature``
    header fields to add to it.

    Args:
        method: the method exactly as it will be sent (``GET``, ``POST``).
        url: the absolute URL exactly as it will be sent.
        headers: the request's other header fields; only checked for a conflicting
            ``Content-Digest``.
        body: the exact body bytes (``b""`` when there is none).
        key: the ASW's signing key.
        created: the signing time (default: now); sub-second digits are dropped.
        nonce: for test vectors only; by default 128 fresh random bits, base64url.
        body_sha256: the body's SHA-256, for a body too large to hold in memory (a file
            upload, streamed from disk); ``body`` must then be ``b""``.

    Raises:
        ValueError: the URL is not absolute, ``created`` is naive, ``nonce`` is not 22 to
            128 base64url characters, or ``headers`` has a different ``Content-Digest``.
    """
    if body_sha256 is None:
        digest = content_digest(body)
    elif body or len(body_sha256) != hashlib.sha256().digest_size:
        raise ValueError("body_sha256 is 32 bytes, given instead of the body")
    else:
        digest = "sha-256=:" + b64.std_encode(body_sha256) + ":"
    signed_headers = _fold_headers(headers)
    existing = signed_headers.get("content-digest")
    if existing is not None and existing != digest:
        raise ValueError("the request already has a different Content-Digest")
    moment = datetime.now(UTC) if created is None else created
    created_at = int(timestamps.require_aware(moment, "created").timestamp())
    chosen_nonce = b64.url_encode(secrets.token_bytes(16)) if nonce is None else nonce
    if _NONCE.fullmatch(chosen_nonce) is None:
        raise ValueError("nonce must be 22 to 128 base64url characters")
    inner = _signature_params(created_at, key.key_id, chosen_nonce)
    signed_headers["content-digest"] = digest
    base = _base_from(method, url, signed_headers, inner)
    signature = key.sign(base)
    return {
        "Content-Digest": digest,
        "Signature-Input": f"{LABEL}={structured_fields.serialize_inner_list(inner)}",
        "Signature": f"{LABEL}=:{b64.std_encode(signature)}:",
    }


def _fail(code: ProtocolCode, detail: str) -> VerificationError:
    return VerificationError(code, detail)


def _select_strive_signature(
    folded: Mapping[str, str],
) -> tuple[InnerList, bytes]:
    malformed = ProtocolCode.REQUEST_SIGNATURE_MALFORMED
    input_text, signature_text = folded.get("signature-input"), folded.get("signature")
    if input_text is None or signature_text is None:
        raise _fail(
            ProtocolCode.REQUEST_SIGNATURE_MISSING, "Signature-Input and Signature are required"
        )
    try:
        inputs = structured_fields.parse_dictionary(input_text)
        signatures = structured_fields.parse_dictionary(signature_text)
    except StructuredFieldError as exc:
        raise _fail(malformed, f"signature fields do not parse: {exc}") from None
    labels = [
        label
        for label, member in inputs.items()
        if isinstance(member, InnerList) and member.params.get("tag") == TAG
    ]
    if not labels:
        raise _fail(ProtocolCode.REQUEST_SIGNATURE_MISSING, f'no signature with tag="{TAG}"')
    if len(labels) > 1:
        raise _fail(malformed, f'more than one signature with tag="{TAG}"')
    inner = inputs[labels[0]]
    member = signatures.get(labels[0])
    if not isinstance(member, Item) or not isinstance(member.value, bytes):
        raise _fail(malformed, "the Signature field has no byte sequence for the label")
    assert isinstance(inner, InnerList)  # selected above
    return inner, member.value


def _check_profile(inner: InnerList) -> tuple[int, int | None, str, str]:
    malformed = ProtocolCode.REQUEST_SIGNATURE_MALFORMED
    names = [item.value for item in inner.items]
    if (
        any(item.params for item in inner.items)
        or any(isinstance(name, structured_fields.Token) for name in names)
        or len(names) != len(COVERED_COMPONENTS)
        or set(names) != set(COVERED_COMPONENTS)
    ):
        raise _fail(malformed, "the covered components are not the Strive profile's")
    params = inner.params
    if not _REQUIRED_PARAMS <= params.keys() <= _ALLOWED_PARAMS:
        raise _fail(malformed, "signature parameters are missing or not allowed")
    created, expires = params["created"], params.get("expires")
    key_id, alg, nonce = params["keyid"], params["alg"], params["nonce"]
    if type(created) is not int or created < 0:
        raise _fail(malformed, "created is not a non-negative integer")
    if expires is not None and type(expires) is not int:
        raise _fail(malformed, "expires is not an integer")
    if alg != ALGORITHM or isinstance(alg, structured_fields.Token):
        raise _fail(malformed, f'alg must be "{ALGORITHM}"')
    if not isinstance(key_id, str) or isinstance(key_id, structured_fields.Token):
        raise _fail(malformed, "keyid is not a string")
    if (
        not isinstance(nonce, str)
        or isinstance(nonce, structured_fields.Token)
        or _NONCE.fullmatch(nonce) is None
    ):
        raise _fail(malformed, "nonce is not 22 to 128 base64url characters")
    return created, expires, key_id, nonce


def check_request_headers(
    headers: Mapping[str, str],
    *,
    now: datetime,
    max_age: timedelta | int = REQUEST_MAX_AGE,
    max_future: timedelta | int = REQUEST_MAX_FUTURE,
) -> None:
    """The checks of :func:`verify_request` that need no body and no key: a receiver runs
    them before it reads a body, so an unsigned, malformed or stale request costs no read.

    Raises:
        VerificationError: as :func:`verify_request`, in this order:
            ``request_signature_missing``, ``request_signature_malformed``,
            ``request_signature_from_future``, ``request_signature_stale``,
            ``content_digest_missing``.
        ValueError: ``now`` is naive.
    """
    _check_headers(_fold_headers(headers), now, max_age, max_future)


def _check_headers(
    folded: Mapping[str, str],
    now: datetime,
    max_age: timedelta | int,
    max_future: timedelta | int,
) -> tuple[InnerList, bytes, datetime, str, str]:
    clock = timestamps.require_aware(now, "now")
    past, future = timestamps.as_timedelta(max_age), timestamps.as_timedelta(max_future)
    inner, signature = _select_strive_signature(folded)
    created, expires, key_id, nonce = _check_profile(inner)
    if len(signature) != _SIGNATURE_LENGTH:
        raise _fail(ProtocolCode.REQUEST_SIGNATURE_MALFORMED, "the signature is not 64 bytes")
    try:
        created_at = datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError):
        raise _fail(ProtocolCode.REQUEST_SIGNATURE_MALFORMED, "created is out of range") from None
    if created_at > clock + future:
        raise _fail(ProtocolCode.REQUEST_SIGNATURE_FROM_FUTURE, "created is in the future")
    if created_at < clock - past or (expires is not None and clock.timestamp() > expires):
        raise _fail(ProtocolCode.REQUEST_SIGNATURE_STALE, "the signature is too old; re-sign")
    if folded.get("content-digest") is None:
        raise _fail(ProtocolCode.CONTENT_DIGEST_MISSING, "Content-Digest is required")
    return inner, signature, created_at, key_id, nonce


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Sequence[PublicKey],
    *,
    now: datetime,
    max_age: timedelta | int = REQUEST_MAX_AGE,
    max_future: timedelta | int = REQUEST_MAX_FUTURE,
) -> VerifiedRequest:
    """Verify a request signed with :func:`sign_request` (receiver side).

    The receiver must afterwards refuse the returned nonce if it has already seen it for
    the same key, with ``nonce_replayed``.

    Args:
        method: the request method as received.
        url: the absolute target URI as received, not percent-decoded: the receiver's
            public origin (scheme and authority the client used) plus the raw request
            target.
        headers: the request's header fields.
        body: the exact body bytes received.
        keys: the public keys registered to the claimed sender.
        now: the receiver's clock (aware).
        max_age: how old ``created`` may be (default 300 s; an int is seconds).
        max_future: how far ahead ``created`` may be (default 60 s; an int is seconds).

    Raises:
        VerificationError: in this order: ``request_signature_missing``,
            ``request_signature_malformed``, ``request_signature_from_future``,
            ``request_signature_stale``, ``content_digest_missing``,
            ``content_digest_mismatch``, then ``signature_invalid`` or ``key_unknown`` as
            for envelopes.
        ValueError: ``now`` is naive.
    """
    folded = _fold_headers(headers)
    inner, signature, created_at, key_id, nonce = _check_headers(folded, now, max_age, max_future)
    sha256 = _signed_sha256(folded)
    if not hmac.compare_digest(sha256, hashlib.sha256(body).digest()):
        raise _fail(ProtocolCode.CONTENT_DIGEST_MISMATCH, "the body does not match its digest")
    return _verify_base(method, url, folded, inner, signature, created_at, key_id, nonce, keys)


def verify_request_headers(
    method: str,
    url: str,
    headers: Mapping[str, str],
    keys: Sequence[PublicKey],
    *,
    now: datetime,
    max_age: timedelta | int = REQUEST_MAX_AGE,
    max_future: timedelta | int = REQUEST_MAX_FUTURE,
) -> tuple[VerifiedRequest, bytes]:
    """Verify a signed request whose body has not been read yet (a streamed upload):
    everything :func:`verify_request` checks except that the body matches ``Content-Digest``.

    The signature covers the ``Content-Digest`` field, so once this returns, the caller knows
    who vouches for which SHA-256; it MUST then hash the body as it reads it and refuse the
    request (``content_digest_mismatch``) when the body's SHA-256 differs from the returned
    one. Raises as :func:`verify_request`, without ``content_digest_mismatch``.
    """
    folded = _fold_headers(headers)
    inner, signature, created_at, key_id, nonce = _check_headers(folded, now, max_age, max_future)
    sha256 = _signed_sha256(folded)
    verified = _verify_base(method, url, folded, inner, signature, created_at, key_id, nonce, keys)
    return verified, sha256


def _signed_sha256(folded: Mapping[str, str]) -> bytes:
    try:
        digests = structured_fields.parse_dictionary(folded["content-digest"])
    except StructuredFieldError as exc:
        raise _fail(
            ProtocolCode.REQUEST_SIGNATURE_MALFORMED, f"Content-Digest does not parse: {exc}"
        ) from None
    sha256 = digests.get("sha-256")
    if not isinstance(sha256, Item) or not isinstance(sha256.value, bytes):
        raise _fail(ProtocolCode.CONTENT_DIGEST_MISSING, "Content-Digest has no sha-256 member")
    return sha256.value


def _verify_base(
    method: str,
    url: str,
    folded: Mapping[str, str],
    inner: InnerList,
    signature: bytes,
    created_at: datetime,
    key_id: str,
    nonce: str,
    keys: Sequence[PublicKey],
) -> VerifiedRequest:
    try:
        base = _base_from(method, url, folded, inner)
    except ValueError as exc:
        raise _fail(ProtocolCode.REQUEST_SIGNATURE_MALFORMED, str(exc)) from None
    unique_keys = list({key.key_id: key for key in keys}.values())
    named = [key for key in unique_keys if key.key_id == key_id]
    others = [key for key in unique_keys if key.key_id != key_id]
    for key in named + others:
        if key.verify(signature, base):
            return VerifiedRequest(key_id=key.key_id, nonce=nonce, created=created_at)
    if named:
        raise _fail(ProtocolCode.SIGNATURE_INVALID, "the request signature does not verify")
    raise _fail(ProtocolCode.KEY_UNKNOWN, "the request was not signed by a registered key")
