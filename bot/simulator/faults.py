"""Fault injection: what a real gateway and service do on a bad day."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

#: The reference's error bodies, and the API gateway's for throttling
#: (docs/metastudio-api.md, "Errors").
ERROR_BODIES: dict[int, dict[str, str]] = {
    400: {"error_code": "MSS.00000003", "error_msg": "Invalid parameter"},
    401: {"error_code": "MSS.00000001", "error_msg": "Unauthorized"},
    404: {"error_code": "MSS.00000002", "error_msg": "Not Found"},
    429: {"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached"},
    500: {"error_code": "MSS.00000004", "error_msg": "Internal Error"},
}
#: Schema drift with ``extra_fields = True``: unknown fields, and a state nobody documented.
DRIFT_FIELDS = {"x_trace": {"region": "sim-1"}, "render_node": "node-7"}
DRIFT_STATE = "ARCHIVED"
#: What ``malformed_json`` answers with status 200: a body cut off mid-string.
TRUNCATED_BODY = '{"count": 3, "jobs": [{"job_id": "trunc'


@dataclass
class Failure:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str]
    times: int
    #: Only requests whose path and query (``path?query``) contain this; None: any.
    where: str | None = None


class Meeting:
    """Requests that must be in flight at once: each of the first ``parties`` requests
    matching ``where`` (a substring of ``path?query``) waits, up to ``timeout`` seconds,
    until all of them have arrived. Requests made one after another never meet: the
    first one waits out the timeout and ``met`` stays False. Later requests pass."""

    def __init__(self, where: str, parties: int, timeout: float) -> None:
        self.where = where
        self.parties = parties
        self.timeout = timeout
        self.arrived = 0
        self.met = False
        self._barrier = threading.Barrier(parties)
        self._lock = threading.Lock()

    def arrive(self, target: str) -> None:
        if self.where not in target:
            return
        with self._lock:
            if self.arrived >= self.parties:
                return
            self.arrived += 1
        try:
            self._barrier.wait(self.timeout)
        except threading.BrokenBarrierError:
            return
        self.met = True


@dataclass
class Faults:
    """Set attributes or queue failures for the list endpoint; ``reset()`` clears all.

    Queued failures are answered after authentication, in the order queued.
    """

    #: Seconds added before every answer (real time: the client's timeouts are real).
    latency: float = 0.0
    #: True: DRIFT_FIELDS on the page and on every job, and the first job of each page
    #: shown in state DRIFT_STATE. A dict: exactly those fields, states untouched.
    extra_fields: dict[str, Any] | bool = False
    #: An older deployment: ``job_ids`` is ignored and an unfiltered page comes back.
    ignore_job_ids: bool = False
    #: The strict reading of docs/metastudio-api.md, "Listing parameters": look-ups by
    #: ``job_id``/``job_ids`` without ``create_since`` also see only the last month.
    lookups_within_month: bool = False
    #: Stricter still: every listing, whatever its ``create_since``, sees only the last
    #: month; older jobs are found only by the per-type detail operations.
    list_month_only: bool = False
    #: Added to every answer's ``count`` (a server counting differently).
    count_offset: int = 0
    #: A broken server: ``offset`` ignored (always the first page), and this ``count``.
    ignore_offset_count: int | None = None
    #: The strict reading of the API notes (section 2): a job detail holds its
    #: configuration (model, voice, video, scripts) only when asked ``show_script=true``.
    show_script_required: bool = False
    _queue: list[Failure] = field(default_factory=list)
    _meetings: list[Meeting] = field(default_factory=list)
    #: (where, seconds, times left): requests held before they are answered.
    _holds: list[list[Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Seconds each of the next create calls holds its answer after making its job.
    _create_delays: list[float] = field(default_factory=list)

    def fail_next(
        self,
        status: int = 500,
        body: dict[str, Any] | str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        where: str | None = None,
    ) -> None:
        """The next ``times`` API requests answer ``status``, by default with the
        reference's body for it (a 5xx gets the 500 body, another 4xx the 400 one) and,
        for 429, ``Retry-After: 1``. ``where``: only requests whose ``path?query``
        contains it (one of several reads made side by side)."""
        if body is None:
            body = ERROR_BODIES.get(status) or ERROR_BODIES[500 if status >= 500 else 400]
        if headers is None:
            headers = {"Retry-After": "1"} if status == 429 else {}
        with self._lock:
            self._queue.append(Failure(status, body, headers, times, where))

    def throttle(self, retry_after: int = 1, times: int = 1) -> None:
        """The gateway's 429 APIGW.0308 with ``Retry-After``."""
        self.fail_next(429, headers={"Retry-After": str(retry_after)}, times=times)

    def malformed_json(self, times: int = 1) -> None:
        """200 with a truncated, unparseable body."""
        self.fail_next(200, body=TRUNCATED_BODY, times=times)

    def time_out_creates(self, after: float = 2.0, times: int = 1) -> None:
        """The next ``times`` create calls make their job, then hold the answer for
        ``after`` seconds (real time): longer than the client's read timeout, the
        client sees a timeout although the job exists."""
        with self._lock:
            self._create_delays.extend([after] * times)

    def take_create_timeout(self) -> float | None:
        """The hold due for this create call, if any (used by the server)."""
        with self._lock:
            return self._create_delays.pop(0) if self._create_delays else None

    def take(self, target: str = "") -> Failure | None:
        """The failure due now for a request to ``target`` (``path?query``), if any
        (used by the server)."""
        with self._lock:
            failure = next((f for f in self._queue
                            if f.where is None or f.where in target), None)
            if failure is None:
                return None
            failure.times -= 1
            if failure.times <= 0:
                self._queue.remove(failure)
            return failure

    def meet(self, where: str, parties: int, timeout: float = 10.0) -> Meeting:
        """The next ``parties`` requests matching ``where`` must be in flight at once
        (see :class:`Meeting`); a test reads ``met`` afterwards."""
        meeting = Meeting(where, parties, timeout)
        with self._lock:
            self._meetings.append(meeting)
        return meeting

    def hold(self, where: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` requests matching ``where`` are answered ``seconds`` late
        (real time: past a client's read timeout, the client sees a timeout)."""
        with self._lock:
            self._holds.append([where, seconds, times])

    def gate(self, target: str) -> float:
        """Meetings ``target`` takes part in are waited for; the hold due for it is
        returned (used by the server)."""
        with self._lock:
            meetings = list(self._meetings)
            hold = next((h for h in self._holds if h[0] in target), None)
            if hold is not None:
                hold[2] -= 1
                if hold[2] <= 0:
                    self._holds.remove(hold)
        for meeting in meetings:
            meeting.arrive(target)
        return float(hold[1]) if hold is not None else 0.0

    def drift(self, page: dict[str, Any]) -> dict[str, Any]:
        """``page`` as a newer deployment would send it, per ``extra_fields``, and with
        ``count_offset`` / ``ignore_offset_count`` applied."""
        if self.count_offset:
            page = {**page, "count": page["count"] + self.count_offset}
        if self.ignore_offset_count is not None:
            page = {**page, "count": self.ignore_offset_count}
        if not self.extra_fields:
            return page
        extras = DRIFT_FIELDS if self.extra_fields is True else dict(self.extra_fields)
        jobs = [{**job, **extras} for job in page["jobs"]]
        if self.extra_fields is True and jobs:
            jobs[0]["state"] = DRIFT_STATE
        return {**page, "jobs": jobs, **extras}

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._create_delays.clear()
            self._meetings.clear()
            self._holds.clear()
        self.latency = 0.0
        self.extra_fields = False
        self.ignore_job_ids = False
        self.lookups_within_month = False
        self.list_month_only = False
        self.count_offset = 0
        self.ignore_offset_count = None
        self.show_script_required = False
