"""Slash-command acknowledgement and answer times while MetaStudio takes 2.5 s per call.

``videojobs-bot http`` (gunicorn, as the Procfile's ``web:`` runs it) in a subprocess,
signed ``/videojobs`` commands over loopback at ~10 a second from a bounded threaded
client, against Slack's 3 s deadline (docs/slack-platform.md). Baseline, same server and same
load: the simulator answering at once. The answers themselves arrive later at each
command's response_url; the table counts how many arrived within the time limit.

Then the load: 20 commands a second for 30 s with the same 2.5 s upstream, and the time
from each command to its answer at the response_url (goal: p99 within the upstream
latency + 1 s; commands refused as "busy" are counted apart).
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path

from .common import (
    Row,
    bot_env,
    bot_http,
    fake_slack,
    percentile,
    run_load,
    simulator,
    slash_body,
    wait_for,
)

NAME = "ack"
UPSTREAM_LATENCY = 2.5
LOAD_RATE, LOAD_SECONDS = 20, 30
DEADLINE = 3.0
COMMANDS = ("failed today", "summary today", "processing 24h", "succeeded yesterday",
            "list type=photo 7d")


def _bodies(slack, prefix: str, seed: int, job_ids: list[str]):
    """A seeded mix: 40 % status look-ups of the project's jobs (one in twenty of them a
    mistyped id, which costs a list read and both detail reads), the rest listings and
    summaries."""
    rng = random.Random(seed)
    texts = []
    for _ in range(1000):
        if rng.random() < 0.4:
            typo = rng.random() < 0.05
            job = f"{rng.randrange(16**32):032x}" if typo else rng.choice(job_ids)
            texts.append(f"status {job}")
        else:
            texts.append(rng.choice(COMMANDS))

    def body(i: int) -> str:
        return slash_body(texts[i % len(texts)], slack.response_url(f"{prefix}{i}"),
                          user=f"U{i % 6}")

    body.texts = texts  # type: ignore[attr-defined]
    return body


def run(quick: bool = False) -> list[Row]:
    total = 6 if quick else 60
    latency = 0.5 if quick else UPSTREAM_LATENCY
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp, fake_slack() as slack, \
            simulator(seed_jobs=300) as sim:
        slack.user_timezones.update({f"U{i}": ("Asia/Shanghai", "Europe/Berlin")[i % 2]
                                     for i in range(6)})
        job_ids = list(sim.jobs)
        env = bot_env(sim.url, slack.url, Path(tmp) / "ack.sqlite3")
        with bot_http(env, Path(tmp)) as url:
            events = f"{url}/slack/events"
            # Warm-up: the first request of a fresh worker pays imports and connections.
            run_load(events, _bodies(slack, "warm", 0, job_ids), requests_total=3, threads=1,
                     time_limit=10)
            fast = run_load(events, _bodies(slack, "fast", 1, job_ids), requests_total=total,
                            threads=6, time_limit=60, pace=0.1)
            wait_for(lambda: _answered(slack, "fast") >= total, timeout=30)

            sim.faults.latency = latency
            slow_started = time.monotonic()
            slow = run_load(events, _bodies(slack, "slow", 2, job_ids), requests_total=total,
                            threads=6, time_limit=60, pace=0.1)
            wait_for(lambda: _answered(slack, "slow") >= total, timeout=20 if quick else 90,
                     step=0.1)
            answered, answer_time = _answered(slack, "slow"), time.monotonic() - slow_started
            load_rows = _load(events, slack, latency, 2.0 if quick else LOAD_SECONDS, job_ids)
            sim.faults.latency = 0.0

    upstream = f"{latency:g} s upstream"
    for q in (50, 99):
        p_slow, p_fast = percentile(slow.latencies, q), percentile(fast.latencies, q)
        rows.append(Row(NAME, f"ack p{q}, {upstream} ({slow.ok}/{total} acked 200)", p_slow,
                        "s", "instant upstream", p_fast,
                        limit=f"well under Slack's {DEADLINE:g} s",
                        note=f"{p_slow / DEADLINE:.1%} of the deadline"))
    rows.append(Row(NAME, f"ack max, {upstream}", max(slow.latencies, default=float("nan")),
                    "s", "instant upstream", max(fast.latencies, default=float("nan")),
                    limit=f"< {DEADLINE:g} s"))
    rows.append(Row(NAME, f"answers at response_url, {upstream}", answered, "",
                    "commands sent", total, note=f"all within {answer_time:.0f} s"))
    return rows + load_rows


class _AnswerTimes:
    """When each command was sent, and when its answer reached the response_url (a
    thread watching the fake Slack's record every 5 ms)."""

    def __init__(self, slack, prefix: str) -> None:
        self.slack, self.prefix = slack, prefix
        self.sent: dict[str, float] = {}
        self.answered: dict[str, float] = {}
        self.busy = 0
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            with self.slack._lock:
                names = [n for n in self.slack.responses if n.startswith(self.prefix)]
            now = time.monotonic()
            for name in names:
                self.answered.setdefault(name, now)

    def latencies(self) -> list[float]:
        self._stop.set()
        self._watcher.join()
        return [self.answered[n] - t for n, t in self.sent.items() if n in self.answered]

    def by_kind(self, texts: list[str]) -> dict[str, list[float]]:
        """Answer times by the command's first word (``status``, ``summary``, ...)."""
        kinds: dict[str, list[float]] = {}
        for name, sent in self.sent.items():
            if name in self.answered:
                text = texts[int(name[len(self.prefix):]) % len(texts)]
                kinds.setdefault(text.split()[0], []).append(self.answered[name] - sent)
        return kinds


def _load(events: str, slack, latency: float, seconds: float, job_ids: list[str]) -> list[Row]:
    """``LOAD_RATE`` commands a second for ``seconds`` with ``latency`` upstream."""
    total = int(LOAD_RATE * seconds)
    times = _AnswerTimes(slack, "load")
    bodies = _bodies(slack, "load", 3, job_ids)

    def body(i: int) -> str:
        times.sent[f"load{i}"] = time.monotonic()
        return bodies(i)

    result = run_load(events, body, requests_total=total, threads=16,
                      time_limit=seconds + 30, pace=1 / LOAD_RATE)
    wait_for(lambda: len(times.answered) >= result.ok, timeout=latency * 4 + 30, step=0.1)
    answers = times.latencies()
    kinds = times.by_kind(bodies.texts)
    per_kind = ", ".join(f"{kind} {percentile(values, 99):.2f} s ({len(values)})"
                         for kind, values in sorted(kinds.items()))
    upstream = f"{LOAD_RATE}/s for {seconds:g} s, {latency:g} s upstream"
    busy = sum(1 for b in result.bodies if "busy" in b)
    return [
        Row(NAME, f"answer p99 at response_url, {upstream}", percentile(answers, 99), "s",
            "upstream latency", latency, limit=f"≤ {latency + 1:g} s (upstream + 1 s)",
            note=f"{len(answers)}/{total} answered, {busy} told busy; p99 by command: "
                 f"{per_kind}"),
        Row(NAME, f"answer p50, {upstream}", percentile(answers, 50), "s",
            "upstream latency", latency),
        Row(NAME, f"ack p99, {upstream}", percentile(result.latencies, 99), "s",
            "Slack's deadline", DEADLINE),
    ]


def _answered(slack, prefix: str) -> int:
    with slack._lock:
        return sum(1 for name in slack.responses if name.startswith(prefix))
