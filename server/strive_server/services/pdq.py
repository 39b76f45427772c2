"""PDQ, the perceptual image hash platforms share for matching images (Meta, 2019).

Written here, in numpy, from the published description of the algorithm (the PDQ hashing
document in Meta's ThreatExchange repository), rather than taken from the ``pdqhash`` package:
that package is a source distribution that compiles C++ on every install (minutes on a
receiver's build machine), and the algorithm is short. It is checked against the reference
hashes Meta publishes for its test images (tests/server/test_pdq.py).

The steps, for an image already decoded by Pillow:

1. scale it down to fit 512 x 512 (as Meta's Python reference does: it bounds the cost, and
   changes the hash by a few bits at most);
2. luminance ``Y = 0.299 R + 0.587 G + 0.114 B``;
3. a tent filter made of two passes of box filters along rows then columns (Jarosz), each
   box ``ceil(dimension / 128)`` pixels wide, then sample a 64 x 64 grid at cell centres;
4. a quality score from the 64 x 64 grid's gradients (0 to 100; below 50 hashes are too
   featureless to match on);
5. the 16 x 16 lowest non-constant frequencies of the grid's DCT-II;
6. one bit per frequency: set when above the median of the 256 (the lower median).

The 256 bits are written as 64 hexadecimal digits, the last 16-bit word first, as the
reference implementations print them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["PDQ_BITS", "PdqHash", "hamming_distance", "pdq_hash"]

PDQ_BITS: Final = 256
_SCALE_TO: Final = 512
_WINDOW_DIVISOR: Final = 128
_GRID: Final = 64
_FREQUENCIES: Final = 16

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PdqHash:
    """A PDQ hash (64 lower-case hexadecimal digits) and its quality (0 to 100)."""

    hex: str
    quality: int


def hamming_distance(a: str, b: str) -> int:
    """The number of bits in which two hexadecimal hashes of equal length differ."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


@cache
def _dct_matrix() -> Floats:
    """Rows 1 to 16 of the 64-point DCT-II basis, scaled by sqrt(2/64)."""
    i = np.arange(1, _FREQUENCIES + 1, dtype=np.float64)[:, None]
    j = np.arange(_GRID, dtype=np.float64)[None, :]
    matrix: Floats = np.sqrt(2.0 / _GRID) * np.cos((np.pi / 2 / _GRID) * i * (2 * j + 1))
    return matrix


def _box_filter(values: Floats, window: int, axis: int) -> Floats:
    """A running mean along ``axis``: output ``k`` averages inputs ``k - (window - half)``
    to ``k + half - 1`` (``half = (window + 2) // 2``), the window cut at both edges."""
    half = (window + 2) // 2
    n = values.shape[axis]
    moved = np.moveaxis(values, axis, 0)
    sums = np.concatenate([np.zeros((1, *moved.shape[1:])), np.cumsum(moved, axis=0)])
    k = np.arange(n)
    low = np.clip(k - (window - half), 0, n)
    high = np.clip(k + half, 0, n)
    counts = (high - low).astype(np.float64).reshape(-1, *([1] * (moved.ndim - 1)))
    result = (sums[high] - sums[low]) / counts
    return np.moveaxis(result, 0, axis)


def _quality(grid: Floats) -> int:
    """Meta's heuristic: the sum of significant gradients, scaled and capped at 100."""
    vertical = np.trunc((grid[:-1, :] - grid[1:, :]) * 100 / 255)
    horizontal = np.trunc((grid[:, :-1] - grid[:, 1:]) * 100 / 255)
    total = int(np.abs(vertical).sum() + np.abs(horizontal).sum())
    return min(total // 90, 100)


def _bits_to_hex(bits: npt.NDArray[np.bool_]) -> str:
    """Bit ``k`` (k = row * 16 + column) is bit ``k % 16`` of 16-bit word ``k // 16``; the
    words are written from the last to the first."""
    weights = 1 << np.arange(16, dtype=np.int64)
    words = (bits.reshape(16, 16).astype(np.int64) * weights).sum(axis=1)
    return "".join(f"{int(word):04x}" for word in words[::-1])


def pdq_hash(image: Image.Image) -> PdqHash:
    """The PDQ hash and quality of an image opened by Pillow (any mode; converted to RGB).

    Scales ``image`` down in place first, as the reference does, so that a large JPEG is
    decoded at a reduced size (Pillow's draft mode) rather than in full."""
    image.thumbnail((_SCALE_TO, _SCALE_TO))
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    luma: Floats = 0.299 * rgb[:, :, 0] + 0.587 * rgb[:, :, 1] + 0.114 * rgb[:, :, 2]
    rows, columns = luma.shape
    along_rows = (columns + _WINDOW_DIVISOR - 1) // _WINDOW_DIVISOR
    along_columns = (rows + _WINDOW_DIVISOR - 1) // _WINDOW_DIVISOR
    for _ in range(2):
        luma = _box_filter(luma, along_rows, axis=1)
        luma = _box_filter(luma, along_columns, axis=0)
    row_index = ((np.arange(_GRID) + 0.5) * rows / _GRID).astype(np.int64)
    column_index = ((np.arange(_GRID) + 0.5) * columns / _GRID).astype(np.int64)
    grid = luma[np.ix_(row_index, column_index)]
    quality = _quality(grid)
    dct = _dct_matrix()
    frequencies = dct @ grid @ dct.T
    median = np.sort(frequencies, axis=None)[(frequencies.size + 1) // 2 - 1]
    return PdqHash(_bits_to_hex(frequencies > median), quality)
