"""Shared helpers of the evidence-file tests: an S3-compatible server (moto, in server mode on
a free loopback port, stopped by its PID), receivers storing files on the filesystem or in it,
referrals declaring files, and small synthetic images."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from strive_server.core.config import Settings

from .conftest import fresh_referral

BUCKET = "strive-evidence-test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_moto() -> Iterator[str]:
    """moto's S3 in server mode on 127.0.0.1; yields its URL, stops it by PID."""
    port = _free_port()
    moto = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def s3_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any credentials
        "AWS_DEFAULT_REGION": "eu-west-2",
    }.items():
        monkeypatch.setenv(name, value)


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2")
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})


def evidence_settings(base: Settings, tmp_path: Path, store: str, endpoint: str | None) -> Settings:
    update: dict[str, Any] = {
        "evidence_dir": tmp_path / "evidence",
        "evidence_key_file": tmp_path / "evidence.key",
        "evidence_store": store,
    }
    if store == "s3":
        bucket = f"{BUCKET}-{uuid.uuid4().hex[:12]}"
        assert endpoint is not None
        make_bucket(endpoint, bucket)
        update |= {"s3_bucket": bucket, "s3_endpoint_url": endpoint, "s3_region": "eu-west-2"}
    return base.model_copy(update=update)


def stored_objects(settings: Settings) -> list[str]:
    """Every object the store holds (names), and any staging file left behind."""
    if settings.evidence_store == "s3":
        import boto3

        client = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region
        )
        listing = client.list_objects_v2(Bucket=settings.s3_bucket)
        names = [item["Key"] for item in listing.get("Contents", [])]
    else:
        names = []
    root = settings.evidence_dir
    if root.exists():
        names += [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    return sorted(names)


def picture(seed: int = 1, *, size: tuple[int, int] = (256, 192), shift: int = 0) -> bytes:
    """A deterministic synthetic PNG: shapes placed by ``seed``; ``shift`` moves a small mark,
    giving a near (not exact) copy."""
    image = Image.new("RGB", size, (30 + seed * 7 % 200, 60, 90))
    draw = ImageDraw.Draw(image)
    width, height = size
    for i in range(12):
        x = (seed * 37 + i * 53) % width
        y = (seed * 91 + i * 29) % height
        colour = ((seed * 13 + i * 40) % 256, (i * 70) % 256, (seed * 5 + i * 20) % 256)
        draw.ellipse((x, y, x + width // 4, y + height // 4), fill=colour)
        draw.rectangle((y % width, x % height, y % width + 20, x % height + 35), fill=colour[::-1])
    draw.rectangle((10 + shift, 10, 18 + shift, 18), fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def declare(document: dict[str, Any], attachment_id: str, data: bytes, media_type: str) -> None:
    document.setdefault("attachments", []).append(
        {
            "id": attachment_id,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data),
            "media_type": media_type,
            "relevance": "The advert's photograph.",
        }
    )


def live_referral(asw_id: str, files: dict[str, tuple[bytes, str]]) -> dict[str, Any]:
    """A live (not sandbox) referral by ``asw_id`` declaring ``files`` (id: (bytes, type))."""
    document = fresh_referral(asw_id=asw_id)
    document["is_test"] = False
    for attachment_id, (data, media_type) in files.items():
        declare(document, attachment_id, data, media_type)
    return document
