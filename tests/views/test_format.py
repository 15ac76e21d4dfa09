from datetime import UTC, datetime

import pytest

from bot.metastudio.models import JobType
from bot.views.format import (
    STATE_EMOJI,
    code,
    duration_text,
    escape,
    job_type_label,
    link,
    local_time,
    state_label,
    truncate,
)
from tests.views.jobs import FAILED, NEW_YORK, SHANGHAI, SURPRISING, job


def test_every_known_state_has_its_emoji():
    assert STATE_EMOJI == {"SUCCEED": "✅", "FAILED": "❌", "WAITING": "⏳",
                           "PROCESSING": "⚙️", "CANCELED": "🚫", "BLOCK": "🧊"}


@pytest.mark.parametrize(("state", "label"), [
    ("SUCCEED", "✅ Succeeded"), ("FAILED", "❌ Failed"), ("WAITING", "⏳ Waiting"),
    ("PROCESSING", "⚙️ Processing"), ("CANCELED", "🚫 Canceled"), ("BLOCK", "🧊 Blocked"),
    ("ARCHIVED", "❔ ARCHIVED"), (None, "❔ UNKNOWN"),
])
def test_state_labels_show_unknown_states_as_they_are(state, label):
    assert state_label(state) == label


def test_state_label_takes_a_job_too():
    assert state_label(job(FAILED)) == "❌ Failed"
    assert state_label(job(SURPRISING)) == "❔ ARCHIVED"


def test_job_types_in_words_both_photo_spellings_and_unknown_raw():
    assert job_type_label(JobType.VIDEO_2D) == "2D avatar video"
    assert job_type_label("PHOTO_DIGITAL_HUMAN_VIDEO") == "Photo avatar video"
    assert job_type_label("DIGITAL_HUMAN_PHOTO_VIDEO") == "Photo avatar video"
    assert job_type_label("3D_HOLOGRAM_VIDEO") == "3D_HOLOGRAM_VIDEO"
    assert job_type_label(None) == "unknown type"


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (0, "0 s"), (42.4, "42 s"), (60, "1 min"), (65, "1 min 5 s"),
    (7380, "2 h 03 min"),
])
def test_durations(seconds, text):
    assert duration_text(seconds) == text


def test_the_same_instant_reads_in_each_users_timezone():
    instant = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    assert local_time(instant, SHANGHAI) == "2026-01-05 16:00 CST"
    assert local_time(instant, NEW_YORK) == "2026-01-05 03:00 EST"
    assert local_time(None, SHANGHAI) == "—"


def test_a_naive_time_is_taken_as_utc():
    assert local_time(datetime(2026, 7, 1, 12, 0), NEW_YORK) == "2026-07-01 08:00 EDT"


def test_escaping_neutralises_mentions_and_entities():
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


def test_truncate_marks_the_cut():
    assert truncate("abcdef", 10) == "abcdef"
    assert truncate("abcdef", 4) == "abc…"


def test_links_and_code_cannot_be_broken_out_of():
    assert link("https://x/a?b=1|<c>", "a > b") == "<https://x/a?b=1%7C%3Cc%3E|a &gt; b>"
    assert code("a`b<c>") == "`ab&lt;c&gt;`"


# -- ages ---------------------------------------------------------------------------------

from datetime import timedelta  # noqa: E402

from bot.views.format import age_text, short_duration  # noqa: E402

T = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "< 1 min"), (59, "< 1 min"), (60, "1 min"), (14 * 60 + 59, "14 min"),
    (3600, "1 h"), (6 * 3600 + 12 * 60, "6 h 12 min"), (3 * 86400 + 3600, "3 d 1 h"),
])
def test_short_durations(seconds, text):
    assert short_duration(seconds) == text


def test_an_unfinished_job_says_how_long_it_has_waited_or_run():
    created = T - timedelta(hours=6, minutes=12)
    waiting = job({"job_id": "w", "state": "WAITING", "create_time": created.isoformat()})
    running = job({"job_id": "r", "state": "PROCESSING", "create_time": created.isoformat(),
                   "start_time": (T - timedelta(minutes=14)).isoformat()})
    assert age_text(waiting, T) == "waiting 6 h 12 min"
    assert age_text(running, T) == "running 14 min"  # since it started, not since created
    assert age_text(job(FAILED), T) is None
    assert age_text(job(SURPRISING, create_time=created.isoformat()), T) is None
    assert age_text(job({"job_id": "x", "state": "WAITING"}), T) is None  # no create time
