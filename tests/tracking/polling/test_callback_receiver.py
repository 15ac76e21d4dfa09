"""MetaStudio's callback receiver without HTTP: what each refusal answers and logs, which
URL the signature is checked against, and how a time stamp is read. Over a real server:
tests/tracking/polling/test_callbacks.py."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from bot.simulator.callbacks import sign_callback_url
from bot.tracking.polling.callbacks import (
    MAX_AHEAD,
    MAX_SKEW,
    Answer,
    CallbackReceiver,
    _time_stamp,
    expected_secret,
)
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import track

KEY = "callback-key-0123456789"
PUBLIC = "https://bot.example.com/metastudio/callback"
ARRIVED = "http://10.0.0.7:8000/metastudio/callback"  # behind a proxy


def receiver(world: TrackingWorld, public_url: str | None = PUBLIC) -> CallbackReceiver:
    tracking = world.tracking
    return CallbackReceiver(KEY, tracking.store, tracking.poller, public_url=public_url,
                            clock=world.clock)


def query_of(url: str) -> str:
    return urlsplit(url).query


def test_a_time_stamp_is_hex_seconds_or_milliseconds() -> None:
    assert _time_stamp(format(1_700_000_000, "x")) == datetime.fromtimestamp(1_700_000_000, UTC)
    # Past 10**11 it is milliseconds, whole seconds kept.
    read = _time_stamp(format(1_700_000_000_999, "x"))
    assert read == datetime.fromtimestamp(1_700_000_000, UTC) and read.microsecond == 0
    assert _time_stamp(format(5 * 10**11, "x")) == datetime.fromtimestamp(5 * 10**8, UTC)
    assert _time_stamp(format(2 * 10**11, "x")) == datetime.fromtimestamp(2 * 10**8, UTC)
    # 10**11 itself is seconds (the year 5138): too far ahead, but read as given.
    assert _time_stamp(format(10**11, "x")) == datetime.fromtimestamp(10**11, UTC)
    assert _time_stamp("xyz") is None and _time_stamp("f" * 40) is None


def test_the_signature_is_checked_against_the_url_given_to_metastudio(
        world: TrackingWorld) -> None:
    """Behind a proxy the request arrives at another URL; MetaStudio signed the public
    one (METASTUDIO_CALLBACK_URL)."""
    signed = sign_callback_url(PUBLIC, KEY, world.clock())
    assert receiver(world).verify(ARRIVED, query_of(signed)) is None
    assert receiver(world, public_url=None).verify(ARRIVED, query_of(signed)) == Answer(
        401, {"error": "invalid callback signature", "reason": "signature mismatch"})


def test_without_a_public_url_the_url_as_it_arrived_is_what_was_signed(
        world: TrackingWorld) -> None:
    signed = sign_callback_url(ARRIVED, KEY, world.clock())
    assert receiver(world, public_url=None).verify(ARRIVED, query_of(signed)) is None


def test_a_blank_parameter_of_the_configured_url_is_part_of_what_was_signed(
        world: TrackingWorld) -> None:
    signed = sign_callback_url(ARRIVED + "?team=", KEY, world.clock())
    assert receiver(world, public_url=None).verify(ARRIVED, query_of(signed)) is None


def _as_is(query: str) -> Callable[[datetime], str]:
    return lambda now: query


def _signed(stamp: str | int) -> Callable[[datetime], str]:
    """A query signed with the right key over ``stamp``: a string as it is, or that many
    seconds from now, in hex as MetaStudio writes it."""
    def query(now: datetime) -> str:
        value = stamp if isinstance(stamp, str) else format(
            int((now + timedelta(seconds=stamp)).timestamp()), "x")
        return f"time_stamp={value}&secret={expected_secret(KEY, PUBLIC, value)}"
    return query


@pytest.mark.parametrize(("query", "reason"), [
    (_as_is("time_stamp=1"), "time_stamp and secret must each appear once"),
    (_as_is("secret=ab&secret=ab&time_stamp=1"), "time_stamp and secret must each appear once"),
    (_as_is("time_stamp=1&secret=00"), "signature mismatch"),
    # Genuinely signed: only the time stamp itself is wrong.
    (_signed("not-hex"), "malformed time stamp"),
    (_signed(-3600), "stale time stamp"),
    (_signed(3600), "time stamp in the future"),
], ids=["no secret", "two secrets", "mismatch", "malformed", "stale", "ahead"])
def test_a_refusal_answers_401_with_its_reason_and_logs_it(
        world: TrackingWorld, caplog: pytest.LogCaptureFixture,
        query: Callable[[datetime], str], reason: str) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.tracking.polling.callbacks"):
        answer = receiver(world).verify(PUBLIC, query(world.clock()))
    assert answer == Answer(401, {"error": "invalid callback signature", "reason": reason})
    assert caplog.messages == [f"MetaStudio callback refused: {reason}"]


def test_a_time_stamp_exactly_as_old_or_as_far_ahead_as_allowed_is_accepted(
        world: TrackingWorld) -> None:
    """The bounds are inclusive: five minutes old, or one minute ahead (a clock that
    runs fast), is still fresh."""
    front = receiver(world)
    for offset in (-MAX_SKEW, MAX_AHEAD):
        query = _signed(int(offset.total_seconds()))(world.clock())
        assert front.verify(PUBLIC, query) is None


def test_the_same_request_again_is_a_replay(world: TrackingWorld,
                                            caplog: pytest.LogCaptureFixture) -> None:
    front = receiver(world)
    query = query_of(sign_callback_url(PUBLIC, KEY, world.clock()))
    body = b'{"job_id": "not a job id"}'
    with caplog.at_level(logging.WARNING, logger="bot.tracking.polling.callbacks"):
        assert front.accept(query, body) == Answer(400, {"error": "expected UTF-8 JSON with "
                                                                  "a job_id"})
    assert caplog.messages == ["MetaStudio callback with a malformed body (26 bytes)"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.tracking.polling.callbacks"):
        again = front.accept(query, body)
    assert again == Answer(401, {"error": "invalid callback signature", "reason": "replayed"})
    assert caplog.messages == ["MetaStudio callback refused: replayed (the same request again)"]


def test_another_body_about_the_same_job_under_one_signature_is_a_replay(
        world: TrackingWorld, caplog: pytest.LogCaptureFixture) -> None:
    """The signature covers the URL and the time stamp, not the body: a captured URL
    sent again with the body reworded is still the same callback of that job."""
    front = receiver(world)
    job = world.running()
    query = query_of(sign_callback_url(PUBLIC, KEY, world.clock()))
    first = front.accept(query, f'{{"job_id": "{job}", "result": "SUCCEED"}}'.encode())
    assert first.status == 200
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.tracking.polling.callbacks"):
        again = front.accept(query, f'{{"result": "FAILED", "job_id": "{job}"}}'.encode())
    assert again == Answer(401, {"error": "invalid callback signature", "reason": "replayed"})
    assert caplog.messages == [f"MetaStudio callback refused: replayed (job {job})"]


def test_handle_checks_the_url_then_accepts_the_body(world: TrackingWorld) -> None:
    """``handle`` is both halves in one call: a refused URL's answer, else the body's."""
    front = receiver(world, public_url=None)
    job = world.running()
    query = query_of(sign_callback_url(ARRIVED, KEY, world.clock()))
    body = f'{{"job_id": "{job}", "result": "SUCCEED"}}'.encode()

    assert front.handle(ARRIVED, "time_stamp=1&secret=00", body) == Answer(
        401, {"error": "invalid callback signature", "reason": "signature mismatch"})
    assert front.handle(ARRIVED, query, body) == Answer(200, {"ok": True, "enqueued": 0})
    assert front.handle(ARRIVED, query, body) == Answer(
        401, {"error": "invalid callback signature", "reason": "replayed"})


def test_a_jobs_callback_signed_again_later_is_not_a_replay(world: TrackingWorld) -> None:
    """MetaStudio calling a job back again with a fresh time stamp (a new signature) is
    not a replay: it is answered, and the poller's own record announces the end once.
    The configured URL's own parameter is the same in both."""
    public = PUBLIC + "?team=video"
    front = receiver(world, public_url=public)
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "FAILED")
    body = f'{{"job_id": "{job}", "result": "FAILED"}}'.encode()

    first = front.accept(query_of(sign_callback_url(public, KEY, world.clock())), body)
    world.clock.advance(1)
    again = front.accept(query_of(sign_callback_url(public, KEY, world.clock())), body)

    assert first == Answer(200, {"ok": True, "enqueued": 1})
    assert again == Answer(200, {"ok": True, "enqueued": 0})
    assert len(world.tracking.outbox.rows()) == 1


def test_what_an_accepted_callback_did_is_logged_with_its_job(
        world: TrackingWorld, caplog: pytest.LogCaptureFixture) -> None:
    """The operator's trail: how many notifications a callback enqueued, or why its
    look-up failed (and that polling will catch up), each naming the job."""
    front = receiver(world)
    done, unreachable = world.running(), world.running()
    track(world, done)
    world.sim.set_state(done, "FAILED")
    with caplog.at_level(logging.INFO, logger="bot.tracking.polling.callbacks"):
        front.accept(query_of(sign_callback_url(PUBLIC, KEY, world.clock())),
                     f'{{"job_id": "{done}"}}'.encode())
        world.clock.advance(1)
        world.sim.faults.fail_next(status=503, times=10)
        answer = front.accept(query_of(sign_callback_url(PUBLIC, KEY, world.clock())),
                              f'{{"job_id": "{unreachable}"}}'.encode())
        world.sim.faults.reset()
    assert answer == Answer(202, {"ok": True, "looked_up": False})
    [enqueued, failed] = caplog.records
    assert enqueued.getMessage() == f"callback for job {done}: 1 notification(s) enqueued"
    assert enqueued.levelno == logging.INFO
    assert failed.levelno == logging.WARNING
    assert failed.getMessage().startswith(f"callback for job {unreachable}: look-up failed (")
    assert failed.getMessage().endswith("); polling will catch up")
    assert "503" in failed.getMessage()
