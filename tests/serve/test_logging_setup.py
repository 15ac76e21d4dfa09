from __future__ import annotations

import io
import logging

import pytest

from bot.serve.logging_setup import RedactingFilter, install_filter, secret_values
from bot.settings import Settings


@pytest.fixture
def captured():
    """A logger whose handler carries the filter, and the text it wrote."""
    settings = Settings(
        metastudio_sk="sk-very-secret-value",
        slack_signing_secret="0123456789abcdef0123456789abcdef",
        database_url="postgresql://bot:pg-pass-word@db.example/videojobs",
    )
    stream = io.StringIO()
    logger = logging.getLogger("tests.redaction")
    logger.handlers = [logging.StreamHandler(stream)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    install_filter(RedactingFilter(secret_values(settings)), logger)
    yield logger, stream
    logger.handlers = []


def test_known_secret_values_are_redacted(captured) -> None:
    logger, stream = captured

    logger.warning("signing with %s", "sk-very-secret-value")
    logger.warning("secret 0123456789abcdef0123456789abcdef")
    logger.warning("connecting to postgresql://bot:pg-pass-word@db")

    text = stream.getvalue()
    assert "very-secret" not in text and "0123456789abcdef" not in text
    assert "pg-pass-word" not in text
    assert text.count("[redacted]") == 3


def test_tokens_and_authorization_headers_are_redacted(captured) -> None:
    logger, stream = captured

    logger.info("token xoxb-123-456-abc and xapp-1-A0-99-zz")
    logger.info("headers {'Authorization': 'SDK-HMAC-SHA256 Access=AK, Signature=abc', 'X': 1}")
    logger.info("Authorization: Bearer abc.def\nX-Auth-Token: MIIabc")

    text = stream.getvalue()
    for leaked in ("xoxb-123", "xapp-1", "Signature=abc", "Bearer abc", "MIIabc"):
        assert leaked not in text
    assert "'X': 1" in text


def test_tracebacks_are_redacted(captured) -> None:
    logger, stream = captured

    try:
        raise RuntimeError("refused xoxb-999-secret")
    except RuntimeError:
        logger.exception("failed")

    assert "xoxb-999" not in stream.getvalue()
    assert "RuntimeError: refused [redacted]" in stream.getvalue()
