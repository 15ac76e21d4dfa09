"""What the benchmarks share: the result row and table, the simulator and fake Slack on
loopback, settings pointing at them, signed slash commands, a bounded threaded load
generator, and ``videojobs-bot`` subprocesses.

Everything binds 127.0.0.1; every wait here has a deadline.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from slack_sdk.signature import SignatureVerifier

from bot.settings import Settings
from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack

PROJECT_ID, AK, SK = "proj-bench", "AK-BENCH", "SK-BENCH"
SIGNING_SECRET = "0b7e5a1f3c9d2e4f6a8b0c1d2e3f4a5b"
BOT_TOKEN = "xoxb-bench-token"
#: Variables the bot reads; cleared for its subprocesses so the caller's cannot leak in.
BOT_VARIABLES = ("SLACK_", "METASTUDIO_", "HUAWEICLOUD_", "DATABASE_URL", "VIDEOJOBS_", "PORT",
                 "WEB_CONCURRENCY", "WEB_THREADS", "LOG_LEVEL", "POLL_INTERVAL")
BOT_EXE = Path(sys.executable).with_name("videojobs-bot")


@dataclass
class Row:
    """One line of the table: a figure, the baseline measured in the same run, and the
    contract's limit where there is one. ``ratio`` is value / baseline."""

    bench: str
    figure: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    limit: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0) or self.value is None:
            return None
        return self.value / self.baseline_value


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if unit in ("s",):
        text = f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
        return text
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if float(value).is_integer():
        return f"{int(value):,}" + (f" {unit}" if unit else "")
    return f"{value:,.2f}" + (f" {unit}" if unit else "")


def table(rows: list[Row]) -> str:
    """A Markdown table of ``rows``."""
    head = ["bench", "figure", "value", "baseline (same run)", "ratio", "limit / contract"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        base = f"{r.baseline}: {fmt(r.baseline_value, r.unit)}" if r.baseline else "—"
        ratio = f"{r.ratio:.3g}×" if r.ratio is not None else "—"
        limit = " ".join(p for p in (r.limit, f"({r.note})" if r.note else "") if p) or "—"
        lines.append(f"| {r.bench} | {r.figure} | {fmt(r.value, r.unit)} | {base} | {ratio} "
                     f"| {limit} |")
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


# -- the loopback world ---------------------------------------------------------------------


@contextmanager
def simulator(**kwargs: Any) -> Iterator[Simulator]:
    """A served simulator (AK/SK ``AK-BENCH``/``SK-BENCH``, real time)."""
    sim = Simulator(PROJECT_ID, ak=AK, sk=SK, **kwargs)
    handle = sim.serve()
    try:
        yield sim
    finally:
        handle.stop()


class TimedSlack(FakeSlack):
    """The tests' fake Slack, noting when each chat.postMessage was accepted."""

    def __init__(self) -> None:
        super().__init__(token=BOT_TOKEN)
        self.post_times: list[float] = []

    def _api_chat_postMessage(self, args):
        answer = super()._api_chat_postMessage(args)
        if answer[0] == 200 and answer[1].get("ok"):
            with self._lock:
                self.post_times.append(time.monotonic())
        return answer


@contextmanager
def fake_slack() -> Iterator[TimedSlack]:
    slack = TimedSlack().start()
    try:
        yield slack
    finally:
        slack.stop()


def settings_for(sim: Simulator, slack: FakeSlack, db: Path, **overrides: Any) -> Settings:
    """Production settings pointing at the loopback simulator and fake Slack."""
    return Settings(
        database_url=f"sqlite:///{db}", slack_bot_token=slack.token,
        slack_signing_secret=SIGNING_SECRET, slack_api_url=slack.url,
        metastudio_endpoint=sim.url, metastudio_project_id=PROJECT_ID,
        metastudio_ak=AK, metastudio_sk=SK, **overrides,
    )


def bot_env(sim_url: str, slack_url: str, db: Path, **values: str) -> dict[str, str]:
    """Environment for a ``videojobs-bot`` subprocess: ours cleared, the loopback set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(BOT_VARIABLES)}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack_url,
        METASTUDIO_ENDPOINT=sim_url, METASTUDIO_PROJECT_ID=PROJECT_ID, METASTUDIO_AK=AK,
        METASTUDIO_SK=SK, DATABASE_URL=f"sqlite:///{db}", LOG_LEVEL="WARNING",
    )
    env.update(values)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            # Refused, reset, or a ReadTimeout from a server that accepted the connection
            # before it could answer: all mean "not up yet" while it boots.
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


def stop_process(process: subprocess.Popen, timeout: float = 15) -> str:
    """SIGTERM, then SIGKILL after ``timeout``; returns what it printed."""
    if process.poll() is None:
        process.terminate()
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate(timeout=5)
    return out or ""


@functools.cache
def _http_supports_no_worker() -> bool:
    """Whether ``videojobs-bot http`` has ``--no-worker`` (the web process of the Procfile
    then leaves polling to the worker process)."""
    result = subprocess.run([str(BOT_EXE), "http", "--help"], capture_output=True, text=True,
                            timeout=30, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return "--no-worker" in result.stdout


@contextmanager
def bot_http(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """``videojobs-bot http`` (gunicorn, as the Procfile's ``web:`` runs it) on a free
    loopback-reachable port; yields its base URL."""
    args = [str(BOT_EXE), "http"] + (["--no-worker"] if _http_supports_no_worker() else [])
    with server_process(args, env, cwd) as url:
        yield url


@contextmanager
def server_process(
    args: list[str], env: dict[str, str], cwd: Path, port: int | None = None
) -> Iterator[str]:
    """Run ``args`` with ``PORT`` set to ``port`` (a free one by default) until
    ``/healthz`` answers; yield the base URL; SIGTERM it afterwards."""
    port = port or free_port()
    if args and not args[0].startswith("/"):
        args = [str(BOT_EXE), *args]
    # Output goes to a file: an undrained pipe would block the server once it filled.
    log = (cwd / f"server-{port}.log").open("w")
    process = subprocess.Popen(args, cwd=cwd, env={**env, "PORT": str(port)}, text=True,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/healthz", process)
        yield url
    finally:
        stop_process(process)
        log.close()


# -- signed requests and load ---------------------------------------------------------------


def slash_body(text: str, response_url: str, *, user: str = "U1", channel: str = "C1") -> str:
    return urlencode({
        "command": "/videojobs", "text": text, "user_id": user, "user_name": "bench",
        "channel_id": channel, "channel_name": "video-ops", "team_id": "T0TEST",
        "api_app_id": "A1", "trigger_id": "1.2.3", "response_url": response_url,
    })


def signed_headers(body: str, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's headers for ``body``: ``v0=`` HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(
            timestamp=timestamp, body=body),
    }


@dataclass
class LoadResult:
    latencies: list[float]
    statuses: dict[int, int]
    errors: int
    elapsed: float
    #: The non-empty answer bodies (an ack that says something, e.g. "busy").
    bodies: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else math.nan


def run_load(
    url: str, bodies: Callable[[int], str], *, requests_total: int, threads: int,
    time_limit: float, pace: float = 0.0,
) -> LoadResult:
    """POST ``requests_total`` signed bodies (``bodies(i)``) to ``url`` from ``threads``
    threads with keep-alive sessions, stopping early at ``time_limit`` seconds. With
    ``pace`` > 0 the i-th request starts no earlier than ``i * pace`` seconds in (an open
    arrival rate); otherwise each thread sends as fast as answers come back."""
    counter = iter(range(requests_total))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    said: list[str] = []
    errors = 0
    started = time.monotonic()
    deadline = started + time_limit

    def worker() -> None:
        nonlocal errors
        session = requests.Session()
        while True:
            with lock:
                i = next(counter, None)
            if i is None or time.monotonic() >= deadline:
                break
            if pace:
                wait = started + i * pace - time.monotonic()
                if wait > 0:
                    time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            body = bodies(i)
            headers = signed_headers(body)
            t0 = time.monotonic()
            try:
                answer = session.post(url, data=body, headers=headers, timeout=10)
            except requests.RequestException:
                with lock:
                    errors += 1
                continue
            took = time.monotonic() - t0
            with lock:
                if answer.text:
                    said.append(answer.text)
                latencies.append(took)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        session.close()

    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    return LoadResult(latencies, statuses, errors, time.monotonic() - started, said)


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
