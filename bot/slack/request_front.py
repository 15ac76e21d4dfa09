"""The gate in front of Bolt for ``POST /slack/events``: size, signature, timestamp and
shape are checked on the raw bytes before anything else runs.

Bolt's own WSGI adapter decodes and parses the body before it verifies the signature,
so a stranger's malformed body (invalid UTF-8, ``{x``, a timestamp of ``yesterday``)
became an HTTP 500, and a refused body was logged whole. Here an unsigned or stale
request is 401 and a too-large one 413 without its body ever being read whole or
logged; only a signed, well-formed request reaches Bolt. See docs/operations.md.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.request.internals import parse_body

log = logging.getLogger(__name__)

#: Largest body accepted. Slack's slash commands and block actions are a few KiB; a
#: block action carries at most the message it was clicked in (50 blocks of at most
#: 3,000 characters, https://api.slack.com/reference/block-kit/blocks), which
#: form-encoded JSON keeps well under this.
MAX_BODY_BYTES = 512 * 1024
#: Slack's replay window (https://api.slack.com/authentication/verifying-requests-from-slack).
MAX_AGE_SECONDS = 5 * 60
#: Unix seconds as Slack sends them; anything else ("yesterday", 10^400) is refused.
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")


@dataclass(frozen=True)
class Refusal:
    status: str
    reason: str


def _refused(status: str, reason: str) -> Refusal:
    return Refusal(status, reason)


class SlackRequestGate:
    """Checks one request's environ; :meth:`admit` returns a refusal, or None after
    replacing ``wsgi.input`` with the (already read) body for Bolt to read again. Built
    with an empty ``signing_secret`` it refuses every request."""

    def __init__(self, signing_secret: str, *, clock: Callable[[], float] = time.time,
                 max_body: int = MAX_BODY_BYTES) -> None:
        self._secret = signing_secret.encode()
        self._clock = clock
        self.max_body = max_body

    def admit(self, environ: dict[str, Any]) -> Refusal | None:
        if not self._secret:
            # Nothing can be verified: an HMAC keyed with "" is anyone's to compute.
            return _refused("401 Unauthorized", "no signing secret: every request is refused")
        length = _content_length(environ)
        if length is None:
            return _refused("411 Length Required", "no or malformed Content-Length")
        if length > self.max_body:
            return _refused("413 Content Too Large", f"body of {length} bytes")
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if not _TIMESTAMP.match(timestamp) or not _SIGNATURE.match(signature):
            return _refused("401 Unauthorized", "missing or malformed signature headers")
        if abs(self._clock() - int(timestamp)) > MAX_AGE_SECONDS:
            # A genuine request held up in transit, or a replay: either way nothing of
            # its body (legacy token, response_url) is logged.
            return _refused("401 Unauthorized", "timestamp outside the 5-minute window")
        body = _read(environ, length)
        if len(body) != length:
            return _refused("400 Bad Request", "body shorter than its Content-Length")
        if not _signed(self._secret, timestamp, body, signature):
            return _refused("401 Unauthorized", "invalid signature")
        # Signed by someone holding the secret, yet not something Bolt can parse.
        problem = _unparseable(body, environ.get("CONTENT_TYPE"))
        if problem is not None:
            return _refused("400 Bad Request", problem)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(length)
        return None


def refuse(refusal: Refusal, environ: dict[str, Any],
           start_response: Callable[..., Any]) -> list[bytes]:
    """Answer ``refusal`` with a one-line JSON body; log the reason, never the body."""
    log.info("refused %s %s: %s (%s)", environ.get("REQUEST_METHOD"),
             environ.get("PATH_INFO"), refusal.status, refusal.reason)
    body = json.dumps({"error": refusal.status.split(" ", 1)[1]}).encode()
    start_response(refusal.status, [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(body)))])
    return [body]


def _signed(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    # Slack's v0 scheme on the raw bytes (https://api.slack.com/authentication/
    # verifying-requests-from-slack); slack_sdk's SignatureVerifier decodes the body as
    # UTF-8 first and raises on bytes that are not.
    digest = hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return hmac.compare_digest("v0=" + digest.hexdigest(), signature)


def _unparseable(body: bytes, content_type: str | None) -> str | None:
    """Why Bolt's ``parse_body`` would raise on ``body`` (or return a non-object), else
    None. A form body without a ``payload`` field (every slash command) cannot fail once
    it is text, so only JSON bodies and payloads are parsed here, not each command."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "signed body is not UTF-8"
    is_json = content_type == "application/json" or text.startswith("{")
    if not is_json and "payload" not in text:
        return None
    try:
        parsed = parse_body(text, content_type)
    except (ValueError, RecursionError):
        return "signed body is not Slack's format"
    return None if isinstance(parsed, dict) else "signed body is not a JSON object"


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH") or ""
    if not raw.isdigit() or len(raw) > 12:
        return None
    return int(raw)


def _read(environ: dict[str, Any], length: int) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    chunks, left = [], length
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
