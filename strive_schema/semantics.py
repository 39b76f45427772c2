"""Semantic rules: what the JSON Schema cannot express.

Each rule has a stable code (``strive_schema.codes``) and is documented in
``spec/semantic-rules.md``. Errors make a referral invalid; warnings never do. The models run
these rules when they parse a document; the validator runs them to collect every finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal

from strive_schema._types import MEMBERS_ADDED
from strive_schema.codes import ValidationCode
from strive_schema.normalise import (
    DEFAULT_REGION,
    is_possible_e164,
    normalise_email,
    normalise_phone,
)
from strive_schema.taxonomy import TAXONOMY_VERSION, is_known_indicator

if TYPE_CHECKING:
    from strive_schema.models import Referral

__all__ = ["CLOCK_SKEW", "Finding", "check_semantics", "json_pointer"]

CLOCK_SKEW: Final = timedelta(minutes=5)
"""How far in the future a time in a referral may lie, to allow for unsynchronised clocks."""

Severity = Literal["error", "warning"]
EntityKind = Literal[
    "account",
    "advert",
    "person",
    "phone",
    "email",
    "payment",
    "technical_event",
    "customer_report",
    "attachment",
]

_ENTITY_LISTS: Final[tuple[tuple[str, EntityKind], ...]] = (
    ("accounts", "account"),
    ("adverts", "advert"),
    ("persons", "person"),
    ("phones", "phone"),
    ("emails", "email"),
    ("payments", "payment"),
    ("technical_events", "technical_event"),
    ("customer_reports", "customer_report"),
    ("attachments", "attachment"),
)

# Which kind of entity each reference member must point at (None: any kind).
_REFERENCE_KINDS: Final[dict[tuple[str, str], EntityKind | None]] = {
    ("accounts", "phone_refs"): "phone",
    ("accounts", "email_refs"): "email",
    ("adverts", "account_ref"): "account",
    ("adverts", "phone_refs"): "phone",
    ("adverts", "email_refs"): "email",
    ("persons", "account_refs"): "account",
    ("persons", "phone_refs"): "phone",
    ("persons", "email_refs"): "email",
    ("payments", "payer_person_ref"): "person",
    ("payments", "account_ref"): "account",
    ("payments", "advert_refs"): "advert",
    ("technical_events", "account_ref"): "account",
    ("customer_reports", "advert_refs"): "advert",
    ("customer_reports", "account_ref"): "account",
    ("customer_reports", "reporter_person_ref"): "person",
}

_CARD_NUMBER = re.compile(r"[0-9]{12,19}")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a document: where, which rule, what, and how serious."""

    pointer: str
    """RFC 6901 JSON Pointer to the member at fault (``""`` is the whole document)."""
    code: str
    """Stable code from ``strive_schema.codes.ValidationCode``."""
    message: str
    """Human-readable explanation; never contains the offending value."""
    severity: Severity = "error"
    kind: Literal["schema", "semantic"] = "semantic"


def json_pointer(*parts: str | int) -> str:
    """Build an RFC 6901 JSON Pointer from member names and array indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def check_semantics(
    referral: Referral,
    *,
    now: datetime | None = None,
    default_region: str = DEFAULT_REGION,
) -> list[Finding]:
    """Check the semantic rules on a schema-valid referral and return every finding.

    ``now`` is the reference time for the rules about the future (default: the current
    time). ``default_region`` is used to normalise national-format phone numbers.
    """
    current = now or datetime.now(UTC)
    findings: list[Finding] = []
    kinds = _collect_ids(referral, findings)
    findings.extend(_check_versions(referral))
    findings.extend(_check_references(referral, kinds))
    findings.extend(_check_times(referral, current))
    findings.extend(_check_indicators(referral))
    findings.extend(_check_phones(referral, default_region))
    findings.extend(_check_emails(referral))
    findings.extend(_check_payments(referral))
    findings.extend(_check_adverts(referral))
    if referral.supplements is not None and referral.supplements.referral_id == (
        referral.referral_id
    ):
        findings.append(
            Finding(
                json_pointer("supplements", "referral_id"),
                ValidationCode.SELF_REFERENCE,
                "a referral cannot supplement itself",
            )
        )
    return findings


def _entities(referral: Referral) -> Iterator[tuple[str, EntityKind, int, str]]:
    for list_name, kind in _ENTITY_LISTS:
        for index, entity in enumerate(getattr(referral, list_name)):
            yield list_name, kind, index, entity.id


def _collect_ids(referral: Referral, findings: list[Finding]) -> dict[str, EntityKind]:
    kinds: dict[str, EntityKind] = {}
    for list_name, kind, index, local_id in _entities(referral):
        if local_id in kinds:
            findings.append(
                Finding(
                    json_pointer(list_name, index, "id"),
                    ValidationCode.DUPLICATE_LOCAL_ID,
                    "this local id is already used by another entity in the referral",
                )
            )
            continue
        kinds[local_id] = kind
    return kinds


Path = tuple[str | int, ...]


def _references(referral: Referral) -> Iterator[tuple[Path, str, EntityKind | None, str]]:
    """Yield (path, target id, expected kind, owner id) for every reference. Paths become
    JSON Pointers only for findings: most references are fine."""
    for (list_name, member), expected in _REFERENCE_KINDS.items():
        for index, entity in enumerate(getattr(referral, list_name)):
            value = getattr(entity, member)
            if value is None:
                continue
            if isinstance(value, str):
                yield (list_name, index, member), value, expected, entity.id
            else:
                for position, target in enumerate(value):
                    yield (list_name, index, member, position), target, expected, entity.id
    for index, account in enumerate(referral.accounts):
        for position, link in enumerate(account.linked_accounts):
            path = ("accounts", index, "linked_accounts", position, "account_ref")
            yield path, link.account_ref, "account", account.id
    for index, indicator in enumerate(referral.indicators):
        for position, target in enumerate(indicator.evidence_refs):
            yield ("indicators", index, "evidence_refs", position), target, None, ""


def _article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


def _check_references(referral: Referral, kinds: dict[str, EntityKind]) -> Iterable[Finding]:
    for path, target, expected, owner in _references(referral):
        actual = kinds.get(target)
        if actual is None:
            yield Finding(
                json_pointer(*path),
                ValidationCode.UNKNOWN_REFERENCE,
                "no entity in this referral has this local id",
            )
        elif expected is not None and actual != expected:
            yield Finding(
                json_pointer(*path),
                ValidationCode.REFERENCE_WRONG_KIND,
                f"must refer to {_article(expected)} {expected}, not {_article(actual)} {actual}",
            )
        elif target == owner:
            yield Finding(
                json_pointer(*path),
                ValidationCode.SELF_REFERENCE,
                "an entity cannot refer to itself",
            )


def _times(referral: Referral) -> Iterator[tuple[str, datetime]]:
    for index, account in enumerate(referral.accounts):
        if account.created_at is not None:
            yield json_pointer("accounts", index, "created_at"), account.created_at
    for index, advert in enumerate(referral.adverts):
        if advert.first_seen_at is not None:
            yield json_pointer("adverts", index, "first_seen_at"), advert.first_seen_at
        if advert.last_seen_at is not None:
            yield json_pointer("adverts", index, "last_seen_at"), advert.last_seen_at
    for index, payment in enumerate(referral.payments):
        yield json_pointer("payments", index, "occurred_at"), payment.occurred_at
    for index, event in enumerate(referral.technical_events):
        yield json_pointer("technical_events", index, "occurred_at"), event.occurred_at
    for index, report in enumerate(referral.customer_reports):
        yield json_pointer("customer_reports", index, "received_at"), report.received_at


def _check_times(referral: Referral, now: datetime) -> Iterable[Finding]:
    if referral.created_at > now + CLOCK_SKEW:
        yield Finding(
            json_pointer("created_at"),
            ValidationCode.CREATED_IN_FUTURE,
            "the referral is dated in the future (more than five minutes ahead)",
        )
    limit = referral.created_at + CLOCK_SKEW
    for pointer, moment in _times(referral):
        if moment > limit:
            yield Finding(
                pointer, ValidationCode.TIME_ORDER, "this time is later than the referral itself"
            )
    for index, advert in enumerate(referral.adverts):
        first, last = advert.first_seen_at, advert.last_seen_at
        if first is not None and last is not None and last < first:
            yield Finding(
                json_pointer("adverts", index, "last_seen_at"),
                ValidationCode.TIME_ORDER,
                "last_seen_at is earlier than first_seen_at",
            )


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def _check_versions(referral: Referral) -> Iterable[Finding]:
    """A member added in a later minor version needs a document that declares it."""
    declared = _version(referral.schema_version)
    for member, added in MEMBERS_ADDED.items():
        if getattr(referral, member) is not None and declared < _version(added):
            yield Finding(
                json_pointer(member),
                ValidationCode.MEMBER_NEWER_THAN_VERSION,
                f"added in schema version {added}; declare schema_version {added} or later",
            )


def _check_indicators(referral: Referral) -> Iterable[Finding]:
    newer = referral.taxonomy_version is not None and _version(
        referral.taxonomy_version
    ) > _version(TAXONOMY_VERSION)
    for index, indicator in enumerate(referral.indicators):
        if not is_known_indicator(indicator.code) and newer:
            # Codes are only ever added (spec/versioning.md): an older validator cannot tell a
            # newer code from a typo, so it accepts the code and says why.
            yield Finding(
                json_pointer("indicators", index, "code"),
                ValidationCode.INDICATOR_FROM_NEWER_TAXONOMY,
                f"not in taxonomy {TAXONOMY_VERSION}; accepted because the referral uses "
                f"taxonomy {referral.taxonomy_version}",
                severity="warning",
            )
        elif not is_known_indicator(indicator.code):
            yield Finding(
                json_pointer("indicators", index, "code"),
                ValidationCode.UNKNOWN_INDICATOR,
                "not a code of the Strive indicator taxonomy nor a namespaced extension "
                "code (x-<organisation>-<name>)",
            )
        if not indicator.evidence_refs:
            yield Finding(
                json_pointer("indicators", index, "evidence_refs"),
                ValidationCode.INDICATOR_WITHOUT_EVIDENCE,
                "the indicator names no supporting entity; analysts triage faster with one",
                severity="warning",
            )


def _check_phones(referral: Referral, default_region: str) -> Iterable[Finding]:
    for index, phone in enumerate(referral.phones):
        normalised = normalise_phone(phone.raw, default_region)
        if phone.e164 is not None and phone.e164 != normalised and not is_possible_e164(phone.e164):
            # A warning: whether a number is possible depends on the copy of libphonenumber's
            # metadata, and validity must not (spec/semantic-rules.md).
            yield Finding(
                json_pointer("phones", index, "e164"),
                ValidationCode.PHONE_E164_INVALID,
                "not a possible phone number by this validator's numbering plans; it is kept "
                "as given and matched as given",
                severity="warning",
            )
        elif normalised is None:
            yield Finding(
                json_pointer("phones", index, "raw"),
                ValidationCode.PHONE_UNPARSEABLE,
                "could not be normalised to E.164; it is kept as given and matched as given",
                severity="warning",
            )
        elif phone.e164 is not None and phone.e164 != normalised:
            yield Finding(
                json_pointer("phones", index, "e164"),
                ValidationCode.PHONE_E164_MISMATCH,
                "differs from the normalised form of the raw value",
                severity="warning",
            )


def _check_emails(referral: Referral) -> Iterable[Finding]:
    for index, email in enumerate(referral.emails):
        if normalise_email(email.address) is None:
            yield Finding(
                json_pointer("emails", index, "address"),
                ValidationCode.EMAIL_UNPARSEABLE,
                "not a well-formed e-mail address; it is kept as given and matched as given",
                severity="warning",
            )


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _check_payments(referral: Referral) -> Iterable[Finding]:
    for index, payment in enumerate(referral.payments):
        fingerprint = payment.card_fingerprint
        if (
            fingerprint is not None
            and _CARD_NUMBER.fullmatch(fingerprint)
            and _luhn_valid(fingerprint)
        ):
            yield Finding(
                json_pointer("payments", index, "card_fingerprint"),
                ValidationCode.CARD_NUMBER_FORBIDDEN,
                "looks like a full card number; send the payment provider's token or "
                "fingerprint instead (never a card number)",
            )


#: Hexadecimal digits of each fixed-size image hash algorithm (``phash`` and ``dhash`` come in
#: several sizes and are not checked). The schema admits 16-128 digits for every algorithm.
IMAGE_HASH_HEX_DIGITS: Final = {"sha256": 64, "md5": 32, "pdq": 64}


def _check_adverts(referral: Referral) -> Iterable[Finding]:
    for index, advert in enumerate(referral.adverts):
        for number, image_hash in enumerate(advert.image_hashes):
            digits = IMAGE_HASH_HEX_DIGITS.get(image_hash.algorithm)
            if digits is not None and len(image_hash.value) != digits:
                yield Finding(
                    json_pointer("adverts", index, "image_hashes", number, "value"),
                    ValidationCode.IMAGE_HASH_LENGTH_UNEXPECTED,
                    f"a {image_hash.algorithm} hash has {digits} hexadecimal digits, not "
                    f"{len(image_hash.value)}; it is kept but matches nothing",
                    severity="warning",
                )
        if advert.advertised_age is not None and advert.advertised_age < 18:
            yield Finding(
                json_pointer("adverts", index, "advertised_age"),
                ValidationCode.ADVERTISED_AGE_UNDER_18,
                "the advertised age is under 18; consider the suspected_under_18 indicator "
                "and immediate urgency",
                severity="warning",
            )
