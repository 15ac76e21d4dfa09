"""MetaStudio operations beside the job list: cancel a waiting job, and the tenant's
resources usage (video minutes). Same host, signing and error bodies as the list.

    POST /v1/{project_id}/2d-digital-human-videos/{job_id}/cancel
    POST /v1/{project_id}/photo-digital-human-videos/{job_id}/cancel
    GET  /v1/{project_id}/tenants/resources-usage?business=VIDEO_2D,PICTURE_2D

(huaweicloudsdkmetastudio: ``cancel2_d_digital_human_video``,
``cancel_photo_digital_human_video``, ``show_resource_usage``.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import requests

from .errors import BadResponseError, UnavailableError
from .transport import Transport

#: The business types whose video minutes ``quota`` shows.
BUSINESS_TYPES = ("VIDEO_2D", "PICTURE_2D")


@dataclass(frozen=True)
class Resource:
    """One package of the tenant: how much it holds (``amount``) and has used."""

    business_type: str
    resource_type: str | None
    amount: float | None
    usage: float | None
    unit: str | None
    charging_mode: str | None = None

    @property
    def left(self) -> float | None:
        if self.amount is None or self.usage is None:
            return None
        return max(0.0, self.amount - self.usage)

    @property
    def left_share(self) -> float | None:
        """What is left, as a share of the amount (0-1)."""
        if self.left is None or not self.amount:
            return None
        return self.left / self.amount


class Operations(Protocol):
    def cancel(self, job_id: str, *, photo: bool) -> str | None: ...
    def resources_usage(self) -> list[Resource]: ...


class JobOperations:
    """Cancel and resources-usage over the list client's transport (same auth, retries
    for GET; a POST is never retried by urllib3's Retry, so a cancel is sent once)."""

    def __init__(self, transport: Transport, project_id: str) -> None:
        self.transport = transport
        self.project = quote(project_id, safe="")

    @classmethod
    def of(cls, jobs: Any) -> JobOperations | None:
        """The operations of a jobs client (the cached one wraps the plain one)."""
        plain = getattr(jobs, "inner", jobs)
        transport, project = getattr(plain, "transport", None), getattr(plain, "project_id", None)
        if isinstance(transport, Transport) and isinstance(project, str):
            return cls(transport, project)
        return None

    def cancel(self, job_id: str, *, photo: bool) -> str | None:
        """Cancel a WAITING job; returns the answer's request id. MetaStudio refuses a job
        that has started (a :class:`MetaStudioError` with its code and message)."""
        kind = "photo-digital-human-videos" if photo else "2d-digital-human-videos"
        path = f"/v1/{self.project}/{kind}/{quote(job_id, safe='')}/cancel"
        t = self.transport
        started = time.monotonic()
        try:
            # Transport speaks GET only; the POST reuses its session, auth and errors.
            response = t.session.post(t.base_url + path, auth=t.auth,
                                      timeout=(t.timeouts.connect, t.timeouts.read),
                                      allow_redirects=False)
        except requests.RequestException as e:
            t._record("error", started, path, None, method="POST")
            raise UnavailableError(f"cannot reach MetaStudio at {t.base_url}") from e
        request_id = response.headers.get("X-Request-Id")
        t._record(str(response.status_code), started, path, request_id, method="POST")
        if not 200 <= response.status_code < 300:
            raise t._error(response, request_id)
        return request_id

    def resources_usage(self) -> list[Resource]:
        """The packages of video minutes, per business type."""
        answer = self.transport.get(f"/v1/{self.project}/tenants/resources-usage",
                                    [("business", ",".join(BUSINESS_TYPES))])
        rows = answer.body.get("resources")
        if not isinstance(rows, list):
            raise BadResponseError("MetaStudio's resources answer has no `resources` list",
                                   status=answer.status, request_id=answer.request_id)
        return [_resource(row) for row in rows if isinstance(row, dict)]


def _resource(row: dict[str, Any]) -> Resource:
    return Resource(
        business_type=str(row.get("business_type") or "unknown"),
        resource_type=_text(row.get("resource_type")),
        amount=_number(row.get("amount")),
        usage=_number(row.get("usage")),
        unit=_text(row.get("unit")),
        charging_mode=_text(row.get("charging_mode")),
    )


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None
