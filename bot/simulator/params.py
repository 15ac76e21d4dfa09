"""The list endpoint's query string, validated as MetaStudio validates it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .jobs import Filters

STATES = ("WAITING", "PROCESSING", "SUCCEED", "FAILED", "CANCELED", "BLOCK")
#: Both photo spellings (docs/metastudio-api.md, "Formats"); either finds jobs of the other.
JOB_TYPES = ("2D_DIGITAL_HUMAN_VIDEO", "PHOTO_DIGITAL_HUMAN_VIDEO", "DIGITAL_HUMAN_PHOTO_VIDEO")
SORT_KEYS = ("create_time", "update_time", "asset_order")
#: 20 characters, the format of create_time in answers; nothing else
#: (docs/metastudio-api.md, "Listing parameters").
TIME_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
#: docs/metastudio-api.md, "Listing parameters": limit is 1..100, documented default 10.
MAX_LIMIT = 100


class InvalidParameter(ValueError):
    """A 400 MSS.00000003; the message says which parameter and what it accepts."""


def parse_filters(
    pairs: list[tuple[str, str]],
    *,
    ignore_job_ids: bool = False,
    lookups_within_month: bool = False,
) -> Filters:
    """Filters from decoded query pairs. Unknown parameters are ignored, like the real
    service; a known one with a value outside its documented set is a 400, so a client
    sending a misspelt state hears of it instead of getting an empty page."""
    single: dict[str, str] = {}
    lists: dict[str, list[str]] = {"job_ids": [], "fuzzy_query_field": []}
    for name, value in pairs:
        if name in lists:
            # docs/metastudio-api.md ("job_ids"): the SDK repeats the pair, the model says
            # comma list, and which one the server honours is unconfirmed: accept both.
            lists[name].extend(v for v in value.split(",") if v)
        else:
            single[name] = value

    sort_key = single.get("sort_key", "create_time")
    if sort_key not in SORT_KEYS:
        raise InvalidParameter("sort_key must be one of " + ", ".join(SORT_KEYS))
    sort_dir = single.get("sort_dir", "asc")
    if sort_dir not in ("asc", "desc"):
        raise InvalidParameter("sort_dir must be asc or desc")
    states = None
    if "state" in single:
        # The reference: several states, comma-separated.
        states = frozenset(s for s in single["state"].split(",") if s)
        if not states or not states <= set(STATES):
            raise InvalidParameter("state must be a comma list of " + ",".join(STATES))
    job_type = single.get("job_type")
    if job_type is not None and job_type not in JOB_TYPES:
        raise InvalidParameter("job_type must be one of " + ", ".join(JOB_TYPES))
    job_ids = lists["job_ids"]
    return Filters(
        states=states,
        job_type=job_type,
        asset_name=single.get("asset_name"),
        fuzzy_asset_name="asset_name" in lists["fuzzy_query_field"],
        script_id=single.get("script_id"),
        job_id=single.get("job_id"),
        # An older deployment does not know job_ids and returns an unfiltered page.
        job_ids=tuple(job_ids) if job_ids and not ignore_job_ids else None,
        create_since=_moment(single, "create_since"),
        create_until=_moment(single, "create_until"),
        sort_key=sort_key,
        sort_dir=sort_dir,
        offset=_integer(single, "offset", 0, 0, None),
        limit=_integer(single, "limit", 10, 1, MAX_LIMIT),
        horizon_for_lookups=lookups_within_month,
    )


def _integer(single: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = single.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) < low or (high and int(raw) > high):
        accepted = f"from {low} to {high}" if high else f"of at least {low}"
        raise InvalidParameter(f"{name} must be an integer {accepted}")
    return int(raw)


def _moment(single: dict[str, str], name: str) -> datetime | None:
    raw = single.get(name)
    if raw is None:
        return None
    try:
        if not TIME_FORMAT.fullmatch(raw):
            raise ValueError(raw)
        return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidParameter(f"{name} must look like 2024-01-31T08:00:00Z") from None
