"""Simulated video production tasks: their lifecycle and the list endpoint's filters.

A job's state is computed from the clock at request time (no background thread), so
tests move time with ``Simulator.advance`` and the demo simply lets real time pass.
"""

from __future__ import annotations

import bisect
import math
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from . import configs
from .cover import cover_url

FINISHED = ("SUCCEED", "FAILED", "CANCELED", "BLOCK")
#: The request docs and the SDK's response model spell photo jobs differently
#: (docs/metastudio-api.md, "Formats").
PHOTO_TYPES = ("PHOTO_DIGITAL_HUMAN_VIDEO", "DIGITAL_HUMAN_PHOTO_VIDEO")
#: Without create_since the list covers roughly the last month (unconfirmed;
#: docs/metastudio-api.md, "Listing parameters").
DEFAULT_HORIZON = timedelta(days=30)
#: The reference: preview_video_url is valid for 24 hours. Signed URLs are minted per
#: answer, so both count from the answer; the cover's validity is not documented.
PREVIEW_VALIDITY = timedelta(hours=24)
COVER_VALIDITY = timedelta(hours=24)


def fmt(value: datetime | None) -> str | None:
    """The reference's time format, ``YYYY-MM-DDTHH:MM:SSZ``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


@dataclass
class SimJob:
    """One task. Either ``fixed_state`` holds (since ``fixed_since``), or the schedule
    decides: WAITING until ``start_at``, PROCESSING until ``end_at``, then ``outcome``."""

    job_id: str
    job_type: str
    create_time: datetime
    asset_name: str | None = None
    script_id: str | None = None
    asset_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    fixed_state: str | None = "WAITING"
    fixed_since: datetime | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    outcome: str = "SUCCEED"
    error_code: str | None = None
    error_msg: str | None = None
    video_seconds: float = 60.0
    #: Insertion order, the tie-break between jobs created in the same second.
    seq: int = 0
    #: The create call's ``callback_config`` (``auth_type`` NONE or MSS_A), if any.
    callback_url: str | None = None
    callback_key: str | None = None
    callback_auth: str = "MSS_A"
    #: A job a project schedules for later is listed only from this moment on.
    hidden_until: datetime | None = None
    #: What the job was created with, as its detail shows it back (:mod:`.configs`);
    #: None: made up from the job's ids.
    config: dict[str, Any] | None = None
    #: (error_code, error_msg) a BLOCK or CANCELED job shows as its ``error_info``, when a
    #: test gave one (what MetaStudio shows for those states is not documented).
    end_note: tuple[str | None, str | None] | None = None

    def visible_at(self, now: datetime) -> bool:
        return self.hidden_until is None or self.hidden_until <= now

    def state_at(self, now: datetime) -> str:
        if self.fixed_state is not None:
            return self.fixed_state
        if self.start_at is None or now < self.start_at:
            return "WAITING"
        if self.end_at is None or now < self.end_at:
            return "PROCESSING"
        return self.outcome

    def times_at(
        self, now: datetime
    ) -> tuple[datetime | None, datetime | None, datetime | None]:
        """(start_time, end_time, lastupdate_time) as a real job would report them."""
        state = self.state_at(now)
        if self.fixed_state is None:
            if state == "WAITING":
                return None, None, self.create_time
            if state == "PROCESSING":
                return self.start_at, None, self.start_at
            return self.start_at, self.end_at, self.end_at
        since = self.fixed_since or self.create_time
        if state == "WAITING":
            return None, None, since
        started = self.start_at if self.start_at is not None and self.start_at <= since else None
        if state == "CANCELED" and started is None:
            return None, since, since  # canceled while it waited: it never started
        start = started or max(self.create_time, since - timedelta(seconds=30))
        if state in FINISHED:
            return start, since, since
        return start, None, since  # PROCESSING, or a state the simulator was told to show

    def to_json(self, now: datetime, base_url: str) -> dict[str, Any]:
        """The reference's DigitalHumanVideo, as an answer at ``now`` would show it."""
        state = self.state_at(now)
        start, end, updated = self.times_at(now)
        return {
            "job_id": self.job_id,
            "state": state,
            "job_type": self.job_type,
            "start_time": fmt(start),
            "end_time": fmt(end),
            "duration": self.video_seconds if state == "SUCCEED" else None,
            "output_asset_config": self._asset(state, now, base_url),
            "error_info": self._error_info(state),
            "create_time": fmt(self.create_time),
            "lastupdate_time": fmt(updated),
        }

    @property
    def is_photo(self) -> bool:
        return self.job_type in PHOTO_TYPES

    def to_detail_json(self, now: datetime, base_url: str, *,
                       show_script: bool = True) -> dict[str, Any]:
        """What the per-type detail operation answers (docs/metastudio-api.md): the list's
        fields plus ``script_id`` and, with ``show_script``, the configuration the job was
        made with (2D details carry ``background_music_config``, photo details never)."""
        detail = self.to_json(now, base_url)
        detail["script_id"] = self.script_id
        if not show_script:
            return detail
        config = self.config
        if config is None:
            config = configs.made_up(self.asset_id, self.asset_name, photo=self.is_photo,
                                     frozen=self.outcome == "BLOCK"
                                     or self.fixed_state == "BLOCK")
        detail.update(config)
        if self.is_photo:
            detail.pop("background_music_config", None)
        else:
            detail.setdefault("background_music_config", None)
            detail.setdefault("video_making_type", "MODEL")
        return detail

    def _error_info(self, state: str) -> dict[str, Any] | None:
        if state == "FAILED":
            return {"error_code": self.error_code, "error_msg": self.error_msg}
        if state in ("BLOCK", "CANCELED") and self.end_note is not None:
            return {"error_code": self.end_note[0], "error_msg": self.end_note[1]}
        return None

    def _asset(self, state: str, now: datetime, base_url: str) -> dict[str, Any]:
        asset: dict[str, Any] = {"asset_id": self.asset_id, "asset_name": self.asset_name}
        if state == "SUCCEED":
            asset["cover_url"] = cover_url(base_url, self.asset_id, now + COVER_VALIDITY)
            # The reference: virtual avatar (2D) videos do not support preview.
            if self.job_type in PHOTO_TYPES:
                expires = int((now + PREVIEW_VALIDITY).timestamp())
                asset["preview_video_url"] = (
                    f"{base_url}/previews/{self.asset_id}.mp4?Expires={expires}"
                )
        return asset


@dataclass(frozen=True)
class Filters:
    """The list endpoint's parameters, already validated by the server."""

    states: frozenset[str] | None = None
    job_type: str | None = None
    asset_name: str | None = None
    fuzzy_asset_name: bool = False
    script_id: str | None = None
    job_id: str | None = None
    job_ids: tuple[str, ...] | None = None
    create_since: datetime | None = None
    create_until: datetime | None = None
    sort_key: str = "create_time"
    sort_dir: str = "asc"
    offset: int = 0
    limit: int = 10
    #: Whether look-ups by id are held to the default window too (Faults switch).
    horizon_for_lookups: bool = False

    @property
    def is_lookup(self) -> bool:
        return self.job_id is not None or self.job_ids is not None

    def predicates(self, now: datetime, *, times: bool) -> list[Callable[[SimJob], bool]]:
        """One test per given filter (so an unfiltered listing runs none); the create
        time window only when ``times`` (the sorted index may have applied it already)."""
        tests: list[Callable[[SimJob], bool]] = []
        since, until = self.window(now)
        if times and since is not None:
            tests.append(lambda j: j.create_time >= since)
        if times and until is not None:
            tests.append(lambda j: j.create_time <= until)
        if self.job_id is not None:
            tests.append(lambda j: j.job_id == self.job_id)
        if self.states is not None:
            states = self.states
            tests.append(lambda j: j.state_at(now) in states)
        if self.job_type is not None:
            # Either photo spelling matches the other (docs/metastudio-api.md, "Formats").
            kinds = set(PHOTO_TYPES) if self.job_type in PHOTO_TYPES else {self.job_type}
            tests.append(lambda j: j.job_type in kinds)
        if self.script_id is not None:
            tests.append(lambda j: j.script_id == self.script_id)
        if self.asset_name is not None:
            wanted = self.asset_name
            if self.fuzzy_asset_name:
                low = wanted.lower()
                tests.append(lambda j: low in (j.asset_name or "").lower())
            else:
                tests.append(lambda j: j.asset_name == wanted)
        return tests

    def window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """The create-time window. Without create_since a listing covers the last month
        (docs/metastudio-api.md); a look-up by job_id/job_ids does not, so a tracked job stays
        findable however old it is (the real limit is unconfirmed, and a bot relying on
        it would lose old jobs silently, which a test should not hide), unless
        ``horizon_for_lookups`` asks for the strict reading."""
        since = self.create_since
        if since is None and (not self.is_lookup or self.horizon_for_lookups):
            since = now - DEFAULT_HORIZON
        return since, self.create_until


def _created(job: SimJob) -> tuple[datetime, int]:
    return job.create_time, job.seq


def _named(job: SimJob) -> tuple[str, int]:
    return job.asset_name or "", job.seq


class JobStore:
    """Jobs kept sorted by creation (and, cached, by asset name), so a listing needs
    no sort per request: an unfiltered page is two bisections and a slice.

    ``lock`` (reentrant) guards the jobs: hold it to change a job, or to read several
    consistently, e.g. a query and the JSON of its page.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._by_id: dict[str, SimJob] = {}
        self._by_asset_id: dict[str, SimJob] = {}
        self._created: list[SimJob] = []
        self._named: list[SimJob] | None = None
        #: The last listing's matches, by (filters but paging, time): the pages of one
        #: sweep at one simulated moment filter the project once (benchmarks hold
        #: 100,000 jobs). Cleared by every change.
        self._memo: tuple[Any, list[SimJob]] | None = None
        self._scheduled = False

    def touch(self) -> None:
        """A job changed: forget the memoised listing."""
        with self.lock:
            self._memo = None

    def add(self, job: SimJob) -> None:
        with self.lock:
            if job.job_id in self._by_id:
                raise ValueError(f"job {job.job_id} exists")
            job.seq = len(self._by_id)
            self._by_id[job.job_id] = job
            self._by_asset_id[job.asset_id] = job
            bisect.insort(self._created, job, key=_created)
            self._named = None
            self._memo = None
            self._scheduled |= job.hidden_until is not None

    def get(self, job_id: str) -> SimJob:
        """The job; KeyError when there is none."""
        return self._by_id[job_id]

    def has_asset(self, asset_id: str) -> bool:
        return asset_id in self._by_asset_id

    def all(self, now: datetime | None = None) -> list[SimJob]:
        """Every job, oldest first (only those created by ``now`` when given)."""
        with self.lock:
            if now is None:
                return list(self._created)
            return [job for job in self._created if job.visible_at(now)]

    def _visibility(self, now: datetime) -> list[Callable[[SimJob], bool]]:
        """The test hiding scheduled jobs, when the store holds any."""
        return [lambda j: j.visible_at(now)] if self._scheduled else []

    def visible(self, job_id: str, now: datetime) -> SimJob | None:
        """The job, unless unknown or created after ``now`` (a project can hold jobs
        scheduled to be created later: they appear when their time comes)."""
        job = self._by_id.get(job_id)
        return job if job is not None and job.visible_at(now) else None

    def query(self, f: Filters, now: datetime) -> tuple[int, list[SimJob]]:
        """(count of all matches, the requested page)."""
        with self.lock:
            if f.is_lookup:
                ids = f.job_ids if f.job_ids is not None else (f.job_id,)
                found = {i: job for i in ids
                         if i is not None and (job := self.visible(i, now)) is not None}
                key = _named if f.sort_key == "asset_order" else _created
                candidates: Sequence[SimJob] = sorted(found.values(), key=key)
                tests = f.predicates(now, times=True)
            elif f.sort_key == "asset_order":
                if self._named is None:
                    self._named = sorted(self._created, key=_named)
                candidates = self._named
                tests = [*f.predicates(now, times=True), *self._visibility(now)]
            else:
                memo_key = (replace(f, offset=0, limit=0), now)
                if self._memo is not None and self._memo[0] == memo_key:
                    return len(self._memo[1]), _page(self._memo[1], f.offset, f.limit,
                                                     f.sort_dir == "desc")
                since, until = f.window(now)
                low = 0 if since is None else bisect.bisect_left(
                    self._created, (since, -1), key=_created
                )
                high = len(self._created) if until is None else bisect.bisect_right(
                    self._created, (until, math.inf), key=_created
                )
                candidates = self._created[low:high]
                tests = [*f.predicates(now, times=False), *self._visibility(now)]
            matches = list(filter(_all_of(tests), candidates)) if tests else candidates
            if f.sort_key == "update_time":
                # lastupdate_time moves with the lifecycle: sorted per request.
                matches = sorted(matches, key=lambda j: (j.times_at(now)[2], j.seq))
            if not f.is_lookup and f.sort_key != "asset_order":
                self._memo = ((replace(f, offset=0, limit=0), now), list(matches))
            return len(matches), _page(matches, f.offset, f.limit, f.sort_dir == "desc")


def _all_of(tests: list[Callable[[SimJob], bool]]) -> Callable[[SimJob], bool]:
    # One test is the common case (a state filter, the poller's); skip the loop for it.
    if len(tests) == 1:
        return tests[0]
    return lambda job: all(test(job) for test in tests)


def _page(ordered: Sequence[SimJob], offset: int, limit: int, desc: bool) -> list[SimJob]:
    """One page of ``ordered`` (ascending) without copying or reversing all of it."""
    if not desc:
        return list(ordered[offset : offset + limit])
    high = len(ordered) - offset
    return list(reversed(ordered[max(0, high - limit) : max(0, high)]))
