"""``create_app(services, answers)``: the Bolt app, with every listener registered once;
:class:`TokenCheck`: ``auth.test`` off the start-up path.

Bolt verifies the bot token with ``auth.test`` while the app is built, and raises if
Slack does not answer, so a Slack outage at boot used to stop the server (gunicorn halts
when a worker fails to boot). The app is built without that call here; a
:class:`TokenCheck` asks Slack in the background, with backoff, until it answers, and
``/healthz`` says "degraded" until then (docs/operations.md, "Slack at start-up").
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from . import listeners
from .listeners.answer import Dispatcher
from .messenger import without_retries
from .services import Services

log = logging.getLogger(__name__)

#: Threads for the listeners that still use Bolt's lazy listeners (App Home, shortcuts;
#: Bolt's default is 5). Commands and clicks use the bot's own queue (bot.slack.answer_queue).
LAZY_LISTENER_THREADS = 16
#: Seconds one ``auth.test`` may take before it counts as "Slack did not answer".
CHECK_TIMEOUT = 10.0


def create_app(services: Services, answers: Dispatcher, *, signing_secret: str = "",
               verified_in_front: bool = False) -> App:
    """``answers`` answers commands and clicks after their ack (in this process, or in
    the answering process under ``videojobs-bot http``). ``signing_secret``: Socket
    Mode has none, and Bolt skips verification for its requests. ``verified_in_front``:
    the HTTP front (:mod:`bot.slack.request_front`) has already checked each request's
    signature and timestamp on its raw bytes, so Bolt does not check (and log) them a
    second time.

    No Slack call is made here: the token is verified by a :class:`TokenCheck`, and
    Bolt asks ``auth.test`` itself on the first request that needs the bot's identity."""
    with _ours_dropped(services.slack):
        app = App(
            client=services.slack,
            # Passing "" rather than None keeps Bolt from reading the environment again.
            signing_secret=signing_secret,
            request_verification_enabled=not verified_in_front,
            token_verification_enabled=False,  # no auth.test at boot (TokenCheck)
            # Listeners run in the request's own thread and only queue the answer on
            # the bot's bounded executor (bot.slack.listeners.commands explains why),
            # so the HTTP answer never waits for a free thread.
            process_before_response=True,
            listener_executor=ThreadPoolExecutor(LAZY_LISTENER_THREADS,
                                                 thread_name_prefix="listener"),
        )
    listeners.register(app, services, answers)
    return app


class _Drop(logging.Filter):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.message


@contextlib.contextmanager
def _ours_dropped(client: WebClient) -> Iterator[None]:
    """Bolt reads ``SLACK_BOT_TOKEN`` from the environment even when it is given a
    client, and then warns that "`token` will be unused". The client was built from that
    very variable, so the warning says nothing; it is dropped while the app is built,
    unless the environment holds another token than the client's."""
    bolt = logging.getLogger("slack_bolt.App")  # slack_bolt.logger.get_bolt_logger(App)
    if os.environ.get("SLACK_BOT_TOKEN") not in (None, client.token):
        yield
        return
    drop = _Drop(warning_client_prioritized_and_token_skipped())
    bolt.addFilter(drop)
    try:
        yield
    finally:
        bolt.removeFilter(drop)


def slack_refused(error: SlackApiError) -> bool:
    """Slack answered and said no (``{"ok": false, "error": "invalid_auth"}`` with HTTP
    200), as opposed to not answering properly (5xx, 429, a load balancer's page)."""
    response = error.response
    data = response.data if isinstance(response.data, dict) else {}
    return (response.status_code < 500 and response.status_code != 429
            and data.get("error") != "ratelimited")


def _why(error: Exception) -> str:
    """What went wrong with an ``auth.test``, without the token."""
    if isinstance(error, SlackApiError):
        data = error.response.data if isinstance(error.response.data, dict) else {}
        what = str(data.get("error") or "no error given")[:80]
        return f"HTTP {error.response.status_code}, {what}"
    return type(error).__name__


class TokenCheck:
    """Whether Slack has accepted ``SLACK_BOT_TOKEN`` (``auth.test``), asked on a thread
    of its own: at once, then after ``first_wait`` seconds, doubling up to ``max_wait``,
    until Slack says yes. A refused token is logged at ERROR and asked about again on
    the same schedule (a reinstalled app can make it good again); a Slack that does not
    answer (5xx, 429, no connection) is logged at WARNING. :meth:`report` is what
    ``/healthz`` shows until then."""

    def __init__(self, client: WebClient, *, first_wait: float = 1.0,
                 max_wait: float = 60.0) -> None:
        self._client = without_retries(client, timeout=CHECK_TIMEOUT)
        self.first_wait = first_wait
        self.max_wait = max_wait
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: The ``auth.test`` answer once Slack accepted the token.
        self.identity: dict[str, Any] | None = None
        #: Why the token is not verified yet (None once it is).
        self.reason: str | None = "not checked yet"
        #: True while the last answer was Slack refusing the token.
        self.refused = False
        self.attempts = 0

    @property
    def verified(self) -> bool:
        return self._done.is_set()

    def start(self) -> TokenCheck:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="slack-token-check",
                                                daemon=True)
                self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the token is verified (within ``timeout`` seconds)."""
        return self._done.wait(timeout)

    def report(self) -> dict[str, Any] | None:
        """None once verified; else what ``/healthz`` says (``fix`` when Slack refuses)."""
        if self.verified:
            return None
        report: dict[str, Any] = {"verified": False, "reason": self.reason}
        if self.refused:
            report["fix"] = "SLACK_BOT_TOKEN"
        return report

    def check_once(self, next_wait: float = 0.0) -> bool:
        """One ``auth.test``; True when Slack accepted the token."""
        self.attempts += 1
        try:
            answer = self._client.auth_test()
        except SlackApiError as e:
            refused = slack_refused(e)
            self._failed(refused, _why(e), next_wait)
            return False
        except Exception as e:  # any failure to answer is "not yet"
            self._failed(False, _why(e), next_wait)
            return False
        self.identity = dict(answer.data) if isinstance(answer.data, dict) else {}
        self.reason, self.refused = None, False
        log.info("Slack accepts SLACK_BOT_TOKEN (workspace %s, bot @%s)%s",
                 self.identity.get("team"), self.identity.get("user"),
                 f", after {self.attempts} tries" if self.attempts > 1 else "")
        self._done.set()
        return True

    def _failed(self, refused: bool, why: str, next_wait: float) -> None:
        self.refused = refused
        if refused:
            self.reason = f"Slack refuses SLACK_BOT_TOKEN ({why})"
            log.error("%s: fix SLACK_BOT_TOKEN (the Bot User OAuth Token, xoxb-…). Serving "
                      "anyway; asking again in %g s.", self.reason, next_wait)
            return
        self.reason = f"Slack did not answer auth.test ({why}); SLACK_BOT_TOKEN is not verified yet"
        log.warning("%s. Serving anyway (/healthz says degraded); asking again in %g s.",
                    self.reason, next_wait)

    def _run(self) -> None:
        wait = self.first_wait
        while not self._stop.is_set():
            if self.check_once(next_wait=wait):
                return
            if self._stop.wait(wait):
                return
            wait = min(wait * 2, self.max_wait)
