"""Strict base64 (RFC 4648 section 4) and base64url (section 5) codecs.

The standard library's decoders are lenient: they accept missing padding (url variant), and
non-zero pad bits. A signed format needs exactly one encoding per byte string, so every
decoder here re-encodes its result and rejects input that does not round-trip.
"""

from __future__ import annotations

import base64
import binascii
import re

_STD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL = re.compile(r"[A-Za-z0-9_-]*")


def std_encode(data: bytes) -> str:
    """Standard alphabet, with padding."""
    return base64.b64encode(data).decode("ascii")


def std_decode(text: str) -> bytes:
    """Decode canonical standard base64 with padding; raise ValueError otherwise."""
    if len(text) % 4 != 0 or _STD.fullmatch(text) is None:
        raise ValueError("not canonical standard base64 with padding")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("not canonical standard base64 with padding") from exc
    if std_encode(data) != text:
        raise ValueError("not canonical standard base64 with padding")
    return data


def url_encode(data: bytes) -> str:
    """URL-safe alphabet, without padding (as JWK and RFC 7638 use)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def url_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; raise ValueError otherwise."""
    if len(text) % 4 == 1 or _URL.fullmatch(text) is None:
        raise ValueError("not canonical unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not canonical unpadded base64url") from exc
    if url_encode(data) != text:
        raise ValueError("not canonical unpadded base64url")
    return data
