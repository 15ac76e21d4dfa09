"""Slash-command acknowledgement and answer times while MetaStudio takes 2.5 s per call.

``videojobs-bot http`` (gunicorn, as the Procfile's ``web:`` runs it) in a subprocess,
signed ``/videojobs`` commands over loopback at ~10 a second from a bounded threaded
client, against Slack's 3 s deadline (docs/slack-platform.md). Baseline, same server and same
load: the simulator answering at once. The answers themselves arrive later at each
command's response_url; the table counts how many arrived within the time limit.

Then the load: 20 commands a second for 30 s with the same 2.5 s upstream, and the time
from each command to its answer at the response_url (goal: p99 within the upstream
latency + 1 s for every command type; commands refused as "busy" are counted apart).
The same seeded mix runs twice, against the bot and against the previous design
(``VIDEOJOBS_SEQUENTIAL_READS=true``: a summary's reads in two rounds, a status look-up
answered once all its reads are done), each with its own server and a cold cache, and
the MetaStudio requests each run made are counted. Then each command type's requests
per command, in one process through the bot's router and cached client, both designs.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from .common import (
    AK,
    PROJECT_ID,
    SK,
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
            seconds = 2.0 if quick else LOAD_SECONDS
            load = _load(events, slack, sim, "load", latency, seconds, job_ids)
            sim.faults.latency = 0.0
        previous_env = {**env, "DATABASE_URL": f"sqlite:///{Path(tmp) / 'previous.sqlite3'}",
                        "VIDEOJOBS_SEQUENTIAL_READS": "true"}
        with bot_http(previous_env, Path(tmp)) as url:
            events = f"{url}/slack/events"
            run_load(events, _bodies(slack, "pwarm", 0, job_ids), requests_total=3, threads=1,
                     time_limit=10)
            wait_for(lambda: _answered(slack, "pwarm") >= 3, timeout=30)
            sim.faults.latency = latency
            previous = _load(events, slack, sim, "prev", latency, seconds, job_ids)
            sim.faults.latency = 0.0
        texts = _bodies(slack, "probe", 3, job_ids).texts  # type: ignore[attr-defined]
        probe = texts[: 60 if quick else 400]
        per_kind = {design: _requests_per_kind(sim, probe, side_by_side=design)
                    for design in (True, False)}
        post_rows = _post_cpu(slack, 100 if quick else 1000)
    load_rows = _load_rows(load, previous, latency, seconds, per_kind) + post_rows

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
        #: When each command's last answer so far arrived, and how many it had.
        self.replaced: dict[str, float] = {}
        self.posts: dict[str, int] = {}
        self.busy = 0
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            with self.slack._lock:
                names = [(n, len(posts)) for n, posts in self.slack.responses.items()
                         if n.startswith(self.prefix)]
            now = time.monotonic()
            for name, posts in names:
                self.answered.setdefault(name, now)
                if self.posts.get(name) != posts:
                    self.posts[name] = posts
                    self.replaced[name] = now

    def latencies(self) -> list[float]:
        self._stop.set()
        self._watcher.join()
        return [self.answered[n] - t for n, t in self.sent.items() if n in self.answered]

    def by_kind(self, texts: list[str], *, last: bool = False) -> dict[str, list[float]]:
        """Answer times by the command's first word (``status``, ``summary``, ...): to
        the first answer, or (``last``) to the last one (a replacement)."""
        answered = self.replaced if last else self.answered
        kinds: dict[str, list[float]] = {}
        for name, sent in self.sent.items():
            if name in answered:
                text = texts[int(name[len(self.prefix):]) % len(texts)]
                kinds.setdefault(text.split()[0], []).append(answered[name] - sent)
        return kinds


@dataclass
class _Load:
    """One design's run of the seeded mix under load."""

    total: int
    answered: list[float]
    #: Command type -> times to its first answer, and to its last (a replacement).
    first: dict[str, list[float]]
    last: dict[str, list[float]]
    busy: int
    acks: list[float]
    #: MetaStudio requests made from the first command until every answer was given.
    requests: int


def _load(events: str, slack, sim, prefix: str, latency: float, seconds: float,
          job_ids: list[str]) -> _Load:
    """``LOAD_RATE`` commands a second for ``seconds`` with ``latency`` upstream."""
    total = int(LOAD_RATE * seconds)
    times = _AnswerTimes(slack, prefix)
    bodies = _bodies(slack, prefix, 3, job_ids)

    def body(i: int) -> str:
        times.sent[f"{prefix}{i}"] = time.monotonic()
        return bodies(i)

    before = len(sim.requests)
    result = run_load(events, body, requests_total=total, threads=16,
                      time_limit=seconds + 30, pace=1 / LOAD_RATE)
    wait_for(lambda: len(times.answered) >= result.ok, timeout=latency * 4 + 30, step=0.1)
    # Replacements (a status's second answer) come one more round later.
    time.sleep(latency * 2 + 1)
    requests = len(sim.requests) - before
    answers = times.latencies()
    return _Load(total, answers, times.by_kind(bodies.texts),
                 times.by_kind(bodies.texts, last=True),
                 sum(1 for b in result.bodies if "busy" in b), result.latencies, requests)


def _load_rows(load: _Load, previous: _Load, latency: float, seconds: float,
               per_kind: dict[bool, dict[str, tuple[int, int]]]) -> list[Row]:
    upstream = f"{LOAD_RATE}/s for {seconds:g} s, {latency:g} s upstream"
    goal = latency + 1
    within = f"≤ {goal:g} s (upstream + 1 s)"
    p99 = percentile(load.answered, 99)
    slow_kinds = [k for k, v in sorted(load.first.items()) if percentile(v, 99) > goal]
    rows = [
        Row(NAME, f"answer p99 at response_url, {upstream}", p99, "s",
            "previous design, same mix", percentile(previous.answered, 99), limit=within,
            note=f"{'met' if not slow_kinds else 'not met by ' + ', '.join(slow_kinds)}; "
                 f"{len(load.answered)}/{load.total} answered, {load.busy} told busy "
                 f"(previous design: {len(previous.answered)}/{previous.total}, "
                 f"{previous.busy})"),
    ]
    for kind in sorted(load.first):
        if kind not in previous.first:
            continue
        first, last = load.first[kind], load.last[kind]
        kind_p99 = percentile(first, 99)
        note = f"{len(first)} commands, {'met' if kind_p99 <= goal else 'NOT met'}"
        if percentile(last, 99) > kind_p99:
            note += (f"; the replacing answer (an id the list did not return, or why a job "
                     f"ended) at p99 {percentile(last, 99):.2f} s")
        rows.append(Row(NAME, f"answer p99, `{kind}`, {upstream}", kind_p99, "s",
                        "previous design", percentile(previous.first[kind], 99),
                        limit=within, note=note))
    rows += [
        Row(NAME, f"answer p50, {upstream}", percentile(load.answered, 50), "s",
            "upstream latency", latency),
        Row(NAME, f"ack p99, {upstream}", percentile(load.acks, 99), "s",
            "Slack's deadline", DEADLINE),
        Row(NAME, f"MetaStudio requests for the whole mix, {upstream}", load.requests, "",
            "previous design, same mix", previous.requests, limit="≤ 1.1× the previous design",
            note=f"{load.requests / max(1, len(load.answered)):.2f} per command, previous "
                 f"{previous.requests / max(1, len(previous.answered)):.2f}"),
    ]
    new, old = per_kind[True], per_kind[False]
    for kind in sorted(new):
        (made, count), (old_made, old_count) = new[kind], old.get(kind, (0, 0))
        if not count or not old_count:
            continue
        rows.append(Row(NAME, f"MetaStudio requests per `{kind}` (the mix's, in order, one "
                              "process, cached)", made / count, "", "previous design",
                        old_made / old_count, limit="≤ 1.1× the previous design (the mix's "
                                                    "total)",
                        note=f"{count} commands"))
    total_new = sum(made for made, _ in new.values())
    total_old = sum(made for made, _ in old.values())
    rows.append(Row(NAME, "MetaStudio requests for those commands, all types", total_new, "",
                    "previous design", total_old, limit="≤ 1.1× the previous design"))
    return rows


def _post_cpu(slack, posts: int) -> list[Row]:
    """CPU of the answering thread per answer POSTed to a response_url (a status card's
    payload, to the fake Slack on loopback): the bot's session, which reads the
    environment once (bot/slack/response_url.py), against the same session trusting the
    environment on every POST, as requests does by default. Thread CPU time, so the fake
    Slack's own threads in this process do not count; alternated in blocks of 50."""
    from bot.slack.response_url import ResponseUrls

    card = {"text": "Status: `job` Succeeded", "response_type": "ephemeral",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 600}}] * 8}
    sessions = {True: ResponseUrls(pool_size=2), False: ResponseUrls(pool_size=2)}
    sessions[False]._session.trust_env = True  # the previous design: requests' default
    spent = {True: 0.0, False: 0.0}
    url = slack.response_url("cpu")
    for design in (True, False):  # warm both connections
        sessions[design].post(url, card)
    for block in range(posts // 50):
        for design in ((True, False) if block % 2 else (False, True)):
            started = time.thread_time()
            for _ in range(50):
                sessions[design].post(url, card)
            spent[design] += time.thread_time() - started
    count = posts // 50 * 50
    with slack._lock:
        slack.responses.pop("cpu", None)
    return [Row(NAME, "CPU per answer POSTed to a response_url (answering thread)",
                spent[True] / count, "s", "session reading the environment per POST",
                spent[False] / count, note=f"{count} posts each, loopback")]


def _requests_per_kind(sim, texts: list[str], *, side_by_side: bool
                       ) -> dict[str, tuple[int, int]]:
    """Command type -> (MetaStudio requests, commands): ``texts`` answered one after
    another through the bot's router over a fresh cached client (as one answering
    process would, replacements included), so each request belongs to one command."""
    from bot.commands.router import Router
    from bot.commands.types import Context
    from bot.metastudio.operations import JobOperations
    from bot.settings import Settings
    from bot.wiring.metastudio import build_assets, build_jobs_client

    settings = Settings(_env_file=None, metastudio_endpoint=sim.url,  # type: ignore[call-arg]
                        metastudio_project_id=PROJECT_ID, metastudio_ak=AK, metastudio_sk=SK,
                        videojobs_sequential_reads=not side_by_side)
    jobs = build_jobs_client(settings)
    router = Router(jobs, operations=JobOperations.of(jobs), assets=build_assets(settings, jobs),
                    side_by_side=side_by_side)
    counts: dict[str, tuple[int, int]] = {}
    for i, text in enumerate(texts):
        ctx = Context(user_id=f"U{i % 6}", channel_id="C1",
                      tz=ZoneInfo(("Asia/Shanghai", "Europe/Berlin")[i % 2]))
        before = len(sim.requests)
        reply = router.handle(text, ctx)
        if reply.followup is not None:
            reply.followup()
        made, count = counts.get(text.split()[0], (0, 0))
        counts[text.split()[0]] = (made + len(sim.requests) - before, count + 1)
    return counts


def _answered(slack, prefix: str) -> int:
    with slack._lock:
        return sum(1 for name in slack.responses if name.startswith(prefix))
