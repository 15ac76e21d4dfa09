"""The fake Slack's upload flow, ``slack_file`` checks, views.publish limits and
memberships behave like Slack, seen through a real ``WebClient``."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack import FakeSlack

PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 100


def test_files_upload_v2_runs_the_three_steps(fake_slack: FakeSlack, slack_client: WebClient):
    response = slack_client.files_upload_v2(filename="cover.png", content=PNG, title="Cover")
    file_id = response["file"]["id"]
    assert [c.method for c in fake_slack.calls] == [
        "files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    file = fake_slack.files[file_id]
    assert file.completed and file.data == PNG and file.title == "Cover"


def test_a_failed_upload_post_fails_the_helper(fake_slack: FakeSlack, slack_client: WebClient):
    fake_slack.fail_uploads = True
    with pytest.raises(OSError):  # urllib's HTTPError: the bytes never arrived
        slack_client.files_upload_v2(filename="cover.png", content=PNG)


def test_completing_an_upload_whose_bytes_never_arrived_is_refused(
        fake_slack: FakeSlack, slack_client: WebClient):
    started = slack_client.files_getUploadURLExternal(filename="c.png", length=10)
    with pytest.raises(SlackApiError) as refused:
        slack_client.files_completeUploadExternal(files=[{"id": started["file_id"]}])
    assert refused.value.response["error"] == "file_upload_not_completed"


def test_slack_file_images_must_be_completed_uploads(fake_slack: FakeSlack,
                                                     slack_client: WebClient):
    started = slack_client.files_getUploadURLExternal(filename="c.png", length=10)
    block = {"type": "image", "alt_text": "c", "slack_file": {"id": started["file_id"]}}
    with pytest.raises(SlackApiError) as refused:
        slack_client.chat_postMessage(channel="C1", text="t", blocks=[block])
    assert "invalid slack file [json-pointer:/blocks/0/slack_file]" in str(refused.value)
    done = slack_client.files_upload_v2(filename="c.png", content=PNG)["file"]["id"]
    block["slack_file"] = {"id": done}
    fake_slack.reject_images = True  # an uploaded file does not depend on a fetch
    assert slack_client.chat_postMessage(channel="C1", text="t", blocks=[block])["ok"]


def test_views_publish_limits_per_user(fake_slack: FakeSlack, slack_client: WebClient):
    fake_slack.publish_per_user = 2
    view = {"type": "home", "blocks": []}
    slack_client.views_publish(user_id="U1", view=view)
    slack_client.views_publish(user_id="U1", view=view)
    slack_client.views_publish(user_id="U2", view=view)
    with pytest.raises(SlackApiError) as limited:
        slack_client.views_publish(user_id="U1", view=view)
    assert limited.value.response.status_code == 429
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    with pytest.raises(SlackApiError):
        slack_client.views_publish(user_id="U3", view={"type": "home",
                                                       "blocks": [{"type": "divider"}] * 101})


def test_users_conversations_pages(fake_slack: FakeSlack, slack_client: WebClient):
    fake_slack.memberships["U1"] = [f"C{n}" for n in range(5)]
    first = slack_client.users_conversations(user="U1", limit=3)
    second = slack_client.users_conversations(
        user="U1", limit=3, cursor=first["response_metadata"]["next_cursor"])
    assert [c["id"] for c in first["channels"] + second["channels"]] == fake_slack.memberships[
        "U1"]
    assert second["response_metadata"]["next_cursor"] == ""


def test_a_persons_message_cannot_be_edited_by_the_bot(fake_slack: FakeSlack,
                                                       slack_client: WebClient):
    message = fake_slack.say("C1", "is it done?")
    with pytest.raises(SlackApiError) as refused:
        slack_client.chat_update(channel="C1", ts=message.ts, text="edited")
    assert refused.value.response["error"] == "cant_update_message"
