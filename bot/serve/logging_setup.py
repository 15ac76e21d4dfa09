"""Logging from LOG_LEVEL, with secrets redacted from every record (README.md,
"Configuration": secrets never appear in logs).

The filter sits on handlers, not loggers: a handler filter sees records from every
logger that reaches it (a logger filter only sees records logged on that very logger).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from pydantic import SecretStr

from ..settings import Settings

REDACTED = "[redacted]"

_PATTERNS = (
    # Slack tokens: bot, user, app-level, refresh, configuration.
    re.compile(r"\bx(?:ox[abeoprs]|app)-[A-Za-z0-9-]+"),
    # Header values, in "Name: value" lines and in dict reprs ('Name': 'value').
    re.compile(
        r"""(?i)(\b(?:authorization|x-auth-token|x-subject-token)['"]?\s*[:=]\s*)"""
        r"""('[^']*'|"[^"]*"|[^\r\n]*)"""
    ),
    # The Socket Mode URL's one-time ticket (slack_sdk logs the URL at DEBUG).
    re.compile(r"(?i)([?&]ticket=)[^&\s'\"]+"),
)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with secrets replaced."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _PATTERNS[0].sub(REDACTED, text)
        for pattern in _PATTERNS[1:]:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def secret_values(settings: Settings) -> list[str]:
    """Every ``SecretStr`` value set in ``settings``, plus a database URL's password."""
    values = [
        v.get_secret_value()
        for v in (getattr(settings, name) for name in type(settings).model_fields)
        if isinstance(v, SecretStr)
    ]
    password = re.match(r"^[^:/]+(?:\+\w+)?://[^:/@]+:([^@]+)@", settings.database_url)
    return [*values, *(password.groups() if password else ())]


def configure_logging(settings: Settings) -> None:
    """Root logging at ``LOG_LEVEL`` with the redacting filter on its handler."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    install_filter(RedactingFilter(secret_values(settings)), logging.getLogger())


def install_filter(redacting: RedactingFilter, *loggers: logging.Logger) -> None:
    """Put the filter on the handlers of ``loggers`` (e.g. gunicorn's, which do not
    propagate to the root)."""
    for logger in loggers:
        for handler in logger.handlers:
            if redacting not in handler.filters:
                handler.addFilter(redacting)
