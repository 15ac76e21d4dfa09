"""The job callbacks MetaStudio sends when a job ends (docs/metastudio-api.md, "Job callbacks"):
a POST of ``{"result", "asset_id", "job_id"}`` to the create call's ``callback_url``;
with ``auth_type`` MSS_A the URL gets ``time_stamp`` (hex epoch seconds) and
``secret = hex hmac_sha256(key, callback_url + time_stamp)`` appended.

Only SUCCEED and FAILED are reported, like MetaStudio. :class:`CallbackSender` sends
each job's callback once, when asked (tests) or from a thread (demo, benchmarks).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import requests

from .jobs import JobStore, SimJob

log = logging.getLogger(__name__)

#: The results MetaStudio calls back with.
REPORTED = ("SUCCEED", "FAILED")


def sign_callback_url(url: str, key: str, when: datetime) -> str:
    """``url`` as MetaStudio calls it in MSS_A mode, at ``when``."""
    time_stamp = format(int(when.timestamp()), "x")
    secret = hmac.new(key.encode(), (url + time_stamp).encode(), hashlib.sha256).hexdigest()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}time_stamp={time_stamp}&secret={secret}"


@dataclass(frozen=True)
class Delivery:
    """One callback sent: to which URL (signed), about which job, and the answer."""

    job_id: str
    url: str
    body: dict[str, str]
    status: int | None
    error: str | None = None
    #: When it was sent (monotonic seconds): latency benchmarks start here.
    sent_at: float = 0.0


class CallbackSender:
    """Sends the callbacks of ended jobs that asked for one, each once."""

    def __init__(self, store: JobStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self.session = requests.Session()
        self._lock = threading.Lock()
        self._waiting: dict[str, SimJob] = {}
        #: Every callback sent, in order.
        self.deliveries: list[Delivery] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def register(self, job: SimJob) -> None:
        if job.callback_url:
            with self._lock:
                self._waiting[job.job_id] = job

    def due(self) -> list[SimJob]:
        """Jobs that have ended with a reported result and not been called back yet."""
        now = self.clock()
        with self._lock:
            return [job for job in self._waiting.values() if job.state_at(now) in REPORTED]

    def deliver_due(self) -> list[Delivery]:
        """Send every due callback now; returns what was sent."""
        sent = []
        for job in self.due():
            with self._lock:
                if self._waiting.pop(job.job_id, None) is None:
                    continue
            sent.append(self.send(job))
        return sent

    def send(self, job: SimJob, *, at: datetime | None = None) -> Delivery:
        """One callback about ``job`` (also to replay one in tests), signed at ``at``."""
        now = at or self.clock()
        assert job.callback_url is not None
        url = job.callback_url
        if job.callback_auth == "MSS_A" and job.callback_key is not None:
            url = sign_callback_url(url, job.callback_key, now)
        body = {"result": job.state_at(self.clock()), "asset_id": job.asset_id,
                "job_id": job.job_id}
        sent_at = time.monotonic()
        try:
            response = self.session.post(url, json=body, timeout=5)
            delivery = Delivery(job.job_id, url, body, response.status_code, sent_at=sent_at)
        except requests.RequestException as e:
            delivery = Delivery(job.job_id, url, body, None, type(e).__name__, sent_at=sent_at)
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    def start(self, interval: float = 0.05) -> None:
        """Deliver due callbacks every ``interval`` seconds in a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.deliver_due()
                except Exception:  # a simulator bug must not kill the thread silently
                    log.exception("simulated callbacks failed")

        self._thread = threading.Thread(target=run, name="metastudio-sim-callbacks",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.session.close()
