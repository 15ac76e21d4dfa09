"""Covers that last: a finished job's cover is uploaded to Slack and shown with
``slack_file``; when anything on the way fails, the URL image, then a link, as before.
A cover never costs the notification, and is uploaded once per job."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from bot.metastudio.models import JobState
from bot.simulator.cover import cover_png
from tests.fixtures.tracking import PROMO_VIDEO, TrackingWorld
from tests.tracking.helpers import asset, block_types, track, tracking_message

UPLOAD_CALLS = ("files.getUploadURLExternal", "upload", "files.completeUploadExternal")


def finished(world: TrackingWorld, channel: str = "C1", **job) -> str:
    job_id = world.running(**{**PROMO_VIDEO, **job})
    track(world, job_id, channel=channel)
    world.sim.set_state(job_id, "SUCCEED")
    return job_id


def reply_in(world: TrackingWorld, channel: str = "C1"):
    [reply] = world.slack.thread(channel, tracking_message(world, channel).ts)
    return reply


def _notifications(result: str) -> float:
    return REGISTRY.get_sample_value("videojobs_notifications_total",
                                     {"result": result}) or 0.0


def _marker(message) -> str:
    return message.marker or ""


def uploads(world: TrackingWorld) -> list[int]:
    return [len(world.slack.calls_to(m)) for m in UPLOAD_CALLS]


def test_the_cover_is_uploaded_to_slack_and_shown_from_there(world: TrackingWorld):
    job = finished(world)
    world.cycle()

    reply = reply_in(world)
    assert block_types(reply) == ["section", "image"]
    image = reply.blocks[1]
    assert "image_url" not in image and image["alt_text"] == "Cover of intro-video"
    file = world.slack.files[image["slack_file"]["id"]]
    assert file.completed and file.data == cover_png()  # the simulator's bytes
    assert file.filename == f"cover-{job}.png" and file.channel is None  # not shared
    assert "intro-video" in reply.blocks[0]["text"]["text"]
    assert uploads(world) == [1, 1, 1]


def test_one_upload_per_job_across_channels_retries_and_restarts(world: TrackingWorld):
    job = world.running(**PROMO_VIDEO)
    track(world, job, channel="C1")
    track(world, job, channel="C2")
    world.sim.set_state(job, "SUCCEED")
    world.slack.rate_limit("chat.postMessage", retry_after=5)  # C1's first post waits
    world.cycle()
    world = world.restart()
    world.clock.advance(5)
    world.cycle()

    ids = {reply_in(world, c).blocks[1]["slack_file"]["id"] for c in ("C1", "C2")}
    assert len(ids) == 1
    assert uploads(world) == [1, 1, 1]


def test_the_uploaded_cover_outlives_the_signed_url(world: TrackingWorld):
    job = finished(world)
    world.cycle()
    file_id = reply_in(world).blocks[1]["slack_file"]["id"]
    world.clock.advance(2 * 24 * 3600)  # MetaStudio's cover_url has expired by now
    world.slack.reject_images = True     # and Slack could no longer fetch it
    assert world.sim.jobs[job]  # still listed
    # The message refers to Slack's own copy; nothing about it depends on the URL.
    assert world.slack.files[file_id].data == cover_png()


@pytest.mark.parametrize("failure", ["upload", "get_url", "complete", "ratelimited"])
def test_an_upload_that_fails_falls_back_to_the_url_image(world: TrackingWorld, failure):
    if failure == "upload":
        world.slack.fail_uploads = True
    elif failure == "get_url":
        world.slack.fail("files.getUploadURLExternal", "missing_scope")
    elif failure == "complete":
        world.slack.fail("files.completeUploadExternal", "internal_error", status=500)
    else:
        world.slack.rate_limit("files.getUploadURLExternal", retry_after=30)
    job = finished(world)
    world.cycle()

    reply = reply_in(world)
    assert reply.blocks[1] == {"type": "image", "image_url": asset(world, job)["cover_url"],
                               "alt_text": "Cover of intro-video"}


def test_upload_failed_and_url_unfetchable_leaves_a_link(world: TrackingWorld,
                                                         caplog: pytest.LogCaptureFixture):
    world.slack.fail_uploads = True
    world.slack.reject_images = True
    job = finished(world)
    cover = asset(world, job)["cover_url"]  # signed now; the second post waits its turn
    fallbacks = _notifications("image_fallback")
    with caplog.at_level(logging.INFO, "bot.tracking.delivery"):
        world.cycle()

    reply = reply_in(world)
    assert block_types(reply) == ["section"]
    assert cover in reply.blocks[0]["text"]["text"]
    assert reply.text == f"<@U1> ✅ `{job}` succeeded"
    assert _marker(reply) == f"track:C1:{job}:SUCCEED"  # found again after a crash
    assert f"Slack could not fetch the cover of {job}; sending without it" in caplog.messages
    assert _notifications("image_fallback") == fallbacks + 1
    world.cycle()
    assert len(world.slack.thread("C1", tracking_message(world).ts)) == 1


def test_slack_refusing_the_uploaded_file_falls_back_to_the_url(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
):
    world.slack.reject_slack_files = True  # e.g. Slack has not finished processing it
    job = finished(world)
    cover = asset(world, job)["cover_url"]  # signed now; the second post waits its turn
    refused = _notifications("cover_refused")
    with caplog.at_level(logging.INFO, "bot.tracking.delivery"):
        world.cycle()
    assert reply_in(world).blocks[1]["image_url"] == cover
    [file_id] = world.slack.files
    assert (f"Slack refused the uploaded cover {file_id} of {job} (chat_postMessage: "
            "invalid_blocks invalid slack file [json-pointer:/blocks/1/slack_file]); "
            "using its URL") in caplog.messages
    assert _notifications("cover_refused") == refused + 1


def test_an_expired_cover_url_is_not_uploaded(world: TrackingWorld):
    job = finished(world)
    seen = asset(world, job)["cover_url"]
    world.tracking.poller.poll()      # the end is seen and enqueued with this cover_url,
    world.clock.advance(25 * 3600)    # which expires before the notification goes out
    world.slack.reject_images = True  # so Slack cannot fetch it either
    world.tracking.sender.send_due()
    assert uploads(world) == [0, 0, 0]
    reply = reply_in(world)
    assert block_types(reply) == ["section"] and seen in reply.blocks[0]["text"]["text"]


def test_cover_upload_off_keeps_the_url_image(world: TrackingWorld):
    world = world.restart(cover_upload=False)
    job = finished(world)
    world.cycle()
    assert reply_in(world).blocks[1]["image_url"] == asset(world, job)["cover_url"]
    assert uploads(world) == [0, 0, 0]


def test_failed_jobs_upload_nothing(world: TrackingWorld):
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "FAILED")
    world.cycle()
    assert uploads(world) == [0, 0, 0]


def test_only_a_succeeded_jobs_image_cover_is_uploaded(world: TrackingWorld):
    job_id = finished(world)
    job = world.client.get_jobs([job_id])[job_id]
    uploader = world.tracking.sender.rows.covers
    assert uploader is not None
    failed = job.model_copy(update={"state": JobState.FAILED})
    assert uploader.slack_file(failed) is None
    assert job.output_asset_config is not None
    json_200 = job.output_asset_config.model_copy(
        update={"cover_url": world.slack.url + "auth.test"})
    not_an_image = job.model_copy(update={"job_id": "other", "output_asset_config": json_200})
    assert uploader.slack_file(not_an_image) is None
    assert uploads(world) == [0, 0, 0]
    assert uploader.slack_file(job) is not None and uploads(world) == [1, 1, 1]


def test_cover_upload_setting(monkeypatch):
    from bot.settings import SettingsError, load_settings

    assert load_settings("demo").cover_upload is True
    monkeypatch.setenv("COVER_UPLOAD", "false")
    assert load_settings("demo").cover_upload is False
    monkeypatch.setenv("COVER_UPLOAD", "sometimes")
    with pytest.raises(SettingsError, match=r"^COVER_UPLOAD: "):
        load_settings("demo")
