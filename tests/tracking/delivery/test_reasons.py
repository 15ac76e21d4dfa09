"""A failure's reply and announcement say why it failed (issue #24): the frozen model,
the rejected voice, MetaStudio's own reason. Looked up once per job, never for a job
that did not fail, and a look-up that fails leaves the message as it was."""

from __future__ import annotations

from bot.commands.types import Subscribe
from bot.domain.explain import Reason
from bot.metastudio.errors import UnavailableError
from bot.metastudio.models import Job
from bot.simulator.configs import FROZEN_MODEL
from bot.tracking.delivery.reasons import FailureReasons
from bot.views import actions
from tests.fixtures.simulator import BODY_2D
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import ctx, track

ONCALL = "S0ONCALL"
FROZEN = {"model_asset_id": FROZEN_MODEL, "voice_config": BODY_2D["voice_config"],
          "shoot_scripts": BODY_2D["shoot_scripts"]}


def _lookups(world: TrackingWorld, since: int = 0) -> list[str]:
    """Detail and asset-summary requests the simulator saw from index ``since``."""
    return [r.path for r in world.sim.requests[since:]
            if r.path.endswith("/digital-assets/summarys")
            or ("-videos/" in r.path and r.method == "GET")]


def _fail(world: TrackingWorld, **job) -> str:
    job_id = world.running(**job)
    world.cycle()
    world.sim.set_state(job_id, "FAILED", error_code="MSS.10001006")
    world.cycle()
    return job_id


def test_an_announcement_says_the_model_is_frozen_and_asks_once(world: TrackingWorld):
    world.tracking.service.subscribe(ctx(), Subscribe("failed", notify_group=ONCALL),
                                     world.clock())
    world.cycle()
    before = len(world.sim.requests)

    _fail(world, config=FROZEN)

    [page] = [m for m in world.slack.posts("C1") if m.metadata and m.thread_ts is None]
    assert "*Why:*" in str(page.blocks) and "Dora (2D model)" in str(page.blocks)
    assert "PORTRAIT_RIGHTS" in str(page.blocks)
    asked = _lookups(world, before)
    assert len(asked) == 2  # the job's detail, then its assets' summaries
    # Acknowledging redraws the announcement: with the same reason, from memory.
    value = next(e["value"] for b in page.blocks if b["type"] == "actions"
                 for e in b["elements"] if e["action_id"] == actions.ACKNOWLEDGE)
    world.tracking.service.acknowledge(ctx(user="U7"), value, world.clock())
    edited = world.slack.message("C1", page.ts)
    assert edited is not None and "Dora (2D model)" in str(edited.blocks)
    assert "<@U7> has it" in str(edited.blocks)
    assert _lookups(world, before) == asked


def test_a_tracked_failure_reply_says_why_and_a_success_costs_no_look_up(world: TrackingWorld):
    failing = world.running(config=FROZEN)
    fine = world.running()
    track(world, failing, fine)
    world.cycle()
    before = len(world.sim.requests)

    world.sim.set_state(fine, "SUCCEED")
    world.cycle()
    assert _lookups(world, before) == []
    world.sim.set_state(failing, "FAILED", error_code="MSS.10001006")
    world.clock.advance(5)  # past the channel's pace after the success's reply
    world.cycle()

    reply = next(m for m in world.slack.posts("C1") if m.thread_ts and failing in m.text)
    assert "*Why:*" in str(reply.blocks) and "PORTRAIT_RIGHTS" in str(reply.blocks)


def _job(job_id: str, state: str = "FAILED") -> Job:
    return Job.model_validate({"job_id": job_id, "state": state,
                               "job_type": "2D_DIGITAL_HUMAN_VIDEO"})


class _Down:
    """A detail reader that fails, counting how often it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    def get_detail(self, job_id: str, *, job_type: str | None = None,
                   refresh: bool = False):
        self.asked += 1
        raise UnavailableError("MetaStudio is down")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_look_up_says_nothing_and_pauses_look_ups_for_a_while():
    down, clock = _Down(), _Clock()
    reasons = FailureReasons(down, library=None, quiet=60, clock=clock)  # type: ignore[arg-type]

    assert reasons(_job("a")) == ()
    assert reasons(_job("b")) == ()  # within the quiet minute: not asked
    assert down.asked == 1
    clock.now = 61
    assert reasons(_job("c")) == () and down.asked == 2


def test_only_failed_blocked_and_canceled_jobs_are_looked_up():
    down = _Down()
    reasons = FailureReasons(down, library=None)  # type: ignore[arg-type]

    for state in ("SUCCEED", "WAITING", "PROCESSING"):
        assert reasons(_job("a", state)) == ()
    assert down.asked == 0


def test_an_answer_is_reused_for_the_same_job(mocker):
    from bot.tracking.delivery import reasons as module

    said = (Reason(kind="job", code="X", detail="y"),)
    ask = mocker.patch.object(module, "explain_ended", return_value={"a": said})
    reasons = FailureReasons(_Down(), library=None)  # type: ignore[arg-type]

    assert reasons(_job("a")) == said and reasons(_job("a")) == said
    assert ask.call_count == 1
