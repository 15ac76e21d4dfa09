"""Who may press Cancel: CANCEL_ALLOWED's users and groups, members read from Slack."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.domain.cancel import CancelPolicy
from bot.settings import Settings
from bot.slack.usergroups import GroupMembers


def test_users_and_groups_are_told_apart():
    policy = CancelPolicy({"U1", "W2", "S3"}, {"S3": frozenset({"U4"})}.__getitem__)
    assert policy.enabled and policy.users == {"U1", "W2"} and policy.groups == {"S3"}
    assert [policy.allows(u) for u in ("U1", "W2", "U4", "U5")] == [True, True, True, False]
    assert not CancelPolicy(()).enabled and not CancelPolicy(()).allows("U1")



def test_a_refusal_names_everyone_allowed_people_first():
    policy = CancelPolicy({"S9", "U2", "U1"}, {"S9": frozenset()}.__getitem__)
    assert policy.who() == "<@U1>, <@U2>, <!subteam^S9>"


def test_without_a_way_to_read_groups_a_group_admits_nobody():
    """The console demo and tests build policies without Slack: a group then has no
    members (not an error)."""
    policy = CancelPolicy({"S1"})
    assert policy.enabled and not policy.allows("U1")


def test_group_members_come_from_slack_and_are_cached(fake_slack):
    fake_slack.usergroups["S1"] = ["U1", "U2"]
    members = GroupMembers(WebClient(token=fake_slack.token, base_url=fake_slack.url))
    assert members("S1") == {"U1", "U2"} and members("S1") == {"U1", "U2"}
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1


def test_a_slack_error_refuses_and_is_asked_again_next_time(fake_slack):
    members = GroupMembers(WebClient(token=fake_slack.token, base_url=fake_slack.url))
    assert members("S404") == frozenset()  # no_such_subteam
    fake_slack.usergroups["S404"] = ["U1"]
    assert members("S404") == {"U1"}


@pytest.mark.parametrize("value", ["U1,S2", "U1 S2", " W3 ", ""])
def test_cancel_allowed_accepts_slack_ids(value):
    assert Settings(cancel_allowed=value).cancel_allowed_ids == set(
        value.replace(",", " ").split())


@pytest.mark.parametrize("value", ["@ana", "C123", "u1", "U1;rm"])
def test_cancel_allowed_refuses_anything_else(value):
    with pytest.raises(ValueError, match="is not a Slack user"):
        Settings(cancel_allowed=value)
