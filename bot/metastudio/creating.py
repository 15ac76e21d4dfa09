"""Creating video jobs, and finding the job a create in doubt made.

    POST /v1/{project_id}/2d-digital-human-videos       (SDK create2_d_digital_human_video)
    POST /v1/{project_id}/photo-digital-human-videos    (SDK create_photo_digital_human_video)

Both answer ``{"job_id": ...}`` with the request id in ``X-Request-Id``. MetaStudio takes
no idempotency key (no field or header of the SDK's models is one), so a create is sent
once and never retried: a create that times out, is cut off or gets a 5xx may still
have made its job (:class:`~bot.metastudio.errors.InDoubtError`). Before creating
again, look for it with :func:`find_created`: by the output asset name (make it unique
to the attempt, :func:`bot.domain.recreate.retry_asset_name`) and a ``create_since``
just before the first attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from .api import JobsAPI
from .errors import InDoubtError
from .models import Job
from .query import MAX_LIMIT, JobQuery, QueryJobType
from .transport import Transport

#: How far before the first attempt :func:`find_created` looks: MetaStudio stamps
#: ``create_time`` with its own clock, which may be behind ours (AK/SK signatures are
#: refused beyond ~15 minutes of difference, docs/metastudio-api.md, "Signing").
CREATE_LOOKBACK = timedelta(minutes=15)


@dataclass(frozen=True)
class Created:
    """A job MetaStudio made: its id and the answer's request id."""

    job_id: str
    request_id: str | None
    photo: bool


class JobCreator:
    """The create operations over the jobs client's transport (same host, auth, errors)."""

    def __init__(self, transport: Transport, project_id: str) -> None:
        self.transport = transport
        self.project = quote(project_id, safe="")

    @classmethod
    def of(cls, jobs: Any) -> JobCreator | None:
        """The create operations of a jobs client (the cached one wraps the plain one)."""
        plain = getattr(jobs, "inner", jobs)
        transport, project = getattr(plain, "transport", None), getattr(plain, "project_id", None)
        if isinstance(transport, Transport) and isinstance(project, str):
            return cls(transport, project)
        return None

    def path(self, *, photo: bool) -> str:
        kind = "photo-digital-human-videos" if photo else "2d-digital-human-videos"
        return f"/v1/{self.project}/{kind}"

    def create(self, body: Mapping[str, Any], *, photo: bool) -> Created:
        """Send one create request with ``body`` (a ``Create2DDigitalHumanVideoReq`` or
        ``CreatePhotoDigitalHumanVideoReq``, e.g. from
        :func:`bot.domain.recreate.build_recreation`) and return the new job's id.

        Sent once, never retried: MetaStudio has no idempotency key, so a second send
        could make a second job (and spend its video minutes). Raises
        :class:`~bot.metastudio.errors.InDoubtError` when the job may or may not exist
        (no answer after sending, a 5xx, an answer without a job id): look with
        :func:`find_created` before sending again. Other
        :class:`~bot.metastudio.errors.MetaStudioError` subclasses (a 400 naming the
        refused field, 401, 429) mean nothing was made.
        """
        answer = self.transport.post(self.path(photo=photo), body)
        job_id = answer.body.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            # No status in the error: "HTTP 200" would read as if all were well.
            raise InDoubtError(
                "MetaStudio accepted the create but its answer holds no job id: the job "
                "may exist", request_id=answer.request_id)
        return Created(job_id, answer.request_id, photo)


def find_created(jobs: JobsAPI, asset_name: str, sent_at: datetime, *,
                 photo: bool | None = None) -> Job | None:
    """The job a create sent at ``sent_at`` for output ``asset_name`` made, if any: the
    newest job of that exact name created since :data:`CREATE_LOOKBACK` before
    ``sent_at`` (of the photo or 2D type when ``photo`` says which). One fresh list
    request, filtered by ``asset_name``, ``create_since`` (and ``job_type``); the answer
    is checked again here, so a server that ignores a filter cannot hand back another
    job. None: no such job; creating again will not make a second one."""
    since = sent_at - CREATE_LOOKBACK
    query = JobQuery(
        asset_name=asset_name,
        create_since=since,
        job_type=None if photo is None else (QueryJobType.PHOTO if photo
                                             else QueryJobType.VIDEO_2D),
        sort_key="create_time",
        sort_dir="desc",
        limit=MAX_LIMIT,
    )
    floor = since.replace(microsecond=0)
    matches = [
        job
        for page in jobs.scan(query, max_pages=1)
        for job in page.jobs
        if job.asset_name == asset_name
        and (job.create_time is None or job.create_time >= floor)
        and (photo is None or job.is_photo == photo)
    ]
    if not matches:
        return None
    return max(matches, key=lambda job: job.create_time or _NEVER)


_NEVER = datetime.min.replace(tzinfo=UTC)
