"""``/videojobs`` end to end: a signed command over HTTP in, what reached Slack out."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.slack.answer_queue import AnswerQueue
from tests.fixtures.app import SlackSender


def create_since(simulator) -> str:
    return dict(simulator.requests[-1].params)["create_since"]


def midnight_utc(tz: str) -> str:
    """Today's 00:00 in ``tz``, as the ``create_since`` the API gets."""
    today = datetime.now(ZoneInfo(tz)).date()
    start = datetime.combine(today, time(0), tzinfo=ZoneInfo(tz))
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("text", [
    "help", "failed today", "waiting", "processing 24h", "succeeded 7d", "canceled yesterday",
    "blocked", "list state=FAILED,SUCCEED type=2d sort=asc 7d", "summary today", "frobnicate",
])
def test_every_query_command_is_answered_ephemerally(slack: SlackSender, simulator, text):
    simulator.add_job(state="FAILED", error_code="MSS.00000004", error_msg="Internal Error")
    simulator.add_job(state="SUCCEED")

    sent = slack.command(text)

    assert (sent.status, sent.body) == (200, "")
    [answer] = slack.answers()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"]


def test_status_card_for_a_job(slack: SlackSender, simulator) -> None:
    job_id = simulator.add_job(state="FAILED", asset_name="Launch teaser",
                               error_code="MSS.10003001", error_msg="Render timeout")

    slack.command(f"status {job_id} no-such-job")

    # Answered after the list read, then replaced once both detail operations were
    # asked about the id the list did not return.
    first, final = slack.answers(count=2)
    assert "looking among older jobs" in str(first["blocks"])
    assert not first["replace_original"] and final["replace_original"]
    assert final["response_type"] == "ephemeral"
    text = str(final["blocks"])
    assert "Launch teaser" in text and "MSS.10003001" in text
    assert "No job `no-such-job` found." in text and "looking" not in text


def test_a_cover_slack_cannot_fetch_never_costs_the_answer(slack: SlackSender, simulator) -> None:
    job_id = simulator.add_job(state="SUCCEED", asset_name="Launch teaser")
    cover = simulator.jobs[job_id]["output_asset_config"]["cover_url"]
    slack.fake.reject_images = True  # "downloading image failed"

    slack.command(f"status {job_id}")

    [answer] = slack.answers()
    assert not [b for b in answer["blocks"]
                if b["type"] == "image" or (b.get("accessory") or {}).get("type") == "image"]
    assert "Launch teaser" in str(answer["blocks"]) and "Cover image" in str(answer["blocks"])
    assert cover.split("?")[0] in str(answer["blocks"])
    refused = [c for c in slack.fake.calls_to("response_url") if c.args.get("blocks")]
    assert len(refused) == 2  # the thumbnail first, then the link


def test_ack_is_fast_while_the_upstream_takes_2_5_s(slack: SlackSender, simulator) -> None:
    simulator.faults.latency = 2.5

    sent = slack.command("failed today")

    # Slack's limit is 3 s, network included; the ack must not wait on MetaStudio.
    assert sent.status == 200
    assert sent.seconds < 0.5
    assert slack.fake.responses.get("r1") is None
    assert slack.answers()[0]["response_type"] == "ephemeral"


def test_today_is_the_users_today(slack: SlackSender, simulator) -> None:
    slack.fake.user_timezones["U1"] = "Pacific/Auckland"

    slack.command("failed today")
    slack.answers()

    assert create_since(simulator) == midnight_utc("Pacific/Auckland")


def test_users_info_failing_falls_back_and_still_answers(slack: SlackSender, simulator) -> None:
    slack.fake.fail("users.info", "missing_scope")

    slack.command("failed today")

    assert slack.answers()[0]["response_type"] == "ephemeral"
    assert create_since(simulator) == midnight_utc("UTC")


@pytest.mark.parametrize(("status", "words"), [
    (500, "HTTP 500 · MSS.00000004 Internal Error"),
    (401, "HTTP 401 · MSS.00000001 Unauthorized"),
])
def test_upstream_errors_are_explained_with_the_request_id(
    slack: SlackSender, simulator, status: int, words: str
) -> None:
    simulator.faults.fail_next(status, times=20)

    slack.command("failed today")

    [answer] = slack.answers()
    assert words in answer["text"]
    assert re.search(r"request id [0-9a-f]{32}", answer["text"])
    assert "Traceback" not in str(answer)


@pytest.mark.parametrize("body", [
    {"count": 500, "jobs": "not a list"},
    {"count": 1, "jobs": [{"job_id": f"j{i}"} for i in range(101)]},
])
def test_a_malformed_200_is_reported_as_malformed_not_as_a_listing(
    slack: SlackSender, simulator, body
) -> None:
    simulator.faults.fail_next(200, body=body, times=20)

    slack.command("failed today")

    [answer] = slack.answers()
    assert "malformed" in answer["text"]
    assert re.search(r"request id [0-9a-f]{32}", answer["text"])
    assert "HTTP 200" not in answer["text"] and "No failed jobs" not in answer["text"]


def test_track_posts_a_tracking_message_in_the_channel(slack: SlackSender, simulator) -> None:
    job_id = simulator.add_job(state="PROCESSING", asset_name="Product tour v3")

    slack.command(f"track {job_id}")

    slack.answers()
    [message] = slack.fake.posts("C1")
    assert job_id in str(message.blocks)


def test_a_full_answer_queue_answers_busy_at_once(slack: SlackSender, answers) -> None:
    release = threading.Event()
    for _ in range(answers.queue.capacity):  # every thread busy, every place taken
        assert answers.queue.submit(release.wait, 10)

    sent = slack.command("failed today")

    try:
        assert sent.status == 200 and sent.seconds < 2.0
        assert "busy" in sent.body, sent.body
    finally:
        release.set()
    answers.queue.shutdown()
    assert not slack.fake.responses.get("r1")  # nothing was queued for it


def test_answer_queue_refuses_past_its_capacity_and_frees_slots() -> None:
    release = threading.Event()
    queue = AnswerQueue(1, waiting=1)

    assert queue.submit(release.wait, 10)
    assert queue.submit(release.wait, 10)
    assert not queue.submit(release.wait, 10)
    release.set()
    queue.shutdown()
    assert not queue.submit(lambda: None)  # shut down: refused, never raises
