"""The health check's probe: one at a time, shared by every waiting request, bounded."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bot.serve.health import HealthCheck


def test_concurrent_checks_share_one_probe_and_answer_within_the_timeout() -> None:
    release, calls = threading.Event(), []

    def stuck_probe():
        calls.append(1)
        release.wait(10)
        return True, {"status": "ok"}

    check = HealthCheck(stuck_probe, timeout=0.2)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: check(), range(8)))

    assert time.monotonic() - started < 1.0
    assert all(not healthy and report["database"] == "timeout" for healthy, report in answers)
    assert len(calls) == 1  # one probe hangs, not eight
    release.set()


def test_a_finished_probe_is_not_reused() -> None:
    results = iter([(False, {"database": "unreachable"}), (True, {"status": "ok"})])
    check = HealthCheck(lambda: next(results), timeout=1)

    assert check() == (False, {"database": "unreachable"})
    assert check() == (True, {"status": "ok"})


def test_a_probe_that_raises_still_answers() -> None:
    def broken():
        raise RuntimeError("bug")

    assert HealthCheck(broken, timeout=1)() == (False, {"status": "error",
                                                        "database": "RuntimeError"})
