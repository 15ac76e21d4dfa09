"""A small real PNG for cover URLs, so Slack (or a person) can fetch one."""

from __future__ import annotations

import struct
import zlib
from functools import cache


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


@cache
def cover_png(width: int = 64, height: int = 36) -> bytes:
    """A 16:9 gradient, RGB, 8 bits per channel."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((30 + x * 3, 60 + y * 4, 120)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )
