"""A MetaStudio simulator: GET /v1/{project_id}/digital-human-videos over real HTTP, with
the reference's filters, paging, errors and authentication, jobs that progress over
time, and fault injection. For tests, the console demo and benchmarks.

    sim = Simulator(project_id="proj-1", ak="AK", sk="SK", seed_jobs=100)
    server = sim.serve()            # 127.0.0.1, a free port, in a daemon thread
    job_id = sim.add_job(state="PROCESSING")
    sim.set_state(job_id, "FAILED", error_code="MSS.00000004", error_msg="Internal Error")
    sim.faults.throttle(retry_after=1)
    server.stop()
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .auth import Gatekeeper
from .faults import Faults
from .jobs import Filters, JobStore, SimJob
from .seed import seed_jobs
from .server import make_server

__all__ = ["RecordedRequest", "Simulator", "run"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    #: Decoded query pairs, in the order sent.
    params: list[tuple[str, str]]
    headers: dict[str, str]
    status: int


class ServerHandle:
    def __init__(self, sim: Simulator, host: str, port: int) -> None:
        self._server = make_server(sim, host, port)
        self.host, self.port = self._server.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Simulator:
    """The simulated service. ``clock`` returns an aware UTC datetime (default: real
    time); ``advance`` moves the simulator's time forward from there. With no ``ak``,
    ``token`` or IAM users, every request is accepted (the demo)."""

    def __init__(
        self,
        project_id: str = "proj-1",
        *,
        ak: str | None = None,
        sk: str | None = None,
        token: str | None = None,
        seed_jobs: int = 0,
        rng_seed: int = 7,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.project_id = project_id
        self._base_clock = clock or (lambda: datetime.now(UTC))
        self._offset = timedelta(0)
        self.faults = Faults()
        self.gatekeeper = Gatekeeper(ak=ak, sk=sk, token=token, clock=self.now)
        self.store = JobStore()
        self.requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self.url = ""  # set by serve()
        self._rng = random.Random(rng_seed)
        for job in seed_jobs_for(seed_jobs, self.now(), self._rng):
            self.store.add(job)

    # -- time ------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._base_clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Let simulated time pass: scheduled jobs progress accordingly."""
        self._offset += timedelta(seconds=seconds)

    # -- jobs ------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str | None = None,
        state: str = "WAITING",
        job_type: str = "2D_DIGITAL_HUMAN_VIDEO",
        *,
        asset_name: str | None = "Simulated video",
        script_id: str | None = None,
        create_time: datetime | None = None,
        error_code: str | None = None,
        error_msg: str | None = None,
        finish_in: float | None = None,
        outcome: str = "SUCCEED",
        video_seconds: float = 60.0,
    ) -> str:
        """Add a job and return its id. It stays in ``state`` until ``set_state``, unless
        ``finish_in`` schedules it: PROCESSING now, ``outcome`` after that many seconds."""
        now = self.now()
        created = (create_time or now).astimezone(UTC).replace(microsecond=0)
        job = SimJob(
            job_id=job_id or str(uuid.uuid4()),
            job_type=job_type,
            create_time=created,
            asset_name=asset_name,
            script_id=script_id,
            video_seconds=video_seconds,
            error_code=error_code or ("MSS.00000004" if state == "FAILED" else None),
            error_msg=error_msg or ("Internal Error" if state == "FAILED" else None),
        )
        if finish_in is None:
            job.fixed_state, job.fixed_since = state, max(created, now.replace(microsecond=0))
        else:
            job.fixed_state, job.start_at = None, created
            job.end_at, job.outcome = now + timedelta(seconds=finish_in), outcome
        self.store.add(job)
        return job.job_id

    def set_state(
        self,
        job_id: str,
        state: str,
        *,
        error_code: str | None = None,
        error_msg: str | None = None,
    ) -> None:
        """Move a job to ``state`` now (times, cover and error info follow)."""
        job = self.store.get(job_id)
        now = self.now().replace(microsecond=0)
        if state == "PROCESSING" and job.start_at is None:
            job.start_at = now
        if state == "FAILED":
            job.error_code = error_code or job.error_code or "MSS.00000004"
            job.error_msg = error_msg or job.error_msg or "Internal Error"
        job.fixed_state, job.fixed_since = state, now

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """Every job as the API would show it now."""
        now = self.now()
        return {job.job_id: job.to_json(now, self.url) for job in self.store.all()}

    # -- switches and records ------------------------------------------------------------

    @property
    def ignore_job_ids(self) -> bool:
        return self.faults.ignore_job_ids

    @ignore_job_ids.setter
    def ignore_job_ids(self, value: bool) -> None:
        self.faults.ignore_job_ids = value

    @property
    def iam_users(self) -> dict[tuple[str, str], str]:
        return self.gatekeeper.iam_users

    @iam_users.setter
    def iam_users(self, users: dict[tuple[str, str], str]) -> None:
        self.gatekeeper.iam_users = users

    @property
    def iam_token_ttl(self) -> timedelta:
        return self.gatekeeper.iam_token_ttl

    @iam_token_ttl.setter
    def iam_token_ttl(self, ttl: timedelta | float) -> None:
        if not isinstance(ttl, timedelta):
            ttl = timedelta(seconds=ttl)
        self.gatekeeper.iam_token_ttl = ttl

    @property
    def iam_logins(self) -> int:
        return self.gatekeeper.iam_logins

    def request_count(self, path_suffix: str = "/digital-human-videos") -> int:
        with self._requests_lock:
            return sum(1 for r in self.requests if r.path.endswith(path_suffix))

    def _record(self, method, path, params, headers, status) -> None:
        with self._requests_lock:
            self.requests.append(RecordedRequest(method, path, params, headers, status))

    # -- serving -------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
        handle = ServerHandle(self, host, port)
        self.url = handle.url
        return handle

    def _list(self, filters: Filters) -> dict[str, Any]:
        now = self.now()
        count, page = self.store.query(filters, now)
        extras = self.faults.extras()
        jobs = [{**job.to_json(now, self.url), **extras} for job in page]
        return {"count": count, "jobs": jobs, **extras}


def seed_jobs_for(count: int, now: datetime, rng: random.Random) -> list[SimJob]:
    return seed_jobs(count, now, rng) if count else []


def run(port: int, host: str = "127.0.0.1", seed_jobs: int = 200) -> None:
    """Serve forever with seeded jobs and no authentication (``videojobs-bot simulator``)."""
    sim = Simulator(seed_jobs=seed_jobs)
    handle = sim.serve(host, port)
    print(
        f"MetaStudio simulator on {handle.url}  project id {sim.project_id}  "
        f"(any credentials accepted; {seed_jobs} seeded jobs)",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        handle.stop()
