"""Button clicks end to end: each click is acked at once and answered through its own
response_url."""

from __future__ import annotations

from typing import Any

import pytest

from bot.views import actions
from tests.fixtures.app import SlackSender


def buttons(answer: dict[str, Any]) -> dict[str, str]:
    """action_id -> value of the buttons in an answer (the last of each kind)."""
    return {
        element["action_id"]: element.get("value")
        for block in answer.get("blocks", []) if block["type"] == "actions"
        for element in block["elements"]
    }


def test_show_more_pages_on(slack: SlackSender, simulator) -> None:
    for _ in range(25):
        simulator.add_job(state="SUCCEED")
    slack.command("succeeded 7d")
    more = buttons(slack.answers()[0])[actions.SHOW_MORE]

    sent = slack.click(actions.SHOW_MORE, more)

    assert (sent.status, sent.body) == (200, "")
    [page_two] = slack.answers("click")
    assert page_two["response_type"] == "ephemeral"
    assert actions.SHOW_MORE not in buttons(page_two)
    assert dict(simulator.requests[-1].params)["offset"] == "20"


def test_post_to_channel_answers_in_channel(slack: SlackSender, simulator) -> None:
    simulator.add_job(state="FAILED")
    slack.command("summary today")
    post = buttons(slack.answers()[0])[actions.POST_TO_CHANNEL]

    slack.click(actions.POST_TO_CHANNEL, post)

    [shared] = slack.answers("click")
    assert shared["response_type"] == "in_channel"
    assert actions.POST_TO_CHANNEL not in buttons(shared)


def test_a_status_posted_to_the_channel_is_replaced_in_the_channel(
        slack: SlackSender, simulator) -> None:
    job_id = simulator.add_job(state="SUCCEED", asset_name="Launch teaser")
    slack.command(f"status {job_id} typo-1")
    first, _ = slack.answers(count=2)
    post = buttons(first)[actions.POST_TO_CHANNEL]

    slack.click(actions.POST_TO_CHANNEL, post)

    # Posted after the list read, then replaced once the detail reads are done: both
    # in the channel, nothing of the first answer lost.
    shared, final = slack.answers("click", count=2)
    assert shared["response_type"] == final["response_type"] == "in_channel"
    assert final["replace_original"] is True
    assert "Launch teaser" in str(final["blocks"]) and "typo-1" in str(final["blocks"])
    assert "looking" not in str(final["blocks"])


def test_refresh_replaces_the_card(slack: SlackSender, simulator) -> None:
    job_id = simulator.add_job(state="PROCESSING")
    slack.command(f"status {job_id}")
    assert buttons(slack.answers()[0])[actions.REFRESH] == job_id
    simulator.set_state(job_id, "SUCCEED")

    slack.click(actions.REFRESH, job_id)

    [refreshed] = slack.answers("click")
    assert refreshed["replace_original"] is True
    assert "✅ Succeeded" in str(refreshed["blocks"])  # not the cached "Processing"


def test_track_button_posts_the_tracking_message(slack: SlackSender, simulator) -> None:
    job_id = simulator.add_job(state="WAITING")

    slack.click(actions.TRACK, job_id)

    slack.answers("click")
    [message] = slack.fake.posts("C1")
    assert job_id in str(message.blocks)


def test_unknown_actions_are_acked_and_left_alone(slack: SlackSender) -> None:
    sent = slack.click("preview_link", None)

    assert (sent.status, sent.body) == (200, "")
    assert not slack.fake.wait_for(lambda f: "click" in f.responses, timeout=0.5)


def test_a_forged_click_runs_nothing(slack: SlackSender, simulator) -> None:
    job_id = simulator.add_job(state="WAITING")
    slack.secret = "forged"

    assert slack.click(actions.TRACK, job_id).status == 401
    assert not slack.fake.wait_for(lambda f: f.calls_to("chat.postMessage"), timeout=0.5)
    assert simulator.requests == []


# -- on-call buttons --------------------------------------------------------------------


@pytest.fixture
def bot_settings(bot_settings):
    """The app with Cancel allowed to U1 directly and to the members of S0ONCALL."""
    return bot_settings.model_copy(update={"cancel_allowed": "U1, S0ONCALL"})


def test_cancel_in_a_tracking_thread_says_who_pressed_it(slack: SlackSender, simulator) -> None:
    job_id = simulator.add_job(state="WAITING")
    slack.command(f"track {job_id}")
    slack.answers()
    [tracking] = slack.fake.posts("C1")
    assert any(b["type"] == "actions" for b in tracking.blocks)  # its Cancel button

    slack.click(actions.CANCEL, job_id)

    [answer] = slack.answers("click")
    assert f"<@U1> canceled `{job_id}`" in answer["text"]
    assert simulator.jobs[job_id]["state"] == "CANCELED"
    [note] = slack.fake.thread("C1", tracking.ts)
    assert note.text == f"🚫 <@U1> canceled `{job_id}`."


def test_a_group_member_may_cancel_and_others_are_refused(slack: SlackSender, simulator) -> None:
    slack.fake.usergroups["S0ONCALL"] = ["U5"]
    job_id = simulator.add_job(state="WAITING")
    slack.user_id = "U6"
    slack.click(actions.CANCEL, job_id, response="no")
    [refused] = slack.answers("no")
    assert refused["text"] == "🔒 Only <@U1>, <!subteam^S0ONCALL> may cancel jobs from Slack."
    assert simulator.jobs[job_id]["state"] == "WAITING"

    slack.user_id = "U5"
    slack.click(actions.CANCEL, job_id, response="yes")
    assert "canceled" in slack.answers("yes")[0]["text"]
    assert [c.args["usergroup"] for c in slack.fake.calls_to("usergroups.users.list")] == [
        "S0ONCALL"]  # the member list is cached between presses


def test_notify_me_tracks_here_and_dms_the_clicker(slack: SlackSender, simulator) -> None:
    job_id = simulator.add_job(state="PROCESSING")
    slack.click(actions.NOTIFY_ME, job_id)
    assert "DM you" in slack.answers("click")[0]["text"]
    assert job_id in str(slack.fake.posts("C1")[0].blocks)


def test_two_people_pressing_cancel_at_once_send_one_cancel(simulator, services, mocker) -> None:
    """Issue #21, 8: both see the job waiting, both press; the claim in the database lets
    one POST through, and the other is told who is canceling it."""
    import threading
    from zoneinfo import ZoneInfo

    from bot.commands.types import Context

    slack_users = {"U1": "U1", "U5": "U5"}
    job_id = simulator.add_job(state="WAITING")
    router = services.router
    router.cancel_policy.users = frozenset(slack_users)
    both_looked = threading.Barrier(2, timeout=10)
    fresh, seen = router.fresh, threading.local()

    def look_then_wait(job: str):
        found = fresh(job)
        if not getattr(seen, "once", False):  # the look before the cancel, not after it
            seen.once = True
            both_looked.wait()  # each has seen it WAITING before either claims
        return found

    mocker.patch.object(router, "fresh", side_effect=look_then_wait)
    answers: dict[str, str] = {}

    def press(user: str) -> None:
        ctx = Context(user_id=user, channel_id="C1", tz=ZoneInfo("UTC"))
        reply = router.handle_action(actions.CANCEL, job_id, ctx)
        answers[user] = reply.text if reply else ""

    pressers = [threading.Thread(target=press, args=(u,)) for u in slack_users]
    for thread in pressers:
        thread.start()
    for thread in pressers:
        thread.join(15)

    posts = [r for r in simulator.requests if r.path.endswith("/cancel")]
    assert len(posts) == 1, answers
    winner = next(u for u, text in answers.items() if "canceled" in text)
    loser = next(u for u in slack_users if u != winner)
    assert answers[loser] == f"<@{winner}> is canceling `{job_id}` right now; it is sent once."
    assert simulator.jobs[job_id]["state"] == "CANCELED"
    audit = services.tracking.store.actions(None, None)
    assert {(e.user_id, e.action) for e in audit} == {(winner, "cancel"), (loser, "cancel")}
