"""``status`` of an id the list does not return (a typo, or a job older than the list's
month): answered after the list read, then looked for in both per-type detail
operations side by side, and the answer replaced (bot/commands/router.py, ``_status``).
Over the simulator: its meetings prove reads were in flight at once, without clocks;
its faults fail one of the side-by-side reads."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.commands.router import Router
from tests.commands.test_router import UTC_USER, shown

DETAILS = "-digital-human-videos/"


@pytest.fixture
def router(jobs_client) -> Router:
    return Router(jobs_client)


def detail_paths(simulator) -> list[str]:
    return sorted(r.path.rsplit("/", 2)[-2] for r in simulator.requests if DETAILS in r.path)


def old_job(simulator, sim_clock, job_type: str = "2D_DIGITAL_HUMAN_VIDEO") -> str:
    """A job 40 days old that only the detail operations find (the list sees a month)."""
    simulator.faults.list_month_only = True
    return simulator.add_job(state="SUCCEED", job_type=job_type, asset_name="Old but gold",
                             create_time=sim_clock() - timedelta(days=40))


def test_both_detail_reads_are_in_flight_at_once(simulator, router) -> None:
    meeting = simulator.faults.meet(f"{DETAILS}nosuchjob", parties=2)

    first = router.handle("status nosuchjob", UTC_USER)
    assert detail_paths(simulator) == []  # answered after the list read alone
    later = first.followup() if first.followup else None

    assert meeting.met
    assert later is not None and later.replace_original
    assert "No job nosuchjob found." in shown(later) and "looking" not in shown(later)
    assert detail_paths(simulator) == ["2d-digital-human-videos", "photo-digital-human-videos"]


def test_several_unknown_ids_are_all_looked_up_at_once(simulator, router) -> None:
    meeting = simulator.faults.meet(DETAILS, parties=6)

    first = router.handle("status typo-1 typo-2 typo-3", UTC_USER)
    assert first.followup is not None
    first.followup()

    assert meeting.met


@pytest.mark.parametrize("job_type", ["2D_DIGITAL_HUMAN_VIDEO", "PHOTO_DIGITAL_HUMAN_VIDEO"])
def test_an_old_job_found_by_a_detail_read_replaces_the_first_answer(
        simulator, sim_clock, router, job_type) -> None:
    job_id = old_job(simulator, sim_clock, job_type)
    recent = simulator.add_job(state="FAILED", error_code="MSS.00000004", error_msg="boom")

    first = router.handle(f"status {recent} {job_id}", UTC_USER)

    assert "looking among older jobs" in shown(first) and f"No job {job_id}" in shown(first)
    assert "MSS.00000004" in shown(first)
    later = first.followup() if first.followup else None
    assert later is not None and later.replace_original
    text = shown(later)
    assert "Old but gold" in text and "MSS.00000004" in text
    assert "No job" not in text and "looking" not in text
    # The other operation's 404 is no error: both were asked, one found it.
    assert detail_paths(simulator) == ["2d-digital-human-videos", "photo-digital-human-videos"]


@pytest.mark.parametrize("status", [500, 429, 400])
def test_a_failed_detail_read_does_not_hide_what_the_other_found(
        simulator, sim_clock, router, status) -> None:
    job_id = old_job(simulator, sim_clock)  # a 2D job: the photo read fails
    simulator.faults.fail_next(status, times=20, where=f"photo{DETAILS}")

    first = router.handle(f"status {job_id}", UTC_USER)
    later = first.followup() if first.followup else None

    assert later is not None and "Old but gold" in shown(later)
    assert "Couldn't" not in shown(later)


@pytest.mark.parametrize(("status", "said"), [
    (500, "HTTP 500"), (429, "HTTP 429"), (403, "HTTP 403"),
])
def test_an_id_a_failed_read_could_not_check_says_so_with_the_request_id(
        simulator, router, caplog, status, said) -> None:
    known = simulator.add_job(state="SUCCEED", asset_name="Launch teaser")
    simulator.faults.fail_next(status, times=20, where=f"2d{DETAILS}")
    caplog.set_level(logging.INFO, logger="bot.commands.router")

    first = router.handle(f"status {known} typo-1", UTC_USER)
    later = first.followup() if first.followup else None

    assert later is not None and later.replace_original
    text = shown(later)
    # Nothing lost: the card found by the list stays; the unchecked id is not called
    # missing but says what MetaStudio answered, with the request id to quote.
    assert "Launch teaser" in text
    assert "No job typo-1" not in text
    assert "Couldn't look for typo-1 among older jobs" in text and said in text
    assert "request id" in text
    assert "not checked" in later.text
    assert "older look-up(s) failed" in caplog.text


def test_a_detail_read_that_times_out_says_so(simulator, router) -> None:
    # Longer than the client's read timeout (tests/fixtures/metastudio.py), every retry.
    simulator.faults.hold(f"photo{DETAILS}typo-1", seconds=1.5, times=10)

    first = router.handle("status typo-1", UTC_USER)
    later = first.followup() if first.followup else None

    assert later is not None
    assert "Couldn't look for typo-1 among older jobs" in shown(later)
    assert "No job typo-1" not in shown(later)


def test_an_id_the_list_returned_needs_no_second_answer(simulator, router) -> None:
    job_id = simulator.add_job(state="SUCCEED")

    reply = router.handle(f"status {job_id}", UTC_USER)

    assert reply.followup is None and "looking" not in shown(reply)
    assert detail_paths(simulator) == []


def test_the_previous_design_answers_once_after_every_read(simulator, metastudio_client,
                                                           jobs_client) -> None:
    """``VIDEOJOBS_SEQUENTIAL_READS`` (benchmarks only): one answer, detail reads one
    after the other, so they never meet."""
    metastudio_client.side_by_side = False
    meeting = simulator.faults.meet(f"{DETAILS}nosuchjob", parties=2, timeout=0.5)

    reply = Router(jobs_client, side_by_side=False).handle("status nosuchjob", UTC_USER)

    assert reply.followup is None and "No job nosuchjob found." in shown(reply)
    assert not meeting.met
    assert [r.path.rsplit("/", 2)[-2] for r in simulator.requests[1:]] == [
        "2d-digital-human-videos", "photo-digital-human-videos"]
