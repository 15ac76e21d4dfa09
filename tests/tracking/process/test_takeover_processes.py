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
