"""The fake Slack server itself: what the other tests rely on."""

import pytest
from slack_sdk.errors import SlackApiError

IMAGE = [{"type": "image", "image_url": "https://cdn.example/c.png", "alt_text": "cover"}]


def test_post_update_and_thread(fake_slack, slack_client):
    parent = slack_client.chat_postMessage(channel="C1", text="tracking")["ts"]
    slack_client.chat_postMessage(channel="C1", text="done", thread_ts=parent)
    slack_client.chat_update(channel="C1", ts=parent, text="finished")
    assert fake_slack.message("C1", parent).text == "finished"
    assert [m.text for m in fake_slack.thread("C1", parent)] == ["done"]


def test_injected_failures_are_slack_shaped(fake_slack, slack_client):
    fake_slack.reject_images = True
    with pytest.raises(SlackApiError) as e:
        slack_client.chat_postMessage(channel="C1", text="x", blocks=IMAGE)
    assert e.value.response["error"] == "invalid_blocks"
    assert "downloading image failed" in e.value.response["errors"][0]

    fake_slack.rate_limit("chat.postMessage", retry_after=3)
    with pytest.raises(SlackApiError) as e:
        slack_client.chat_postMessage(channel="C1", text="x")
    assert e.value.response.status_code == 429
    assert e.value.response.headers["Retry-After"] == "3"

    fake_slack.channel_errors["C9"] = "not_in_channel"
    with pytest.raises(SlackApiError) as e:
        slack_client.chat_postMessage(channel="C9", text="x")
    assert e.value.response["error"] == "not_in_channel"


def test_unknown_method_is_recorded(fake_slack, slack_client):
    with pytest.raises(SlackApiError):
        slack_client.api_call("pins.add")
    assert fake_slack.unexpected == ["pins.add"]
    fake_slack.unexpected.clear()


def _section(chars: int) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": "x" * chars}}


@pytest.mark.parametrize(("blocks", "text", "error"), [
    ([_section(3000)] * 4 + [_section(1)], "x", "msg_blocks_too_long"),  # 12,001 characters
    ([_section(10)] * 51, "x", "invalid_blocks"),
    ([_section(3001)], "x", "invalid_blocks"),
    (None, "x" * 40_001, "msg_too_long"),
])
def test_slacks_size_limits_are_enforced(fake_slack, slack_client, blocks, text, error):
    with pytest.raises(SlackApiError) as e:
        slack_client.chat_postMessage(channel="C1", text=text, blocks=blocks)
    assert e.value.response["error"] == error
    assert fake_slack.posts() == []
    slack_client.chat_postMessage(channel="C1", text="x", blocks=[_section(3000)] * 4)


def test_a_revoked_token_and_an_outage_refuse_every_call(fake_slack, slack_client):
    fake_slack.token_error = "token_revoked"
    for call in (lambda: slack_client.auth_test(),
                 lambda: slack_client.chat_postMessage(channel="C1", text="x")):
        with pytest.raises(SlackApiError) as e:
            call()
        assert e.value.response["error"] == "token_revoked"
    fake_slack.token_error = None
    fake_slack.outage = 503
    with pytest.raises(SlackApiError) as e:
        slack_client.chat_postMessage(channel="C1", text="x")
    assert e.value.response.status_code == 503
    fake_slack.outage = "reset"
    with pytest.raises(OSError):
        slack_client.chat_postMessage(channel="C1", text="x")
    fake_slack.outage = None
    assert slack_client.chat_postMessage(channel="C1", text="x")["ok"]
    assert len(fake_slack.posts()) == 1


def test_the_per_channel_rate_answers_429_with_retry_after(fake_slack, slack_client):
    fake_slack.per_channel_rate = 1.0
    slack_client.chat_postMessage(channel="C1", text="x")
    slack_client.chat_postMessage(channel="C2", text="x")  # another channel: its own pace
    with pytest.raises(SlackApiError) as e:
        slack_client.chat_postMessage(channel="C1", text="x")
    assert e.value.response.status_code == 429
    assert int(e.value.response.headers["Retry-After"]) >= 1
    assert fake_slack.rate_limited == 1



def test_a_post_or_edit_naming_no_channel_is_refused_as_slack_does(fake_slack, slack_client):
    with pytest.raises(SlackApiError) as e:
        slack_client.chat_postMessage(channel="", text="hello")
    assert e.value.response["error"] == "channel_not_found"
    assert fake_slack.posts() == []
