"""Sealing and opening packages through strive_schema.sealed: round trips and refusals."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import pytest

from strive_schema.errors import KeyFormatError, SealedCode, SealedPackageError
from strive_schema.keys import SigningKey
from strive_schema.sealed import (
    Grading,
    PackageFile,
    PackageManifest,
    RecipientDecryptionKeys,
    RecipientPublicKey,
    SealSuite,
    build_package_payload,
    open_package,
    seal_package,
)

RECEIVER = SigningKey.generate()


def _payload(recipient_id: str = "force-a") -> bytes:
    return build_package_payload(
        PackageManifest(
            dissemination_id="dis-1",
            receiver_id="receiver.example",
            recipient_id=recipient_id,
            issued_at=datetime(2026, 12, 1, tzinfo=UTC),
            reason="area",
            grading=Grading("1", "A", "P"),
            referrals=(("asw", "r1"),),
            files=(PackageFile("p.json", "application/json", b"{}"),),
        )
    )


@pytest.mark.parametrize("suite", list(SealSuite))
def test_round_trip_through_the_key_files(suite: SealSuite) -> None:
    keys = RecipientDecryptionKeys.generate()
    public = next(k for k in keys.public_keys() if k.suite is suite)
    published = RecipientPublicKey.from_jwk(json.loads(json.dumps(public.to_jwk())))
    sealed = seal_package(
        _payload(), receiver_keys=[RECEIVER], recipient_key=published,
        recipient_id="force-a", receiver_id="receiver.example",
    )  # fmt: skip
    assert json.loads(sealed)["header"]["suite"] == suite.value
    reread = RecipientDecryptionKeys.from_json(keys.to_json())
    opened = open_package(
        sealed, reread, receiver_keys=[RECEIVER.public_key], expected_recipient_id="force-a"
    )
    assert opened.manifest.grading.code == "1/A/P"
    assert opened.files[0].content == b"{}"
    assert "priv" not in repr(keys) and "d" not in public.to_jwk()


def test_expected_recipient_id_is_checked() -> None:
    keys = RecipientDecryptionKeys.generate()
    sealed = seal_package(
        _payload(), receiver_keys=[RECEIVER], recipient_key=keys.public_keys()[0],
        recipient_id="force-a", receiver_id="receiver.example",
    )  # fmt: skip
    with pytest.raises(SealedPackageError) as caught:
        open_package(sealed, keys, receiver_keys=[RECEIVER.public_key], expected_recipient_id="b")
    assert caught.value.code is SealedCode.SEALED_RECIPIENT_MISMATCH


def test_a_package_signed_for_another_recipient_is_refused() -> None:
    keys = RecipientDecryptionKeys.generate()
    sealed = seal_package(
        _payload("force-b"), receiver_keys=[RECEIVER], recipient_key=keys.public_keys()[0],
        recipient_id="force-a", receiver_id="receiver.example",
    )  # fmt: skip
    with pytest.raises(SealedPackageError) as caught:
        open_package(sealed, keys, receiver_keys=[RECEIVER.public_key])
    assert caught.value.code is SealedCode.SEALED_RECIPIENT_MISMATCH


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("4", "A", "P", None), "source_evaluation"),
        (("1", "F", "P", None), "intelligence_assessment"),
        (("1", "A", "X", None), "handling_code"),
        (("1", "A", "C", None), "conditions"),
        (("1", "A", "C", "  "), "conditions"),
        (("1", "A", "P", "only in the unit"), "only with handling code C"),
    ],
)
def test_grading_refuses_bad_values(args: tuple[str, str, str, str | None], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Grading(*args)


def test_key_files_refuse_bad_input() -> None:
    keys = RecipientDecryptionKeys.generate()
    document = json.loads(keys.to_json())
    with pytest.raises(KeyFormatError, match="private"):
        RecipientPublicKey.from_jwk(document["keys"][0])
    document["keys"][0]["pub"] = RecipientDecryptionKeys.generate().public_keys()[0].to_jwk()["pub"]
    document["keys"][0].pop("kid")
    with pytest.raises(KeyFormatError, match="does not match"):
        RecipientDecryptionKeys.from_json(json.dumps(document).encode())
    with pytest.raises(KeyFormatError):
        RecipientDecryptionKeys.from_json(b"{}")
    with pytest.raises(KeyFormatError):
        RecipientPublicKey(SealSuite.CLASSIC, b"\x00" * 31)
    with pytest.raises(TypeError):
        pickle.dumps(keys)


def test_package_file_names_cannot_escape_the_output_directory() -> None:
    for name in ("../x", "/etc/passwd", "a/b", ".hidden", ""):
        with pytest.raises(ValueError, match="file name"):
            PackageFile(name, "text/plain", b"")
