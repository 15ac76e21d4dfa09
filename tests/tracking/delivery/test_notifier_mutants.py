"""What the sender (bot/tracking/delivery/sender.py) counts, records and says for each answer
Slack gives, pinned on exact values: the delivery scenarios check that notifications
arrive once, these check the pass's result, the metrics, the rows' fields, the channel
holds and the backoff arithmetic (bench/MUTATION.md lists the mutants they kill). Slack
is the fake Slack over HTTP, the database real."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

from bot.metastudio.errors import MetaStudioError
from bot.tracking.delivery.sender import PAUSE_HINT, SendResult
from bot.tracking.store.tables import outbox as outbox_table
from bot.tracking.store.tables import outbox_channels
from bot.views.notifications import Message
from bot.wiring.tracking import build_tracking
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import CrashAfter, track, tracking_message


def _count(result: str) -> float:
    return REGISTRY.get_sample_value("videojobs_notifications_total", {"result": result}) or 0.0


def _counts() -> dict[str, float]:
    return {r: _count(r) for r in ("sent", "retried", "failed", "paused", "image_fallback",
                                   "cover_refused")}


def _delta(before: dict[str, float]) -> dict[str, float]:
    return {k: v - before[k] for k, v in _counts().items() if v != before[k]}


def _ended(world: TrackingWorld, n: int, state: str = "SUCCEED", channel: str = "C1",
           **job: str) -> list[str]:
    """``n`` tracked jobs that ended, their notifications enqueued (not yet sent)."""
    ids = [world.running(**job) for _ in range(n)]
    track(world, *ids, channel=channel)
    for job_id in ids:
        world.sim.set_state(job_id, state)
    world.tracking.poller.poll()
    return ids


# -- the backoff ------------------------------------------------------------------------


def test_the_backoff_doubles_from_its_base_and_draws_the_upper_half(world: TrackingWorld) -> None:
    world = world.restart(delivery_backoff_seconds=4, delivery_max_backoff_seconds=100)
    sender = world.tracking.sender
    sender.rng = lambda: 0.5
    seconds = [sender.backoff_delay(n).total_seconds() for n in range(1, 8)]
    # 4, 8, 16, 32, 64, then the cap 100: three quarters of each at the draw 0.5.
    assert seconds == [3.0, 6.0, 12.0, 24.0, 48.0, 75.0, 75.0]
    sender.rng = lambda: 0.0
    assert sender.backoff_delay(1) == timedelta(seconds=2)
    assert sender.backoff_delay(10_000) == timedelta(seconds=50)  # no overflow, capped
    sender.rng = lambda: 0.25
    assert sender.backoff_delay(3) == timedelta(seconds=10)


# -- a pass's result and metrics -------------------------------------------------------------


def test_a_pass_counts_what_it_sent(world: TrackingWorld) -> None:
    _ended(world, 2)
    before, start = _counts(), world.clock()
    result = world.tracking.sender.send_due()
    assert result == SendResult(sent=2, retried=0, failed=0)
    assert _delta(before) == {"sent": 2}
    assert REGISTRY.get_sample_value("videojobs_outbox_depth") == 0
    rows = sorted(world.tracking.outbox.rows(), key=lambda r: r.id)
    assert {(r.status, r.lease_owner) for r in rows} == {("sent", None)}
    assert rows[0].sent_at == start  # the second one a pacing step (1.01 s) later
    assert rows[1].sent_at is not None
    assert (rows[1].sent_at - start).total_seconds() == pytest.approx(1.01)
    assert {r.posted_ts for r in rows} == {
        m.ts for m in world.slack.thread("C1", tracking_message(world).ts)}


def test_a_rate_limit_counts_every_held_row_as_retried(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    world = world.restart(digest_threshold=100)
    _ended(world, 3)
    world.slack.rate_limit("chat.postMessage", retry_after=30)
    before, now = _counts(), world.clock()
    result = world.tracking.sender.send_due()
    assert result == SendResult(sent=0, retried=3, failed=0)
    assert _delta(before) == {"retried": 3}
    assert REGISTRY.get_sample_value("videojobs_outbox_depth") == 3
    hold = world.tracking.outbox.channel_hold("C1")
    assert hold is not None and hold[0] == now + timedelta(seconds=30)
    error = "chat_postMessage: rate limited for 30 s"
    assert hold[1] == f"Retry-After: {error}"
    assert {(r.status, r.failures, r.lease_owner, r.last_error)
            for r in world.tracking.outbox.rows()} == {("pending", 0, None, error)}
    assert "Slack rate-limits C1: its notifications wait 30 s" in caplog.messages


def test_a_channel_the_bot_cannot_post_in_fails_all_its_rows(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    world = world.restart(digest_threshold=100)
    _ended(world, 3)
    world.slack.channel_errors["C1"] = "is_archived"
    before = _counts()
    result = world.tracking.sender.send_due()
    assert result == SendResult(sent=0, retried=0, failed=3)
    assert _delta(before) == {"paused": 3}
    reason = f"is_archived: {PAUSE_HINT}"
    assert {(r.status, r.last_error) for r in world.tracking.outbox.rows()} == {
        ("failed", f"channel paused: {reason}")}
    assert f"pausing channel C1: {reason}" in caplog.messages
    assert len(world.slack.calls_to("chat.postMessage")) == 2  # the tracking message + 1


def test_a_refusal_fails_one_row_with_slacks_words(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(digest_threshold=100)
    _ended(world, 2)
    world.slack.fail("chat.postMessage", "invalid_arguments")
    before = _counts()
    result = world.tracking.sender.send_due()
    assert result == SendResult(sent=1, retried=0, failed=1)
    assert _delta(before) == {"sent": 1, "failed": 1}
    first, second = sorted(world.tracking.outbox.rows(), key=lambda r: r.id)
    assert first.status == "failed" and first.lease_owner is None
    assert first.last_error is not None and "invalid_arguments" in first.last_error
    assert second.status == "sent"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        f"notification {first.dedupe_key} refused by Slack, giving up: "
        f"{first.last_error}"]


def test_a_transient_failure_reschedules_the_row_and_holds_the_channel(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    world = world.restart(digest_threshold=100, delivery_backoff_seconds=8)
    _ended(world, 3)
    world.tracking.sender.rng = lambda: 0.5  # 6 s of the first 8 s step
    world.slack.fail("chat.postMessage", "internal_error", status=500)
    before, now = _counts(), world.clock()
    result = world.tracking.sender.send_due()
    assert result == SendResult(sent=0, retried=1, failed=0)
    assert _delta(before) == {"retried": 1}
    first, *others = sorted(world.tracking.outbox.rows(), key=lambda r: r.id)
    assert (first.status, first.failures, first.attempts) == ("pending", 1, 1)
    assert first.next_attempt_at == now + timedelta(seconds=6)
    assert first.last_error is not None and "internal_error" in first.last_error
    # The others were given back untried: not attempts, no lease, due as before.
    assert {(r.failures, r.attempts, r.lease_owner, r.last_error) for r in others} == {
        (0, 0, None, None)}
    hold = world.tracking.outbox.channel_hold("C1")
    assert hold is not None and hold[0] == now + timedelta(seconds=6)
    assert hold[1].startswith("backoff: ") and "internal_error" in hold[1]
    assert (f"notification {first.dedupe_key}: chat_postMessage: HTTP 500 internal_error; "
            "retrying in 0:00:06") in caplog.messages


def test_a_row_is_given_up_exactly_when_give_up_after_has_passed(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    world = world.restart(delivery_give_up_hours=1, delivery_backoff_seconds=0.5)
    _ended(world, 1)
    world.slack.fail("chat.postMessage", "internal_error", status=500, times=2)
    [row] = world.tracking.outbox.rows()
    world.clock.now = row.created_at + timedelta(hours=1) - timedelta(seconds=2)
    assert world.tracking.sender.send_due() == SendResult(retried=1)
    world.clock.now = row.created_at + timedelta(hours=1)  # exactly give_up_after
    before = _counts()
    assert world.tracking.sender.send_due() == SendResult(failed=1)
    assert _delta(before) == {"failed": 1}
    [row] = world.tracking.outbox.rows()
    assert row.status == "failed"
    assert row.last_error is not None
    assert row.last_error.startswith("gave up after 2 attempts over 1:00:00: ")
    assert "internal_error" in row.last_error
    [gave_up] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert gave_up.startswith(
        f"notification {row.dedupe_key} still failing after 1:00:00, giving up: ")
    assert "internal_error" in gave_up  # what Slack said, for whoever reads the log


# -- the end of a pass -----------------------------------------------------------------------


def test_a_pass_stops_at_its_budget_and_gives_the_rest_back_paced(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)  # budget: 10 s, a post every 1.01 s
    _ended(world, 12)
    start = world.clock()
    assert world.tracking.sender.send_due() == SendResult(sent=10)
    last = start + timedelta(seconds=9 * 1.01)
    assert abs((world.clock() - last).total_seconds()) < 1e-3  # no wait past the budget
    rows = sorted(world.tracking.outbox.rows(), key=lambda r: r.id)
    assert [r.status for r in rows] == ["sent"] * 10 + ["pending"] * 2
    # Given back untried: no lease, not an attempt (so not in doubt), due as before.
    assert {(r.lease_owner, r.attempts, r.failures, r.last_error) for r in rows[10:]} == {
        (None, 0, 0, None)}
    hold = world.tracking.outbox.channel_hold("C1")  # the next post's pace, for any sender
    assert hold is not None and hold[1] == "paced"
    assert abs((hold[0] - last).total_seconds() - 1.01) < 1e-3
    other = world.restart(digest_threshold=100)  # another sender waits for it too
    world.clock.advance(1.0)
    assert other.tracking.sender.send_due() == SendResult()
    world.clock.advance(0.02)
    assert other.tracking.sender.send_due() == SendResult(sent=2)


def test_a_sleep_that_does_not_move_the_clock_ends_the_pass(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(digest_threshold=100)
    _ended(world, 2)
    world.tracking.sender.sleep = lambda seconds: None  # a broken clock/sleep pair
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["sleep(1.01) did not move the sender's clock; pass ended"]
    [waiting] = [r for r in world.tracking.outbox.rows() if r.status == "pending"]
    assert (waiting.lease_owner, waiting.attempts) == (None, 0)


def test_a_row_cut_short_after_its_post_is_due_again_in_doubt(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    _ended(world, 3)
    outbox = world.tracking.outbox

    def down(*args: object, **kw: object) -> bool:
        raise OperationalError("UPDATE outbox", {}, Exception("server closed the connection"))

    outbox.mark_sent = down  # type: ignore[method-assign]
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
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    _ended(world, 1)
    outbox = world.tracking.outbox

    def down(*args: object, **kw: object) -> None:
        raise OperationalError("UPDATE outbox_channels", {}, Exception("database is away"))

    outbox.release_channel = down  # type: ignore[method-assign]
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING
                and r.name == "bot.tracking.delivery.sender"]
    assert record.getMessage() == ("could not give back this pass's notifications; their "
                                   "leases (0:01:00) will run out")
    assert record.exc_info is not None and record.exc_info[0] is OperationalError


def test_digest_plans_other_senders_finished_are_dropped_past_a_hundred(
    world: TrackingWorld,
) -> None:
    sender = world.tracking.sender
    plan = object()
    sender.rows._plans = {i: plan for i in range(100)}  # type: ignore[misc]
    sender.send_due()
    assert len(sender.rows._plans) == 100
    sender.rows._plans[100] = plan  # type: ignore[assignment]
    sender.send_due()
    assert sender.rows._plans == {}


# -- messages Slack refuses for their size (rows built at delivery, like reports) -------------


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _note(world: TrackingWorld, message: Message, key: str = "note:1",
          channel: str = "C1") -> None:
    """A row of kind ``note`` whose message is ``message``, built when it is delivered."""
    built = getattr(world, "notes", {})
    built[key] = message
    world.notes = built  # type: ignore[attr-defined]
    world.tracking.sender.rows.renderers["note"] = lambda row: built[row.dedupe_key]
    with world.tracking.store.begin() as conn:
        world.tracking.outbox.enqueue(conn, kind="note", channel=channel, dedupe_key=key,
                                      payload={}, now=world.clock())


def _look_ups(world: TrackingWorld) -> int:
    """Marker look-ups the sender made in Slack."""
    return sum(len(world.slack.calls_to(m))
               for m in ("conversations.history", "conversations.replies"))


def _marked(world: TrackingWorld) -> list[tuple[str, Message]]:
    """(marker, message) of each post with a marker, in order."""
    return [(m.metadata["event_payload"]["key"], m) for m in world.slack.posts()
            if m.metadata]


def test_a_text_over_slacks_limit_is_shortened_once_and_keeps_its_blocks(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    blocks = [_section("the details")]
    _note(world, Message("x" * 45_000, blocks))
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    [(marker, posted)] = _marked(world)
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
    _note(world, Message("t" * 5_000, blocks))  # long, yet under the text limit
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    parts = _marked(world)
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
    _note(world, Message(text, []))
    world.slack.fail("chat.postMessage", "msg_too_long")
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    parts = _marked(world)
    assert [marker for marker, _ in parts] == ["note:1/0", "note:1/1"]
    assert [m.text for _, m in parts] == ["y" * 1_500, "y" * 1_500]
    assert all(m.blocks is None for _, m in parts)
    assert len(world.slack.calls_to("chat.postMessage")) == 3


def test_a_single_block_too_long_goes_as_plain_text_in_one_part(world: TrackingWorld) -> None:
    world.slack.block_text_limit = 150
    _note(world, Message("fallback", [_section("z" * 200)]))
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    [(marker, posted)] = _marked(world)
    assert marker == "note:1/0" and posted.blocks is None and posted.text == "z" * 200


def test_a_message_refused_at_every_size_fails_after_twelve_splits(
    world: TrackingWorld,
) -> None:
    world = world.restart(delivery_channel_rate=1000)  # 13 posts inside one pass
    _note(world, Message("w" * 3_000, []))
    world.slack.fail("chat.postMessage", "msg_too_long", times=1_000)
    assert world.tracking.sender.send_due() == SendResult(failed=1)
    # The whole message, then one part at each depth down to note:1/0/0/… (12 levels).
    assert len(world.slack.calls_to("chat.postMessage")) == 13
    [row] = world.tracking.outbox.rows()
    assert row.status == "failed"
    assert row.last_error == ("refused for its size even in small parts: "
                              "chat_postMessage: msg_too_long")


# -- rows built at delivery ---------------------------------------------------------------------


def test_an_upstream_error_while_building_a_row_is_retried_with_the_backoff(
    world: TrackingWorld,
) -> None:
    def upstream_down(row: object) -> Message:
        raise MetaStudioError("MetaStudio is unreachable")

    _note(world, Message("unused", []))
    world.tracking.sender.rows.renderers["note"] = upstream_down
    assert world.tracking.sender.send_due() == SendResult(retried=1)
    [row] = world.tracking.outbox.rows()
    assert (row.status, row.failures) == ("pending", 1)
    assert row.last_error is not None and row.last_error.startswith(
        "note: MetaStudio is unreachable")
    assert world.slack.calls_to("chat.postMessage") == []


def test_a_row_that_cannot_be_built_is_given_up_with_the_reason(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(row: object) -> Message:
        raise ValueError("no such report")

    _note(world, Message("unused", []))
    world.tracking.sender.rows.renderers["note"] = broken
    assert world.tracking.sender.send_due() == SendResult(failed=1)
    [row] = world.tracking.outbox.rows()
    assert row.status == "failed"
    assert row.last_error == "note could not be built: ValueError('no such report')"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR
                and r.name == "bot.tracking.delivery.rows" and r.exc_info]
    assert record.getMessage() == "note note:1 could not be built"


def test_a_built_row_found_by_its_marker_is_not_built_or_posted_again(
    world: TrackingWorld,
) -> None:
    world.tracking.sender.rows.renderers["note"] = lambda row: Message("hello", [])
    posted = world.tracking.sender.messenger.post("C1", text="hello", marker="note:1")
    with world.tracking.store.begin() as conn:
        world.tracking.outbox.enqueue(conn, kind="note", channel="C1", dedupe_key="note:1",
                                      payload={}, now=world.clock())
    built: list[object] = []
    world.tracking.sender.rows.renderers["note"] = lambda row: built.append(row) or Message("x", [])
    outbox = world.tracking.outbox
    outbox.claim("dead", now=world.clock(), lease=timedelta(seconds=1))  # a first attempt
    world.clock.advance(2)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert built == [] and len(world.slack.calls_to("chat.postMessage")) == 1
    [row] = outbox.rows()
    assert (row.status, row.posted_ts) == ("sent", posted)
    # Looked for in the channel since the row was written, not in its whole history.
    [look_up] = world.slack.calls_to("conversations.history")
    assert look_up.args["oldest"] == f"{row.created_at.timestamp():.6f}"


# -- the tracking message's edit ------------------------------------------------------------------


def test_an_edit_slack_refuses_for_good_is_logged_and_the_row_is_sent(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    _ended(world, 1)
    parent = tracking_message(world)
    world.slack.fail("chat.update", "cant_update_message")
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert (f"tracking message {parent.ts} in C1 not updated: chat_update: "
            "cant_update_message") in caplog.messages
    assert world.slack.message("C1", parent.ts).edits == []  # type: ignore[union-attr]
    assert [r.status for r in world.tracking.outbox.rows()] == ["sent"]


def test_the_edit_shows_the_jobs_of_that_message_in_that_channel(world: TrackingWorld) -> None:
    [job] = _ended(world, 1)
    parent = tracking_message(world)
    text_before = parent.text
    world.tracking.sender.send_due()
    edited = world.slack.message("C1", parent.ts)
    assert edited is not None and edited.edits and edited.text != text_before
    assert job in edited.text + str(edited.blocks) and "all finished" in edited.text
    assert edited.blocks  # the edit carries the blocks, not only the text


def test_a_rate_limited_edit_retries_the_row_without_posting_it_again(
    world: TrackingWorld,
) -> None:
    _ended(world, 1)
    parent = tracking_message(world)
    world.slack.rate_limit("chat.update", retry_after=7)
    assert world.tracking.sender.send_due() == SendResult(retried=1)
    [row] = world.tracking.outbox.rows()
    [reply] = world.slack.thread("C1", parent.ts)
    assert (row.status, row.posted_ts, row.attempts) == ("pending", reply.ts, 1)
    world.clock.advance(7)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert len(world.slack.thread("C1", parent.ts)) == 1  # not posted twice
    assert _look_ups(world) == 0  # its ts was recorded: nothing to look for
    assert "all finished" in tracking_message(world).text


# -- the token refused in the middle of a row -------------------------------------------------


def test_a_token_refused_after_part_of_a_row_was_posted_keeps_it_in_doubt(
    world: TrackingWorld,
) -> None:
    world.slack.block_text_limit = 150
    _note(world, Message("text", [_section("a" * 100), _section("b" * 100)]))
    messenger = world.tracking.sender.messenger
    post = messenger.post

    def revoked_after_one_part(channel: str, **kw: Any) -> str:
        ts = post(channel, **kw)
        world.slack.token_error = "token_revoked"  # Slack refuses the token from now on
        return ts

    messenger.post = revoked_after_one_part  # type: ignore[method-assign]
    assert world.tracking.sender.send_due() == SendResult()
    now = world.clock()  # when the second part met the refusal (after pacing)
    assert [marker for marker, _ in _marked(world)] == ["note:1/0"]
    [row] = world.tracking.outbox.rows()
    # Due again at once, in doubt (its attempt counted), the token's refusal its error.
    assert (row.status, row.attempts, row.failures, row.lease_owner, row.last_error) == (
        "pending", 1, 0, None, "token_revoked")
    assert row.next_attempt_at == now
    assert world.tracking.outbox.workspace_pause() == ("token_revoked", now)
    assert world.tracking.sender.workspace.state is not None
    assert world.tracking.sender.workspace.state.reason == "token_revoked"

    world.slack.token_error = None
    messenger.post = post  # type: ignore[method-assign]
    world.clock.advance(5)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert [marker for marker, _ in _marked(world)] == ["note:1/0", "note:1/1"]


def test_a_token_refused_before_anything_was_posted_gives_the_row_back_untouched(
    world: TrackingWorld,
) -> None:
    _ended(world, 1)
    world.slack.token_error = "account_inactive"
    assert world.tracking.sender.send_due() == SendResult()
    [row] = world.tracking.outbox.rows()
    assert (row.status, row.attempts, row.failures, row.lease_owner, row.last_error) == (
        "pending", 0, 0, None, None)
    assert world.tracking.outbox.workspace_pause() == ("account_inactive", world.clock())


# -- pacing inside a pass ------------------------------------------------------------------


def _post_times(world: TrackingWorld) -> list[float]:
    times: list[float] = []
    messenger = world.tracking.sender.messenger
    post = messenger.post

    def timed(channel: str, **kw: Any) -> str:
        times.append(world.clock().timestamp())
        return post(channel, **kw)

    messenger.post = timed  # type: ignore[method-assign]
    return times


def test_posts_are_spaced_by_a_pace_shorter_than_a_second(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100, delivery_channel_rate=2)  # 0.51 s apart
    _ended(world, 3)
    times = _post_times(world)
    assert world.tracking.sender.send_due() == SendResult(sent=3)
    gaps = [b - a for a, b in pairwise(times)]
    assert gaps == pytest.approx([0.51, 0.51], abs=1e-3)


def test_a_post_due_exactly_at_the_budget_is_still_made(world: TrackingWorld) -> None:
    # A pass may pace for 10.1 s: the eleventh post, due 10 × 1.01 s after the first, is
    # inside it (the budget ends after, not at, its last moment).
    world = world.restart(digest_threshold=100, poll_interval_seconds=10.1)
    _ended(world, 12)
    assert world.tracking.sender.send_due() == SendResult(sent=11)


class _ClockEvent:
    """A stop event that is never set; waiting on it moves the test's clock."""

    def __init__(self, world: TrackingWorld) -> None:
        self.world, self.waits = world, []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.world.clock.advance(seconds)
        return False

    def is_set(self) -> bool:
        return False


def test_a_pass_paces_on_the_stop_event_while_the_process_runs(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    _ended(world, 3)
    event = _ClockEvent(world)
    world.tracking.sender.stopping = event  # type: ignore[assignment]
    world.tracking.sender.sleep = lambda seconds: pytest.fail("slept instead of waiting")
    assert world.tracking.sender.send_due() == SendResult(sent=3)
    assert event.waits == pytest.approx([1.01, 1.01], abs=1e-3)


def test_a_row_found_by_its_marker_does_not_end_the_pass_for_other_channels(
    world: TrackingWorld,
) -> None:
    _ended(world, 1, channel="C1")
    _ended(world, 1, channel="C2")
    outbox = world.tracking.outbox
    # C1's row was posted by a sender that died before recording it.
    [c1] = [r for r in outbox.rows() if r.channel == "C1"]
    outbox.claim("dead", now=world.clock(), lease=timedelta(seconds=1), channel="C1")
    world.tracking.sender.messenger.post("C1", text="posted before the crash",
                                         thread_ts=c1.payload["thread_ts"],
                                         marker=c1.dedupe_key)
    world.clock.advance(2)
    posts = len(world.slack.calls_to("chat.postMessage"))
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    assert len(world.slack.calls_to("chat.postMessage")) == posts + 1  # C2's only
    assert {r.status for r in outbox.rows()} == {"sent"}


# -- a row cut short between its posts ------------------------------------------------------------


def test_a_rate_limit_after_part_of_a_row_was_posted_keeps_it_in_doubt(
    world: TrackingWorld,
) -> None:
    world.slack.block_text_limit = 150
    _note(world, Message("text", [_section("a" * 100), _section("b" * 100)]))
    _note(world, Message("later", []), key="note:2")
    messenger = world.tracking.sender.messenger
    post = messenger.post

    def limited_after_one_part(channel: str, **kw: Any) -> str:
        ts = post(channel, **kw)
        world.slack.rate_limit("chat.postMessage", retry_after=20)
        return ts

    messenger.post = limited_after_one_part  # type: ignore[method-assign]
    assert world.tracking.sender.send_due() == SendResult(retried=2)
    messenger.post = post  # type: ignore[method-assign]
    first, second = sorted(world.tracking.outbox.rows(), key=lambda r: r.id)
    assert (first.attempts, second.attempts) == (1, 0)  # only the first can be in Slack
    assert first.failures == second.failures == 0
    world.clock.advance(20)
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    assert [marker for marker, _ in _marked(world)] == ["note:1/0", "note:1/1", "note:2"]


def test_a_row_cut_by_the_budget_before_any_part_was_posted_goes_back_untouched(
    world: TrackingWorld,
) -> None:
    world.slack.block_text_limit = 150
    for i in range(9):  # posted at 0 … 8.08 s
        _note(world, Message(f"small {i}", []), key=f"note:0{i}")
    # At 9.09 s refused for its size; its first part would be due at 10.1 s, past the
    # pass's 10 s: the pass ends with the row started but nothing of it in Slack.
    _note(world, Message("big", [_section("a" * 100), _section("b" * 100)]), key="note:10")
    assert world.tracking.sender.send_due() == SendResult(sent=9)
    [big] = [r for r in world.tracking.outbox.rows() if r.dedupe_key == "note:10"]
    assert (big.status, big.attempts, big.lease_owner, big.last_error) == (
        "pending", 0, None, None)


def test_one_pass_takes_at_most_fifty_channels(world: TrackingWorld) -> None:
    for i in range(51):
        _note(world, Message("hello", []), key=f"note:{i}", channel=f"C{i:02d}")
    assert world.tracking.sender.send_due() == SendResult(sent=50)
    [left] = [r for r in world.tracking.outbox.rows() if r.status == "pending"]
    assert left.channel == "C50" and left.attempts == 0
    assert world.tracking.sender.send_due() == SendResult(sent=1)


# -- digests -------------------------------------------------------------------------------------


def test_a_fresh_digest_looks_nothing_up_and_edits_each_tracking_message(
    world: TrackingWorld,
) -> None:
    first = [world.running() for _ in range(3)]
    second = [world.running() for _ in range(3)]
    track(world, *first)
    track(world, *second)
    for job in first + second:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert _look_ups(world) == 0
    [(summary_key, summary), (details_key, details)] = _marked(world)
    assert summary.text == "6 jobs finished: 6 ✅" and summary.thread_ts is None
    assert details_key == f"{summary_key}#0" and details.thread_ts == summary.ts
    assert not details.reply_broadcast  # the thread's details stay in the thread
    assert all(job in str(details.blocks) for job in first + second)
    messages = [m for m in world.slack.posts("C1") if m.metadata is None]
    assert len(messages) == 2 and all("all finished" in m.text for m in messages)
    assert world.tracking.sender.rows._plans == {}
    rows = world.tracking.outbox.rows()
    assert {(r.status, r.posted_ts) for r in rows} == {("sent", summary.ts)}


# -- leases lost --------------------------------------------------------------------------------


def _taken_over_while_pacing(world: TrackingWorld) -> list[SendResult]:
    """The world's sender (A) oversleeps its first pacing wait past its 5 s leases, and a
    second sender (B) runs one pass meanwhile; returns B's pass, once it has run."""
    b = build_tracking(world.settings, world.client, world.messenger, clock=world.clock,
                       sleep=world.clock.sleep, owner="B").sender
    passes: list[SendResult] = []

    def overslept(seconds: float) -> None:
        world.clock.advance(6)
        if not passes:
            passes.append(b.send_due())

    world.tracking.sender.sleep = overslept
    return passes


def test_a_sender_whose_leases_ran_out_while_pacing_leaves_the_rest_to_their_new_owner(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(digest_threshold=100, delivery_lease_seconds=5)
    _ended(world, 3)
    passes = _taken_over_while_pacing(world)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert passes == [SendResult(sent=2)]
    rows = sorted(world.tracking.outbox.rows(), key=lambda r: r.id)
    assert [r.status for r in rows] == ["sent"] * 3
    assert len([m for m in world.slack.posts("C1") if m.metadata]) == 3  # each once
    assert (f"lease on {rows[1].dedupe_key} lost before posting; leaving C1 to its new "
            "owner") in caplog.messages


def test_parts_of_a_reply_that_is_not_broadcast_are_never_broadcast(
    world: TrackingWorld,
) -> None:
    world = world.restart(cover_upload=False, delivery_channel_rate=1000)
    world.slack.block_text_limit = 150  # a success's blocks, refused whole
    _ended(world, 1, asset_name="campaign-" + "x" * 120)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    replies = world.slack.thread("C1", tracking_message(world).ts)
    assert len(replies) >= 2 and not any(r.reply_broadcast for r in replies)


def _burst(world: TrackingWorld, n: int = 6) -> list[str]:
    ids = [world.running() for _ in range(n)]
    track(world, *ids)
    for job in ids:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    return ids


def _dies_at(world: TrackingWorld, n: int) -> None:
    dying = build_tracking(world.settings, world.client, CrashAfter(world.messenger, n),
                           clock=world.clock, sleep=world.clock.sleep, owner="dying")
    with pytest.raises(SystemExit):
        dying.sender.send_due()
    dying.store.close()
    world.clock.advance(120)  # its leases have run out


def test_a_digest_records_its_summary_before_posting_the_details(world: TrackingWorld) -> None:
    _burst(world)
    messenger = world.tracking.sender.messenger
    post, recorded = messenger.post, []

    def details_post(channel: str, **kw: Any) -> str:
        if kw.get("thread_ts"):
            [digest] = [r for r in world.tracking.outbox.rows() if r.kind == "digest"]
            recorded.append(digest.posted_ts)
        return post(channel, **kw)

    messenger.post = details_post  # type: ignore[method-assign]
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    [(_, summary), (_, details)] = _marked(world)
    assert recorded == [summary.ts]
    assert details.text == "Details of 6 jobs"


def test_a_digest_whose_summary_a_dead_sender_posted_is_found_not_posted_again(
    world: TrackingWorld,
) -> None:
    ids = _burst(world)
    _dies_at(world, 1)  # the summary is in Slack, not recorded
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    [(summary_key, summary), (details_key, details)] = _marked(world)
    assert details.thread_ts == summary.ts and details_key == f"{summary_key}#0"
    assert all(job in str(details.blocks) for job in ids)
    [look_up] = world.slack.calls_to("conversations.history")
    [digest] = [r for r in world.tracking.outbox.rows() if r.kind == "digest"]
    assert look_up.args["oldest"] == f"{digest.created_at.timestamp():.6f}"
    assert (digest.status, digest.posted_ts) == ("sent", summary.ts)


def test_a_digest_whose_summary_was_recorded_only_looks_up_its_thread(
    world: TrackingWorld,
) -> None:
    _burst(world, 30)  # two detail replies
    _dies_at(world, 2)  # the summary recorded, the first details posted, not recorded
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert [key.split("#")[-1] for key, _ in _marked(world)][1:] == ["0", "1"]
    assert world.slack.calls_to("conversations.history") == []  # its ts was known
    assert len(world.slack.calls_to("conversations.replies")) == 1


def test_a_digest_resumed_by_the_same_sender_reuses_its_plan(world: TrackingWorld) -> None:
    _burst(world, 30)
    outbox = world.tracking.outbox
    members, loads = outbox.members, []

    def counted(digest_id: int) -> list[Any]:
        loads.append(digest_id)
        return members(digest_id)

    outbox.members = counted  # type: ignore[method-assign]
    messenger = world.tracking.sender.messenger
    post, posts = messenger.post, []

    def limited_at_the_third(channel: str, **kw: Any) -> str:
        posts.append(1)
        if len(posts) == 3:
            world.slack.rate_limit("chat.postMessage", retry_after=5)
        return post(channel, **kw)

    messenger.post = limited_at_the_third  # type: ignore[method-assign]
    assert world.tracking.sender.send_due() == SendResult(retried=1)
    world.clock.advance(5)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert len(loads) == 1  # members loaded and laid out once
    assert world.tracking.sender.rows._plans == {}
    assert len(_marked(world)) == 3  # summary and two details, each once


def _digest_owed_then_a_new_burst(world: TrackingWorld,
                                  second: int = 6) -> tuple[list[str], list[str]]:
    """A burst whose digest Slack rate-limited (still owed, its hold over), then a second
    burst of ``second`` jobs."""
    first = _burst(world)
    world.slack.rate_limit("chat.postMessage", retry_after=5)
    assert world.tracking.sender.send_due() == SendResult(retried=1)
    world.clock.advance(5)
    return first, _burst(world, second) if second else []


def test_a_digest_owed_from_before_a_new_burst_goes_first_and_is_never_folded(
    world: TrackingWorld,
) -> None:
    first, second = _digest_owed_then_a_new_burst(world)
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    [(_, summary1), (_, details1), (_, summary2), (_, details2)] = _marked(world)
    assert summary1.text == summary2.text == "6 jobs finished: 6 ✅"
    assert all(job in str(details1.blocks) and job not in str(details2.blocks)
               for job in first)
    assert all(job in str(details2.blocks) for job in second)


def test_a_note_written_after_a_burst_is_posted_after_the_bursts_digest(
    world: TrackingWorld,
) -> None:
    _burst(world)
    _note(world, Message(text="a later note"))
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    assert [m.text for _, m in _marked(world)] == [
        "6 jobs finished: 6 ✅", "Details of 6 jobs", "a later note"]


def test_a_digest_stands_where_its_oldest_member_stood(world: TrackingWorld) -> None:
    # Queued oldest first: a digest still owed, one job of a new burst, a note, the
    # burst's other five jobs. The burst's digest goes out in its first job's place.
    _digest_owed_then_a_new_burst(world, second=0)
    ids = [world.running() for _ in range(6)]
    track(world, *ids)
    world.sim.set_state(ids[0], "SUCCEED")
    world.tracking.poller.poll()
    _note(world, Message(text="a note written meanwhile"))
    for job in ids[1:]:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    assert world.tracking.sender.send_due() == SendResult(sent=3)
    texts = [m.text for _, m in _marked(world)]
    assert texts == ["6 jobs finished: 6 ✅", "Details of 6 jobs"] * 2 + [
        "a note written meanwhile"]


def test_a_row_in_doubt_is_never_folded_into_a_new_bursts_digest(world: TrackingWorld) -> None:
    # Its post may already be in the channel: folding it would announce its job twice.
    [alone] = _burst(world, 1)
    _dies_at(world, 1)  # posted, not recorded: in doubt
    burst = _burst(world)
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    [(key, own), (_, summary), (_, details)] = _marked(world)
    assert alone in own.text and key.startswith("track:")
    assert summary.text == "6 jobs finished: 6 ✅"
    assert all(job in str(details.blocks) for job in burst) and alone not in str(details.blocks)


def test_a_burst_whose_lease_was_lost_while_folding_is_left_and_the_rest_goes_on(
    world: TrackingWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _digest_owed_then_a_new_burst(world)
    outbox = world.tracking.outbox
    form_digest = outbox.form_digest

    def taken_while_folding(owner: str, members: list[Any], **kw: Any) -> Any:
        with world.tracking.store.begin() as conn:  # another sender took one meanwhile
            conn.execute(outbox_table.update().where(outbox_table.c.id == members[0].id)
                         .values(lease_owner="B"))
        return form_digest(owner, members, **kw)

    monkeypatch.setattr(outbox, "form_digest", taken_while_folding)
    assert world.tracking.sender.send_due() == SendResult(sent=1)  # the owed digest
    [(_, _), (_, details)] = _marked(world)
    assert all(job in str(details.blocks) for job in first)
    burst = [r for r in outbox.rows() if r.kind == "track" and r.digest_id is None]
    assert len(burst) == len(second)
    assert all(r.status == "pending" and r.posted_ts is None for r in burst)


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


def test_a_pass_adds_up_what_each_channel_retried(world: TrackingWorld) -> None:
    _note(world, Message("one", []), key="note:1", channel="C1")
    _note(world, Message("two", []), key="note:2", channel="C2")
    _note(world, Message("three", []), key="note:3", channel="C3")
    _note(world, Message("four", []), key="note:4", channel="C3")
    world.slack.rate_limit("chat.postMessage", retry_after=5)  # C1: one row held
    world.slack.fail("chat.postMessage", "internal_error", status=500)  # C2: backoff
    world.slack.rate_limit("chat.postMessage", retry_after=5)  # C3: two rows held
    assert world.tracking.sender.send_due() == SendResult(retried=4)


def test_a_pass_adds_up_what_each_channel_failed(world: TrackingWorld) -> None:
    _note(world, Message("one", []), key="note:1", channel="C1")
    _note(world, Message("two", []), key="note:2", channel="C2")
    _note(world, Message("three", []), key="note:3", channel="C3")
    world.clock.advance(24 * 3600)  # written a day ago: past give_up_after
    world.slack.fail("chat.postMessage", "invalid_arguments")  # C1: refused
    world.slack.fail("chat.postMessage", "internal_error", status=500)  # C2: given up
    world.slack.channel_errors["C3"] = "not_in_channel"  # C3: paused
    assert world.tracking.sender.send_due() == SendResult(failed=3)


def test_a_pass_longer_than_half_its_lease_renews_the_leases_and_goes_on(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(digest_threshold=100, delivery_lease_seconds=5)
    _ended(world, 8)  # 8 posts a pace apart: 7.07 s, past the 5 s lease
    assert world.tracking.sender.send_due() == SendResult(sent=8)
    assert not [m for m in caplog.messages if "lost before posting" in m]


def test_a_lease_is_renewed_before_a_post_that_could_outlast_its_remainder(
    world: TrackingWorld,
) -> None:
    # Lease 6 s; the fourth post (at 3.03 s) finds less than half the lease left, so it
    # renews first. That post then takes 3.5 s in Slack: without the renewal the leases
    # would lapse at 6 s and another sender would take the channel and post it too.
    world = world.restart(digest_threshold=100, delivery_lease_seconds=6)
    _ended(world, 4)
    b = build_tracking(world.settings, world.client, world.messenger, clock=world.clock,
                       sleep=world.clock.sleep, owner="B").sender
    messenger = world.tracking.sender.messenger
    post, posts, meanwhile = messenger.post, [], []

    def slow_fourth(channel: str, **kw: Any) -> str:
        posts.append(1)
        if len(posts) == 4:
            world.clock.advance(3.5)
            meanwhile.append(b.send_due())
        return post(channel, **kw)

    messenger.post = slow_fourth  # type: ignore[method-assign]
    assert world.tracking.sender.send_due() == SendResult(sent=4)
    assert meanwhile == [SendResult()]  # B found the channel leased
    assert len([m for m in world.slack.posts("C1") if m.metadata]) == 4


# -- leases and look-ups of plain outcome rows ----------------------------------------------------


def test_rows_being_posted_are_leased_in_the_senders_own_name(
    world: TrackingWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ended(world, 2)
    messenger = world.tracking.sender.messenger
    post = messenger.post
    owners: list[object] = []

    def watched_post(*args: Any, **kwargs: Any) -> str:
        owners.extend(r.lease_owner for r in world.tracking.outbox.rows()
                      if r.status == "pending")
        return post(*args, **kwargs)

    monkeypatch.setattr(messenger, "post", watched_post)
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    assert owners and all(isinstance(o, str) and o for o in owners)
    assert [r.lease_owner for r in world.tracking.outbox.rows()] == [None, None]  # let go


def test_a_channel_outcome_in_doubt_is_looked_up_since_its_row_was_written(
    world: TrackingWorld,
) -> None:
    payload = {"job": {"job_id": "job-1", "state": "FAILED"}}
    posted = world.tracking.sender.messenger.post("C1", text="failed", marker="sub:C1:x")
    outbox = world.tracking.outbox
    with world.tracking.store.begin() as conn:
        outbox.enqueue(conn, kind="sub", channel="C1", dedupe_key="sub:C1:x",
                       payload=payload, now=world.clock())
    outbox.claim("dead", now=world.clock(), lease=timedelta(seconds=1))  # a first attempt
    world.clock.advance(2)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert len(world.slack.calls_to("chat.postMessage")) == 1  # found, not posted again
    [row] = outbox.rows()
    assert (row.status, row.posted_ts) == ("sent", posted)
    [look_up] = world.slack.calls_to("conversations.history")
    assert look_up.args["oldest"] == f"{row.created_at.timestamp():.6f}"
    # Nothing was posted in this pass, so the channel is let go with no pacing hold.
    with world.tracking.store.begin() as conn:
        [channel] = conn.execute(outbox_channels.select()).all()
    assert (channel.lease_owner, channel.hold_until) == (None, None)


def test_two_rows_refused_for_good_in_one_pass_count_two_failures(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    _ended(world, 2)
    world.slack.fail("chat.postMessage", "invalid_arguments", times=2)
    assert world.tracking.sender.send_due() == SendResult(failed=2)


def test_a_pass_takes_at_most_rows_per_channel_rows_of_a_channel(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    _ended(world, 3)
    sender = world.tracking.sender
    sender.policy = dataclasses.replace(sender.policy, rows_per_channel=2)
    assert sender.send_due() == SendResult(sent=2)
    assert sorted(r.status for r in world.tracking.outbox.rows()) == ["pending", "sent", "sent"]


def test_a_row_whose_lease_was_taken_during_its_post_is_left_to_the_new_owner(
    world: TrackingWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(digest_threshold=100)
    _ended(world, 1)
    messenger = world.tracking.sender.messenger
    post = messenger.post

    def slow_post(*args: Any, **kwargs: Any) -> str:
        ts = post(*args, **kwargs)
        with world.tracking.store.begin() as conn:  # another sender took the row meanwhile
            conn.execute(outbox_table.update().values(lease_owner="B"))
        return ts

    monkeypatch.setattr(messenger, "post", slow_post)
    assert world.tracking.sender.send_due() == SendResult()
    [row] = world.tracking.outbox.rows()
    assert (row.status, row.lease_owner) == ("pending", "B")
    assert f"lease on {row.dedupe_key} expired before it was marked sent" in caplog.messages


def test_a_digest_whose_lease_ran_out_between_its_posts_is_left_to_the_new_owner(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(delivery_lease_seconds=5)
    _burst(world)
    # A paces between the summary and the details past its lease; B takes over.
    passes = _taken_over_while_pacing(world)
    assert world.tracking.sender.send_due() == SendResult()
    assert passes == [SendResult(sent=1)]
    [(summary_key, _), (details_key, _)] = _marked(world)  # each posted once
    assert details_key == f"{summary_key}#0"
    assert (f"lease on {summary_key} lost before posting; leaving C1 to its new owner"
            in caplog.messages)


def _c1_taken_at_the_first_wait(world: TrackingWorld) -> None:
    """The world's sender waits its first pacing turn past its 5 s leases, and another
    sender (B) takes channel C1 over meanwhile."""
    taken: list[str] = []

    def paced(seconds: float) -> None:
        world.clock.advance(6)  # past every lease of the pass
        if not taken:
            taken.append("C1")
            with world.tracking.store.begin() as conn:
                conn.execute(outbox_table.update().where(outbox_table.c.channel == "C1")
                             .values(lease_owner="B"))
                conn.execute(outbox_channels.update().where(
                    outbox_channels.c.channel == "C1").values(lease_owner="B"))

    world.tracking.sender.sleep = paced


def test_a_channel_lost_mid_pass_leaves_the_other_channels_to_go_on(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    world = world.restart(digest_threshold=100, delivery_lease_seconds=5)
    _ended(world, 2, channel="C1")
    _ended(world, 2, channel="C2")
    _c1_taken_at_the_first_wait(world)
    assert world.tracking.sender.send_due() == SendResult(sent=3)
    sent = {(r.channel, r.status) for r in world.tracking.outbox.rows() if r.status == "sent"}
    assert sent == {("C1", "sent"), ("C2", "sent")}
    assert [r.channel for r in world.tracking.outbox.rows() if r.status == "pending"] == ["C1"]
    assert any(m.startswith("lease on ") and m.endswith("leaving C1 to its new owner")
               for m in caplog.messages)


def test_a_channel_lost_between_two_posts_of_a_row_leaves_the_other_channels_to_go_on(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(delivery_lease_seconds=5)
    _burst(world)  # C1: a digest, two posts
    _ended(world, 2, channel="C2")
    _c1_taken_at_the_first_wait(world)  # C1's summary is posted, its details not yet
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    assert sorted(r.channel for r in world.tracking.outbox.rows() if r.status == "sent") == [
        "C2", "C2"]
    assert [m.text for _, m in _marked(world)][:1] == ["6 jobs finished: 6 ✅"]
    assert "Details of 6 jobs" not in [m.text for _, m in _marked(world)]
    assert any(m.endswith("leaving C1 to its new owner") for m in caplog.messages)
