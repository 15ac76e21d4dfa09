"""Slash commands per second through the production HTTP server on this machine.

``videojobs-bot http`` (gunicorn gthread, the default 1 worker × 8 threads) against the
ceiling: a slack-bolt app that only acknowledges (``bench.minimal_app``) under the same
gunicorn configuration. Load: wrk (``bench.wrk``, a C generator that saturates the
ceiling, where a Python one capped it) sending a mix of signed commands (help, status,
listings, summary) with keep-alive connections. Acks are what wrk counts; answers are
the commands whose answer then reached their response_url (the fake Slack, in this
process); commands told "busy" at once are counted from the bot's /metrics.

Without wrk installed the Python load generator (``bench.common.run_load``) runs instead,
and the rows say so.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import requests

from . import wrk
from .common import (
    Row,
    bot_env,
    bot_http,
    fake_slack,
    percentile,
    run_load,
    server_process,
    signed_headers,
    simulator,
    slash_body,
    wait_for,
)

NAME = "throughput"
THREADS = 8
COMMANDS = ("help", "failed today", "summary today", "processing 24h", "list type=photo 7d",
            "status {job}", "status {job}", "succeeded yesterday")


def _bodies(slack, job_ids: list[str], count: int, prefix: str) -> list[str]:
    rng = random.Random(7)
    return [
        slash_body(rng.choice(COMMANDS).format(job=rng.choice(job_ids)),
                   slack.response_url(f"{prefix}{i}"), user=f"U{i % 4}")
        for i in range(count)
    ]


def _answers(slack, prefix: str) -> int:
    with slack._lock:
        return sum(len(v) for k, v in slack.responses.items() if k.startswith(prefix))


def _settle(slack, prefix: str, timeout: float) -> int:
    """Answers at the response_url once they stop arriving."""
    last, deadline = -1, time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _answers(slack, prefix)
        if now == last:
            return now
        last = now
        time.sleep(1.0)
    return _answers(slack, prefix)


def _ready(url: str, slack) -> None:
    """Wait until the bot answers a command (its answering process has started), so the
    load meets the bot as it runs, not as it boots."""
    body = slash_body("help", slack.response_url("ready"))
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body)}
    requests.post(f"{url}/slack/events", data=body, headers=headers, timeout=10)
    if not wait_for(lambda: _answers(slack, "ready") > 0, timeout=120):
        raise RuntimeError("the bot never answered its first command")


def _busy(url: str) -> int:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("videojobs_commands_total") and 'outcome="busy"' in line)


def _measure(url: str, bodies: list[str], warm: list[str], tmp: Path,
             seconds: float, before_load=lambda: None) -> tuple[float, int, float, float, str]:
    """(acks per second, acks, p50, p99, generator) for ``seconds`` of load, after a
    warm-up with ``warm`` (answered elsewhere, so not counted); ``before_load`` runs
    between the two."""
    events = f"{url}/slack/events"
    if wrk.available():
        wrk.run(url, wrk.write_script(tmp / "warm.lua", warm), seconds=1, connections=4)
        before_load()
        script = wrk.write_script(tmp / f"load-{time.monotonic_ns()}.lua", bodies)
        result = wrk.run(url, script, seconds=seconds)
        return result.rate, result.ok, result.p50, result.p99, "wrk"
    run_load(events, lambda i: warm[i % len(warm)], requests_total=20, threads=2,
             time_limit=10)
    before_load()
    load = run_load(events, lambda i: bodies[i % len(bodies)], requests_total=100_000,
                    threads=THREADS, time_limit=seconds)
    return (load.rate, load.ok, percentile(load.latencies, 50),
            percentile(load.latencies, 99), "python")


def run(quick: bool = False) -> list[Row]:
    seconds = 2.0 if quick else 10.0
    if not wrk.available():
        print("  wrk not installed (apt-get install wrk): the Python load generator runs "
              "instead; it caps the baseline", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-tput-") as tmp, fake_slack() as slack, \
            simulator(seed_jobs=300) as sim:
        job_ids = list(sim.jobs)[:50]
        bodies = _bodies(slack, job_ids, 2000, "t")
        env = bot_env(sim.url, slack.url, Path(tmp) / "tput.sqlite3")
        with bot_http(env, Path(tmp)) as url:
            _ready(url, slack)
            busy_before: list[int] = []
            bot = _measure(url, bodies, _bodies(slack, job_ids, 50, "w"), Path(tmp), seconds,
                           before_load=lambda: busy_before.append(_busy(url)))
            answered = _settle(slack, "t", timeout=120)
            busy = _busy(url) - busy_before[0]
        args = [sys.executable, "-m", "bench.minimal_app"]
        env_min = {**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        with server_process(args, env_min, Path(tmp)) as url:
            ceiling = _measure(url, bodies, bodies[:50], Path(tmp), seconds)
    rate, acks, p50, p99, generator = bot
    note = (f"{generator}, {seconds:g} s, mixed commands: {acks} acked, {answered} answered "
            f"at the response_url, {busy} told busy")
    return [
        Row(NAME, f"slash commands acked/s, videojobs-bot http ({generator})", rate, "/s",
            "ack-only bolt app, same gunicorn", ceiling[0], limit="≥ 0.5×", note=note),
        Row(NAME, "commands answered at the response_url", answered, "",
            "commands acked", acks,
            note=f"{busy} told busy in the ack: a saturating load is far past what the "
                 "answering process can answer, and past its places the bot says so at "
                 "once; answered + busy may exceed acks, as wrk does not count requests "
                 "still in flight when its time is up"),
        Row(NAME, "ack latency p50 under that load", p50, "s", "ack-only bolt app", ceiling[2]),
        Row(NAME, "ack latency p99 under that load", p99, "s", "ack-only bolt app", ceiling[3]),
    ]


if __name__ == "__main__":  # a quick look: python -m bench.throughput
    from .common import table

    print(table(run(quick="--quick" in sys.argv)))
    _ = wait_for
