"""The pinned command lines: a recipient key pair, registering the recipient, disseminating a
cluster to a file and opening it; tampering and a wrong key exit 1 with the stable code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from strive_client._cli.main import cli

from .conftest import Receiver
from .test_dissemination import THRIVE
from .test_linking import OP_STRIVE, links_of, submit_examples


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_pinned_commands_end_to_end(receiver: Receiver, tmp_path: Path) -> None:
    documents = submit_examples(receiver, OP_STRIVE)
    cluster_id = links_of(receiver, documents[OP_STRIVE[0]]["referral_id"])["cluster_id"]
    keys = tmp_path / "met"
    generated = _run("keys", "generate", "--purpose", "recipient", "--out", str(keys),
                     "--format", "json")  # fmt: skip
    assert generated.exit_code == 0, generated.output
    paths = json.loads(generated.output)
    assert set(paths) == {"key_id", "private_key", "public_key_pem", "public_key_jwk",
                          "decryption_key"}  # fmt: skip
    assert (keys / "decryption_key.json").stat().st_mode & 0o777 == 0o600
    db = receiver.settings.database_url
    alone = _run("admin", "register-recipient", "--recipient-id", "met-cse", "--name", "Met",
                 "--public-key", paths["public_key_jwk"], "--db", db)  # fmt: skip
    assert alone.exit_code == 2 and "--requester" in alone.stderr  # dual control
    asked = _run(
        "admin", "register-recipient", "--recipient-id", "met-cse", "--name", "Met CSE",
        "--public-key", paths["public_key_jwk"], "--region", "TLI", "--requester", "alice",
        "--db", db,
    )  # fmt: skip
    assert asked.exit_code == 0, asked.output
    request_id = asked.stdout.strip()
    assert request_id.isdigit() and "strive admin approve" in asked.stderr
    refused = _run("admin", "approve", request_id, "--approver", "Alice", "--db", db)
    assert refused.exit_code == 1 and "approval_by_requester" in refused.stderr
    registered = _run("admin", "approve", request_id, "--approver", "bob", "--db", db)
    assert registered.exit_code == 0, registered.output
    assert len(registered.stdout.split()) == 3  # a signing key and two encryption keys

    sealed = tmp_path / "package.sealed.json"
    args = ["disseminate", "cluster", str(cluster_id), "--recipient", "met-cse", "--url",
            receiver.url, "--token", receiver.token("supervisor"), "--out", str(sealed)]  # fmt: skip
    refused = _run(*args)
    assert refused.exit_code == 1 and "assessment_required" in refused.output
    with receiver.http("analyst") as http:
        assert http.post(f"/v1/clusters/{cluster_id}/assessments", json=THRIVE).status_code == 201
    sent = _run(*args)
    assert sent.exit_code == 0, sent.output

    out = tmp_path / "opened"
    opened = _run("package", "open", "--recipient-id", "met-cse", str(sealed), "--key", paths["decryption_key"],
                  "--out", str(out), "--url", receiver.url)  # fmt: skip
    assert opened.exit_code == 0, opened.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["referrals"]) == len(OP_STRIVE)
    assert (out / f"strive-cluster-{cluster_id}.json").is_file()

    document = json.loads(sealed.read_bytes())
    document["header"]["recipient_id"] = "someone-else"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    # Opened as the recipient the changed header names: the HPKE context no longer matches.
    failed = _run("package", "open", "--recipient-id", "someone-else", str(tampered), "--key", paths["decryption_key"],
                  "--out", str(tmp_path / "t"), "--url", receiver.url)  # fmt: skip
    assert failed.exit_code == 1 and "sealed_decrypt_failed" in failed.output
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(sealed.read_bytes()[:500])
    failed = _run("package", "open", "--recipient-id", "met-cse", str(truncated), "--key", paths["decryption_key"],
                  "--out", str(tmp_path / "u"), "--url", receiver.url)  # fmt: skip
    assert failed.exit_code == 1 and "sealed_malformed" in failed.output
    other = tmp_path / "other"
    other_paths = json.loads(_run("keys", "generate", "--purpose", "recipient", "--out",
                                  str(other), "--format", "json").output)  # fmt: skip
    failed = _run("package", "open", "--recipient-id", "met-cse", str(sealed), "--key", other_paths["decryption_key"],
                  "--out", str(tmp_path / "w"), "--url", receiver.url)  # fmt: skip
    assert failed.exit_code == 1 and "sealed_recipient_mismatch" in failed.output
    assert not (tmp_path / "w").exists()
    # Verified against a receiver key given out of band: the wrong one is refused.
    impostor = tmp_path / "impostor"
    impostor_paths = json.loads(_run("keys", "generate", "--out", str(impostor),
                                     "--format", "json").output)  # fmt: skip
    failed = _run("package", "open", "--recipient-id", "met-cse", str(sealed), "--key", paths["decryption_key"],
                  "--out", str(tmp_path / "x"), "--receiver-key", impostor_paths["public_key_jwk"])  # fmt: skip
    assert failed.exit_code == 1 and "sealed_signature_invalid" in failed.output
    # Sealed to this key but opened as another recipient (forwarded): refused, nothing written.
    failed = _run("package", "open", "--recipient-id", "met-other", str(sealed), "--key",
                  paths["decryption_key"], "--out", str(tmp_path / "v"), "--url", receiver.url)  # fmt: skip
    assert failed.exit_code == 1 and "sealed_recipient_mismatch" in failed.output
    assert not (tmp_path / "v").exists()
    unnamed = _run("package", "open", str(sealed), "--key", paths["decryption_key"],
                   "--out", str(tmp_path / "v"), "--url", receiver.url)  # fmt: skip
    assert unnamed.exit_code == 2 and "--recipient-id" in unnamed.output
    receiver_key = tmp_path / "receiver.pem"
    receiver_key.write_bytes(receiver.settings.signing_key.public_key.to_pem())
    good = _run("package", "open", "--recipient-id", "met-cse", str(sealed), "--key", paths["decryption_key"],
                "--out", str(tmp_path / "y"), "--receiver-key", str(receiver_key))  # fmt: skip
    assert good.exit_code == 0, good.output
