"""Intelligence packages: a cluster exported for an analyst's own tools.

Four formats from one graph of entities and links built from the members' referral documents:
a JSON package (with the pinned ``summary`` counts), entity and link CSV tables in the layout
i2 Analyst's Notebook imports (zipped), GraphML for link charts, and a Markdown summary that
states the counts the way the Operation Strive write-up did. Each carries the protective marking
of the most sensitive referral in it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from xml.etree import ElementTree as ET

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.models import Referral as ReferralModel
from strive_schema.normalise import fold_name, normalise_email, normalise_phone
from strive_schema.taxonomy import get_indicator
from strive_server.db import tables
from strive_server.services.audit import Actor
from strive_server.services.intelligence import record_reads
from strive_server.services.selectors import normalise_typed

__all__ = [
    "ENTITY_TYPES",
    "FORMATS",
    "Export",
    "Package",
    "build_package",
    "export_cluster",
    "render",
]

FORMATS: Final = ("json", "csv", "graphml", "md")
ENTITY_TYPES: Final = {
    "phone": "Phone",
    "email": "Email",
    "payer_name": "Payer",
    "payment_card": "PaymentCard",
    "account": "Account",
    "image_hash": "ImageHash",
    "ip_address": "IPAddress",
    "device": "Device",
}
"""The entity type of each linking selector kind (``linking.LINKING_KINDS``): every kind that
ties referrals together is in every package, keyed by its normalised value as linking uses it
(an entity's id is ``<type in lower case>:<value>``)."""
SELECTOR_HEADINGS: Final = {
    "Account": "Accounts",
    "Email": "E-mail addresses",
    "Phone": "Phone numbers",
    "Payer": "Payer names",
    "PaymentCard": "Payment cards (fingerprints)",
    "IPAddress": "IP addresses",
    "Device": "Devices",
    "ImageHash": "Image hashes",
}
MARKING_ORDER: Final = ("OFFICIAL", "OFFICIAL-SENSITIVE")
REGION_NAMES: Final = {
    "TLC": "the North East",
    "TLD": "the North West",
    "TLE": "Yorkshire and The Humber",
    "TLF": "the East Midlands",
    "TLG": "the West Midlands",
    "TLH": "the East of England",
    "TLI": "London",
    "TLJ": "the South East",
    "TLK": "the South West",
    "TLL": "Wales",
    "TLM": "Scotland",
    "TLN": "Northern Ireland",
}


@dataclass
class Package:
    cluster_id: int
    marking: str
    generated_at: datetime
    referrals: list[dict[str, Any]]
    referral_pks: list[int] = field(default_factory=list)
    """Database ids of the members, for the audit trail (not exported)."""
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, set[str]] = field(default_factory=dict)
    """The referral ids each entity came from (for the summary's selector lists)."""
    links: list[dict[str, Any]] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    indicators: list[dict[str, Any]] = field(default_factory=list)
    grading: dict[str, Any] | None = None
    """3x5x2 grading, set when the package is disseminated (services/dissemination.py)."""
    research: list[dict[str, Any]] = field(default_factory=list)
    """Research findings carried into a disseminated package (never sent to an ASW)."""

    def count(self, kind: str) -> int:
        return sum(1 for e in self.entities.values() if e["type"] == kind)

    @property
    def summary(self) -> dict[str, int]:
        return {
            "referrals": len(self.referrals),
            "asws": len({r["asw_id"] for r in self.referrals}),
            "accounts": self.count("Account"),
            "emails": self.count("Email"),
            "phones": self.count("Phone"),
            "payers": self.count("Payer"),
            "cards": self.count("PaymentCard"),
            "ip_addresses": self.count("IPAddress"),
            "devices": self.count("Device"),
            "image_hashes": self.count("ImageHash"),
        }


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text an ASW controls (advert titles, raw phone
    numbers, names) that starts like a formula is prefixed with an apostrophe (OWASP)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _xml_text(value: object) -> str:
    """Text XML 1.0 can carry: control characters an ASW sent are dropped."""
    return _XML_INVALID.sub("", "" if value is None else str(value))


def _raw_key(raw: str) -> str:
    return " ".join(raw.split()).casefold()


class _Graph:
    def __init__(self, package: Package, referral_id: str) -> None:
        self.package = package
        self.referral_id = referral_id

    def entity(self, kind: str, key: str, label: str, **attributes: Any) -> str:
        entity_id = f"{kind.lower()}:{key}"
        known = self.package.entities.setdefault(
            entity_id, {"id": entity_id, "type": kind, "label": label, "attributes": {}}
        )
        known["attributes"].update({k: v for k, v in attributes.items() if v is not None})
        self.package.sources.setdefault(entity_id, set()).add(self.referral_id)
        return entity_id

    def link(self, source: str, target: str, kind: str, referral_id: str, date: str | None) -> None:
        self.package.links.append(
            {"from": source, "to": target, "type": kind, "referral_id": referral_id, "date": date}
        )


def _add_referral(graph: _Graph, row: tables.Referral, referral: ReferralModel) -> None:
    asw = row.asw_id
    rid = row.referral_id
    date = row.received_at.date().isoformat()
    node = graph.entity("Referral", f"{asw}:{rid}", rid, asw_id=asw, received_at=date)
    local: dict[str, str] = {}
    for phone in referral.phones:
        e164 = normalise_phone(phone.raw)
        local[phone.id] = graph.entity("Phone", e164 or _raw_key(phone.raw), e164 or phone.raw)
    for email in referral.emails:
        normalised = normalise_email(email.address)
        key = normalised or _raw_key(email.address)
        local[email.id] = graph.entity("Email", key, normalised or email.address)
    for account in referral.accounts:
        label = account.display_names[0] if account.display_names else account.platform_account_id
        local[account.id] = graph.entity(
            "Account", f"{asw}:{account.platform_account_id}", label,
            asw_id=asw, platform_account_id=account.platform_account_id,
        )  # fmt: skip
        graph.link(node, local[account.id], "reports", rid, date)
    for advert in referral.adverts:
        local[advert.id] = graph.entity(
            "Advert", f"{asw}:{advert.platform_advert_id}",
            advert.title or advert.platform_advert_id,
            asw_id=asw, url=advert.url,
        )  # fmt: skip
    for account in referral.accounts:
        for ref in (*account.phone_refs, *account.email_refs):
            graph.link(local[account.id], local[ref], "registered", rid, date)
        for linked in account.linked_accounts:
            graph.link(
                local[account.id],
                local[linked.account_ref],
                "linked: " + ", ".join(linked.basis),
                rid,
                date,
            )
    for advert in referral.adverts:
        if advert.account_ref:
            graph.link(local[advert.account_ref], local[advert.id], "posted", rid, date)
        for ref in (*advert.phone_refs, *advert.email_refs):
            graph.link(local[advert.id], local[ref], "contact", rid, date)
        for image in advert.image_hashes:
            value = normalise_typed("image_hash", f"{image.algorithm}:{image.value}")
            picture = graph.entity("ImageHash", value, value, algorithm=image.algorithm)
            graph.link(local[advert.id], picture, "shows image", rid, date)
        for location in advert.locations:
            code = location.region_code or (fold_name(location.region) if location.region else None)
            if code:
                name = REGION_NAMES.get(code, location.region or code)
                region = graph.entity("Location", code, name.removeprefix("the "))
                graph.link(local[advert.id], region, "advertised in", rid, date)
    payers: dict[str, str] = {}
    for person in referral.persons:
        if "payer" in person.roles:
            for name in person.names:
                folded = fold_name(name)
                if folded:
                    payers[person.id] = graph.entity(
                        "Payer", folded, name, nationality=person.nationality
                    )
                    for ref in person.account_refs:
                        graph.link(payers[person.id], local[ref], "pays for", rid, date)
    _add_payments(graph, node, local, referral)
    _add_technical_events(graph, node, local, referral)


def _add_payments(graph: _Graph, node: str, local: dict[str, str], referral: ReferralModel) -> None:
    """Payers and payment cards, and the accounts they paid (or tried to pay) for."""
    rid = graph.referral_id
    for payment in referral.payments:
        day = payment.occurred_at.date().isoformat()
        verb = "attempted to pay for" if payment.declined else "paid for"
        folded = fold_name(payment.payer_name) if payment.payer_name else None
        payer = graph.entity("Payer", folded, payment.payer_name or folded) if folded else None
        card = None
        if payment.card_fingerprint:
            fingerprint = normalise_typed("payment_card", payment.card_fingerprint)
            card = graph.entity(
                "PaymentCard", fingerprint, fingerprint, last4=payment.card_last4,
                billing_country=payment.billing_country, method=payment.method,
            )  # fmt: skip
        for source in (payer, card):
            if source is not None and payment.account_ref:
                graph.link(source, local[payment.account_ref], verb, rid, day)
        if payer is not None and card is not None:
            graph.link(payer, card, "used card", rid, day)
        elif card is not None and not payment.account_ref:
            graph.link(node, card, "reports", rid, day)  # a card tied to nothing else


def _add_technical_events(
    graph: _Graph, node: str, local: dict[str, str], referral: ReferralModel
) -> None:
    """IP addresses and devices, and the accounts that used them."""
    rid = graph.referral_id
    for event in referral.technical_events:
        day = event.occurred_at.date().isoformat()
        user = local[event.account_ref] if event.account_ref else node
        verb = "used" if event.account_ref else "reports"
        address = device = None
        if event.ip_address:
            key = normalise_typed("ip_address", event.ip_address)
            address = graph.entity("IPAddress", key, event.ip_address)
            graph.link(user, address, f"{verb} IP address ({event.event_type})", rid, day)
        if event.device_id:
            key = normalise_typed("device", event.device_id)
            device = graph.entity("Device", key, event.device_id)
            graph.link(user, device, f"{verb} device ({event.event_type})", rid, day)
        if address is not None and device is not None:
            graph.link(device, address, "connected from", rid, day)


def build_package(session: Session, cluster: tables.Cluster) -> Package:
    """Build the package of a cluster from its members' stored referral documents."""
    rows = session.scalars(
        sa.select(tables.Referral)
        .where(tables.Referral.cluster_id == cluster.id)
        .order_by(tables.Referral.received_at, tables.Referral.id)
    ).all()
    marking = max((r.protective_marking for r in rows), key=MARKING_ORDER.index, default="OFFICIAL")
    package = Package(cluster.id, marking, datetime.now(UTC).replace(microsecond=0), referrals=[])
    indicator_counts: Counter[str] = Counter()
    indicator_risk: dict[str, str] = {}
    files = _received_files(session, [row.id for row in rows])
    regions: dict[str, None] = {}
    for row in rows:
        referral = ReferralModel.model_validate_json(json.dumps(row.document))
        _add_referral(_Graph(package, row.referral_id), row, referral)
        for indicator in referral.indicators:
            indicator_counts[indicator.code] += 1
            order = ("low", "medium", "high")
            previous = indicator_risk.get(indicator.code, "low")
            indicator_risk[indicator.code] = max(previous, indicator.risk, key=order.index)
        for advert in referral.adverts:
            for location in advert.locations:
                if location.region_code:
                    regions.setdefault(location.region_code)
        package.referral_pks.append(row.id)
        package.referrals.append(
            {
                "referral_id": row.referral_id,
                "asw_id": row.asw_id,
                "received_at": row.received_at.isoformat(),
                "urgency": row.urgency,
                "state": row.state,
                "priority_band": row.priority_band,
                "indicators": [i.code for i in referral.indicators],
                "attachments": _listed_files(referral, files.get(row.id, {})),
            }
        )
    package.regions = list(regions)
    package.indicators = [
        {
            "code": code,
            "title": (get_indicator(code).title if get_indicator(code) else code),  # type: ignore[union-attr]
            "referrals": n,
            "highest_risk": indicator_risk[code],
        }
        for code, n in indicator_counts.most_common()
    ]
    return package


def _received_files(
    session: Session, referral_pks: list[int]
) -> dict[int, dict[str, tables.ReferralAttachment]]:
    """The members' received evidence files, by referral and attachment id (one query)."""
    found: dict[int, dict[str, tables.ReferralAttachment]] = {}
    if referral_pks:
        for row in session.scalars(
            sa.select(tables.ReferralAttachment).where(
                tables.ReferralAttachment.referral_pk.in_(referral_pks)
            )
        ):
            found.setdefault(row.referral_pk, {})[row.attachment_id] = row
    return found


def _listed_files(
    referral: ReferralModel, received: dict[str, tables.ReferralAttachment]
) -> list[dict[str, Any]]:
    """A referral's declared evidence files with their hashes (spec/evidence-files.md,
    "Intelligence packages"): listed only, never their bytes, since no recipient is yet
    entitled to files; they are read through the audited call."""
    listed: list[dict[str, Any]] = []
    for attachment in referral.attachments:
        row = received.get(attachment.id)
        listed.append(
            {
                "attachment_id": attachment.id,
                "sha256": attachment.sha256,
                "size_bytes": attachment.size_bytes,
                "media_type": attachment.media_type,
                "received": row is not None,
                "pdq": row.pdq if row is not None else None,
            }
        )
    return listed


def _region_phrase(codes: list[str]) -> str:
    names = [REGION_NAMES.get(code, code) for code in codes]
    if not names:
        return ""
    if len(names) == 1:
        return f" across {names[0]}"
    return " across " + ", ".join(names[:-1]) + " and " + names[-1]


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def headline(package: Package) -> str:
    """'10 accounts, 8 e-mail addresses, 13 phone numbers, 4 payer names across London, ...'"""
    s = package.summary
    return (
        f"{_plural(s['accounts'], 'account', 'accounts')}, "
        f"{_plural(s['emails'], 'e-mail address', 'e-mail addresses')}, "
        f"{_plural(s['phones'], 'phone number', 'phone numbers')}, "
        f"{_plural(s['payers'], 'payer name', 'payer names')}{_region_phrase(package.regions)}"
    )


def _json(package: Package) -> bytes:
    document = {
        "protective_marking": package.marking,
        "cluster_id": package.cluster_id,
        "generated_at": package.generated_at.isoformat(),
        "summary": package.summary,
        "headline": headline(package),
        "regions": [REGION_NAMES.get(c, c).removeprefix("the ") for c in package.regions],
        "indicators": package.indicators,
        "timeline": package.referrals,
        "source_referral_ids": [r["referral_id"] for r in package.referrals],
        "entities": sorted(package.entities.values(), key=lambda e: e["id"]),
        "links": package.links,
    }
    if package.grading is not None:
        document["grading"] = package.grading
        document["research_findings"] = package.research
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def _csv(package: Package) -> bytes:
    entities = io.StringIO()
    writer = csv.writer(entities)
    writer.writerow(["Entity ID", "Entity Type", "Label", "Attributes", "Protective Marking"])
    for entity in sorted(package.entities.values(), key=lambda e: e["id"]):
        attributes = "; ".join(f"{k}={v}" for k, v in sorted(entity["attributes"].items()))
        row = [entity["id"], entity["type"], entity["label"], attributes, package.marking]
        writer.writerow([_csv_cell(v) for v in row])
    links = io.StringIO()
    writer = csv.writer(links)
    writer.writerow(
        ["Entity 1 ID", "Entity 1 Type", "Link Type", "Entity 2 ID", "Entity 2 Type",
         "Date", "Source Referral", "Protective Marking"]
    )  # fmt: skip
    for link in package.links:
        row = [
            link["from"], package.entities[link["from"]]["type"], link["type"], link["to"],
            package.entities[link["to"]]["type"], link["date"] or "", link["referral_id"],
            package.marking,
        ]  # fmt: skip
        writer.writerow([_csv_cell(v) for v in row])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "README.txt",
            f"{package.marking}\nStrive intelligence package, cluster {package.cluster_id}: "
            "entities.csv and links.csv, for import into i2 Analyst's Notebook.\n",
        )
        archive.writestr("entities.csv", entities.getvalue())
        archive.writestr("links.csv", links.getvalue())
    return buffer.getvalue()


def _graphml(package: Package) -> bytes:
    ns = "http://graphml.graphdrawing.org/xmlns"
    ET.register_namespace("", ns)
    root = ET.Element(f"{{{ns}}}graphml")
    for key, target, name in (
        ("d0", "node", "type"), ("d1", "node", "label"), ("d2", "edge", "type"),
        ("d3", "edge", "referral_id"), ("d4", "edge", "date"),
        ("d5", "graph", "protective_marking"),
    ):  # fmt: skip
        ET.SubElement(
            root,
            f"{{{ns}}}key",
            {"id": key, "for": target, "attr.name": name, "attr.type": "string"},
        )
    graph = ET.SubElement(
        root, f"{{{ns}}}graph", {"id": f"cluster-{package.cluster_id}", "edgedefault": "directed"}
    )
    ET.SubElement(graph, f"{{{ns}}}data", {"key": "d5"}).text = _xml_text(package.marking)
    for entity in sorted(package.entities.values(), key=lambda e: e["id"]):
        node = ET.SubElement(graph, f"{{{ns}}}node", {"id": _xml_text(entity["id"])})
        ET.SubElement(node, f"{{{ns}}}data", {"key": "d0"}).text = _xml_text(entity["type"])
        ET.SubElement(node, f"{{{ns}}}data", {"key": "d1"}).text = _xml_text(entity["label"])
    for index, link in enumerate(package.links):
        edge = ET.SubElement(
            graph,
            f"{{{ns}}}edge",
            {"id": f"e{index}", "source": _xml_text(link["from"]), "target": _xml_text(link["to"])},
        )
        ET.SubElement(edge, f"{{{ns}}}data", {"key": "d2"}).text = _xml_text(link["type"])
        ET.SubElement(edge, f"{{{ns}}}data", {"key": "d3"}).text = link["referral_id"]
        ET.SubElement(edge, f"{{{ns}}}data", {"key": "d4"}).text = link["date"] or ""
    comment = ET.Comment(f" {package.marking} ")
    root.insert(0, comment)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text + b"\n"


def _md_code(value: str) -> str:
    """``value`` as a Markdown code span that no backtick or line break in it can end early."""
    text = " ".join(value.split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _markdown(package: Package) -> bytes:
    s = package.summary
    asws = sorted({r["asw_id"] for r in package.referrals})
    dates = [r["received_at"][:10] for r in package.referrals]
    lines = [
        f"**{package.marking}**",
        "",
        f"# Intelligence package: cluster {package.cluster_id}",
        "",
        f"{headline(package)}.",
        "",
        f"Also {_plural(s['cards'], 'payment card', 'payment cards')}, "
        f"{_plural(s['ip_addresses'], 'IP address', 'IP addresses')}, "
        f"{_plural(s['devices'], 'device', 'devices')} and "
        f"{_plural(s['image_hashes'], 'image hash', 'image hashes')}.",
        "",
        f"{_plural(s['referrals'], 'referral', 'referrals')} from "
        f"{_plural(s['asws'], 'ASW', 'ASWs')} ({', '.join(asws)}), received "
        f"{min(dates, default='-')} to {max(dates, default='-')}. Generated "
        f"{package.generated_at.isoformat()}.",
        "",
        "## Indicators",
        "",
    ]
    lines += [
        f"- {i['title']} (`{i['code']}`): "
        f"{_plural(i['referrals'], 'referral', 'referrals')}, highest risk {i['highest_risk']}"
        for i in package.indicators
    ]
    lines += ["", "## Timeline", ""]
    lines += [
        f"- {r['received_at'][:10]}: referral `{r['referral_id']}` from {r['asw_id']}, urgency "
        f"{r['urgency']}, {r['priority_band']}, state {r['state']}"
        for r in package.referrals
    ]
    lines += ["", "## Selectors", ""]
    lines += ["The values that tie referrals together, as linking compares them.", ""]
    for kind in ENTITY_TYPES.values():
        found = sorted(
            (e for e in package.entities.values() if e["type"] == kind), key=lambda e: e["id"]
        )
        lines += [f"### {SELECTOR_HEADINGS[kind]}", ""]
        lines += [
            f"- {_md_code(e['id'].split(':', 1)[1])}: "
            f"{_plural(len(package.sources[e['id']]), 'referral', 'referrals')}"
            for e in found
        ] or ["- none"]
        lines += [""]
    if package.grading is not None:
        g = package.grading
        lines += [
            "## Grading",
            "",
            f"{g['source_evaluation']}/{g['intelligence_assessment']}/{g['handling_code']}"
            + (f": {g['handling_conditions']}" if g.get("handling_conditions") else ""),
        ]
        lines += ["", "## Research findings", ""]
        lines += [
            f"- {f['finding']} (source {f['source_reference']}, graded "
            f"{f['grading']['source_evaluation']}/{f['grading']['intelligence_assessment']}"
            f"/{f['grading']['handling_code']})"
            for f in package.research
        ] or ["- none"]
        lines += [""]
    lines += ["## Source referrals", ""]
    lines += [f"- `{r['referral_id']}` ({r['asw_id']})" for r in package.referrals]
    lines += ["", f"**{package.marking}**", ""]
    return "\n".join(lines).encode()


def render(package: Package, fmt: str) -> tuple[bytes, str, str]:
    """The export bytes, their media type and a file name."""
    name = f"strive-cluster-{package.cluster_id}"
    if fmt == "json":
        return _json(package), "application/json", f"{name}.json"
    if fmt == "csv":
        return _csv(package), "application/zip", f"{name}-i2.zip"
    if fmt == "graphml":
        return _graphml(package), "application/graphml+xml", f"{name}.graphml"
    return _markdown(package), "text/markdown; charset=utf-8", f"{name}.md"


@dataclass(frozen=True, slots=True)
class Export:
    """A cluster's package rendered in one format, ready to send."""

    body: bytes
    media_type: str
    filename: str
    marking: str


def export_cluster(
    session: Session, cluster: tables.Cluster, fmt: str, *, actor: Actor, reason: str | None
) -> Export:
    """Build and render a cluster's package, auditing one read per member referral: the one
    path for the API's export and the console's, so they cannot differ in content or audit."""
    package = build_package(session, cluster)
    record_reads(
        session, actor=actor, action="cluster.exported", reason=reason,
        referral_pks=package.referral_pks, detail={"cluster_id": cluster.id, "format": fmt},
    )  # fmt: skip
    body, media_type, filename = render(package, fmt)
    return Export(body, media_type, filename, package.marking)
