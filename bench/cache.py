"""The cache: upstream calls for concurrent identical queries, for repeats within the
cache's time, and over a realistic mixed workload.

The router over the bot's cached client (``build_jobs_client``, production TTLs) against
the same router over the plain client under it, on the same simulator; upstream calls
are counted from what the simulator recorded.

The mixed workload is seeded: users in three timezones send a Zipf-like mix of status
look-ups (a few jobs everyone asks about, a long tail) and listings/summaries, with
exponential gaps averaging ``GAP`` seconds. The cache's clock and the router's are
simulated (the cache takes an injectable clock), so half an hour of traffic runs in
seconds with the real TTLs.
"""

from __future__ import annotations

import random
import tempfile
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.commands.router import Router
from bot.commands.types import Context
from bot.metastudio.cache import CachedJobsClient
from bot.simulator import Simulator
from bot.wiring.metastudio import build_jobs_client

from .common import Row, fake_slack, settings_for, simulator

NAME = "cache"
CONCURRENT = 50
REPEATS = 20
#: Mean seconds between commands in the mixed workload (about 20 a minute).
GAP = 3.0
ZONES = ("UTC", "Asia/Shanghai", "Europe/Berlin")
#: (command text, weight); "{job}" is a job id drawn Zipf-like from recent jobs.
MIX = (
    ("status {job}", 40),
    ("failed today", 15),
    ("summary today", 10),
    ("processing", 10),
    ("failed 24h", 8),
    ("succeeded today", 7),
    ("list type=photo today", 5),
    ("status {job} {job}", 5),
)


#: Seconds of simulated time the repeats are spread over (inside the 15 s TTL).
REPEAT_SPAN = 12.0
#: Where simulated time starts: now, on a whole minute plus 20 s.
START = datetime.now(UTC).replace(second=20, microsecond=0)


def cached_on(plain, settings, clock: list[float]) -> CachedJobsClient:
    """The bot's cached client (production TTLs) over ``plain``, on simulated time:
    ``clock[0]`` seconds after START."""
    return CachedJobsClient(plain, ttl=settings.cache_ttl_seconds,
                            finished_ttl=settings.cache_finished_ttl_seconds,
                            clock=lambda: 1_000_000 + clock[0],
                            wall_clock=lambda: START + timedelta(seconds=clock[0]))


def _simulated_router(jobs, clock: list[float]) -> Router:
    return Router(jobs, clock=lambda: START + timedelta(seconds=clock[0]))


def _ctx(user: int) -> Context:
    return Context(user_id=f"U{user}", channel_id="C1", tz=ZoneInfo(ZONES[user % len(ZONES)]))


def _calls(sim: Simulator, work) -> int:
    before = sim.request_count()
    work()
    return sim.request_count() - before


def _concurrently(router: Router, text: str, n: int) -> None:
    barrier = threading.Barrier(n)

    def one(user: int) -> None:
        barrier.wait(timeout=30)
        router.handle(text, _ctx(0))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)


def workload(sim: Simulator, count: int, seed: int = 11) -> list[tuple[float, int, str, str]]:
    """(seconds from start, user, kind, command text), reproducibly."""
    rng = random.Random(seed)
    recent = sorted(sim.jobs.values(), key=lambda j: j["create_time"], reverse=True)[:300]
    ids = [j["job_id"] for j in recent]
    # Zipf-like: the k-th most recent job is asked about with weight 1/k.
    job_weights = [1 / (k + 1) for k in range(len(ids))]
    kinds, weights = zip(*MIX, strict=True)
    at, out = 0.0, []
    for _ in range(count):
        at += rng.expovariate(1 / GAP)
        kind = rng.choices(kinds, weights)[0]
        text = kind
        while "{job}" in text:
            text = text.replace("{job}", rng.choices(ids, job_weights)[0], 1)
        out.append((at, rng.randrange(8), kind, text))
    return out


def _replay(sim: Simulator, router: Router, items, clock: list[float]) -> Counter[str]:
    """Run the workload; upstream calls per command kind. ``clock[0]`` is the simulated
    offset in seconds that the cache's and router's clocks read."""
    calls: Counter[str] = Counter()
    for at, user, kind, text in items:
        clock[0] = at
        calls[kind] += _calls(sim, lambda t=text, u=user: router.handle(t, _ctx(u)))
    return calls


def run(quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp, fake_slack() as slack, \
            simulator(seed_jobs=600) as sim:
        settings = settings_for(sim, slack, Path(tmp) / "cache.sqlite3")
        cached = build_jobs_client(settings)
        plain = cached.inner
        job = next(iter(sim.jobs))

        # 1. Concurrent identical queries, while each upstream call takes 200 ms.
        sim.faults.latency = 0.2
        n = 10 if quick else CONCURRENT
        for text in ("failed today", f"status {job}"):
            got = _calls(sim, lambda t=text: _concurrently(Router(cached), t, n))
            base = _calls(sim, lambda t=text: _concurrently(Router(plain), t, n))
            rows.append(Row(NAME, f"{n} concurrent `{text.split()[0]} …`: upstream calls", got,
                            "", f"{n} uncached", base, limit="1"))
            cached.invalidate()
        sim.faults.latency = 0.0

        # 2. Repeats within the TTL (the first query fills the cache), spread over
        # REPEAT_SPAN simulated seconds: a relative window like 24h moves with the clock.
        repeats = 5 if quick else REPEATS
        for text in ("failed today", "failed 24h", f"status {job}"):
            clock = [0.0]
            router = _simulated_router(cached_on(plain, settings, clock), clock)
            router.handle(text, _ctx(0))

            def again(r: Router = router, t: str = text, c: list[float] = clock) -> None:
                for i in range(repeats):
                    c[0] = (i + 1) * REPEAT_SPAN / repeats
                    r.handle(t, _ctx(0))

            got = _calls(sim, again)
            base = _calls(sim, lambda t=text: [Router(plain).handle(t, _ctx(0))
                                               for _ in range(repeats)])
            rows.append(Row(NAME, f"{repeats} repeats of `{text.split()[0]} {text.split()[1][:8]}"
                                  f"` over {REPEAT_SPAN:g} s: upstream calls", got, "",
                            "uncached", base, limit=f"0 (TTL {settings.cache_ttl_seconds:g} s)"))

        # 3. The mixed workload, on simulated time.
        items = workload(sim, 60 if quick else 600)
        clock = [0.0]
        mixed = cached_on(plain, settings, clock)
        router = _simulated_router(mixed, clock)
        got = _replay(sim, router, items, clock)
        base = _replay(sim, _simulated_router(plain, clock), items, clock)
        stats = mixed.stats()
        minutes = items[-1][0] / 60
        rows.append(Row(NAME, f"mixed workload, {len(items)} commands over {minutes:.0f} min "
                              "(simulated): upstream calls", sum(got.values()), "", "uncached",
                        sum(base.values())))
        rows.append(Row(NAME, "mixed workload: cache hit rate (lookups)",
                        100 * stats.hits / max(1, stats.hits + stats.misses), "%",
                        note=f"{stats.hits} hits, {stats.misses} misses"))
        for kind in ("status {job}", "failed today", "failed 24h", "summary today"):
            rows.append(Row(NAME, f"mixed workload: calls for `{kind}`", got[kind], "",
                            "uncached", base[kind]))
        plain.close()
    return rows
