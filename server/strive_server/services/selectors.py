"""Selectors: the normalised values that tie referrals together (spec/linking.md).

Each selector keeps its raw value; one that cannot be normalised is matched on its raw form
(``normalised`` false), never dropped. Values and raw forms are bounded to
``MAX_VALUE_LENGTH`` characters (the columns' size) *before* they are de-duplicated: NFKD
folding can expand a short name many times over (U+FDFA becomes 18 characters), and two values
that agree on their first ``MAX_VALUE_LENGTH`` characters are one stored value, counted once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from strive_schema.models import Referral
from strive_schema.normalise import fold_name, normalise_email, normalise_phone
from strive_schema.semantics import IMAGE_HASH_HEX_DIGITS

__all__ = [
    "MAX_VALUE_LENGTH",
    "ExtractedSelector",
    "bounded",
    "card_account_values",
    "extract_selectors",
    "normalise_typed",
]

MAX_VALUE_LENGTH: Final = 400
"""Characters kept of a selector's value and raw form (the size of their columns)."""

_SPACES = re.compile(r"\s+")


def bounded(text: str) -> str:
    """``text`` cut to ``MAX_VALUE_LENGTH`` characters, as stored and compared."""
    return text[:MAX_VALUE_LENGTH]


@dataclass(frozen=True, slots=True)
class ExtractedSelector:
    kind: str
    value: str
    raw: str
    normalised: bool
    entity_ref: str | None


def _raw_key(raw: str) -> str:
    """The match key of a value that could not be normalised: trimmed, spaces collapsed."""
    return _SPACES.sub(" ", raw.strip()).casefold()


def extract_selectors(
    referral: Referral, *, asw_id: str, default_region: str = "GB"
) -> list[ExtractedSelector]:
    """Return the distinct selectors of ``referral``, each once per (kind, value), with value
    and raw form bounded to ``MAX_VALUE_LENGTH`` characters."""
    seen: set[tuple[str, str]] = set()
    found: list[ExtractedSelector] = []
    for selector in _selectors(referral, asw_id, default_region):
        value = bounded(selector.value)
        key = (selector.kind, value)
        if value and key not in seen:
            seen.add(key)
            found.append(replace(selector, value=value, raw=bounded(selector.raw)))
    return found


def _selectors(referral: Referral, asw_id: str, region: str) -> Iterator[ExtractedSelector]:
    for phone in referral.phones:
        e164 = normalise_phone(phone.raw, region)
        if e164 is not None:
            yield ExtractedSelector("phone", e164, phone.raw, True, phone.id)
        else:
            yield ExtractedSelector("phone", _raw_key(phone.raw), phone.raw, False, phone.id)
        if phone.e164 is not None and phone.e164 != e164:
            yield ExtractedSelector("phone", phone.e164, phone.raw, True, phone.id)
    for email in referral.emails:
        normalised = normalise_email(email.address)
        value = normalised if normalised is not None else _raw_key(email.address)
        yield ExtractedSelector("email", value, email.address, normalised is not None, email.id)
    for account in referral.accounts:
        yield ExtractedSelector(
            "account", f"{asw_id}:{account.platform_account_id}", account.platform_account_id,
            True, account.id,
        )  # fmt: skip
    for advert in referral.adverts:
        for image in advert.image_hashes:
            digits = IMAGE_HASH_HEX_DIGITS.get(image.algorithm)
            if digits is not None and len(image.value) != digits:
                continue  # warned as image_hash_length_unexpected: it matches nothing
            value = f"{image.algorithm}:{image.value}"
            yield ExtractedSelector("image_hash", value, value, True, advert.id)
        for location in advert.locations:
            area = location.region_code or (fold_name(location.region) if location.region else None)
            if area:
                yield ExtractedSelector("region", area, location.region or area, True, advert.id)
            if location.postcode:
                postcode = location.postcode.replace(" ", "").upper()
                yield ExtractedSelector("postcode", postcode, location.postcode, True, advert.id)
    for person in referral.persons:
        if "payer" in person.roles:
            for name in person.names:
                yield from _payer_name(name, person.id)
    for payment in referral.payments:
        if payment.payer_name:
            yield from _payer_name(payment.payer_name, payment.id)
        if payment.card_fingerprint:
            fingerprint = payment.card_fingerprint
            yield ExtractedSelector("payment_card", fingerprint, fingerprint, True, payment.id)
    for event in referral.technical_events:
        if event.ip_address:
            yield ExtractedSelector("ip_address", event.ip_address.lower(), event.ip_address,
                                    True, event.id)  # fmt: skip
        if event.device_id:
            device = event.device_id
            yield ExtractedSelector("device", _raw_key(device), device, True, event.id)


def _payer_name(raw: str, entity: str) -> Iterator[ExtractedSelector]:
    folded = fold_name(raw)
    if folded:
        yield ExtractedSelector("payer_name", folded, raw, True, entity)


def normalise_typed(kind: str, value: str) -> str:
    """Normalise a value a person typed (a search, an exclusion) the way ingested selectors of
    ``kind`` are normalised, bounded like them, so that it finds the stored value.

    ``region`` is left to the caller (names map to ITL1 codes there).
    """
    if kind == "phone":
        normalised = normalise_phone(value) or _raw_key(value)
    elif kind == "email":
        normalised = normalise_email(value) or _raw_key(value)
    elif kind == "payer_name":
        normalised = fold_name(value) or value
    elif kind == "postcode":
        normalised = value.replace(" ", "").upper()
    elif kind == "ip_address":
        normalised = value.strip().lower()
    elif kind == "device":
        normalised = _raw_key(value)
    else:
        normalised = value.strip()
    return bounded(normalised)


def card_account_values(document: Mapping[str, Any], *, asw_id: str) -> set[tuple[str, str]]:
    """What a referral shows of payment cards paying for accounts, as cluster values: each card
    that paid (or tried to pay) for one of its accounts (``paying_card``), and each such
    (card, account) pair (``card_account``). A cluster holding more pairs than paying cards has
    a card that pays for several accounts (spec/triage.md, ``shared_cards``).

    ``document`` is a stored, validated referral document.
    """
    accounts = {
        account["id"]: f"{asw_id}:{account['platform_account_id']}"
        for account in document.get("accounts", [])
    }
    values: set[tuple[str, str]] = set()
    for payment in document.get("payments", []):
        card, account = payment.get("card_fingerprint"), payment.get("account_ref")
        if card and account in accounts:
            values.add(("paying_card", bounded(card)))
            # Fingerprints hold no spaces, so the pair is unambiguous.
            values.add(("card_account", bounded(f"{card} {accounts[account]}")))
    return values
