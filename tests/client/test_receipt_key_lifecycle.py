"""The SDK judges the receipt key's published lifecycle (spec/protocol.md, "Key lifecycle"):
a fresh receipt from a key retired or revoked by the time it arrives is refused with a
stable code, whatever ``received_at`` it claims; an accepted receipt says which rule let it
count. Sync and async clients, against the real receiver (SQLite and PostgreSQL), with its
discovery document rewritten to publish the lifecycle a misbehaving receiver would ignore."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from strive_client import DiscoveryInvalid, VerificationError
from strive_schema.envelope import format_timestamp

from .conftest import Clients, rewrite_json

DISCOVERY = "/.well-known/strive-configuration"


def publishing(**members: str) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        body["jwks"]["keys"][0].update(members)

    return change


def test_an_accepted_receipt_says_which_rule_applied(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    later = format_timestamp(datetime.now(UTC) + timedelta(days=30))
    interposer = clients.interposer()
    interposer.rewrite = rewrite_json(DISCOVERY, publishing(retired_at=later))
    result = clients(interposer=interposer).submit_referral(fresh)
    assert result.receipt_key is not None
    assert result.receipt_key.rule == "before_retirement"
    assert result.receipt_key.explanation == f"valid: signed before the key's retirement at {later}"


@pytest.mark.parametrize(
    ("member", "code"),
    [
        ("retired_at", "key_retired"),
        ("compromised_at", "key_revoked"),
        ("not_after", "key_expired"),
    ],
)
def test_a_receipt_key_outside_its_lifecycle_is_refused(
    clients: Clients, fresh: dict[str, Any], member: str, code: str
) -> None:
    """The receiver signs with a key its own discovery document says was retired, revoked
    or expired an hour ago: the SDK refuses the receipt."""
    past = format_timestamp(datetime.now(UTC) - timedelta(hours=1))
    interposer = clients.interposer()
    interposer.rewrite = rewrite_json(DISCOVERY, publishing(**{member: past}))
    with pytest.raises(VerificationError) as caught:
        clients(interposer=interposer).submit_referral(fresh)
    assert caught.value.code == code
    assert past in caught.value.detail


def test_a_backdated_receipt_from_a_key_compromised_since_is_refused(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    """The receipt's received_at is before the compromise time, but the client gets it
    after: a thief of the receipt key can claim any received_at, so the client's own clock
    decides."""
    soon = datetime.now(UTC) + timedelta(minutes=1)
    interposer = clients.interposer()
    interposer.rewrite = rewrite_json(DISCOVERY, publishing(compromised_at=format_timestamp(soon)))
    client = clients(interposer=interposer, clock=lambda: soon + timedelta(minutes=1))
    with pytest.raises(VerificationError) as caught:
        client.submit_referral(fresh)
    assert caught.value.code == "key_revoked"


def test_a_published_lifecycle_member_that_is_no_timestamp_is_named(clients: Clients) -> None:
    interposer = clients.interposer()
    interposer.rewrite = rewrite_json(DISCOVERY, publishing(not_after="next year"))
    with pytest.raises(DiscoveryInvalid) as caught:
        clients(interposer=interposer).get_configuration()
    assert caught.value.pointer == "/jwks/keys/0/not_after"
