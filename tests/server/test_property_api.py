"""A property-based run of the whole API: schemathesis generates requests from the live
receiver's own OpenAPI document (the one committed as spec/openapi.json), unauthenticated and
with each role's token, on SQLite and PostgreSQL. No request gets a 5xx, and every response is
one the document describes: a documented status, its media type, its headers and a body that
validates against its schema (a problem document for every refusal)."""

from __future__ import annotations

from typing import Any, Final

import requests
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup

from strive_server.db import tables

from .conftest import Receiver, fresh_referral

ASW = "example-adverts"
ROLES: Final = (None, "auditor", "analyst", "supervisor", "admin")
"""Admin last: an admin run may revoke tokens (its own included)."""
# A batch is NDJSON text (its schema is a string): send generated strings as they are.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
EXAMPLES_PER_OPERATION: Final = 6
"""Per operation, role and generation mode: enough to reach every parameter, bounded so a run
takes a minute or two per database on a small machine."""
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def seed(receiver: Receiver) -> dict[str, str]:
    """Two linked referrals, so referral, cluster and selector reads find something; returns
    the path parameters that name them."""
    receiver.register_asw(ASW)
    referral_ids = []
    with receiver.client(ASW) as client:
        for _ in range(2):
            document = fresh_referral(asw_id=ASW)
            document.update(is_test=False, phones=[{"id": "ph", "raw": "07700 900123"}])
            client.submit_referral(document)
            referral_ids.append(str(document["referral_id"]))
    with receiver.session() as session:
        cluster_id = session.scalar(
            sa.select(tables.Referral.cluster_id).where(
                tables.Referral.referral_id == referral_ids[0]
            )
        )
    return {"referral_id": referral_ids[0], "cluster_id": str(cluster_id)}


def aim_at_seeded(case: Any, seeded: dict[str, str]) -> None:
    """Point the path parameters of a positive case at the seeded rows, so responses about
    real referrals and clusters are checked too, not only 404s."""
    for name in case.path_parameters or {}:
        if name in seeded:
            case.path_parameters[name] = seeded[name]


def failures_of(
    operation: Any, mode: GenerationMode, *, base_url: str, session: requests.Session,
    headers: dict[str, str], caller: str, seeded: dict[str, str],
) -> list[str]:  # fmt: skip
    """Every generated request of one operation whose response is a 5xx or is not what the
    document describes (all of them, unshrunk), with the checks it failed."""
    found: list[str] = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        if mode is GenerationMode.POSITIVE:
            aim_at_seeded(case, seeded)
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Failure, FailureGroup) as exc:
            failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            titles = "; ".join(f"{f.title}: {f.message[:200]}" for f in failures)
            found.append(
                f"{caller}: {case.method} {case.formatted_path} "
                f"-> {response.status_code} {response.text[:200]} [{titles}]"
            )

    try:
        call()
    except Unsatisfiable:  # nothing in the operation can be made invalid
        assert mode is GenerationMode.NEGATIVE
    return found


def test_every_generated_request_gets_a_documented_answer(receiver: Receiver) -> None:
    seeded = seed(receiver)
    schema = schemathesis.openapi.from_url(f"{receiver.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    failures: list[str] = []
    with requests.Session() as session:
        for role in ROLES:
            for number, operation in enumerate(operations):
                headers: dict[str, str] = {}
                if role is not None:  # a fresh token per operation, in case one was revoked
                    token = receiver.token(role, name=f"property-{role}-{number}")
                    headers["Authorization"] = f"Bearer {token}"
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    failures += failures_of(
                        operation, mode, base_url=receiver.url, session=session,
                        headers=headers, caller=role or "anonymous", seeded=seeded,
                    )  # fmt: skip
    assert failures == [], "\n".join(failures)
