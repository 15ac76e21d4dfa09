"""Steps waiting for jobs (bot/tracking/polling/waits.py): fed by the poller's active-set
look-ups and by callbacks, one completion each whatever happens (the job's end, the
maximum wait, the job disappearing, both an end and the deadline, a restart, an attempt
that reached Slack before the sender died), at most one more request a cycle for 100 of
them, and a token Slack refuses failing that completion alone."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot.domain.messaging import DeliveryError
from bot.domain.steps import WAIT_FOR_JOB, StepGone
from bot.metastudio.models import Job, JobState
from bot.slack.step_completer import SlackStepCompleter
from bot.tracking.delivery import completions
from bot.tracking.delivery.outbox import Notification
from bot.tracking.store.tables import step_runs
from tests.fakes.slack import Completion, FunctionExecution
from tests.fixtures.tracking import T0, TrackingWorld, begun_then_died

WAIT = timedelta(minutes=10)


def wait_for(world: TrackingWorld, job_id: str, *, created: Any = None,
             wait: timedelta = WAIT) -> FunctionExecution:
    """A "Wait for video job to end" step on ``job_id`` as the listener registers it."""
    _, execution = world.slack.function_executed(WAIT_FOR_JOB, {"job_id": job_id})
    waits = world.tracking.poller.waits
    now = world.clock()
    assert waits.first(execution.id, WAIT_FOR_JOB, now)
    job = Job(job_id=job_id, state=JobState.PROCESSING, create_time=created or now)
    waits.wait(execution.id, execution.token, job, deadline=now + wait,
               timeout_error=f"{job_id} timed out", now=now)
    return execution


def done(world: TrackingWorld, execution: FunctionExecution) -> list[Completion]:
    return world.slack.completions_of(execution.id)


def test_a_wait_completes_once_when_a_poll_sees_the_job_end(world: TrackingWorld) -> None:
    job = world.running(asset_name="Launch teaser")
    execution = wait_for(world, job)
    world.cycle()
    assert done(world, execution) == []

    world.sim.set_state(job, "SUCCEED")
    world.cycle()
    world.clock.advance(WAIT.total_seconds())  # its deadline passes too: nothing more
    world.cycle()

    [completion] = done(world, execution)
    outputs = completion.outputs or {}
    assert (outputs["job_id"], outputs["outcome"], outputs["succeeded"]) == (
        job, "succeeded", True)
    with world.tracking.store.begin() as conn:
        token = conn.execute(sa.select(step_runs.c.token)).scalar()
    assert token is None  # dropped once delivered


def test_a_wait_times_out_at_its_deadline_and_a_later_end_changes_nothing(
        world: TrackingWorld) -> None:
    job = world.running()
    execution = wait_for(world, job)
    world.clock.advance(WAIT.total_seconds() - 1)
    world.cycle()
    assert done(world, execution) == []
    # The sender knows when: the loop wakes at the deadline, not at the next poll.
    assert world.tracking.sender.next_due_in() == pytest.approx(1.0)
    assert world.tracking.outbox.depth() == 0  # a waiting step is not a notification

    world.clock.advance(1)
    world.tracking.sender.send_due()
    world.sim.set_state(job, "FAILED")
    world.cycle()

    [completion] = done(world, execution)
    assert (completion.outputs, completion.error) == (None, f"{job} timed out")


def test_a_callback_completes_the_wait(world: TrackingWorld) -> None:
    job = world.running()
    execution = wait_for(world, job)
    world.sim.set_state(job, "FAILED", error_code="MSS.1", error_msg="bad script")

    world.tracking.poller.observe(job)  # what CallbackReceiver does for a signed callback
    world.tracking.sender.send_due()

    [completion] = done(world, execution)
    assert (completion.outputs or {})["error_code"] == "MSS.1"
    assert (completion.outputs or {})["outcome"] == "failed"


def test_waits_survive_a_restart(world: TrackingWorld) -> None:
    job = world.running()
    execution = wait_for(world, job)
    world.cycle()
    world = world.restart()  # new store, poller and sender on the same database

    world.sim.set_state(job, "CANCELED")
    world.cycle()

    [completion] = done(world, execution)
    assert (completion.outputs or {})["outcome"] == "canceled"


def test_a_job_that_disappears_fails_the_wait(world: TrackingWorld) -> None:
    execution = wait_for(world, "deleted-job", created=world.clock() - timedelta(minutes=1))
    world.cycle()
    [completion] = done(world, execution)
    assert completion.error == "Job `deleted-job` no longer exists in MetaStudio."


@pytest.mark.parametrize("jobs", [100, 1])
def test_100_waits_add_at_most_one_request_a_cycle(world: TrackingWorld, jobs: int) -> None:
    world = world.restart(delivery_channel_rate=1000.0)  # the completions' pace aside
    ids = [world.running() for _ in range(jobs)]
    world.cycle()
    before = len(world.list_requests())
    world.cycle()
    idle = len(world.list_requests()) - before  # nothing watched: nothing asked

    executions = [wait_for(world, ids[n % jobs]) for n in range(100)]
    before = len(world.list_requests())
    world.cycle()

    assert len(world.list_requests()) - before - idle <= math.ceil(100 / 100)
    for job in ids:
        world.sim.set_state(job, "SUCCEED")
    world.cycle()
    assert [len(done(world, e)) for e in executions] == [1] * 100


def test_a_token_slack_refuses_fails_that_completion_only(world: TrackingWorld) -> None:
    world.slack.function_token_lifetime = 0.0  # expired by the time the job ends
    job = world.running()
    execution = wait_for(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.cycle()

    assert done(world, execution) == []
    [row] = [r for r in world.tracking.outbox.rows() if r.kind == completions.KIND]
    assert row.status == "failed" and "token_expired" in (row.last_error or "")
    assert world.tracking.outbox.workspace_pause() is None  # not the workspace's token


def test_a_sender_that_died_after_slack_took_the_completion_does_not_repeat_it(
        world: TrackingWorld) -> None:
    job = world.running()
    execution = wait_for(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()  # the end is recorded; nothing is sent yet
    outbox, now = world.tracking.outbox, world.clock()
    [row] = begun_then_died(outbox, "dying", now=now, lease=timedelta(seconds=60),
                            channel=completions.DESTINATION)
    SlackStepCompleter(world.slack.url).complete(execution.id, execution.token,
                                                 row.payload["outputs"])
    # ...and the sender died before recording it. Its lease runs out.
    world.clock.advance(120)

    world.tracking.sender.send_due()

    assert len(done(world, execution)) == 1
    [after] = [r for r in outbox.rows() if r.kind == completions.KIND]
    assert (after.status, after.attempts) == ("sent", 2)


class _AlreadyDone:
    """Slack's answer when an earlier attempt completed the execution."""

    def complete(self, execution_id: str, token: str, outputs: Any) -> None:
        raise StepGone("functions.completeSuccess: execution_not_in_running_state",
                       error="execution_not_in_running_state")

    def fail(self, execution_id: str, token: str, error: str) -> None:
        self.complete(execution_id, token, {})


def _row(attempts: int) -> Notification:
    return Notification(1, completions.KIND, completions.DESTINATION,
                        completions.succeeded("Fx1", {}), "step:Fx1", "pending", attempts, 0,
                        T0, None, None, None, None, T0, None, None)


def test_an_attempt_that_reached_slack_before_a_crash_is_not_repeated(
        world: TrackingWorld) -> None:
    with world.tracking.store.begin() as conn:
        conn.execute(step_runs.insert().values(execution_id="Fx1", callback_id=WAIT_FOR_JOB,
                                               started_at=T0, token="xwfp-1"))
    deliver = completions.Completions(world.tracking.store, _AlreadyDone()).deliver

    first = deliver(_row(attempts=0))  # a first attempt refused: the step ended otherwise
    next(first)
    with pytest.raises(DeliveryError, match="no longer runs"):
        first.send(None)

    steps = deliver(_row(attempts=1))  # in doubt: refused as completed means done
    next(steps)
    with pytest.raises(StopIteration) as finished:
        steps.send(None)
    assert finished.value.value == "completed"


def test_retention_deletes_old_step_runs(world: TrackingWorld) -> None:
    from bot.tracking.store.retention import prune

    old = wait_for(world, world.running())
    world.clock.advance(timedelta(days=8).total_seconds())
    new = wait_for(world, world.running())

    done_pruning = prune(world.tracking.store, now=world.clock(), retention=timedelta(days=7))

    assert done_pruning.steps == 1
    with world.tracking.store.begin() as conn:
        left = list(conn.execute(sa.select(step_runs.c.execution_id)).scalars())
    assert left == [new.id] and old.id not in left
