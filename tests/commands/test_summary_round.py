"""``summary`` in one round (bot/commands/router.py, ``_summary``): a read per state, the
oldest waiting job and the quota, all in flight at once, over the simulator; one of them
failing still answers, saying what MetaStudio answered."""

from __future__ import annotations

import pytest

from bot.commands.router import Router
from bot.metastudio.operations import JobOperations
from tests.commands.test_router import UTC_USER, shown

QUOTA = "/tenants/resources-usage"


@pytest.fixture
def router(jobs_client) -> Router:
    return Router(jobs_client, operations=JobOperations.of(jobs_client))


def test_every_read_of_a_summary_is_in_flight_at_once(simulator, router) -> None:
    for state in ["SUCCEED"] * 150 + ["FAILED"] * 3 + ["WAITING"]:  # past one page
        simulator.add_job(state=state)
    # Six states and the oldest waiting job on the list, and the quota: every request.
    meeting = simulator.faults.meet("/v1/", parties=6 + 1 + 1)

    text = shown(router.handle("summary 24h", UTC_USER))

    assert meeting.met
    assert "Succeeded: *150*" in text and "Failed: *3*" in text
    assert len(simulator.requests) == 6 + 1 + 1  # one round, nothing after it


def test_a_summary_of_a_small_window_reads_everything_it_shows(simulator, router) -> None:
    for code in ("MSS.A", "MSS.B", "MSS.A"):
        simulator.add_job(state="FAILED", error_code=code, error_msg="x")

    text = shown(router.handle("summary 24h", UTC_USER))

    assert "2× MSS.A" in text and "1× MSS.B" in text and "sample" not in text


@pytest.mark.parametrize("status", [500, 429])
def test_a_failed_state_read_answers_with_what_metastudio_said(simulator, router,
                                                              status) -> None:
    simulator.add_job(state="FAILED")
    simulator.faults.fail_next(status, times=20, where="state=FAILED")

    reply = router.handle("summary 24h", UTC_USER)

    assert f"HTTP {status}" in shown(reply) and "request id" in shown(reply)


def test_a_failed_quota_read_still_answers_the_summary(simulator, router) -> None:
    simulator.add_job(state="SUCCEED")
    simulator.faults.fail_next(500, times=20, where=QUOTA)

    text = shown(router.handle("summary 24h", UTC_USER))

    assert "Succeeded: *1*" in text and "HTTP 500" not in text


def test_the_previous_design_reads_the_window_first(simulator, jobs_client) -> None:
    """``VIDEOJOBS_SEQUENTIAL_READS`` (benchmarks only): the window's first page, then
    its other pages once the count is known."""
    for _ in range(150):
        simulator.add_job(state="SUCCEED")
    router = Router(jobs_client, side_by_side=False)

    assert "Succeeded: *150*" in shown(router.handle("summary 24h", UTC_USER))

    window = [dict(r.params) for r in simulator.requests if "create_since" in dict(r.params)]
    assert sorted(p["offset"] for p in window) == ["0", "100"]
    assert all("state" not in p for p in window)
