"""The console's pages (spec/console.md). Each page calls the service functions its API
endpoint calls, in one transaction, so a page and an endpoint cannot disagree and both are
audited in the same place. Changes are POST forms carrying the session's CSRF token."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa
from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from pydantic import ValidationError

from strive_schema._types import LOCAL_ID_PATTERN
from strive_server.api.deps import RowId
from strive_server.api.routes.attachments import check_reason, content_headers
from strive_server.api.routes.intelligence import export_response
from strive_server.api.schemas import AswCreate, AswKeyCreate, TokenCreate
from strive_server.console import auth, oidc, present
from strive_server.console.web import (
    OIDC_COOKIE,
    ROLE_PAGES,
    SIGN_IN_COOKIE,
    ConsoleRefusal,
    ConsoleRoute,
    PersonDep,
    check_sign_in_csrf,
    render,
    require_csrf,
    role_gate,
    sessions_of,
    set_cookie,
    settings_of,
    sign_in_csrf,
    signed_in,
)
from strive_server.core.security import ROLES
from strive_server.db import tables
from strive_server.db.engine import write_guard
from strive_server.services import admin, attachments, casework, intelligence, packages
from strive_server.services.audit import record_event
from strive_server.services.lifecycle import OUTCOMES, STATES
from strive_server.services.stats import compute_statistics
from strive_server.services.triage import describe

__all__ = ["router"]

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

AnalystPerson = Annotated[auth.Person, role_gate("analyst", "supervisor")]
SupervisorPerson = Annotated[auth.Person, role_gate("supervisor")]
AuditorPerson = Annotated[auth.Person, role_gate("auditor")]
StatsPerson = Annotated[auth.Person, role_gate("auditor", "supervisor", "admin")]
AdminPerson = Annotated[auth.Person, role_gate("admin")]
CsrfField = Annotated[str | None, Form(max_length=100)]
ReasonField = Annotated[str, Form(min_length=1, max_length=2000)]
AswQuery = Annotated[str | None, Query(max_length=64)]
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PAGE: Final = 50
SelectorKind = Literal[
    "phone", "email", "payer_name", "payment_card", "account", "image_hash", "ip_address",
    "device", "postcode", "region",
]  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


# --- Signing in and out -------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    person = signed_in(request)
    return RedirectResponse(f"/console/{ROLE_PAGES[person.role][0]}", status_code=303)


def _sign_in_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    csrf = sign_in_csrf(request)
    settings = settings_of(request)
    sso = bool(settings.oidc_issuer and settings.oidc_client_id)
    response = render(
        request, "sign_in.html", {"csrf_token": csrf, "error": error, "sso": sso}, status=status
    )
    set_cookie(request, response, SIGN_IN_COOKIE, csrf, max_age=3600)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    check_sign_in_csrf(request, csrf_token)
    if not token.strip():
        return _sign_in_page(request, error="Enter your access token", status=422)
    sessions = sessions_of(request)
    now = _now()
    with write_guard(sessions), sessions() as session, session.begin():
        holder = auth.token_holder(session, token, now=now)
        if holder is None:
            session_id = None
        else:
            # Signing in again replaces the browser's session: the old one ends.
            previous = auth.find_session(
                session, settings_of(request), request.cookies.get(auth.COOKIE, ""), now=now
            )
            if previous is not None:
                auth.end_session(session, previous, now=now)
            session_id = auth.start_session(
                session, settings_of(request), name=holder.name, role=holder.role,
                token_id=holder.id, subject=None, method="token", now=now,
            )  # fmt: skip
    if session_id is None:
        return _sign_in_page(request, error="The token is unknown, revoked or expired", status=401)
    response = RedirectResponse("/console/", status_code=303)
    settings = settings_of(request)
    set_cookie(request, response, auth.COOKIE, session_id, settings.console_session_hours * 3600)
    response.delete_cookie(SIGN_IN_COOKIE, path="/console")
    return response


def _callback_uri(request: Request) -> str:
    base = settings_of(request).public_base_url or str(request.base_url)
    return base.rstrip("/") + "/console/sign-in/oidc/callback"


@router.get("/sign-in/oidc", response_class=HTMLResponse)
def sign_in_oidc(request: Request) -> Response:
    """Single sign-on: to the identity provider, with a state, nonce and PKCE challenge."""
    sessions = sessions_of(request)
    try:
        with write_guard(sessions), sessions() as session, session.begin():
            url, binding = oidc.start_sign_in(
                session, settings_of(request), redirect_uri=_callback_uri(request), now=_now()
            )
    except (oidc.SignInFailed, httpx.HTTPError) as exc:
        raise ConsoleRefusal(503, "Single sign-on is not available", str(exc)) from None
    response = RedirectResponse(url, status_code=303)
    # Lax: the provider's redirect back is a cross-site navigation.
    lifetime = int(oidc.SIGN_IN_LIFETIME.total_seconds())
    set_cookie(request, response, OIDC_COOKIE, binding, lifetime, samesite="lax")
    return response


@router.get("/sign-in/oidc/callback", response_class=HTMLResponse)
def sign_in_oidc_callback(
    request: Request,
    state: Annotated[str, Query(max_length=100)] = "",
    code: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """The identity provider's answer. The session cookie is set here, but the browser
    arrived from another site, so a SameSite=Strict cookie would not be sent on a redirect;
    a page that moves on by itself (a same-site navigation) follows instead."""
    sessions = sessions_of(request)
    settings = settings_of(request)
    now = _now()
    try:
        with write_guard(sessions), sessions() as session, session.begin():
            identity = oidc.finish_sign_in(
                session, settings, state=state, code=code,
                binding=request.cookies.get(OIDC_COOKIE, ""),
                redirect_uri=_callback_uri(request), now=now,
            )  # fmt: skip
            # As for a token: a new sign-in ends the browser's previous session.
            previous = auth.find_session(
                session, settings, request.cookies.get(auth.COOKIE, ""), now=now
            )
            if previous is not None:
                auth.end_session(session, previous, now=now)
            session_id = auth.start_session(
                session, settings, name=identity.name, role=identity.role, token_id=None,
                subject=identity.subject, method="oidc", now=now,
            )  # fmt: skip
    except oidc.SignInFailed as exc:
        raise ConsoleRefusal(403, "You could not be signed in", str(exc)) from None
    except httpx.HTTPError:
        raise ConsoleRefusal(
            503, "Single sign-on is not available", "the identity provider did not answer"
        ) from None
    response = render(request, "signed_in.html")
    set_cookie(request, response, auth.COOKIE, session_id, settings.console_session_hours * 3600)
    response.delete_cookie(OIDC_COOKIE, path="/console")
    return response


@router.post("/sign-out", response_class=HTMLResponse)
def sign_out(request: Request, person: PersonDep, csrf_token: CsrfField = None) -> Response:
    require_csrf(request, person, csrf_token)
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        auth.end_session(session, person, now=_now())
    response = render(request, "signed_out.html")
    response.delete_cookie(auth.COOKIE, path="/console")
    return response


# --- The triage queue ---------------------------------------------------------------------------


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    person: AnalystPerson,
    state: Annotated[str | None, Query(max_length=32)] = None,
    band: Annotated[Literal["P1", "P2", "P3", "P4"] | None, Query()] = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
    asw_id: AswQuery = None,
    include_test: bool = False,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    state = state or None
    if state is not None and state not in STATES:
        raise ConsoleRefusal(422, "Check what you entered", f"{state} is not a state")
    filters = {"state": state, "band": band, "region": region or None, "asw_id": asw_id or None}
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        page = intelligence.triage_queue(
            session, actor=person.actor, include_test=include_test, cursor=cursor, limit=PAGE,
            **filters,
        )  # fmt: skip
        regions = present.queue_regions(session, page["items"])
    rows = [
        {
            **item,
            "reasons": present.one_line_reasons(item),
            "child": present.suspects_child(item),
            "regions": regions.get((item["asw_id"], item["referral_id"]), ""),
        }
        for item in page["items"]
    ]
    next_link = None
    if page["next_cursor"]:
        query = {k: v for k, v in filters.items() if v}
        if include_test:
            query["include_test"] = "true"
        query["cursor"] = page["next_cursor"]
        next_link = "/console/queue?" + urlencode(query)
    return render(
        request,
        "queue.html",
        {"rows": rows, "filters": filters, "include_test": include_test, "states": STATES,
         "next_link": next_link, "first_page": cursor is None},
        person=person,
    )  # fmt: skip


# --- A referral ---------------------------------------------------------------------------------


def referral_cluster_id(view: dict[str, Any], links: dict[str, Any]) -> int | None:
    """The referral's cluster: from the analyst view once it carries ``cluster_id``, else from
    the links service (``GET /v1/referrals/{id}/links``). One place to switch."""
    cluster_id = view.get("cluster_id", links.get("cluster_id"))
    return int(cluster_id) if cluster_id is not None else None


def _referral_url(referral_id: str, asw_id: str | None) -> str:
    query = f"?{urlencode({'asw_id': asw_id})}" if asw_id else ""
    return f"/console/referrals/{referral_id}{query}"


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
def referral(
    request: Request, referral_id: str, person: AnalystPerson, asw_id: AswQuery = None
) -> Response:
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id)
        view = casework.analyst_view(session, row, actor=person.actor, reason=None)
        evidence = casework.verify_evidence(
            session, row, actor=person.actor, reason=None,
            receipt_keys=settings_of(request).published_keys,
        )  # fmt: skip
        history = casework.history(session, row, actor=person.actor, reason=None)
        links = intelligence.referral_links(session, row, actor=person.actor, limit=20)
        requests = casework.referral_information_requests(session, row, actor=person.actor)
        outcomes = sorted(casework.recorded_outcomes(session, row))
        feedback_given = present.feedback_given(session, row.id)
        cluster_id = referral_cluster_id(view, links)
        cluster = intelligence.current_cluster(session, cluster_id) if cluster_id else None
        triage = describe(row, cluster)
    evidence.pop("envelope", None)
    document = view["document"]
    by_id = {
        entity["id"]: entity
        for kind in ("accounts", "adverts", "phones", "emails", "persons", "payments",
                     "customer_reports", "technical_events", "attachments")
        for entity in document.get(kind, [])
    }  # fmt: skip
    return render(
        request,
        "referral.html",
        {
            "view": view, "doc": document, "by_id": by_id, "evidence": evidence,
            "history": history, "links": links, "requests": requests, "outcomes": outcomes,
            "feedback": feedback_given,
            "all_outcomes": OUTCOMES, "states": STATES, "cluster_id": cluster_id,
            "triage": triage, "child": present.suspects_child(triage),
            "reasons": present.one_line_reasons(triage, limit=10),
            "asw_query": asw_id, "action_base": f"/console/referrals/{referral_id}",
            "referral_url": _referral_url(referral_id, asw_id),
        },
        person=person,
    )  # fmt: skip


@router.get("/referrals/{referral_id}/attachments/{attachment_id}/thumbnail")
def attachment_thumbnail(
    request: Request, referral_id: str, person: AnalystPerson,
    attachment_id: Annotated[str, Path(pattern=LOCAL_ID_PATTERN, max_length=64)],
    asw_id: AswQuery = None,
) -> Response:  # fmt: skip
    """A small thumbnail of a received image, downscaled and blurred on the server (audited
    as ``attachment.thumbnail``): the referral page never loads the original."""
    sessions = sessions_of(request)
    settings = request.app.state.settings
    with write_guard(sessions), sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id)
        png = attachments.blurred_thumbnail(
            session, row, attachment_id, actor=person.actor, settings=settings
        )
    headers = content_headers(attachment_id, len(png))
    headers["Content-Disposition"] = "inline"
    return Response(png, media_type="image/png", headers=headers)


@router.post("/referrals/{referral_id}/attachments/{attachment_id}")
def attachment_content(
    request: Request, referral_id: str, person: AnalystPerson,
    attachment_id: Annotated[str, Path(pattern=LOCAL_ID_PATTERN, max_length=64)],
    reason: Annotated[str | None, Form(max_length=2000)] = None,
    csrf_token: CsrfField = None, asw_id: AswQuery = None,
) -> Response:  # fmt: skip
    """A received file for a signed-in analyst who typed why (a form with the CSRF token),
    audited like the API's read (``GET /v1/referrals/{id}/attachments/{id}``), with the same
    headers: downloaded, never shown in the page."""
    require_csrf(request, person, csrf_token)
    why = check_reason(reason)
    sessions = sessions_of(request)
    settings = request.app.state.settings
    with write_guard(sessions), sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id)
        found, chunks = attachments.open_content(
            session, row, attachment_id, actor=person.actor, reason=why, settings=settings
        )
        media_type, size = found.media_type, found.size_bytes
    return StreamingResponse(
        chunks, media_type=media_type, headers=content_headers(attachment_id, size)
    )


def _act(
    request: Request, person: auth.Person, referral_id: str, asw_id: str | None, change: Any
) -> Response:
    """Run one change to a referral in a transaction; back to the referral page."""
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id, for_update=True)
        change(session, row)
    return RedirectResponse(_referral_url(referral_id, asw_id), status_code=303)


@router.post("/referrals/{referral_id}/transition", response_class=HTMLResponse)
def transition(
    request: Request, referral_id: str, person: AnalystPerson,
    to_state: Annotated[str, Form(max_length=32)], reason: ReasonField,
    outcome: Annotated[str | None, Form(max_length=48)] = None, csrf_token: CsrfField = None,
    asw_id: AswQuery = None,
) -> Response:  # fmt: skip
    require_csrf(request, person, csrf_token)
    return _act(
        request, person, referral_id, asw_id,
        lambda session, row: casework.transition(
            session, row, to_state=to_state, outcome=outcome or None, reason=reason,
            actor=person.actor,
        ),
    )  # fmt: skip


@router.post("/referrals/{referral_id}/outcome", response_class=HTMLResponse)
def outcome(
    request: Request, referral_id: str, person: SupervisorPerson,
    outcome: Annotated[str, Form(max_length=48)], reason: ReasonField,
    csrf_token: CsrfField = None, asw_id: AswQuery = None,
) -> Response:  # fmt: skip
    require_csrf(request, person, csrf_token)
    return _act(
        request, person, referral_id, asw_id,
        lambda session, row: casework.record_outcome(
            session, row, outcome=outcome, reason=reason, actor=person.actor
        ),
    )  # fmt: skip


@router.post("/referrals/{referral_id}/assignment", response_class=HTMLResponse)
def assignment(
    request: Request, referral_id: str, person: SupervisorPerson,
    assignee: Annotated[str, Form(min_length=1, max_length=200)], reason: ReasonField,
    csrf_token: CsrfField = None, asw_id: AswQuery = None,
) -> Response:  # fmt: skip
    require_csrf(request, person, csrf_token)
    return _act(
        request, person, referral_id, asw_id,
        lambda session, row: casework.assign(
            session, row, assignee=assignee, reason=reason, actor=person.actor
        ),
    )  # fmt: skip


@router.post("/referrals/{referral_id}/feedback", response_class=HTMLResponse)
def feedback(
    request: Request, referral_id: str, person: AnalystPerson,
    message: Annotated[str, Form(min_length=1, max_length=4000)],
    outcome: Annotated[str | None, Form(max_length=48)] = None,
    release_to_asw: Annotated[bool, Form()] = False,
    csrf_token: CsrfField = None, asw_id: AswQuery = None,
) -> Response:  # fmt: skip
    require_csrf(request, person, csrf_token)
    return _act(
        request, person, referral_id, asw_id,
        lambda session, row: casework.add_feedback(
            session, row, message=message, outcome=outcome or None, release=release_to_asw,
            actor=person.actor,
        ),
    )  # fmt: skip


@router.post("/referrals/{referral_id}/information-request", response_class=HTMLResponse)
def information_request(
    request: Request, referral_id: str, person: AnalystPerson,
    question: Annotated[str, Form(min_length=1, max_length=4000)],
    due_in_days: Annotated[int | None, Form(ge=1, le=90)] = None,
    csrf_token: CsrfField = None, asw_id: AswQuery = None,
) -> Response:  # fmt: skip
    require_csrf(request, person, csrf_token)
    due_by = _now() + timedelta(days=due_in_days) if due_in_days else None
    return _act(
        request, person, referral_id, asw_id,
        lambda session, row: casework.create_information_request(
            session, row, question=question, due_by=due_by, actor=person.actor
        ),
    )  # fmt: skip


@router.post(
    "/referrals/{referral_id}/information-requests/{request_id}/withdrawal",
    response_class=HTMLResponse,
)
def withdraw_information_request(
    request: Request, referral_id: str, request_id: str, person: AnalystPerson,
    reason: ReasonField, csrf_token: CsrfField = None, asw_id: AswQuery = None,
) -> Response:  # fmt: skip
    require_csrf(request, person, csrf_token)
    return _act(
        request, person, referral_id, asw_id,
        lambda session, row: casework.withdraw_information_request(
            session, row, request_id, reason=reason, actor=person.actor
        ),
    )  # fmt: skip


# --- Clusters and selectors ---------------------------------------------------------------------


@router.get("/clusters/{cluster_id}", response_class=HTMLResponse)
def cluster(
    request: Request, cluster_id: RowId, person: AnalystPerson,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:  # fmt: skip
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        found = intelligence.current_cluster(session, cluster_id)
        summary = intelligence.cluster_summary(session, found, actor=person.actor)
        members = intelligence.cluster_members(
            session, found, actor=person.actor, cursor=cursor, limit=PAGE
        )
        drawn = found.referral_count <= present.GRAPH_LIMIT
        # Beyond the drawing limit the regions are named in code order: ordering them by
        # arrival would read every member's region selectors.
        regions = present.regions_in_order(session, found.id) if drawn else summary["regions"]
    if found.id != cluster_id:
        return RedirectResponse(f"/console/clusters/{found.id}", status_code=303)
    return render(
        request,
        "cluster.html",
        {
            "summary": summary, "members": members["items"], "drawn": drawn,
            "headline": present.counts_headline(summary["counts"], regions),
            "region_names": [present.region_name(code) for code in regions],
            "formats": packages.FORMATS, "graph_limit": present.GRAPH_LIMIT,
            "next_link": _next_members(found.id, members["next_cursor"]),
        },
        person=person,
    )  # fmt: skip


def _next_members(cluster_id: int, cursor: str | None) -> str | None:
    return f"/console/clusters/{cluster_id}?{urlencode({'cursor': cursor})}" if cursor else None


_graph_cache_lock = threading.Lock()


def _graph_cache(request: Request) -> present.GraphCache:
    with _graph_cache_lock:
        cache: present.GraphCache | None = getattr(request.app.state, "console_graphs", None)
        if cache is None:
            cache = present.GraphCache()
            request.app.state.console_graphs = cache
    return cache


@router.get("/clusters/{cluster_id}/graph.json")
def cluster_graph(request: Request, cluster_id: RowId, person: AnalystPerson) -> Response:
    """The graph's JSON twin, drawn by static/console-graph.js."""
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        found = intelligence.current_cluster(session, cluster_id)
        if found.referral_count > present.GRAPH_LIMIT:
            record_event(
                session, actor=person.actor, action="cluster.read",
                detail={"cluster_id": found.id},
            )  # fmt: skip
            return JSONResponse(
                {"cluster_id": found.id, "summarised": True, "referrals": found.referral_count,
                 "limit": present.GRAPH_LIMIT, "nodes": [], "edges": []}
            )  # fmt: skip
        cache = _graph_cache(request)
        key = (found.id, found.updated_at, found.referral_count)
        cached = cache.get(key)
        if cached is None:
            package = packages.build_package(session, found)
            cached = (present.cluster_graph(package), package.referral_pks)
            cache.put(key, *cached)
        graph, referral_pks = cached
        intelligence.record_reads(
            session, actor=person.actor, action="cluster.graph_read",
            referral_pks=referral_pks, detail={"cluster_id": found.id},
        )  # fmt: skip
    return JSONResponse({**graph, "summarised": False})


@router.get("/clusters/{cluster_id}/export")
def cluster_export(
    request: Request, cluster_id: RowId, person: AnalystPerson,
    format: Annotated[Literal["json", "csv", "graphml", "md"], Query()] = "json",
) -> Response:  # fmt: skip
    """The API's export (``GET /v1/clusters/{id}/export``) for a signed-in person: the same
    service, the same audit, the same response."""
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        found = intelligence.current_cluster(session, cluster_id)
        export = packages.export_cluster(session, found, format, actor=person.actor, reason=None)
    return export_response(export)


@router.post("/selectors/search", response_class=HTMLResponse)
def selector_search(
    request: Request, person: AnalystPerson,
    kind: Annotated[SelectorKind, Form()],
    value: Annotated[str, Form(min_length=1, max_length=400)],
    csrf_token: CsrfField = None,
) -> Response:  # fmt: skip
    """Where else does this value appear? A POST, so the value never appears in a URL."""
    require_csrf(request, person, csrf_token)
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        result = intelligence.search_selector(
            session, actor=person.actor, kind=kind, value=value, reason=None, cursor=None,
            limit=intelligence.MAX_PAGE, audit_key=settings_of(request).audit_hmac_key,
        )  # fmt: skip
    return render(request, "search.html", {"result": result}, person=person)


# --- Auditors and administrators ----------------------------------------------------------------


@router.get("/stats", response_class=HTMLResponse)
def stats(request: Request, person: StatsPerson) -> Response:
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        figures = compute_statistics(
            session, threshold=settings_of(request).stats_suppression_threshold
        )
        record_event(session, actor=person.actor, action="stats.read")
    charts = {
        title: present.bars(figures[key])
        for key, title in (
            ("by_month", "By month"),
            ("by_asw", "By ASW"),
            ("by_state", "By state"),
            ("by_outcome", "By outcome"),
            ("by_urgency", "By urgency"),
            ("by_indicator", "By indicator"),
        )
    }
    return render(request, "stats.html", {"figures": figures, "charts": charts}, person=person)


@router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request, person: AuditorPerson,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    referral_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:  # fmt: skip
    """The audit trail, newest first, filterable by person, referral and action."""
    sessions = sessions_of(request)
    e = tables.AuditEvent
    with write_guard(sessions), sessions() as session, session.begin():
        query = sa.select(e, tables.Referral.referral_id).outerjoin(
            tables.Referral, tables.Referral.id == e.referral_pk
        )
        if actor:
            query = query.where(e.actor == actor)
        if action:
            query = query.where(e.action == action)
        if referral_id:
            query = query.where(tables.Referral.referral_id == referral_id)
        if before:
            query = query.where(e.id < before)
        rows = session.execute(query.order_by(e.id.desc()).limit(PAGE + 1)).all()
        actions = session.scalars(sa.select(e.action).distinct().order_by(e.action)).all()
        record_event(
            session, actor=person.actor, action="audit.read",
            detail={"actor": actor, "referral_id": referral_id, "action": action},
        )  # fmt: skip
    page = rows[:PAGE]
    filters = {"actor": actor or "", "referral_id": referral_id or "", "action": action or ""}
    next_link = None
    if len(rows) > PAGE:
        next_link = "/console/audit?" + urlencode(
            {**{k: v for k, v in filters.items() if v}, "before": page[-1][0].id}
        )
    return render(
        request, "audit.html",
        {"events": page, "filters": filters, "actions": actions, "next_link": next_link},
        person=person,
    )  # fmt: skip


def _requester(person: auth.Person) -> admin.Person:
    """The signed-in admin as dual control knows them, as the API's ``_requester`` builds a
    token holder: their name, the token signed in with, their audit actor."""
    return admin.Person(person.name, person.token_id, person.actor)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, person: AdminPerson) -> Response:
    sessions = sessions_of(request)
    me = _requester(person)
    with sessions() as session:
        asws = admin.list_asws(session)
        tokens = session.scalars(sa.select(tables.Token).order_by(tables.Token.id)).all()
        pending = [
            {
                **admin.approval_view(row),
                "mine": me.is_same_as(row.requested_by, row.requested_by_token_id),
            }
            for row in admin.list_requests(session, state="pending")
        ]
        to_collect = [
            admin.approval_view(row)
            for row in admin.list_requests(session, state="approved")
            if row.token_half is not None
            and me.is_same_as(row.requested_by, row.requested_by_token_id)
        ]
    return render(
        request, "admin.html",
        {"asws": asws, "tokens": tokens, "now": _now(), "roles": ROLES, "pending": pending,
         "to_collect": to_collect},
        person=person,
    )  # fmt: skip


@router.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke_token(
    request: Request, token_id: RowId, person: AdminPerson, csrf_token: CsrfField = None
) -> Response:
    require_csrf(request, person, csrf_token)
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        admin.revoke_token(session, token_id=token_id, actor=person.actor)
    return RedirectResponse("/console/admin", status_code=303)


@router.post("/admin/asws/{asw_id}/keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(
    request: Request, asw_id: str, key_id: str, person: AdminPerson, csrf_token: CsrfField = None
) -> Response:
    require_csrf(request, person, csrf_token)
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        admin.revoke_key(session, asw_id=asw_id, key_id=key_id, actor=person.actor)
    return RedirectResponse("/console/admin", status_code=303)


def _jwk(text: str) -> dict[str, str]:
    """A JWK pasted into a form."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConsoleRefusal(
            422, "Check what you entered", "The public key must be a JWK (a JSON object)."
        )
    return value


def _checked(model: type[Any], **values: Any) -> Any:
    """The API's request model for the same change, so the form is held to the same rules."""
    try:
        return model(**values)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise ConsoleRefusal(
            422, "Check what you entered", "Missing or invalid: " + ", ".join(fields)
        ) from None


def _approval_ttl(request: Request) -> timedelta:
    return timedelta(hours=settings_of(request).approval_request_hours)


def _requested(request: Request, person: auth.Person, view: dict[str, Any]) -> Response:
    """The confirmation that a change waits for a second admin (202, as the API answers)."""
    return render(request, "approval_requested.html", {"request": view}, status=202, person=person)


@router.post("/admin/asws", response_class=HTMLResponse)
def register_asw(
    request: Request, person: AdminPerson,
    asw_id: Annotated[str, Form(max_length=64)], name: Annotated[str, Form(max_length=200)],
    public_key_jwk: Annotated[str, Form(max_length=4000)], csrf_token: CsrfField = None,
) -> Response:  # fmt: skip
    """Dual control: only a pending request; another admin's approval registers the ASW."""
    require_csrf(request, person, csrf_token)
    body = _checked(AswCreate, asw_id=asw_id, name=name, public_key_jwk=_jwk(public_key_jwk))
    key = admin.public_key_from_jwk(body.public_key_jwk)
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        row = admin.request_asw_registration(
            session, asw_id=body.asw_id, name=body.name, public_key=key,
            requester=_requester(person), ttl=_approval_ttl(request),
        )  # fmt: skip
        view = admin.approval_view(row)
    return _requested(request, person, view)


@router.post("/admin/keys", response_class=HTMLResponse)
def add_asw_key(
    request: Request, person: AdminPerson, asw_id: Annotated[str, Form(max_length=64)],
    public_key_jwk: Annotated[str, Form(max_length=4000)], csrf_token: CsrfField = None,
) -> Response:  # fmt: skip
    """Dual control: only a pending request; another admin's approval adds the key."""
    require_csrf(request, person, csrf_token)
    body = _checked(AswKeyCreate, public_key_jwk=_jwk(public_key_jwk))
    key = admin.public_key_from_jwk(body.public_key_jwk)
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        row = admin.request_key(
            session, asw_id=asw_id, public_key=key, requester=_requester(person),
            ttl=_approval_ttl(request),
        )  # fmt: skip
        view = admin.approval_view(row)
    return _requested(request, person, view)


@router.post("/admin/tokens", response_class=HTMLResponse)
def create_token(
    request: Request, person: AdminPerson,
    name: Annotated[str, Form(max_length=200)], role: Annotated[str, Form(max_length=16)],
    expires_in_days: Annotated[int | None, Form()] = None, csrf_token: CsrfField = None,
) -> Response:  # fmt: skip
    """An auditor token, shown once on the page that answers (never stored, never in a URL);
    a token of a dual-control role is only asked for: once approved, the approving admin
    receives half B of it and the requester collects half A."""
    require_csrf(request, person, csrf_token)
    body = _checked(TokenCreate, name=name, role=role, expires_in_days=expires_in_days)
    lifetime = timedelta(days=body.expires_in_days or settings_of(request).token_lifetime_days)
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        if admin.needs_dual_control(body.role):
            row = admin.request_token(
                session, name=body.name, role=body.role, lifetime=lifetime,
                requester=_requester(person), ttl=_approval_ttl(request),
            )  # fmt: skip
            requested = admin.approval_view(row)
        else:
            requested = None
            token_id, token, expires_at = admin.create_token(
                session, name=body.name, role=body.role, lifetime=lifetime, actor=person.actor
            )
    if requested is not None:
        return _requested(request, person, requested)
    return render(
        request, "token_created.html",
        {"token": token, "token_id": token_id, "name": body.name, "role": body.role,
         "expires_at": expires_at, "approved": None},
        person=person,
    )  # fmt: skip


@router.post("/admin/approval-requests/{request_id}/approve", response_class=HTMLResponse)
def approve_request(
    request: Request, request_id: RequestId, person: AdminPerson, csrf_token: CsrfField = None
) -> Response:
    """A second admin approves and so carries out the change; half B of a new token is shown
    once, to the approver, on the page that answers (the requester collects half A). The
    requester is refused (403)."""
    require_csrf(request, person, csrf_token)
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        approval = admin.approve_request(
            session, request_id=request_id, approver=_requester(person)
        )
        view = admin.approval_view(approval.request)
    if approval.token_half is not None:
        return _token_half_page(request, person, view, approval.token_half, "B")
    return render(request, "approval_done.html", {"request": view}, person=person)


def _token_half_page(
    request: Request,
    person: auth.Person,
    view: dict[str, Any],
    half: admin.TokenHalf,
    which: Literal["A", "B"],
) -> Response:
    return render(
        request, "token_created.html",
        {"token": half.half, "half": which, "token_id": half.token_id,
         "name": view["token_name"], "role": view["role"], "expires_at": half.expires_at,
         "approved": view},
        person=person,
    )  # fmt: skip


@router.post("/admin/approval-requests/{request_id}/collect", response_class=HTMLResponse)
def collect_token_half(
    request: Request, request_id: RequestId, person: AdminPerson, csrf_token: CsrfField = None
) -> Response:
    """The requester collects half A of an approved token, once, on the page that answers;
    anyone else is refused (403)."""
    require_csrf(request, person, csrf_token)
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        half = admin.collect_token_half(
            session, request_id=request_id, collector=_requester(person)
        )
        view = admin.approval_view(admin.get_request(session, request_id=request_id))
    return _token_half_page(request, person, view, half, "A")


@router.post("/admin/approval-requests/{request_id}/reject", response_class=HTMLResponse)
def reject_request(
    request: Request, request_id: RequestId, person: AdminPerson, csrf_token: CsrfField = None
) -> Response:
    """Any admin refuses a pending request, or its requester withdraws it."""
    require_csrf(request, person, csrf_token)
    sessions = sessions_of(request)
    with write_guard(sessions), sessions() as session, session.begin():
        admin.reject_request(session, request_id=request_id, by=_requester(person))
    return RedirectResponse("/console/admin", status_code=303)
