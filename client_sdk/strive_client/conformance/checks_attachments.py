"""Receiver checks: evidence files (spec/evidence-files.md), an optional feature of the
receiver class.

The suite submits one sandbox referral declaring two small text files and uploads them with
signed requests as an ASW does: one is uploaded at once (and again, to see that uploads are
idempotent), the other is first refused every way the spec names a code for (unsigned,
undeclared, a signed digest other than the declared one, a body other than the declared
one, a media type other than the declared one) and then uploaded, which shows the refusals
left nothing behind. With ``--analyst-token`` the first file is read back as an analyst.

Nothing in discovery says whether a receiver takes files: a receiver whose upload route
answers 404 or 405 for a referral it has just acknowledged is taken not to, and every check
here skips as not applicable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

import httpx

from ._framework import Failed, Registry, Skipped
from ._session import Accepted, ReceiverSession, describe, json_object

checks: Registry[ReceiverSession] = Registry("attachments")

UPLOAD = "evidence-files.md#uploading-a-file"
READING = "evidence-files.md#reading-a-file"
MEDIA_TYPE: Final = "text/plain"
NOTE: Final = b"Strive conformance suite: a sandbox evidence file; nothing real.\n"
OTHER: Final = b"Strive conformance suite: the second sandbox evidence file.....\n"
READ_REASON: Final = "Strive conformance suite: reading back a sandbox evidence file"


@dataclass(frozen=True)
class File:
    id: str
    content: bytes

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.content).digest()

    def declaration(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256.hex(),
            "size_bytes": len(self.content),
            "media_type": MEDIA_TYPE,
            "relevance": "A sandbox file sent by the conformance suite.",
        }


FIRST: Final = File("conformance-note", NOTE)
SECOND: Final = File("conformance-refused", OTHER)


def _referral(session: ReceiverSession) -> Accepted:
    """The sandbox referral declaring both files, submitted once."""
    cached = session.shared.get("attach_referral")
    if isinstance(cached, Accepted):
        return cached
    if "attach_error" in session.shared:
        raise Skipped(str(session.shared["attach_error"]))
    try:
        referral = session.new_referral(attachments=[FIRST.declaration(), SECOND.declaration()])
        accepted = session.accept(referral)
    except Failed as exc:
        session.shared["attach_error"] = f"needs a referral declaring files ({exc})"
        raise Skipped(session.shared["attach_error"]) from None
    session.shared["attach_referral"] = accepted
    return accepted


def _path(session: ReceiverSession, attachment_id: str, referral_id: str | None = None) -> str:
    if referral_id is None:
        referral_id = str(_referral(session).referral["referral_id"])
    return f"/v1/referrals/{referral_id}/attachments/{attachment_id}"


def put(
    session: ReceiverSession,
    path: str,
    body: bytes,
    *,
    signed_sha256: bytes | None = None,
    content_type: str = MEDIA_TYPE,
    signed: bool = True,
) -> httpx.Response:
    """Upload ``body`` to ``path``, signed for ``signed_sha256`` (default: the body's)."""
    digest = hashlib.sha256(body).digest() if signed_sha256 is None else signed_sha256
    headers = {"Content-Type": content_type, "Strive-Asw-Id": session.asw_id}
    if signed:
        headers.update(session.signed_headers("PUT", path, body_sha256=digest))
    return session.http.put(path, content=body, headers=headers)


def _applicable(session: ReceiverSession) -> None:
    if "attach_none" in session.shared:
        raise Skipped(str(session.shared["attach_none"]))


def _expect_stored(response: httpx.Response, file: File, *, status: int, replayed: bool) -> None:
    if response.status_code != status:
        raise Failed(f"the upload of {file.id} got {describe(response)}, not {status}")
    body = json_object(response)
    expected = {
        "attachment_id": file.id,
        "sha256": file.sha256.hex(),
        "size_bytes": len(file.content),
        "media_type": MEDIA_TYPE,
        "replayed": replayed,
    }
    wrong = {k: body.get(k) for k, v in expected.items() if body.get(k) != v}
    if wrong or not isinstance(body.get("received_at"), str):
        raise Failed(f"the {status} answer differs from the declaration: {wrong or body}")


@checks.add("R-ATTACH-01", "MUST", UPLOAD, "a signed upload of a declared file -> 201")
def upload(session: ReceiverSession) -> str:
    response = put(session, _path(session, FIRST.id), FIRST.content)
    if response.status_code in (404, 405):
        got = describe(response)
        session.shared["attach_none"] = f"not applicable: the receiver takes no files ({got})"
        raise Skipped(session.shared["attach_none"])
    _expect_stored(response, FIRST, status=201, replayed=False)
    session.shared["attach_first_answer"] = json_object(response)
    return f"201 with the declared digest, size and type of {FIRST.id}"


@checks.add(
    "R-ATTACH-02", "MUST", UPLOAD, "the same upload again -> 200 replayed, the first answer"
)
def upload_idempotent(session: ReceiverSession) -> str:
    _applicable(session)
    first = session.shared.get("attach_first_answer")
    if not isinstance(first, dict):
        raise Skipped("needs the upload of R-ATTACH-01")
    response = put(session, _path(session, FIRST.id), FIRST.content)
    _expect_stored(response, FIRST, status=200, replayed=True)
    if json_object(response).get("received_at") != first.get("received_at"):
        raise Failed("the replayed answer has another received_at than the first")
    return "200, replayed, with the first answer's received_at"


@checks.add("R-ATTACH-03", "MUST", UPLOAD, "an unsigned upload -> 401 request_signature_missing")
def upload_unsigned(session: ReceiverSession) -> str:
    _applicable(session)
    response = put(session, _path(session, SECOND.id), SECOND.content, signed=False)
    return session.expect_problem(response, 401, "request_signature_missing")


@checks.add(
    "R-ATTACH-04", "MUST", UPLOAD, "an undeclared attachment id -> 422 attachment_not_declared"
)
def upload_undeclared(session: ReceiverSession) -> str:
    _applicable(session)
    response = put(session, _path(session, "conformance-undeclared"), SECOND.content)
    return session.expect_problem(response, 422, "attachment_not_declared")


@checks.add(
    "R-ATTACH-05",
    "MUST",
    UPLOAD,
    "a signed digest not the declared one -> 422 attachment_digest_mismatch",
)
def upload_other_digest(session: ReceiverSession) -> str:
    _applicable(session)
    other = SECOND.content.replace(b"second", b"SECOND")
    response = put(session, _path(session, SECOND.id), other)
    return session.expect_problem(response, 422, "attachment_digest_mismatch")


@checks.add(
    "R-ATTACH-06", "MUST", UPLOAD, "a body not the declared file -> 422 attachment_digest_mismatch"
)
def upload_other_body(session: ReceiverSession) -> str:
    _applicable(session)
    other = SECOND.content.replace(b"second", b"SECOND")  # same size, other bytes
    response = put(session, _path(session, SECOND.id), other, signed_sha256=SECOND.sha256)
    return session.expect_problem(response, 422, "attachment_digest_mismatch")


@checks.add(
    "R-ATTACH-07",
    "MUST",
    UPLOAD,
    "a media type not the declared one -> 422 attachment_type_mismatch",
)
def upload_other_type(session: ReceiverSession) -> str:
    _applicable(session)
    response = put(session, _path(session, SECOND.id), SECOND.content, content_type="image/png")
    return session.expect_problem(response, 422, "attachment_type_mismatch")


@checks.add("R-ATTACH-08", "MUST", UPLOAD, "refused uploads stored nothing: the file then gets 201")
def refusals_store_nothing(session: ReceiverSession) -> str:
    _applicable(session)
    response = put(session, _path(session, SECOND.id), SECOND.content)
    _expect_stored(response, SECOND, status=201, replayed=False)
    return f"{SECOND.id}, refused four ways before, is stored now (201, not a replay)"


@checks.add("R-ATTACH-09", "MUST", UPLOAD, "a referral that is not the ASW's -> 404 not_found")
def upload_unknown_referral(session: ReceiverSession) -> str:
    _applicable(session)
    path = _path(session, FIRST.id, referral_id=str(session.new_referral()["referral_id"]))
    return session.expect_problem(put(session, path, FIRST.content), 404, "not_found")


@checks.add("R-ATTACH-10", "MUST", READING, "an ASW's signature does not read a file -> 401")
def asw_cannot_read(session: ReceiverSession) -> str:
    _applicable(session)
    response = session.signed_get(_path(session, FIRST.id))
    return session.expect_problem(response, 401, "authentication_required")


def _analyst_get(session: ReceiverSession, reason: str | None) -> httpx.Response:
    if session.analyst_token is None:
        raise Skipped("not tested: needs --analyst-token")
    headers = {"Authorization": f"Bearer {session.analyst_token}"}
    if reason is not None:
        headers["Strive-Reason"] = reason
    path = _path(session, FIRST.id) + f"?asw_id={session.asw_id}"
    return session.http.get(path, headers=headers)


@checks.add(
    "R-ATTACH-11", "MUST", READING, "an analyst's read without a reason -> 422 reason_required"
)
def read_needs_reason(session: ReceiverSession) -> str:
    _applicable(session)
    return session.expect_problem(_analyst_get(session, None), 422, "reason_required")


@checks.add("R-ATTACH-12", "MUST", READING, "an analyst reads the file as sent, as a download")
def read_back(session: ReceiverSession) -> str:
    _applicable(session)
    if "attach_first_answer" not in session.shared:
        raise Skipped("needs the upload of R-ATTACH-01")
    response = _analyst_get(session, READ_REASON)
    if response.status_code != 200:
        raise Failed(f"the analyst's read got {describe(response)}, not 200")
    if response.content != FIRST.content:
        raise Failed("the file read back is not the bytes uploaded")
    expected = {
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
    }
    wrong = [k for k, v in expected.items() if response.headers.get(k, "").lower() != v]
    if not response.headers.get("content-disposition", "").startswith("attachment"):
        wrong.append("content-disposition")
    if not response.headers.get("content-security-policy", "").startswith("sandbox"):
        wrong.append("content-security-policy")
    if wrong:
        raise Failed(f"the file is served without the download headers: {', '.join(wrong)}")
    return "the exact bytes, with Content-Disposition: attachment, nosniff, sandbox, no-store"
