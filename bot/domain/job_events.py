"""Job ends as Slack message metadata: the documented events other apps and workflows
subscribe to (``message_metadata_posted``), and the bot's own exactly-once marker.

Every notification the bot posts carries metadata. Slack gives a message one
``{event_type, event_payload}`` (https://docs.slack.dev/messaging/message-metadata), so
the marker the sender looks for after a crash (the outbox key, docs/delivery.md) rides
inside the event as ``videojobs_key``:

- ``metastudio_job_ended``: a message that tells one job's end (a tracking reply, a
  channel announcement, a DM, the end of a job announced as stuck);
- ``metastudio_jobs_ended``: a digest's details message, the jobs it lists;
- ``videojobs_notification``: anything else (a digest's summary, a report, a stuck
  announcement, a page that follows a notification): the marker alone.

The payloads are :class:`JobEnded` and :class:`JobsEnded`; docs/events.md documents
them, and a test holds the two together. Slack's payload values are strings, numbers,
booleans, flat objects and lists of flat objects, so nothing here is nested deeper, and
a value MetaStudio did not give is left out (``duration``, ``ended_at``) or empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..metastudio.models import Job

#: One job's end.
JOB_ENDED = "metastudio_job_ended"
#: The ends a digest's details message lists.
JOBS_ENDED = "metastudio_jobs_ended"
#: The marker alone (the event type the bot has always used for it).
MARKER_EVENT = "videojobs_notification"
#: Where the marker rides inside a job event.
MARKER_FIELD = "videojobs_key"


class JobEnded(BaseModel):
    """``metastudio_job_ended``'s payload (and each item of ``metastudio_jobs_ended``).
    ``extra="forbid"``: a field added here must be documented in docs/events.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str
    #: MetaStudio's end state, as it spells it.
    state: Literal["SUCCEED", "FAILED", "CANCELED", "BLOCK"]
    #: ``2D_DIGITAL_HUMAN_VIDEO``, ``PHOTO_DIGITAL_HUMAN_VIDEO`` (or MetaStudio's other
    #: spelling of photo jobs), "" when MetaStudio did not say.
    job_type: str
    asset_name: str
    #: "" unless the job failed with a code.
    error_code: str
    #: The video's length in seconds, when known.
    duration: float | None = None
    #: When the job ended, ISO 8601 in UTC (``2026-01-31T09:30:00Z``), when known.
    ended_at: str | None = None
    #: The bot's own marker (outbox key): consumers ignore it. Absent in a list item.
    videojobs_key: str | None = None


class JobsEnded(BaseModel):
    """``metastudio_jobs_ended``'s payload: the jobs one digest details message lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jobs: list[JobEnded]
    videojobs_key: str | None = None


@dataclass(frozen=True)
class Event:
    """Message metadata before the marker is added."""

    event_type: str
    payload: dict[str, Any]


def _fields(job: Job) -> dict[str, Any]:
    error = job.error_info.error_code if job.error_info else None
    fields: dict[str, Any] = {
        "job_id": job.job_id, "state": job.state_name,
        "job_type": str(job.job_type or ""), "asset_name": job.asset_name or "",
        "error_code": error or "",
    }
    if job.duration is not None:
        fields["duration"] = job.duration
    if job.end_time is not None:
        fields["ended_at"] = job.end_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return fields


def job_ended(job: Job) -> Event | None:
    """The event of one job's end; None for a job that has not ended (a stuck
    announcement is about a running job)."""
    return Event(JOB_ENDED, _fields(job)) if job.is_finished else None


def jobs_ended(jobs: Iterable[Job]) -> Event | None:
    """The event of a digest details message: the ended jobs it lists."""
    ended = [_fields(job) for job in jobs if job.is_finished]
    return Event(JOBS_ENDED, {"jobs": ended}) if ended else None


def metadata(event: Event | None, marker: str | None) -> dict[str, Any] | None:
    """What ``chat.postMessage`` gets as ``metadata``: the event with the marker in it,
    the marker alone, or None (neither)."""
    if event is None:
        return None if marker is None else {"event_type": MARKER_EVENT,
                                            "event_payload": {"key": marker}}
    payload = dict(event.payload)
    if marker is not None:
        payload[MARKER_FIELD] = marker
    return {"event_type": event.event_type, "event_payload": payload}


def marker_of(found: Mapping[str, Any] | None) -> str | None:
    """The marker a message's metadata carries, whichever event it is, or None."""
    if not isinstance(found, Mapping):
        return None
    payload = found.get("event_payload")
    if not isinstance(payload, Mapping):
        return None
    kind = found.get("event_type")
    key = payload.get("key") if kind == MARKER_EVENT else (
        payload.get(MARKER_FIELD) if kind in (JOB_ENDED, JOBS_ENDED) else None)
    return key if isinstance(key, str) and key else None
