"""Evidence files (spec/evidence-files.md): an ASW uploads each file its signed referral
declared; analysts read them through an audited call that names a reason."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from strive_schema._types import LOCAL_ID_PATTERN
from strive_schema.codes import ProblemCode
from strive_schema.semantics import Finding
from strive_server.api.contract import ASW_SIGNATURE, authenticated_by, problems
from strive_server.api.deps import (
    SessionsDep,
    SettingsDep,
    User,
    authenticated_asw_upload,
    require_roles,
)
from strive_server.api.schemas import AttachmentReceipt
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.problems import Problem, parameter_pointer
from strive_server.services import casework
from strive_server.services.attachments import (
    UploadTarget,
    check_before_body,
    check_received,
    inspect_file,
    open_content,
    record_upload,
    staging_file,
    store_encrypted,
)
from strive_server.services.evidence_store import EncryptingWriter, store_for

router = APIRouter(tags=["evidence files"])
_FILE_BODY: Final = {
    "required": True,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}

AttachmentId = Annotated[str, PathParam(pattern=LOCAL_ID_PATTERN, max_length=64)]
AnalystDep = Annotated[User, require_roles("analyst", "supervisor")]
MIN_REASON_CHARS: Final = 10
"""The shortest reason an audited file read accepts (after collapsing whitespace)."""
ATTACHMENT_CSP: Final = "sandbox; default-src 'none'"
"""Served files never run: a browser that renders one anyway gives it no script, no origin."""


@router.put(
    "/v1/referrals/{referral_id}/attachments/{attachment_id}",
    operation_id="uploadAttachment",
    summary="An ASW uploads a file its referral declared (signed request, Content-Digest)",
    status_code=201,
    response_model=AttachmentReceipt,
    responses={
        200: {"model": AttachmentReceipt, "description": "Already received"},
    },
    openapi_extra={
        **authenticated_by(ASW_SIGNATURE),
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
    },
)
async def upload_attachment(
    referral_id: str,
    attachment_id: AttachmentId,
    request: Request,
    settings: SettingsDep,
    sessions: SessionsDep,
) -> JSONResponse:
    caller = await authenticated_asw_upload(request, settings, sessions)
    with sessions() as session:
        target = check_before_body(
            session, asw_id=caller.asw_id, referral_id=referral_id, attachment_id=attachment_id,
            signed_sha256=caller.sha256, content_length=request.headers.get("content-length"),
            content_type=request.headers.get("content-type"), settings=settings,
        )  # fmt: skip
    if target.replay is not None:
        return JSONResponse(jsonable_encoder(target.replay), status_code=200)
    out, path = staging_file(settings)
    try:
        writer = EncryptingWriter(out, key=settings.evidence_key, sha256=target.declared.sha256)
        size, sha256 = await _receive(request, out, writer, target)
        check_received(target, size=size, sha256=sha256)
        status, answer = await run_in_threadpool(
            _check_store_record, path, target, caller.key_id, settings, sessions
        )
    finally:
        path.unlink(missing_ok=True)
    return JSONResponse(jsonable_encoder(answer), status_code=status)


async def _receive(
    request: Request, out: Any, writer: EncryptingWriter, target: UploadTarget
) -> tuple[int, str]:
    """Stream the body, encrypted as it arrives, to the staging file, hashing the plaintext;
    never more than declared. The object becomes visible in the store only after every
    check (size, SHA-256, magic bytes, image limits) has passed."""
    digest = hashlib.sha256()
    size = 0
    with out:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > target.declared.size_bytes:
                    raise Problem(
                        422, ProblemCode.ATTACHMENT_SIZE_MISMATCH,
                        f"more than the {target.declared.size_bytes} bytes the referral declared",
                    )  # fmt: skip
                digest.update(chunk)
                writer.write(chunk)
        except ClientDisconnect:
            raise Problem(
                400, ProblemCode.ATTACHMENT_INCOMPLETE,
                "the client left before the file was complete; nothing was kept, send it again",
            ) from None  # fmt: skip
        writer.finish()
    return size, digest.hexdigest()


def _check_store_record(
    path: Path, target: UploadTarget, key_id: str, settings: Settings, sessions: SessionsDep
) -> tuple[int, dict[str, Any]]:
    from datetime import UTC, datetime  # noqa: PLC0415

    inspection = inspect_file(
        path, target.declared, settings, child=target.child, key=settings.evidence_key
    )
    store = store_for(settings)
    stored_now = store_encrypted(store, path, target.declared.sha256)
    try:
        return record_upload(
            sessions, target=target, inspection=inspection, key_id=key_id, settings=settings,
            now=datetime.now(UTC),
        )  # fmt: skip
    except BaseException:
        if stored_now:
            _forget_unreferenced(store, target.declared.sha256, sessions)
        raise


def _forget_unreferenced(store: Any, sha256: str, sessions: SessionsDep) -> None:
    """A refused request leaves nothing stored: remove the object this request wrote unless
    a row (a concurrent upload of the same file) refers to it."""
    import sqlalchemy as sa  # noqa: PLC0415

    with sessions() as session:
        held = session.scalar(
            sa.select(sa.func.count()).where(tables.ReferralAttachment.sha256 == sha256)
        )
    if not held:
        store.delete(sha256)


@router.get(
    "/v1/referrals/{referral_id}/attachments/{attachment_id}",
    operation_id="getAttachment",
    summary="An analyst reads a received file, naming a reason (audited)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The file, with the media type its referral declared",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        **problems(
            s403="Not allowed, or a quarantined file (`attachment_quarantined`)",
            s404="No such referral or file, or not received (`attachment_not_received`)",
        ),
    },
)
def get_attachment(
    referral_id: str,
    attachment_id: AttachmentId,
    user: AnalystDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    asw_id: Annotated[
        str | None, Query(description="Choose the ASW when several used the same referral id.")
    ] = None,
    reason_header: Annotated[
        str | None,
        Header(
            alias="Strive-Reason",
            max_length=2000,
            description=f"Why you open the file (required, at least {MIN_REASON_CHARS} "
            "characters); kept in the audit trail. Only a header: a query string lands in "
            "access logs.",
        ),
    ] = None,
) -> StreamingResponse:
    why = check_reason(reason_header)
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id)
        attachment, chunks = open_content(
            session, row, attachment_id, actor=user.actor, reason=why, settings=settings
        )
        media_type, size = attachment.media_type, attachment.size_bytes
    return StreamingResponse(chunks, media_type=media_type, headers=content_headers(
        attachment_id, size))  # fmt: skip


def check_reason(value: str | None) -> str:
    """A reason for an audited file read: at least ``MIN_REASON_CHARS`` characters, some of
    them letters, so "." or "x" is not an audit trail."""
    why = " ".join((value or "").split())
    if len(why) < MIN_REASON_CHARS or not any(c.isalpha() for c in why):
        raise Problem(
            422, ProblemCode.REASON_REQUIRED,
            f"opening a file needs a reason of at least {MIN_REASON_CHARS} characters "
            "(Strive-Reason header)",
            errors=[Finding(parameter_pointer("header", "Strive-Reason"),
                            ProblemCode.REASON_REQUIRED, "required")],
        )  # fmt: skip
    return why


def content_headers(attachment_id: str, size: int) -> dict[str, str]:
    """The headers every served file carries: downloaded, never sniffed, never run."""
    return {
        "Content-Disposition": f'attachment; filename="{attachment_id}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": ATTACHMENT_CSP,
        "Cache-Control": "no-store",
        "Content-Length": str(size),
    }
