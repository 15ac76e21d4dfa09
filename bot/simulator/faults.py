"""Fault injection: what a real gateway and service do on a bad day."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

#: The reference's error bodies, and the API gateway's for throttling (API-NOTES.md).
ERROR_BODIES = {
    400: {"error_code": "MSS.00000003", "error_msg": "Invalid parameter"},
    401: {"error_code": "MSS.00000001", "error_msg": "Unauthorized"},
    404: {"error_code": "MSS.00000002", "error_msg": "Not Found"},
    429: {"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached"},
    500: {"error_code": "MSS.00000004", "error_msg": "Internal Error"},
}


@dataclass
class Failure:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str]
    times: int


@dataclass
class Faults:
    """Set attributes or queue failures; ``reset()`` clears everything."""

    #: Seconds added before every answer.
    latency: float = 0.0
    #: Unknown fields on the page and on every job (a dict of them, or True for defaults).
    extra_fields: dict[str, Any] | bool = False
    #: An older deployment: ``job_ids`` is ignored and an unfiltered page comes back.
    ignore_job_ids: bool = False
    _queue: list[Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self,
        status: int = 500,
        body: dict[str, Any] | str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` list requests answer ``status`` with the reference's body."""
        fallback = ERROR_BODIES[500] if status >= 500 else ERROR_BODIES[400]
        default = ERROR_BODIES.get(status, fallback)
        with self._lock:
            self._queue.append(Failure(status, body or default, headers or {}, times))

    def throttle(self, retry_after: int = 1, times: int = 1) -> None:
        self.fail_next(429, headers={"Retry-After": str(retry_after)}, times=times)

    def malformed_json(self, times: int = 1) -> None:
        self.fail_next(200, body='{"count": 3, "jobs": [{"job_id": "trunc', times=times)

    def take(self) -> Failure | None:
        with self._lock:
            if not self._queue:
                return None
            failure = self._queue[0]
            failure.times -= 1
            if failure.times <= 0:
                self._queue.pop(0)
            return failure

    def extras(self) -> dict[str, Any]:
        if self.extra_fields is True:
            return {"x_trace": {"region": "sim-1"}, "render_node": "node-7"}
        return dict(self.extra_fields or {})

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
        self.latency = 0.0
        self.extra_fields = False
        self.ignore_job_ids = False
