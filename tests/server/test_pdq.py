"""PDQ (services/pdq.py) against Meta's published reference hashes, and the multi-index
look-up (services/image_linking.py) against the pigeonhole argument it relies on."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from strive_server.services.image_linking import chunk_keys, probe_keys
from strive_server.services.pdq import hamming_distance, pdq_hash

from .evidence_support import picture

DATA = Path(__file__).parent / "data" / "pdq"


@pytest.mark.parametrize(
    ("name", "expected", "quality"),
    [
        ("small.jpg", "0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff", 0),
        ("wee.jpg", "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d", 100),
    ],
)
def test_pdq_matches_the_reference_hashes(name: str, expected: str, quality: int) -> None:
    with Image.open(DATA / name) as image:
        computed = pdq_hash(image)
    assert computed.hex == expected
    assert computed.quality == quality


def test_a_lightly_altered_copy_is_near_and_another_picture_is_far() -> None:
    import io

    def of(data: bytes) -> str:
        with Image.open(io.BytesIO(data)) as image:
            return pdq_hash(image).hex

    original, altered, other = of(picture(7)), of(picture(7, shift=5)), of(picture(8))
    assert 0 < hamming_distance(original, altered) <= 31
    assert hamming_distance(original, other) > 31
    # Re-encoded smaller (another ASW's pipeline): still the same picture.
    with Image.open(io.BytesIO(picture(7))) as image:
        smaller = io.BytesIO()
        image.resize((200, 150)).save(smaller, format="JPEG", quality=70)
    assert hamming_distance(original, of(smaller.getvalue())) <= 31


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**256 - 1), st.integers(0, 31), st.randoms(use_true_random=False))
def test_every_hash_within_31_bits_shares_a_probed_key(
    value: int, flips: int, rng: random.Random
) -> None:
    stored = f"{value:064x}"
    query = value
    for bit in rng.sample(range(256), flips):
        query ^= 1 << bit
    assert set(chunk_keys(stored)) & set(probe_keys(f"{query:064x}"))
