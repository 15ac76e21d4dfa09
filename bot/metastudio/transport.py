"""HTTP for the MetaStudio client: one session, retries, timeouts, status -> typed error.

Every answer and every error keeps the ``X-Request-Id`` (what a support ticket needs).
Nothing here knows the endpoint's parameters; ``client`` does.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.util.retry import Retry

from ..metrics import UPSTREAM_LATENCY, UPSTREAM_REQUESTS
from .auth import AkSkAuth
from .errors import (
    AuthError,
    BadResponseError,
    ClockSkewError,
    MetaStudioError,
    ThrottledError,
    UnavailableError,
    error_fields,
    error_for_status,
)

log = logging.getLogger(__name__)

#: The gateway rejects an X-Sdk-Date ~15 min off (docs/metastudio-api.md, "Signing"); say
#: so well before that.
CLOCK_SKEW_LIMIT_SECONDS = 600


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect, and to wait for each read of the answer."""

    connect: float = 3.05
    read: float = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry GETs that failed to connect or got 429/500/502/503/504.

    ``budget`` bounds the time spent waiting between attempts: each wait (exponential
    backoff, or the server's Retry-After) is capped at ``budget / retries``.
    """

    retries: int = 3
    backoff_factor: float = 0.5
    budget: float = 20.0


class _CappedRetry(Retry):
    """urllib3's Retry counts attempts but has no total-time bound, and it sleeps for as
    long as Retry-After says. Capping Retry-After at ``backoff_max`` (which already caps
    the exponential backoff) makes every wait <= backoff_max, so ``retries`` waits stay
    within the budget. Throttled past the budget, the caller gets ThrottledError with the
    server's Retry-After rather than a request that hangs."""

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.backoff_max)


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_RETRY = RetryPolicy()


def build_retry(policy: RetryPolicy) -> Retry:
    """The urllib3 Retry for ``policy``: GET only, never 401 (docs/metastudio-api.md: several failed
    signatures in a row lock the AK/SK for minutes), never a read timeout (the request
    reached the server; waiting again would double the user's wait)."""
    retries = max(0, policy.retries)
    return _CappedRetry(
        total=retries,
        connect=retries,
        read=False,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=frozenset({429, 500, 502, 503, 504}),
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.budget / retries if retries else 0,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )


@dataclass(frozen=True)
class ApiResponse:
    """A decoded JSON object from a 2xx answer."""

    body: dict[str, Any]
    status: int
    request_id: str | None


class Transport:
    """GET JSON objects from ``base_url`` with ``auth``, retries and timeouts.

    The retrying adapter is mounted for ``base_url`` only, so a shared ``session`` (for
    example the one IAM logins use) keeps its other adapters.
    """

    def __init__(
        self,
        base_url: str,
        auth: AuthBase,
        *,
        session: requests.Session | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeouts = timeouts
        self.session = session or requests.Session()
        self.session.mount(self.base_url + "/", HTTPAdapter(max_retries=build_retry(retry)))

    def get(self, path: str, params: list[tuple[str, str]]) -> ApiResponse:
        """GET ``base_url + path``; raise a :class:`MetaStudioError` subclass on failure."""
        url = self.base_url + path
        started = time.monotonic()
        try:
            response = self.session.get(
                url,
                params=params,
                auth=self.auth,
                timeout=(self.timeouts.connect, self.timeouts.read),
                allow_redirects=False,
            )
        except requests.Timeout as e:
            self._record("error", started, path, None)
            raise UnavailableError(f"MetaStudio did not answer in time ({type(e).__name__})") from e
        except requests.RequestException as e:
            self._record("error", started, path, None)
            raise UnavailableError(f"cannot reach MetaStudio at {self.base_url}") from e
        request_id = response.headers.get("X-Request-Id")
        self._record(str(response.status_code), started, path, request_id)
        if not 200 <= response.status_code < 300:
            raise self._error(response, request_id)
        try:
            body = response.json()
        except ValueError as e:
            raise BadResponseError(
                "MetaStudio answered with malformed JSON",
                status=response.status_code, request_id=request_id,
            ) from e
        if not isinstance(body, dict):
            raise BadResponseError(
                f"MetaStudio answered with a JSON {type(body).__name__}, not an object",
                status=response.status_code, request_id=request_id,
            )
        return ApiResponse(body, response.status_code, request_id)

    def close(self) -> None:
        self.session.close()

    def _record(self, status: str, started: float, path: str, request_id: str | None) -> None:
        elapsed = time.monotonic() - started
        UPSTREAM_REQUESTS.labels(status=status).inc()
        UPSTREAM_LATENCY.observe(elapsed)
        level = logging.DEBUG if status.startswith("2") else logging.INFO
        log.log(level, "MetaStudio GET %s -> %s in %.3fs (request id %s)",
                path, status, elapsed, request_id)

    def _error(self, response: requests.Response, request_id: str | None) -> MetaStudioError:
        status = response.status_code
        code, msg = error_fields(response)
        fields: dict[str, Any] = {
            "status": status, "error_code": code, "error_msg": msg, "request_id": request_id,
        }
        if status == 401 and isinstance(self.auth, AkSkAuth):
            skew = _clock_skew(response, self.auth.clock())
            if skew is not None and abs(skew) > CLOCK_SKEW_LIMIT_SECONDS:
                return ClockSkewError(
                    f"MetaStudio refused the signature and this machine's clock is "
                    f"{abs(skew) / 60:.0f} min off the server's: check the clock",
                    **fields,
                )
        if status == 401:
            what = getattr(self.auth, "credentials", "the credentials")
            return AuthError(f"MetaStudio refused the credentials: check {what}", **fields)
        if status == 429:
            return ThrottledError(
                "MetaStudio is throttling requests",
                retry_after=_retry_after(response), **fields,
            )
        cls = error_for_status(status)
        return cls(f"MetaStudio answered HTTP {status}", **fields)


def _clock_skew(response: requests.Response, local: datetime) -> float | None:
    """Seconds the local clock is ahead of the server's ``Date`` header, if it has one."""
    try:
        server = parsedate_to_datetime(response.headers["Date"])
    except (KeyError, TypeError, ValueError):
        return None
    return (local - server).total_seconds()


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
