"""The transparency log's read API (c2sp.org/tlog-tiles under ``/v1/log/``) and its witness
cosignature intake (spec/transparency-log.md, "Access" and "Witnesses").

Readers: every registered ASW (signed request, as for status reads), every law-enforcement
token holder (bearer token, any role), and configured witnesses (a request signed with the
witness's cosigner key, naming it in ``Strive-Witness-Id``). Nobody else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_schema.errors import LogCode, LogError
from strive_schema.keys import PublicKey
from strive_schema.tlog import parse_tile_path
from strive_server.api.contract import (
    LOG_READER,
    WITNESS_SIGNATURE,
    authenticated_by,
    authenticates,
    problems,
)
from strive_server.api.deps import (
    SessionsDep,
    SettingsDep,
    _Signer,
    _verify_signed_request,
    authenticated_asw,
    bearer_user,
)
from strive_server.core.config import Settings
from strive_server.problems import Problem
from strive_server.services import tlog
from strive_server.services.key_lifecycle import JudgedKey

router = APIRouter(tags=["transparency log"])

_IMMUTABLE = "private, max-age=31536000, immutable"
_SHORT = "private, max-age=1, must-revalidate"
_LEAF_HASH = re.compile(r"[0-9a-f]{64}")
MAX_COSIGNED_NOTE_BYTES = 16 * 1024


_TILE_RESPONSES: Final = {
    200: {
        "description": "The tile or entry bundle (c2sp.org/tlog-tiles), immutable when full",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    **problems(404, s404="No such tile or bundle in the log yet"),
}


def _witness_keys(
    settings: Settings,
) -> Callable[[Session, str, datetime], tuple[list[PublicKey], list[JudgedKey]]]:
    """The configured witness of this name's cosigner key (it signs its reads too)."""

    def keys(
        _session: Session, name: str, _now: datetime
    ) -> tuple[list[PublicKey], list[JudgedKey]]:
        found = [PublicKey.from_raw(w.public) for w in settings.log_witness_keys if w.name == name]
        return found, []

    return keys


def _no_quota(_session: Session, _name: str, _now: datetime, _settings: Settings) -> None:
    """Witnesses are few and configured by the operator: no per-witness quota."""


@authenticates(LOG_READER)
async def log_reader(request: Request, settings: SettingsDep, sessions: SessionsDep) -> str:
    """Who reads the log: a bearer token of any role, a registered ASW's signed request, or a
    configured witness's signed request; anyone else gets 401."""
    if "authorization" in request.headers:
        user = bearer_user(request, sessions)
        return f"user:{user.name}"
    if request.headers.get("strive-witness-id"):
        signer = _Signer("Strive-Witness-Id", "the witness", _witness_keys(settings), _no_quota)
        verified = await _verify_signed_request(request, settings, sessions, signer)
        return f"witness:{verified.signer_id}"
    if request.headers.get("strive-asw-id"):
        asw = await authenticated_asw(request, settings, sessions)
        return f"asw:{asw.asw_id}"
    raise Problem(
        401,
        ProblemCode.AUTHENTICATION_REQUIRED,
        "the log is read with a bearer token, or a request signed by a registered ASW "
        "(Strive-Asw-Id) or a configured witness (Strive-Witness-Id)",
        headers={"WWW-Authenticate": 'Bearer realm="strive"'},
    )


ReaderDep = Annotated[str, Depends(log_reader)]


def _octets(data: bytes, full: bool) -> Response:
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": _IMMUTABLE if full else _SHORT},
    )


def _not_found(what: str) -> Problem:
    return Problem(404, ProblemCode.NOT_FOUND, f"the log has no such {what}")


@router.get(
    "/v1/log/checkpoint",
    operation_id="getLogCheckpoint",
    summary="The newest signed checkpoint with accepted witness cosignatures (signed note)",
    response_class=Response,
    responses={
        200: {
            "description": "The newest checkpoint, a signed note (c2sp.org/tlog-checkpoint)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **problems(404, s404="The log has no checkpoint yet"),
    },
)
def get_checkpoint(_reader: ReaderDep, sessions: SessionsDep) -> Response:
    with sessions() as session:
        note = tlog.checkpoint_note(session.connection())
    if note is None:
        raise _not_found("checkpoint yet")
    return Response(
        note.encode(),
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": _SHORT},
    )


@router.get(
    "/v1/log/tile/entries/{path:path}",
    operation_id="getLogEntryBundle",
    summary="An entry bundle: entries/<N>[.p/<W>] (c2sp.org/tlog-tiles)",
    response_class=Response,
    responses=_TILE_RESPONSES,
)
def get_entry_bundle(path: str, reader: ReaderDep, sessions: SessionsDep) -> Response:
    if reader.startswith("asw:"):
        # An ASW proves inclusion with hash tiles and the lookup; the entries themselves
        # (and when each was added) are for law enforcement and witnesses only.
        raise Problem(
            403, ProblemCode.FORBIDDEN, "entry bundles are served to law enforcement and witnesses"
        )
    try:
        tile = parse_tile_path(f"tile/entries/{path}")
    except ValueError:
        raise _not_found("entry bundle") from None
    with sessions() as session:
        data = tlog.read_entries(session.connection(), tile.index, tile.width)
    if data is None:
        raise _not_found("entry bundle")
    return _octets(data, tile.full)


@router.get(
    "/v1/log/tile/{level}/{path:path}",
    operation_id="getLogTile",
    summary="A hash tile: <L>/<N>[.p/<W>] (c2sp.org/tlog-tiles)",
    response_class=Response,
    responses=_TILE_RESPONSES,
)
def get_tile(level: str, path: str, _reader: ReaderDep, sessions: SessionsDep) -> Response:
    try:
        tile = parse_tile_path(f"tile/{level}/{path}")
    except ValueError:
        raise _not_found("tile") from None
    with sessions() as session:
        data = tlog.read_tile(session.connection(), tile)
    if data is None:
        raise _not_found("tile")
    return _octets(data, tile.full)


class LogLookup(BaseModel):
    """Where an entry is: its leaf index within the newest checkpoint's tree."""

    leaf_index: int = Field(ge=0)
    tree_size: int = Field(ge=1)


@router.get(
    "/v1/log/lookup/{leaf_hash}",
    operation_id="lookupLogEntry",
    summary="The leaf index of the entry with this leaf hash (lower-case hex)",
    response_model=LogLookup,
)
def lookup_entry(leaf_hash: str, _reader: ReaderDep, sessions: SessionsDep) -> LogLookup:
    if _LEAF_HASH.fullmatch(leaf_hash) is None:
        raise Problem(422, ProblemCode.REQUEST_INVALID, "a leaf hash is 64 lower-case hex digits")
    with sessions() as session:
        conn = session.connection()
        index = tlog.lookup(conn, bytes.fromhex(leaf_hash))
        size = tlog.latest_size(conn)
    if index is None:
        raise Problem(
            404, LogCode.ENTRY_UNKNOWN, "no entry with this leaf hash in the newest checkpoint"
        )
    return LogLookup(leaf_index=index, tree_size=size)


class CosignatureAccepted(BaseModel):
    """The witnesses whose cosignatures were stored."""

    accepted: list[str]


_COSIGNATURE_STATUS = {
    LogCode.CHECKPOINT_MALFORMED: 400,
    LogCode.CHECKPOINT_UNKNOWN: 409,
    LogCode.COSIGNER_UNKNOWN: 403,
    LogCode.COSIGNATURE_INVALID: 422,
}


@router.post(
    "/v1/log/cosignature",
    operation_id="addLogCosignature",
    summary="A configured witness adds its cosignature to a checkpoint (the cosigned note)",
    response_model=CosignatureAccepted,
    responses=problems(403, 409, 413, s403="A witness this receiver does not know"),
    openapi_extra={
        **authenticated_by(WITNESS_SIGNATURE),
        "requestBody": {
            "required": True,
            "description": "The cosigned checkpoint note (c2sp.org/signed-note).",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    },
)
async def add_cosignature(
    request: Request, settings: SettingsDep, sessions: SessionsDep
) -> CosignatureAccepted:
    if not request.headers.get("strive-witness-id"):
        raise Problem(
            401,
            ProblemCode.AUTHENTICATION_REQUIRED,
            "a cosignature is sent by a configured witness, signed (Strive-Witness-Id)",
        )
    signer = _Signer("Strive-Witness-Id", "the witness", _witness_keys(settings), _no_quota)
    verified = await _verify_signed_request(request, settings, sessions, signer)
    if len(verified.body) > MAX_COSIGNED_NOTE_BYTES:
        detail = f"the body may be at most {MAX_COSIGNED_NOTE_BYTES} bytes"
        raise Problem(413, ProblemCode.BODY_TOO_LARGE, detail)
    try:
        with sessions() as session, session.begin():
            accepted = tlog.add_cosignature(
                session.connection(),
                verified.body,
                settings.log_witness_keys,
                settings.log_signer.verifier,
                sender=verified.signer_id,
            )
    except LogError as exc:
        raise Problem(_COSIGNATURE_STATUS.get(exc.code, 422), exc.code, exc.detail) from None
    except sa.exc.IntegrityError:
        detail = "a concurrent cosignature; send it again"
        raise Problem(409, ProblemCode.CONFLICT, detail) from None
    return CosignatureAccepted(accepted=accepted)
