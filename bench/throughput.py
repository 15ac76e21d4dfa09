"""Slash commands per second through the production HTTP server on this machine.

``videojobs-bot http`` (gunicorn gthread, the default 1 worker × 8 threads) against the
ceiling: a slack-bolt app that only acknowledges (``bench.minimal_app``) under the same
gunicorn configuration. Same load generator for both: ``THREADS`` keep-alive client
threads on loopback sending signed ``/videojobs help`` commands, a fixed number of
requests and a time limit. The bot also answers each command at its response_url (the
fake Slack, in this process), so its figure includes that work; the ceiling's does not.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from .common import (
    Row,
    bot_env,
    bot_http,
    fake_slack,
    percentile,
    run_load,
    server_process,
    simulator,
    slash_body,
)

NAME = "throughput"
THREADS = 8


def _load(url: str, slack, total: int, limit: float):
    def body(i: int) -> str:
        return slash_body("help", slack.response_url(f"t{i % 50}"), user=f"U{i % 4}")

    events = f"{url}/slack/events"
    run_load(events, body, requests_total=20, threads=2, time_limit=10)  # warm-up
    return run_load(events, body, requests_total=total, threads=THREADS, time_limit=limit)


def run(quick: bool = False) -> list[Row]:
    total, limit = (60, 10.0) if quick else (3000, 30.0)
    with tempfile.TemporaryDirectory(prefix="bench-tput-") as tmp, fake_slack() as slack, \
            simulator() as sim:
        env = bot_env(sim.url, slack.url, Path(tmp) / "tput.sqlite3")
        with bot_http(env, Path(tmp)) as url:
            bot = _load(url, slack, total, limit)
        args = [sys.executable, "-m", "bench.minimal_app"]
        env_min = {**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        with server_process(args, env_min, Path(tmp)) as url:
            ceiling = _load(url, slack, total, limit)
    note = f"{bot.ok}/{total} answered 200 in {bot.elapsed:.1f} s, {bot.errors} errors"
    return [
        Row(NAME, "slash commands/s, videojobs-bot http", bot.rate, "/s",
            "ack-only bolt app, same gunicorn", ceiling.rate, note=note),
        Row(NAME, "latency p50 under that load", percentile(bot.latencies, 50), "s",
            "ack-only bolt app", percentile(ceiling.latencies, 50)),
        Row(NAME, "latency p99 under that load", percentile(bot.latencies, 99), "s",
            "ack-only bolt app", percentile(ceiling.latencies, 99)),
    ]
