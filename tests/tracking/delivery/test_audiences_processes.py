"""Issue #21's repros on the real processes: ``videojobs-bot http`` with its supervised
tracking process, commands signed as Slack signs them, MetaStudio's callbacks signed as
MetaStudio signs them, the fake Slack keeping Slack's one message a second per channel.
Each one failed before audiences (docs/delivery.md, "Who hears what")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.simulator import Simulator
from bot.tracking.polling.callbacks import expected_secret
from tests.fakes.slack import FakeSlack
from tests.fixtures.app import SlackSender
from tests.tracking.helpers import jobs_told
from tests.tracking.processes import Deployment, HttpBot, wait

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

KEY = "callback-key-0123456789"


@pytest.fixture
def deploy(simulator: Simulator, fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Deployment]:
    made = Deployment(simulator, fake_slack, f"sqlite:///{tmp_path / 'videojobs.sqlite3'}",
                      tmp_path, digest_threshold=5)
    yield made
    made.close()


def _slack(bot: HttpBot, fake: FakeSlack) -> SlackSender:
    return SlackSender(bot.url, fake)


def _command(slack: SlackSender, text: str, response: str) -> str:
    slack.command(text, response=response)
    [answer] = slack.answers(response)
    return str(answer["text"])


def test_a_burst_of_failures_pages_the_group(deploy: Deployment, sim_clock) -> None:
    """1: eight failures in one poll were one digest that paged nobody; now they are the
    incident the group exists for (docs/oncall.md)."""
    deploy.slack.usergroups["S0ONCALL"] = ["U7"]
    bot = deploy.http()
    slack = _slack(bot, deploy.slack)
    assert _command(slack, "subscribe failed notify=<!subteam^S0ONCALL|@oncall>",
                    "sub").startswith("Subscribed")
    ids = [deploy.sim.add_job(state="PROCESSING") for _ in range(8)]
    time.sleep(1.5)  # the poller sees them running
    sim_clock.advance(60)  # they end after the subscription was made (news, not history)
    deploy.end(ids, "FAILED")
    # Eight failures of one cause: one incident that pages the group once, a line each
    # for the other seven (one reply when one poll found them together).
    assert deploy.delivered(ids, timeout=60), bot.output
    [incident] = [m for m in deploy.slack.posts("C1") if m.metadata and m.thread_ts is None]
    assert incident.text.startswith("<!subteam^S0ONCALL> 🔥 Incident: 8 ")
    lines = [line for m in deploy.slack.thread("C1", incident.ts)
             for line in m.text.splitlines()]
    assert len(lines) == 7 and all(line.startswith("❌") for line in lines)
    assert sum("<!subteam^S0ONCALL>" in m.text for m in deploy.slack.posts()) == 1


def test_a_second_subscription_adds_its_group(deploy: Deployment, sim_clock) -> None:
    """2: ``subscribe all`` then ``subscribe failed notify=@oncall``: the failure came
    without the page (the first subscription's message won)."""
    deploy.slack.usergroups["S0ONCALL"] = ["U7"]
    bot = deploy.http()
    slack = _slack(bot, deploy.slack)
    _command(slack, "subscribe all", "all")
    _command(slack, "subscribe failed notify=<!subteam^S0ONCALL>", "failed")
    job = deploy.sim.add_job(state="PROCESSING")
    time.sleep(1.5)
    sim_clock.advance(60)
    deploy.end([job], "FAILED")
    assert wait(lambda: [m for m in deploy.slack.posts("C1") if m.metadata], 30), bot.output
    [told] = [m for m in deploy.slack.posts("C1") if m.metadata]
    assert told.text.startswith("<!subteam^S0ONCALL> ❌") and job in told.text


def test_tracked_jobs_ending_together_stay_in_their_thread(deploy: Deployment) -> None:
    """3: 26 jobs tracked with notify=me went to two top-level digests without the
    mention, and the tracking message said "all finished" before the last reply."""
    bot = deploy.http()
    slack = _slack(bot, deploy.slack)
    ids = [deploy.sim.add_job(state="PROCESSING") for _ in range(26)]
    _command(slack, f"track {' '.join(ids[:20])} notify=me", "t1")  # 20 ids a command
    _command(slack, f"track {' '.join(ids[20:])} notify=me", "t2")
    deploy.end(ids, "SUCCEED")
    assert deploy.delivered(ids, timeout=60), bot.output
    tracking = [m for m in deploy.slack.posts("C1") if m.metadata is None
                and m.text.startswith("Tracking")]
    assert len(tracking) == 2
    assert [m for m in deploy.slack.posts("C1") if m.thread_ts is None] == tracking
    for message, jobs in zip(tracking, (ids[:20], ids[20:]), strict=True):
        thread = deploy.slack.thread("C1", message.ts)
        assert all(job in str([m.blocks for m in thread]) for job in jobs)
        assert all(m.text.startswith("<@U1>") for m in thread if not m.text.startswith(
            "Details of"))
        assert "all finished" in deploy.slack.message("C1", message.ts).text
    # The person's DMs are one digest too (the details in its thread), each job once.
    dms = deploy.slack.posts("U1")
    shown = str([m.text for m in dms] + [m.blocks for m in dms])
    assert all(shown.count(job) == 1 for job in ids)
    assert any(m.text.startswith("You asked me to tell you: ") and "jobs finished" in m.text
               for m in dms)


def test_callbacks_a_moment_apart_each_reply_as_soon_as_the_pace_allows(
        simulator: Simulator, fake_slack: FakeSlack, tmp_path: Path) -> None:
    """4: three jobs of one tracking message ending by callbacks a moment apart: the
    first reply came at once, the others at the next poll (up to 30 s). Now the first
    goes at once and the two that waited on the channel's pace one reply a second
    later (docs/delivery.md, "Folding what waits on the pace")."""
    fake_slack.per_channel_rate = 1.0
    deploy = Deployment(simulator, fake_slack, f"sqlite:///{tmp_path / 'v.sqlite3'}",
                        tmp_path, poll_interval_seconds=120)
    try:
        bot = deploy.http(METASTUDIO_CALLBACK_KEY=KEY)
        slack = _slack(bot, fake_slack)
        ids = [simulator.add_job(state="PROCESSING") for _ in range(3)]
        _command(slack, f"track {' '.join(ids)}", "t")
        [tracking] = [m for m in fake_slack.posts("C1") if m.text.startswith("Tracking")]
        time.sleep(1.0)  # the tracking message took the channel's second
        started = time.monotonic()
        for job in ids:
            simulator.set_state(job, "SUCCEED")
            stamp = format(int(time.time()), "x")
            url = f"{bot.url}/metastudio/callback"
            answer = requests.post(
                f"{url}?time_stamp={stamp}&secret={expected_secret(KEY, url, stamp)}",
                json={"result": "SUCCEED", "asset_id": "a", "job_id": job}, timeout=10)
            assert answer.status_code == 200, answer.text
            time.sleep(0.2)
        def told() -> list[str]:
            return [j for m in fake_slack.thread("C1", tracking.ts) for j in jobs_told(m)]

        assert wait(lambda: sorted(told()) == sorted(ids), 10), bot.output
        assert time.monotonic() - started < 6.0  # paced a second apart; the poll is 2 min
        assert len(fake_slack.thread("C1", tracking.ts)) <= 3
        assert fake_slack.rate_limited == 0
    finally:
        deploy.close()
