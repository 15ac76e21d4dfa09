"""What a send pass (bot/tracking/delivery/sender.py) counts, records and says for each
answer Slack gives, and for a row that cannot be built, pinned on exact values: the
pass's result, the metrics, the rows' fields, the channel holds and the backoff
arithmetic. The delivery scenarios check that notifications arrive once; these check the
arithmetic and the words. Slack is the fake Slack over HTTP, the database real."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from bot.metastudio.errors import MetaStudioError
from bot.tracking.delivery.sender import PAUSE_HINT, SendResult
from bot.views.notifications import Message
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.delivery.helpers import ended, note
from tests.tracking.helpers import tracking_message


def _count(result: str) -> float:
    return REGISTRY.get_sample_value("videojobs_notifications_total", {"result": result}) or 0.0


def _counts() -> dict[str, float]:
    return {r: _count(r) for r in ("sent", "retried", "failed", "paused", "image_fallback",
                                   "cover_refused")}


def _delta(before: dict[str, float]) -> dict[str, float]:
    return {k: v - before[k] for k, v in _counts().items() if v != before[k]}


# -- the backoff -------------------------------------------------------------------------


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


# -- a pass's result and metrics, answer by answer ---------------------------------------


def test_a_pass_counts_what_it_sent(world: TrackingWorld) -> None:
    ended(world, 2)
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
    ended(world, 3)
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
    ended(world, 3)
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
    ended(world, 2)
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
    ended(world, 3)
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
    ended(world, 1)
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


def test_two_rows_refused_for_good_in_one_pass_count_two_failures(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    ended(world, 2)
    world.slack.fail("chat.postMessage", "invalid_arguments", times=2)
    assert world.tracking.sender.send_due() == SendResult(failed=2)


def test_a_pass_adds_up_what_each_channel_retried(world: TrackingWorld) -> None:
    note(world, Message("one", []), key="note:1", channel="C1")
    note(world, Message("two", []), key="note:2", channel="C2")
    note(world, Message("three", []), key="note:3", channel="C3")
    note(world, Message("four", []), key="note:4", channel="C3")
    world.slack.rate_limit("chat.postMessage", retry_after=5)  # C1: one row held
    world.slack.fail("chat.postMessage", "internal_error", status=500)  # C2: backoff
    world.slack.rate_limit("chat.postMessage", retry_after=5)  # C3: two rows held
    assert world.tracking.sender.send_due() == SendResult(retried=4)


def test_a_pass_adds_up_what_each_channel_failed(world: TrackingWorld) -> None:
    note(world, Message("one", []), key="note:1", channel="C1")
    note(world, Message("two", []), key="note:2", channel="C2")
    note(world, Message("three", []), key="note:3", channel="C3")
    world.clock.advance(24 * 3600)  # written a day ago: past give_up_after
    world.slack.fail("chat.postMessage", "invalid_arguments")  # C1: refused
    world.slack.fail("chat.postMessage", "internal_error", status=500)  # C2: given up
    world.slack.channel_errors["C3"] = "not_in_channel"  # C3: paused
    assert world.tracking.sender.send_due() == SendResult(failed=3)


# -- rows built at delivery --------------------------------------------------------------


def test_an_upstream_error_while_building_a_row_is_retried_with_the_backoff(
    world: TrackingWorld,
) -> None:
    def upstream_down(row: object) -> Message:
        raise MetaStudioError("MetaStudio is unreachable")

    note(world, Message("unused", []))
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

    note(world, Message("unused", []))
    world.tracking.sender.rows.renderers["note"] = broken
    assert world.tracking.sender.send_due() == SendResult(failed=1)
    [row] = world.tracking.outbox.rows()
    assert row.status == "failed"
    assert row.last_error == "note could not be built: ValueError('no such report')"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR
                and r.name == "bot.tracking.delivery.rows" and r.exc_info]
    assert record.getMessage() == "note note:1 could not be built"
