"""Real ``videojobs-bot`` processes (``http`` with its supervised tracking loop,
``worker``) against the test's simulator, fake Slack and database, and the checks the
delivery tests share: every job's outcome reaches Slack exactly once.

Jobs are tracked from the test process with the ``track`` command's service on the same
database, as a web process would; everything else happens in the subprocesses.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests
from slack_sdk import WebClient

from bot.settings import Settings
from bot.simulator import Simulator
from bot.slack.messenger import SlackMessenger
from bot.tracking.process.worker import Tracking, utc_now
from bot.wiring.metastudio import build_jobs_client
from bot.wiring.tracking import build_tracking
from tests.fakes.slack import FakeSlack, Message
from tests.fixtures.app import SIGNING_SECRET, bot_env
from tests.fixtures.metastudio import AK, PROJECT_ID, SK
from tests.tracking.helpers import track

BOT = Path(sys.executable).with_name("videojobs-bot")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass (an outcome in
    another process: there is no event to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class Bot:
    """One ``videojobs-bot`` process; its output (all of its children's too) is
    collected in ``lines``."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.args = args
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [str(BOT), *args], cwd=cwd, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def logged(self, text: str, timeout: float = 0.0) -> bool:
        return wait(lambda: text in self.output, timeout)

    def stop(self) -> int:
        """SIGTERM, as a platform stops a process; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=5)
        return code


class Deployment:
    """The processes of one test, and the test's own view of their database."""

    def __init__(self, sim: Simulator, slack: FakeSlack, database_url: str, cwd: Path,
                 **settings: Any) -> None:
        self.sim, self.slack, self.database_url, self.cwd = sim, slack, database_url, cwd
        self.settings = {"POLL_INTERVAL_SECONDS": "0.1", "LOG_LEVEL": "INFO",
                         **{k.upper(): str(v) for k, v in settings.items()}}
        self.bots: list[Bot] = []
        self.tracking: Tracking = build_tracking(self._settings(), self._jobs(), SlackMessenger(
            WebClient(token=slack.token, base_url=slack.url)))
        self.clock = utc_now

    def _settings(self) -> Settings:
        return Settings(database_url=self.database_url, slack_bot_token=self.slack.token,
                        slack_api_url=self.slack.url, metastudio_endpoint=self.sim.url,
                        metastudio_project_id=PROJECT_ID, metastudio_ak=AK, metastudio_sk=SK)

    def _jobs(self) -> Any:
        return build_jobs_client(self._settings())

    def env(self, **extra: str) -> dict[str, str]:
        return bot_env(
            SLACK_BOT_TOKEN=self.slack.token, SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=self.slack.url, METASTUDIO_ENDPOINT=self.sim.url,
            METASTUDIO_PROJECT_ID=PROJECT_ID, METASTUDIO_AK=AK, METASTUDIO_SK=SK,
            DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1",
            **self.settings, **extra,
        )

    # -- processes --------------------------------------------------------------------

    def worker(self, **extra: str) -> Bot:
        bot = Bot(["worker"], self.env(**extra), self.cwd)
        self.bots.append(bot)
        assert bot.logged("tracking worker started", timeout=30), bot.output
        return bot

    def http(self, **extra: str) -> HttpBot:
        port = free_port()
        bot = HttpBot(port, self.env(PORT=str(port), WEB_THREADS="2", **extra), self.cwd)
        self.bots.append(bot)
        assert wait(bot.up, 30), bot.output
        assert bot.logged("tracking worker started", timeout=30), bot.output
        return bot

    def http_without_worker(self) -> HttpBot:
        port = free_port()
        bot = HttpBot(port, self.env(PORT=str(port), WEB_THREADS="2"), self.cwd,
                      "--no-worker")
        self.bots.append(bot)
        assert wait(bot.up, 30), bot.output
        return bot

    def close(self) -> None:
        for bot in self.bots:
            bot.stop()
        self.tracking.store.close()

    # -- jobs -----------------------------------------------------------------------------

    def track(self, channel: str, n: int, **job: Any) -> list[str]:
        """``n`` PROCESSING jobs, tracked in ``channel`` by one command."""
        ids = [self.sim.add_job(state="PROCESSING", **job) for _ in range(n)]
        track(self, *ids, channel=channel)  # type: ignore[arg-type]
        return ids

    def end(self, ids: Iterable[str], state: str = "SUCCEED", **error: str) -> None:
        with self.sim.store.lock:  # all at once: no poll sees half of them ended
            for job in ids:
                self.sim.set_state(job, state, **error)

    def rows(self) -> list[Any]:
        return self.tracking.outbox.rows()

    def notifications(self) -> list[Message]:
        """What the senders posted (their messages carry outbox markers)."""
        return [m for m in self.slack.posts() if m.metadata]

    def times_told(self, ids: Iterable[str]) -> Counter[str]:
        """How many notifications mention each job."""
        told: Counter[str] = Counter({job: 0 for job in ids})
        for message in self.notifications():
            shown = message.text + str(message.blocks)
            for job in told:
                if job in shown:
                    told[job] += 1
        return told

    def delivered(self, ids: list[str], timeout: float) -> bool:
        """Every job told at least once, and nothing left to send."""
        def done() -> bool:
            return min(self.times_told(ids).values()) >= 1 and not any(
                r.status == "pending" for r in self.rows())
        return wait(done, timeout, step=0.2)

    def assert_exactly_once(self, ids: list[str]) -> None:
        told = self.times_told(ids)
        assert set(told.values()) == {1}, {j: n for j, n in told.items() if n != 1}
        assert {r.status for r in self.rows()} == {"sent"}, [
            (r.dedupe_key, r.status, r.last_error) for r in self.rows() if r.status != "sent"]


class HttpBot(Bot):
    """``videojobs-bot http`` (gunicorn, and the supervised tracking process)."""

    def __init__(self, port: int, env: dict[str, str], cwd: Path, *flags: str) -> None:
        super().__init__(["http", *flags], env, cwd)
        self.url = f"http://127.0.0.1:{port}"

    def up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited: {self.output}")
        try:
            answer = requests.get(f"{self.url}/healthz", timeout=2)
        except (requests.ConnectionError, requests.Timeout):
            # Refused, or accepted by the master before a worker could answer (a busy
            # machine): not up yet.
            return False
        # 503 "starting" until the worker's answering process answers.
        return answer.status_code != 503 or answer.json().get("answers") != "starting"

    def health(self) -> tuple[int, dict[str, Any]]:
        answer = requests.get(f"{self.url}/healthz", timeout=5)
        return answer.status_code, answer.json()

    def tracking_pid(self) -> int:
        """The pid of the tracking process (its supervisor's child)."""
        assert wait(lambda: self.health()[1].get("tracking", {}).get("status") == "running",
                    20), self.health()
        return int(self.health()[1]["tracking"]["pid"])

    def stop(self) -> int:
        pid = None
        try:
            if self.process.poll() is None:
                pid = self.health()[1].get("tracking", {}).get("pid")
        except (requests.RequestException, ValueError):
            pass
        code = super().stop()
        if pid and _running(pid):  # the supervisor is gone; do not leave its child
            os.kill(pid, signal.SIGKILL)
        return code


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
