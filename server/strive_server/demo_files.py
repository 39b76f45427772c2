"""The Operation Strive demo's evidence files: small synthetic pictures, drawn in code.

The published examples declare these files (SHA-256, size, type), so they must come out
byte-for-byte the same on every machine: the PNG is written here with stored (uncompressed)
deflate blocks, not by an image library whose compressor may change between versions.

* ``att-01.png``: a screenshot of a customer review (grey bars for text), op-strive-1;
* ``photo-larisa.png``: the photograph in example-adverts' advert for "Larisa", op-strive-2;
* ``dc-photo-lara.png``: the same photograph as demo-classifieds serves it for "Lara",
  op-strive-4: the site's watermark across the bottom and a slightly brighter picture, so
  its PDQ hash is near the original's, not equal (spec/evidence-files.md).

``python -m strive_server.demo_files`` writes them to ``spec/examples/files/`` (``make
generate``); the demo uploads them with ``strive submit --attachments spec/examples/files``.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = ["DEMO_FILES", "demo_files", "write_demo_files"]

WIDTH: Final = 240
HEIGHT: Final = 180
_STORED_BLOCK: Final = 65535

Pixel = tuple[int, int, int]


def _deflate_stored(data: bytes) -> bytes:
    """A zlib stream of stored blocks: deterministic, whatever zlib is installed."""
    out = bytearray(b"\x78\x01")
    for start in range(0, max(len(data), 1), _STORED_BLOCK):
        block = data[start : start + _STORED_BLOCK]
        final = start + _STORED_BLOCK >= len(data)
        out += bytes([1 if final else 0]) + struct.pack("<HH", len(block), len(block) ^ 0xFFFF)
        out += block
    out += struct.pack(">I", zlib.adler32(data))
    return bytes(out)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows += bytes(pixel(x, y))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", _deflate_stored(bytes(rows)))
        + _chunk(b"IEND", b"")
    )


_SHAPES: Final = (  # (centre x, centre y, radius, colour): a figure against a room
    (120, 70, 28, (214, 170, 140)),
    (120, 140, 48, (150, 40, 60)),
    (60, 40, 18, (240, 230, 180)),
    (190, 120, 30, (40, 90, 120)),
)


def _photograph(x: int, y: int, *, watermarked: bool) -> Pixel:
    red, green, blue = 70 + x // 6, 60 + y // 5, 90 + (x + y) // 12  # a lit wall
    if y > 150:  # a bed
        red, green, blue = 200, 200, 215
    for cx, cy, radius, colour in _SHAPES:
        if (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius:
            red, green, blue = colour
    if watermarked:
        red, green, blue = (min(v + 10, 255) for v in (red, green, blue))
        if y >= HEIGHT - 14 and 20 <= x < WIDTH - 20 and (x // 6 + y // 3) % 3:
            red, green, blue = 250, 250, 250  # "demo-classifieds.example" in white
    return red, green, blue


def _screenshot(x: int, y: int) -> Pixel:
    if y < 24:
        return 29, 112, 184  # the site's header bar
    line = (y - 34) // 14
    if (y - 34) % 14 < 8 and 16 <= x < WIDTH - 16 - (line * 37) % 90 and 0 <= line < 10:
        return 80, 80, 80  # a line of review text
    return 248, 248, 248


DEMO_FILES: Final[dict[str, Callable[[], bytes]]] = {
    "att-01.png": lambda: _png(WIDTH, HEIGHT, _screenshot),
    "photo-larisa.png": lambda: _png(
        WIDTH, HEIGHT, lambda x, y: _photograph(x, y, watermarked=False)
    ),
    "dc-photo-lara.png": lambda: _png(
        WIDTH, HEIGHT, lambda x, y: _photograph(x, y, watermarked=True)
    ),
}


def demo_files() -> dict[str, bytes]:
    """The demo's files by name (attachment id + ``.png``)."""
    return {name: make() for name, make in DEMO_FILES.items()}


def write_demo_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in demo_files().items():
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - make generate
    for path in write_demo_files(Path(sys.argv[1] if len(sys.argv) > 1 else "spec/examples/files")):
        print(f"wrote {path}")
