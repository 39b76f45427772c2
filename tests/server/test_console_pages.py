"""The analysts' console through HTTP against a running receiver: sign-in by token, sessions,
CSRF, every role rule from the attacker's side, the pages' content, and their audit rows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from strive_server.console import present, vendor
from strive_server.console.web import CONTENT_SECURITY_POLICY
from strive_server.db import tables
from strive_server.services import admin

from ..conftest import load_example
from .conftest import SETUP, Receiver
from .test_linking import OP_STRIVE, submit_examples

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(receiver: Receiver) -> httpx.Client:
    return httpx.Client(base_url=receiver.url, follow_redirects=False, timeout=30)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_in(client: httpx.Client, token: str) -> httpx.Response:
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    return client.post("/console/sign-in", data={"token": token, "csrf_token": csrf_of(form)})


@pytest.fixture
def analyst(receiver: Receiver) -> Iterator[httpx.Client]:
    with browser(receiver) as client:
        assert sign_in(client, receiver.token("analyst")).status_code == 303
        yield client


@pytest.fixture
def strive(receiver: Receiver) -> dict[str, Any]:
    return submit_examples(receiver, [*OP_STRIVE, "suspected-under-18.json"])


def audit_rows(receiver: Receiver, **where: Any) -> list[tables.AuditEvent]:
    with receiver.session() as session:
        query = sa.select(tables.AuditEvent)
        for column, value in where.items():
            query = query.where(getattr(tables.AuditEvent, column) == value)
        return list(session.scalars(query.order_by(tables.AuditEvent.id)))


def referral_pk(receiver: Receiver, referral_id: str) -> int:
    with receiver.session() as session:
        return int(
            session.scalar(
                sa.select(tables.Referral.id).where(tables.Referral.referral_id == referral_id)
            )
        )


# --- Sign-in and sessions -------------------------------------------------------------------------


def test_sign_in_by_token_makes_a_strict_httponly_session_and_stores_only_its_hash(
    receiver: Receiver,
) -> None:
    with browser(receiver) as client:
        signed = sign_in(client, receiver.token("analyst"))
        assert signed.status_code == 303 and signed.headers["location"] == "/console/"
        cookie = next(
            v for k, v in signed.headers.multi_items()
            if k == "set-cookie" and v.startswith("strive_console=")
        )  # fmt: skip
        session_id = cookie.split(";")[0].split("=", 1)[1]
        attributes = cookie.lower()
        assert "httponly" in attributes and "samesite=strict" in attributes
        assert "path=/console" in attributes
        assert "secure" not in attributes  # loopback over plain HTTP only
        landing = client.get("/console/", follow_redirects=True)
        assert landing.status_code == 200 and "Triage queue" in landing.text
        assert str(landing.url).endswith("/console/queue")
    with receiver.session() as session:
        stored = session.scalars(sa.select(tables.ConsoleSession)).one()
    assert stored.session_hash != session_id and session_id not in stored.session_hash
    assert stored.name == "test-analyst" and stored.role == "analyst"
    assert [e.action for e in audit_rows(receiver, action="console.signed_in")] == [
        "console.signed_in"
    ]


def with_public_base_url(receiver: Receiver, url: str | None) -> None:
    settings = receiver.app.state.settings.model_copy(update={"public_base_url": url})
    object.__setattr__(receiver.app.state, "settings", settings)


@pytest.mark.parametrize(
    ("public_base_url", "host", "secure"),
    [
        # Behind a TLS proxy that forwards Host: 127.0.0.1: the configuration decides.
        ("https://console.police.example", "127.0.0.1", True),
        ("https://console.police.example", "localhost", True),
        ("http://console.police.example", "127.0.0.1", True),
        ("http://localhost:8000", "console.police.example", False),
        ("http://127.0.0.1:8000", "127.0.0.1", False),
        # Unconfigured, on a loopback socket (the demo): whatever Host the client names.
        (None, "console.police.example", False),
        (None, "127.0.0.1", False),
    ],
)
def test_the_secure_cookie_flag_follows_the_configuration_not_the_host(
    receiver: Receiver, public_base_url: str | None, host: str, secure: bool
) -> None:
    with_public_base_url(receiver, public_base_url)
    with httpx.Client(base_url=receiver.url, headers={"Host": host}) as client:
        form = client.get("/console/sign-in")
    attributes = [a.strip().lower() for a in form.headers["set-cookie"].split(";")]
    assert ("secure" in attributes) is secure


def test_a_wrong_or_revoked_token_does_not_sign_in(receiver: Receiver) -> None:
    with browser(receiver) as client:
        refused = sign_in(client, "not-a-token")
        assert refused.status_code == 401 and "unknown, revoked or expired" in refused.text
        assert "strive_console=" not in refused.headers.get("set-cookie", "")
    with receiver.session() as session, session.begin():
        token_id, token, _ = admin.create_token(
            session, name="leaver", role="analyst", lifetime=timedelta(days=1), actor=SETUP
        )
        admin.revoke_token(session, token_id=token_id, actor=SETUP)
    with browser(receiver) as client:
        assert sign_in(client, token).status_code == 401


def test_the_sign_in_form_needs_its_csrf_token(receiver: Receiver) -> None:
    with browser(receiver) as client:
        client.get("/console/sign-in")
        missing = client.post("/console/sign-in", data={"token": receiver.token("analyst")})
        assert missing.status_code == 403 and "strive_console=" not in missing.headers.get(
            "set-cookie", ""
        )
        wrong = client.post(
            "/console/sign-in", data={"token": receiver.token("analyst"), "csrf_token": "x" * 43}
        )
        assert wrong.status_code == 403


def test_without_a_session_every_page_sends_you_to_sign_in_and_shows_no_data(
    receiver: Receiver, strive: dict[str, Any]
) -> None:
    referral_id = strive["op-strive-1-london.json"]["referral_id"]
    with browser(receiver) as client:
        for path in ("/console/", "/console/queue", f"/console/referrals/{referral_id}",
                     "/console/clusters/1", "/console/clusters/1/graph.json", "/console/audit",
                     "/console/stats", "/console/admin", "/console/clusters/1/export?format=md"):  # fmt: skip
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/console/sign-in"
        posted = client.post(
            f"/console/referrals/{referral_id}/transition",
            data={"to_state": "triaged", "reason": "x", "csrf_token": "x"},
        )
        assert posted.status_code == 303 and posted.headers["location"] == "/console/sign-in"
        forged = client.get(
            "/console/queue", headers={"Cookie": "strive_console=forged-session-id"}
        )
        assert forged.status_code == 303
    assert audit_rows(receiver, action="referral.read") == []


def test_sign_out_ends_the_session_on_the_server(receiver: Receiver, analyst: httpx.Client) -> None:
    queue = analyst.get("/console/queue")
    cookie = analyst.cookies["strive_console"]
    out = analyst.post("/console/sign-out", data={"csrf_token": csrf_of(queue)})
    assert out.status_code == 200 and "signed out" in out.text
    # Replaying the old cookie after sign-out gets nothing.
    with browser(receiver) as replay:
        again = replay.get("/console/queue", headers={"Cookie": f"strive_console={cookie}"})
        assert again.status_code == 303 and again.headers["location"] == "/console/sign-in"
    assert audit_rows(receiver, action="console.signed_out")


def test_signing_in_again_ends_the_previous_session(receiver: Receiver) -> None:
    with browser(receiver) as client:
        sign_in(client, receiver.token("analyst"))
        first = client.cookies["strive_console"]
        sign_in(client, receiver.token("supervisor"))
        assert client.cookies["strive_console"] != first
        assert "(supervisor)" in client.get("/console/queue").text
    with browser(receiver) as replay:
        old = replay.get("/console/queue", headers={"Cookie": f"strive_console={first}"})
        assert old.status_code == 303


def test_an_expired_or_idle_session_or_revoked_token_ends_it(receiver: Receiver) -> None:
    with receiver.session() as session, session.begin():
        _, token, _ = admin.create_token(
            session, name="ana", role="analyst", lifetime=timedelta(days=1), actor=SETUP
        )
    for column in ("expires_at", "idle_expires_at", "revoke"):
        with browser(receiver) as client:
            if column == "revoke":
                with receiver.session() as session, session.begin():
                    _, token, _ = admin.create_token(
                        session, name="ana2", role="analyst", lifetime=timedelta(days=1),
                        actor=SETUP,
                    )  # fmt: skip
            assert sign_in(client, token).status_code == 303
            assert client.get("/console/queue").status_code == 200
            with receiver.session() as session, session.begin():
                row = session.scalars(
                    sa.select(tables.ConsoleSession).order_by(tables.ConsoleSession.id.desc())
                ).first()
                assert row is not None
                if column == "revoke":
                    admin.revoke_token(session, token_id=row.token_id, actor=SETUP)
                else:
                    setattr(row, column, datetime.now(UTC) - timedelta(seconds=1))
            gone = client.get("/console/queue")
            assert gone.status_code == 303, column
            assert gone.headers["location"] == "/console/sign-in"


# --- CSRF and sessions from the attacker's side ---------------------------------------------------


def test_changes_need_the_csrf_token_of_the_same_session(
    receiver: Receiver, strive: dict[str, Any]
) -> None:
    referral_id = strive["op-strive-1-london.json"]["referral_id"]
    path = f"/console/referrals/{referral_id}/transition"
    form = {"to_state": "triaged", "reason": "triage"}
    with browser(receiver) as mine, browser(receiver) as theirs:
        sign_in(mine, receiver.token("analyst"))
        sign_in(theirs, receiver.token("supervisor"))
        my_token = csrf_of(mine.get("/console/queue"))
        their_token = csrf_of(theirs.get("/console/queue"))
        assert my_token != their_token
        for presented in (None, "", "wrong", their_token):
            data = dict(form) if presented is None else {**form, "csrf_token": presented}
            refused = mine.post(path, data=data)
            assert refused.status_code == 403, presented
            assert "The form has expired" in refused.text
        cross_site = mine.post(
            path, data={**form, "csrf_token": my_token},
            headers={"Origin": "https://attacker.example"},
        )  # fmt: skip
        assert cross_site.status_code == 403
        with receiver.session() as session:
            assert (
                session.scalar(
                    sa.select(tables.Referral.state).where(
                        tables.Referral.referral_id == referral_id
                    )
                )
                == "received"
            )
        done = mine.post(path, data={**form, "csrf_token": my_token})
        assert done.status_code == 303
    with receiver.session() as session:
        row = session.scalars(
            sa.select(tables.Referral).where(tables.Referral.referral_id == referral_id)
        ).one()
        assert row.state == "triaged"
    moved = audit_rows(receiver, action="referral.transitioned")
    assert [(e.actor, e.role, e.reason) for e in moved] == [("test-analyst", "analyst", "triage")]


# --- Roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "refused"),
    [
        ("auditor", ["/console/queue", "/console/referrals/{rid}", "/console/clusters/{cid}",
                     "/console/clusters/{cid}/graph.json", "/console/clusters/{cid}/export?format=md",
                     "/console/admin"]),
        ("admin", ["/console/queue", "/console/referrals/{rid}", "/console/clusters/{cid}",
                   "/console/audit"]),
        ("analyst", ["/console/audit", "/console/stats", "/console/admin"]),
        ("supervisor", ["/console/audit", "/console/admin"]),
    ],
)  # fmt: skip
def test_a_person_without_the_role_gets_a_clear_refusal_and_never_the_data(
    receiver: Receiver, strive: dict[str, Any], role: str, refused: list[str]
) -> None:
    document = strive["op-strive-1-london.json"]
    rid = document["referral_id"]
    with receiver.session() as session:
        cid = session.scalar(
            sa.select(tables.Referral.cluster_id).where(tables.Referral.referral_id == rid)
        )
    with browser(receiver) as client:
        sign_in(client, receiver.token(role))
        for template in refused:
            path = template.format(rid=rid, cid=cid)
            page = client.get(path)
            assert page.status_code == 403, path
            assert "You do not have access to this page" in page.text
            assert f"({role})" in page.text
            for secret in ("Bianca", "07700", "Andrei", document["narrative"][:30]):
                assert secret not in page.text, (path, secret)
    assert audit_rows(receiver, action="referral.read") == []


def test_only_a_supervisor_assigns_and_records_further_outcomes(
    receiver: Receiver, strive: dict[str, Any], analyst: httpx.Client
) -> None:
    rid = strive["op-strive-1-london.json"]["referral_id"]
    token = csrf_of(analyst.get("/console/queue"))
    assign = analyst.post(
        f"/console/referrals/{rid}/assignment",
        data={"assignee": "me", "reason": "mine now", "csrf_token": token},
    )
    assert assign.status_code == 403 and "supervisor" in assign.text
    outcome = analyst.post(
        f"/console/referrals/{rid}/outcome",
        data={"outcome": "arrest", "reason": "x", "csrf_token": token},
    )
    assert outcome.status_code == 403
    assert audit_rows(receiver, action="referral.assigned") == []


# --- The pages -----------------------------------------------------------------------------------


def test_every_response_carries_the_strict_policy_and_assets_come_from_here(
    receiver: Receiver, analyst: httpx.Client
) -> None:
    page = analyst.get("/console/queue")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "script-src 'self'" in (
        CONTENT_SECURITY_POLICY
    )
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and " style=" not in page.text
    assert "http://" not in page.text.replace(receiver.url, "") and "https://" not in page.text
    sources = re.findall(r'(?:src|href)="(/console/static/[^"]+)"', page.text)
    assert len(sources) >= 4
    for source in sources:
        asset = analyst.get(source)
        assert asset.status_code == 200, source
        assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    integrity = vendor.check()
    css = "govuk-frontend/govuk-frontend.min.css"
    assert f'integrity="{integrity[css]}"' in page.text


def test_the_vendored_files_match_their_manifest_and_a_changed_byte_is_caught(
    tmp_path: Any,
) -> None:
    assert set(vendor.check()) == {
        "govuk-frontend/govuk-frontend.min.css",
        "govuk-frontend/govuk-frontend.min.js",
        "govuk-frontend/favicon.ico",
    }
    manifest = vendor.MANIFEST.read_text()
    tampered = tmp_path / "manifest.json"
    tampered.write_text(manifest.replace('"sha256": "cda0', '"sha256": "0da0', 1))
    with pytest.raises(vendor.IntegrityError, match="SHA-256 differs"):
        vendor.check(tampered)
    assert (vendor.VENDOR_DIR / "govuk-frontend" / "LICENCE.txt").read_text().count("MIT") >= 1


def test_the_queue_puts_the_child_first_then_operation_strive_with_reasons(
    receiver: Receiver, strive: dict[str, Any], analyst: httpx.Client
) -> None:
    page = analyst.get("/console/queue")
    assert page.status_code == 200
    order = re.findall(r'data-referral-id="([^"]+)"', page.text)
    child = strive["suspected-under-18.json"]["referral_id"]
    assert order[0] == child
    assert set(order[1:5]) == {strive[name]["referral_id"] for name in OP_STRIVE}
    first_row = page.text.split(f'data-referral-id="{child}"')[1].split("</tr>")[0]
    assert "Suspected child" in first_row and "P1" in first_row
    assert page.text.count("Suspected child") == 1
    assert "a child is suspected" in first_row
    assert "London" in page.text and "10 accounts" in page.text
    assert "example-adverts" in page.text and "demo-classifieds" in page.text
    filtered = analyst.get("/console/queue", params={"asw_id": "demo-classifieds"})
    assert re.findall(r'data-referral-id="([^"]+)"', filtered.text) == [
        strive["op-strive-4-crossplatform.json"]["referral_id"]
    ]
    assert audit_rows(receiver, action="triage.read")


def test_the_queue_pages(receiver: Receiver, analyst: httpx.Client) -> None:
    receiver.register_asw("example-adverts")
    with receiver.client("example-adverts") as client:
        for _ in range(55):
            document = load_example("sandbox-minimal.json")
            document["referral_id"] = str(uuid.uuid4())
            document["is_test"] = False
            document["reporter"]["organisation_id"] = "example-adverts"
            client.submit_referral(document)
    first = analyst.get("/console/queue")
    assert len(re.findall(r"data-referral-id=", first.text)) == 50
    following = re.search(r'href="(/console/queue\?[^"]*cursor=[^"]+)"', first.text)
    assert following
    second = analyst.get(following.group(1).replace("&amp;", "&"))
    assert len(re.findall(r"data-referral-id=", second.text)) == 5


def test_the_referral_page_renders_the_referral_and_audits_each_read(
    receiver: Receiver, strive: dict[str, Any], analyst: httpx.Client
) -> None:
    document = strive["op-strive-1-london.json"]
    rid = document["referral_id"]
    page = analyst.get(f"/console/referrals/{rid}")
    assert page.status_code == 200
    text = page.text
    for expected in ("Bianca", "ea-310457", "07700 900101", "bianca.ldn@example.com",
                     "Andrei Popescu", "third party payment", "high", "not as pictured",
                     "late 30s", "Weekly Operation Strive referral", "verified",
                     "Links to other referrals", "History", "example-adverts"):  # fmt: skip
        assert expected in text, expected
    assert "&#34;Bianca&#34; and &#34;Roxana&#34;" in text or "&quot;Bianca&quot;" in text
    assert 'id="cluster-link"' in text
    pk = referral_pk(receiver, rid)
    actions = {e.action for e in audit_rows(receiver, referral_pk=pk)}
    assert {"referral.read", "referral.evidence_verified", "referral.history_read",
            "referral.links_read"} <= actions  # fmt: skip
    reads = audit_rows(receiver, referral_pk=pk, action="referral.read")
    assert [(e.actor, e.role) for e in reads] == [("test-analyst", "analyst")]
    # A linked referral shown on the page is recorded as read too.
    other = referral_pk(receiver, strive["op-strive-2-south-east.json"]["referral_id"])
    assert audit_rows(receiver, referral_pk=other, action="referral.linked_read")


def test_a_referral_is_worked_to_an_outcome_and_the_asw_sees_released_feedback(
    receiver: Receiver, strive: dict[str, Any]
) -> None:
    rid = strive["op-strive-1-london.json"]["referral_id"]
    base = f"/console/referrals/{rid}"
    with browser(receiver) as sup:
        sign_in(sup, receiver.token("supervisor"))
        token = csrf_of(sup.get(base))
        assert sup.post(f"{base}/assignment", data={"assignee": "analyst-7", "reason": "case",
                                                    "csrf_token": token}).status_code == 303  # fmt: skip
        for state in ("triaged", "under_assessment", "package_developed", "disseminated"):
            moved = sup.post(
                f"{base}/transition",
                data={"to_state": state, "reason": f"to {state}", "csrf_token": token},
            )
            assert moved.status_code == 303, moved.text
        bad = sup.post(
            f"{base}/transition",
            data={"to_state": "closed", "reason": "done", "csrf_token": token},
        )
        assert bad.status_code == 422 and "closing needs an outcome" in bad.text
        closed = sup.post(
            f"{base}/transition",
            data={"to_state": "closed", "outcome": "safeguarding_visit", "reason": "visit made",
                  "csrf_token": token},
        )  # fmt: skip
        assert closed.status_code == 303
        assert sup.post(f"{base}/outcome", data={"outcome": "arrest", "reason": "arrested",
                                                 "csrf_token": token}).status_code == 303  # fmt: skip
        released = sup.post(
            f"{base}/feedback",
            data={"message": "A safeguarding visit was made. Thank you.",
                  "outcome": "safeguarding_visit", "release_to_asw": "true", "csrf_token": token},
        )  # fmt: skip
        assert released.status_code == 303
        asked = sup.post(
            f"{base}/information-request",
            data={"question": "Please send the login history.", "due_in_days": "7",
                  "csrf_token": token},
        )  # fmt: skip
        assert asked.status_code == 303
        page = sup.get(base)
        withdraw = re.search(r'action="([^"]+/withdrawal)"', page.text)
        assert withdraw and "(open" in page.text
        wrong = sup.post(withdraw.group(1), data={"reason": "asked in error"})
        assert wrong.status_code == 403
        asked_again = sup.post(
            f"{base}/information-request",
            data={"question": "Please send the payment history.", "csrf_token": token},
        )
        assert asked_again.status_code == 303
        withdrawn = sup.post(
            withdraw.group(1), data={"reason": "asked in error", "csrf_token": token}
        )
        assert withdrawn.status_code == 303
        page = sup.get(base)
        assert "Please send the login history. (withdrawn" in page.text
        assert "analyst-7" in page.text and "closed" in page.text
        shown = page.text.split('id="feedback"')[1].split("</ul>")[0]
        assert "A safeguarding visit was made. Thank you." in shown
        assert "released to the ASW" in shown
        assert "Please send the login history." in page.text and "visit made" in page.text
    with receiver.client("example-adverts") as asw:
        status = asw.get_referral_status(rid)
        assert status.state == "closed"
        assert status.feedback[-1].message.startswith("A safeguarding visit")
        requests = asw.list_information_requests()
    # The ASW is asked the open question; the withdrawn one is no longer put to it.
    assert {(r.question, r.state) for r in requests.items} == {
        ("Please send the payment history.", "open")
    }
    actions = [e.action for e in audit_rows(receiver, actor="test-supervisor")]
    for action in ("referral.assigned", "referral.transitioned", "referral.outcome_recorded",
                   "referral.feedback_added", "information_request.created"):  # fmt: skip
        assert action in actions


def test_the_cluster_page_states_the_counts_the_seeds_way_and_its_graph_twin(
    receiver: Receiver, strive: dict[str, Any], analyst: httpx.Client
) -> None:
    rid = strive["op-strive-1-london.json"]["referral_id"]
    with receiver.session() as session:
        cid = session.scalar(
            sa.select(tables.Referral.cluster_id).where(tables.Referral.referral_id == rid)
        )
    page = analyst.get(f"/console/clusters/{cid}")
    assert page.status_code == 200
    assert (
        "10 accounts, 8 e-mail addresses, 13 phone numbers, 4 payer names across London, "
        "the South East and the North East." in page.text
    )
    for fmt in ("json", "csv", "graphml", "md"):
        assert f"/console/clusters/{cid}/export?format={fmt}" in page.text
    assert 'data-src="/console/clusters/' in page.text
    graph = analyst.get(f"/console/clusters/{cid}/graph.json").json()
    kinds: dict[str, int] = {}
    for node in graph["nodes"]:
        kinds[node["type"]] = kinds.get(node["type"], 0) + 1
    assert kinds["Referral"] == 4 and kinds["ASW"] == 2 and kinds["Account"] == 10
    assert kinds["Phone"] == 13 and kinds["Email"] == 8 and kinds["Payer"] == 4
    ids = {n["id"] for n in graph["nodes"]}
    assert all(e["from"] in ids and e["to"] in ids for e in graph["edges"])
    assert {n["asw"] for n in graph["nodes"]} >= {"example-adverts", "demo-classifieds"}
    assert all(n["degree"] >= 1 for n in graph["nodes"])
    export = analyst.get(f"/console/clusters/{cid}/export", params={"format": "md"})
    assert export.status_code == 200 and "10 accounts" in export.text
    assert export.headers["strive-protective-marking"]
    for name in OP_STRIVE:
        pk = referral_pk(receiver, strive[name]["referral_id"])
        actions = {e.action for e in audit_rows(receiver, referral_pk=pk)}
        assert {"cluster.graph_read", "cluster.exported"} <= actions, name
    assert audit_rows(receiver, action="cluster.read")
    assert audit_rows(receiver, action="cluster.members_read")


def test_the_selector_search_is_a_post_so_the_value_never_reaches_a_url(
    receiver: Receiver, strive: dict[str, Any], analyst: httpx.Client
) -> None:
    token = csrf_of(analyst.get("/console/queue"))
    found = analyst.post(
        "/console/selectors/search",
        data={"kind": "phone", "value": "07700 900101", "csrf_token": token},
    )
    assert found.status_code == 200
    assert "+447700900101" in found.text
    assert strive["op-strive-1-london.json"]["referral_id"][:8] in found.text
    searched = audit_rows(receiver, action="selector.searched")
    assert searched and "900101" not in str(searched[0].detail)
    assert analyst.get("/console/selectors/search").status_code == 405
    refused = analyst.post(
        "/console/selectors/search", data={"kind": "phone", "value": "07700 900101"}
    )
    assert refused.status_code == 403


def test_auditor_pages_show_statistics_with_small_counts_suppressed_and_a_filterable_trail(
    receiver: Receiver, strive: dict[str, Any], analyst: httpx.Client
) -> None:
    rid = strive["op-strive-1-london.json"]["referral_id"]
    analyst.get(f"/console/referrals/{rid}")
    with browser(receiver) as auditor:
        sign_in(auditor, receiver.token("auditor"))
        stats = auditor.get("/console/stats")
        assert stats.status_code == 200
        assert "&lt;5" in stats.text  # five referrals: every breakdown cell is small
        assert "<svg" in stats.text
        trail = auditor.get("/console/audit", params={"referral_id": rid, "actor": "test-analyst"})
        assert trail.status_code == 200
        assert "referral.read" in trail.text and rid in trail.text
        only_reads = auditor.get("/console/audit", params={"action": "console.signed_in"})
        assert "referral.read" not in only_reads.text.split('id="audit"')[1]
        assert "Bianca" not in trail.text and "07700" not in trail.text


def test_a_suppressed_count_draws_no_bar(receiver: Receiver, strive: dict[str, Any]) -> None:
    with browser(receiver) as auditor:
        sign_in(auditor, receiver.token("auditor"))
        stats = auditor.get("/console/stats").text
    by_asw = stats.split("By ASW</h2>")[1].split("</svg>")[0]
    assert "&lt;5" in by_asw and "strive-chart-bar" not in by_asw


def test_the_admin_page_lists_asws_keys_and_tokens_and_revokes_with_csrf(
    receiver: Receiver,
) -> None:
    key = receiver.register_asw("example-adverts")
    with browser(receiver) as client:
        sign_in(client, receiver.token("admin"))
        page = client.get("/console/admin")
        assert page.status_code == 200
        assert key.key_id in page.text and "test-admin" in page.text
        with receiver.session() as session:
            token_id = session.scalar(
                sa.select(tables.Token.id).where(tables.Token.name == "test-admin")
            )
        path = f"/console/admin/asws/example-adverts/keys/{key.key_id}/revoke"
        assert client.post(path).status_code == 403
        assert client.post(path, data={"csrf_token": csrf_of(page)}).status_code == 303
        assert "revoked" in client.get("/console/admin").text
        assert token_id


def test_a_cluster_beyond_the_drawing_limit_is_summarised_not_drawn(
    receiver: Receiver, strive: dict[str, Any], analyst: httpx.Client, monkeypatch: Any
) -> None:
    monkeypatch.setattr(present, "GRAPH_LIMIT", 3)
    rid = strive["op-strive-1-london.json"]["referral_id"]
    with receiver.session() as session:
        cid = session.scalar(
            sa.select(tables.Referral.cluster_id).where(tables.Referral.referral_id == rid)
        )
    page = analyst.get(f"/console/clusters/{cid}")
    assert page.status_code == 200
    assert 'id="graph-summarised"' in page.text and 'id="graph"' not in page.text
    assert "10 accounts, 8 e-mail addresses, 13 phone numbers, 4 payer names" in page.text
    graph = analyst.get(f"/console/clusters/{cid}/graph.json").json()
    assert graph["summarised"] is True and graph["nodes"] == [] and graph["referrals"] == 4


def rows_of(receiver: Receiver, table: Any) -> list[Any]:
    with receiver.session() as session:
        return list(session.scalars(sa.select(table)))


def pending_ids(page: httpx.Response) -> list[int]:
    return [int(found) for found in re.findall(r'id="approval-request-(\d+)"', page.text)]


def approve(client: httpx.Client, request_id: int, **data: str) -> httpx.Response:
    return client.post(f"/console/admin/approval-requests/{request_id}/approve", data=data)


def test_an_admins_changes_in_the_console_wait_for_a_second_admin(receiver: Receiver) -> None:
    import json

    from strive_schema.keys import SigningKey

    first, second = SigningKey.generate(), SigningKey.generate()
    with browser(receiver) as alice, browser(receiver) as bob:
        sign_in(alice, receiver.token("admin"))
        token = csrf_of(alice.get("/console/admin"))
        jwk = json.dumps(first.public_key.to_jwk())
        register = {"asw_id": "new-asw", "name": "New ASW", "public_key_jwk": jwk}
        assert alice.post("/console/admin/asws", data=register).status_code == 403  # no CSRF
        bad = alice.post(
            "/console/admin/asws", data={**register, "asw_id": "Not Valid", "csrf_token": token}
        )
        assert bad.status_code == 422 and "asw_id" in bad.text
        not_a_key = alice.post(
            "/console/admin/asws", data={**register, "public_key_jwk": "{", "csrf_token": token}
        )
        assert not_a_key.status_code == 422 and "JWK" in not_a_key.text
        asked = alice.post("/console/admin/asws", data={**register, "csrf_token": token})
        assert asked.status_code == 202, asked.text
        assert 'id="request-key-id">' + first.key_id in asked.text
        register_id = int(re.findall(r'id="request-id">(\d+)<', asked.text)[0])
        asked = alice.post(
            "/console/admin/tokens",
            data={"name": "A. Analyst", "role": "analyst", "expires_in_days": "7",
                  "csrf_token": token},
        )  # fmt: skip
        assert asked.status_code == 202 and 'id="new-token"' not in asked.text
        token_request = int(re.findall(r'id="request-id">(\d+)<', asked.text)[0])
        # Nothing is created by asking.
        assert rows_of(receiver, tables.Asw) == [] and rows_of(receiver, tables.AswKey) == []
        assert [t.name for t in rows_of(receiver, tables.Token)] == ["test-admin"]

        # The requester sees their requests but no Approve button, and approving by hand (the
        # same token, or another token of the same holder) is refused.
        page = alice.get("/console/admin")
        assert pending_ids(page) == [token_request, register_id]
        assert "/approve" not in page.text and "Another administrator must approve" in page.text
        assert (
            "Create a token for A. Analyst, role analyst, valid 7 days from approval" in page.text
        )
        assert "Register the ASW new-asw (New ASW) with its first key" in page.text
        own = approve(alice, register_id, csrf_token=token)
        assert own.status_code == 403 and "second person must approve" in own.text
        with browser(receiver) as alias:
            sign_in(alias, receiver.token("admin", name="  TEST-Admin "))
            own = approve(alias, token_request, csrf_token=csrf_of(alias.get("/console/admin")))
            assert own.status_code == 403 and 'id="new-token"' not in own.text
        assert rows_of(receiver, tables.Asw) == []

        sign_in(bob, receiver.token("admin", name="second-admin"))
        page = bob.get("/console/admin")
        assert first.key_id in page.text and "test-admin" in page.text
        assert f"/console/admin/approval-requests/{register_id}/approve" in page.text
        bob_token = csrf_of(page)
        for presented in ({}, {"csrf_token": "wrong"}, {"csrf_token": token}):
            refused = approve(bob, register_id, **presented)
            assert refused.status_code == 403 and "The form has expired" in refused.text
        assert rows_of(receiver, tables.Asw) == []
        done = approve(bob, register_id, csrf_token=bob_token)
        assert done.status_code == 200 and first.key_id in done.text
        assert [a.id for a in rows_of(receiver, tables.Asw)] == ["new-asw"]
        again = approve(bob, register_id, csrf_token=bob_token)
        assert again.status_code == 409 and "approved" in again.text
        twice = alice.post("/console/admin/asws", data={**register, "csrf_token": token})
        assert twice.status_code == 409 and "already registered" in twice.text

        key_jwk = json.dumps(second.public_key.to_jwk())
        asked = alice.post(
            "/console/admin/keys",
            data={"asw_id": "new-asw", "public_key_jwk": key_jwk, "csrf_token": token},
        )
        assert asked.status_code == 202 and second.key_id in asked.text
        assert second.key_id not in {k.key_id for k in rows_of(receiver, tables.AswKey)}
        key_request = int(re.findall(r'id="request-id">(\d+)<', asked.text)[0])
        assert approve(bob, key_request, csrf_token=bob_token).status_code == 200
        assert second.key_id in {k.key_id for k in rows_of(receiver, tables.AswKey)}

        # Half B of the new token is shown once, to the approver, in the page that answers
        # the POST; the requester collects half A once; neither signs in alone.
        created = approve(bob, token_request, csrf_token=bob_token)
        assert created.status_code == 200 and "location" not in created.headers
        assert 'id="new-token"' not in created.text
        half_b = re.search(r'id="new-token-half">\s*(strvB_[^<\s]+)\s*<', created.text)
        assert half_b and "You approved request" in created.text and "half B" in created.text
        assert half_b.group(1) not in bob.get("/console/admin").text
        assert pending_ids(bob.get("/console/admin")) == []
        collect_path = f"/console/admin/approval-requests/{token_request}/collect"
        assert collect_path not in bob.get("/console/admin").text
        refused = bob.post(collect_path, data={"csrf_token": bob_token})
        assert refused.status_code == 403 and "only the requester" in refused.text
        page = alice.get("/console/admin")
        assert collect_path in page.text and 'id="token-half-' in page.text
        assert alice.post(collect_path, data={}).status_code == 403  # no CSRF
        collected = alice.post(collect_path, data={"csrf_token": token})
        assert collected.status_code == 200, collected.text
        half_a = re.search(r'id="new-token-half">\s*(strvA_[^<\s]+)\s*<', collected.text)
        assert half_a and "half A" in collected.text
        assert collect_path not in alice.get("/console/admin").text
        again = alice.post(collect_path, data={"csrf_token": token})
        assert again.status_code == 409 and "already collected" in again.text
    for alone in (half_a.group(1), half_b.group(1)):
        with browser(receiver) as intruder:
            assert sign_in(intruder, alone).status_code != 303
    joined = admin.join_token_halves(half_a.group(1), half_b.group(1))
    with browser(receiver) as newcomer:
        assert sign_in(newcomer, joined).status_code == 303
        assert "A. Analyst (analyst)" in newcomer.get("/console/queue").text
    actions = {(e.action, e.actor) for e in audit_rows(receiver)}
    assert {("approval.requested", "test-admin"), ("approval.approved", "second-admin"),
            ("asw.registered", "second-admin"), ("asw.key_added", "second-admin"),
            ("token.created", "second-admin"), ("approval.collected", "test-admin")} <= actions  # fmt: skip
    assert not {a for a, actor in actions if actor == "test-admin"} & {
        "asw.registered",
        "asw.key_added",
        "token.created",
    }


def test_an_auditor_token_needs_no_second_admin_and_is_shown_once(receiver: Receiver) -> None:
    with browser(receiver) as client:
        sign_in(client, receiver.token("admin"))
        token = csrf_of(client.get("/console/admin"))
        created = client.post(
            "/console/admin/tokens",
            data={"name": "A. Auditor", "role": "auditor", "csrf_token": token},
        )
        assert created.status_code == 200 and "location" not in created.headers
        found = re.search(r'id="new-token">([^<]+)<', created.text)
        assert found
        assert found.group(1).strip() not in client.get("/console/admin").text
    with browser(receiver) as newcomer:
        assert sign_in(newcomer, found.group(1).strip()).status_code == 303
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.ApprovalRequest)) == 0


def ask_in_console(receiver: Receiver, client: httpx.Client, role: str = "supervisor") -> int:
    token = csrf_of(client.get("/console/admin"))
    asked = client.post(
        "/console/admin/tokens", data={"name": "DS Hale", "role": role, "csrf_token": token}
    )
    assert asked.status_code == 202
    return int(re.findall(r'id="request-id">(\d+)<', asked.text)[0])


def test_expired_rejected_and_withdrawn_requests_cannot_be_approved(receiver: Receiver) -> None:
    with browser(receiver) as alice, browser(receiver) as bob:
        sign_in(alice, receiver.token("admin"))
        sign_in(bob, receiver.token("admin", name="second-admin"))
        bob_token = csrf_of(bob.get("/console/admin"))
        stale, refused, withdrawn = (ask_in_console(receiver, alice) for _ in range(3))
        with receiver.session() as session, session.begin():
            row = session.get(tables.ApprovalRequest, stale)
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        assert stale not in pending_ids(bob.get("/console/admin"))
        expired = approve(bob, stale, csrf_token=bob_token)
        assert expired.status_code == 409 and "expired" in expired.text
        for presented in ({}, {"csrf_token": "wrong"}):
            forged = bob.post(f"/console/admin/approval-requests/{refused}/reject", data=presented)
            assert forged.status_code == 403 and "The form has expired" in forged.text
        assert refused in pending_ids(bob.get("/console/admin"))
        rejected = bob.post(
            f"/console/admin/approval-requests/{refused}/reject", data={"csrf_token": bob_token}
        )
        assert rejected.status_code == 303
        closed = approve(bob, refused, csrf_token=bob_token)
        assert closed.status_code == 409 and "rejected" in closed.text
        alice_token = csrf_of(alice.get("/console/admin"))
        page = alice.post(
            f"/console/admin/approval-requests/{withdrawn}/reject",
            data={"csrf_token": alice_token},
        )
        assert page.status_code == 303
        assert approve(bob, withdrawn, csrf_token=bob_token).status_code == 409
        assert approve(bob, 2**40, csrf_token=bob_token).status_code == 422
        assert approve(bob, 999, csrf_token=bob_token).status_code == 404
    assert sorted(t.name for t in rows_of(receiver, tables.Token)) == ["second-admin", "test-admin"]
    with receiver.session() as session:
        states = session.scalars(
            sa.select(tables.ApprovalRequest.state).order_by(tables.ApprovalRequest.id)
        ).all()
    assert states == ["pending", "rejected", "rejected"]


def test_only_an_admin_administers(receiver: Receiver, analyst: httpx.Client) -> None:
    with browser(receiver) as alice:
        sign_in(alice, receiver.token("admin"))
        request_id = ask_in_console(receiver, alice, role="analyst")
    token = csrf_of(analyst.get("/console/queue"))
    for path, data in (
        ("/console/admin/asws", {"asw_id": "x", "name": "x", "public_key_jwk": "{}"}),
        ("/console/admin/keys", {"asw_id": "x", "public_key_jwk": "{}"}),
        ("/console/admin/tokens", {"name": "me", "role": "admin"}),
        ("/console/admin/tokens/1/revoke", {}),
        (f"/console/admin/approval-requests/{request_id}/approve", {}),
        (f"/console/admin/approval-requests/{request_id}/reject", {}),
    ):
        refused = analyst.post(path, data={**data, "csrf_token": token})
        assert refused.status_code == 403, path
        assert "You do not have access" in refused.text
    with receiver.session() as session:
        assert sorted(session.scalars(sa.select(tables.Token.name))) == [
            "test-admin",
            "test-analyst",
        ]
        assert session.scalars(sa.select(tables.ApprovalRequest.state)).all() == ["pending"]


def test_behind_a_proxy_the_public_origin_is_this_receivers(
    receiver: Receiver, strive: dict[str, Any], analyst: httpx.Client
) -> None:
    settings = receiver.app.state.settings
    object.__setattr__(
        receiver.app.state, "settings",
        settings.model_copy(update={"public_base_url": "https://referrals.police.example"}),
    )  # fmt: skip
    try:
        rid = strive["op-strive-1-london.json"]["referral_id"]
        path = f"/console/referrals/{rid}/transition"
        token = csrf_of(analyst.get("/console/queue"))
        form = {"to_state": "triaged", "reason": "triage", "csrf_token": token}
        for origin in ("https://referrals.police.example.attacker.example",
                       "http://referrals.police.example", "null"):  # fmt: skip
            refused = analyst.post(path, data=form, headers={"Origin": origin})
            assert refused.status_code == 403, origin
        accepted = analyst.post(
            path, data=form, headers={"Origin": "https://referrals.police.example"}
        )
        assert accepted.status_code == 303
    finally:
        object.__setattr__(receiver.app.state, "settings", settings)


def test_the_graph_follows_the_cluster_and_every_view_is_audited(
    receiver: Receiver, analyst: httpx.Client
) -> None:
    documents = submit_examples(receiver, OP_STRIVE[:3])
    rid = documents[OP_STRIVE[0]]["referral_id"]
    with receiver.session() as session:
        cid = session.scalar(
            sa.select(tables.Referral.cluster_id).where(tables.Referral.referral_id == rid)
        )

    def referrals_drawn() -> int:
        graph = analyst.get(f"/console/clusters/{cid}/graph.json").json()
        return sum(1 for node in graph["nodes"] if node["type"] == "Referral")

    assert referrals_drawn() == 3
    assert referrals_drawn() == 3  # a repeat view (from the cache)
    submit_examples(receiver, OP_STRIVE[3:])
    assert referrals_drawn() == 4  # the cluster grew: drawn afresh
    pk = referral_pk(receiver, rid)
    assert len(audit_rows(receiver, referral_pk=pk, action="cluster.graph_read")) == 3
