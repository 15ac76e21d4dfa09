"""SendSoon, the callback receiver's ``wake``: how many send passes a burst of callbacks
makes, what a failing pass or clock leaves behind, when a held notification's pass runs,
and that neither keeps a stopping process alive. Real threads and real time; a pass is a
plain function that counts itself (the sender's own behaviour is tested with the outbox:
tests/tracking/delivery/test_wake.py posts through it)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bot.tracking.polling.callbacks import SendSoon

#: How long a test waits for a pass it expects (never reached = failure).
WAIT = 5.0
#: How long a test watches for a pass it does not expect.
QUIET = 0.6


class Passes:
    """A send pass that counts itself, records when it ran, and can be held."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Semaphore(0)
        self.fail = False
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.times.append(time.monotonic())
        self.started.release()
        assert self.release.wait(WAIT)
        if self.fail:
            raise RuntimeError("slack is down")

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.times)

    def wait_for(self, count: int, timeout: float = WAIT) -> bool:
        return eventually(lambda: self.count >= count, timeout)


def eventually(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Whether ``predicate`` holds within ``timeout`` (looked at every 10 ms)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def due_in(*answers: float | None) -> Callable[[], float | None]:
    """``next_due_in`` answering these in turn, then None (nothing held)."""
    left = list(answers)
    return lambda: left.pop(0) if left else None


@pytest.fixture
def passes() -> Iterator[Passes]:
    counted = Passes()
    yield counted
    counted.release.set()


def test_a_burst_of_callbacks_during_a_pass_makes_one_more_pass(passes: Passes) -> None:
    wake = SendSoon(passes)
    passes.release.clear()
    wake()
    assert passes.started.acquire(timeout=WAIT)  # the first pass is running
    for _ in range(5):
        wake()
    passes.release.set()

    assert passes.wait_for(2)
    time.sleep(QUIET)
    assert passes.count == 2
    wake()  # all done: a later callback makes a pass of its own
    assert passes.wait_for(3)
    time.sleep(QUIET)
    assert passes.count == 3


def test_a_pass_runs_on_a_named_daemon_thread() -> None:
    """Named for thread dumps and logs; a daemon, so a process told to stop is never
    kept alive by a pass (whatever thread the callback arrived on)."""
    seen: list[threading.Thread] = []
    ran = threading.Event()

    def send() -> None:
        seen.append(threading.current_thread())
        ran.set()

    def callback_thread() -> None:
        SendSoon(send)()

    arrived = threading.Thread(target=callback_thread, daemon=False)
    arrived.start()
    arrived.join()
    assert ran.wait(WAIT)
    [thread] = seen
    assert thread.name == "callback-send"
    assert thread.daemon


def test_a_wake_waits_on_a_daemon_timer(passes: Passes) -> None:
    """A wake set for a hold half a minute away never keeps a stopping process alive."""
    before = set(threading.enumerate())
    soon = SendSoon(passes, due_in(30.0))
    soon()
    assert passes.wait_for(1)
    def waiting() -> list[threading.Thread]:
        return [t for t in set(threading.enumerate()) - before
                if t.is_alive() and t.name != "callback-send"]

    try:
        assert eventually(lambda: bool(waiting())), "no wake was set"
        assert all(t.daemon for t in waiting())
    finally:
        soon.cancel()


def test_one_callback_makes_one_pass(passes: Passes) -> None:
    SendSoon(passes)()
    assert passes.wait_for(1)
    time.sleep(QUIET)
    assert passes.count == 1


def test_a_failed_pass_is_logged_and_the_next_callback_sends_again(
        passes: Passes, caplog: pytest.LogCaptureFixture) -> None:
    passes.fail = True
    wake = SendSoon(passes)
    with caplog.at_level(logging.WARNING, logger="bot.tracking.polling.callbacks"):
        wake()
        assert passes.wait_for(1)
        assert eventually(lambda: bool(caplog.records))
    [record] = caplog.records
    assert record.getMessage() == "send pass after a callback failed; the worker retries"
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert "slack is down" in caplog.text  # the traceback
    passes.fail = False
    wake()
    assert passes.wait_for(2)


def test_a_held_notification_gets_a_pass_when_its_hold_ends(passes: Passes) -> None:
    """The pass finds a notification held for 0.3 s (the channel's pace): another pass
    runs then, not at the next poll; and again for the next hold."""
    wake = SendSoon(passes, due_in(0.3, 0.2))
    try:
        wake()
        assert passes.wait_for(3)
        first, second, third = passes.times[:3]
        assert 0.3 <= second - first < 0.3 + QUIET  # not before the hold ends
        assert 0.2 <= third - second < 0.2 + QUIET
        time.sleep(QUIET)
        assert passes.count == 3  # nothing held any more
    finally:
        wake.cancel()


def test_a_hold_already_over_gets_its_pass_at_once(passes: Passes) -> None:
    wake = SendSoon(passes, due_in(0.0))
    try:
        wake()
        assert passes.wait_for(2)
        assert passes.times[1] - passes.times[0] < QUIET
    finally:
        wake.cancel()


def test_a_hold_up_to_the_horizon_is_woken_and_beyond_it_left_to_the_poll(
        passes: Passes) -> None:
    wake = SendSoon(passes, due_in(0.3, 0.2), horizon=0.2)
    try:
        wake()  # held 0.3 s, beyond the horizon: no pass of its own
        assert passes.wait_for(1)
        time.sleep(0.3 + QUIET)
        assert passes.count == 1
        wake()  # held 0.2 s, the horizon itself: woken
        assert passes.wait_for(3)
    finally:
        wake.cancel()


def test_a_hold_beyond_a_minute_does_not_stop_a_nearer_one_being_woken(
        passes: Passes) -> None:
    """The default horizon is a minute: a hold longer than that is the tracking loop's,
    and sets no wake that would stand in for a nearer hold found later."""
    wake = SendSoon(passes, due_in(60.5, 0.1))
    try:
        wake()
        assert passes.wait_for(1)
        time.sleep(0.2)
        wake()
        assert passes.wait_for(3)
    finally:
        wake.cancel()


def test_a_clock_that_cannot_tell_is_logged_with_its_traceback(
        passes: Passes, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> float | None:
        raise RuntimeError("outbox unreachable")

    wake = SendSoon(passes, broken)
    with caplog.at_level(logging.WARNING, logger="bot.tracking.polling.callbacks"):
        wake()
        assert passes.wait_for(1)
        assert eventually(lambda: bool(caplog.records))
    [record] = caplog.records
    assert record.getMessage() == "could not tell when the next notification is due"
    assert record.levelno == logging.WARNING and record.exc_info is not None
    assert "outbox unreachable" in caplog.text
    wake()  # and it sends again next time
    assert passes.wait_for(2)


def test_cancel_drops_a_wake_that_is_set(passes: Passes) -> None:
    asked = threading.Event()

    def held() -> float:
        asked.set()
        return 0.5

    wake = SendSoon(passes, held)
    wake.cancel()  # nothing set yet: nothing to drop
    wake()
    assert asked.wait(WAIT)
    time.sleep(0.1)  # the wake is set just after the answer
    wake.cancel()
    time.sleep(0.5 + QUIET)
    assert passes.count == 1


_STOPPING = """
import sys, time
from bot.tracking.polling.callbacks import SendSoon

if sys.argv[1] == "pass":
    SendSoon(lambda: time.sleep(60))()  # a send pass that hangs
else:
    SendSoon(lambda: None, lambda: 50.0)()  # a wake set for 50 s from now
time.sleep(0.5)
print("stopping", flush=True)
"""


@pytest.mark.parametrize("left", ["pass", "wake"])
def test_a_stopping_process_is_not_held_by_a_send_pass_or_a_wake(left: str) -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _STOPPING, left], capture_output=True,
                          text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, "stopping\n"), done.stderr
    assert time.monotonic() - started < 20
