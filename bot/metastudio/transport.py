"""HTTP for the MetaStudio client: one session, retries, timeouts, status -> typed error.

Every answer and every error keeps the ``X-Request-Id`` (what a support ticket needs).
Nothing here knows the endpoint's parameters; ``client`` does.

GETs are retried (:class:`RetryPolicy`). A POST is retried only when it is a read whose
path was named in ``retry_posts`` (the asset summary); every other POST is a write, sent
once, and a write whose outcome no answer settles raises
:class:`~bot.metastudio.errors.InDoubtError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from ..telemetry.metrics import UPSTREAM_LATENCY, UPSTREAM_REQUESTS
from . import signing
from .auth import AkSkAuth
from .errors import (
    AuthError,
    BadResponseError,
    ClockSkewError,
    InDoubtError,
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


#: The largest answer accepted. A full page is 100 jobs (the API's maximum ``limit``) of
#: a few KiB each; ten times that leaves room for long error messages and new fields
#: while a proxy's runaway answer (tens of MB) is refused before it is read whole.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
#: Bytes read at a time; the deadline is checked between reads.
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect, to wait for each read of the answer, and in all: ``deadline``
    bounds the whole request, retries and a slowly dripping answer included."""

    connect: float = 3.05
    read: float = 10.0
    deadline: float = 30.0


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
    long as Retry-After says. Here every wait (exponential backoff with jitter, so that
    processes throttled together do not retry together) is capped at ``backoff_max``,
    and a Retry-After longer than what is left of the budget ends the retries at once:
    the caller gets ThrottledError with the server's Retry-After instead of a wait that
    cannot succeed in time (openai-python's ``_should_retry`` does the same)."""

    def __init__(self, *args: Any, budget: float = 0.0, first_failure: float | None = None,
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.budget = budget
        #: monotonic time of the first failed attempt of this request.
        self.first_failure = first_failure

    def new(self, **kw: Any) -> _CappedRetry:
        kw.setdefault("budget", self.budget)
        kw.setdefault("first_failure", self.first_failure)
        return super().new(**kw)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> _CappedRetry:
        now = time.monotonic()
        started = self.first_failure if self.first_failure is not None else now
        if response is not None and self.respect_retry_after_header:
            retry_after = super().get_retry_after(response)
            if retry_after is not None and retry_after > self.budget - (now - started):
                # Handed back as the (429) response itself: urlopen answers MaxRetryError
                # with the last response when raise_on_status is False.
                raise MaxRetryError(_pool, url or "", reason=None)  # type: ignore[arg-type]
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        new.first_failure = started
        return new

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.backoff_max)


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_RETRY = RetryPolicy()


def build_retry(policy: RetryPolicy, *, methods: Iterable[str] = ("GET",)) -> Retry:
    """The urllib3 Retry for ``policy``: ``methods`` only (GET; the asset summary's adapter
    adds POST, a read), never 401 (docs/metastudio-api.md: several failed signatures in
    a row lock the AK/SK for minutes), never a read timeout (the request reached the
    server; waiting again would double the user's wait). A connection that could not be
    made is retried whatever the method: nothing was sent on it."""
    retries = max(0, policy.retries)
    return _CappedRetry(
        total=retries,
        connect=retries,
        read=False,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=frozenset(methods),
        status_forcelist=frozenset({429, 500, 502, 503, 504}),
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.budget / retries if retries else 0,
        backoff_jitter=policy.backoff_factor,
        budget=policy.budget,
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
    """GET (and POST) JSON objects from ``base_url`` with ``auth``, retries and timeouts.

    The retrying adapter is mounted for ``base_url`` only, so a shared ``session`` (for
    example the one IAM logins use) keeps its other adapters. At most ``max_concurrency``
    requests are in flight at once (a summary fans out threads; the poller shares the
    process), and the connection pool holds as many connections, so none is thrown away.

    ``retry_posts`` are paths (below ``base_url``) whose POSTs only read, like the asset
    summary: they get an adapter of their own that retries POST as the main one retries
    GET (requests picks the adapter with the longest matching prefix). Adapters are
    mounted here, before the session is shared, never later: mounting reorders the
    session's adapters while other threads may be looking one up.
    """

    def __init__(
        self,
        base_url: str,
        auth: AuthBase,
        *,
        session: requests.Session | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_concurrency: int = 64,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        clock: Callable[[], float] = time.monotonic,
        retry_posts: Iterable[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeouts = timeouts
        self.max_answer_bytes = max_answer_bytes
        self._clock = clock
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self.session = session or requests.Session()
        self.session.mount(self.base_url + "/", HTTPAdapter(
            max_retries=build_retry(retry), pool_maxsize=max_concurrency,
        ))
        #: Paths whose POSTs are reads, retried like GETs.
        self.retry_posts = frozenset(retry_posts)
        for path in sorted(self.retry_posts):
            self.session.mount(self.base_url + path, HTTPAdapter(
                max_retries=build_retry(retry, methods=("GET", "POST")),
                pool_maxsize=max_concurrency,
            ))

    def get(self, path: str, params: list[tuple[str, str]]) -> ApiResponse:
        """GET ``base_url + path``; raise a :class:`MetaStudioError` subclass on failure,
        at the latest ``timeouts.deadline`` seconds after the call."""
        return self._request("GET", path, params, None)

    def post(self, path: str, body: Mapping[str, Any], *,
             params: list[tuple[str, str]] | None = None) -> ApiResponse:
        """POST ``body`` as JSON to ``base_url + path`` and return the JSON object answered.

        A path in ``retry_posts`` is a read: retried like a GET, failures as for a GET.
        Any other POST is a write and is sent once (MetaStudio takes no idempotency key):
        when the request may have reached MetaStudio and no answer says what became of
        it (a read timeout, a connection cut after sending, an answer still arriving at
        the deadline, a 5xx, a 2xx that is no JSON object) the error is an
        :class:`InDoubtError`; a connection that could not be made, a 4xx or a 429 (the
        gateway's) are the usual errors: nothing was done.
        """
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        write = path not in self.retry_posts
        return self._request("POST", path, params or [], data, write=write)

    def _request(self, method: str, path: str, params: list[tuple[str, str]],
                 data: bytes | None, *, write: bool = False) -> ApiResponse:
        started = self._clock()
        deadline = started + self.timeouts.deadline
        if not self._slots.acquire(timeout=self.timeouts.deadline):
            self._record("error", started, path, None, method)
            busy = UnavailableError("too many MetaStudio requests in flight; none finished in time")
            busy.sent = False
            raise busy
        try:
            return self._send(method, path, params, data, started, deadline)
        except MetaStudioError as e:
            if write and _in_doubt(e):
                raise InDoubtError(
                    f"{e.message}: MetaStudio may have done it, or not",
                    status=e.status, error_code=e.error_code, error_msg=e.error_msg,
                    request_id=e.request_id,
                ) from e
            raise
        finally:
            self._slots.release()

    def _send(self, method: str, path: str, params: list[tuple[str, str]], data: bytes | None,
              started: float, deadline: float) -> ApiResponse:
        url = self.base_url + path
        read = max(0.001, min(self.timeouts.read, deadline - self._clock()))
        headers = {"Content-Type": "application/json;charset=UTF-8"} if data is not None else None
        try:
            response = self.session.request(
                method,
                url,
                # One encoding for every kind of auth: the SDK's canonical query (a space
                # is %20, never "+"), which AK/SK signing needs anyway.
                params=signing.canonical_query(params),
                data=data,
                headers=headers,
                auth=self.auth,
                timeout=(self.timeouts.connect, read),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as e:
            self._record("error", started, path, None, method)
            error = _no_answer(e, self.base_url)
            error.sent = not _never_sent(e)
            raise error from e
        request_id = response.headers.get("X-Request-Id")
        try:
            raw = self._read(response, deadline, request_id)
        except MetaStudioError:
            self._record("error", started, path, request_id, method)
            raise
        finally:
            response.close()
        self._record(str(response.status_code), started, path, request_id, method)
        if not 200 <= response.status_code < 300:
            response._content = raw  # error_fields reads the (complete) body
            raise self._error(response, request_id)
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise BadResponseError(
                "MetaStudio's answer was malformed: not JSON",
                status=response.status_code, request_id=request_id,
            ) from e
        if not isinstance(body, dict):
            raise BadResponseError(
                f"MetaStudio's answer was malformed: a JSON {type(body).__name__}, not an object",
                status=response.status_code, request_id=request_id,
            )
        return ApiResponse(body, response.status_code, request_id)

    def _read(self, response: requests.Response, deadline: float,
              request_id: str | None) -> bytes:
        """The whole body, refused when it is larger than any real answer or still
        arriving at the deadline."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_answer_bytes:
            raise BadResponseError(
                f"MetaStudio's answer was too large ({int(declared)} bytes; at most "
                f"{self.max_answer_bytes} expected)", request_id=request_id,
            )
        chunks, size = [], 0
        # read1 returns what has arrived (read(n) would wait for n bytes of a drip); the
        # watchdog shuts the socket at the deadline, ending a read blocked in between.
        expired = threading.Event()
        watchdog = threading.Timer(max(0.0, deadline - self._clock()), _expire,
                                   [response, expired])
        watchdog.daemon = True
        watchdog.start()
        try:
            while chunk := response.raw.read1(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > self.max_answer_bytes:
                    raise BadResponseError(
                        f"MetaStudio's answer was too large (more than "
                        f"{self.max_answer_bytes} bytes)", request_id=request_id,
                    )
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as e:
            # The read timeout is cut to what is left of the deadline, so it may fire
            # just before the watchdog: either way the deadline has passed.
            if expired.is_set() or self._clock() >= deadline:
                raise _late(self.timeouts.deadline, request_id) from e
            raise _broken_answer(e, request_id) from e
        finally:
            watchdog.cancel()
        if expired.is_set():  # an answer without Content-Length ends at the shutdown
            raise _late(self.timeouts.deadline, request_id)
        return b"".join(chunks)

    def close(self) -> None:
        self.session.close()

    def _record(self, status: str, started: float, path: str, request_id: str | None,
                method: str = "GET") -> None:
        elapsed = time.monotonic() - started
        UPSTREAM_REQUESTS.labels(status=status).inc()
        UPSTREAM_LATENCY.observe(elapsed)
        level = logging.DEBUG if status.startswith("2") else logging.INFO
        log.log(level, "MetaStudio %s %s -> %s in %.3fs (request id %s)",
                method, path, status, elapsed, request_id)

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


def _in_doubt(e: MetaStudioError) -> bool:
    """Whether a write that failed with ``e`` may still have been done: it may have
    reached MetaStudio (a 5xx, no answer or a broken one) or was answered 2xx with
    something other than the JSON object promised."""
    if isinstance(e, BadResponseError):
        return True
    return isinstance(e, UnavailableError) and e.sent


def _never_sent(e: requests.RequestException) -> bool:
    """True when the request surely never left: no connection could be made (refused,
    unresolvable, a connect timeout) or requests refused it first (a bad URL)."""
    if isinstance(e, requests.ConnectTimeout):
        return True
    if isinstance(e, requests.ReadTimeout):
        return False
    if not isinstance(e, requests.ConnectionError):
        return True
    reason = getattr(e.args[0], "reason", None) if e.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError
                      | urllib3.exceptions.ConnectTimeoutError)


def _expire(response: requests.Response, expired: threading.Event) -> None:
    expired.set()
    with contextlib.suppress(ValueError, RuntimeError, OSError):  # closed or released
        response.raw.shutdown()


def _late(deadline: float, request_id: str | None) -> UnavailableError:
    return UnavailableError(
        f"MetaStudio's answer was still arriving after {deadline:g} s; gave up",
        request_id=request_id,
    )


def _broken_answer(e: Exception, request_id: str | None) -> UnavailableError:
    """An answer that started and then broke off."""
    text = f"{e!r} {e.__context__!r}".lower()
    if "reset" in text:
        what = "MetaStudio reset the connection mid-answer"
    elif isinstance(e, urllib3.exceptions.ReadTimeoutError) or "timed out" in text:
        what = "MetaStudio stopped sending its answer (read timeout)"
    else:  # IncompleteRead, or a clean close before Content-Length was reached
        what = "MetaStudio's answer was cut short (the connection closed mid-answer)"
    return UnavailableError(what, request_id=request_id)


def _no_answer(e: requests.RequestException, base_url: str, *,
               request_id: str | None = None) -> UnavailableError:
    """Say what happened to a request that got no complete answer."""
    reason = e.__context__ if isinstance(e.__context__, Exception) else None
    text = f"{type(e).__name__}: {e} {reason!r}".lower()
    if isinstance(e, requests.Timeout):
        what = f"MetaStudio did not answer in time ({type(e).__name__})"
    elif "reset" in text or "connectionreseterror" in text:
        what = "MetaStudio reset the connection"
    elif "remotedisconnected" in text or "connection aborted" in text:
        what = "MetaStudio closed the connection without answering"
    elif isinstance(e, requests.exceptions.RetryError):
        what = "MetaStudio kept failing; retries used up"
    elif isinstance(e, requests.ConnectionError):
        what = f"cannot reach MetaStudio at {base_url}"
    else:
        what = f"the request to MetaStudio failed ({type(e).__name__})"
    return UnavailableError(what, request_id=request_id)


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
