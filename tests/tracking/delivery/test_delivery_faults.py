"""Slack's size limits, a token Slack refuses, and a database that fails mid-send, each
driven by hand against the fake Slack (docs/delivery.md): a message too long is
shortened once, then halved down to twelve splits, its parts posted once each and never
broadcast; a row cut between its parts, by a rate limit, a refused token or the pass's
budget, stays in doubt or goes back untouched; a pass the database fails gives its rows
back or says their leases will run out."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from pytest_mock import MockerFixture
from sqlalchemy.exc import OperationalError

from bot.tracking.delivery.sender import SendResult
from bot.tracking.service import NOT_SAVED
from bot.views.notifications import Message
from bot.wiring.tracking import build_tracking
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.delivery.helpers import ended, marked, note
from tests.tracking.helpers import CrashAfter, ctx, track, tracking_message

LONG_ASSET = "campaign-2026-spring-" + "long-descriptive-asset-name-" * 8
LONG_ERROR = "Render failed: the uploaded audio track " + "is longer than the script allows " * 8


def _burst_of_long_failures(world: TrackingWorld, n: int = 30) -> list[str]:
    ids = [world.running(asset_name=LONG_ASSET) for _ in range(n)]
    track(world, *ids)
    for job in ids:
        world.sim.set_state(job, "FAILED", error_code="MSS.00000004", error_msg=LONG_ERROR)
    return ids


def _told(world: TrackingWorld, ids: list[str]) -> Counter[str]:
    told: Counter[str] = Counter({job: 0 for job in ids})
    for message in world.slack.posts():
        if message.metadata:
            for job in ids:
                told[job] += job in message.text + str(message.blocks)
    return told


# -- size --------------------------------------------------------------------------------


def test_digest_details_are_packed_under_slacks_character_limit(world: TrackingWorld) -> None:
    ids = _burst_of_long_failures(world)
    for _ in range(3):
        world.cycle()
        world.clock.advance(10)
    assert set(_told(world, ids).values()) == {1}
    calls = world.slack.calls_to("chat.postMessage")
    assert len(calls) == len(world.slack.posts())  # Slack refused nothing
    thread = world.slack.thread("C1", tracking_message(world).ts)
    assert len([m for m in thread if "jobs finished" in m.text]) == 1  # in the tracking thread
    details = [m for m in thread if m.text.startswith("Details of")]
    assert len(details) >= 2  # 30 jobs, ~15,000 characters
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}


def test_a_message_slack_refuses_for_size_is_split_and_sent_in_parts(
    world: TrackingWorld,
) -> None:
    world.slack.block_text_limit = 2_500  # Slack stricter than the sender's packing
    ids = _burst_of_long_failures(world)
    for _ in range(15):  # each refusal costs its place in the channel's pace
        world.cycle()
        world.clock.advance(10)
    assert set(_told(world, ids).values()) == {1}
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}
    markers = [m.marker for m in world.slack.posts() if m.metadata]
    assert any("/" in key for key in markers)  # parts carry markers of their own
    assert len(markers) == len(set(markers))


def test_one_block_too_long_for_slack_is_sent_as_text_parts(world: TrackingWorld) -> None:
    world.slack.block_text_limit = 400  # even one job's section is refused
    job = world.running(asset_name=LONG_ASSET)
    track(world, job)
    world.sim.set_state(job, "FAILED", error_code="MSS.00000004", error_msg=LONG_ERROR)
    world.cycle()
    replies = world.slack.thread("C1", tracking_message(world).ts)
    assert replies and all(r.blocks is None for r in replies)
    assert "MSS.00000004" in "".join(r.text for r in replies)
    assert sum(r.reply_broadcast for r in replies) == 1  # broadcast once, not per part
    [row] = world.tracking.outbox.rows()
    assert row.status == "sent" and row.posted_ts == replies[0].ts


def test_a_crash_between_parts_leaves_each_part_once(world: TrackingWorld) -> None:
    world.slack.block_text_limit = 2_500
    ids = _burst_of_long_failures(world, 12)
    world.tracking.poller.poll()
    crashing = build_tracking(world.settings, world.client, CrashAfter(world.messenger, 3),
                              clock=world.clock, sleep=world.clock.sleep)
    with pytest.raises(SystemExit):
        crashing.sender.send_due()
    crashing.store.close()
    world.clock.advance(120)  # the dead sender's lease runs out
    for _ in range(3):
        world.cycle()
        world.clock.advance(10)
    assert set(_told(world, ids).values()) == {1}
    markers = [m.marker for m in world.slack.posts() if m.metadata]
    assert len(markers) == len(set(markers))


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_a_text_over_slacks_limit_is_shortened_once_and_keeps_its_blocks(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    blocks = [_section("the details")]
    note(world, Message("x" * 45_000, blocks))
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    [(marker, posted)] = marked(world)
    assert marker == "note:1"
    assert posted.text == "x" * 2_999 + "…" and posted.blocks == blocks
    assert posted.channel == "C1"
    assert posted.thread_ts is None and not posted.reply_broadcast
    assert len(world.slack.calls_to("chat.postMessage")) == 2
    [row] = world.tracking.outbox.rows()
    assert (row.status, row.posted_ts) == ("sent", posted.ts)
    assert not any("for its size" in m for m in caplog.messages)  # not split


def test_blocks_over_slacks_limit_are_halved_with_the_whole_text_each(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    world.slack.block_text_limit = 150
    blocks = [_section("a" * 100), _section("b" * 100)]
    note(world, Message("t" * 5_000, blocks))  # long, yet under the text limit
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    parts = marked(world)
    assert [marker for marker, _ in parts] == ["note:1/0", "note:1/1"]
    assert [m.blocks for _, m in parts] == [blocks[:1], blocks[1:]]
    assert {m.text for _, m in parts} == {"t" * 5_000}  # not shortened: not the text's fault
    assert not any(m.reply_broadcast for _, m in parts)
    assert len(world.slack.calls_to("chat.postMessage")) == 3
    [row] = world.tracking.outbox.rows()
    assert row.posted_ts == parts[0][1].ts  # the first part's
    assert ("Slack refused note:1 for its size (msg_blocks_too_long); sending it in parts"
            in caplog.messages)


def test_a_plain_text_refused_for_its_size_is_sent_in_two_halves(world: TrackingWorld) -> None:
    text = "y" * 3_000  # at TEXT_PART: not shortened, halved
    note(world, Message(text, []))
    world.slack.fail("chat.postMessage", "msg_too_long")
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    parts = marked(world)
    assert [marker for marker, _ in parts] == ["note:1/0", "note:1/1"]
    assert [m.text for _, m in parts] == ["y" * 1_500, "y" * 1_500]
    assert all(m.blocks is None for _, m in parts)
    assert len(world.slack.calls_to("chat.postMessage")) == 3


def test_a_single_block_too_long_goes_as_plain_text_in_one_part(world: TrackingWorld) -> None:
    world.slack.block_text_limit = 150
    note(world, Message("fallback", [_section("z" * 200)]))
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    [(marker, posted)] = marked(world)
    assert marker == "note:1/0" and posted.blocks is None and posted.text == "z" * 200


def test_a_message_refused_at_every_size_fails_after_twelve_splits(
    world: TrackingWorld,
) -> None:
    world = world.restart(delivery_channel_rate=1000)  # 13 posts inside one pass
    note(world, Message("w" * 3_000, []))
    world.slack.fail("chat.postMessage", "msg_too_long", times=1_000)
    assert world.tracking.sender.send_due() == SendResult(failed=1)
    # The whole message, then one part at each depth down to note:1/0/0/… (12 levels).
    assert len(world.slack.calls_to("chat.postMessage")) == 13
    [row] = world.tracking.outbox.rows()
    assert row.status == "failed"
    assert row.last_error == ("refused for its size even in small parts: "
                              "chat_postMessage: msg_too_long")


def test_parts_of_a_reply_that_is_not_broadcast_are_never_broadcast(
    world: TrackingWorld,
) -> None:
    world = world.restart(cover_upload=False, delivery_channel_rate=1000)
    world.slack.block_text_limit = 150  # a success's blocks, refused whole
    ended(world, 1, asset_name="campaign-" + "x" * 120)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    replies = world.slack.thread("C1", tracking_message(world).ts)
    assert len(replies) >= 2 and not any(r.reply_broadcast for r in replies)


def test_digest_details_are_packed_as_they_are_shown_without_images(
    world: TrackingWorld,
) -> None:
    # Succeeded jobs have covers; their details are shown without them (a linked cover
    # is more text than an image block), and must be packed by that text.
    world = world.restart(cover_upload=False)
    ids = [world.running(asset_name="campaign-" + "long-asset-name-" * 15) for _ in range(26)]
    track(world, *ids)
    for job in ids:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    for _ in range(3):
        world.tracking.sender.send_due()
        world.clock.advance(10)
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}
    # Slack refused nothing for its size: every call is a message.
    assert len(world.slack.calls_to("chat.postMessage")) == len(world.slack.posts())


def test_a_rate_limit_after_part_of_a_row_was_posted_keeps_it_in_doubt(
    world: TrackingWorld, mocker: MockerFixture,
) -> None:
    world.slack.block_text_limit = 150
    note(world, Message("text", [_section("a" * 100), _section("b" * 100)]))
    note(world, Message("later", []), key="note:2")
    messenger = world.tracking.sender.messenger
    post = messenger.post

    def limited_after_one_part(channel: str, **kw: Any) -> str:
        ts = post(channel, **kw)
        world.slack.rate_limit("chat.postMessage", retry_after=20)
        return ts

    limited = mocker.patch.object(messenger, "post", side_effect=limited_after_one_part)
    assert world.tracking.sender.send_due() == SendResult(retried=2)
    mocker.stop(limited)
    first, second = sorted(world.tracking.outbox.rows(), key=lambda r: r.id)
    assert (first.attempts, second.attempts) == (1, 0)  # only the first can be in Slack
    assert first.failures == second.failures == 0
    world.clock.advance(20)
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    assert [marker for marker, _ in marked(world)] == ["note:1/0", "note:1/1", "note:2"]


def test_a_row_cut_by_the_budget_before_any_part_was_posted_goes_back_untouched(
    world: TrackingWorld,
) -> None:
    world.slack.block_text_limit = 150
    for i in range(9):  # posted at 0 … 8.08 s
        note(world, Message(f"small {i}", []), key=f"note:0{i}")
    # At 9.09 s refused for its size; its first part would be due at 10.1 s, past the
    # pass's 10 s: the pass ends with the row started but nothing of it in Slack.
    note(world, Message("big", [_section("a" * 100), _section("b" * 100)]), key="note:10")
    assert world.tracking.sender.send_due() == SendResult(sent=9)
    [big] = [r for r in world.tracking.outbox.rows() if r.dedupe_key == "note:10"]
    assert (big.status, big.attempts, big.lease_owner, big.last_error) == (
        "pending", 0, None, None)


# -- a token Slack refuses ------------------------------------------------------------------


def test_a_revoked_token_pauses_everything_and_resumes_when_it_works(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    jobs = [world.running() for _ in range(3)]
    track(world, *jobs[:2])
    track(world, jobs[2], channel="C2")
    world.slack.token_error = "token_revoked"
    for job in jobs:
        world.sim.set_state(job, "SUCCEED")
    world.cycle()

    rows = world.tracking.outbox.rows()
    assert {(r.status, r.attempts, r.failures) for r in rows} == {("pending", 0, 0)}
    assert world.tracking.outbox.workspace_pause() == ("token_revoked", world.clock())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "SLACK_BOT_TOKEN" in errors[0].getMessage()

    posts, probes = len(world.slack.calls_to("chat.postMessage")), []
    for _ in range(40):  # two hours, a cycle every three minutes
        before = len(world.slack.calls_to("auth.test"))
        world.clock.advance(180)
        world.cycle()
        if len(world.slack.calls_to("auth.test")) > before:
            probes.append(world.clock().timestamp())
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert max(gaps) <= 360  # capped (5 min, checked every 3 min)
    assert len(world.slack.calls_to("chat.postMessage")) == posts  # nothing tried meanwhile
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert 8 <= len(errors) <= 10  # again every 15 minutes, not every cycle

    world.slack.token_error = None
    world.clock.advance(300)
    world.cycle()
    assert set(_told(world, jobs).values()) == {1}
    assert world.tracking.outbox.workspace_pause() is None
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}


def test_a_pause_seen_by_another_process_is_honoured_and_checked_at_once(
    world: TrackingWorld,
) -> None:
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.tracking.outbox.pause_workspace("invalid_auth", now=world.clock())
    world.slack.token_error = "invalid_auth"
    world.cycle()
    assert len(world.slack.calls_to("auth.test")) == 1  # probed at once, still refused
    assert world.slack.thread("C1", tracking_message(world).ts) == []
    world.slack.token_error = None
    world.clock.advance(5)
    world.cycle()
    assert len(world.slack.thread("C1", tracking_message(world).ts)) == 1


def test_a_token_refused_after_part_of_a_row_was_posted_keeps_it_in_doubt(
    world: TrackingWorld, mocker: MockerFixture,
) -> None:
    world.slack.block_text_limit = 150
    note(world, Message("text", [_section("a" * 100), _section("b" * 100)]))
    messenger = world.tracking.sender.messenger
    post = messenger.post

    def revoked_after_one_part(channel: str, **kw: Any) -> str:
        ts = post(channel, **kw)
        world.slack.token_error = "token_revoked"  # Slack refuses the token from now on
        return ts

    revoked = mocker.patch.object(messenger, "post", side_effect=revoked_after_one_part)
    assert world.tracking.sender.send_due() == SendResult()
    now = world.clock()  # when the second part met the refusal (after pacing)
    assert [marker for marker, _ in marked(world)] == ["note:1/0"]
    [row] = world.tracking.outbox.rows()
    # Due again at once, in doubt (its attempt counted), the token's refusal its error.
    assert (row.status, row.attempts, row.failures, row.lease_owner, row.last_error) == (
        "pending", 1, 0, None, "token_revoked")
    assert row.next_attempt_at == now
    assert world.tracking.outbox.workspace_pause() == ("token_revoked", now)
    assert world.tracking.sender.workspace.state is not None
    assert world.tracking.sender.workspace.state.reason == "token_revoked"

    world.slack.token_error = None
    mocker.stop(revoked)
    world.clock.advance(5)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert [marker for marker, _ in marked(world)] == ["note:1/0", "note:1/1"]


def test_a_token_refused_before_anything_was_posted_gives_the_row_back_untouched(
    world: TrackingWorld,
) -> None:
    ended(world, 1)
    world.slack.token_error = "account_inactive"
    assert world.tracking.sender.send_due() == SendResult()
    [row] = world.tracking.outbox.rows()
    assert (row.status, row.attempts, row.failures, row.lease_owner, row.last_error) == (
        "pending", 0, 0, None, None)
    assert world.tracking.outbox.workspace_pause() == ("account_inactive", world.clock())


# -- the database failing mid-send ---------------------------------------------------------


def test_a_database_error_mid_send_gives_the_rest_back_at_once(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    world = world.restart(digest_threshold=100, delivery_channel_rate=1000)
    jobs = [world.running() for _ in range(4)]
    track(world, *jobs)
    for job in jobs:
        world.sim.set_state(job, "SUCCEED")
    outbox = world.tracking.outbox
    real, calls = outbox.mark_sent, []

    def flaky(*args: Any, **kw: Any) -> bool:
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("UPDATE outbox", {}, Exception("server closed the connection"))
        return real(*args, **kw)

    mocker.patch.object(outbox, "mark_sent", side_effect=flaky)
    with pytest.raises(OperationalError):
        world.cycle()
    leased = [r for r in outbox.rows() if r.lease_owner is not None]
    assert leased == []  # nothing waits for the lease to run out

    world.clock.advance(1)  # the channel's pace, far less than the 60 s lease
    world.cycle()
    assert set(_told(world, jobs).values()) == {1}
    assert {r.status for r in outbox.rows()} == {"sent"}


def test_a_track_the_database_cannot_save_leaves_no_orphan_message(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    def down(*args: Any, **kw: Any) -> list[str]:
        raise OperationalError("INSERT INTO tracked_jobs", {}, Exception("database is down"))

    mocker.patch.object(world.tracking.store, "add_tracked", side_effect=down)
    job = world.running()
    reply = track(world, job)
    assert "couldn't save" in reply.text
    [message] = world.slack.posts("C1")
    assert message.text == NOT_SAVED and not message.blocks  # says so, not "Tracking 1 job"
    assert world.tracking.service.tracked(ctx()).text.startswith("This channel tracks no")


def test_a_row_cut_short_after_its_post_is_due_again_in_doubt(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    world = world.restart(digest_threshold=100)
    ended(world, 3)
    outbox = world.tracking.outbox

    def down(*args: object, **kw: object) -> bool:
        raise OperationalError("UPDATE outbox", {}, Exception("server closed the connection"))

    mocker.patch.object(outbox, "mark_sent", side_effect=down)
    with pytest.raises(OperationalError):
        world.tracking.sender.send_due()
    first, *rest = sorted(outbox.rows(), key=lambda r: r.id)
    # Posted, then the pass died: due now, its marker looked for before any new post.
    assert (first.status, first.lease_owner, first.failures, first.last_error) == (
        "pending", None, 0, "pass ended")
    assert first.next_attempt_at == world.clock() and first.attempts == 1
    assert first.posted_ts is not None
    assert {(r.lease_owner, r.attempts, r.last_error) for r in rest} == {(None, 0, None)}


def test_a_pass_that_cannot_give_its_rows_back_says_the_leases_will_run_out(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture, mocker: MockerFixture
) -> None:
    ended(world, 1)
    outbox = world.tracking.outbox

    def down(*args: object, **kw: object) -> None:
        raise OperationalError("UPDATE outbox_channels", {}, Exception("database is away"))

    mocker.patch.object(outbox, "release_channel", side_effect=down)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING
                and r.name == "bot.tracking.delivery.sender"]
    assert record.getMessage() == ("could not give back this pass's notifications; their "
                                   "leases (0:00:02) will run out")
    assert record.exc_info is not None and record.exc_info[0] is OperationalError


def test_the_backoff_is_capped_and_jittered(world: TrackingWorld) -> None:
    sender = world.tracking.sender
    sender.rng = lambda: 0.999
    assert sender.backoff_delay(1) < timedelta(seconds=5.01)
    assert sender.backoff_delay(100) <= sender.policy.max_backoff
    sender.rng = lambda: 0.0
    assert sender.backoff_delay(100) == sender.policy.max_backoff / 2
