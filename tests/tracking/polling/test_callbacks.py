"""MetaStudio's job callbacks: signed by the simulator as MetaStudio signs them, sent over
real HTTP to the receiver on loopback, and announced through the same outbox as polls.
What a callback records (the poller's ``observe``): only within the retention, with the
fewest requests (a watched job's detail, a script learnt only when a filter needs it),
every tracking closed, each subscription's filters checked, and nothing for a job not
yet ended or a subscription not yet adopted."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.metastudio.models import Job, JobState
from bot.metastudio.query import QueryJobType
from bot.simulator.callbacks import sign_callback_url
from bot.tracking.polling.callbacks import (
    MAX_AHEAD,
    MAX_BODY,
    PATH,
    CallbackReceiver,
    SendSoon,
    expected_secret,
    wsgi_handler,
)
from bot.tracking.polling.poller import Poller
from bot.tracking.store.tables import callback_receipts
from tests.fixtures.tracking import PROJECT_ID, TrackingWorld
from tests.tracking.helpers import jobs_told, subscribe, track
from tests.tracking.polling.helpers import NoUpdateTimes

KEY = "callback-key-0123456789"


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Push:
    url: str
    receiver: CallbackReceiver
    world: TrackingWorld

    def job(self, **job: Any) -> str:
        """A running job whose create call asked for a callback to us."""
        return self.world.running(callback_url=self.url, callback_key=KEY, **job)

    def receipts(self) -> int:
        with self.world.tracking.store.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(callback_receipts)
                                ).scalar_one()


@pytest.fixture
def push(world: TrackingWorld) -> Iterator[Push]:
    """The receiver behind a real HTTP server; the worker's loop is not running (its
    poll interval is 30 s), so only a callback can make a post happen soon."""
    tracking = world.tracking
    receiver = CallbackReceiver(KEY, tracking.store, tracking.poller, clock=world.clock,
                                wake=SendSoon(tracking.sender.send_due))
    server = make_server("127.0.0.1", 0, wsgi_handler(receiver), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}{PATH}"
    receiver.public_url = url
    yield Push(url, receiver, world)
    server.shutdown()
    thread.join()


def test_a_valid_callback_is_announced_well_before_the_next_poll(push: Push) -> None:
    world = push.world
    assert world.settings.model_copy(update={"poll_interval_seconds": 30})
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(5)
    job = push.job()
    world.sim.set_state(job, "FAILED")

    started = time.monotonic()
    [delivery] = world.sim.deliver_callbacks()
    assert delivery.status == 200
    assert world.slack.wait_for(
        lambda slack: any(job in m.text for m in slack.posts("C1")), timeout=5)
    assert time.monotonic() - started < 5  # a poll would take up to 30 s


def test_the_body_is_never_trusted_for_the_state(push: Push) -> None:
    world = push.world
    subscribe(world, "all")
    world.cycle()
    job = push.job()  # still running: the callback lies
    track(world, job)
    signed = sign_callback_url(push.url, KEY, world.clock())
    answer = requests.post(signed, json={"result": "SUCCEED", "job_id": job, "asset_id": "x"})
    assert answer.status_code == 200 and answer.json()["enqueued"] == 0
    assert world.tracking.outbox.rows() == []
    assert [t.job_id for t in world.tracking.store.channel_tracked("C1")] == [job]


@pytest.mark.parametrize("case", ["forged", "stale", "replayed", "unsigned", "wrong key"])
def test_a_forged_stale_or_replayed_callback_is_refused_and_changes_nothing(
    push: Push, case: str
) -> None:
    world = push.world
    job = push.job()
    track(world, job)
    world.sim.set_state(job, "FAILED")
    body = {"result": "FAILED", "asset_id": "a", "job_id": job}
    url = sign_callback_url(push.url, KEY, world.clock())
    if case == "forged":
        url = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    elif case == "stale":
        url = sign_callback_url(push.url, KEY, world.clock() - timedelta(minutes=6))
    elif case == "unsigned":
        url = push.url
    elif case == "wrong key":
        url = sign_callback_url(push.url, "another-key", world.clock())
    elif case == "replayed":
        assert requests.post(url, json=body).status_code == 200
        # Its send pass (in the background; it looks up why the job failed) is done
        # before the replay is counted.
        assert world.slack.wait_for(
            lambda slack: any(job in m.text for m in slack.posts("C1")), timeout=10)
        world.tracking.outbox.store.engine.dispose()
        with world.tracking.store.begin() as conn:
            conn.execute(sa.text("DELETE FROM outbox"))
    requests_before, receipts_before = len(world.sim.requests), push.receipts()

    answer = requests.post(url, json=body)

    assert answer.status_code == 401
    assert world.tracking.outbox.rows() == []
    assert len(world.sim.requests) == requests_before  # not even a look-up
    assert push.receipts() == receipts_before


def test_a_callback_and_a_poll_seeing_the_same_end_announce_once(push: Push) -> None:
    world = push.world
    subscribe(world, "failed", channel="C2")
    world.cycle()
    world.clock.advance(5)
    tracked, subscribed = push.job(), push.job()
    track(world, tracked)
    world.cycle()
    for job in (tracked, subscribed):
        world.sim.set_state(job, "FAILED")

    world.cycle()  # the poll first
    assert all(d.status == 200 for d in world.sim.deliver_callbacks())
    world.sim.callbacks.send(world.sim.store.get(subscribed))  # MetaStudio repeats itself
    world.cycle()

    keys = [r.dedupe_key for r in world.tracking.outbox.rows()]
    assert sorted(keys) == sorted([f"track:C1:{tracked}:FAILED", f"sub:C2:{subscribed}:FAILED",
                                   f"sub:C2:{tracked}:FAILED"])
    assert len(world.slack.posts("C2")) == 1 + 2  # the confirmation, and each job once


def test_a_callback_first_then_the_poll_announces_once(push: Push) -> None:
    world = push.world
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(5)
    job = push.job()
    world.cycle()
    world.sim.set_state(job, "FAILED")
    world.sim.deliver_callbacks()

    def told() -> int:
        return sum(jobs_told(m).count(job) for m in world.slack.posts("C1"))

    world.cycle()
    # The callback's own pass runs on a thread of its own: it may still be posting.
    assert world.slack.wait_for(lambda _: told() >= 1, timeout=5)
    world.cycle()
    world.cycle()
    assert told() == 1


def test_behind_a_proxy_the_configured_public_url_is_what_is_verified(push: Push) -> None:
    world = push.world
    public = "https://bot.example.com/metastudio/callback?team=video"
    push.receiver.public_url = public
    job = push.job()
    ts = format(int(world.clock().timestamp()), "x")
    # MetaStudio signed the public URL; the request reaches us on another host and port.
    secret = expected_secret(KEY, public, ts)
    arrived = f"{push.url}?team=video&time_stamp={ts}&secret={secret}"
    ok = requests.post(arrived, json={"result": "FAILED", "asset_id": "a", "job_id": job})
    assert ok.status_code == 200
    push.receiver.public_url = None  # the URL as it arrived: not what was signed
    ts2 = format(int(world.clock().timestamp()) + 1, "x")
    refused = requests.post(
        f"{push.url}?team=video&time_stamp={ts2}&secret={expected_secret(KEY, public, ts2)}",
        json={"result": "FAILED", "asset_id": "a", "job_id": job})
    assert refused.status_code == 401


def test_a_malformed_body_is_a_400_after_the_signature(push: Push) -> None:
    url = sign_callback_url(push.url, KEY, push.world.clock())
    assert requests.post(url, data=b"{x").status_code == 400
    url = sign_callback_url(push.url, KEY, push.world.clock() + timedelta(seconds=1))
    assert requests.post(url, json={"job_id": "a b"}).status_code == 400


def test_an_upstream_failure_during_the_look_up_is_accepted_for_the_poll_to_reconcile(
    push: Push,
) -> None:
    world = push.world
    job = push.job()
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.sim.faults.fail_next(status=503, times=10)
    [delivery] = world.sim.deliver_callbacks()
    assert delivery.status == 202
    world.sim.faults.reset()
    world.cycle()
    assert len(world.tracking.outbox.rows()) == 1


def test_the_http_app_serves_the_callback_route_only_with_a_key(bot_settings) -> None:
    import io

    from bot.serve.web import make_wsgi_app
    from bot.wiring.services import build_services

    def post(app: Any) -> str:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": PATH, "QUERY_STRING": "",
                   "CONTENT_LENGTH": "2", "wsgi.input": io.BytesIO(b"{}"),
                   "wsgi.url_scheme": "http", "HTTP_HOST": "bot.example.com"}
        status: list[str] = []
        app(environ, lambda s, headers: status.append(s))
        return status[0]

    with_key = bot_settings.model_copy(update={"metastudio_callback_key": SecretStr(KEY)})
    services = build_services(with_key)
    assert post(make_wsgi_app(services, with_key)).startswith("401")  # unsigned
    services.tracking.store.close()
    services = build_services(bot_settings)
    assert not post(make_wsgi_app(services, bot_settings)).startswith(("200", "401"))
    services.tracking.store.close()


def test_the_readmes_worked_example_is_what_the_bot_verifies() -> None:
    url = "https://videojobs.example.com/metastudio/callback"
    assert format(1796083200, "x") == "6b0e0e00"
    assert expected_secret("callback-key-0123456789", url, "6b0e0e00") == (
        "ecec8a68b958e28253ba6a7e70fcb866993034e0ffca73b7ad89304739d2cfce")


def test_a_callback_about_a_job_that_ended_before_the_retention_is_ignored(
    push: Push,
) -> None:
    world = push.world
    subscribe(world, "all")
    world.cycle()
    job = push.world.sim.add_job(state="PROCESSING")  # created outside the bot's sight
    world.sim.set_state(job, "FAILED")
    world.clock.advance(8 * 86_400)
    with world.tracking.store.begin() as conn:
        conn.execute(sa.text("DELETE FROM watched_jobs"))
    url = sign_callback_url(push.url, KEY, world.clock())
    answer = requests.post(url, json={"result": "FAILED", "asset_id": "a", "job_id": job})
    assert answer.status_code == 200 and answer.json()["enqueued"] == 0


def test_the_callback_settings_are_checked_at_start_up() -> None:
    from bot.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="METASTUDIO_CALLBACK_URL: expected the public URL"):
        load_settings("demo", metastudio_callback_url="bot.example.com/metastudio/callback")
    with pytest.raises(SettingsError, match="RETENTION_DAYS"):
        load_settings("demo", retention_days=0)
    settings = load_settings("demo", metastudio_callback_key="k-secret-4711",
                             metastudio_callback_url="https://bot.example.com/cb")
    assert "k-secret-4711" not in repr(settings)  # a secret, like the other keys


# -- what a callback records (Poller.observe) --------------------------------------------


def test_a_callback_is_recorded_up_to_the_default_retention_of_seven_days(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture,
) -> None:
    poller = Poller(world.tracking.store, world.tracking.outbox, world.client,
                    clock=world.clock)
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(10)
    jobs = [world.running(), world.running()]
    for job in jobs:
        world.sim.set_state(job, "FAILED")
    world.clock.advance(7 * 86_400)
    assert poller.observe(jobs[0]) == 1  # ended exactly seven days ago
    world.clock.advance(1)
    with caplog.at_level(logging.INFO, logger="bot.tracking.polling.poller"):
        assert poller.observe(jobs[1]) == 0
    ended = world.clock() - timedelta(days=7, seconds=1)
    assert [r.getMessage() for r in caplog.records if r.name == "bot.tracking.polling.poller"] == [
        f"callback about job {jobs[1]} that ended {ended}: older than the retention, ignored"]


def _paths(world: TrackingWorld, since: int) -> list[str]:
    return [r.path.removeprefix(f"/v1/{PROJECT_ID}/") for r in world.sim.requests[since:]]


def test_a_callbacks_age_is_its_end_time_when_the_answer_has_no_update_time(
    world: TrackingWorld,
) -> None:
    poller = Poller(world.tracking.store, world.tracking.outbox,
                    NoUpdateTimes(world.client),  # type: ignore[arg-type]
                    clock=world.clock)
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(10)
    job = world.running()
    world.sim.set_state(job, "FAILED")
    world.clock.advance(8 * 86_400)
    assert poller.observe(job) == 0
    assert world.tracking.outbox.rows() == []


def test_a_callback_about_a_watched_job_reads_its_detail_and_forgets_it(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", script_id="s1")
    world.cycle()
    world.clock.advance(30)
    job = world.running(script_id="s1", job_type="PHOTO_DIGITAL_HUMAN_VIDEO",
                        create_time=world.clock() - timedelta(seconds=5))
    world.cycle()
    [row] = world.tracking.poller.active.all()
    assert (row.script_id, row.job_type) == ("s1", "PHOTO_DIGITAL_HUMAN_VIDEO")
    world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(job) == 1
    # The watched row knows the type: one detail request, no listing.
    assert _paths(world, mark) == [f"photo-digital-human-videos/{job}"]
    assert world.tracking.poller.active.count() == 0
    assert world.tracking.poller.observe(job) == 0  # said once
    [sent] = world.tracking.outbox.rows()
    assert (sent.kind, sent.channel, sent.payload["job"]["job_id"]) == ("sub", "C1", job)


def test_a_callback_about_a_watched_job_of_unknown_type_keeps_the_rows_script(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", script_id="s1")
    world.cycle()
    job = world.running(script_id="s1", create_time=world.clock() - timedelta(hours=1))
    # Watched from an answer that did not say the job's type.
    with world.tracking.store.begin() as conn:
        world.tracking.poller.active.watch(conn, Job(job_id=job, state=JobState.PROCESSING),
                                           world.clock(), script_id="s1")
    world.clock.advance(30)
    world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(job) == 1
    assert _paths(world, mark) == ["digital-human-videos"]  # the list's look-up only


def test_a_callback_about_an_unwatched_job_learns_its_script_when_a_filter_needs_it(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", script_id="s1")
    subscribe(world, "all", channel="C2")
    world.cycle()
    world.clock.advance(30)
    # Listed late (created an hour ago): no listing has seen it, nothing watches it.
    job = world.running(script_id="s1", create_time=world.clock() - timedelta(hours=1))
    world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(job) == 2
    assert _paths(world, mark) == ["digital-human-videos", f"2d-digital-human-videos/{job}"]
    assert sorted(r.channel for r in world.tracking.outbox.rows()) == ["C1", "C2"]


def test_a_callback_about_a_job_only_its_detail_finds_uses_the_details_script(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", script_id="s1")
    world.cycle()
    world.clock.advance(30)
    job = world.running(script_id="s1", create_time=world.clock() - timedelta(days=40))
    world.sim.faults.list_month_only = True
    world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(job) == 1
    # The listing misses it; the detail answer already names the script: no second one.
    assert _paths(world, mark) == ["digital-human-videos", f"2d-digital-human-videos/{job}"]


def test_a_callback_checks_the_subscriptions_filters_against_the_job(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", asset_name="promo")
    subscribe(world, "failed", channel="C2", job_type=QueryJobType.PHOTO)
    world.cycle()
    world.clock.advance(30)
    promo = world.running(asset_name="promo")
    other = world.running(asset_name="other")
    for job in (promo, other):
        world.sim.set_state(job, "FAILED")
    assert world.tracking.poller.observe(promo) == 1
    assert world.tracking.poller.observe(other) == 0
    assert [(r.channel, r.payload["job"]["job_id"]) for r in world.tracking.outbox.rows()] == [
        ("C1", promo)]


def test_a_callback_without_script_filters_costs_one_request(world: TrackingWorld) -> None:
    subscribe(world, "failed", channel="C2")
    world.cycle()
    world.clock.advance(30)
    job = world.running(script_id="s1", create_time=world.clock() - timedelta(hours=1))
    other = world.running(script_id="s2", create_time=world.clock() - timedelta(hours=1))
    world.sim.set_state(job, "FAILED")
    world.sim.set_state(other, "FAILED")
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(job) == 1
    assert _paths(world, mark) == ["digital-human-videos"]
    world.clock.advance(10)
    subscribe(world, "failed", script_id="s1")
    world.cycle()  # adopted
    # Now the detail tells the script: s2, not for the s1 filter.
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(other) == 1
    assert _paths(world, mark) == ["digital-human-videos", f"2d-digital-human-videos/{other}"]
    assert [r.channel for r in world.tracking.outbox.rows()] == ["C2", "C2"]


def test_a_callback_closes_every_tracking_of_the_job(world: TrackingWorld) -> None:
    job = world.running()
    track(world, job)
    track(world, job, channel="C2")
    world.sim.set_state(job, "SUCCEED")
    assert world.tracking.poller.observe(job) == 2
    assert world.tracking.store.pollable() == []
    assert sorted((r.kind, r.channel) for r in world.tracking.outbox.rows()) == [
        ("track", "C1"), ("track", "C2")]


def test_a_callback_leaves_a_subscription_not_yet_adopted_to_its_adoption(
    world: TrackingWorld,
) -> None:
    job = world.running()
    subscribe(world, "all")
    world.clock.advance(10)
    world.sim.set_state(job, "SUCCEED")
    assert world.tracking.poller.observe(job) == 0
    assert world.tracking.poller.poll().announced == 1


def test_a_callback_about_an_unfinished_or_unknown_job_records_nothing(
    world: TrackingWorld,
) -> None:
    subscribe(world, "all")
    world.cycle()
    job = world.running()
    track(world, job)
    assert world.tracking.poller.observe(job) == 0
    assert world.tracking.poller.observe("no-such-job") == 0
    assert world.tracking.outbox.rows() == [] and len(world.tracking.store.pollable()) == 1


# -- hostile bodies, time stamps ahead, the order of the checks ----------------------------

def _utf16(job: str) -> bytes:
    return json.dumps({"result": "FAILED", "asset_id": "a", "job_id": job}).encode("utf-16")


#: Each a signed, fresh callback whose body is not MetaStudio's: 4xx, never 500.
HOSTILE: dict[str, Callable[[str], bytes]] = {
    "2,000 [": lambda job: b"[" * 2000,
    "4,000 [ inside the job id": lambda job: b'{"job_id": ' + b"[" * 4000 + b"}",
    "objects nested 800 deep": lambda job: b'{"a":' * 800 + b"1" + b"}" * 800,
    "over 4 KiB": lambda job: json.dumps({"job_id": job, "MARKER": "x" * 5000}).encode(),
    "not JSON": lambda job: b"{MARKER",
    "not UTF-8": lambda job: b'{"job_id": "MARKER\xff\xfe"}',
    "UTF-16 JSON": _utf16,
    "UTF-32 JSON": lambda job: json.dumps({"job_id": job}).encode("utf-32"),
    "an array": lambda job: json.dumps([job, "MARKER"]).encode(),
    "a string": lambda job: b'"MARKER"',
    "null": lambda job: b"null",
    "empty": lambda job: b"",
    "a number of 4,000 digits": lambda job: b'{"job_id": ' + b"9" * 4000 + b"}",
    "NaN": lambda job: b'{"job_id": NaN, "MARKER": 1}',
    "job_id a number": lambda job: b'{"job_id": 5, "MARKER": 1}',
    "job_id a list": lambda job: json.dumps({"job_id": [job], "MARKER": 1}).encode(),
    "job_id an object": lambda job: json.dumps({"job_id": {"id": job}, "MARKER": 1}).encode(),
    "job_id not a job id": lambda job: b'{"job_id": "MARKER; DROP TABLE"}',
}


def test_hostile_bodies_are_4xx_never_500_and_never_logged(push: Push, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    job = push.job()
    track(push.world, job)
    push.world.sim.set_state(job, "FAILED")
    wrong = []
    for name, body in HOSTILE.items():
        caplog.clear()
        push.world.clock.advance(1)  # a fresh signature for each
        url = sign_callback_url(push.url, KEY, push.world.clock())

        answer = requests.post(url, data=body(job), timeout=10)

        logged = caplog.text
        if not 400 <= answer.status_code < 500:
            wrong.append(f"{name}: {answer.status_code}")
        elif "MARKER" in logged or "[[[[" in logged or "ERROR" in logged:
            wrong.append(f"{name}: logged {logged!r}")
    assert wrong == []
    assert push.world.tracking.outbox.rows() == []  # the job was never looked at


@pytest.mark.parametrize(("ahead", "status"), [
    (timedelta(seconds=30), 200), (MAX_AHEAD, 200),  # clocks that disagree a little
    (MAX_AHEAD + timedelta(seconds=1), 401), (timedelta(minutes=4), 401),
    (timedelta(days=365), 401),
])
def test_a_time_stamp_ahead_of_our_clock_is_refused_beyond_a_small_skew(
    push: Push, ahead: timedelta, status: int,
) -> None:
    world = push.world
    job = push.job()
    world.sim.set_state(job, "FAILED")
    requests_before, receipts_before = len(world.sim.requests), push.receipts()
    url = sign_callback_url(push.url, KEY, world.clock() + ahead)

    answer = requests.post(url, json={"result": "FAILED", "asset_id": "a", "job_id": job},
                           timeout=10)

    assert answer.status_code == status
    if status == 401:
        assert answer.json()["reason"] == "time stamp in the future"
        assert len(world.sim.requests) == requests_before  # not even a look-up
        assert push.receipts() == receipts_before


def test_the_same_request_again_is_refused_as_a_replay_before_its_body_is_parsed(
    push: Push, mocker,
) -> None:
    from bot.tracking.polling import callbacks

    parsed = mocker.spy(callbacks, "_job_id")
    url = sign_callback_url(push.url, KEY, push.world.clock())
    assert requests.post(url, data=b"{x", timeout=10).status_code == 400

    again = requests.post(url, data=b"{x", timeout=10)

    assert again.status_code == 401 and again.json()["reason"] == "replayed"
    assert parsed.call_count == 1  # the first time only


@pytest.mark.parametrize("case", ["unsigned", "forged", "stale", "ahead"])
def test_a_refused_callbacks_body_is_never_read(push: Push, case: str) -> None:
    """A client that announces 4 KiB and sends none of it gets its 401 at once: the
    receiver does not wait for a body it will not use."""
    clock = push.world.clock()
    url = {"unsigned": push.url,
           "forged": sign_callback_url(push.url, "not-the-key", clock),
           "stale": sign_callback_url(push.url, KEY, clock - timedelta(minutes=6)),
           "ahead": sign_callback_url(push.url, KEY, clock + timedelta(minutes=2))}[case]
    target = urlsplit(url)
    with socket.create_connection((target.hostname, target.port), timeout=3) as conn:
        conn.sendall(f"POST {target.path}?{target.query} HTTP/1.1\r\nHost: {target.netloc}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {MAX_BODY}\r\n\r\n"
                     .encode())
        answer = conn.recv(1024)  # times out (3 s) if the receiver waits for the body

    assert answer.startswith(b"HTTP/1.0 401") or answer.startswith(b"HTTP/1.1 401"), answer


def test_a_database_failure_is_503_not_500(push: Push, monkeypatch, caplog) -> None:
    from sqlalchemy.exc import OperationalError

    def lost(receipt: str, now: Any) -> bool:
        raise OperationalError("INSERT INTO callback_receipts", {}, Exception("gone"))

    monkeypatch.setattr(push.world.tracking.store, "first_receipt", lost)
    job = push.job()
    url = sign_callback_url(push.url, KEY, push.world.clock())

    answer = requests.post(url, json={"job_id": job, "MARKER": 1}, timeout=10)

    assert answer.status_code == 503
    assert "MetaStudio callback could not be handled" in caplog.messages
    assert "MARKER" not in caplog.text


_BODIES = st.one_of(
    st.binary(max_size=MAX_BODY + 100),
    st.integers(0, MAX_BODY).map(lambda n: b"[" * n),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(["job_id", "result", "asset_id", "x"]),
                                   inner, max_size=3),
                 max_leaves=8).map(lambda value: json.dumps(value).encode()),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=_BODIES)
def test_whatever_a_signed_callback_carries_the_answer_is_never_a_5xx(
    push: Push, caplog, body: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    push.world.clock.advance(1)
    url = sign_callback_url(push.url, KEY, push.world.clock())

    answer = requests.post(url, data=body, timeout=10)

    assert answer.status_code in (200, 202, 400, 401, 413)
    if len(body) >= 16:
        assert body.decode("utf-8", "replace") not in caplog.text


# -- each answer's status line and body; the request's method, length and URL ---------------


def test_each_answer_has_its_status_line_and_a_json_body(push: Push, monkeypatch) -> None:
    """What MetaStudio (or whoever calls) reads: the status line with its reason phrase,
    and a JSON body of the length announced."""
    world = push.world
    done, unreachable = push.job(), push.job()
    track(world, done)
    world.sim.set_state(done, "FAILED")
    world.sim.set_state(unreachable, "FAILED")

    def signed() -> str:
        world.clock.advance(1)  # a fresh signature for each
        return sign_callback_url(push.url, KEY, world.clock())

    answers = {
        "ok": requests.post(signed(), json={"job_id": done}, timeout=10),
        "malformed": requests.post(signed(), data=b"{x", timeout=10),
        "unsigned": requests.post(push.url, json={"job_id": done}, timeout=10),
        "not a POST": requests.get(signed(), timeout=10),
        "too large": requests.post(signed(), data=b" " * (MAX_BODY + 1), timeout=10),
    }
    world.sim.faults.fail_next(status=503, times=10)
    answers["look-up failed"] = requests.post(signed(), json={"job_id": unreachable},
                                              timeout=10)
    world.sim.faults.reset()

    def lost(receipt: str, now: Any) -> bool:
        raise sa.exc.OperationalError("INSERT INTO callback_receipts", {}, Exception("gone"))

    monkeypatch.setattr(world.tracking.store, "first_receipt", lost)
    answers["database down"] = requests.post(signed(), json={"job_id": done}, timeout=10)

    assert {name: (f"{a.status_code} {a.reason}", a.json()) for name, a in answers.items()} == {
        "ok": ("200 OK", {"ok": True, "enqueued": 1}),
        "look-up failed": ("202 Accepted", {"ok": True, "looked_up": False}),
        "malformed": ("400 Bad Request", {"error": "expected UTF-8 JSON with a job_id"}),
        "unsigned": ("401 Unauthorized", {"error": "invalid callback signature",
                                          "reason": "time_stamp and secret must each "
                                                    "appear once"}),
        "not a POST": ("405 Method Not Allowed", {"error": "POST only"}),
        "too large": ("413 Payload Too Large", {"error": "body too large"}),
        "database down": ("503 Service Unavailable", {"error": "try again later"}),
    }
    for name, answer in answers.items():
        assert answer.headers["Content-Type"] == "application/json", name
        assert answer.headers["Content-Length"] == str(len(answer.content)), name


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_request_other_than_a_post_is_405_and_changes_nothing(push: Push,
                                                                method: str) -> None:
    world = push.world
    job = push.job()
    track(world, job)
    world.sim.set_state(job, "FAILED")
    requests_before, receipts_before = len(world.sim.requests), push.receipts()

    answer = requests.request(method, sign_callback_url(push.url, KEY, world.clock()),
                              json={"result": "FAILED", "asset_id": "a", "job_id": job},
                              timeout=10)

    assert (answer.status_code, answer.json()) == (405, {"error": "POST only"})
    assert len(world.sim.requests) == requests_before  # not even a look-up
    assert push.receipts() == receipts_before
    assert world.tracking.outbox.rows() == []


def _raw_post(url: str, headers: str, body: bytes = b"") -> bytes:
    """A POST of ``url`` with exactly these header lines (each ending in CRLF); the
    answer's first bytes, or a timeout (3 s) when the receiver waits for more."""
    target = urlsplit(url)
    with socket.create_connection((target.hostname, target.port), timeout=3) as conn:
        conn.sendall(f"POST {target.path}?{target.query} HTTP/1.1\r\nHost: {target.netloc}\r\n"
                     f"{headers}\r\n".encode() + body)
        return conn.recv(1024)


def test_a_body_is_read_up_to_4_kib_and_refused_beyond_before_it_is_read(push: Push) -> None:
    world = push.world
    job = push.job()
    world.sim.set_state(job, "FAILED")
    body = json.dumps({"job_id": job, "result": "FAILED", "asset_id": "a"}).encode()
    exactly = body[:-1] + b" " * (MAX_BODY - len(body)) + b"}"
    assert len(exactly) == MAX_BODY

    url = sign_callback_url(push.url, KEY, world.clock())
    assert requests.post(url, data=exactly, timeout=10).status_code == 200
    receipts = push.receipts()
    for length in (MAX_BODY + 1, -5, "many"):
        world.clock.advance(1)
        url = sign_callback_url(push.url, KEY, world.clock())
        # Announced, never sent: the 413 comes without waiting for the body.
        answer = _raw_post(url, f"Content-Length: {length}\r\n")
        assert answer.split(b"\r\n")[0].endswith(b" 413 Payload Too Large"), (length, answer)
    assert push.receipts() == receipts  # nothing recorded: the body was never looked at


def test_an_empty_or_unannounced_body_is_a_400_at_once(push: Push, caplog) -> None:
    """No Content-Length means no body (PEP 3333): the receiver must not wait for one."""
    world = push.world
    url = sign_callback_url(push.url, KEY, world.clock())
    with caplog.at_level(logging.WARNING, logger="bot.tracking.polling.callbacks"):
        answer = requests.post(url, data=b"", timeout=10)
    assert answer.status_code == 400
    assert caplog.messages == ["MetaStudio callback with a malformed body (0 bytes)"]

    world.clock.advance(1)
    url = sign_callback_url(push.url, KEY, world.clock())
    answer = _raw_post(url, "Content-Type: application/json\r\n")  # times out if it waits
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request"), answer


def test_without_a_public_url_the_host_and_port_it_arrived_at_are_verified(
        push: Push) -> None:
    """Over HTTP the arrived URL is the Host header's host and port (not the server's
    own name)."""
    world = push.world
    push.receiver.public_url = None
    job = push.job()
    url = sign_callback_url(push.url, KEY, world.clock())
    assert url.startswith("http://127.0.0.1:")

    answer = requests.post(url, json={"result": "FAILED", "asset_id": "a", "job_id": job},
                           timeout=10)

    assert (answer.status_code, answer.json()) == (200, {"ok": True, "enqueued": 0})


def _call(app: Callable[..., list[bytes]], environ: dict[str, Any],
          ) -> tuple[str, dict[str, str], Any]:
    """One WSGI call: the status line, the headers (names in lower case) and the JSON
    body the application hands its server."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(app(environ, lambda status, headers: started.append((status, headers))))
    [(status, headers)] = started
    return status, {name.lower(): value for name, value in headers}, json.loads(body)


@pytest.mark.parametrize("server", ["no SCRIPT_NAME, no Host", "mounted at its path",
                                    "https"])
def test_the_url_is_rebuilt_from_what_any_wsgi_server_gives(world: TrackingWorld,
                                                           server: str) -> None:
    """PEP 3333 lets a server leave out an empty SCRIPT_NAME, PATH_INFO, QUERY_STRING or
    CONTENT_LENGTH, and a request without a Host header has only the server's name; a
    server behind TLS says https. Each rebuilds the URL MetaStudio signed."""
    tracking = world.tracking
    receiver = CallbackReceiver(KEY, tracking.store, tracking.poller, clock=world.clock)
    job = world.running()
    body = json.dumps({"result": "FAILED", "asset_id": "a", "job_id": job}).encode()
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "SERVER_NAME": "bot.example.com",
                               "SERVER_PORT": "80", "wsgi.url_scheme": "http",
                               "CONTENT_LENGTH": str(len(body)),
                               "wsgi.input": io.BytesIO(body)}
    if server == "no SCRIPT_NAME, no Host":
        environ["PATH_INFO"] = PATH
    elif server == "mounted at its path":
        environ.update(SCRIPT_NAME=PATH, HTTP_HOST="bot.example.com:8443")
    else:
        environ.update(PATH_INFO=PATH, HTTP_HOST="bot.example.com", SERVER_PORT="443")
        environ["wsgi.url_scheme"] = "https"
    scheme = environ["wsgi.url_scheme"]
    signed = sign_callback_url(f"{scheme}://{environ.get('HTTP_HOST', 'bot.example.com')}"
                               f"{PATH}", KEY, world.clock())
    environ["QUERY_STRING"] = urlsplit(signed).query

    status, headers, answer = _call(wsgi_handler(receiver), environ)

    assert (status, answer) == ("200 OK", {"ok": True, "enqueued": 0})
    assert headers == {"content-type": "application/json",
                       "content-length": str(len(json.dumps(answer)))}


def test_a_request_without_a_query_or_a_length_is_refused_as_unsigned(
        world: TrackingWorld) -> None:
    tracking = world.tracking
    receiver = CallbackReceiver(KEY, tracking.store, tracking.poller, clock=world.clock,
                                public_url="https://bot.example.com/metastudio/callback")
    environ = {"REQUEST_METHOD": "POST", "SERVER_NAME": "bot.example.com", "SERVER_PORT": "80",
               "PATH_INFO": PATH, "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b"")}

    status, _, answer = _call(wsgi_handler(receiver), environ)

    assert (status, answer) == ("401 Unauthorized", {
        "error": "invalid callback signature",
        "reason": "time_stamp and secret must each appear once"})
