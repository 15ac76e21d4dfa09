"""The workspace-wide pause (bot/tracking/delivery/pause.py) step by step: the probe schedule, what
is logged and when, the shared record in the database, and the gauge. The delivery
scenarios (test_delivery_faults.py) see the pause from outside; these pin its rules
(bench/MUTATION.md lists the mutants they kill). ``auth.test`` goes to the fake Slack
through the real SlackMessenger."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from slack_sdk import WebClient

from bot.slack.messenger import SlackMessenger
from bot.tracking.delivery.outbox import Outbox
from bot.tracking.delivery.pause import WorkspacePause
from bot.tracking.store.database import Store
from tests.fakes.slack import FakeSlack
from tests.fixtures.tracking import T0

EVERY, MOST, LOG_EVERY = timedelta(seconds=5), timedelta(seconds=20), timedelta(minutes=1)


def _gauge() -> float | None:
    return REGISTRY.get_sample_value("videojobs_delivery_paused")


def _pause(outbox: Outbox, slack_client: WebClient | None) -> WorkspacePause:
    probe = SlackMessenger(slack_client).probe if slack_client is not None else None
    return WorkspacePause(outbox, probe, probe_every=EVERY, max_probe_every=MOST,
                          log_every=LOG_EVERY)


def _waiting(store: Store, outbox: Outbox, n: int) -> None:
    with store.begin() as conn:
        for i in range(n):
            outbox.enqueue(conn, kind="sub", channel="C1", dedupe_key=f"k{i}",
                           payload={}, now=T0)


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "bot.tracking.delivery.pause" and r.levelno == logging.ERROR]


def _probes(fake_slack: FakeSlack) -> int:
    return len(fake_slack.calls_to("auth.test"))


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_without_a_pause_delivery_is_allowed_and_nothing_is_probed(
    outbox: Outbox, slack_client: WebClient, fake_slack: FakeSlack
) -> None:
    _pause(outbox, slack_client).start("token_revoked", T0)  # the gauge shows 1
    outbox.resume_workspace()  # lifted by another process
    assert _pause(outbox, slack_client).allows_delivery(T0)
    assert _gauge() == 0
    assert _probes(fake_slack) == 0


def test_start_records_the_pause_for_every_sender_and_says_so_once(
    store: Store, outbox: Outbox, slack_client: WebClient, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery.pause")
    _waiting(store, outbox, 3)
    pause = _pause(outbox, slack_client)
    pause.start("token_revoked", T0)
    assert outbox.workspace_pause() == ("token_revoked", T0)
    assert _gauge() == 1
    [error] = _errors(caplog)
    assert error == (
        "Slack refuses SLACK_BOT_TOKEN (token_revoked): delivery is paused and 3 "
        "notifications wait, none is lost. Fix SLACK_BOT_TOKEN (reinstall the app to get "
        "a new token); delivery resumes by itself once auth.test accepts it (next check "
        "in 0:00:05).")
    # Not probed before probe_every, and not logged again before log_every.
    assert not pause.allows_delivery(_at(4.9))
    assert _probes(fake_slack) == 0 and len(_errors(caplog)) == 1


def test_a_refused_probe_doubles_the_wait_up_to_the_cap_and_keeps_the_newest_reason(
    outbox: Outbox, slack_client: WebClient, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery.pause")
    pause = _pause(outbox, slack_client)
    pause.start("token_revoked", T0)
    fake_slack.token_error = "invalid_auth"
    probes_at = []
    for tick in range(0, 120):  # every second for two minutes
        before = _probes(fake_slack)
        assert not pause.allows_delivery(_at(tick))
        if _probes(fake_slack) > before:
            probes_at.append(tick)
    # First after probe_every (5 s), then waits of 5, 10, 20 (max_probe_every), 20 …
    assert probes_at[:6] == [5, 10, 20, 40, 60, 80]
    assert pause.state is not None and pause.state.reason == "invalid_auth"
    assert _gauge() == 1
    errors = _errors(caplog)
    assert len(errors) == 2  # at the start, and log_every (60 s) later
    assert "(invalid_auth)" in errors[1] and "next check in 0:00:20" in errors[1]


def test_a_probe_slack_does_not_answer_keeps_the_pause_quietly(
    outbox: Outbox, slack_client: WebClient, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery.pause")
    pause = _pause(outbox, slack_client)
    pause.start("token_revoked", T0)
    fake_slack.outage = 503
    assert not pause.allows_delivery(_at(65))  # probe due, and the log too
    assert _probes(fake_slack) == 1
    assert pause.state is not None
    assert pause.state.reason == "token_revoked"  # no answer says nothing about the token
    assert pause.state.next_probe == _at(70) and pause.state.probe_delay == 2 * EVERY
    assert len(_errors(caplog)) == 1  # only the start's: this branch does not log again
    [quiet] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert quiet.startswith("auth.test did not answer (") and "503" in quiet
    assert quiet.endswith("); delivery stays paused")
    assert outbox.workspace_pause() is not None


def test_a_working_token_lifts_the_pause_everywhere(
    store: Store, outbox: Outbox, slack_client: WebClient, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery.pause")
    _waiting(store, outbox, 2)
    pause = _pause(outbox, slack_client)
    pause.start("token_revoked", T0)
    assert pause.allows_delivery(_at(5))
    assert _probes(fake_slack) == 1
    assert pause.state is None and outbox.workspace_pause() is None
    assert _gauge() == 0
    resumed = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert resumed == ["Slack accepts SLACK_BOT_TOKEN again: delivery resumed (2 waiting)"]
    assert pause.allows_delivery(_at(6)) and _probes(fake_slack) == 1


def test_a_pause_another_process_recorded_is_checked_at_once_with_its_reason(
    outbox: Outbox, slack_client: WebClient, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery.pause")
    outbox.pause_workspace("account_inactive", now=T0)
    fake_slack.token_error = "account_inactive"
    pause = _pause(outbox, slack_client)
    now = _at(100)
    assert not pause.allows_delivery(now)
    assert _probes(fake_slack) == 1  # at once, not after probe_every
    assert pause.state is not None
    assert (pause.state.reason, pause.state.next_probe, pause.state.probe_delay) == (
        "account_inactive", now + EVERY, 2 * EVERY)
    [error] = _errors(caplog)  # logged at once too
    assert "(account_inactive)" in error and "next check in 0:00:05" in error
    assert pause.state.next_log == now + LOG_EVERY
    assert _gauge() == 1


def test_a_pause_recorded_elsewhere_is_lifted_here_when_the_token_works(
    outbox: Outbox, slack_client: WebClient, fake_slack: FakeSlack,
) -> None:
    outbox.pause_workspace("invalid_auth", now=T0)
    pause = _pause(outbox, slack_client)
    assert pause.allows_delivery(_at(1))
    assert _probes(fake_slack) == 1
    assert outbox.workspace_pause() is None and pause.state is None


def test_without_a_probe_the_pause_lifts_at_its_first_check(outbox: Outbox) -> None:
    pause = _pause(outbox, None)  # the console demo: no token to check
    pause.start("token_revoked", T0)
    assert not pause.allows_delivery(_at(4))
    assert pause.allows_delivery(_at(5))
    assert outbox.workspace_pause() is None


def test_the_log_never_shows_a_negative_wait(
    outbox: Outbox, slack_client: WebClient, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery.pause")
    pause = _pause(outbox, slack_client)
    pause.start("token_revoked", T0)
    assert pause.state is not None
    pause.state.next_probe = _at(30)
    pause._log(_at(60))  # the next probe is overdue by 30 s
    assert _errors(caplog)[-1].endswith("(next check in 0:00:00).")
    pause._log(_at(61))  # log_every has not passed since
    assert len(_errors(caplog)) == 2
    pause._log(_at(120))  # exactly log_every later
    assert len(_errors(caplog)) == 3


def test_a_shared_pause_keeps_its_reason_while_slack_does_not_answer(
    outbox: Outbox, slack_client: WebClient, fake_slack: FakeSlack,
) -> None:
    outbox.pause_workspace("account_inactive", now=T0)
    fake_slack.outage = 503
    pause = _pause(outbox, slack_client)
    assert not pause.allows_delivery(_at(1))
    assert pause.state is not None and pause.state.reason == "account_inactive"
