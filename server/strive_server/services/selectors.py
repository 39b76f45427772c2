"""Selectors: the normalised values that tie referrals together (spec/linking.md).

Each selector keeps its raw value; one that cannot be normalised is matched on its raw form
(``normalised`` false), never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from strive_schema.models import Referral
from strive_schema.normalise import fold_name, normalise_email, normalise_phone

__all__ = ["ExtractedSelector", "extract_selectors"]

_SPACES = re.compile(r"\s+")


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
    """Return the distinct selectors of ``referral``, each once per (kind, value)."""
    seen: set[tuple[str, str]] = set()
    found: list[ExtractedSelector] = []
    for selector in _selectors(referral, asw_id, default_region):
        key = (selector.kind, selector.value)
        if selector.value and key not in seen:
            seen.add(key)
            found.append(selector)
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
