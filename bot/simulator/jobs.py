"""Simulated video production tasks: their lifecycle and the list endpoint's filters.

A job's state is computed from the clock at request time (no background thread), so
tests move time with ``Simulator.advance`` and the demo simply lets real time pass.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

FINISHED = ("SUCCEED", "FAILED", "CANCELED", "BLOCK")
PHOTO_TYPES = ("PHOTO_DIGITAL_HUMAN_VIDEO", "DIGITAL_HUMAN_PHOTO_VIDEO")
#: API-NOTES.md: without create_since the list covers roughly the last month (unconfirmed).
DEFAULT_HORIZON = timedelta(days=30)
#: The reference: preview_video_url is valid for 24 hours.
PREVIEW_VALIDITY = timedelta(hours=24)
#: Signed cover URLs in the reference carry Expires=; ours last a week.
COVER_VALIDITY = timedelta(days=7)


def fmt(value: datetime | None) -> str | None:
    """The reference's time format, ``YYYY-MM-DDTHH:MM:SSZ``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


@dataclass
class SimJob:
    """One task. Either ``fixed_state`` holds, or the schedule decides: WAITING until
    ``start_at``, PROCESSING until ``end_at``, then ``outcome``."""

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

    def state_at(self, now: datetime) -> str:
        if self.fixed_state is not None:
            return self.fixed_state
        if self.start_at is None or now < self.start_at:
            return "WAITING"
        if self.end_at is None or now < self.end_at:
            return "PROCESSING"
        return self.outcome

    def times_at(self, now: datetime) -> tuple[datetime | None, datetime | None, datetime]:
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
        start = self.start_at or max(self.create_time, since - timedelta(seconds=30))
        if state in FINISHED:
            return start, since, since
        return start, None, since  # PROCESSING, or a state the simulator was told to show

    def to_json(self, now: datetime, cover_base: str) -> dict[str, Any]:
        state = self.state_at(now)
        start, end, updated = self.times_at(now)
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "state": state,
            "job_type": self.job_type,
            "start_time": fmt(start),
            "end_time": fmt(end),
            "duration": self.video_seconds if state == "SUCCEED" else None,
            "output_asset_config": self._asset(state, end or now, cover_base),
            "error_info": (
                {"error_code": self.error_code, "error_msg": self.error_msg}
                if state == "FAILED"
                else None
            ),
            "create_time": fmt(self.create_time),
            "lastupdate_time": fmt(updated),
        }
        return body

    def _asset(self, state: str, ended: datetime, cover_base: str) -> dict[str, Any]:
        asset: dict[str, Any] = {"asset_id": self.asset_id, "asset_name": self.asset_name}
        if state == "SUCCEED":
            expires = int((ended + COVER_VALIDITY).timestamp())
            asset["cover_url"] = (
                f"{cover_base}/covers/{self.asset_id}.png"
                f"?AccessKeyId=SIMULATOR&Expires={expires}&Signature=c2ltdWxhdG9y"
            )
            # The reference: virtual avatar (2D) videos do not support preview.
            if self.job_type in PHOTO_TYPES:
                preview_expires = int((ended + PREVIEW_VALIDITY).timestamp())
                asset["preview_video_url"] = (
                    f"{cover_base}/previews/{self.asset_id}.mp4?Expires={preview_expires}"
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


class JobStore:
    """Jobs kept sorted by (create_time, job_id), so listings need no sort per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, SimJob] = {}
        self._order: list[tuple[datetime, str]] = []

    def add(self, job: SimJob) -> None:
        with self._lock:
            if job.job_id in self._by_id:
                raise ValueError(f"job {job.job_id} exists")
            self._by_id[job.job_id] = job
            bisect.insort(self._order, (job.create_time, job.job_id))

    def get(self, job_id: str) -> SimJob:
        return self._by_id[job_id]

    def __len__(self) -> int:
        return len(self._by_id)

    def all(self) -> list[SimJob]:
        with self._lock:
            return [self._by_id[job_id] for _, job_id in self._order]

    def query(self, f: Filters, now: datetime) -> tuple[int, list[SimJob]]:
        """(count of all matches, the requested page)."""
        with self._lock:
            if f.job_ids is not None:
                wanted = set(f.job_ids)
                candidates: Iterable[SimJob] = sorted(
                    (self._by_id[i] for i in wanted if i in self._by_id),
                    key=lambda j: (j.create_time, j.job_id),
                )
            elif f.job_id is not None:
                candidates = [self._by_id[f.job_id]] if f.job_id in self._by_id else []
            else:
                since = f.create_since or now - DEFAULT_HORIZON
                start = bisect.bisect_left(self._order, (since, ""))
                candidates = [self._by_id[job_id] for _, job_id in self._order[start:]]
        matches = [job for job in candidates if _matches(job, f, now)]
        if f.sort_key == "update_time":
            matches.sort(key=lambda j: j.times_at(now)[2])
        elif f.sort_key == "asset_order":
            matches.sort(key=lambda j: j.asset_name or "")
        if f.sort_dir == "desc":
            matches.reverse()
        return len(matches), matches[f.offset : f.offset + f.limit]


def _matches(job: SimJob, f: Filters, now: datetime) -> bool:
    if f.create_since and job.create_time < f.create_since:
        return False
    if f.create_until and job.create_time > f.create_until:
        return False
    if f.job_id is not None and job.job_id != f.job_id:
        return False
    if f.states is not None and job.state_at(now) not in f.states:
        return False
    # A photo filter matches both spellings the API uses (API-NOTES.md).
    both_photo = f.job_type in PHOTO_TYPES and job.job_type in PHOTO_TYPES
    if f.job_type is not None and job.job_type != f.job_type and not both_photo:
        return False
    if f.script_id is not None and job.script_id != f.script_id:
        return False
    if f.asset_name is not None:
        name = job.asset_name or ""
        if f.fuzzy_asset_name:
            return f.asset_name.lower() in name.lower()
        return name == f.asset_name
    return True
