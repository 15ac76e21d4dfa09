"""The "Track jobs in message" shortcut end to end: a signed ``message_action`` in,
the answer and later the job's end threaded under that very message."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from bot.slack.listeners.shortcuts import CALLBACK_ID, find_job_ids
from bot.slack.services import Services
from tests.fakes.slack import Message
from tests.fixtures.app import Sent, SlackSender

UNKNOWN = "0badc0de-0000-4000-8000-000000000000"


def use_shortcut(slack: SlackSender, message: Message, *, response: str = "shortcut") -> Sent:
    payload: dict[str, Any] = {
        "type": "message_action", "callback_id": CALLBACK_ID, "trigger_id": "1.2.3",
        "team": {"id": slack.fake.team_id}, "user": {"id": "U1", "name": "ana"},
        "channel": {"id": message.channel, "name": "video-ops"},
        "message_ts": message.ts, "response_url": slack.fake.response_url(response),
        "message": {"type": "message", "user": message.user, "ts": message.ts,
                    "text": message.text, **({"thread_ts": message.thread_ts}
                                             if message.thread_ts else {})},
    }
    return slack.post(urlencode({"payload": json.dumps(payload)}))


def test_the_jobs_in_a_colleagues_message_are_answered_in_its_thread(
        slack: SlackSender, simulator, services: Services):
    running = simulator.add_job(state="PROCESSING", asset_name="Launch teaser")
    done = simulator.add_job(state="SUCCEED", asset_name="Intro")
    question = slack.fake.say("C1", f"is {running} done? and <https://x/{done}|this one>? "
                                    f"also {UNKNOWN.upper()}")

    sent = use_shortcut(slack, question)

    assert (sent.status, sent.body) == (200, "")
    assert slack.fake.wait_for(lambda f: f.thread("C1", question.ts))
    [answer] = slack.fake.thread("C1", question.ts)
    assert f"<@U1> is tracking ⚙️ `{running}`" in answer.text
    assert f"No such job: `{UNKNOWN}`" in answer.text
    assert f"Already finished: ✅ `{done}` succeeded" in answer.text
    # Recorded right after the answer is posted (the answer proves the bot can post).
    assert slack.fake.wait_for(lambda f: services.tracking.store.channel_tracked("C1"))
    [tracked] = services.tracking.store.channel_tracked("C1")
    assert (tracked.job_id, tracked.message_ts) == (running, question.ts)

    simulator.set_state(running, "SUCCEED")
    services.tracking.run_once()

    replies = slack.fake.thread("C1", question.ts)
    assert len(replies) == 2 and f"`{running}` succeeded" in replies[1].text
    # The colleague's message is left as it was, and the notification counts as sent.
    assert question.edits == [] and question.text.startswith("is ")
    assert [r.status for r in services.tracking.outbox.rows()] == ["sent"]
    assert slack.fake.responses.get("shortcut") is None  # nothing ephemeral to say


def test_a_message_in_a_thread_is_answered_in_that_thread(slack: SlackSender, simulator):
    job = simulator.add_job(state="WAITING")
    root = slack.fake.say("C1", "render queue looks slow")
    reply = slack.fake.say("C1", f"mine is {job}", thread_ts=root.ts)

    use_shortcut(slack, reply)

    assert slack.fake.wait_for(lambda f: len(f.thread("C1", root.ts)) == 2)
    assert f"`{job}`" in slack.fake.thread("C1", root.ts)[1].text


def test_no_job_ids_found_is_an_ephemeral_line(slack: SlackSender):
    sent = use_shortcut(slack, slack.fake.say("C1", "is the 26f06524-… render done?"))
    assert sent.status == 200
    [answer] = slack.answers("shortcut")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("I found no job IDs in that message")
    assert [m for m in slack.fake.posts("C1") if m.user is None] == []


def test_a_channel_the_bot_is_not_in_gets_an_ephemeral_line(slack: SlackSender, simulator):
    job = simulator.add_job(state="WAITING")
    slack.fake.channel_errors["C7"] = "not_in_channel"
    use_shortcut(slack, slack.fake.say("C7", f"{job}?"))
    [answer] = slack.answers("shortcut")
    assert "I can't post in this channel (`not_in_channel`)" in answer["text"]


def test_upstream_down_is_explained_not_swallowed(slack: SlackSender, simulator):
    simulator.faults.fail_next(status=503, times=10)
    use_shortcut(slack, slack.fake.say("C1", f"{UNKNOWN}"))
    [answer] = slack.answers("shortcut")
    assert "503" in answer["text"]


def test_a_forged_shortcut_runs_nothing(slack: SlackSender):
    message = slack.fake.say("C1", UNKNOWN)
    body = urlencode({"payload": json.dumps({"type": "message_action",
                                             "callback_id": CALLBACK_ID})})
    assert slack.post(body, signature="v0=forged").status == 401
    assert slack.fake.thread("C1", message.ts) == []


def test_finding_job_ids():
    uuid = "26f06524-4f75-4a1b-9c7e-0123456789ab"
    assert find_job_ids(f"is {uuid} done? {uuid.upper()} again, `{uuid}`") == [uuid]
    assert find_job_ids("26f06524-… and x26f06524-4f75-4a1b-9c7e-0123456789ab") == []
    assert find_job_ids("a" * 32 + " " + "b" * 33) == ["a" * 32]
    assert find_job_ids("") == []


def test_a_database_that_does_not_answer_takes_the_shortcuts_promise_back(
        slack: SlackSender, simulator, services: Services, mocker) -> None:
    """The shortcut goes through the tracking service, with its database-error handling:
    the answer in the thread no longer promises replies, and the person is told why."""
    from sqlalchemy.exc import OperationalError

    running = simulator.add_job(state="PROCESSING")
    question = slack.fake.say("C1", f"is {running} done?")
    mocker.patch.object(services.tracking.store, "add_tracked",
                        side_effect=OperationalError("INSERT", {}, Exception("db away")))

    use_shortcut(slack, question)

    assert slack.fake.wait_for(lambda f: f.responses.get("shortcut"))
    [told] = slack.fake.responses["shortcut"]
    assert "couldn't save the tracking" in told["text"]
    [answer] = slack.fake.thread("C1", question.ts)
    assert answer.text.startswith("⚠️ Not tracking these jobs")
    assert services.tracking.store.channel_tracked("C1") == []
