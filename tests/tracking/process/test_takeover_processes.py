"""Two real ``videojobs-bot worker`` processes on one PostgreSQL database: one of them
polls, both send, and when the one that polls is killed (SIGKILL, nothing cleaned up)
the other polls and sends its channels, every job told exactly once
(docs/polling.md, "One poller per database"; docs/delivery.md, "Leases kept alive")."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.tracking.processes import Bot, Deployment, wait

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), pytest.mark.postgres]

POLLS = "this process polls now"


@pytest.fixture
def deploy(simulator: Simulator, fake_slack: FakeSlack, postgres_url: str,
           tmp_path: Path) -> Iterator[Deployment]:
    deployment = Deployment(simulator, fake_slack, postgres_url, tmp_path,
                            poll_interval_seconds=0.5, digest_threshold=100)
    yield deployment
    deployment.close()
    for bot in deployment.bots:
        print(f"----- {' '.join(bot.args)} -----\n{bot.output}")


def _pollers(*bots: Bot) -> list[Bot]:
    return [b for b in bots if POLLS in b.output]


def test_one_of_two_workers_polls_and_the_other_takes_over_after_a_kill(
    deploy: Deployment,
) -> None:
    burst = [job for channel in ("C1", "C2", "C3", "C4") for job in deploy.track(channel, 3)]
    later = deploy.track("C5", 2)
    a, b = deploy.worker(), deploy.worker()
    assert wait(lambda: len(_pollers(a, b)) == 1, 20), (a.output, b.output)
    time.sleep(2)  # several cycles of both: still only one polls
    [leader] = _pollers(a, b)
    survivor = b if leader is a else a

    deploy.slack.latency = 0.3  # a burst that takes both senders a while
    deploy.end(burst)
    assert wait(lambda: len(deploy.notifications()) >= 2, 30)
    os.kill(leader.process.pid, signal.SIGKILL)  # mid-burst, leases and all left behind

    assert survivor.logged(POLLS, timeout=30), survivor.output
    deploy.end(later)  # only a poller that took over can see these
    assert deploy.delivered(burst + later, timeout=90), survivor.output
    time.sleep(1.5)  # room for a late duplicate to land
    deploy.assert_exactly_once(burst + later)


def test_a_killed_worker_is_replaced_at_once_not_when_its_leases_run_out(
    simulator: Simulator, fake_slack: FakeSlack, postgres_url: str, tmp_path: Path,
) -> None:
    """Leases of a minute: the survivor polls and sends the killed one's channels long
    before they could have run out, because the killed one's presence lock ended with
    its connection (docs/delivery.md, "A death noticed at once")."""
    deploy = Deployment(simulator, fake_slack, postgres_url, tmp_path,
                        poll_interval_seconds=0.5, digest_threshold=100,
                        poll_lease_seconds=60, delivery_lease_seconds=60)
    try:
        burst = [job for channel in ("C1", "C2", "C3", "C4")
                 for job in deploy.track(channel, 3)]
        a, b = deploy.worker(), deploy.worker()
        assert wait(lambda: len(_pollers(a, b)) == 1, 20), (a.output, b.output)
        [leader] = _pollers(a, b)
        survivor = b if leader is a else a
        deploy.slack.latency = 0.3
        deploy.end(burst)
        assert wait(lambda: len(deploy.notifications()) >= 2, 30)
        os.kill(leader.process.pid, signal.SIGKILL)
        killed = time.monotonic()

        assert survivor.logged(POLLS, timeout=30), survivor.output
        assert deploy.delivered(burst, timeout=40), survivor.output
        # A minute's leases: only the lock can have handed everything over this soon.
        assert time.monotonic() - killed < 45
        assert "presence lock gone" in survivor.output
        time.sleep(1.5)
        deploy.assert_exactly_once(burst)
    finally:
        deploy.close()
        for bot in deploy.bots:
            print(f"----- {' '.join(bot.args)} -----\n{bot.output}")
