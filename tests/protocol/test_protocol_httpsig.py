"""Signed HTTP requests: RFC 9421 signature base, RFC 9530 digest and the Strive profile."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from strive_schema._internal import b64
from strive_schema.errors import VerificationError
from strive_schema.httpsig import (
    content_digest,
    sign_request,
    signature_base,
    verify_request,
)
from strive_schema.keys import SigningKey

NOW = datetime(2026, 11, 23, 17, 2, 0, tzinfo=UTC)
URL = "https://receiver.example/v1/referrals/0f8e3b5a/status?include=feedback"

# RFC 9421 appendix B.1.4 (test-key-ed25519) and B.2.6 (signing a request with it).
RFC9421_KEY_D = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
RFC9421_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyeal"
    "dVLvRwEmTHWXvJwew==:",
    "Content-Length": "18",
}
RFC9421_B26_PARAMS = (
    '("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
RFC9421_B26_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ' + RFC9421_B26_PARAMS
)
RFC9421_B26_SIGNATURE = (
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
)


def test_signature_base_and_signature_match_rfc9421_b26() -> None:
    base = signature_base(
        "POST", "https://example.com/foo?param=Value&Pet=dog", RFC9421_HEADERS, RFC9421_B26_PARAMS
    )
    assert base.decode() == RFC9421_B26_BASE
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(b64.url_decode(RFC9421_KEY_D)))
    assert base64.b64encode(key.sign(base)).decode() == RFC9421_B26_SIGNATURE


def test_content_digest_matches_rfc9530_example() -> None:
    assert content_digest(b'{"hello": "world"}') == (
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    )


def signed(
    key: SigningKey,
    method: str = "GET",
    url: str = URL,
    body: bytes = b"",
    created: datetime = NOW,
) -> dict[str, str]:
    return sign_request(method, url, {}, body, key, created=created)


def code_of(
    headers: dict[str, str],
    key: SigningKey,
    method: str = "GET",
    url: str = URL,
    body: bytes = b"",
) -> str:
    with pytest.raises(VerificationError) as caught:
        verify_request(method, url, headers, body, [key.public_key], now=NOW)
    return caught.value.code.value


def test_round_trip(asw_key: SigningKey) -> None:
    headers = signed(asw_key, "POST", URL, b'{"a":1}')
    verified = verify_request("POST", URL, headers, b'{"a":1}', [asw_key.public_key], now=NOW)
    assert verified.key_id == asw_key.key_id
    assert verified.created == NOW
    assert len(verified.nonce) == 22
    assert set(headers) == {"Content-Digest", "Signature-Input", "Signature"}


def test_header_names_are_case_insensitive_and_httpx_headers_work(asw_key: SigningKey) -> None:
    headers = signed(asw_key)
    lower = {name.lower(): value for name, value in headers.items()}
    assert verify_request("GET", URL, lower, b"", [asw_key.public_key], now=NOW)
    assert verify_request("GET", URL, httpx.Headers(headers), b"", [asw_key.public_key], now=NOW)


def test_nonces_are_fresh_128_bit_values(asw_key: SigningKey) -> None:
    nonces = {
        verify_request("GET", URL, signed(asw_key), b"", [asw_key.public_key], now=NOW).nonce
        for _ in range(20)
    }
    assert len(nonces) == 20
    assert all(len(b64.url_decode(nonce)) == 16 for nonce in nonces)


@pytest.mark.parametrize(
    ("url", "authority", "path", "query"),
    [
        ("https://Receiver.Example:443/a/b?x=1&y=%20", "receiver.example", "/a/b", "?x=1&y=%20"),
        ("https://receiver.example:8443", "receiver.example:8443", "/", "?"),
        ("http://receiver.example:80/p?", "receiver.example", "/p", "?"),
        ("https://[2001:db8::1]:8443/p", "[2001:db8::1]:8443", "/p", "?"),
        ("https://receiver.example/%7Ea%2Fb", "receiver.example", "/%7Ea%2Fb", "?"),
    ],
)
def test_derived_components(
    asw_key: SigningKey, url: str, authority: str, path: str, query: str
) -> None:
    headers = signed(asw_key, url=url)
    params = headers["Signature-Input"].split("=", 1)[1]
    lines = signature_base("GET", url, headers, params).decode().split("\n")
    assert lines[:4] == [
        '"@method": GET',
        f'"@authority": {authority}',
        f'"@path": {path}',
        f'"@query": {query}',
    ]
    assert lines[4] == f'"content-digest": {content_digest(b"")}'
    assert verify_request("GET", url, headers, b"", [asw_key.public_key], now=NOW)


def test_stale_and_future_boundaries(asw_key: SigningKey) -> None:
    keys = [asw_key.public_key]
    for offset in (-300, 60):
        headers = signed(asw_key, created=NOW + timedelta(seconds=offset))
        assert verify_request("GET", URL, headers, b"", keys, now=NOW)
    assert code_of(signed(asw_key, created=NOW - timedelta(seconds=301)), asw_key) == (
        "request_signature_stale"
    )
    assert code_of(signed(asw_key, created=NOW + timedelta(seconds=61)), asw_key) == (
        "request_signature_from_future"
    )
    headers = signed(asw_key, created=NOW - timedelta(seconds=30))
    with pytest.raises(VerificationError, match="stale"):
        verify_request("GET", URL, headers, b"", keys, now=NOW, max_age=10)


def test_tampering_is_detected(asw_key: SigningKey) -> None:
    headers = signed(asw_key, "POST", URL, b"body")
    assert code_of(headers, asw_key, "POST", URL, b"bodY") == "content_digest_mismatch"
    assert code_of(headers, asw_key, "PUT", URL, b"body") == "signature_invalid"
    assert code_of(headers, asw_key, "POST", URL + "&x=1", b"body") == "signature_invalid"
    assert code_of(headers, asw_key, "POST", URL.replace("status", "other"), b"body") == (
        "signature_invalid"
    )
    assert code_of(headers, asw_key, "POST", URL.replace(".example", ".test"), b"body") == (
        "signature_invalid"
    )


def test_replaced_digest_and_body_still_fail(asw_key: SigningKey) -> None:
    headers = signed(asw_key, "POST", URL, b"body")
    headers["Content-Digest"] = content_digest(b"evil")
    assert code_of(headers, asw_key, "POST", URL, b"evil") == "signature_invalid"


def test_unknown_key(asw_key: SigningKey, other_key: SigningKey) -> None:
    assert code_of(signed(other_key), asw_key) == "key_unknown"


def test_editing_the_keyid_breaks_the_signature(asw_key: SigningKey, other_key: SigningKey) -> None:
    headers = _edit_input(signed(asw_key), asw_key.key_id, other_key.key_id)
    assert code_of(headers, asw_key) == "key_unknown"
    with pytest.raises(VerificationError) as caught:
        verify_request(
            "GET", URL, headers, b"", [asw_key.public_key, other_key.public_key], now=NOW
        )
    assert caught.value.code == "signature_invalid"


def test_wrong_keyid_hint_still_verifies_under_a_registered_key(
    asw_key: SigningKey, other_key: SigningKey
) -> None:
    digest = content_digest(b"")
    params = (
        '("@method" "@authority" "@path" "@query" "content-digest")'
        f';created={int(NOW.timestamp())};keyid="{other_key.key_id}";alg="ed25519"'
        ';nonce="c3RyaXZlLXRlc3Qtbm9uY2U";tag="strive"'
    )
    base = signature_base("GET", URL, {"Content-Digest": digest}, params)
    headers = {
        "Content-Digest": digest,
        "Signature-Input": f"strive={params}",
        "Signature": f"strive=:{b64.std_encode(asw_key.sign(base))}:",
    }
    verified = verify_request("GET", URL, headers, b"", [asw_key.public_key], now=NOW)
    assert verified.key_id == asw_key.key_id


def _edit_input(headers: dict[str, str], old: str, new: str) -> dict[str, str]:
    assert old in headers["Signature-Input"]
    return {**headers, "Signature-Input": headers["Signature-Input"].replace(old, new)}


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda h: {k: v for k, v in h.items() if k != "Signature"}, "request_signature_missing"),
        (
            lambda h: {k: v for k, v in h.items() if k != "Signature-Input"},
            "request_signature_missing",
        ),
        (lambda h: _edit_input(h, 'tag="strive"', 'tag="other"'), "request_signature_missing"),
        (lambda h: _edit_input(h, ';tag="strive"', ""), "request_signature_missing"),
        (lambda h: {k: v for k, v in h.items() if k != "Content-Digest"}, "content_digest_missing"),
        (lambda h: {**h, "Content-Digest": "sha-512=:AAAA:"}, "content_digest_missing"),
        (lambda h: {**h, "Content-Digest": "sha-256=(1)"}, "content_digest_missing"),
        (lambda h: {**h, "Content-Digest": "sha-256=:AAAA"}, "request_signature_malformed"),
        (lambda h: {**h, "Signature-Input": "strive=("}, "request_signature_malformed"),
        (lambda h: {**h, "Signature": "strive=:AAAA:"}, "request_signature_malformed"),
        (lambda h: {**h, "Signature": "other=:AAAA:"}, "request_signature_malformed"),
        (lambda h: {**h, "Signature": 'strive="text"'}, "request_signature_malformed"),
        (lambda h: _edit_input(h, ' "@query"', ""), "request_signature_malformed"),
        (lambda h: _edit_input(h, '"@query"', '"@query";req'), "request_signature_malformed"),
        (lambda h: _edit_input(h, '"@query"', '"@method"'), "request_signature_malformed"),
        (
            lambda h: _edit_input(h, '"content-digest"', '"content-digest" "date"'),
            "request_signature_malformed",
        ),
        (
            lambda h: _edit_input(h, 'alg="ed25519"', 'alg="rsa-pss-sha512"'),
            "request_signature_malformed",
        ),
        (lambda h: _edit_input(h, 'alg="ed25519"', "alg=ed25519"), "request_signature_malformed"),
        (lambda h: _edit_input(h, ';alg="ed25519"', ""), "request_signature_malformed"),
        (lambda h: _edit_input(h, ";created=", ";created=-"), "request_signature_malformed"),
        (lambda h: _edit_input(h, ";created=", ";foo=1;created="), "request_signature_malformed"),
        (lambda h: _edit_input(h, ';nonce="', ';nonce="!'), "request_signature_malformed"),
        (lambda h: _edit_input(h, ";created=", ";expires=1;created="), "request_signature_stale"),
    ],
)
def test_profile_violations(asw_key: SigningKey, edit: object, code: str) -> None:
    assert callable(edit)
    assert code_of(edit(signed(asw_key)), asw_key) == code


def test_short_nonce_is_refused(asw_key: SigningKey) -> None:
    headers = sign_request("GET", URL, {}, b"", asw_key, created=NOW, nonce="A" * 22)
    short = _edit_input(headers, 'nonce="' + "A" * 22, 'nonce="' + "A" * 21)
    assert code_of(short, asw_key) == "request_signature_malformed"
    with pytest.raises(ValueError, match="nonce"):
        sign_request("GET", URL, {}, b"", asw_key, nonce="short")


def test_other_signatures_on_the_request_are_ignored(asw_key: SigningKey) -> None:
    headers = signed(asw_key)
    headers["Signature-Input"] = (
        'proxy=("@method");created=1;keyid="p", ' + headers["Signature-Input"]
    )
    headers["Signature"] = "proxy=:AAAA:, " + headers["Signature"]
    assert verify_request("GET", URL, headers, b"", [asw_key.public_key], now=NOW)


def test_renamed_label_still_verifies_by_tag(asw_key: SigningKey) -> None:
    headers = signed(asw_key)
    renamed = {
        name: value.replace("strive=", "sig1=", 1) if name.startswith("Signature") else value
        for name, value in headers.items()
    }
    assert verify_request("GET", URL, renamed, b"", [asw_key.public_key], now=NOW)


def test_two_strive_signatures_are_ambiguous(asw_key: SigningKey) -> None:
    headers = signed(asw_key)
    second = headers["Signature-Input"].replace("strive=", "again=", 1)
    headers["Signature-Input"] += ", " + second
    headers["Signature"] += ", " + headers["Signature"].replace("strive=", "again=", 1)
    assert code_of(headers, asw_key) == "request_signature_malformed"


def test_sign_request_refuses_a_conflicting_digest(asw_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="Content-Digest"):
        sign_request("POST", URL, {"content-digest": "sha-256=:AAAA:"}, b"x", asw_key)
    same = {"Content-Digest": content_digest(b"x")}
    assert (
        sign_request("POST", URL, same, b"x", asw_key)["Content-Digest"] == same["Content-Digest"]
    )


def test_relative_url_is_refused(asw_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="absolute"):
        sign_request("GET", "/v1/status", {}, b"", asw_key)


def test_line_breaks_cannot_be_smuggled_into_the_base() -> None:
    with pytest.raises(ValueError, match="line break"):
        signature_base("GET", URL, {"x-a": '1\n"@method": POST'}, '("x-a");created=1')
