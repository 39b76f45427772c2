"""Image linking (services/image_linking.py): the same picture, re-encoded or lightly altered,
in two ASWs' referrals links them by PDQ; hashes sent without the file link too; the noise
controls (exclusions, over-correlation, low quality, sandbox) hold."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from strive_server.core.config import Settings
from strive_server.services import admin
from strive_server.services.pdq import hamming_distance, pdq_hash

from .conftest import SETUP, Receiver, lower_threshold
from .evidence_support import evidence_settings, live_referral, picture
from .test_evidence_files import submit, upload


@pytest.fixture
def receiver_settings(receiver_settings: Settings, tmp_path: Path) -> Settings:
    return evidence_settings(receiver_settings, tmp_path, "filesystem", None)


def reencoded(data: bytes) -> bytes:
    """The picture as another ASW's pipeline serves it: smaller, JPEG."""
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGB").resize((224, 168)).save(out, format="JPEG", quality=75)
    return out.getvalue()


def pdq_of(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return pdq_hash(image).hex


def cluster_of(receiver: Receiver, referral_id: str) -> int:
    with receiver.http("analyst") as http:
        response = http.get(f"/v1/referrals/{referral_id}/links")
    assert response.status_code == 200, response.text
    cluster: int = response.json()["cluster_id"]
    return cluster


def send(receiver: Receiver, asw_id: str, files: dict[str, tuple[bytes, str]]) -> str:
    referral_id = submit(receiver, live_referral(asw_id, files))
    for attachment_id, (data, _) in files.items():
        response = upload(receiver, asw_id, referral_id, attachment_id, data)
        assert response.status_code == 201, response.text
    return referral_id


def with_advert_hash(document: dict[str, Any], pdq: str) -> dict[str, Any]:
    document["adverts"] = [
        {"id": "ad-1", "platform_advert_id": "A-77", "advertised_name": "Roxy",
         "image_hashes": [{"algorithm": "pdq", "value": pdq}]}
    ]  # fmt: skip
    return document


def test_the_same_picture_under_another_name_links_two_asws(receiver: Receiver) -> None:
    original = picture(11)
    copy = reencoded(picture(11, shift=6))
    assert 0 < hamming_distance(pdq_of(original), pdq_of(copy)) <= 31
    first = send(receiver, "example-adverts", {"photo": (original, "image/png")})
    unrelated = send(receiver, "example-adverts", {"photo": (picture(12), "image/png")})
    assert cluster_of(receiver, first) != cluster_of(receiver, unrelated)
    second = send(receiver, "demo-classifieds", {"img-9": (copy, "image/jpeg")})
    cluster = cluster_of(receiver, first)
    assert cluster_of(receiver, second) == cluster
    assert cluster_of(receiver, unrelated) != cluster
    with receiver.http("analyst") as http:
        summary = http.get(f"/v1/clusters/{cluster}").json()
    assert summary["asws"] == ["demo-classifieds", "example-adverts"]
    assert [m["by"] for m in summary["merges"]] == ["image_hash"]
    (match,) = summary["image_matches"]
    assert match["algorithm"] == "pdq" and 0 < match["distance"] <= 31
    assert (match["referral_id"], match["asw_id"], match["entity_ref"]) == (
        second,
        "demo-classifieds",
        "img-9",
    )
    assert (match["matched_referral_id"], match["matched_asw_id"]) == (first, "example-adverts")

    # The intelligence package lists the files with their hashes, never their bytes.
    with receiver.http("analyst") as http:
        package = http.get(f"/v1/clusters/{cluster}/export", params={"format": "json"}).json()
    listed = {f["attachment_id"]: f for r in package["timeline"] for f in r["attachments"]}
    assert listed["img-9"]["received"] is True and listed["img-9"]["pdq"] == pdq_of(copy)
    assert listed["photo"]["sha256"] == hashlib.sha256(original).hexdigest()
    assert "content" not in json.dumps(package["timeline"])

    # An ASW that sends only the hash (no file) links at submission, on an exact match only:
    # a hash's quality is unknown, so a near one could be noise.
    hashed = with_advert_hash(live_referral("third-site", {}), pdq_of(original))
    assert cluster_of(receiver, submit(receiver, hashed)) == cluster
    near = with_advert_hash(live_referral("fourth-site", {}), pdq_of(reencoded(original)))
    assert 0 < hamming_distance(pdq_of(original), pdq_of(reencoded(original))) <= 31
    assert cluster_of(receiver, submit(receiver, near)) != cluster


def test_the_noise_controls_hold_for_pictures(receiver: Receiver) -> None:
    logo = picture(21)
    first = send(receiver, "example-adverts", {"photo": (logo, "image/png")})
    # Excluded (a site's own logo): neither links nor is linked to.
    with receiver.session() as session, session.begin():
        admin.exclude_selector(session, kind="image_hash", value=f"pdq:{pdq_of(logo)}",
                               reason="the site's logo", actor=SETUP)  # fmt: skip
    near_logo = picture(21, shift=3)
    assert 0 < hamming_distance(pdq_of(logo), pdq_of(near_logo)) <= 31
    excluded = send(receiver, "demo-classifieds", {"photo": (near_logo, "image/png")})
    assert cluster_of(receiver, excluded) != cluster_of(receiver, first)

    # Over-correlating: a picture near more referrals than the threshold links nothing.
    lower_threshold(receiver, receiver.settings, 2)
    clusters = [
        cluster_of(
            receiver, send(receiver, f"site-{n}", {"p": (picture(31, shift=n), "image/png")})
        )
        for n in range(4)
    ]
    assert clusters[0] == clusters[1] == clusters[2]  # near two, then three: still linked
    assert clusters[3] != clusters[0]  # near three others > threshold 2: links nothing

    # Featureless pictures (quality below 50) never link.
    # The same grey pixels in two different files: equal PDQ hashes, quality 0.
    blank, again = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(blank, format="PNG", compress_level=1)
    Image.new("RGB", (64, 64), (128, 128, 128)).save(again, format="PNG", compress_level=9)
    assert blank.getvalue() != again.getvalue()
    assert pdq_of(blank.getvalue()) == pdq_of(again.getvalue())
    one = send(receiver, "example-adverts", {"b": (blank.getvalue(), "image/png")})
    two = send(receiver, "demo-classifieds", {"b": (again.getvalue(), "image/png")})
    assert cluster_of(receiver, one) != cluster_of(receiver, two)


def test_a_hash_of_the_wrong_length_is_kept_but_links_nothing(receiver: Receiver) -> None:
    """A fixed-size hash with the wrong number of digits (the schema admits 16-128 for every
    algorithm) draws the ``image_hash_length_unexpected`` warning and is never matched on, so
    two ASWs sending the same malformed value are not linked by it."""
    malformed = {"algorithm": "sha256", "value": "ab" * 20}
    clusters = []
    for asw_id in ("example-adverts", "demo-classifieds"):
        document = live_referral(asw_id, {})
        document["adverts"] = [
            {"id": "ad-1", "platform_advert_id": f"{asw_id}-1", "image_hashes": [malformed]}
        ]
        referral_id = submit(receiver, document)
        clusters.append(cluster_of(receiver, referral_id))
        with receiver.http("analyst") as http:
            view = http.get(f"/v1/referrals/{referral_id}").json()
        assert view["document"]["adverts"][0]["image_hashes"] == [malformed]
    assert clusters[0] != clusters[1]
