"""HTTP mode end to end: signed requests in over real HTTP, what Slack received out."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from bot.slack.request_front import MAX_BODY_BYTES
from bot.tracking.delivery.outbox import Outbox
from bot.tracking.store.database import Store
from tests.fakes.blackhole import BlackholeProxy
from tests.fixtures.app import SIGNING_SECRET, SlackSender, bot_env
from tests.fixtures.metastudio import AK, PROJECT_ID, SK
from tests.fixtures.processes import wait_until_up


def test_healthz(bot_url: str) -> None:
    answer = requests.get(f"{bot_url}/healthz", timeout=5)

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "outbox_depth": 0}


def test_healthz_is_503_when_the_database_does_not_answer(bot_url: str, services, mocker):
    def unreachable() -> int:
        raise OperationalError("SELECT count(*)", {}, Exception("connection refused"))

    mocker.patch.object(services.tracking.outbox, "depth", side_effect=unreachable)

    answer = requests.get(f"{bot_url}/healthz", timeout=5)

    assert answer.status_code == 503
    assert answer.json() == {"status": "error", "database": "unreachable"}


def test_healthz_is_503_when_sqlite_cannot_be_written(bot_url, services, sqlite_url, mocker):
    # The same file, opened read-only: reads work, so only a write probe notices (as
    # with a full disk).
    read_only = Store(f"sqlite:///file:{sqlite_url.removeprefix('sqlite:///')}?mode=ro&uri=true")
    mocker.patch.object(services.tracking, "store", read_only)
    mocker.patch.object(services.tracking, "outbox", Outbox(read_only))

    answer = requests.get(f"{bot_url}/healthz", timeout=5)

    assert answer.status_code == 503
    assert answer.json()["database"] == "not writable"


def test_healthz_answers_503_within_a_second_when_postgres_drops_packets(
    bot_url, services, mocker, slack, simulator
):
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    lost = Store(f"postgresql+psycopg://bot@127.0.0.1:{listener.getsockname()[1]}/videojobs")
    mocker.patch.object(services.tracking, "store", lost)
    mocker.patch.object(services.tracking, "outbox", Outbox(lost))
    try:
        with ThreadPoolExecutor(10) as pool:
            started = time.monotonic()
            answers = list(pool.map(
                lambda _: requests.get(f"{bot_url}/healthz", timeout=5), range(10)))
            elapsed = time.monotonic() - started

        assert {a.status_code for a in answers} == {503}
        assert elapsed < 2.5  # each waits 1 s for the probe; a hung probe would take 5+
        # Query commands do not need the database.
        simulator.add_job(state="FAILED")
        assert slack.command("failed today").status == 200
        assert "failed" in slack.answers()[0]["text"].lower()
    finally:
        listener.close()


def test_metrics_count_commands(slack: SlackSender, bot_url: str) -> None:
    slack.command("help")
    slack.answers()

    answer = requests.get(f"{bot_url}/metrics", timeout=5)

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert 'videojobs_commands_total{command="help",outcome="ok"}' in answer.text


def test_other_paths_are_404(bot_url: str) -> None:
    assert requests.get(f"{bot_url}/", timeout=5).status_code == 404
    assert requests.get(f"{bot_url}/slack/events", timeout=5).status_code == 404
    assert requests.post(f"{bot_url}/healthz", timeout=5).status_code == 404


def test_forged_signature_is_401_and_nothing_runs(slack: SlackSender, simulator) -> None:
    before = len(slack.fake.calls)

    sent = slack.command("failed today", signature="v0=" + "0" * 64)

    assert sent.status == 401
    assert not slack.fake.wait_for(lambda f: len(f.calls) > before, timeout=1)
    assert simulator.requests == []


def test_wrong_secret_is_401(slack: SlackSender) -> None:
    slack.secret = "not-the-signing-secret"

    assert slack.command("help").status == 401


def test_stale_timestamp_is_401_and_nothing_runs(slack: SlackSender, simulator) -> None:
    before = len(slack.fake.calls)

    sent = slack.command("failed today", age=6 * 60)

    assert sent.status == 401
    assert not slack.fake.wait_for(lambda f: len(f.calls) > before, timeout=1)
    assert simulator.requests == []


def test_gunicorn_serves_the_bot(simulator, fake_slack, tmp_path) -> None:
    """``videojobs-bot http`` as deployed: gunicorn's gthread workers on $PORT."""
    port = free_port()
    env = bot_env(
        PORT=str(port), WEB_THREADS="4", SLACK_BOT_TOKEN=fake_slack.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake_slack.url,
        METASTUDIO_ENDPOINT=simulator.url, METASTUDIO_PROJECT_ID=PROJECT_ID,
        METASTUDIO_AK=AK, METASTUDIO_SK=SK, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
    )
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("videojobs-bot")), "http"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True)
    reader.start()
    try:
        wait_until_up(f"{url}/healthz", server)
        slack = SlackSender(url, fake_slack)

        sent = slack.command("failed today")

        assert sent.status == 200
        assert sent.seconds < 1.0
        assert slack.answers()[0]["response_type"] == "ephemeral"
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert 'videojobs_commands_total{command="failed",outcome="ok"} 1.0' in metrics
        assert requests.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"
        # The tracking loop runs beside the web server by default...
        assert wait_for_line(lines, "tracking worker started", timeout=20)
    finally:
        server.terminate()
        server.wait(timeout=30)
        reader.join(timeout=5)
    output = "".join(lines)
    assert server.returncode == 0, output
    assert "gthread" in output
    # ...and stops with it, after finishing its cycle.
    assert "tracking worker stopped" in output
    assert fake_slack.token not in output and SIGNING_SECRET not in output


@pytest.mark.postgres
def test_a_lost_postgres_never_ties_up_gunicorns_threads(simulator, fake_slack, postgres_url,
                                                         tmp_path) -> None:
    """Two gunicorn threads; PostgreSQL behind a proxy that starts dropping packets. Many
    health checks answer 503 within a second each, and a slash command still gets in."""
    url = sa.engine.make_url(postgres_url)
    proxy = BlackholeProxy((url.host or "127.0.0.1", url.port or 5432))
    port = free_port()
    env = bot_env(
        PORT=str(port), WEB_THREADS="2", SLACK_BOT_TOKEN=fake_slack.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake_slack.url,
        METASTUDIO_ENDPOINT=simulator.url, METASTUDIO_PROJECT_ID=PROJECT_ID,
        METASTUDIO_AK=AK, METASTUDIO_SK=SK,
        DATABASE_URL=url.set(port=proxy.port).render_as_string(hide_password=False),
    )
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("videojobs-bot")), "http", "--no-worker"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    bot = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{bot}/healthz", server)
        # 200 once the answering child answers too (503 "starting" until then).
        deadline = time.monotonic() + 30
        while requests.get(f"{bot}/healthz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "never healthy"
            time.sleep(0.1)
        proxy.blackhole()

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: _timed_get(f"{bot}/healthz"), range(8)))
        assert {status for status, _ in answers} == {503}
        assert max(seconds for _, seconds in answers) < 1.5 * 4  # 2 threads, 8 checks
        sent = SlackSender(bot, fake_slack).command("help")
        assert sent.status == 200 and sent.seconds < 2.5
    finally:
        server.terminate()
        server.wait(timeout=30)
        proxy.close()


def _timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    status = requests.get(url, timeout=10).status_code
    return status, time.monotonic() - started


def wait_for_line(lines: list[str], text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in list(lines)):
            return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- hostile and broken requests: refused at the front, before anything runs ----------

def _raw_post(url: str, body: bytes, **headers: str) -> requests.Response:
    return requests.post(f"{url}/slack/events", data=body, headers=headers, timeout=10)


def _signed_headers(body: bytes, *, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + hmac.new(
            SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256
        ).hexdigest(),
    }


UNSIGNED_MALFORMED = {
    "invalid utf-8": (b"\xff\xfe\xfa", {}),
    "broken json": (b"{x", {}),
    "payload not json": (b"payload=x", {}),
    "json content type": (b"{x", {"Content-Type": "application/json"}),
    "timestamp yesterday": (b"command=/videojobs", {"X-Slack-Request-Timestamp": "yesterday",
                                                    "X-Slack-Signature": "v0=" + "0" * 64}),
    "timestamp 10^400": (b"command=/videojobs", {"X-Slack-Request-Timestamp": "1" + "0" * 400,
                                                 "X-Slack-Signature": "v0=" + "0" * 64}),
    "signature not hex": (b"command=/videojobs", {"X-Slack-Request-Timestamp": "1700000000",
                                                  "X-Slack-Signature": "v0=zz"}),
}


@pytest.mark.parametrize("name", list(UNSIGNED_MALFORMED))
def test_unsigned_malformed_bodies_are_refused_not_500(bot_url, slack, simulator, caplog, name):
    body, headers = UNSIGNED_MALFORMED[name]
    before = len(slack.fake.calls)
    caplog.set_level(logging.DEBUG)

    answer = _raw_post(bot_url, body, **headers)

    assert answer.status_code in (400, 401), answer.text
    assert not slack.fake.wait_for(lambda f: len(f.calls) > before, timeout=0.3)
    assert simulator.requests == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("name", ["invalid utf-8", "broken json", "payload not json"])
def test_signed_malformed_bodies_are_400(bot_url, simulator, name):
    body, _ = UNSIGNED_MALFORMED[name]

    answer = _raw_post(bot_url, body, **_signed_headers(body))

    assert answer.status_code == 400
    assert simulator.requests == []


def test_a_signed_json_array_is_400(bot_url):
    body = b"[1, 2]"

    answer = _raw_post(bot_url, body, **{**_signed_headers(body),
                                          "Content-Type": "application/json"})

    assert answer.status_code == 400


def test_a_large_body_is_refused_unread_and_never_logged(bot_url, caplog):
    caplog.set_level(logging.DEBUG)
    marker = b"SECRET-BODY-MARKER"
    body = marker + b"x" * (MAX_BODY_BYTES + 1)

    answer = _raw_post(bot_url, body, **_signed_headers(body))

    assert answer.status_code == 413
    assert not any("SECRET-BODY-MARKER" in r.getMessage() for r in caplog.records)


def test_a_body_at_the_cap_is_not_refused_for_its_size(bot_url):
    body = b"command=%2Fvideojobs&text=" + b"x" * (MAX_BODY_BYTES - 26)
    assert len(body) == MAX_BODY_BYTES

    answer = _raw_post(bot_url, body, **_signed_headers(body))

    assert answer.status_code != 413


def test_a_body_without_content_length_is_refused(bot_url):
    def chunks():
        yield b"command=/videojobs"

    answer = requests.post(f"{bot_url}/slack/events", data=chunks(), timeout=10,
                           headers={"X-Slack-Request-Timestamp": "1700000000",
                                    "X-Slack-Signature": "v0=" + "0" * 64})

    assert answer.status_code in (400, 401, 411)


def test_a_stale_genuine_request_logs_neither_token_nor_response_url(slack, caplog):
    caplog.set_level(logging.DEBUG)

    sent = slack.post(urlencode({"payload": json.dumps({
        "type": "block_actions", "token": "legacy-verification-token",
        "response_url": slack.fake.response_url("stale"), "actions": []})}), age=6 * 60)

    assert sent.status == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "legacy-verification-token" not in logged
    assert "/response/stale" not in logged
    assert "timestamp" in logged  # the reason is logged, nothing of the body


def test_a_button_value_of_nested_brackets_is_out_of_date(slack, caplog):
    caplog.set_level(logging.INFO)

    slack.click("videojobs_more", "[" * 1500)

    [answer] = slack.answers("click")
    assert "out of date" in answer["text"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
