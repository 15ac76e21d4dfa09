"""Whether MetaStudio honours ``job_ids`` (JobIdsSupport): the evidence rules on an
injected clock (strikes in a row, the recheck), the evidence each batch answer gives, and
the exact log lines an operator reads when the verdict changes. The simulator over
loopback HTTP, and tests/fakes/raw_http.py for answers it never gives."""

from __future__ import annotations

import logging

from bot.metastudio.auth import TokenAuth
from bot.metastudio.client import JobIdsSupport, MetaStudioClient
from bot.metastudio.transport import RetryPolicy, Timeouts
from tests.fakes import raw_http
from tests.fixtures.metastudio import PROJECT_ID, TOKEN


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def raw_client(url: str) -> MetaStudioClient:
    return MetaStudioClient(url, PROJECT_ID, TokenAuth(TOKEN),
                            retry=RetryPolicy(retries=0, budget=0),
                            timeouts=Timeouts(connect=1.0, read=2.0, deadline=5.0))


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- JobIdsSupport ---------------------------------------------------------------------


def test_job_ids_are_worth_asking_until_decided_and_again_after_recheck() -> None:
    clock = Clock(0.0)
    support = JobIdsSupport(strikes=3, recheck=600.0, clock=clock)
    assert support.worth_asking() and support.honoured is None

    clock.now = 100.0
    for _ in range(3):
        support.record(False)
    assert support.honoured is False and not support.worth_asking()
    clock.now = 699.9
    assert not support.worth_asking()
    clock.now = 700.0  # exactly `recheck` seconds after the verdict
    assert support.worth_asking()


def test_the_defaults_are_three_strikes_and_ten_minutes() -> None:
    clock = Clock(5.0)
    support = JobIdsSupport(clock=clock)
    support.record(False)
    support.record(False)
    assert support.honoured is None
    support.record(False)
    assert support.honoured is False
    clock.now = 604.9
    assert not support.worth_asking()
    clock.now = 605.0
    assert support.worth_asking()


def test_strikes_must_come_in_a_row() -> None:
    support = JobIdsSupport(strikes=3, clock=Clock())
    support.record(False)
    support.record(False)
    support.record(True)  # a filtered answer starts the count again
    support.record(False)
    support.record(False)
    assert support.honoured is True
    support.record(None)  # inconclusive: changes nothing
    assert support.honoured is True
    support.record(False)
    assert support.honoured is False


def test_each_later_miss_restarts_the_recheck_wait() -> None:
    clock = Clock(0.0)
    support = JobIdsSupport(strikes=1, recheck=10.0, clock=clock)
    support.record(False)
    clock.now = 10.0
    assert support.worth_asking()
    support.record(False)  # the recheck was unfiltered again
    assert not support.worth_asking()
    clock.now = 20.0
    assert support.worth_asking()


def test_the_verdicts_are_logged_once_each_with_the_request_id(caplog) -> None:
    support = JobIdsSupport(strikes=2, recheck=30.0, clock=Clock())
    with caplog.at_level(logging.INFO, logger="bot.metastudio.client"):
        support.record(True, request_id="r-0")  # honoured from the start: nothing to say
        support.record(False, request_id="r-1")
        support.record(False, request_id="r-2")
        support.record(False, request_id="r-3")  # already decided: not said again
        support.record(True, request_id="r-4")
        support.record(True, request_id="r-5")

    assert warnings(caplog) == [
        "MetaStudio ignores job_ids (2 unfiltered answers in a row, the last request id "
        "r-2): listing by state instead, checking again in 30 s",
        "MetaStudio filters by job_ids again (request id r-4)",
    ]


# -- lookup_batch ----------------------------------------------------------------------


def test_an_exact_count_is_evidence_of_filtering(simulator, metastudio_client) -> None:
    ids = [simulator.add_job() for _ in range(2)]

    assert set(metastudio_client.get_jobs(ids)) == set(ids)

    assert metastudio_client.supports_job_ids is True


def test_an_unfiltered_batch_is_logged_and_counted_with_its_request_id(server,
                                                                       caplog) -> None:
    server.behaviour = raw_http.ok({"count": 5, "jobs": [
        {"job_id": "asked"}, {"job_id": "x1"}, {"job_id": "x2"}, {"job_id": "x3"}]})
    client = raw_client(server.url)

    with caplog.at_level(logging.INFO, logger="bot.metastudio.client"):
        for _ in range(3):
            assert client.lookup_batch(["asked", "other"]) is None

    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["a job_ids answer was not filtered (asked 2 ids, got count=5 with 3 "
                     "others; request id req-raw-1)"] * 3
    assert warnings(caplog) == [
        "MetaStudio ignores job_ids (3 unfiltered answers in a row, the last request id "
        "req-raw-1): listing by state instead, checking again in 600 s"]


def test_a_filtered_batch_after_the_verdict_is_logged_with_its_request_id(server,
                                                                          caplog) -> None:
    client = raw_client(server.url)
    client.job_ids = JobIdsSupport(strikes=1, clock=Clock())
    server.behaviour = raw_http.ok({"count": 2, "jobs": [{"job_id": "a"}, {"job_id": "z"}]})
    assert client.lookup_batch(["a"]) is None
    server.behaviour = raw_http.ok({"count": 1, "jobs": [{"job_id": "a"}]})
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger="bot.metastudio.client"):
        assert set(client.lookup_batch(["a"]) or {}) == {"a"}

    assert warnings(caplog) == ["MetaStudio filters by job_ids again (request id req-raw-1)"]
    assert client.supports_job_ids is True
