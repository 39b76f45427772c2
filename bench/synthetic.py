"""Deterministic synthetic referrals for the benchmarks (validator, server, linker).

Every document is a realistic, valid Strive referral of about 10-15 KB: several accounts,
adverts with 300-800 word texts, messy phone numbers, e-mail addresses, payments (some
declined), technical events and customer reports. The same seed always gives the same
documents, byte for byte.

Selector reuse is modelled on what a linker meets in practice:

* a few large **networks** (``network_share`` of the referrals, sizes skewed so one network
  is much larger than the others) whose referrals draw phones, e-mail addresses, payer names
  (in messy spellings), card tokens, IP addresses and accounts from the network's own pool;
* many **singletons** whose e-mail addresses, card tokens and accounts are their own; their
  payer names come from 30 first names and 30 surnames (half with a middle initial), so
  common names recur by chance (up to 8 times in 5,000 referrals), as they do in life;
* a few **over-correlating values** that turn up in unrelated referrals: one phone number in
  about 5% of referrals, one e-mail address in about 3%, and a generic prepaid-card payer
  name ("PREPAID CARDHOLDER") in about 4%;
* a little untidiness: about 2% of phones are raw text that cannot be normalised ("call me on
  WhatsApp"; three such strings, so they over-correlate too, as they do in real data). They
  give ``phone_unparseable`` warnings, never errors: about 8% of documents have a warning.

Only fictional selectors are used: Ofcom's drama range 07700 900000-900999, the fictional US
range +1 202 555 0100-0199, ``example.com`` / ``example.org`` / ``example.net`` addresses,
``https://adverts.example/`` URLs and the documentation IP ranges. Phone numbers are the one
scarce resource: the two ranges hold 1,100 numbers, so the phones of singletons are dealt from
a rotating pool of 900 and recur by design once a corpus holds more than a few hundred
referrals (each singleton number appears in about ``count * 3.5 / 900`` referrals). Benchmarks
of the linker should link singletons by e-mail and payer name, or treat those phone matches as
the background noise that real data also has.

Example::

    from synthetic import generate_referrals

    for document in generate_referrals(1000, seed=7):
        ...

Command line::

    python bench/synthetic.py --count 5000 --out /tmp/referrals.ndjson
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any, Final

from strive_schema.normalise import normalise_phone

__all__ = [
    "DEFAULT_ASW_IDS",
    "generate_labelled_referrals",
    "generate_referrals",
    "main",
    "write_ndjson",
]

Document = dict[str, Any]

DEFAULT_ASW_IDS: Final[tuple[str, ...]] = (
    "example-adverts",
    "demo-classifieds",
    "night-listings",
    "sample-escorts",
    "test-directory",
)

#: Referrals are dated from here over ``_SPAN_DAYS`` days: always in the past, so valid.
_EPOCH: Final = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
_SPAN_DAYS: Final = 300

# Phone numbers: national significant numbers in the two fictional ranges.
_HOT_PHONE: Final = "7700900000"
_NETWORK_PHONES: Final = tuple(f"7700900{n:03d}" for n in range(1, 200))
_SINGLETON_PHONES: Final = tuple(f"7700900{n:03d}" for n in range(200, 1000)) + tuple(
    f"us:202555{n:04d}" for n in range(100, 200)
)
_HOT_EMAIL: Final = "bookings@example.com"
_HOT_PAYER_NAME: Final = "PREPAID CARDHOLDER"

_HOT_PHONE_SHARE: Final = 0.05
_HOT_EMAIL_SHARE: Final = 0.03
_HOT_PAYER_SHARE: Final = 0.04
_UNTIDY_SHARE: Final = 0.02
#: What advertisers write instead of a number; unparseable (a warning, never an error).
_UNTIDY_PHONES: Final = (
    "WhatsApp only, number in profile",
    "text me on the number in my pics",
    "call me on WhatsApp",
)

#: Serialised size aimed at (compact JSON, bytes) and the bounds of an advert text (words).
_TARGET_BYTES: Final = (10_500, 14_500)
_MAX_BYTES: Final = 15_000
_MIN_TEXT_BYTES: Final = 2_000  # about 300 words of advert text
_ADVERT_WORDS: Final = (300, 800)

_WORKING_NAMES: Final = (
    "Alina", "Bianca", "Carla", "Daria", "Elena", "Flavia", "Gina", "Ioana", "Jade", "Kira",
    "Lara", "Maya", "Nadia", "Oana", "Paula", "Rita", "Sofia", "Tania", "Vera", "Zoe",
    "Amber", "Chloe", "Ruby", "Mia", "Lola", "Eva", "Nina", "Sara", "Lina", "Dora",
)  # fmt: skip
_MALE_FIRST: Final = (
    "Adrian", "Bogdan", "Cristian", "Daniel", "Emil", "Florin", "Gabriel", "Ionut", "Marius",
    "Nicolae", "Radu", "Stefan", "Tiago", "Joao", "Bruno", "Rafael", "Lucas", "Mark", "Lee",
    "Darren", "Gary", "Wayne", "Dean", "Craig", "Tomasz", "Piotr", "Arben", "Ilir", "Erion",
    "Kevin",
)  # fmt: skip
_SURNAMES: Final = (
    "Popescu", "Ionescu", "Stan", "Dumitru", "Marin", "Tudor", "Ferreira", "Santos",
    "Oliveira", "Costa", "Pereira", "Sample", "Example", "Testwood", "Placeholder", "Nowak",
    "Kowalski", "Hoxha", "Krasniqi", "Smith", "Jones", "Taylor", "Brown", "Walker", "Wright",
    "Fictus", "Demo", "Mockford", "Dummett", "Specimen",
)  # fmt: skip
_DIACRITICS: Final = {
    "Ionut": "Ionuț",
    "Joao": "João",
    "Stefan": "Ștefan",
    "Tomasz": "Tomàsz",
    "Popescu": "Popéscu",
    "Nicolae": "Nicolaë",
}
_NATIONALITIES: Final = ("RO", "PT", "BR", "AL", "PL", "GB", "BG", "HU")

_REGIONS: Final[tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]] = (
    ("TLI", "London", (("London", "E1"), ("London", "W2"), ("London", "SE1"), ("London", "N7"))),
    ("TLJ", "South East", (("Brighton", "BN1"), ("Reading", "RG1"), ("Maidstone", "ME14"))),
    ("TLC", "North East", (("Newcastle upon Tyne", "NE1"), ("Sunderland", "SR1"))),
    ("TLD", "North West", (("Manchester", "M1"), ("Liverpool", "L1"))),
    ("TLE", "Yorkshire and The Humber", (("Leeds", "LS2"), ("Sheffield", "S1"))),
    ("TLG", "West Midlands", (("Birmingham", "B1"), ("Coventry", "CV1"))),
    ("TLM", "Scotland", (("Glasgow", "G1"), ("Edinburgh", "EH1"))),
)

_ADVERT_SENTENCES: Final = (
    "Hello gentlemen, thank you for looking at my profile.",
    "I am new in town for a short time only, so do not miss me.",
    "I am friendly, discreet and always on time.",
    "Incall in a clean and private apartment close to the station.",
    "Outcall to hotels and homes in the city centre is available on request.",
    "Please call or text at least thirty minutes before you want to meet.",
    "No withheld numbers, no time wasters, no last-minute cancellations.",
    "My photos are recent and genuine, what you see is what you get.",
    "I speak a little English and I am learning more every day.",
    "Available from ten in the morning until late at night, seven days a week.",
    "Parking is available nearby and the entrance is very discreet.",
    "I love meeting new people and making them feel relaxed.",
    "Gentlemen of all ages and backgrounds are welcome.",
    "Respect and good hygiene are important to me, and I expect the same.",
    "Texts are answered quickly, calls are better in the evening.",
    "She is sweet, young and very open minded, ask for details by text.",
    "My manager will confirm the booking and send you the address.",
    "Special prices this week only, ask about longer bookings.",
    "I am touring and will move to another city at the end of the week.",
    "Please read my reviews before you book, I always try my best.",
    "Couples are welcome by prior arrangement.",
    "I enjoy good conversation, a glass of wine and a nice dinner.",
    "Booking by text only, I cannot answer calls during appointments.",
    "Rates are fixed and not negotiable, thank you for understanding.",
    "If there is no answer on this number, try the second number in my profile.",
    "I will be in the area for a few days before returning to London.",
    "New photos coming soon, my profile is verified.",
    "Smart casual dress is appreciated, and so is a smile.",
    "I am a student and work part time, so please be patient with replies.",
    "The apartment is on the second floor, the buzzer is marked with my name.",
)
_NARRATIVE_SENTENCES: Final = (
    "Our payment review found that the accounts below are paid for by someone who does not "
    "hold them.",
    "The same contact numbers recur across adverts of accounts with different names.",
    "Several accounts were registered from the same device within a short time.",
    "A customer report raised concerns about the person who attended a booking.",
    "The adverts move between towns every few days.",
    "The advert text is written by a third party and offers services the advertised person "
    "may not agree to.",
    "We have preserved all data and can suspend the accounts on request.",
    "The accounts remain live so as not to alert the account holders.",
    "Age verification was passed with a document that our provider could not match to a selfie.",
    "Payments were attempted with several cards in quick succession and some were declined.",
    "The login IP addresses are shared with accounts in earlier referrals.",
    "The person answering the phone is not the person in the advert, according to customers.",
)
_REVIEW_TEXTS: Final = (
    (
        "not_as_pictured",
        "I turned up and it wasn't the girl in the picture, but a woman in her late 30s that "
        "didn't speak English.",
    ),
    (
        "third_party_control",
        "Sounds like a maid takes her calls/texts and says yes to stuff she's not down with.",
    ),
    (
        "suspected_trafficking",
        "A man dropped her off and waited outside the whole time. She said she had to give him "
        "the money.",
    ),
    (
        "suspected_exploitation",
        "She looked exhausted and said she had been working every day for weeks without a break.",
    ),
    (
        "suspected_underage",
        "Honestly she looked about 15, nowhere near the age in the advert. I left.",
    ),
    ("violence_or_coercion", "She had bruises on her arms and seemed scared of the phone."),
)
_USER_AGENTS: Final = (
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
)
_INDICATORS_BY_EVIDENCE: Final[tuple[tuple[str, str], ...]] = (
    ("linked_accounts_shared_payer_or_phone", "account"),
    ("multiple_phones_one_account", "phone"),
    ("third_party_payment", "payment"),
    ("shared_device_or_ip", "technical_event"),
    ("frequent_movement_touring", "advert"),
    ("third_person_advert_text", "advert"),
    ("payment_from_abroad", "payment"),
    ("prepaid_card_payment", "payment"),
    ("shared_images_different_names", "advert"),
)
_REPORT_INDICATORS: Final = {
    "not_as_pictured": "not_as_pictured",
    "third_party_control": "third_party_answers_contact",
    "suspected_trafficking": "customer_flag_underage_trafficked_exploited",
    "suspected_exploitation": "customer_flag_underage_trafficked_exploited",
    "suspected_underage": "suspected_under_18",
    "violence_or_coercion": "violence_or_injury_reported",
}


@dataclass
class _Network:
    """A group of referrals that share selectors: what a linker should tie together."""

    name: str
    phones: list[str]
    emails: list[str]
    payer_names: list[str]
    card_tokens: list[str]
    ip_addresses: list[str]
    account_serials: list[int]
    nationality: str
    weight: float


@dataclass
class _Builder:
    """Accumulates the entities of one referral and hands out local ids."""

    rng: Random
    created_at: datetime
    counters: dict[str, int] = field(default_factory=dict)

    def next_id(self, prefix: str) -> str:
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}-{self.counters[prefix]}"

    def before(self, *, low_hours: float, high_hours: float) -> datetime:
        """A moment between ``high_hours`` and ``low_hours`` before the referral."""
        return self.created_at - timedelta(hours=self.rng.uniform(low_hours, high_hours))


def _size(document: Document) -> int:
    return len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())


def _word_count(sentences: Sequence[str]) -> int:
    return sum(len(sentence.split()) for sentence in sentences)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _uuid(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hex(rng: Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _messy_phone(rng: Random, number: str) -> str:
    """Write a number the way advertisers do."""
    if number.startswith("us:"):
        digits = number[3:]
        area, exchange, line = digits[:3], digits[3:6], digits[6:]
        return rng.choice(
            (
                f"+1 {area} {exchange} {line}",
                f"+1 ({area}) {exchange}-{line}",
                f"001 {area} {exchange} {line}",
                f"+1{digits}",
            )
        )
    prefix, rest = number[:4], number[4:]
    return rng.choice(
        (
            f"0{prefix} {rest}",
            f"+44 {prefix} {rest}",
            f"44{number}",
            f"0{prefix}-{rest[:3]}-{rest[3:]}",
            f"(0{prefix}) {rest}",
            f"+44 (0){prefix} {rest}",
            f"0044 {prefix} {rest}",
            f"0{number}",
            f"0{prefix} {rest[:3]} {rest[3:]}",
        )
    )


def _messy_name(rng: Random, name: str) -> str:
    """Write a payer name the way payment forms receive it."""
    roll = rng.random()
    if roll < 0.25:
        return name.upper()
    if roll < 0.35:
        return name.lower()
    if roll < 0.55:
        return " ".join(_DIACRITICS.get(part, part) for part in name.split())
    if roll < 0.6:
        return "  ".join(name.split())
    return name


def _ip_address(rng: Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return f"192.0.2.{rng.randint(1, 254)}"
    if roll < 0.5:
        return f"198.51.100.{rng.randint(1, 254)}"
    if roll < 0.8:
        return f"203.0.113.{rng.randint(1, 254)}"
    return f"2001:db8:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"


def _payer_name(rng: Random) -> str:
    first, last = rng.choice(_MALE_FIRST), rng.choice(_SURNAMES)
    if rng.random() < 0.5:
        return f"{first} {rng.choice('ABCDEFGHIJKLMNOPRSTV')}. {last}"
    return f"{first} {last}"


def _make_networks(rng: Random, count: int, network_share: float) -> list[_Network]:
    """A few networks, sized like real ones: one large, the rest tailing off."""
    referrals = count * network_share
    number = 0 if referrals < 1 else max(1, min(8, round(referrals / 60)))
    phones = list(_NETWORK_PHONES)
    rng.shuffle(phones)
    networks = []
    for index in range(number):
        men = [_payer_name(rng) for _ in range(2)]
        variants = [*men, *(f"{m.split()[0]} {rng.choice(_SURNAMES)}" for m in men)]
        size = min(13, max(4, len(phones) // max(1, number)))
        networks.append(
            _Network(
                name=f"net-{index + 1}",
                phones=[phones.pop() for _ in range(rng.randint(4, size))],
                emails=[
                    f"{rng.choice(_WORKING_NAMES).lower()}.{index + 1}{k}@"
                    f"{rng.choice(('example.com', 'example.org', 'example.net'))}"
                    for k in range(rng.randint(3, 8))
                ],
                payer_names=variants[: rng.randint(2, 4)],
                card_tokens=[f"tok_{_hex(rng, 16)}" for _ in range(rng.randint(1, 3))],
                ip_addresses=[_ip_address(rng) for _ in range(rng.randint(1, 3))],
                account_serials=[rng.randint(100_000, 999_999) for _ in range(rng.randint(5, 15))],
                nationality=rng.choice(_NATIONALITIES),
                weight=1 / (index + 1),
            )
        )
    return networks


class _Generator:
    def __init__(self, count: int, seed: int, asw_ids: Sequence[str], network_share: float) -> None:
        if count < 0:
            raise ValueError("count must not be negative")
        if not 0.0 <= network_share <= 1.0:
            raise ValueError("network_share must be between 0 and 1")
        if not asw_ids:
            raise ValueError("asw_ids must name at least one ASW")
        self.rng = Random(seed)
        self.count = count
        self.asw_ids = tuple(asw_ids)
        self.network_share = network_share
        self.networks = _make_networks(self.rng, count, network_share)
        self.singleton_phone = self.rng.randrange(len(_SINGLETON_PHONES))
        self.serial = 0

    # --- selectors ---------------------------------------------------------------------------

    def _singleton_phone(self) -> str:
        self.singleton_phone = (self.singleton_phone + 1) % len(_SINGLETON_PHONES)
        return _SINGLETON_PHONES[self.singleton_phone]

    def _phones(self, network: _Network | None, wanted: int) -> list[str]:
        rng = self.rng
        chosen: list[str] = []
        if network is not None:
            pool = rng.sample(network.phones, min(len(network.phones), max(1, wanted - 1)))
            chosen.extend(pool)
        if rng.random() < _HOT_PHONE_SHARE:
            chosen.append(_HOT_PHONE)
        while len(chosen) < wanted:
            chosen.append(self._singleton_phone())
        return list(dict.fromkeys(chosen))

    def _emails(self, network: _Network | None, names: Sequence[str], wanted: int) -> list[str]:
        rng = self.rng
        chosen: list[str] = []
        if network is not None:
            chosen.extend(rng.sample(network.emails, min(len(network.emails), wanted - 1)))
        if rng.random() < _HOT_EMAIL_SHARE:
            chosen.append(_HOT_EMAIL)
        while len(chosen) < wanted:
            name = rng.choice(names).lower()
            domain = rng.choice(("example.com", "example.org", "example.net"))
            chosen.append(f"{name}.{self.serial}{len(chosen)}@{domain}")
        return list(dict.fromkeys(chosen))

    # --- the document --------------------------------------------------------------------------

    def referral(self) -> tuple[Document, str | None]:
        rng = self.rng
        self.serial += 1
        network: _Network | None = None
        if self.networks and rng.random() < self.network_share:
            network = rng.choices(self.networks, weights=[n.weight for n in self.networks])[0]
        asw = rng.choice(self.asw_ids)
        created_at = _EPOCH + timedelta(seconds=rng.randint(0, _SPAN_DAYS * 86_400))
        b = _Builder(rng, created_at)

        names = rng.sample(_WORKING_NAMES, rng.randint(2, 4))
        phone_values = self._phones(network, rng.randint(3, 5))
        email_values = self._emails(network, names, rng.randint(2, 4))
        phones = [self._phone(b, value) for value in phone_values]
        emails = [self._email(b, value) for value in email_values]
        serials = self._account_serials(network, len(names))
        accounts = [
            self._account(b, asw, serial, name, phones, emails)
            for serial, name in zip(serials, names, strict=True)
        ]
        self._link_accounts(accounts, network)
        adverts = [
            self._advert(b, asw, account, phones, emails)
            for account in accounts[: rng.choice((2, 2, 2, 3))]
        ]
        payers = self._payers(b, network, accounts)
        persons = payers + [self._victim(b, account) for account in accounts[:2]]
        payments = self._payments(b, network, payers, accounts, adverts)
        events = self._events(b, network, accounts)
        reports = self._reports(b, accounts, adverts)
        indicators = self._indicators(accounts, adverts, phones, payments, events, reports, persons)
        document: Document = {
            "schema_version": "1.0",
            "referral_id": _uuid(rng),
            "created_at": _timestamp(created_at),
            "is_test": False,
            "reporter": {
                "organisation_id": asw,
                "platform_name": asw.replace("-", " ").title(),
                "safeguarding_contact": {
                    "name": "Safeguarding Team",
                    "email": f"safeguarding+{asw}@example.org",
                    "role": "Trust and Safety",
                },
                "case_reference": f"{asw[:2].upper()}-{created_at:%Y}-{self.serial:06d}",
            },
            "urgency": self._urgency(reports),
            "source": "customer_report"
            if reports
            else rng.choice(("proactive_detection", "automated_detection", "staff_review")),
            "narrative": " ".join(rng.sample(_NARRATIVE_SENTENCES, rng.randint(3, 6))),
            "indicators": indicators,
            "accounts": accounts,
            "adverts": adverts,
            "persons": persons,
            "phones": phones,
            "emails": emails,
            "payments": payments,
            "technical_events": events,
            "customer_reports": reports,
            "handling": {
                "protective_marking": "OFFICIAL-SENSITIVE",
                "lawful_basis": {"code": "dpa_2018_s10_sch1_para10_preventing_crime"},
                "declaration": {
                    "submitted_by": f"Analyst {rng.randint(1, 40):02d}",
                    "role": "Safeguarding analyst",
                    "accurate_to_best_of_knowledge": True,
                },
            },
        }
        if not reports:
            del document["customer_reports"]
        self._fill_advert_texts(document)
        return document, None if network is None else network.name

    def _fill_advert_texts(self, document: Document) -> None:
        """Write advert texts of 300-800 words that bring the document to 10-15 KB."""
        rng = self.rng
        adverts = document["adverts"]
        base = _size(document)
        # Keep within the bound even with three short adverts: user agents are the one
        # member nothing refers to, so they go first (a receiver may not log them anyway).
        events = [e for e in document["technical_events"] if "user_agent" in e]
        while events and base + len(adverts) * _MIN_TEXT_BYTES > _MAX_BYTES:
            del events.pop()["user_agent"]
            base = _size(document)
        target = rng.randint(_TARGET_BYTES[0], _TARGET_BYTES[1])
        extra = max(0, target - base - len(adverts) * _MIN_TEXT_BYTES)
        weights = [rng.uniform(0.1, 1.0) for _ in adverts]
        texts = [
            self._advert_sentences(advert, _MIN_TEXT_BYTES + int(extra * weight / sum(weights)))
            for advert, weight in zip(adverts, weights, strict=True)
        ]

        def render() -> None:
            for advert, sentences in zip(adverts, texts, strict=True):
                paragraphs = (" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 6))
                advert["text"] = "\n\n".join(paragraphs)

        render()
        # The estimate can overshoot by a sentence or two: trim the longest text, never below
        # the minimum number of words.
        while _size(document) > _MAX_BYTES:
            longest = max(texts, key=_word_count)
            if _word_count(longest) - len(longest[-1].split()) < _ADVERT_WORDS[0]:
                break
            longest.pop()
            render()

    def _advert_sentences(self, advert: Document, share: int) -> list[str]:
        """Sentences of an advert text: at least ``share`` characters, within the word bounds."""
        sentences = [f"{advert['advertised_name']}, {advert['advertised_age']}."]
        length, words = len(sentences[0]), 2
        while True:
            sentence = self.rng.choice(_ADVERT_SENTENCES)
            more = len(sentence.split())
            if words + more > _ADVERT_WORDS[1]:
                break
            if words >= _ADVERT_WORDS[0] and length + len(sentence) + 1 > share:
                break
            sentences.append(sentence)
            length += len(sentence) + 2  # the space, and the paragraph breaks on average
            words += more
        return sentences

    def _phone(self, b: _Builder, value: str) -> Document:
        raw = _messy_phone(b.rng, value)
        if b.rng.random() < _UNTIDY_SHARE:
            raw = b.rng.choice(_UNTIDY_PHONES)
        entity: Document = {"id": b.next_id("ph"), "raw": raw}
        e164 = normalise_phone(raw)
        if e164 is not None and b.rng.random() < 0.8:
            entity["e164"] = e164
        return entity

    def _email(self, b: _Builder, value: str) -> Document:
        address = value
        roll = b.rng.random()
        if roll < 0.2:
            address = value.upper()
        elif roll < 0.35:
            local, domain = value.split("@")
            address = f"{local.title()}@{domain.title()}"
        return {"id": b.next_id("em"), "address": address}

    def _account_serials(self, network: _Network | None, wanted: int) -> list[int]:
        """Platform account numbers: a network's accounts recur, a singleton's are its own."""
        rng = self.rng
        serials: list[int] = []
        if network is not None:
            reused = sum(rng.random() < 0.7 for _ in range(wanted))
            serials = rng.sample(network.account_serials, min(reused, len(network.account_serials)))
        while len(serials) < wanted:
            serials.append(rng.randint(1_000_000, 9_999_999))
        return serials

    def _account(
        self,
        b: _Builder,
        asw: str,
        serial: int,
        name: str,
        phones: Sequence[Document],
        emails: Sequence[Document],
    ) -> Document:
        rng = b.rng
        return {
            "id": b.next_id("acc"),
            "platform_account_id": f"{asw[:3]}-{serial}",
            "created_at": _timestamp(b.before(low_hours=24 * 20, high_hours=24 * 120)),
            "status": rng.choice(("active", "active", "active", "suspended")),
            "display_names": [name, f"{name} {rng.choice(('VIP', 'new', 'xx', 'Touring'))}"][
                : rng.randint(1, 2)
            ],
            "phone_refs": [p["id"] for p in rng.sample(list(phones), rng.randint(1, 2))],
            "email_refs": [e["id"] for e in rng.sample(list(emails), 1)],
        }

    def _link_accounts(self, accounts: list[Document], network: _Network | None) -> None:
        bases = ["shared_phone", "shared_ip_address", "shared_device"]
        if network is not None:
            bases.append("shared_payer")
        for account, other in itertools.pairwise(accounts):
            account["linked_accounts"] = [
                {
                    "account_ref": other["id"],
                    "basis": self.rng.sample(bases, self.rng.randint(1, 2)),
                }
            ]

    def _advert(
        self,
        b: _Builder,
        asw: str,
        account: Document,
        phones: Sequence[Document],
        emails: Sequence[Document],
    ) -> Document:
        rng = b.rng
        code, region, towns = rng.choice(_REGIONS)
        town, postcode = rng.choice(towns)
        name = account["display_names"][0]
        first_seen = b.before(low_hours=24 * 5, high_hours=24 * 19)
        last_seen = b.before(low_hours=1, high_hours=24 * 4)
        advert_id = str(rng.randint(1_000_000, 9_999_999))
        return {
            "id": b.next_id("ad"),
            "platform_advert_id": advert_id,
            "account_ref": account["id"],
            "url": f"https://adverts.example/{asw}/{town.split()[0].lower()}/{advert_id}",
            "title": f"{name} - {town}, {rng.choice(('new in town', 'available now', '24/7'))}",
            "text": "",  # filled in by _fill_advert_texts once the size is known
            "locations": [
                {
                    "country": "GB",
                    "region": region,
                    "region_code": code,
                    "town": town,
                    "postcode": postcode,
                }
            ],
            "first_seen_at": _timestamp(first_seen),
            "last_seen_at": _timestamp(last_seen),
            "phone_refs": [p["id"] for p in rng.sample(list(phones), rng.randint(1, 2))],
            "email_refs": [emails[0]["id"]],
            "image_hashes": [
                {"algorithm": "pdq", "value": _hex(rng, 64)} for _ in range(rng.randint(1, 4))
            ],
            "advertised_age": rng.randint(19, 35),
            "advertised_name": name,
        }

    def _payers(
        self, b: _Builder, network: _Network | None, accounts: Sequence[Document]
    ) -> list[Document]:
        rng = b.rng
        if network is not None:
            names = rng.sample(network.payer_names, min(2, len(network.payer_names)))
            nationality = network.nationality
        else:
            names = [_payer_name(rng)]
            nationality = rng.choice(_NATIONALITIES)
        if rng.random() < _HOT_PAYER_SHARE:
            names.append(_HOT_PAYER_NAME)
        return [
            {
                "id": b.next_id("per"),
                "roles": ["payer"] if rng.random() < 0.5 else ["payer", "suspected_controller"],
                "names": [name if name == _HOT_PAYER_NAME else _messy_name(rng, name)],
                "gender": "male" if name != _HOT_PAYER_NAME else "unknown",
                "nationality": nationality,
                "account_refs": [a["id"] for a in accounts],
            }
            for name in names
        ]

    def _victim(self, b: _Builder, account: Document) -> Document:
        return {
            "id": b.next_id("per"),
            "roles": ["advertised_person", "possible_victim"],
            "names": [account["display_names"][0]],
            "gender": "female",
            "account_refs": [account["id"]],
        }

    def _payments(
        self,
        b: _Builder,
        network: _Network | None,
        payers: Sequence[Document],
        accounts: Sequence[Document],
        adverts: Sequence[Document],
    ) -> list[Document]:
        rng = b.rng
        payments = []
        for _ in range(rng.randint(2, 5)):
            payer = rng.choice(payers)
            advert = rng.choice(adverts)
            token = (
                rng.choice(network.card_tokens) if network is not None else f"tok_{_hex(rng, 16)}"
            )
            prepaid = payer["names"][0] == _HOT_PAYER_NAME or rng.random() < 0.15
            payments.append(
                {
                    "id": b.next_id("pay"),
                    "occurred_at": _timestamp(b.before(low_hours=2, high_hours=24 * 20)),
                    "declined": rng.random() < 0.2,
                    "method": "prepaid_card"
                    if prepaid
                    else rng.choice(("debit_card", "credit_card")),
                    "payer_name": payer["names"][0],
                    "payer_person_ref": payer["id"],
                    "account_ref": advert["account_ref"],
                    "advert_refs": [advert["id"]],
                    "card_fingerprint": token,
                    "card_last4": f"{rng.randint(0, 9999):04d}",
                    "billing_country": payer["nationality"] if rng.random() < 0.6 else "GB",
                    "amount": {
                        "amount": rng.choice(("29.99", "35.00", "49.99", "79.00", "99.00")),
                        "currency": "GBP",
                    },
                }
            )
        return payments

    def _events(
        self, b: _Builder, network: _Network | None, accounts: Sequence[Document]
    ) -> list[Document]:
        rng = b.rng
        addresses = (
            network.ip_addresses if network is not None else [_ip_address(rng) for _ in range(2)]
        )
        device = f"dev-{_hex(rng, 8)}"
        events = []
        for _ in range(rng.randint(2, 6)):
            event: Document = {
                "id": b.next_id("ev"),
                "event_type": rng.choice(("login", "login", "login", "registration", "purchase")),
                "occurred_at": _timestamp(b.before(low_hours=1, high_hours=24 * 30)),
                "ip_address": rng.choice(addresses),
                "device_id": device,
                "user_agent": rng.choice(_USER_AGENTS),
                "account_ref": rng.choice(accounts)["id"],
            }
            if ":" not in event["ip_address"]:
                event["port"] = rng.randint(1024, 65535)
            events.append(event)
        return events

    def _reports(
        self, b: _Builder, accounts: Sequence[Document], adverts: Sequence[Document]
    ) -> list[Document]:
        rng = b.rng
        reports = []
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            category, text = rng.choice(_REVIEW_TEXTS)
            advert = rng.choice(adverts)
            reports.append(
                {
                    "id": b.next_id("rev"),
                    "kind": rng.choice(("review", "report")),
                    "received_at": _timestamp(b.before(low_hours=1, high_hours=24 * 10)),
                    "categories": [category],
                    "text": text,
                    "advert_refs": [advert["id"]],
                    "account_ref": advert["account_ref"],
                }
            )
        return reports

    def _urgency(self, reports: Sequence[Document]) -> Document:
        if any(r["categories"] == ["suspected_underage"] for r in reports):
            return {
                "level": "immediate",
                "reason": "A customer says the advertised person looked under 18.",
            }
        if reports or self.rng.random() < 0.3:
            return {
                "level": "priority",
                "reason": "Third-party control is reported or strongly indicated.",
            }
        return {"level": "routine"}

    def _indicators(
        self,
        accounts: Sequence[Document],
        adverts: Sequence[Document],
        phones: Sequence[Document],
        payments: Sequence[Document],
        events: Sequence[Document],
        reports: Sequence[Document],
        persons: Sequence[Document],
    ) -> list[Document]:
        rng = self.rng
        evidence = {
            "account": [a["id"] for a in accounts],
            "advert": [a["id"] for a in adverts],
            "phone": [p["id"] for p in phones],
            "payment": [p["id"] for p in payments],
            "technical_event": [e["id"] for e in events],
        }
        indicators = []
        for code, kind in rng.sample(_INDICATORS_BY_EVIDENCE, rng.randint(2, 5)):
            refs = evidence[kind]
            indicators.append(
                {
                    "code": code,
                    "risk": rng.choice(("low", "medium", "high")),
                    "evidence_refs": rng.sample(refs, min(len(refs), rng.randint(1, 3))),
                }
            )
        for report in reports:
            code = _REPORT_INDICATORS[report["categories"][0]]
            indicators.append(
                {
                    "code": code,
                    "risk": "high",
                    "details": "Customer report in this referral.",
                    "evidence_refs": [report["id"], persons[-1]["id"]],
                }
            )
        return indicators


def generate_labelled_referrals(
    count: int,
    *,
    seed: int = 1,
    asw_ids: Sequence[str] = DEFAULT_ASW_IDS,
    network_share: float = 0.1,
) -> Iterator[tuple[Document, str | None]]:
    """Yield ``count`` referrals, each with the name of its network (``None``: a singleton).

    The network name is the ground truth a linker benchmark scores against; it is not in the
    document. Raises ``ValueError`` for a negative count, an empty ``asw_ids`` or a
    ``network_share`` outside 0-1.
    """
    generator = _Generator(count, seed, asw_ids, network_share)  # raises here, not lazily
    return (generator.referral() for _ in range(count))


def generate_referrals(
    count: int,
    *,
    seed: int = 1,
    asw_ids: Sequence[str] = DEFAULT_ASW_IDS,
    network_share: float = 0.1,
) -> Iterator[Document]:
    """Yield ``count`` valid, realistic referral documents as dicts, deterministically.

    ``network_share`` is the fraction of referrals that belong to one of a few large networks
    sharing selectors; the rest are singletons (apart from the over-correlating values
    described in the module docstring). Raises ``ValueError`` for bad arguments.
    """
    labelled = generate_labelled_referrals(
        count, seed=seed, asw_ids=asw_ids, network_share=network_share
    )
    return (document for document, _network in labelled)


def write_ndjson(documents: Iterator[Document], path: Path) -> tuple[int, int]:
    """Write one compact JSON document per line; return (documents, bytes) written."""
    written = size = 0
    with path.open("wb") as stream:
        for document in documents:
            line = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
            stream.write(line + b"\n")
            written += 1
            size += len(line) + 1
    return written, size


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write ``--count`` synthetic referrals to ``--out`` as NDJSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, required=True, help="number of referrals")
    parser.add_argument("--out", type=Path, required=True, help="NDJSON file to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--network-share",
        type=float,
        default=0.1,
        help="fraction of referrals in shared-selector networks (default 0.1)",
    )
    parser.add_argument(
        "--asw",
        action="append",
        dest="asw_ids",
        metavar="ID",
        help="an ASW organisation id (repeat; default: five demo ASWs)",
    )
    args = parser.parse_args(argv)
    try:
        documents = generate_referrals(
            args.count,
            seed=args.seed,
            asw_ids=tuple(args.asw_ids or DEFAULT_ASW_IDS),
            network_share=args.network_share,
        )
        written, size = write_ndjson(documents, args.out)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {written} referrals, {size} bytes, to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
