"""A client generated from spec/openapi.json by a standard generator (openapi-python-client)
calls the live receiver: an analyst endpoint with a bearer token, and a signed read, an ASW
reading its own referral's status, signed (RFC 9421) by the SDK's request signer on the
generated client's httpx client. Refusals come back as the document's Problem model.

The client is generated into a temporary directory for each run; nothing generated is kept.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from strive_client._auth import RequestSigner
from strive_schema.httpsig import content_digest
from strive_server.openapi import OPENAPI_PATH

from .conftest import Receiver, fresh_referral

ROOT = Path(__file__).resolve().parents[2]
ASW = "generated-client-asw"
PACKAGE = "strive_generated_client"
UNSIGNED = "(set by the signer)"
"""What the caller passes for ``Signature-Input``: the signer replaces it."""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The package openapi-python-client generates from the committed document, imported."""
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    if generator is None:
        pytest.skip("openapi-python-client is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("generated")
    result = subprocess.run(
        [generator, "generate", "--path", str(ROOT / OPENAPI_PATH), "--meta", "none",
         "--output-path", str(out / PACKAGE)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def _submitted(receiver: Receiver) -> str:
    receiver.register_asw(ASW)
    document = fresh_referral(asw_id=ASW)
    with receiver.client(ASW) as client:
        client.submit_referral(document)
    return str(document["referral_id"])


def test_an_analyst_reads_a_referral_through_the_generated_client(
    generated: ModuleType, receiver: Receiver
) -> None:
    referral_id = _submitted(receiver)
    get_referral = _module("api.casework.get_referral")
    referral_view = _module("models.referral_view").ReferralView
    with generated.AuthenticatedClient(
        base_url=receiver.url, token=receiver.token("analyst")
    ) as client:
        response = get_referral.sync_detailed(referral_id, client=client)
    assert response.status_code == 200
    assert isinstance(response.parsed, referral_view)
    assert response.parsed.referral_id == referral_id
    assert response.parsed.asw_id == ASW
    assert response.parsed.document["referral_id"] == referral_id


def test_a_token_of_another_role_gets_the_problem_model(
    generated: ModuleType, receiver: Receiver
) -> None:
    referral_id = _submitted(receiver)
    get_referral = _module("api.casework.get_referral")
    problem = _module("models.problem").Problem
    with generated.AuthenticatedClient(
        base_url=receiver.url, token=receiver.token("auditor")
    ) as client:
        response = get_referral.sync_detailed(referral_id, client=client)
    assert response.status_code == 403
    assert isinstance(response.parsed, problem)
    assert str(response.parsed.code) == "forbidden"


def _status(client: Any, referral_id: str) -> Any:
    get_referral_status = _module("api.asw.get_referral_status")
    return get_referral_status.sync_detailed(
        referral_id, client=client, strive_asw_id=ASW, signature_input=UNSIGNED,
        content_digest=content_digest(b""),
    )  # fmt: skip


def test_an_asw_reads_its_referral_status_with_a_signed_request(
    generated: ModuleType, receiver: Receiver
) -> None:
    referral_id = _submitted(receiver)
    status_model = _module("models.asw_referral_status").AswReferralStatus
    signer = RequestSigner(receiver.keys[ASW], ASW)
    with generated.Client(base_url=receiver.url, httpx_args={"auth": signer}) as client:
        response = _status(client, referral_id)
    assert response.status_code == 200, response.content
    assert isinstance(response.parsed, status_model)
    assert response.parsed.referral_id == referral_id
    assert response.parsed.state == "received"


def test_an_unsigned_read_gets_a_problem_naming_the_missing_signature(
    generated: ModuleType, receiver: Receiver
) -> None:
    referral_id = _submitted(receiver)
    problem = _module("models.problem").Problem
    with generated.Client(base_url=receiver.url) as client:
        response = _status(client, referral_id)
    assert response.status_code in (400, 401)
    assert isinstance(response.parsed, problem)
    assert str(response.parsed.code) in {
        "request_signature_missing", "request_signature_malformed"
    }  # fmt: skip
