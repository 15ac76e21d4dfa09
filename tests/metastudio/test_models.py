"""Response models: tolerant of whatever MetaStudio (or a gateway) sends."""

from datetime import UTC, datetime

import pytest

from bot.metastudio.models import Job, JobPage, JobState, JobType, signed_url_expiry

REFERENCE_EXAMPLE = {
    "count": 1,
    "jobs": [
        {
            "job_id": "26f06524-4f75-4b3a-a853-b649a21aaf66",
            "state": "SUCCEED",
            "start_time": "2022-01-18T16:29:36Z",
            "end_time": "2022-01-18T16:30:36Z",
            "duration": 60,
            "output_asset_config": {
                "asset_id": "942e65a5fd219a2e01fb08d881cfadb9",
                "asset_name": "One Day",
                "cover_url": "https://obs.example/c.png?AccessKeyId=X&Expires=1671241457&Signature=z%3D",
            },
            "error_info": None,
            "create_time": "2022-11-30T06:59:56Z",
            "lastupdate_time": "2022-11-30T07:00:09Z",
        }
    ],
}


def test_reference_example_parses():
    page = JobPage.from_body(REFERENCE_EXAMPLE, request_id="req-1")
    (job,) = page.jobs
    assert page.count == 1 and page.request_id == "req-1"
    assert job.state is JobState.SUCCEED and job.is_finished
    assert job.asset_name == "One Day"
    assert job.create_time == datetime(2022, 11, 30, 6, 59, 56, tzinfo=UTC)
    assert job.run_seconds == 60
    assert job.output_asset_config.cover_expires_at() == datetime.fromtimestamp(1671241457, UTC)


def test_unknown_state_and_type_are_kept_as_text():
    job = Job.model_validate({"job_id": "a", "state": "ARCHIVED", "job_type": "3D_VIDEO"})
    assert job.state == "ARCHIVED" and not isinstance(job.state, JobState)
    assert job.job_type == "3D_VIDEO"
    # An unknown state is not announced as an ending: the poller keeps watching it.
    assert not job.is_finished
    assert job.state_name == "ARCHIVED"


@pytest.mark.parametrize("spelling", ["PHOTO_DIGITAL_HUMAN_VIDEO", "DIGITAL_HUMAN_PHOTO_VIDEO"])
def test_both_photo_spellings_are_photo_jobs(spelling):
    job = Job.model_validate({"job_type": spelling})
    assert isinstance(job.job_type, JobType) and job.is_photo


def test_drifted_fields_do_not_fail_the_page():
    body = {
        "count": "many",
        "jobs": [
            {"job_id": "a", "create_time": "yesterday", "duration": "n/a", "new_field": {"x": 1}},
            "not an object",
            {"state": None},
        ],
        "next_marker": "abc",
    }
    page = JobPage.from_body(body, request_id=None)
    assert page.count == 3  # an unusable count falls back to what arrived
    assert [j.job_id for j in page.jobs] == ["a", ""]
    first = page.jobs[0]
    assert first.create_time is None and first.duration is None
    assert first.model_extra == {"new_field": {"x": 1}}
    assert page.jobs[1].state_name == "UNKNOWN"


def test_missing_job_list_is_an_empty_page():
    assert JobPage.from_body({"count": 0}, None).jobs == ()
    assert JobPage.from_body({"jobs": None}, None).jobs == ()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, None),
        ("https://x/c.png", None),
        ("https://x/c.png?Expires=notanumber", None),
        ("https://x/c.png?a=1&Expires=0", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_signed_url_expiry(url, expected):
    assert signed_url_expiry(url) == expected
