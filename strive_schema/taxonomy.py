"""The Strive indicator taxonomy: coded reasons for a referral.

The taxonomy is data. ``spec/taxonomy/indicators.json`` is generated from it. Codes are stable:
a code is never renamed or reused; a retired code stays listed with ``deprecated`` set.
Organisations add their own codes as namespaced extensions, ``x-<organisation>-<name>``.

Every indicator says where it corresponds to two published frameworks, as identifiers, or why
none applies:

* ``htcds``: fields and picklist values of the Human Trafficking Case Data Standard (HTCDS) 2.0
  of the IOM, checked against the identifiers vendored in ``spec/taxonomy/external/``. A
  reference names the HTCDS field (with its prefix, ``vic_MethodsOfControl``) and, for a
  picklist, the value name (``TakesEarnings``) under which a case worker records what the
  indicator suggests once it is substantiated.
* ``ilo``: the ILO / European Commission *Operational indicators of trafficking in human
  beings* (2009). No indicator is mapped to it: the published lists could not be obtained as a
  source, and identifiers are not transcribed from memory or from secondary copies
  (``ILO_NOT_MAPPED_REASON``).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from strive_schema._internal.ecma_regex import compile_pattern
from strive_schema._types import EXTENSION_KEY_PATTERN

__all__ = [
    "HTCDS_SOURCE",
    "ILO_NOT_MAPPED_REASON",
    "INDICATORS",
    "TAXONOMY_VERSION",
    "HtcdsMapping",
    "HtcdsReference",
    "IloMapping",
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


HTCDS_SOURCE: Final = {
    "title": "Human Trafficking Case Data Standard (HTCDS)",
    "version": "2.0",
    "repository": "https://github.com/UNMigration/HTCDS",
    "commit": "3c2f6537cd76c3305975aa5eef7a1bf26fe20a30",
    "licence": "CC BY 4.0",
    "identifiers": "spec/taxonomy/external/htcds-2.0.json",
}
"""The HTCDS release the ``htcds`` mappings refer to; its identifiers are vendored in ``spec``."""

ILO_NOT_MAPPED_REASON: Final = (
    "Unverified, not mapped: the published ILO / European Commission lists (Operational "
    "indicators of trafficking in human beings, 2009) could not be obtained as a source to "
    "check identifiers against, and identifiers are not transcribed from memory or from "
    "secondary copies."
)


class HtcdsReference(BaseModel):
    """One HTCDS identifier: a field, and for a picklist field one of its value names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(pattern=r"^[a-z]{3}_[A-Za-z]+$")
    """The field name with its table prefix, as HTCDS spells it (``vic_MethodsOfControl``)."""
    value: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]+$")
    """A picklist value name (``TakesEarnings``); absent for a field that is not a picklist."""


class HtcdsMapping(BaseModel):
    """Where an indicator corresponds to HTCDS, or why no HTCDS field applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["mapped", "none_applies"]
    references: tuple[HtcdsReference, ...] = ()
    reason: str | None = None
    """Why no field applies (``none_applies``); absent when mapped."""

    @model_validator(mode="after")
    def _references_or_reason(self) -> HtcdsMapping:
        if self.status == "mapped" and (not self.references or self.reason is not None):
            raise ValueError("a mapped indicator has references and no reason")
        if self.status == "none_applies" and (self.references or not self.reason):
            raise ValueError("an indicator with no HTCDS field says why, and has no references")
        return self


class IloMapping(BaseModel):
    """Where an indicator corresponds to the ILO operational indicators, or why it is not mapped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["not_mapped_unverified"]
    """The only status while no published list is vendored to check identifiers against."""
    reason: str


class IndicatorMappings(BaseModel):
    """Where an indicator corresponds to entries of published frameworks, as identifiers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    htcds: HtcdsMapping
    ilo: IloMapping


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
    mappings: IndicatorMappings
    deprecated: bool = False


_HtcdsSpec = tuple[tuple[str, str | None], ...] | str
"""``((field, value), ...)`` of a mapped indicator, or the reason no HTCDS field applies."""


def _indicator(
    code: str,
    title: str,
    description: str,
    default_risk: Literal["low", "medium", "high"],
    category: IndicatorCategory,
    *,
    htcds: _HtcdsSpec,
    operation_strive: bool = False,
) -> IndicatorDefinition:
    if isinstance(htcds, str):
        htcds_mapping = HtcdsMapping(status="none_applies", reason=htcds)
    else:
        references = tuple(HtcdsReference(field=field, value=value) for field, value in htcds)
        htcds_mapping = HtcdsMapping(status="mapped", references=references)
    return IndicatorDefinition(
        code=code,
        title=title,
        description=description,
        default_risk=default_risk,
        category=category,
        operation_strive=operation_strive,
        mappings=IndicatorMappings(
            htcds=htcds_mapping,
            ilo=IloMapping(status="not_mapped_unverified", reason=ILO_NOT_MAPPED_REASON),
        ),
    )


_CONTROLLER: Final = (("per_RoleInProcess", "ControlledIndividual"),)
"""The third party an indicator points at, recorded as a perpetrator who controlled the person."""
_PAYMENT_ONLY: Final = (
    "HTCDS records a person's case, not how adverts are paid for: it has no payment or "
    "payer field, and the payment alone does not show a method of control."
)
_ADVERT_ONLY: Final = (
    "HTCDS records a person's case, not the content of adverts, and this signal alone does "
    "not show a method of control or a controlling third party."
)
_ACCOUNT_ONLY: Final = (
    "HTCDS records a person's case, not accounts, devices or network addresses of a platform, "
    "and this link alone does not show a method of control."
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
        htcds=_CONTROLLER,
    ),
    _indicator(
        "multiple_phones_one_account",
        "Multiple phone numbers across the adverts of one account",
        "The adverts of one account show several different contact numbers, as when a third "
        "party rotates numbers or advertises several people from one account.",
        "medium",
        "linkage",
        operation_strive=True,
        htcds=_CONTROLLER,
    ),
    _indicator(
        "third_party_payment",
        "A third party pays for someone else's adverts",
        "Someone other than the advertised person pays or tries to pay for the adverts; in the "
        "pilot typically a male paying for adverts of women.",
        "high",
        "payment",
        operation_strive=True,
        htcds=_CONTROLLER,
    ),
    _indicator(
        "customer_flag_underage_trafficked_exploited",
        "Flagged by a customer as suspected underage, trafficked or exploited",
        "A customer report or review says the advertised person appeared to be under 18, "
        "trafficked, or exploited.",
        "high",
        "customer_report",
        operation_strive=True,
        htcds=(("vic_TraffickingStatus", "PossibleVictimOfTrafficking"),),
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
        htcds=(("vic_AgeWhenTrafficked", None), ("prs_Birthdate", None)),
    ),
    _indicator(
        "shared_images_different_names",
        "The same images across adverts with different names",
        "Identical or near-identical images appear in adverts under different names, accounts "
        "or locations.",
        "medium",
        "linkage",
        htcds=_ADVERT_ONLY,
    ),
    _indicator(
        "not_as_pictured",
        "The person who attends is not the one pictured",
        "Customers report that the person they met was not the person in the advert.",
        "medium",
        "customer_report",
        htcds=(
            "The customer is deceived, not the advertised person: HTCDS FalsePromises is deception "
            "of the person into the situation, which this does not show."
        ),
    ),
    _indicator(
        "third_party_answers_contact",
        "A third party answers calls or messages",
        "Someone other than the advertised person (a 'maid', a 'manager') answers the phone "
        "or messages and agrees services on the advertised person's behalf.",
        "high",
        "control",
        htcds=_CONTROLLER,
    ),
    _indicator(
        "poor_or_no_english",
        "Poor or no English",
        "The advertised person does not speak the local language, which increases dependency "
        "on others and is a vulnerability.",
        "low",
        "control",
        htcds=(("prs_PrimaryLanguage", None),),
    ),
    _indicator(
        "frequent_movement_touring",
        "Frequent movement between towns ('touring')",
        "Adverts move the advertised person between towns or regions at short intervals.",
        "medium",
        "movement",
        htcds=(("vic_MethodsOfControl", "RestrictsMovement"),),
    ),
    _indicator(
        "multiple_adverts_one_address",
        "Several adverts at one address",
        "Several adverts or accounts give the same address or location, suggesting a brothel "
        "run by a third party.",
        "medium",
        "linkage",
        htcds=(("vic_LocationOfExploitation", None),),
    ),
    _indicator(
        "third_person_advert_text",
        "Advert written in the third person",
        "The advert describes the person in the third person ('she is', 'my girls'), "
        "suggesting someone else wrote it.",
        "low",
        "advert_content",
        htcds=_ADVERT_ONLY,
    ),
    _indicator(
        "inconsistent_ages",
        "Inconsistent ages",
        "The advertised age differs between adverts, images or verification documents.",
        "medium",
        "age",
        htcds=(("prs_Birthdate", None), ("vic_AgeWhenTrafficked", None)),
    ),
    _indicator(
        "payment_from_abroad",
        "Payments from abroad",
        "Adverts are paid for from a billing country other than the one where services are "
        "advertised.",
        "low",
        "payment",
        htcds=_PAYMENT_ONLY,
    ),
    _indicator(
        "prepaid_card_payment",
        "Payment with prepaid cards",
        "Adverts are paid for with prepaid or gift cards that obscure the payer.",
        "low",
        "payment",
        htcds=_PAYMENT_ONLY,
    ),
    _indicator(
        "cryptocurrency_payment",
        "Payment with cryptocurrency",
        "Adverts are paid for with cryptocurrency.",
        "low",
        "payment",
        htcds=_PAYMENT_ONLY,
    ),
    _indicator(
        "shared_device_or_ip",
        "The same device or IP address across accounts",
        "Several accounts are registered or used from the same device or IP address.",
        "medium",
        "technical",
        htcds=_ACCOUNT_ONLY,
    ),
    _indicator(
        "restricted_availability_or_control",
        "Signs of restricted freedom",
        "The advert or reports suggest the person cannot refuse customers or services, works "
        "excessive hours, lives where they work, or is watched.",
        "high",
        "control",
        htcds=(
            ("vic_MethodsOfControl", "RestrictsMovement"),
            ("vic_MethodsOfControl", "ExcessiveWorkingHours"),
        ),
    ),
    _indicator(
        "violence_or_injury_reported",
        "Violence or injuries reported",
        "Customers or others report bruises, injuries, fear or violence.",
        "high",
        "control",
        htcds=(
            ("vic_MethodsOfControl", "PhysicalAbuse"),
            ("vic_MethodsOfControl", "PhysicalThreats"),
        ),
    ),
    _indicator(
        "documents_withheld",
        "Identity documents held by someone else",
        "Age or identity verification is done with documents presented by a third party, or "
        "the person says someone else holds their documents.",
        "high",
        "control",
        htcds=(("vic_MethodsOfControl", "WithholdsDocuments"),),
    ),
    _indicator(
        "debt_or_earnings_taken",
        "Debt or earnings taken",
        "The person mentions a debt to be worked off, or that someone else takes the money.",
        "high",
        "control",
        htcds=(
            ("vic_MethodsOfControl", "DebtBondage"),
            ("vic_MethodsOfControl", "TakesEarnings"),
        ),
    ),
    _indicator(
        "substance_use_coercion",
        "Drugs or alcohol used for control",
        "Reports that the person is kept under the influence, or that drugs are offered as "
        "part of services arranged by someone else.",
        "medium",
        "control",
        htcds=(("vic_MethodsOfControl", "PsychoactiveSubstance"),),
    ),
    _indicator(
        "unusual_services_or_pricing",
        "Unusually cheap or unprotected services",
        "Prices far below the local market, or unprotected services offered, which can "
        "indicate that the person cannot refuse.",
        "medium",
        "advert_content",
        htcds=_ADVERT_ONLY,
    ),
    _indicator(
        "account_reregistration_after_ban",
        "Re-registration after removal",
        "A removed account reappears under new details that link to the old one.",
        "medium",
        "technical",
        htcds=_ACCOUNT_ONLY,
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
