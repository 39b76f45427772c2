"""The referral document, schema version 1.

These pydantic models are the single source of the standard: the published JSON Schema
(``spec/schema/v1/referral.schema.json``) and the field reference are generated from them.
They accept exactly what the JSON Schema accepts; the documented semantic rules
(``strive_schema.semantics``) are checked on top, by the models and by the validator alike.

Absent values are omitted, never ``null``: one way to say "not known" keeps documents
comparable and the schema simple.

Example::

    from strive_schema import Referral
    referral = Referral.model_validate_json(raw_bytes)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from strive_schema._types import (
    INTEGRAL_NUMBER,
    MEMBERS_ADDED,
    NO_NUL_PATTERN,
    SUPPORTED_SCHEMA_VERSIONS,
    CountryCode,
    CurrencyCode,
    DateOnly,
    DecimalAmount,
    E164Number,
    EmailText,
    Extensions,
    IndicatorCode,
    IPAddress,
    LocalId,
    LongText,
    MediaType,
    Omittable,
    OrganisationId,
    Sha256Hex,
    ShortText,
    Text,
    Timestamp,
    Uuid,
    WebUrl,
)

__all__ = [
    "MEMBERS_ADDED",
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Account",
    "Advert",
    "Attachment",
    "Contact",
    "CustomerReport",
    "Declaration",
    "Email",
    "Handling",
    "ImageHash",
    "Indicator",
    "LawfulBasis",
    "LinkedAccount",
    "Location",
    "Money",
    "Payment",
    "Person",
    "Phone",
    "Referral",
    "Reporter",
    "Supplement",
    "TechnicalEvent",
    "Urgency",
]

SCHEMA_VERSION: Literal["1.1"] = "1.1"
"""The newest version of the referral schema these models describe."""

"""The schema version this package writes. Receivers list the versions they accept."""

#: Context key: skip the semantic rules while parsing (the validator runs them itself to
#: collect every finding with its pointer, instead of stopping at the first).
SKIP_SEMANTICS = "strive_skip_semantics"

MAX_ENTITIES = 1000

RiskLevel = Literal["low", "medium", "high"]
UrgencyLevel = Literal["routine", "priority", "immediate"]
ReferralSource = Literal[
    "customer_report",
    "proactive_detection",
    "automated_detection",
    "staff_review",
    "law_enforcement_request",
]
LinkBasis = Literal[
    "shared_payer",
    "shared_phone",
    "shared_email",
    "shared_payment_card",
    "shared_device",
    "shared_ip_address",
    "shared_images",
    "shared_address",
    "same_person",
    "other",
]
PersonRole = Literal[
    "advertised_person",
    "possible_victim",
    "suspected_controller",
    "suspected_agent",
    "payer",
    "reporting_customer",
    "other",
]
Gender = Literal["female", "male", "non_binary", "unknown"]
PaymentMethod = Literal[
    "credit_card",
    "debit_card",
    "prepaid_card",
    "bank_transfer",
    "cryptocurrency",
    "e_wallet",
    "voucher",
    "mobile_payment",
    "other",
    "unknown",
]
TechnicalEventType = Literal[
    "registration",
    "login",
    "purchase",
    "advert_post",
    "advert_edit",
    "message",
    "password_reset",
    "other",
]
ReportCategory = Literal[
    "suspected_underage",
    "suspected_trafficking",
    "suspected_exploitation",
    "not_as_pictured",
    "third_party_control",
    "violence_or_coercion",
    "other",
]
ImageHashAlgorithm = Literal["sha256", "md5", "pdq", "phash", "dhash"]
ProtectiveMarking = Literal["OFFICIAL", "OFFICIAL-SENSITIVE"]
LawfulBasisCode = Literal[
    "uk_gdpr_6_1_c_legal_obligation",
    "uk_gdpr_6_1_d_vital_interests",
    "uk_gdpr_6_1_e_public_task",
    "uk_gdpr_6_1_f_legitimate_interests",
    "dpa_2018_s10_sch1_para10_preventing_crime",
    "dpa_2018_s10_sch1_para18_safeguarding",
    "other",
]
SupplementRelationship = Literal["adds_information", "answers_request", "corrects"]
RegionCode = Literal[
    "TLC", "TLD", "TLE", "TLF", "TLG", "TLH", "TLI", "TLJ", "TLK", "TLL", "TLM", "TLN"
]  # fmt: skip
AccountStatus = Literal["active", "suspended", "closed", "unknown"]
ReportKind = Literal["report", "review"]

Refs = Annotated[list[LocalId], Field(max_length=200)]


class StriveModel(BaseModel):
    """Base of every referral model: strict types, no unknown members, no ``null``."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        # Rust's regex engine reads the published patterns as ECMA-262 does (JSON Schema's
        # dialect); Python's re would let "$" match before a final newline.
        regex_engine="rust-regex",
        use_attribute_docstrings=True,
        validate_default=False,
    )


# --- The reporter, urgency and handling ------------------------------------------------------


class Contact(StriveModel):
    """How law enforcement reaches the ASW's safeguarding team about this referral."""

    name: ShortText
    """Name of the person or team."""
    email: EmailText
    """A monitored mailbox of the safeguarding team."""
    role: Omittable[ShortText] = None
    """Role or job title, e.g. "Trust and Safety lead"."""
    phone: Omittable[ShortText] = None
    """A phone number staffed during the ASW's working hours."""


class Reporter(StriveModel):
    """The ASW that makes the referral."""

    organisation_id: OrganisationId
    """The ASW's organisation id as registered with the receiver. Must equal the sender of the
    signed envelope."""
    platform_name: ShortText
    """The public name of the site or app, e.g. "Example Adverts"."""
    safeguarding_contact: Contact
    """Who to contact about this referral."""
    case_reference: ShortText
    """The ASW's own reference for this case, quoted back in feedback."""


class Urgency(StriveModel):
    """How quickly the ASW believes the receiver should look at the referral.

    ``immediate`` asks for same-day attention; it does NOT replace an emergency call: where
    someone is in immediate danger the ASW calls the emergency services first.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "if": {
                "properties": {"level": {"enum": ["priority", "immediate"]}},
                "required": ["level"],
            },
            "then": {"required": ["reason"]},
        }
    )

    level: UrgencyLevel
    """``routine``, ``priority`` or ``immediate``."""
    reason: Omittable[Text] = None
    """Why the referral is urgent. Required for ``priority`` and ``immediate``."""

    @model_validator(mode="after")
    def _reason_for_urgent(self) -> Self:
        if self.level != "routine" and self.reason is None:
            raise ValueError("a reason is required when the urgency is priority or immediate")
        return self


class LawfulBasis(StriveModel):
    """The lawful basis on which the ASW discloses the personal data in the referral."""

    code: LawfulBasisCode
    """A coded basis (UK GDPR Article 6 ground or DPA 2018 Schedule 1 condition)."""
    details: Omittable[Text] = None
    """Free-text explanation; required in practice when ``code`` is ``other``."""


class Declaration(StriveModel):
    """The submitter's declaration that the referral is accurate."""

    submitted_by: ShortText
    """Name or staff identifier of the person who approved the referral."""
    role: ShortText
    """Their role at the ASW."""
    accurate_to_best_of_knowledge: Literal[True]
    """Always ``true``: the submitter declares the content accurate to the best of their
    knowledge and that it was gathered in the normal course of the ASW's business."""


class Handling(StriveModel):
    """How the referral is to be handled."""

    protective_marking: ProtectiveMarking
    """Government Security Classification marking, usually ``OFFICIAL-SENSITIVE``."""
    lawful_basis: LawfulBasis
    """The basis the ASW relies on to disclose."""
    declaration: Declaration
    """The submitter's declaration."""


class Indicator(StriveModel):
    """A coded reason for the referral, from the Strive indicator taxonomy."""

    code: IndicatorCode
    """A taxonomy code (``spec/taxonomy/indicators.json``) or a namespaced extension code
    ``x-<organisation>-<name>``."""
    risk: RiskLevel
    """The ASW's assessment for this case: ``low``, ``medium`` or ``high``."""
    details: Omittable[LongText] = None
    """What was observed."""
    evidence_refs: Refs = Field(default_factory=list)
    """Local ids of the entities in this referral that support the indicator."""


class Supplement(StriveModel):
    """Marks this referral as adding to, answering or correcting an earlier one."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {
                "properties": {"relationship": {"const": "answers_request"}},
                "required": ["relationship"],
            },
            "then": {"required": ["information_request_id"]},
        }
    )

    referral_id: Uuid
    """The ``referral_id`` of the earlier referral (from the same ASW)."""
    relationship: SupplementRelationship
    """``adds_information``, ``answers_request`` or ``corrects``."""
    information_request_id: Omittable[ShortText] = None
    """The receiver's id of the request for information this answers. Required for
    ``answers_request``."""

    @model_validator(mode="after")
    def _request_for_answer(self) -> Self:
        if self.relationship == "answers_request" and self.information_request_id is None:
            raise ValueError("an answer to a request for information names the request")
        return self


# --- Entities ---------------------------------------------------------------------------------


class LinkedAccount(StriveModel):
    """Another account in this referral that the ASW links to this one."""

    account_ref: LocalId
    """Local id of the linked account."""
    basis: Annotated[list[LinkBasis], Field(min_length=1, max_length=10)]
    """Why the accounts are linked, e.g. ``shared_payer``."""
    details: Omittable[Text] = None
    """What the link is, in words."""


class Account(StriveModel):
    """An account on the ASW's platform."""

    id: LocalId
    """Local id, unique within the referral."""
    platform_account_id: ShortText
    """The ASW's own identifier of the account."""
    created_at: Omittable[Timestamp] = None
    """When the account was created."""
    status: Omittable[AccountStatus] = None
    """The account's state on the platform at the time of the referral."""
    display_names: Annotated[list[ShortText], Field(max_length=50)] = Field(default_factory=list)
    """Names the account has advertised under."""
    phone_refs: Refs = Field(default_factory=list)
    """Phones registered to the account."""
    email_refs: Refs = Field(default_factory=list)
    """E-mail addresses registered to the account."""
    linked_accounts: Annotated[list[LinkedAccount], Field(max_length=200)] = Field(
        default_factory=list
    )
    """Other accounts in this referral linked to this one, with the basis of each link."""
    extensions: Extensions = Field(default_factory=dict)


class Location(StriveModel):
    """Where an advert offers services. Keep it as coarse as the advert itself."""

    country: CountryCode
    """ISO 3166-1 alpha-2 country code, e.g. ``GB``."""
    region: Omittable[ShortText] = None
    """Region as named on the platform, e.g. "London"."""
    region_code: Omittable[RegionCode] = None
    """UK ITL1 region code where known: TLC North East, TLD North West, TLE Yorkshire and The
    Humber, TLF East Midlands, TLG West Midlands, TLH East of England, TLI London, TLJ South
    East, TLK South West, TLL Wales, TLM Scotland, TLN Northern Ireland."""
    town: Omittable[ShortText] = None
    """Town or city."""
    postcode: Omittable[ShortText] = None
    """Postcode or postcode district, as given in the advert."""


class ImageHash(StriveModel):
    """A hash of an image used in an advert; the image itself is not sent."""

    algorithm: ImageHashAlgorithm
    """``sha256`` and ``md5`` are exact; ``pdq``, ``phash`` and ``dhash`` are perceptual."""
    value: Annotated[str, Field(pattern=r"^[0-9a-f]{16,128}$")]
    """Lower-case hexadecimal hash value."""


class Advert(StriveModel):
    """An advert published on the ASW's platform."""

    id: LocalId
    """Local id, unique within the referral."""
    platform_advert_id: ShortText
    """The ASW's own identifier of the advert."""
    account_ref: Omittable[LocalId] = None
    """Local id of the account that posted the advert."""
    url: Omittable[WebUrl] = None
    """Public URL of the advert."""
    title: Omittable[
        Annotated[str, Field(min_length=1, max_length=500, pattern=NO_NUL_PATTERN)]
    ] = None
    """The advert's title."""
    text: Omittable[LongText] = None
    """The advert's text, as published."""
    locations: Annotated[list[Location], Field(max_length=50)] = Field(default_factory=list)
    """Where the advert offers services."""
    first_seen_at: Omittable[Timestamp] = None
    """When the advert was first published."""
    last_seen_at: Omittable[Timestamp] = None
    """When the advert was last seen or removed."""
    phone_refs: Refs = Field(default_factory=list)
    """Contact phones shown in the advert."""
    email_refs: Refs = Field(default_factory=list)
    """Contact e-mail addresses shown in the advert."""
    image_hashes: Annotated[list[ImageHash], Field(max_length=200)] = Field(default_factory=list)
    """Hashes of the advert's images."""
    advertised_age: Omittable[Annotated[int, Field(ge=0, le=150), INTEGRAL_NUMBER]] = None
    """The age stated in the advert."""
    advertised_name: Omittable[ShortText] = None
    """The name the advertised person is presented under."""
    extensions: Extensions = Field(default_factory=dict)


class Person(StriveModel):
    """A person the referral concerns, with their role(s)."""

    id: LocalId
    """Local id, unique within the referral."""
    roles: Annotated[list[PersonRole], Field(min_length=1, max_length=7)]
    """One or more roles, e.g. ``possible_victim`` or ``suspected_controller``."""
    names: Annotated[list[ShortText], Field(max_length=50)] = Field(default_factory=list)
    """Names used, as seen (payer names, advertised names, names in reports)."""
    gender: Omittable[Gender] = None
    """Gender as observed or declared."""
    nationality: Omittable[CountryCode] = None
    """Nationality where stated, ISO 3166-1 alpha-2."""
    date_of_birth: Omittable[DateOnly] = None
    """Date of birth where the ASW holds it (e.g. from age verification)."""
    description: Omittable[Text] = None
    """Other observations, e.g. "sounds like a maid takes her calls"."""
    account_refs: Refs = Field(default_factory=list)
    """Accounts the person holds, operates or pays for."""
    phone_refs: Refs = Field(default_factory=list)
    """Phones associated with the person."""
    email_refs: Refs = Field(default_factory=list)
    """E-mail addresses associated with the person."""
    extensions: Extensions = Field(default_factory=dict)


class Phone(StriveModel):
    """A phone number, exactly as seen, plus its E.164 form where it can be normalised."""

    id: LocalId
    """Local id, unique within the referral."""
    raw: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL_PATTERN)]
    """The number as seen on the platform, e.g. "07700 900123". Never rewritten."""
    e164: Omittable[E164Number] = None
    """The number in E.164, e.g. ``+447700900123``. The SDK fills it in where the raw value
    can be normalised; a raw value that cannot be normalised is still accepted."""
    extensions: Extensions = Field(default_factory=dict)


class Email(StriveModel):
    """An e-mail address, exactly as seen."""

    id: LocalId
    """Local id, unique within the referral."""
    address: Annotated[str, Field(min_length=1, max_length=320, pattern=NO_NUL_PATTERN)]
    """The address as seen. Receivers normalise it (lower case, IDNA domain) for linking."""
    extensions: Extensions = Field(default_factory=dict)


class Money(StriveModel):
    """An amount of money."""

    amount: DecimalAmount
    """Decimal string, e.g. ``"49.99"``; never a binary float."""
    currency: CurrencyCode
    """ISO 4217 currency code, e.g. ``GBP``."""


class Payment(StriveModel):
    """A payment, or an attempt to pay, for adverts or account services."""

    id: LocalId
    """Local id, unique within the referral."""
    occurred_at: Timestamp
    """When the payment was made or attempted."""
    declined: bool
    """``true`` for an attempt that was declined or abandoned."""
    method: PaymentMethod
    """How the payment was (to be) made."""
    payer_name: Omittable[ShortText] = None
    """The payer's name as given to the payment provider."""
    payer_person_ref: Omittable[LocalId] = None
    """Local id of the person who paid."""
    account_ref: Omittable[LocalId] = None
    """Local id of the account paid for."""
    advert_refs: Refs = Field(default_factory=list)
    """Local ids of the adverts paid for."""
    card_fingerprint: Omittable[Annotated[str, Field(pattern=r"^[A-Za-z0-9._:/+=-]{8,128}$")]] = (
        None
    )
    """A stable token or fingerprint of the card from the payment provider. NEVER a card
    number: a value that looks like one is rejected (rule ``card_number_forbidden``)."""
    card_last4: Omittable[Annotated[str, Field(pattern=r"^[0-9]{4}$")]] = None
    """Last four digits of the card, where the provider shows them."""
    billing_country: Omittable[CountryCode] = None
    """Billing country, ISO 3166-1 alpha-2."""
    amount: Omittable[Money] = None
    """Amount and currency."""
    extensions: Extensions = Field(default_factory=dict)


class TechnicalEvent(StriveModel):
    """A technical event on the platform: a login, a registration, a purchase."""

    id: LocalId
    """Local id, unique within the referral."""
    event_type: TechnicalEventType
    """What happened."""
    occurred_at: Timestamp
    """When it happened."""
    ip_address: Omittable[IPAddress] = None
    """Source IPv4 or IPv6 address."""
    port: Omittable[Annotated[int, Field(ge=0, le=65535), INTEGRAL_NUMBER]] = None
    """Source port (needed to identify a subscriber behind carrier-grade NAT)."""
    device_id: Omittable[ShortText] = None
    """The ASW's device identifier or fingerprint."""
    user_agent: Omittable[Text] = None
    """HTTP User-Agent, as received."""
    account_ref: Omittable[LocalId] = None
    """Local id of the account concerned."""
    extensions: Extensions = Field(default_factory=dict)


class CustomerReport(StriveModel):
    """A report or review by a customer of the platform."""

    id: LocalId
    """Local id, unique within the referral."""
    kind: ReportKind
    """``report`` (sent to the ASW) or ``review`` (published on the platform)."""
    received_at: Timestamp
    """When the ASW received or published it."""
    categories: Annotated[list[ReportCategory], Field(min_length=1, max_length=7)]
    """What the customer suspects, e.g. ``suspected_underage``."""
    text: LongText
    """The customer's words, unedited."""
    advert_refs: Refs = Field(default_factory=list)
    """Adverts the report is about."""
    account_ref: Omittable[LocalId] = None
    """The account the report is about."""
    reporter_person_ref: Omittable[LocalId] = None
    """The reporting customer, as a person with the role ``reporting_customer``."""
    extensions: Extensions = Field(default_factory=dict)


class Attachment(StriveModel):
    """Describes an evidence file that travels separately from the referral."""

    id: LocalId
    """Local id, unique within the referral."""
    sha256: Sha256Hex
    """SHA-256 of the file, lower-case hexadecimal."""
    size_bytes: Annotated[int, Field(ge=0, le=10_737_418_240), INTEGRAL_NUMBER]
    """Size of the file in bytes."""
    media_type: MediaType
    """Media type, e.g. ``image/jpeg``."""
    relevance: Text
    """Why the file matters to the referral."""
    description: Omittable[Text] = None
    """What the file shows."""
    extensions: Extensions = Field(default_factory=dict)


# --- The referral -----------------------------------------------------------------------------


class Referral(StriveModel):
    """A referral of suspected exploitation from an ASW to a law-enforcement receiver.

    Raises ``pydantic.ValidationError`` when the document does not conform, including the
    semantic rules; use ``strive_schema.validate_document`` to get every finding with a JSON
    Pointer and a stable code instead.
    """

    model_config = ConfigDict(
        title="Strive referral",
        json_schema_extra={"x-strive-schema-version": SCHEMA_VERSION},
    )

    schema_version: Literal["1.0", "1.1"]
    """The version of this schema the document follows."""
    taxonomy_version: Omittable[
        Annotated[str, Field(pattern=r"^(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})$")]
    ] = None
    """The version of the indicator taxonomy the ASW coded the indicators with
    (``MAJOR.MINOR``); added in 1.1. A receiver with an older taxonomy accepts a code it does
    not know from a newer one, with a warning (spec/versioning.md, "The taxonomy")."""
    referral_id: Uuid
    """Chosen by the ASW, unique per ASW; the idempotency key: re-sending a referral with the
    same id and content returns the original receipt."""
    created_at: Timestamp
    """When the ASW created the referral. Not more than five minutes in the future."""
    is_test: bool
    """``true`` for a sandbox referral: no one acts on it."""
    reporter: Reporter
    """The ASW making the referral."""
    urgency: Urgency
    """How quickly it needs attention."""
    source: ReferralSource
    """What led the ASW to make the referral."""
    narrative: Annotated[str, Field(min_length=10, max_length=20000, pattern=NO_NUL_PATTERN)]
    """The reasons for the referral, in the ASW's words."""
    indicators: Annotated[list[Indicator], Field(min_length=1, max_length=100)]
    """Coded reasons for the referral; at least one."""
    accounts: Annotated[list[Account], Field(max_length=MAX_ENTITIES)] = Field(default_factory=list)
    """Accounts on the platform."""
    adverts: Annotated[list[Advert], Field(max_length=MAX_ENTITIES)] = Field(default_factory=list)
    """Adverts on the platform."""
    persons: Annotated[list[Person], Field(max_length=MAX_ENTITIES)] = Field(default_factory=list)
    """People the referral concerns."""
    phones: Annotated[list[Phone], Field(max_length=MAX_ENTITIES)] = Field(default_factory=list)
    """Phone numbers."""
    emails: Annotated[list[Email], Field(max_length=MAX_ENTITIES)] = Field(default_factory=list)
    """E-mail addresses."""
    payments: Annotated[list[Payment], Field(max_length=MAX_ENTITIES)] = Field(default_factory=list)
    """Payments and payment attempts."""
    technical_events: Annotated[list[TechnicalEvent], Field(max_length=MAX_ENTITIES)] = Field(
        default_factory=list
    )
    """Logins, registrations, purchases."""
    customer_reports: Annotated[list[CustomerReport], Field(max_length=MAX_ENTITIES)] = Field(
        default_factory=list
    )
    """Customer reports and reviews."""
    attachments: Annotated[list[Attachment], Field(max_length=MAX_ENTITIES)] = Field(
        default_factory=list
    )
    """Evidence files, described here and sent separately."""
    supplements: Omittable[Supplement] = None
    """Set when this referral adds to, answers or corrects an earlier one."""
    handling: Handling
    """Protective marking, lawful basis and declaration."""
    extensions: Extensions = Field(default_factory=dict)

    @model_validator(mode="after")
    def _semantic_rules(self, info: ValidationInfo) -> Self:
        context: Any = info.context
        if isinstance(context, dict) and context.get(SKIP_SEMANTICS):
            return self
        # Imported here: semantics needs the models, the models need semantics only now.
        from strive_schema.semantics import check_semantics  # noqa: PLC0415

        errors = [f for f in check_semantics(self) if f.severity == "error"]
        if errors:
            raise ValueError(
                "; ".join(f"{f.code} at {f.pointer or '/'}: {f.message}" for f in errors)
            )
        return self
