"""``/videojobs report …``, ``reports``, ``unreport``: signed commands in, the channel's
confirmation and the ephemeral answers out."""

from __future__ import annotations

from tests.fixtures.app import SlackSender


def test_scheduling_listing_and_stopping_a_report(slack: SlackSender):
    slack.fake.user_timezones["U1"] = "America/New_York"

    slack.command("report weekly fri 17:30 summary", response="add")

    [added] = slack.answers("add")
    assert added["response_type"] == "ephemeral"
    assert "Scheduled report #1: summary, every Friday at 17:30 (America/New_York)" in \
        added["text"]
    [confirmation] = slack.fake.posts("C1")
    assert confirmation.text.startswith("🗓️ <@U1> scheduled a summary report here")

    slack.command("reports", response="list")
    assert "#1 summary, every Friday at 17:30 (America/New_York)" in \
        slack.answers("list")[0]["text"]

    slack.command("unreport 1", response="stop")
    assert slack.answers("stop")[0]["text"] == "Report #1 stopped."
    slack.command("reports", response="empty")
    assert "no scheduled reports" in slack.answers("empty")[0]["text"]


def test_a_bad_report_command_is_one_line_and_schedules_nothing(slack: SlackSender):
    slack.command("report daily 9am failed")
    [answer] = slack.answers()
    assert "`9am` is not a time of day" in answer["text"]
    assert slack.fake.posts() == []


def test_the_same_report_twice_is_scheduled_once(slack: SlackSender):
    """Issue #21, 6: an identical ``report`` names the one already scheduled."""
    slack.command("report daily 09:00 failed", response="one")
    assert "Scheduled report #1" in slack.answers("one")[0]["text"]
    slack.command("report daily 09:00 failed", response="two")
    assert slack.answers("two")[0]["text"] == (
        "That report is already scheduled as #1 (failed, daily at 09:00 (UTC)); "
        "nothing added.")
    slack.command("report daily 09:00 summary", response="other")  # another kind: a new one
    assert "Scheduled report #2" in slack.answers("other")[0]["text"]
    assert len(slack.fake.posts("C1")) == 2  # one confirmation each, none for the repeat
