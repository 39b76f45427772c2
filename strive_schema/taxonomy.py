"""The Strive indicator taxonomy: coded reasons for a referral.

The taxonomy is data. ``spec/taxonomy/indicators.json`` is generated from it. Codes are stable:
a code is never renamed or reused; a retired code stays listed with ``deprecated`` set.
Organisations add their own codes as namespaced extensions, ``x-<organisation>-<name>``.

Mappings point at two published frameworks where an indicator fits:

* ``ilo``: the ILO / European Commission *Operational indicators of trafficking in human
  beings* (2009), sexual exploitation of adults, by the indicator's name in that list;
* ``htcds``: the *methods of control* of the Human Trafficking Case Data Standard, as
  published in the Counter Trafficking Data Collaborative (CTDC) codebook.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from strive_schema._internal.ecma_regex import compile_pattern
from strive_schema._types import EXTENSION_KEY_PATTERN

__all__ = [
    "INDICATORS",
    "TAXONOMY_VERSION",
    "IndicatorDefinition",
    "IndicatorMappings",
    "get_indicator",
    "is_known_indicator",
]

TAXONOMY_VERSION: Final = "1.0"

IndicatorCategory = Literal[
    "linkage",
    "control",
    "payment",
    "customer_report",
    "advert_content",
    "age",
    "movement",
    "technical",
]


class IndicatorMappings(BaseModel):
    """Where an indicator corresponds to an entry of a published framework."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ilo: tuple[str, ...] = ()
    htcds: tuple[str, ...] = ()


class IndicatorDefinition(BaseModel):
    """One entry of the taxonomy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{2,63}$")
    title: str
    description: str
    default_risk: Literal["low", "medium", "high"]
    category: IndicatorCategory
    operation_strive: bool = False
    """One of the four indicators agreed in the 2022 Operation Strive pilot."""
    mappings: IndicatorMappings = IndicatorMappings()
    deprecated: bool = False


def _indicator(
    code: str,
    title: str,
    description: str,
    default_risk: Literal["low", "medium", "high"],
    category: IndicatorCategory,
    *,
    operation_strive: bool = False,
    ilo: tuple[str, ...] = (),
    htcds: tuple[str, ...] = (),
) -> IndicatorDefinition:
    return IndicatorDefinition(
        code=code,
        title=title,
        description=description,
        default_risk=default_risk,
        category=category,
        operation_strive=operation_strive,
        mappings=IndicatorMappings(ilo=ilo, htcds=htcds),
    )


INDICATORS: Final[tuple[IndicatorDefinition, ...]] = (
    # The four Operation Strive indicators.
    _indicator(
        "linked_accounts_shared_payer_or_phone",
        "Account linked to other accounts by a shared payer or phone number",
        "The account shares a payer (name, card or payment account) or a phone number with "
        "other accounts, suggesting one party manages several advertised people.",
        "high",
        "linkage",
        operation_strive=True,
        htcds=("Takes earnings", "Restricts financial access"),
    ),
    _indicator(
        "multiple_phones_one_account",
        "Multiple phone numbers across the adverts of one account",
        "The adverts of one account show several different contact numbers, as when a third "
        "party rotates numbers or advertises several people from one account.",
        "medium",
        "linkage",
        operation_strive=True,
    ),
    _indicator(
        "third_party_payment",
        "A third party pays for someone else's adverts",
        "Someone other than the advertised person pays or tries to pay for the adverts; in the "
        "pilot typically a male paying for adverts of women.",
        "high",
        "payment",
        operation_strive=True,
        ilo=("Confiscation of earnings",),
        htcds=("Takes earnings",),
    ),
    _indicator(
        "customer_flag_underage_trafficked_exploited",
        "Flagged by a customer as suspected underage, trafficked or exploited",
        "A customer report or review says the advertised person appeared to be under 18, "
        "trafficked, or exploited.",
        "high",
        "customer_report",
        operation_strive=True,
    ),
    # Practice.
    _indicator(
        "suspected_under_18",
        "Advertised person suspected to be under 18",
        "Any information suggesting the advertised person is a child: a customer report, "
        "images, an advertised age under 18, age-verification failure. Always treated as the "
        "highest priority.",
        "high",
        "age",
        htcds=("Uses children",),
    ),
    _indicator(
        "shared_images_different_names",
        "The same images across adverts with different names",
        "Identical or near-identical images appear in adverts under different names, accounts "
        "or locations.",
        "medium",
        "linkage",
    ),
    _indicator(
        "not_as_pictured",
        "The person who attends is not the one pictured",
        "Customers report that the person they met was not the person in the advert.",
        "medium",
        "customer_report",
        ilo=("Deception about the nature of the job",),
        htcds=("False promises",),
    ),
    _indicator(
        "third_party_answers_contact",
        "A third party answers calls or messages",
        "Someone other than the advertised person (a 'maid', a 'manager') answers the phone "
        "or messages and agrees services on the advertised person's behalf.",
        "high",
        "control",
        ilo=("Under strong influence", "Isolation, confinement or surveillance"),
        htcds=("Restricts movement",),
    ),
    _indicator(
        "poor_or_no_english",
        "Poor or no English",
        "The advertised person does not speak the local language, which increases dependency "
        "on others and is a vulnerability.",
        "low",
        "control",
        ilo=("Difficulties in the past", "Lack of education", "Linguistic difficulties"),
    ),
    _indicator(
        "frequent_movement_touring",
        "Frequent movement between towns ('touring')",
        "Adverts move the advertised person between towns or regions at short intervals.",
        "medium",
        "movement",
        ilo=("No freedom of movement",),
        htcds=("Restricts movement",),
    ),
    _indicator(
        "multiple_adverts_one_address",
        "Several adverts at one address",
        "Several adverts or accounts give the same address or location, suggesting a brothel "
        "run by a third party.",
        "medium",
        "linkage",
    ),
    _indicator(
        "third_person_advert_text",
        "Advert written in the third person",
        "The advert describes the person in the third person ('she is', 'my girls'), "
        "suggesting someone else wrote it.",
        "low",
        "advert_content",
    ),
    _indicator(
        "inconsistent_ages",
        "Inconsistent ages",
        "The advertised age differs between adverts, images or verification documents.",
        "medium",
        "age",
    ),
    _indicator(
        "payment_from_abroad",
        "Payments from abroad",
        "Adverts are paid for from a billing country other than the one where services are "
        "advertised.",
        "low",
        "payment",
    ),
    _indicator(
        "prepaid_card_payment",
        "Payment with prepaid cards",
        "Adverts are paid for with prepaid or gift cards that obscure the payer.",
        "low",
        "payment",
    ),
    _indicator(
        "cryptocurrency_payment",
        "Payment with cryptocurrency",
        "Adverts are paid for with cryptocurrency.",
        "low",
        "payment",
    ),
    _indicator(
        "shared_device_or_ip",
        "The same device or IP address across accounts",
        "Several accounts are registered or used from the same device or IP address.",
        "medium",
        "technical",
    ),
    _indicator(
        "restricted_availability_or_control",
        "Signs of restricted freedom",
        "The advert or reports suggest the person cannot refuse customers or services, works "
        "excessive hours, lives where they work, or is watched.",
        "high",
        "control",
        ilo=("Isolation, confinement or surveillance", "Excessive working days or hours"),
        htcds=("Restricts movement", "Excessive working hours"),
    ),
    _indicator(
        "violence_or_injury_reported",
        "Violence or injuries reported",
        "Customers or others report bruises, injuries, fear or violence.",
        "high",
        "control",
        ilo=("Violence on victims", "Threats of violence against victims"),
        htcds=("Physical abuse", "Threats"),
    ),
    _indicator(
        "documents_withheld",
        "Identity documents held by someone else",
        "Age or identity verification is done with documents presented by a third party, or "
        "the person says someone else holds their documents.",
        "high",
        "control",
        ilo=("Confiscation of documents",),
        htcds=("Withholds documents",),
    ),
    _indicator(
        "debt_or_earnings_taken",
        "Debt or earnings taken",
        "The person mentions a debt to be worked off, or that someone else takes the money.",
        "high",
        "control",
        ilo=("Debt bondage", "Withholding of wages"),
        htcds=("Debt bondage", "Takes earnings"),
    ),
    _indicator(
        "substance_use_coercion",
        "Drugs or alcohol used for control",
        "Reports that the person is kept under the influence, or that drugs are offered as "
        "part of services arranged by someone else.",
        "medium",
        "control",
        ilo=("Forced into illicit/criminal activities",),
        htcds=("Psychoactive substances",),
    ),
    _indicator(
        "unusual_services_or_pricing",
        "Unusually cheap or unprotected services",
        "Prices far below the local market, or unprotected services offered, which can "
        "indicate that the person cannot refuse.",
        "medium",
        "advert_content",
        ilo=("Forced to work under bad conditions",),
    ),
    _indicator(
        "account_reregistration_after_ban",
        "Re-registration after removal",
        "A removed account reappears under new details that link to the old one.",
        "medium",
        "technical",
    ),
)

_BY_CODE: Final = {indicator.code: indicator for indicator in INDICATORS}
_EXTENSION_CODE = compile_pattern(EXTENSION_KEY_PATTERN)  # ECMA-262, as the schema means it


def get_indicator(code: str) -> IndicatorDefinition | None:
    """Return the taxonomy entry for ``code``, or ``None`` if it is not a taxonomy code."""
    return _BY_CODE.get(code)


def is_known_indicator(code: str) -> bool:
    """Return whether ``code`` is a taxonomy code or a namespaced extension code."""
    return code in _BY_CODE or _EXTENSION_CODE(code)
