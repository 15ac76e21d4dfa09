"""``subscribe … notify=@group`` asks Slack whether the group exists (``usergroups.list``):
a typo pages nobody, so it is refused; when Slack cannot be asked, the subscription is
made and the answer says the group was not checked (issue #21, 7)."""

from __future__ import annotations

from tests.fixtures.app import SlackSender


def test_a_group_of_the_workspace_is_accepted(slack: SlackSender, services) -> None:
    slack.fake.usergroups["S0ONCALL"] = ["U1"]
    slack.command("subscribe failed notify=<!subteam^S0ONCALL|@oncall>")
    [answer] = slack.answers()
    assert answer["text"].startswith("Subscribed:") and "not be asked" not in answer["text"]
    [sub] = services.tracking.store.channel_subscriptions("C1")
    assert services.tracking.service.oncall.mentions([sub.id]) == {sub.id: "S0ONCALL"}


def test_a_group_slack_does_not_know_is_refused(slack: SlackSender, services) -> None:
    slack.fake.usergroups["S0ONCALL"] = ["U1"]
    slack.command("subscribe failed notify=<!subteam^SFAKE000>")
    [answer] = slack.answers()
    assert answer["text"].startswith("`SFAKE000` is not a user group of this workspace")
    assert services.tracking.store.channel_subscriptions("C1") == []
    assert slack.fake.posts("C1") == []  # no confirmation either


def test_when_slack_cannot_be_asked_the_group_is_taken_and_said_unchecked(
        slack: SlackSender, services) -> None:
    slack.fake.fail("usergroups.list", "internal_error", status=500, times=5)
    slack.command("subscribe failed notify=<!subteam^S0ONCALL>")
    [answer] = slack.answers()
    assert answer["text"].startswith("Subscribed:")
    assert answer["text"].endswith("(Slack could not be asked whether `S0ONCALL` is a user "
                                   "group just now: check that it pages.)")
    [sub] = services.tracking.store.channel_subscriptions("C1")
    assert services.tracking.service.oncall.mentions([sub.id]) == {sub.id: "S0ONCALL"}
