"""``POST /metastudio/callback``: MetaStudio's job callbacks, for an announcement within
about a second of a job's end (docs/polling.md, "Push").

MetaStudio calls the ``callback_url`` of a job's ``callback_config`` when the job ends.
With ``auth_type`` MSS_A it appends ``time_stamp`` (hex epoch seconds) and
``secret = hex hmac_sha256(key, callback_url + time_stamp)`` to that URL. Here:

- the signature is recomputed over the configured public URL
  (``METASTUDIO_CALLBACK_URL``, or the URL the request arrived at) and compared in
  constant time with ``METASTUDIO_CALLBACK_KEY``; a forged, stale (more than 5 minutes
  old, or more than a minute ahead of our clock) or replayed (the same request again, or
  the same signature for the same job) callback gets 401, is logged, and nothing else
  happens;
- the URL is checked before the body is read, and a replay of the same request before
  the body is parsed; the body is read up to 4 KiB, must be UTF-8 JSON, an object with a
  job id: anything else (nested, huge, not JSON, not UTF-8) is 4xx, logged by its size
  only;
- the body is never trusted for the state: the job is looked up, and its end recorded
  by the poller's own code (:meth:`bot.tracking.polling.poller.Poller.observe`), so a callback
  and a poll seeing the same end announce it once;
- a lost callback costs only latency: polling reconciles.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ...metastudio.errors import MetaStudioError
from ...metastudio.query import valid_job_id
from ..store.database import Store
from .poller import Poller

log = logging.getLogger(__name__)

PATH = "/metastudio/callback"
#: A callback's time stamp may be this old (like Slack's 5 minutes: delivery, retries).
MAX_SKEW = timedelta(minutes=5)
#: ...and this far ahead of our clock. MetaStudio stamps a callback as it sends it, so
#: only disagreeing clocks put a genuine one ahead: NTP keeps two clouds' clocks within
#: milliseconds, and a minute also covers a badly kept one. More would only lengthen the
#: life of a captured URL, whose receipt must outlive it (retention.RECEIPT_KEEP, 10
#: minutes, against 5 + 1).
MAX_AHEAD = timedelta(minutes=1)
#: Bodies are three short fields; anything larger is not MetaStudio's.
MAX_BODY = 4096


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def expected_secret(key: str, callback_url: str, time_stamp: str) -> str:
    """MSS_A's ``secret`` for ``callback_url`` (as configured, without the two added
    parameters) at ``time_stamp`` (hex)."""
    return hmac.new(key.encode(), (callback_url + time_stamp).encode(),
                    hashlib.sha256).hexdigest()


def _time_stamp(value: str) -> datetime | None:
    """``time_stamp`` is hex epoch seconds; a value too large for seconds is read as
    milliseconds (the unit is not documented)."""
    try:
        number = int(value, 16)
    except ValueError:
        return None
    if number > 10**11:
        number //= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


class CallbackReceiver:
    """Verifies and handles callbacks. ``public_url``: the callback URL exactly as given
    to MetaStudio (what it signs), e.g. ``https://bot.example.com/metastudio/callback``;
    None: the URL of the request as it arrived (right only without a proxy in front).
    ``wake`` is called after a notification was enqueued (a send pass, so the post does
    not wait for the worker's next cycle)."""

    def __init__(
        self,
        key: str,
        store: Store,
        poller: Poller,
        *,
        public_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.key = key
        self.store = store
        self.poller = poller
        self.public_url = public_url
        self.clock = clock
        self.wake = wake

    def handle(self, arrived_url: str, query: str, body: bytes) -> Answer:
        """One request: ``arrived_url`` is scheme://host/path as received, ``query`` its
        raw query string. :func:`wsgi_handler` runs the two halves itself, so that a
        refused URL's body is never read."""
        return self.verify(arrived_url, query) or self.accept(query, body)

    def verify(self, arrived_url: str, query: str) -> Answer | None:
        """The URL's checks (signature, age), before anything of the body: a refusal,
        or None."""
        refusal = self._verify(arrived_url, parse_qsl(query, keep_blank_values=True))
        if refusal is None:
            return None
        log.warning("MetaStudio callback refused: %s", refusal)
        return Answer(401, {"error": "invalid callback signature", "reason": refusal})

    def accept(self, query: str, body: bytes) -> Answer:
        """A verified request's body (at most ``MAX_BODY`` bytes): a replay of the same
        request is refused before the body is parsed; then the job it names is looked
        at."""
        pairs = parse_qsl(query, keep_blank_values=True)
        if not self._first_time(pairs, "request:" + hashlib.sha256(body).hexdigest()):
            log.warning("MetaStudio callback refused: replayed (the same request again)")
            return Answer(401, {"error": "invalid callback signature", "reason": "replayed"})
        job_id = _job_id(body)
        if job_id is None:
            log.warning("MetaStudio callback with a malformed body (%d bytes)", len(body))
            return Answer(400, {"error": "expected UTF-8 JSON with a job_id"})
        if not self._first_time(pairs, job_id):
            log.warning("MetaStudio callback refused: replayed (job %s)", job_id)
            return Answer(401, {"error": "invalid callback signature", "reason": "replayed"})
        try:
            enqueued = self.poller.observe(job_id)
        except MetaStudioError as e:
            # Accepted all the same: the next poll reconciles, nothing is lost.
            log.warning("callback for job %s: look-up failed (%s); polling will catch up",
                        job_id, e)
            return Answer(202, {"ok": True, "looked_up": False})
        if enqueued and self.wake is not None:
            self.wake()
        log.info("callback for job %s: %d notification(s) enqueued", job_id, enqueued)
        return Answer(200, {"ok": True, "enqueued": enqueued})

    def _verify(self, arrived_url: str, pairs: list[tuple[str, str]]) -> str | None:
        """None when the callback is genuine, fresh and new; else why not."""
        stamps = [v for k, v in pairs if k == "time_stamp"]
        secrets = [v for k, v in pairs if k == "secret"]
        if len(stamps) != 1 or len(secrets) != 1:
            return "time_stamp and secret must each appear once"
        time_stamp, secret = stamps[0], secrets[0]
        # MetaStudio appended the two parameters to the URL it was given: take them
        # off what arrived, keeping any parameters of the configured URL.
        own = [(k, v) for k, v in pairs if k not in ("time_stamp", "secret")]
        url = self.public_url or (arrived_url + (f"?{urlencode(own)}" if own else ""))
        expected = expected_secret(self.key, url, time_stamp)
        if not hmac.compare_digest(expected.encode(), secret.lower().encode()):
            return "signature mismatch"
        when = _time_stamp(time_stamp)
        if when is None:
            return "malformed time stamp"
        now = self.clock()
        if now - when > MAX_SKEW:
            return "stale time stamp"
        if when - now > MAX_AHEAD:
            return "time stamp in the future"
        return None

    def _first_time(self, pairs: list[tuple[str, str]], what: str) -> bool:
        """Record this (signature, ``what``) and say whether it is new. The signature
        covers only the URL and the time stamp, not the body: two jobs ending in the same
        second share it, so a replay is the same signature for the same request (its
        body's digest), or for the same job."""
        secret = next(v for k, v in pairs if k == "secret").lower()
        receipt = hashlib.sha256(f"{secret}:{what}".encode()).hexdigest()
        return self.store.first_receipt(receipt, self.clock())


def _job_id(body: bytes) -> str | None:
    """The job id of a callback body: UTF-8 JSON (not the UTF-16 or -32 ``json.loads``
    would also take), an object whose ``job_id`` is a job id. None for anything else,
    nested ten thousand deep included."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    return job_id if isinstance(job_id, str) and valid_job_id(job_id) else None


def wsgi_handler(receiver: CallbackReceiver) -> Callable[..., list[bytes]]:
    """The WSGI endpoint for ``POST /metastudio/callback`` (mounted by :mod:`bot.serve.web`)."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _respond(start_response, Answer(405, {"error": "POST only"}))
        query = environ.get("QUERY_STRING", "")
        try:
            # The URL first: a forged or stale callback's body is never read.
            answer = receiver.verify(_arrived_url(environ), query)
            if answer is None:
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                except ValueError:
                    length = -1
                if length < 0 or length > MAX_BODY:
                    return _respond(start_response, Answer(413, {"error": "body too large"}))
                body = environ["wsgi.input"].read(length) if length else b""
                answer = receiver.accept(query, body)
        except Exception:
            # The database or a bug, not the request: MetaStudio may try again, and
            # polling reconciles anyway. The traceback is logged, never the body.
            log.exception("MetaStudio callback could not be handled")
            answer = Answer(503, {"error": "try again later"})
        return _respond(start_response, answer)

    return application


def _arrived_url(environ: dict[str, Any]) -> str:
    # PEP 3333 requires wsgi.url_scheme and SERVER_NAME of every server; Host, SCRIPT_NAME
    # and PATH_INFO may be missing.
    scheme = environ["wsgi.url_scheme"]
    host = environ.get("HTTP_HOST") or environ["SERVER_NAME"]
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}"


def _respond(start_response: Callable[..., Any], answer: Answer) -> list[bytes]:
    data = json.dumps(answer.body).encode()
    reasons = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
               405: "Method Not Allowed", 413: "Payload Too Large",
               503: "Service Unavailable"}
    start_response(f"{answer.status} {reasons.get(answer.status, '')}".strip(),
                   [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


class SendSoon:
    """A ``wake`` for :class:`CallbackReceiver`: one send pass in a background thread,
    at most one running and one waiting (a burst of callbacks makes two passes, not one
    per callback). Senders in several processes are safe: the outbox leases rows.

    After a pass, when ``next_due_in`` says a notification is held (the channel's
    one-a-second pace, a Retry-After) for at most ``horizon`` seconds, another pass runs
    when the hold ends: jobs of one channel ending moments apart are each posted as
    soon as Slack's pace allows, not at the next poll."""

    def __init__(self, send: Callable[[], object],
                 next_due_in: Callable[[], float | None] = lambda: None, *,
                 horizon: float = 60.0) -> None:
        self._send = send
        self._next_due_in = next_due_in
        self.horizon = horizon
        self._lock = threading.Lock()
        self._pending = False
        self._running = False
        self._timer: threading.Timer | None = None

    def __call__(self) -> None:
        with self._lock:
            if self._running:
                self._pending = True
                return
            self._running = True
        threading.Thread(target=self._run, name="callback-send", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                self._send()
            except Exception:
                log.exception("send pass after a callback failed; the worker retries")
            with self._lock:
                if not self._pending:
                    self._running = False
                    break
                self._pending = False
        self._wake_when_due()

    def _wake_when_due(self) -> None:
        try:
            due = self._next_due_in()
        except Exception:
            log.warning("could not tell when the next notification is due", exc_info=True)
            return
        if due is None or due > self.horizon:
            return  # the tracking loop's next cycle is soon enough
        with self._lock:
            if self._timer is not None:
                return  # one wake is already set; its pass sets the next
            self._timer = threading.Timer(max(due, 0.05), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        """Drop a wake that is set (the process is stopping)."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        self()
