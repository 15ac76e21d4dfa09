"""The simulated service: its jobs, clock, credentials, faults and request record."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from .assets import AssetStore, SimAsset
from .auth import Gatekeeper
from .callbacks import CallbackSender, Delivery
from .clock import SimClock
from .configs import LIBRARY, kept
from .faults import ERROR_BODIES, Faults
from .jobs import PHOTO_TYPES, Filters, JobStore, SimJob
from .project import project_jobs as make_project_jobs
from .seed import seed_jobs as make_seed_jobs
from .server import ServerHandle


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulator answered."""

    method: str
    path: str
    #: Decoded query pairs, in the order sent.
    params: list[tuple[str, str]]
    headers: dict[str, str]
    #: The status it was answered with.
    status: int
    #: The request's body, as sent.
    body: bytes = b""


class Simulator:
    """MetaStudio's ``GET /v1/{project_id}/digital-human-videos`` (and the jobs' detail,
    cancel and create operations, the asset library, IAM's ``POST /v3/auth/tokens`` and
    the cover images) over real HTTP.

    ``ak``/``sk``, ``token`` and ``iam_users`` are the credentials accepted; one left
    None is refused, and with none at all every request passes (the demo). ``clock``
    returns an aware UTC datetime (default: real time); pass a :class:`SimClock` to
    share it, or use ``advance``. ``seed_jobs`` realistic jobs are created relative to
    the clock, reproducibly for a given ``rng_seed``.

        sim = Simulator(project_id="proj-1", ak="AK", sk="SK", seed_jobs=100)
        server = sim.serve()            # 127.0.0.1, a free port, in a daemon thread
        job_id = sim.add_job(state="PROCESSING")
        sim.set_state(job_id, "FAILED", error_code="MSS.00000004", error_msg="Internal Error")
        sim.faults.throttle(retry_after=1)
        model = sim.add_asset(name="Anna", state="BLOCK", block_reason_code="R1")
        sim.faults.time_out_creates(after=2)   # the next create makes its job, answers late
        sim.faults.fail_next(500, where="photo-digital-human-videos")  # one read of several
        meeting = sim.faults.meet("-digital-human-videos/", parties=2)  # in flight at once?
        sim.faults.hold("/tenants/resources-usage", seconds=2)  # past a read timeout
        server.stop()
    """

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
        project_jobs: int = 0,
        project_days: float = 30.0,
        new_per_hour: float = 0.0,
        ahead: timedelta = timedelta(0),
    ) -> None:
        self.project_id = project_id
        self.clock = clock if isinstance(clock, SimClock) else SimClock(clock)
        self.faults = Faults()
        self.gatekeeper = Gatekeeper(
            ak=ak, sk=sk, token=token, clock=self.clock, project_id=project_id
        )
        self.store = JobStore()
        #: The asset library (``add_asset``, ``set_asset_state``, ``fail_review``).
        self.assets = AssetStore()
        #: At most this many ids in one asset summary (None: no limit, as documented).
        self.summary_limit: int | None = None
        #: Create requests received (refused ones too), and the jobs they made.
        self.create_calls = 0
        self.created: list[str] = []
        #: How a created job lives: (start_in, finish_in, outcome), as ``add_job`` takes.
        self.create_schedule: tuple[float, float, str] = (5.0, 60.0, "SUCCEED")
        self._create_lock = threading.Lock()
        for asset_id, name, kind, state, code in LIBRARY:
            self.add_asset(asset_id, name=name, asset_type=kind, state=state,
                           block_reason_code=code)
        #: Every request answered, in order (the list only grows; read, don't mutate).
        self.requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        #: The base URL of the last ``serve()``; covers and previews point at it.
        self.url = ""
        rng = random.Random(rng_seed)
        for job in make_seed_jobs(seed_jobs, self.now(), rng):
            self.store.add(job)
        if project_jobs or (new_per_hour and ahead):
            self.add_project(project_jobs, days=project_days, new_per_hour=new_per_hour,
                             ahead=ahead, rng=rng)
        #: The callbacks of jobs created with ``callback_url`` (``deliver_callbacks``).
        self.callbacks = CallbackSender(self.store, self.clock)

    # -- requests ----------------------------------------------------------------------

    def admit(
        self, method: str, path: str, query: list[tuple[str, str]], headers: Any, project: str,
        body: bytes = b"",
    ) -> tuple[int, Any, dict[str, str]] | None:
        """What every API route checks first, in MetaStudio's order: credentials (a
        signature covers ``body``), then the project, then an injected fault. None when
        the request may go on."""
        refusal = self.gatekeeper.check(method, path, query, headers, body)
        if refusal:
            return refusal[0], refusal[1], {}
        if project != self.project_id:
            return 404, ERROR_BODIES[404], {}
        failure = self.faults.take(f"{path}?{urlencode(query)}")
        if failure:
            return failure.status, failure.body, failure.headers
        return None

    # -- time ------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulated time."""
        return self.clock()

    def advance(self, seconds: float) -> None:
        """Let simulated time pass: scheduled jobs progress, tokens and URLs expire."""
        self.clock.advance(seconds)

    # -- jobs ------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str | None = None,
        state: str = "WAITING",
        job_type: str = "2D_DIGITAL_HUMAN_VIDEO",
        *,
        asset_name: str | None = None,
        script_id: str | None = None,
        create_time: datetime | None = None,
        error_code: str | None = None,
        error_msg: str | None = None,
        start_in: float | None = None,
        finish_in: float | None = None,
        outcome: str = "SUCCEED",
        video_seconds: float = 60.0,
        callback_url: str | None = None,
        callback_key: str | None = None,
        callback_auth: str = "MSS_A",
        config: dict[str, Any] | None = None,
    ) -> str:
        """Add a job and return its id (a uuid4 unless given).

        Without a schedule it stays in ``state`` (any string, so tests can show an
        undocumented one) until ``set_state``. With ``finish_in`` it is scheduled
        instead: WAITING for ``start_in`` seconds (default 0), PROCESSING until
        ``finish_in`` seconds from now, then ``outcome``. A FAILED job gets
        MSS.00000004 "Internal Error" unless ``error_code``/``error_msg`` say otherwise.
        With ``callback_url`` (the create call's ``callback_config``), the job is called
        back when it succeeds or fails (:meth:`deliver_callbacks`), MSS_A-signed with
        ``callback_key`` unless ``callback_auth`` is ``NONE``. ``config`` is what its
        detail shows with ``show_script=true`` (made up when None).
        """
        now = self.now().replace(microsecond=0)
        created = (create_time or now).astimezone(UTC).replace(microsecond=0)
        failing = state == "FAILED" or (finish_in is not None and outcome == "FAILED")
        job = SimJob(
            job_id=job_id or str(uuid.uuid4()),
            job_type=job_type,
            create_time=created,
            asset_name=asset_name or "Simulated video",
            script_id=script_id,
            video_seconds=video_seconds,
            error_code=error_code or ("MSS.00000004" if failing else None),
            error_msg=error_msg or ("Internal Error" if failing else None),
            callback_url=callback_url,
            callback_key=callback_key,
            callback_auth=callback_auth,
            config=config,
        )
        if finish_in is None:
            job.fixed_state, job.fixed_since = state, max(created, now)
        else:
            job.fixed_state, job.outcome = None, outcome
            job.start_at = now + timedelta(seconds=start_in or 0)
            job.end_at = max(job.start_at, now + timedelta(seconds=finish_in))
        self.store.add(job)
        self.callbacks.register(job)
        return job.job_id

    def add_project(
        self, count: int, *, days: float = 30.0, new_per_hour: float = 0.0,
        ahead: timedelta = timedelta(0), rng: random.Random | None = None,
    ) -> int:
        """Add a realistic project's jobs (see :mod:`bot.simulator.project`); returns how
        many (future ones included)."""
        jobs = make_project_jobs(count, self.now(), rng or random.Random(11), days=days,
                                 per_hour=new_per_hour, ahead=ahead)
        for job in jobs:
            self.store.add(job)
        return len(jobs)

    def count_create_call(self) -> None:
        """One more create request (used by the server)."""
        with self._create_lock:
            self.create_calls += 1

    def create_job(self, body: dict[str, Any], *, photo: bool, seconds: float) -> str:
        """Make the job a valid create ``body`` asks for (used by the server): scheduled
        by ``create_schedule``, its video ``seconds`` long, called back as its
        ``callback_config`` says; its detail shows the body back, less what MetaStudio's
        detail does not return."""
        start_in, finish_in, outcome = self.create_schedule
        callback = body.get("callback_config") or {}
        output = body.get("output_asset_config") or {}
        job_id = self.add_job(
            job_type="PHOTO_DIGITAL_HUMAN_VIDEO" if photo else "2D_DIGITAL_HUMAN_VIDEO",
            asset_name=output.get("asset_name") or "Simulated video",
            script_id=body.get("script_id"),
            start_in=start_in, finish_in=finish_in, outcome=outcome, video_seconds=seconds,
            callback_url=callback.get("callback_url"), callback_key=callback.get("key"),
            callback_auth=callback.get("auth_type") or "NONE",
            config=kept(body, photo=photo),
        )
        with self._create_lock:
            self.created.append(job_id)
        return job_id

    def deliver_callbacks(self) -> list[Delivery]:
        """Send the callbacks of jobs that have ended since the last call (each once)."""
        return self.callbacks.deliver_due()

    def detail(self, job_id: str, photo: bool, *,
               show_script: bool = True) -> dict[str, Any] | None:
        """The per-type detail operation's body, or None (unknown id, or the other
        type's path). Without ``show_script`` the configuration is left out only under
        ``faults.show_script_required``."""
        now = self.now()
        with self.store.lock:
            job = self.store.visible(job_id, now)
            if job is None or (job.job_type in PHOTO_TYPES) != photo:
                return None
            return job.to_detail_json(
                now, self.url, show_script=show_script or not self.faults.show_script_required)

    # -- assets ------------------------------------------------------------------------

    def add_asset(
        self,
        asset_id: str | None = None,
        *,
        name: str = "Simulated asset",
        asset_type: str = "HUMAN_MODEL_2D",
        state: str = "ACTIVED",
        block_reason_code: str | None = None,
        reason: str | None = None,
    ) -> str:
        """Add an asset to the library and return its id (32 hex digits unless given).
        A ``BLOCK`` asset's files are hidden, as MetaStudio hides them."""
        now = self.now().replace(microsecond=0)
        asset = SimAsset(asset_id=asset_id or uuid.uuid4().hex, asset_name=name,
                         asset_type=asset_type, asset_state=state,
                         block_reason_code=block_reason_code, reason=reason,
                         create_time=now, update_time=now)
        self.assets.add(asset)
        return asset.asset_id

    def set_asset_state(self, asset_id: str, state: str, *,
                        block_reason_code: str | None = None,
                        reason: str | None = None) -> None:
        """Freeze, unfreeze, delete… an asset now (KeyError for an unknown id)."""
        with self.assets.lock:
            asset = self._asset(asset_id)
            asset.asset_state = state
            asset.block_reason_code = block_reason_code
            asset.reason = reason
            asset.update_time = self.now().replace(microsecond=0)

    def fail_review(self, asset_id: str, reason: str, *,
                    fail_type: str = "MANUAL_REVIEW_REJECT", state: str = "FAILED") -> None:
        """The asset's main file failed review: file state FAILED with ``reason``, the
        review's ``fail_type``, the asset in ``state`` (the SDK does not say which state
        a rejection leaves; FAILED here)."""
        with self.assets.lock:
            asset = self._asset(asset_id)
            asset.main_file_state, asset.file_reason = "FAILED", reason
            asset.fail_type, asset.asset_state = fail_type, state
            asset.update_time = self.now().replace(microsecond=0)

    def _asset(self, asset_id: str) -> SimAsset:
        asset = self.assets.get(asset_id)
        if asset is None:
            raise KeyError(asset_id)
        return asset

    def set_state(
        self,
        job_id: str,
        state: str,
        *,
        error_code: str | None = None,
        error_msg: str | None = None,
    ) -> None:
        """Move a job to ``state`` now; start/end times, duration, cover and preview
        URLs and error info follow as a real job's would. A BLOCK or CANCELED job given
        ``error_code``/``error_msg`` shows them as its ``error_info`` (what MetaStudio
        shows for those states is not documented). KeyError for an unknown id."""
        now = self.now().replace(microsecond=0)
        with self.store.lock:  # no answer sees a job half changed
            job = self.store.get(job_id)
            if state == "PROCESSING" and job.start_at is None:
                job.start_at = now
            if state == "FAILED":
                job.error_code = error_code or job.error_code or "MSS.00000004"
                job.error_msg = error_msg or job.error_msg or "Internal Error"
            elif state in ("BLOCK", "CANCELED") and (error_code or error_msg):
                job.end_note = (error_code, error_msg)
            job.fixed_state, job.fixed_since = state, now
            self.store.touch()

    def state_of(self, job_id: str) -> str:
        """The job's state now (KeyError for an unknown id)."""
        return self.store.get(job_id).state_at(self.now())

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """Every job as the API would show it now, by id (a fresh copy each time)."""
        now = self.now()
        with self.store.lock:
            return {job.job_id: job.to_json(now, self.url) for job in self.store.all(now)}

    def list_page(self, filters: Filters) -> dict[str, Any]:
        """The list endpoint's body for validated ``filters``."""
        now = self.now()
        with self.store.lock:
            count, page = self.store.query(filters, now)
            return {"count": count, "jobs": [job.to_json(now, self.url) for job in page]}

    # -- credentials -------------------------------------------------------------------

    @property
    def iam_users(self) -> dict[tuple[str, str], str]:
        """(user name, domain name) -> password, accepted by POST /v3/auth/tokens."""
        return self.gatekeeper.iam_users

    @iam_users.setter
    def iam_users(self, users: dict[tuple[str, str], str]) -> None:
        self.gatekeeper.iam_users = users

    @property
    def iam_token_ttl(self) -> timedelta:
        """Lifetime of issued IAM tokens (default 24 h); seconds accepted when set."""
        return self.gatekeeper.iam_token_ttl

    @iam_token_ttl.setter
    def iam_token_ttl(self, ttl: timedelta | float) -> None:
        self.gatekeeper.iam_token_ttl = ttl if isinstance(ttl, timedelta) else timedelta(
            seconds=ttl
        )

    @property
    def iam_logins(self) -> int:
        """Login attempts so far, refused ones included."""
        return self.gatekeeper.iam_logins

    # -- switches and records ------------------------------------------------------------

    @property
    def ignore_job_ids(self) -> bool:
        """Shorthand for ``faults.ignore_job_ids``."""
        return self.faults.ignore_job_ids

    @ignore_job_ids.setter
    def ignore_job_ids(self, value: bool) -> None:
        self.faults.ignore_job_ids = value

    def request_count(self, path_suffix: str = "/digital-human-videos") -> int:
        """How many recorded requests have a path ending in ``path_suffix``."""
        with self._requests_lock:
            return sum(1 for r in self.requests if r.path.endswith(path_suffix))

    def record(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]],
        headers: dict[str, str],
        status: int,
        body: bytes = b"",
    ) -> None:
        """Append a request to ``requests`` (used by the server)."""
        with self._requests_lock:
            self.requests.append(RecordedRequest(method, path, params, headers, status, body))

    # -- serving -------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
        """Start serving in a daemon thread (port 0: a free one) and return the handle;
        ``sim.url`` becomes its URL."""
        handle = ServerHandle(self, host, port)
        self.url = handle.url
        return handle
