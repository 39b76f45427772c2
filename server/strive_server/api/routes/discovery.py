"""``GET /.well-known/strive-configuration``: the receiver's discovery document."""

from __future__ import annotations

from fastapi import APIRouter, Request

from strive_schema.envelope import (
    RECEIPT_PAYLOAD_TYPE,
    SUBMISSION_MAX_AGE,
    SUBMISSION_MAX_FUTURE,
    SUBMISSION_PAYLOAD_TYPE,
)
from strive_schema.httpsig import REQUEST_MAX_AGE, REQUEST_MAX_FUTURE
from strive_schema.models import SUPPORTED_SCHEMA_VERSIONS
from strive_schema.taxonomy import TAXONOMY_VERSION
from strive_server.api.deps import SettingsDep, public_origin
from strive_server.api.schemas import (
    Discovery,
    DiscoveryEndpoints,
    DiscoveryLimits,
    DiscoveryLog,
    JwkSet,
    PayloadTypes,
)

router = APIRouter(tags=["discovery"])


@router.get(
    "/.well-known/strive-configuration",
    operation_id="getConfiguration",
    response_model=Discovery,
    summary="The receiver's id, origin, versions, limits, endpoints and receipt-signing keys",
)
def get_configuration(request: Request, settings: SettingsDep) -> Discovery:
    return Discovery(
        receiver_id=settings.receiver_id,
        origin=public_origin(request, settings),
        supported_schema_versions=list(SUPPORTED_SCHEMA_VERSIONS),
        taxonomy_version=TAXONOMY_VERSION,
        payload_types=PayloadTypes(
            submission=SUBMISSION_PAYLOAD_TYPE, receipt=RECEIPT_PAYLOAD_TYPE
        ),
        limits=DiscoveryLimits(
            max_envelope_bytes=settings.max_envelope_bytes,
            max_batch_items=settings.max_batch_items,
            max_batch_bytes=settings.max_batch_bytes,
            submissions_per_minute=settings.rate_limit_per_minute,
            refused_submissions_per_minute=settings.refused_submission_limit_per_minute,
            signed_reads_per_minute=settings.signed_read_limit_per_minute,
            envelope_max_age_seconds=int(SUBMISSION_MAX_AGE.total_seconds()),
            envelope_max_future_seconds=int(SUBMISSION_MAX_FUTURE.total_seconds()),
            request_max_age_seconds=int(REQUEST_MAX_AGE.total_seconds()),
            request_max_future_seconds=int(REQUEST_MAX_FUTURE.total_seconds()),
        ),
        endpoints=DiscoveryEndpoints(
            submit_referral="/v1/referrals",
            submit_batch="/v1/referrals/batch",
            referral_status="/v1/referrals/{referral_id}/status",
            information_requests="/v1/information-requests",
            statistics="/v1/stats",
            recipient_outcomes="/v1/recipient/outcomes",
        ),
        jwks=JwkSet(keys=settings.published_jwks),
        log=DiscoveryLog(
            origin=settings.log_signer.name,
            vkey=settings.log_signer.verifier.vkey,
            prefix="/v1/log",
            max_merge_delay_seconds=settings.log_max_merge_delay_seconds,
            witnesses=[w.vkey for w in settings.log_witness_keys],
        ),
    )
