"""The shared pool for a command's independent reads (bot/metastudio/side_by_side.py):
all in flight at once (a barrier they must all reach), results in order, every read
waited for even when one fails."""

from __future__ import annotations

import threading

import pytest

from bot.metastudio.side_by_side import run_all, settle

MEET_SECONDS = 10.0


def test_reads_meet_and_come_back_in_order() -> None:
    barrier = threading.Barrier(5)

    def read(n: int):
        return lambda: (barrier.wait(MEET_SECONDS), n)[1]

    assert run_all([read(n) for n in range(5)]) == [0, 1, 2, 3, 4]
    assert not barrier.broken


def test_a_failed_read_is_its_outcome_and_the_others_still_end() -> None:
    barrier = threading.Barrier(3)
    ended: list[str] = []

    def ok(name: str):
        def read() -> str:
            barrier.wait(MEET_SECONDS)
            ended.append(name)
            return name
        return read

    def broken() -> str:
        barrier.wait(MEET_SECONDS)
        raise LookupError("boom")

    first, failed, last = settle([ok("a"), broken, ok("c")])

    assert (first.get(), last.get()) == ("a", "c") and sorted(ended) == ["a", "c"]
    assert isinstance(failed.error, LookupError)
    barrier.reset()
    with pytest.raises(LookupError, match="boom"):  # run_all raises it, once all ended
        run_all([ok("x"), broken, ok("y")])
    assert sorted(ended) == ["a", "c", "x", "y"]


def test_nothing_to_read_is_nothing() -> None:
    assert settle([]) == [] and run_all([]) == []


def test_many_reads_go_in_rounds_of_at_most_at_once() -> None:
    barrier = threading.Barrier(2)  # each round's two reads must meet
    lock = threading.Lock()
    in_flight, most = 0, 0

    def read(n: int):
        def run() -> int:
            nonlocal in_flight, most
            with lock:
                in_flight += 1
                most = max(most, in_flight)
            barrier.wait(MEET_SECONDS)
            with lock:
                in_flight -= 1
            return n
        return run

    assert run_all([read(n) for n in range(6)], at_once=2) == list(range(6))
    assert most == 2 and not barrier.broken
