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
