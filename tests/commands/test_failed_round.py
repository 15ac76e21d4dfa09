"""``failed`` over more than a page of failures (bot/commands/router.py, ``_triage``):
answered after the first page, its failures grouped from that page, then replaced once
every failure is read (the other pages side by side). Over the simulator."""

from __future__ import annotations

from bot.commands.router import Router
from tests.commands.test_router import UTC_USER, shown


def add_failures(simulator, codes: dict[str, int]) -> None:
    for code, count in codes.items():
        for _ in range(count):
            simulator.add_job(state="FAILED", error_code=code, error_msg="x")


def offsets(simulator) -> list[str]:
    return sorted(dict(r.params).get("offset", "0") for r in simulator.requests)


def test_more_than_a_page_is_answered_after_it_and_replaced(simulator, jobs_client) -> None:
    add_failures(simulator, {"MSS.A": 90, "MSS.B": 60})

    first = Router(jobs_client).handle("failed 24h", UTC_USER)

    assert offsets(simulator) == ["0"]  # one read so far
    assert "counting all 150" in shown(first) and "150" in first.text
    assert first.followup is not None
    later = first.followup()

    assert later is not None and later.replace_original
    text = shown(later)
    assert "90× MSS.A" in text and "60× MSS.B" in text
    assert "counting all" not in text and "newest failures only" not in text
    assert offsets(simulator) == ["0", "100"]


def test_a_page_or_less_needs_no_second_answer(simulator, jobs_client) -> None:
    add_failures(simulator, {"MSS.A": 3})

    reply = Router(jobs_client).handle("failed 24h", UTC_USER)

    assert reply.followup is None and "3× MSS.A" in shown(reply)
    assert offsets(simulator) == ["0"]


def test_a_failed_later_page_leaves_the_newest_page_said_so(simulator, jobs_client) -> None:
    add_failures(simulator, {"MSS.A": 150})
    first = Router(jobs_client).handle("failed 24h", UTC_USER)
    simulator.faults.fail_next(500, times=20, where="offset=100")

    later = first.followup() if first.followup else None

    assert later is not None and later.replace_original
    assert "newest failures only" in shown(later) and "counting all" not in shown(later)
    assert "HTTP 500" not in shown(later)


def test_the_previous_design_answers_once(simulator, jobs_client) -> None:
    add_failures(simulator, {"MSS.A": 150})

    reply = Router(jobs_client, side_by_side=False).handle("failed 24h", UTC_USER)

    assert reply.followup is None and "150× MSS.A" in shown(reply)
