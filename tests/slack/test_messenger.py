"""SlackMessenger against the fake Slack: Slack's failures become the messaging errors,
and no request sleeps on a 429."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.domain.messaging import (
    ChannelUnavailable,
    DeliveryError,
    ImageRejected,
    MessageTooLong,
    RateLimited,
    TransientDeliveryError,
    WorkspaceUnavailable,
)
from bot.slack.messenger import SlackMessenger
from tests.fakes.slack import FakeSlack

IMAGE = [{"type": "image", "image_url": "https://obs.example.com/c.jpg", "alt_text": "cover"}]


def test_posts_replies_and_edits(fake_slack: FakeSlack, messenger: SlackMessenger) -> None:
    parent = messenger.post("C1", text="tracking")
    reply = messenger.post("C1", text="done", thread_ts=parent, reply_broadcast=True)
    messenger.update("C1", parent, text="tracking: done")
    [message] = fake_slack.thread("C1", parent)
    assert message.ts == reply and message.reply_broadcast
    assert fake_slack.message("C1", parent).text == "tracking: done"


def test_a_429_raises_at_once_with_retry_after(fake_slack: FakeSlack) -> None:
    # The app's client retries 429s while blocking; the messenger must not.
    client = WebClient(token=fake_slack.token, base_url=fake_slack.url,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    fake_slack.rate_limit("chat.postMessage", retry_after=30)
    with pytest.raises(RateLimited) as caught:
        SlackMessenger(client).post("C1", text="hi")
    assert caught.value.retry_after == 30
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert client.retry_handlers  # the caller's client is left as it was


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
def test_channel_errors(fake_slack: FakeSlack, messenger: SlackMessenger, error: str) -> None:
    fake_slack.channel_errors["C9"] = error
    with pytest.raises(ChannelUnavailable) as caught:
        messenger.post("C9", text="hi")
    assert caught.value.error == error


def test_an_unfetchable_image_is_image_rejected(
    fake_slack: FakeSlack, messenger: SlackMessenger
) -> None:
    fake_slack.reject_images = True
    with pytest.raises(ImageRejected):
        messenger.post("C1", text="done", blocks=IMAGE)
    fake_slack.fail("chat.postMessage", "invalid_blocks", errors=["must be more than 0"])
    with pytest.raises(DeliveryError) as other:
        messenger.post("C1", text="done", blocks=IMAGE)
    assert type(other.value) is DeliveryError  # not every invalid_blocks is the image


def test_server_and_connection_errors_are_transient(
    fake_slack: FakeSlack, messenger: SlackMessenger
) -> None:
    fake_slack.fail("chat.postMessage", "internal_error", status=500)
    with pytest.raises(TransientDeliveryError):
        messenger.post("C1", text="hi")
    gone = SlackMessenger(WebClient(token="xoxb-x", base_url="http://127.0.0.1:9/api/"))
    with pytest.raises(TransientDeliveryError):
        gone.post("C1", text="hi")


def test_markers_are_found_in_threads_and_channels(messenger: SlackMessenger) -> None:
    parent = messenger.post("C1", text="tracking", marker="digest:C1:1")
    reply = messenger.post("C1", text="done", thread_ts=parent, marker="track:C1:j:SUCCEED")
    messenger.post("C1", text="unmarked", thread_ts=parent)
    assert messenger.marked("C1", thread_ts=parent) == {
        "digest:C1:1": parent, "track:C1:j:SUCCEED": reply}
    assert messenger.marked("C1") == {"digest:C1:1": parent}
    assert messenger.marked("C2") == {}


def test_a_direct_message_is_found_through_its_dm_channel(
    fake_slack: FakeSlack, messenger: SlackMessenger
) -> None:
    """DMs are posted to the user id; Slack reads their history only by the DM's id, so
    a crash between post and record must not end in channel_not_found (or a repost)."""
    ts = messenger.post("U7", text="your job ended", marker="dm:U7:job-1:SUCCEED")

    assert messenger.marked("U7") == {"dm:U7:job-1:SUCCEED": ts}
    opened = fake_slack.calls_to("conversations.open")
    assert [c.args.get("users") for c in opened] == ["U7"]
    assert fake_slack.calls_to("conversations.history")[-1].args["channel"] == "D7"


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "account_inactive",
                                   "not_authed", "token_expired", "ekm_access_denied"])
def test_a_refused_token_is_workspace_wide(
    fake_slack: FakeSlack, messenger: SlackMessenger, error: str
) -> None:
    fake_slack.token_error = error
    with pytest.raises(WorkspaceUnavailable) as caught:
        messenger.post("C1", text="hi")
    assert caught.value.error == error
    with pytest.raises(WorkspaceUnavailable):
        messenger.probe()  # auth.test
    fake_slack.token_error = None
    messenger.probe()


@pytest.mark.parametrize(("blocks", "error"), [
    ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}] * 5,
     "msg_blocks_too_long"),
    ([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51, "invalid_blocks"),
])
def test_a_size_refusal_is_message_too_long(
    messenger: SlackMessenger, blocks: list, error: str
) -> None:
    with pytest.raises(MessageTooLong) as caught:
        messenger.post("C1", text="hi", blocks=blocks)
    assert caught.value.error == error


def test_calls_are_bounded_below_the_senders_lease(fake_slack: FakeSlack) -> None:
    client = WebClient(token=fake_slack.token, base_url=fake_slack.url, timeout=120)
    assert SlackMessenger(client).client.timeout == 15 and client.timeout == 120


@pytest.mark.parametrize("outage", [503, "html", "reset"])
def test_an_outage_is_transient(
    fake_slack: FakeSlack, messenger: SlackMessenger, outage: int | str
) -> None:
    fake_slack.outage = outage
    with pytest.raises(TransientDeliveryError):
        messenger.post("C1", text="hi")
