"""Validated query parameters for the list endpoint.

Everything a user can influence passes through :class:`JobQuery`, so nothing typed in
Slack can add or change a query parameter: there is one field per documented parameter,
each validated, and :meth:`JobQuery.to_params` is the only way to a query string.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from .models import JobState

#: Job ids: letters, digits, "-" and "_", at most 64.
JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: docs/metastudio-api.md, "Listing parameters": at most 100 items a page.
MAX_LIMIT = 100
#: `create_since` / `create_until` format (docs/metastudio-api.md), the format of `create_time`.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class QueryJobType(StrEnum):
    """The job types the request documentation accepts as a filter."""

    VIDEO_2D = "2D_DIGITAL_HUMAN_VIDEO"
    PHOTO = "PHOTO_DIGITAL_HUMAN_VIDEO"


class SortKey(StrEnum):
    CREATE_TIME = "create_time"
    UPDATE_TIME = "update_time"
    ASSET_ORDER = "asset_order"


def valid_job_id(value: str) -> bool:
    return bool(JOB_ID_PATTERN.fullmatch(value))


def _check_job_id(value: str) -> str:
    if not valid_job_id(value):
        raise ValueError("a job id is 1-64 letters, digits, '-' or '_'")
    return value


def _check_text(value: str) -> str:
    # Free text (asset names, script ids) is a value, never syntax: requests encodes it.
    # Control characters and absurd lengths are still refused before any request.
    if not value or len(value) > 256 or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be 1-256 printable characters")
    return value


JobId = Annotated[str, AfterValidator(_check_job_id)]
Text = Annotated[str, AfterValidator(_check_text)]


def format_time(value: datetime) -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SSZ``."""
    return value.astimezone(UTC).strftime(TIME_FORMAT)


class JobQuery(BaseModel):
    """Parameters of GET /v1/{project_id}/digital-human-videos (docs/metastudio-api.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offset: int = Field(0, ge=0)
    limit: int = Field(10, ge=1, le=MAX_LIMIT)
    states: tuple[JobState, ...] = ()
    sort_key: SortKey | None = None
    sort_dir: Literal["asc", "desc"] | None = None
    create_since: datetime | None = None
    create_until: datetime | None = None
    script_id: Text | None = None
    asset_name: Text | None = None
    job_type: QueryJobType | None = None
    job_id: JobId | None = None
    job_ids: tuple[JobId, ...] = Field((), max_length=MAX_LIMIT)
    fuzzy_query_field: tuple[Text, ...] = ()

    @field_validator("create_since", "create_until")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must carry a timezone")
        # The API has second resolution; truncating keeps cache keys stable.
        return value.astimezone(UTC).replace(microsecond=0)

    @field_validator("states")
    @classmethod
    def _dedupe_states(cls, value: tuple[JobState, ...]) -> tuple[JobState, ...]:
        return tuple(dict.fromkeys(value))

    def to_params(self) -> list[tuple[str, str]]:
        """Query pairs in a stable order. Lists go the way the official SDK sends them:
        ``state`` comma-joined (the reference), ``job_ids`` and ``fuzzy_query_field`` one
        pair per value (docs/metastudio-api.md, "job_ids")."""
        params: list[tuple[str, str]] = [("offset", str(self.offset)), ("limit", str(self.limit))]
        if self.states:
            params.append(("state", ",".join(s.value for s in self.states)))
        if self.sort_key:
            params.append(("sort_key", self.sort_key.value))
        if self.sort_dir:
            params.append(("sort_dir", self.sort_dir))
        if self.create_since:
            params.append(("create_since", format_time(self.create_since)))
        if self.create_until:
            params.append(("create_until", format_time(self.create_until)))
        for name in ("script_id", "asset_name", "job_id"):
            value = getattr(self, name)
            if value is not None:
                params.append((name, value))
        if self.job_type:
            params.append(("job_type", self.job_type.value))
        params.extend(("job_ids", job_id) for job_id in self.job_ids)
        params.extend(("fuzzy_query_field", field) for field in self.fuzzy_query_field)
        return params

    def cache_key(self) -> tuple[tuple[str, str], ...]:
        """Normalised key: equal queries (whatever the order of their states) are equal."""
        normal = self.model_copy(
            update={
                "states": tuple(sorted(self.states)),
                "job_ids": tuple(sorted(set(self.job_ids))),
            }
        )
        return tuple(normal.to_params())

    def page(self, offset: int, limit: int | None = None) -> JobQuery:
        """The same filters at another offset."""
        return self.model_copy(update={"offset": offset, "limit": limit or self.limit})
