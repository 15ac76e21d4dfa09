"""Cover images: signed object-storage-style URLs and the small real PNG behind them,
so Slack (or a person) can fetch a cover and a stale URL fails the way OBS fails it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import zlib
from datetime import datetime
from functools import cache

#: The simulator's own signing key; the signature only has to round-trip through it.
_KEY = b"metastudio-simulator-covers"
#: Looks like the reference's example (`AccessKeyId=...&Expires=...&Signature=...`).
_ACCESS_KEY_ID = "SIMULATORCOVERS0"


def _signature(asset_id: str, expires: int) -> str:
    digest = hmac.new(_KEY, f"{asset_id}\n{expires}".encode(), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def cover_url(base_url: str, asset_id: str, expires: datetime) -> str:
    """``{base_url}/covers/<asset_id>.png`` signed until ``expires`` (docs/metastudio-api.md,
    "Formats": ``cover_url`` is a signed URL with an ``Expires=`` epoch-seconds parameter)."""
    epoch = int(expires.timestamp())
    return (
        f"{base_url}/covers/{asset_id}.png?AccessKeyId={_ACCESS_KEY_ID}"
        f"&Expires={epoch}&Signature={_signature(asset_id, epoch)}"
    )


def check_cover(asset_id: str, query: dict[str, str], now: datetime) -> tuple[str, str] | None:
    """None when the signed URL is good now, else OBS's (error code, message)."""
    expires = query.get("Expires", "")
    if not expires.isdigit() or not hmac.compare_digest(
        query.get("Signature", ""), _signature(asset_id, int(expires))
    ):
        return "SignatureDoesNotMatch", "The request signature we calculated does not match"
    if int(expires) < now.timestamp():
        return "AccessDenied", "Request has expired"
    return None


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
