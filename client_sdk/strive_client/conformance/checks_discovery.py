"""Receiver checks: the discovery document (spec/api.md, "Discovery")."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from strive_schema.envelope import RECEIPT_PAYLOAD_TYPE, SUBMISSION_PAYLOAD_TYPE
from strive_schema.errors import KeyFormatError
from strive_schema.key_validity import VALIDITY_MEMBERS, KeyValidity, judge_key
from strive_schema.keys import PublicKey

from ._framework import Failed, Registry
from ._session import ReceiverSession

checks: Registry[ReceiverSession] = Registry("discovery")

_LIMITS = (
    "max_envelope_bytes",
    "max_batch_items",
    "max_batch_bytes",
    "submissions_per_minute",
    "refused_submissions_per_minute",
    "signed_reads_per_minute",
    "envelope_max_age_seconds",
    "envelope_max_future_seconds",
    "request_max_age_seconds",
    "request_max_future_seconds",
)


@checks.add("R-DISC-01", "MUST", "api.md#discovery", "discovery document with every member")
def discovery_document(session: ReceiverSession) -> str:
    response = session.fetch_discovery()
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if response.status_code != 200:
        session.set_discovery(None, f"status {response.status_code}")
        raise Failed(f"GET /.well-known/strive-configuration answered {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        session.set_discovery(None, "not JSON")
        raise Failed("the discovery document is not JSON") from None
    if not isinstance(body, dict):
        session.set_discovery(None, "not an object")
        raise Failed("the discovery document is not a JSON object")
    session.set_discovery(body, None)
    problems = []
    if media != "application/json":
        problems.append(f"content type {media!r}, not application/json")
    if not isinstance(body.get("receiver_id"), str) or not body["receiver_id"]:
        problems.append("/receiver_id is not a non-empty string")
    if not isinstance(body.get("origin"), str):
        problems.append("/origin is not a string")
    versions = body.get("supported_schema_versions")
    if (
        not isinstance(versions, list)
        or not versions
        or not all(isinstance(v, str) for v in versions)
    ):
        problems.append("/supported_schema_versions is not a non-empty array of strings")
    if not isinstance(body.get("taxonomy_version"), str):
        problems.append("/taxonomy_version is not a string")
    for member in ("payload_types", "limits", "endpoints", "jwks"):
        if not isinstance(body.get(member), dict):
            problems.append(f"/{member} is not an object")
    if problems:
        raise Failed("; ".join(problems))
    return f"receiver_id {body['receiver_id']!r}, schema versions {versions}"


@checks.add(
    "R-DISC-02", "MUST", "api.md#discovery", "receipt keys as Ed25519 JWKs, kid = thumbprint"
)
def discovery_keys(session: ReceiverSession) -> str:
    jwks = session.discovery().get("jwks")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise Failed("/jwks/keys is not a non-empty array")
    for index, jwk in enumerate(keys):
        if not isinstance(jwk, dict):
            raise Failed(f"/jwks/keys/{index} is not an object")
        try:
            key = PublicKey.from_jwk(jwk)
        except (ValueError, TypeError) as exc:
            raise Failed(f"/jwks/keys/{index} is not a usable Ed25519 JWK: {exc}") from None
        if jwk.get("kid") != key.key_id:
            raise Failed(f"/jwks/keys/{index}/kid is not the key's RFC 7638 thumbprint")
    return f"{len(keys)} receipt key(s)"


@checks.add("R-DISC-03", "MUST", "protocol.md#3-payload-types", "payload types of protocol v1")
def discovery_payload_types(session: ReceiverSession) -> str:
    types = session.discovery().get("payload_types")
    expected = {"submission": SUBMISSION_PAYLOAD_TYPE, "receipt": RECEIPT_PAYLOAD_TYPE}
    if not isinstance(types, dict):
        raise Failed("/payload_types is not an object")
    for name, value in expected.items():
        if types.get(name) != value:
            raise Failed(f"/payload_types/{name} is {types.get(name)!r}, not {value!r}")
    return "submission and receipt types as defined"


@checks.add("R-DISC-04", "MUST", "api.md#discovery", "every limit published as an integer")
def discovery_limits(session: ReceiverSession) -> str:
    limits = session.discovery().get("limits")
    if not isinstance(limits, dict):
        raise Failed("/limits is not an object")
    wrong = [
        name
        for name in _LIMITS
        if not isinstance(limits.get(name), int) or isinstance(limits.get(name), bool)
    ]
    if wrong:
        raise Failed("not an integer: " + ", ".join(f"/limits/{name}" for name in wrong))
    return f"{len(_LIMITS)} limits"


@checks.add("R-DISC-05", "SHOULD", "protocol.md#143-the-signature-base", "origin is the URL used")
def discovery_origin(session: ReceiverSession) -> str:
    origin = session.discovery().get("origin")
    if not isinstance(origin, str):
        raise Failed("/origin is not a string")
    published, used = urlsplit(origin), urlsplit(session.url)
    if (published.scheme, published.netloc) != (used.scheme, used.netloc):
        raise Failed(
            f"origin {origin!r} differs from the URL tested ({session.url}); signed requests "
            "are signed under the published origin"
        )
    return f"origin {origin}"


@checks.add("R-DISC-06", "MUST", "protocol.md#91-key-lifecycle", "receipt key lifecycle published")
def discovery_key_lifecycle(session: ReceiverSession) -> str:
    jwks = session.discovery().get("jwks")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise Failed("/jwks/keys is not a non-empty array of objects")
    for index, jwk in enumerate(keys):
        try:
            KeyValidity.from_members(jwk)
        except KeyFormatError as exc:
            raise Failed(f"/jwks/keys/{index}: {exc}") from None
    current = judge_key(KeyValidity.from_members(keys[0]), datetime.now(UTC))
    if not current.valid:
        raise Failed(f"the current receipt key (/jwks/keys/0) cannot sign: {current.explanation}")
    dated = sum(any(m in jwk for m in VALIDITY_MEMBERS) for jwk in keys)
    return f"current receipt key {current.rule.value}; {dated} key(s) with lifecycle members"
