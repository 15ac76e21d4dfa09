"""One exception tree for everything the MetaStudio client can raise.

Callers branch on the class (which follows the HTTP status); ``error_code`` is opaque
text to show the user, because MetaStudio (``MSS.*``) and the API gateway in front of it
(``APIGW.*``) use different codes for the same status.
"""

from __future__ import annotations

from typing import Any


class MetaStudioError(Exception):
    """Root of the tree. Carries what a user needs for a support ticket."""

    #: What the user should do about it; subclasses refine it.
    hint: str = "Try again in a minute; if it persists, open a ticket with the request id."

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        error_msg: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.request_id = request_id

    def details(self) -> str:
        """``HTTP 404 · MSS.00000002 Not Found · request id abc`` (only what is known)."""
        parts = []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.error_code or self.error_msg:
            parts.append(" ".join(p for p in (self.error_code, self.error_msg) if p))
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return " · ".join(parts)

    def __str__(self) -> str:
        details = self.details()
        return f"{self.message} ({details})" if details else self.message


class AuthError(MetaStudioError):
    """401/403: the credentials were refused. Never retried (AK/SK keys lock up)."""

    hint = (
        "Check METASTUDIO_AK / METASTUDIO_SK (or METASTUDIO_AUTH_TOKEN, or the IAM "
        "user settings) and METASTUDIO_PROJECT_ID."
    )


class ClockSkewError(AuthError):
    """The gateway rejects AK/SK signatures whose X-Sdk-Date is ~15 min off."""

    hint = "The signature was refused and this machine's clock looks wrong: check the clock (NTP)."


class BadRequestError(MetaStudioError):
    """400: MetaStudio refused a parameter."""

    hint = "MetaStudio refused the query's parameters."


class NotFoundError(MetaStudioError):
    """404: wrong project id or endpoint (the list endpoint itself answered 404)."""

    hint = "Check METASTUDIO_PROJECT_ID and METASTUDIO_ENDPOINT / METASTUDIO_REGION."


class ThrottledError(MetaStudioError):
    """429 after the transport's retries ran out."""

    hint = "MetaStudio is throttling requests; try again in a few seconds."

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class UnavailableError(MetaStudioError):
    """5xx after retries, connection failures and timeouts."""

    #: False when the request surely never reached MetaStudio (no connection was made).
    sent: bool = True


class InDoubtError(UnavailableError):
    """A write (a create) may or may not have been done: it was sent and no answer says
    what became of it (a read timeout, a connection cut mid-answer, a 5xx, a 2xx without
    its JSON). MetaStudio takes no idempotency key, so sending it again may do it twice:
    look first (``bot.metastudio.creating.find_created``)."""

    hint = ("MetaStudio may have done it: look for the job before trying again "
            "(a second request could make a second job).")


class BadResponseError(MetaStudioError):
    """The answer was not the JSON object the endpoint documents. A 2xx status is not
    kept: "HTTP 200" would read as if nothing were wrong; the message says what was."""

    def __init__(self, message: str, *, status: int | None = None, **kw: Any) -> None:
        super().__init__(message, status=None if status and 200 <= status < 300 else status,
                         **kw)


def error_for_status(status: int) -> type[MetaStudioError]:
    """The exception class for an HTTP error status."""
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status == 429:
        return ThrottledError
    if status >= 500:
        return UnavailableError
    if 400 <= status < 500:
        return BadRequestError
    return BadResponseError


def error_fields(response: Any) -> tuple[str | None, str | None]:
    """``(error_code, error_msg)`` of an error answer (a ``requests.Response``), or
    ``(None, None)`` when its body is not a JSON object. MetaStudio and its gateway send
    ``{"error_code", "error_msg"}``; IAM sends ``{"error": {"code", "message"}}``."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    if isinstance(body.get("error"), dict):
        code, msg = body["error"].get("code"), body["error"].get("message")
    else:
        code, msg = body.get("error_code"), body.get("error_msg")
    return (str(code) if code is not None else None), (str(msg) if msg is not None else None)
