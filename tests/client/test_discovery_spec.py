"""spec/api.md's discovery section against the real receiver: the example has every member the
receiver publishes (and no other), the tables document every key of ``limits`` and
``endpoints``, and the SDK reads the example."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from strive_client import StriveClient
from strive_schema.keys import SigningKey

from ..conftest import ROOT
from ..server.conftest import Receiver

API = (ROOT / "spec" / "api.md").read_text(encoding="utf-8")


def spec_example() -> dict[str, Any]:
    section = API[API.index("## Discovery") : API.index("## Who may do what")]
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block is not None
    example: dict[str, Any] = json.loads(block.group(1))
    return example


def test_the_spec_example_has_the_receivers_members(receiver: Receiver) -> None:
    live = httpx.get(f"{receiver.url}/.well-known/strive-configuration").json()
    example = spec_example()
    assert set(example) == set(live)
    assert set(example["limits"]) == set(live["limits"])
    assert example["endpoints"] == live["endpoints"]
    assert set(example["payload_types"]) == set(live["payload_types"])
    section = API[API.index("## Discovery") : API.index("## Who may do what")]
    for name in [*live, *live["limits"], *live["endpoints"]]:
        assert f"`{name}`" in section, name


def test_the_sdk_reads_the_spec_example() -> None:
    example = spec_example()
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, json=example))
    with StriveClient(
        "https://referrals.police.example",
        asw_id="example-adverts",
        key=SigningKey.generate(),
        transport=transport,
    ) as client:
        discovery = client.get_configuration()
        keys = client.receiver_keys()
    assert discovery.origin == "https://referrals.police.example"
    assert discovery.limits.request_max_age_seconds == 300
    assert [key.key_id for key in keys] == [example["jwks"]["keys"][0]["kid"]]
