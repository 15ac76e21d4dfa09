"""Which subscriptions a job's end is news for (bot/tracking/polling/poller.py), rule by
rule: the API filters a subscription names, matching by type, asset and script, the
baseline compared in whole seconds of the end or last update, a detail answer's script
and type, and the states each outcome covers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.records import Subscription
from bot.metastudio.models import Job, JobState, JobType
from bot.metastudio.query import QueryJobType
from bot.tracking.polling.poller import (
    OUTCOME_STATES,
    _after_baseline,
    _api_filters,
    _matches_filters,
    _script_of,
    _type_of,
)
from tests.fixtures.tracking import T0


def _sub(**fields: Any) -> Subscription:
    values: dict[str, Any] = dict(
        id=1, channel="C1", outcome="all", job_type=None, asset_name=None, script_id=None,
        created_by="U1", created_at=T0, paused_reason=None, swept_at=None)
    values.update(fields)
    return Subscription(**values)


def _job(**fields: Any) -> Job:
    return Job.model_validate({"job_id": "j1", "state": "FAILED", **fields})


def test_api_filters_name_each_filter_the_subscription_has() -> None:
    assert _api_filters(_sub()) == {}
    assert _api_filters(_sub(job_type="PHOTO_DIGITAL_HUMAN_VIDEO", asset_name="promo",
                             script_id="s1")) == {
        "job_type": QueryJobType.PHOTO, "asset_name": "promo", "script_id": "s1"}
    assert _api_filters(_sub(job_type="2D_DIGITAL_HUMAN_VIDEO")) == {
        "job_type": QueryJobType.VIDEO_2D}


@pytest.mark.parametrize(("sub", "job", "script", "matches"), [
    (_sub(), _job(), None, True),
    (_sub(script_id="s1"), _job(), "s1", True),
    (_sub(script_id="s1"), _job(), "s2", False),
    (_sub(script_id="s1"), _job(), None, False),
    (_sub(), _job(), "s2", True),
    (_sub(asset_name="promo"), _job(output_asset_config={"asset_name": "promo"}), None, True),
    (_sub(asset_name="promo"), _job(output_asset_config={"asset_name": "other"}), None, False),
    (_sub(asset_name="promo"), _job(), None, False),
    (_sub(job_type="PHOTO_DIGITAL_HUMAN_VIDEO"),
     _job(job_type="PHOTO_DIGITAL_HUMAN_VIDEO"), None, True),
    (_sub(job_type="PHOTO_DIGITAL_HUMAN_VIDEO"),
     _job(job_type="DIGITAL_HUMAN_PHOTO_VIDEO"), None, True),
    (_sub(job_type="PHOTO_DIGITAL_HUMAN_VIDEO"), _job(job_type="2D_DIGITAL_HUMAN_VIDEO"),
     None, False),
    (_sub(job_type="2D_DIGITAL_HUMAN_VIDEO"), _job(job_type="2D_DIGITAL_HUMAN_VIDEO"),
     None, True),
    (_sub(job_type="2D_DIGITAL_HUMAN_VIDEO"), _job(job_type="PHOTO_DIGITAL_HUMAN_VIDEO"),
     None, False),
    (_sub(job_type="2D_DIGITAL_HUMAN_VIDEO"), _job(), None, False),
    (_sub(job_type="2D_DIGITAL_HUMAN_VIDEO", asset_name="promo", script_id="s1"),
     _job(job_type="2D_DIGITAL_HUMAN_VIDEO", output_asset_config={"asset_name": "promo"}),
     "s1", True),
])
def test_matching_filters(sub: Subscription, job: Job, script: str | None,
                          matches: bool) -> None:
    assert _matches_filters(sub, job, script) is matches


def test_after_baseline_compares_whole_seconds_of_the_end_or_last_update() -> None:
    made = datetime(2025, 3, 1, 9, 0, 0, 700_000, tzinfo=UTC)
    sub = _sub(created_at=made)
    second = "2025-03-01T09:00:00Z"
    before = "2025-03-01T08:59:59Z"
    assert _after_baseline(sub, _job(end_time=second))
    assert not _after_baseline(sub, _job(end_time=before))
    assert _after_baseline(sub, _job(lastupdate_time=second))
    assert not _after_baseline(sub, _job(lastupdate_time=before))
    # The end time wins over a later update.
    assert not _after_baseline(sub, _job(end_time=before, lastupdate_time=second))
    assert _after_baseline(sub, _job(end_time=second, lastupdate_time=before))
    assert _after_baseline(_sub(created_at=T0.replace(microsecond=1)),
                           _job(end_time="2025-03-01T09:00:00Z"))
    # No time at all: news once the subscription has been adopted.
    assert not _after_baseline(sub, _job())
    assert _after_baseline(_sub(swept_at=made), _job())


def test_script_and_type_of_a_detail_answer() -> None:
    assert _script_of(None) is None
    assert _script_of(_job()) is None
    assert _script_of(_job(script_id="s1")) == "s1"
    assert _script_of(_job(script_id=12)) == "12"
    assert _script_of(_job(script_id="")) is None
    assert _script_of(_job(other="x")) is None
    assert _type_of(_job(job_type="PHOTO_DIGITAL_HUMAN_VIDEO")) == str(JobType.PHOTO)
    assert _type_of(_job()) is None


def test_subscription_outcomes_cover_their_states() -> None:
    assert OUTCOME_STATES["failed"] == {JobState.FAILED, JobState.BLOCK}
    assert OUTCOME_STATES["finished"] == {JobState.SUCCEED}
    assert OUTCOME_STATES["all"] == {JobState.SUCCEED, JobState.FAILED, JobState.BLOCK,
                                      JobState.CANCELED}
