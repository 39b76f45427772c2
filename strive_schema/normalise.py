"""Normalisation of selectors: phone numbers, e-mail addresses and names.

Messy data is normal. Each function returns the normalised form, or ``None`` when the value
cannot be normalised; the caller keeps the raw value either way and never rejects a referral
because one selector is untidy. The rules are normative (``spec/normalisation.md``).

Example::

    >>> normalise_phone("07700 900123")
    '+447700900123'
    >>> normalise_email("Jane.Doe@Example.COM")
    'jane.doe@example.com'
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

__all__ = [
    "DEFAULT_REGION",
    "fold_name",
    "normalise_email",
    "normalise_phone",
]

DEFAULT_REGION: Final = "GB"
"""Region assumed for phone numbers written in national format (ISO 3166-1 alpha-2)."""

_NON_DIGIT = re.compile(r"\D")
_SPACES = re.compile(r"\s+")
_NAME_PUNCTUATION = re.compile(r"[^\w\s]")

# The common case, plain ASCII addresses, decided without the library (which takes ~25 us an
# address, a tenth of a referral's semantic checks). The pattern is a strict subset of what
# email-validator accepts: a dot-atom local part of at most 64 characters; a domain of two or
# more LDH labels of at most 63, no "--" anywhere (so no A-labels: Punycode goes to the
# library), an alphabetic top-level label that is not special-use, at most 253 characters;
# 254 for the whole address.
# On it the library returns the input unchanged apart from the domain's case, so the
# normalised form is the lower-cased input. Anything else goes to the library;
# tests/schema/test_normalise.py checks the two agree on generated addresses.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_PLAIN_EMAIL = re.compile(
    rf"(?P<local>{_ATEXT}{{1,64}}(?:\.{_ATEXT}{{1,64}})*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?P<tld>[a-z]{2,63}))",
    re.IGNORECASE | re.ASCII,
)
_SPECIAL_USE_TLDS: Final = frozenset(SPECIAL_USE_DOMAIN_NAMES) | {"test"}


@functools.lru_cache(maxsize=4096)
def normalise_phone(raw: str, default_region: str = DEFAULT_REGION) -> str | None:
    """Return the E.164 form of ``raw``, or ``None`` when it cannot be normalised.

    Cached (a pure function of its arguments, bounded): the validator and the receiver's
    selector extraction normalise the same numbers of a referral, and libphonenumber's parse
    is the costliest step of both.

    A number normalises when libphonenumber parses it and judges it *possible* (a plausible
    length for its country). Allocation is not required: ranges are re-allocated over time,
    and Ofcom's drama range (07700 900000-900999) must work in tests and examples.
    An international number written without ``+`` or ``00`` (``447700900123``) is also
    recognised.
    """
    text = raw.strip()
    if not text or len(text) > 64:
        return None
    candidates = [text]
    digits = _NON_DIGIT.sub("", text)
    if not text.startswith(("+", "0")) and 8 <= len(digits) <= 15:
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def is_possible_e164(value: str) -> bool:
    """Return whether ``value`` (already in E.164 syntax) is a possible phone number."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_possible_number(number))


def normalise_email(raw: str) -> str | None:
    """Return the normalised address, or ``None`` when ``raw`` is not an e-mail address.

    The whole address is lower-cased (providers treat local parts case-insensitively in
    practice) and the domain is IDNA-encoded (``bücher.example`` becomes
    ``xn--bcher-kva.example``). A ``mailto:`` prefix and surrounding white space are removed.
    """
    text = raw.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    plain = _PLAIN_EMAIL.fullmatch(text)
    if (
        plain is not None
        and len(text) <= 254
        and len(plain["local"]) <= 64
        and len(plain["domain"]) <= 253
        and "--" not in plain["domain"]
        and plain["tld"].lower() not in _SPECIAL_USE_TLDS
    ):
        return text.lower()
    return _normalise_email_by_library(text)


def _normalise_email_by_library(text: str) -> str | None:
    try:
        parsed = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return None
    return f"{parsed.local_part.lower()}@{parsed.ascii_domain.lower()}"


def fold_name(raw: str) -> str | None:
    """Fold a person's name for matching: case, spacing, punctuation and diacritics.

    ``"  Ana-Maria  POPESCU"`` and ``"ana maria popescu"`` fold to the same value. Returns
    ``None`` when nothing is left.
    """
    decomposed = unicodedata.normalize("NFKD", raw)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    spaced = _NAME_PUNCTUATION.sub(" ", stripped.casefold())
    folded = _SPACES.sub(" ", spaced).strip()
    return folded or None
