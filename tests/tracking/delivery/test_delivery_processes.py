"""Exactly once under the faults Slack really has, on the real processes: ``http`` (with
its supervised tracking process) and ``worker`` subprocesses, SQLite and PostgreSQL,
posting to a fake Slack with Slack's limits. In every test each job's outcome reaches
the channel exactly once (docs/delivery.md)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.tracking.processes import Deployment, HttpBot, wait

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

#: What long asset names and error messages look like in a real project.
LONG_ASSET = "campaign-2026-spring-" + "long-descriptive-asset-name-" * 8
LONG_ERROR = "Render failed: the uploaded audio track " + "is longer than the script allows " * 8


Make = Callable[..., Deployment]


@pytest.fixture
def make(simulator: Simulator, fake_slack: FakeSlack, tmp_path: Path,
         request: pytest.FixtureRequest) -> Iterator[Make]:
    """``make(**settings)``: a deployment on SQLite, or on both databases when the test
    asks for ``database_url``; its processes get ``settings`` as environment."""
    url = (request.getfixturevalue("database_url") if "database_url" in request.fixturenames
           else f"sqlite:///{tmp_path / 'videojobs.sqlite3'}")
    made: list[Deployment] = []

    def start(**settings: object) -> Deployment:
        made.append(Deployment(simulator, fake_slack, url, tmp_path, **settings))
        return made[-1]

    yield start
    for deployment in made:
        deployment.close()
        for bot in deployment.bots:
            print(f"----- {' '.join(bot.args)} -----\n{bot.output}")


# -- 1. size --------------------------------------------------------------------------


@pytest.mark.parametrize("slack_limit", [12_000, 3_000], ids=["slack-12k", "slack-3k"])
def test_a_burst_of_long_failures_reaches_the_digest_thread_whole(
    make: Make, slack_limit: int
) -> None:
    """30 failures with long names and messages: ~15,000 characters of details. The
    sender packs them under Slack's limit; when Slack still refuses (a stricter limit),
    each refused message is split and sent in parts. No error code is lost."""
    deploy = make(digest_threshold=5)
    deploy.slack.block_text_limit = slack_limit
    bot = deploy.http()
    ids = deploy.track("C1", 30, asset_name=LONG_ASSET)
    deploy.end(ids, "FAILED", error_code="MSS.00000004", error_msg=LONG_ERROR)

    assert deploy.delivered(ids, timeout=90), bot.output
    deploy.assert_exactly_once(ids)
    # One digest reply in the tracking thread, its details after it in that thread.
    [tracking] = [m for m in deploy.slack.posts("C1") if m.thread_ts is None
                  and not m.metadata]
    replies = deploy.slack.thread("C1", tracking.ts)
    assert len([r for r in replies if "jobs finished" in r.text]) == 1
    assert sum(str(r.blocks).count("MSS.00000004") for r in replies) == 30
    refused = len(deploy.slack.calls_to("chat.postMessage")) - len(deploy.slack.posts())
    assert (refused > 0) is (slack_limit < 10_000)  # refused only by the stricter Slack
    assert bot.health()[0] == 200


# -- 2. leases ----------------------------------------------------------------------------


def test_a_slow_slack_with_two_workers_and_a_short_lease_never_doubles(
    make: Make, database_url: str
) -> None:
    """Each Slack call takes a second; a pass takes a minute, far past the lease.
    The lease is renewed and re-checked before every post, so the second worker never
    takes over rows (or a channel) whose owner is still posting."""
    # Longer than one row's own work (a cover upload of three calls, the post, the
    # tracking message's edit: ~5 s at 1 s a call), far shorter than a pass (~60 s).
    deploy = make(digest_threshold=100, delivery_lease_seconds=6)
    ids = [job for channel in ("C1", "C2", "C3") for job in deploy.track(channel, 4)]
    deploy.slack.latency = 1.0
    workers = [deploy.worker(), deploy.worker()]
    deploy.end(ids)

    assert deploy.delivered(ids, timeout=120), [w.output for w in workers]
    time.sleep(1.5)  # room for a late duplicate to land
    deploy.assert_exactly_once(ids)


# -- 3. supervision -------------------------------------------------------------------------


def test_a_killed_tracking_process_is_restarted_and_health_says_so(make: Make) -> None:
    deploy = make(tracking_restart_seconds=3)
    bot = deploy.http()
    pid = bot.tracking_pid()
    ids = deploy.track("C1", 3) + deploy.track("C2", 3)

    os.kill(pid, signal.SIGKILL)
    deploy.end(ids)  # while nobody tracks
    # 503 at once ("has just exited"), then the supervisor's own word for it.
    assert wait(lambda: bot.health()[0] == 503, 5), bot.health()
    assert wait(lambda: bot.health()[1]["tracking"]["status"] == "restarting", 5), bot.health()
    health = bot.health()[1]
    assert "killed by SIGKILL" in health["tracking"]["reason"]
    assert bot.logged("ERROR", timeout=5) and "killed by SIGKILL" in bot.output
    assert not deploy.notifications()

    assert wait(lambda: bot.health()[0] == 200, 30), bot.health()
    assert bot.health()[1]["tracking"]["restarts"] == 1
    assert bot.tracking_pid() != pid
    assert deploy.delivered(ids, timeout=60), bot.output
    deploy.assert_exactly_once(ids)


def _supervisor_of(bot: HttpBot) -> int:
    """The pid of ``videojobs-bot worker --supervise``, a child of gunicorn's master."""
    path = Path(f"/proc/{bot.process.pid}/task/{bot.process.pid}/children")
    [pid] = [int(p) for p in path.read_text().split()
             if b"--supervise" in Path(f"/proc/{p}/cmdline").read_bytes()]
    return pid


def _running(pid: int) -> bool:
    try:  # a zombie (exited, not reaped by whoever adopted it) is not running
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_a_killed_supervisor_is_noticed_restarted_and_loses_nothing(make: Make) -> None:
    """kill -9 of ``worker --supervise`` itself: its tracking process stops with it,
    /healthz says so at once, and gunicorn's master starts another supervisor."""
    deploy = make(tracking_restart_seconds=3)
    bot = deploy.http()
    worker = bot.tracking_pid()
    supervisor = _supervisor_of(bot)
    ids = deploy.track("C1", 3) + deploy.track("C2", 3)

    os.kill(supervisor, signal.SIGKILL)
    deploy.end(ids)  # while nobody tracks

    assert wait(lambda: bot.health()[1]["tracking"]["status"] == "restarting", 5), bot.health()
    status, health = bot.health()
    assert status == 503 and health["status"] == "error"
    assert health["tracking"]["reason"].startswith(
        "the tracking supervisor died (killed by SIGKILL); restarting it in ")
    assert bot.logged("ERROR", timeout=5)
    assert f"the tracking supervisor (pid {supervisor}) died, killed by SIGKILL" in bot.output
    assert wait(lambda: not _running(worker), 15), "its tracking process lives on"

    assert wait(lambda: bot.health()[0] == 200, 30), bot.health()
    assert bot.tracking_pid() != worker
    assert _supervisor_of(bot) != supervisor
    assert deploy.delivered(ids, timeout=60), bot.output
    deploy.assert_exactly_once(ids)


def test_tracking_elsewhere_is_said_by_a_web_process_without_a_worker(make: Make) -> None:
    deploy = make()
    bot = deploy.http_without_worker()
    # Once the worker's first auth.test has come back (until then: "slack", degraded).
    assert wait(lambda: "slack" not in bot.health()[1], 10), bot.health()
    assert bot.health() == (200, {"status": "ok", "outbox_depth": 0,
                                  "tracking": {"status": "elsewhere"}})


# -- 4. a token Slack refuses ------------------------------------------------------------------


@pytest.mark.parametrize("fixed_by", ["restart", "itself"])
def test_a_revoked_token_pauses_delivery_loudly_and_loses_nothing(
    make: Make, fixed_by: str
) -> None:
    deploy = make()
    probe = "0.3" if fixed_by == "itself" else "600"
    bot = deploy.http(DELIVERY_PROBE_SECONDS=probe, DELIVERY_PROBE_MAX_SECONDS=probe)
    ids = deploy.track("C1", 3) + deploy.track("C2", 2)
    deploy.slack.token_error = "token_revoked"
    deploy.end(ids[:3], "FAILED")
    deploy.end(ids[3:])

    assert bot.logged("delivery is paused", timeout=30), bot.output
    assert "token_revoked" in bot.output and "ERROR" in bot.output
    assert wait(lambda: bot.health()[1].get("delivery", {}).get("paused") == "token_revoked",
                10), bot.health()
    status, health = bot.health()
    assert status == 200 and health["status"] == "degraded"
    assert health["delivery"]["fix"] == "SLACK_BOT_TOKEN"
    time.sleep(1)  # several passes while paused
    assert not deploy.notifications()
    rows = deploy.rows()
    assert rows and {r.status for r in rows} == {"pending"}  # paused, not failed

    deploy.slack.token_error = None  # the operator fixes the token
    if fixed_by == "restart":
        bot.stop()
        bot = deploy.http()
    assert deploy.delivered(ids, timeout=60), bot.output
    deploy.assert_exactly_once(ids)
    assert bot.logged("delivery resumed", timeout=5)
    assert "delivery" not in bot.health()[1]


# -- 5. a long outage ------------------------------------------------------------------------


def test_a_ten_minute_slack_outage_is_waited_out(make: Make) -> None:
    """Backoff compressed a hundredfold (5 s -> 0.05 s, cap 5 min -> ... 0.5 s here): six
    seconds of outage stand for ten minutes, far past the six tries that used to give
    up. JSON 5xx first, then an HTML error page, then connections dropped."""
    deploy = make(delivery_backoff_seconds=0.05, delivery_max_backoff_seconds=0.5,
                  digest_threshold=100)
    worker = deploy.worker()
    ids = deploy.track("C1", 3) + deploy.track("C2", 3)
    deploy.slack.outage = 503
    deploy.end(ids)
    assert wait(lambda: any(r.failures >= 3 for r in deploy.rows()), 20), worker.output
    time.sleep(2)
    deploy.slack.outage = "html"  # a load balancer's error page
    time.sleep(2)
    deploy.slack.outage = "reset"
    time.sleep(2)
    assert not deploy.notifications()
    assert max(r.failures for r in deploy.rows()) > 6  # more than six tries, none given up
    assert {r.status for r in deploy.rows()} == {"pending"}
    deploy.slack.outage = None

    assert deploy.delivered(ids, timeout=30), worker.output
    deploy.assert_exactly_once(ids)


# -- 6. pacing and Retry-After -----------------------------------------------------------------


def test_posts_are_paced_per_channel_and_retry_after_holds_the_whole_channel(
    make: Make, database_url: str
) -> None:
    """Slack allows one message a second per channel, and answers 429 otherwise. Two
    workers share the channels: none is refused for pace, and after a Retry-After
    nothing goes to that channel, from either worker, before it has passed."""
    deploy = make(digest_threshold=100)
    flooded = deploy.track("C1", 8)
    other = deploy.track("C2", 2)
    late = deploy.track("C1", 2) + deploy.track("C2", 2)
    deploy.slack.per_channel_rate = 1.0
    time.sleep(1.1)  # the tracking messages' own second
    workers = [deploy.worker(), deploy.worker()]
    deploy.slack.rate_limit("chat.postMessage", retry_after=3)  # the next post, anywhere
    start = len(deploy.slack.calls)
    deploy.end(flooded + other)
    assert wait(lambda: any(c.method == "chat.postMessage" for c in deploy.slack.calls[start:]),
                30)
    deploy.end(late)  # new notifications, for the held channel too

    every = flooded + other + late
    assert deploy.delivered(every, timeout=90), [w.output for w in workers]
    deploy.assert_exactly_once(every)
    assert deploy.slack.rate_limited == 0  # none refused for going too fast
    [refused] = [c for c in deploy.slack.calls_to("chat.postMessage")[:]
                 if deploy.slack.calls.index(c) >= start][:1]
    held = refused.args["channel"]
    after = [m.at for m in deploy.notifications() if m.channel == held]
    assert min(after) >= refused.at + 3  # Retry-After held every row of the channel
    c1 = sorted(m.at for m in deploy.notifications() if m.channel == "C1")
    assert all(b - a >= 0.95 for a, b in pairwise(c1))
    if held == "C1":  # the other channel did not wait behind the flooded one
        c2_last = max(m.at for m in deploy.notifications() if m.channel == "C2")
        assert c2_last < c1[-1]
