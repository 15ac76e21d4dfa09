"""Response types of GET /v1/{project_id}/digital-human-videos.

Tolerant by design (docs/metastudio-api.md, "Formats"): every
field is optional, extra fields are kept, and a state or job type the bot does not know
stays its raw string so it can be shown as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

log = logging.getLogger(__name__)


class JobState(StrEnum):
    """Task states from the reference's DigitalHumanVideo table."""

    WAITING = "WAITING"
    PROCESSING = "PROCESSING"
    SUCCEED = "SUCCEED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    BLOCK = "BLOCK"

    @property
    def is_finished(self) -> bool:
        # docs/metastudio-api.md, "States": BLOCK (frozen) and CANCELED are end states for the bot.
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({JobState.SUCCEED, JobState.FAILED, JobState.CANCELED, JobState.BLOCK})
UNFINISHED_STATES = frozenset({JobState.WAITING, JobState.PROCESSING})


class JobType(StrEnum):
    """Job types. The request docs and the SDK's response model spell photo jobs
    differently (docs/metastudio-api.md, "Formats"), so both spellings are known."""

    VIDEO_2D = "2D_DIGITAL_HUMAN_VIDEO"
    PHOTO = "PHOTO_DIGITAL_HUMAN_VIDEO"
    PHOTO_SDK = "DIGITAL_HUMAN_PHOTO_VIDEO"

    @property
    def is_photo(self) -> bool:
        return self in (JobType.PHOTO, JobType.PHOTO_SDK)


def _lenient_time(value: Any) -> Any:
    """Parse upstream times; a malformed one becomes None instead of failing the page."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            log.warning("unparseable time from MetaStudio: %r", value)
            return None
        # A time without an offset is UTC (the documented format ends in Z).
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    log.warning("unexpected time value from MetaStudio: %r", value)
    return None


def _open_enum(enum: type[StrEnum]) -> Callable[[Any], Any]:
    """Known values become the enum member; unknown strings stay as they are."""

    def convert(value: Any) -> Any:
        if value is None or isinstance(value, enum):
            return value
        text = str(value)
        try:
            return enum(text)
        except ValueError:
            return text

    return convert


def _lenient_float(value: Any) -> Any:
    if value is None or isinstance(value, int | float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        log.warning("unexpected duration from MetaStudio: %r", value)
        return None


Time = Annotated[datetime | None, BeforeValidator(_lenient_time)]
State = Annotated[JobState | str | None, BeforeValidator(_open_enum(JobState))]
Kind = Annotated[JobType | str | None, BeforeValidator(_open_enum(JobType))]


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ErrorInfo(_Tolerant):
    """The reference's ErrorResponse: why a job failed."""

    error_code: str | None = None
    error_msg: str | None = None


class OutputAsset(_Tolerant):
    """The reference's OutputAssetInfo."""

    asset_id: str | None = None
    asset_name: str | None = None
    cover_url: str | None = None
    #: Valid for 24 hours after the answer (reference, OutputAssetInfo); photo jobs only.
    preview_video_url: str | None = None

    def cover_expires_at(self) -> datetime | None:
        """The ``Expires=`` epoch seconds of the signed cover URL, if any."""
        return signed_url_expiry(self.cover_url)


class Job(_Tolerant):
    """One video production task (the reference's DigitalHumanVideo)."""

    job_id: str = ""
    state: State = None
    job_type: Kind = None
    start_time: Time = None
    end_time: Time = None
    duration: Annotated[float | None, BeforeValidator(_lenient_float)] = None
    output_asset_config: OutputAsset | None = None
    error_info: ErrorInfo | None = None
    create_time: Time = None
    lastupdate_time: Time = None

    @property
    def is_finished(self) -> bool:
        """True for SUCCEED, FAILED, CANCELED and BLOCK; unknown states count as unfinished
        so that the poller keeps watching them rather than announcing a guess."""
        return isinstance(self.state, JobState) and self.state.is_finished

    @property
    def state_name(self) -> str:
        """The state as upstream spelled it, ``UNKNOWN`` when it was missing."""
        return str(self.state) if self.state is not None else "UNKNOWN"

    @property
    def is_photo(self) -> bool:
        return isinstance(self.job_type, JobType) and self.job_type.is_photo

    @property
    def asset_name(self) -> str | None:
        return self.output_asset_config.asset_name if self.output_asset_config else None

    @property
    def cover_url(self) -> str | None:
        return self.output_asset_config.cover_url if self.output_asset_config else None

    @property
    def preview_video_url(self) -> str | None:
        return self.output_asset_config.preview_video_url if self.output_asset_config else None

    @property
    def run_seconds(self) -> float | None:
        """Wall time from start to end, when both are known."""
        if self.start_time and self.end_time:
            return max(0.0, (self.end_time - self.start_time).total_seconds())
        return None


class JobPage(BaseModel):
    """One page of the list endpoint. ``count`` is the total of matching jobs, not the
    page size (docs/metastudio-api.md, "Listing parameters")."""

    model_config = ConfigDict(extra="allow", frozen=True)

    count: int = 0
    jobs: tuple[Job, ...] = Field(default_factory=tuple)
    #: X-Request-Id of the answer; not part of the body.
    request_id: str | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any], request_id: str | None) -> JobPage:
        """Build a page from a decoded JSON object, tolerating a missing or null list."""
        jobs = body.get("jobs") or []
        if not isinstance(jobs, list):
            jobs = []
        count = body.get("count")
        data = {k: v for k, v in body.items() if k not in ("jobs", "count", "request_id")}
        return cls(
            count=count if isinstance(count, int) and count >= 0 else len(jobs),
            jobs=tuple(Job.model_validate(j) for j in jobs if isinstance(j, dict)),
            request_id=request_id,
            **data,
        )


def signed_url_expiry(url: str | None) -> datetime | None:
    """Expiry of an object-storage URL signed with ``Expires=<epoch seconds>``."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("Expires")
    if not values:
        return None
    try:
        return datetime.fromtimestamp(int(values[0]), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
