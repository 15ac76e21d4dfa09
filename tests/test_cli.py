"""``videojobs-bot`` as a user runs it: a bad setting is one line and exit status 2; `check`
and `worker` run against the fake Slack and the simulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.cli import main
from tests.fixtures.app import BOT_VARIABLES, SIGNING_SECRET, bot_env
from tests.fixtures.metastudio import AK, PROJECT_ID, SK


def run_bot(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=bot_env(**env),
        capture_output=True, text=True, timeout=60,
    )


def test_missing_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_bot("http", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == "videojobs-bot: SLACK_BOT_TOKEN: required (the bot token (xoxb-...))\n"
    assert result.stdout == ""


def test_http_without_the_signing_secret_does_not_start(tmp_path: Path) -> None:
    result = run_bot("http", cwd=tmp_path, SLACK_BOT_TOKEN="xoxb-1",
                     METASTUDIO_REGION="cn-north-4", METASTUDIO_PROJECT_ID="p",
                     METASTUDIO_AUTH_TOKEN="t")

    assert result.returncode == 2
    assert result.stderr == (
        "videojobs-bot: SLACK_SIGNING_SECRET: required (the app's signing secret)\n")
    assert result.stdout == ""


def test_malformed_setting_names_the_variable(tmp_path: Path) -> None:
    result = run_bot("demo", cwd=tmp_path, VIDEOJOBS_TIMEZONE="Mars/Olympus_Mons")

    assert result.returncode == 2
    assert result.stderr.startswith("videojobs-bot: VIDEOJOBS_TIMEZONE: expected an IANA")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_settings_come_from_a_dotenv_file_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-1\nSLACK_SIGNING_SECRET=s\n")

    result = run_bot("http", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith("videojobs-bot: METASTUDIO_ENDPOINT or METASTUDIO_REGION")


@pytest.mark.parametrize(("name", "value"), [("WEB_THREADS", "many"), ("WEB_CONCURRENCY", "0")])
def test_malformed_server_tuning_is_a_settings_error(
    monkeypatch, capsys, tmp_path, name, value
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in os.environ:
        if key.startswith(BOT_VARIABLES):
            monkeypatch.delenv(key)
    for key, setting in {
        "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
        "METASTUDIO_REGION": "cn-north-4", "METASTUDIO_PROJECT_ID": "p",
        "METASTUDIO_AUTH_TOKEN": "t", name: value,
    }.items():
        monkeypatch.setenv(key, setting)

    assert main(["http"]) == 2
    assert capsys.readouterr().err == (
        f"videojobs-bot: {name}: expected a positive whole number, got {value!r}\n"
    )


def test_socket_mode_needs_the_app_token(tmp_path: Path) -> None:
    result = run_bot(
        "socket", cwd=tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xoxb-not-an-app-token",
    )

    assert result.returncode == 2
    assert result.stderr == (
        "videojobs-bot: SLACK_APP_TOKEN: expected an app-level token starting with xapp-\n"
    )


def slack_and_metastudio(fake_slack, simulator, tmp_path: Path) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": fake_slack.token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url, "METASTUDIO_ENDPOINT": simulator.url,
        "METASTUDIO_PROJECT_ID": PROJECT_ID, "METASTUDIO_AK": AK, "METASTUDIO_SK": SK,
        "DATABASE_URL": f"sqlite:///{tmp_path}/videojobs.sqlite3",
    }


def test_check_tries_slack_and_metastudio(fake_slack, simulator, tmp_path: Path) -> None:
    result = run_bot("check", cwd=tmp_path, **slack_and_metastudio(fake_slack, simulator, tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "all checks passed"
    assert fake_slack.calls_to("auth.test")


def test_worker_runs_the_tracking_loop_until_sigterm(fake_slack, simulator, tmp_path) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot", "worker"], cwd=tmp_path, text=True,
        env=bot_env(**slack_and_metastudio(fake_slack, simulator, tmp_path),
                    POLL_INTERVAL_SECONDS="0.2"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        assert worker.stdout is not None
        while "tracking worker started" not in (line := worker.stdout.readline()):
            assert line, "the worker exited before starting its loop"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
        assert "tracking worker stopped" in worker.stdout.read()
    finally:
        worker.kill()


@pytest.mark.timeout(10)  # the bug was a hang
def test_a_stop_signal_never_waits_for_the_thread_it_interrupts() -> None:
    """SIGTERM's handler runs in the main thread, which may be inside ``stop.wait``
    holding the event's lock (a worker waits on it between cycles): setting the event
    there directly never returned, and a killed supervisor's tracking process lived on."""
    from bot.cli import _set_from_handler

    stop = threading.Event()
    with stop._cond:  # where the main thread is when the signal lands mid-wait
        _set_from_handler(stop)  # returns at once instead of waiting for the lock
    assert stop.wait(5)
