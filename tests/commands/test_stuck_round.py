"""``stuck`` reads the unfinished jobs and the last week's history side by side
(bot/domain/stuck.py, ``read``): both in flight at once over the simulator, and one
of them failing answers with what MetaStudio said."""

from __future__ import annotations

from bot.commands.router import Router
from tests.commands.test_router import UTC_USER, shown


def test_the_unfinished_jobs_and_the_history_are_read_at_once(simulator, jobs_client) -> None:
    simulator.add_job(state="WAITING")
    simulator.add_job(state="SUCCEED")
    meeting = simulator.faults.meet("/digital-human-videos?", parties=2)

    reply = Router(jobs_client).handle("stuck", UTC_USER)

    assert meeting.met and "went wrong" not in reply.text
    states = sorted(dict(r.params)["state"] for r in simulator.requests)
    assert states == ["SUCCEED,FAILED", "WAITING,PROCESSING"]


def test_a_failed_history_read_is_the_answer(simulator, jobs_client) -> None:
    simulator.add_job(state="WAITING")
    simulator.faults.fail_next(500, times=20, where="state=SUCCEED")

    text = shown(Router(jobs_client).handle("stuck", UTC_USER))

    assert "HTTP 500" in text and "request id" in text


def test_a_given_duration_reads_no_history(simulator, jobs_client) -> None:
    simulator.add_job(state="WAITING")

    Router(jobs_client).handle("stuck 2h", UTC_USER)

    assert [dict(r.params)["state"] for r in simulator.requests] == ["WAITING,PROCESSING"]
