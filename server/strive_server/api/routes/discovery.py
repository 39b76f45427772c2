"""``GET /.well-known/strive-configuration``: the receiver's discovery document."""

from __future__ import annotations

from fastapi import APIRouter

from strive_schema.envelope import RECEIPT_PAYLOAD_TYPE, SUBMISSION_PAYLOAD_TYPE
from strive_schema.models import SCHEMA_VERSION
from strive_schema.taxonomy import TAXONOMY_VERSION
from strive_server.api.deps import SettingsDep
from strive_server.api.schemas import Discovery

router = APIRouter(tags=["discovery"])


@router.get(
    "/.well-known/strive-configuration",
    operation_id="getConfiguration",
    response_model=Discovery,
    summary="The receiver's id, versions, limits, endpoints and receipt-signing keys",
)
def get_configuration(settings: SettingsDep) -> Discovery:
    return Discovery(
        receiver_id=settings.receiver_id,
        supported_schema_versions=[SCHEMA_VERSION],
        taxonomy_version=TAXONOMY_VERSION,
        payload_types={"submission": SUBMISSION_PAYLOAD_TYPE, "receipt": RECEIPT_PAYLOAD_TYPE},
        limits={
            "max_envelope_bytes": settings.max_envelope_bytes,
            "max_batch_items": settings.max_batch_items,
            "max_batch_bytes": settings.max_batch_bytes,
            "submissions_per_minute": settings.rate_limit_per_minute,
            "envelope_max_age_seconds": 900,
            "envelope_max_future_seconds": 300,
        },
        endpoints={
            "submit_referral": "/v1/referrals",
            "submit_batch": "/v1/referrals/batch",
            "referral_status": "/v1/referrals/{referral_id}/status",
            "information_requests": "/v1/information-requests",
            "statistics": "/v1/stats",
        },
        jwks={"keys": [key.to_jwk() for key in settings.published_keys]},
    )
