"""Push latency: a job's end announced from MetaStudio's callback, against the poll
interval.

``videojobs-bot http`` (gunicorn, with its worker child polling every 30 s, as
production runs it) with ``METASTUDIO_CALLBACK_KEY`` and ``METASTUDIO_CALLBACK_URL``
set; the simulator creates jobs with that ``callback_config`` (MSS_A) and calls back
when each one ends, like MetaStudio. A channel has ``subscribe all``. Measured: from the
moment the simulator sent the callback to the moment the fake Slack accepted the first
post naming the job (in its text or its blocks: a digest's details name jobs in blocks),
p50 and max, next to the 30 s poll interval: for jobs ending 1.5 s apart, and for jobs of
one channel ending 0.5 s apart (faster than Slack's one post a second per channel), with
mixed outcomes and with one outcome (docs/delivery.md, "Folding what waits on the pace").
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bot.tracking.store.database import Store
from bot.tracking.store.tables import subscriptions

from .common import Row, bot_env, median, server_process, simulator, wait_for
from .common import fake_slack as timed_slack

NAME = "callback"
INTERVAL = 30.0
KEY = "bench-callback-key"


def _post_times(slack, job_ids: list[str]) -> dict[str, float]:
    """When the first post naming each job was accepted (monotonic seconds), in its
    text or its blocks: a digest's summary and details carry job ids in blocks."""
    found: dict[str, float] = {}
    with slack._lock:
        posts = list(zip(slack.posts(), slack.post_times, strict=False))
    for message, at in posts:
        shown = (message.text or "") + str(message.blocks or "")
        for job_id in job_ids:
            if job_id in shown and job_id not in found:
                found[job_id] = at
    return found


def _burst(sim, slack, callback_url: str, count: int, spacing: float, *,
           mixed: bool = True) -> list[float]:
    """``count`` jobs ending ``spacing`` seconds apart, all announced in C1; the
    latency of each from its callback to its first post. ``mixed``: two in three fail
    (one cause), so successes recover the incident and the next failure opens another:
    the channel, the incident's thread and new incidents' messages take turns at the
    channel's pace; otherwise every one succeeds (one destination)."""
    ids = [sim.add_job(finish_in=1 + i * spacing,
                       outcome="FAILED" if mixed and i % 3 else "SUCCEED",
                       callback_url=callback_url, callback_key=KEY)
           for i in range(count)]
    wait_for(lambda: len(_post_times(slack, ids)) == count, timeout=count * spacing + 40,
             step=0.05)
    sent = {d.job_id: d.sent_at for d in sim.callbacks.deliveries}
    posted = _post_times(slack, ids)
    return sorted(posted[i] - sent[i] for i in ids if i in posted and i in sent)


def run(quick: bool = False) -> list[Row]:
    count = 3 if quick else 20
    together = 6 if quick else 12
    with tempfile.TemporaryDirectory(prefix="bench-callback-") as tmp, timed_slack() as slack, \
            simulator() as sim:
        db = Path(tmp) / "callback.sqlite3"
        store = Store(f"sqlite:///{db}")
        store.migrate()
        store.add_subscription("C1", outcome="all", job_type=None, asset_name=None,
                               script_id=None, created_by="U1", now=sim.now())
        env = bot_env(sim.url, slack.url, db, POLL_INTERVAL_SECONDS=str(INTERVAL),
                      METASTUDIO_CALLBACK_KEY=KEY)
        with server_process_with_callback_url(env, Path(tmp)) as (_url, callback_url):
            # The worker's first cycle adopts the subscription; callbacks come after.
            def adopted() -> bool:
                with store.begin() as conn:
                    return conn.execute(sa.select(subscriptions.c.swept_at)).scalar() is not None

            if not wait_for(adopted, timeout=30, step=0.05):
                raise RuntimeError("the worker did not run its first cycle")
            sim.callbacks.start(interval=0.02)
            # One outcome first: a later burst's first success would also recover the
            # incident a mixed one left open (one more reply at the channel's pace).
            alike = _burst(sim, slack, callback_url, together, 0.5, mixed=False)
            time.sleep(2.0)  # its last post's pace
            # Ends 1.5 s apart: each post is its own, Slack's one a second never waits.
            spread = _burst(sim, slack, callback_url, count, 1.5)
            # Ends 0.5 s apart in one channel: faster than Slack's pace, so posts queue
            # and fold into digests (docs/delivery.md, "Waking at the earliest hold").
            close = _burst(sim, slack, callback_url, together, 0.5)
            sim.callbacks.stop()
        store.close()
    if not spread or not close or not alike:
        raise RuntimeError("no callback was announced")
    note = f"{len(spread)}/{count} announced before any poll could have"
    return [
        Row(NAME, f"callback -> Slack post, p50 of {count} ending 1.5 s apart",
            median(spread), "s", "poll interval", INTERVAL, limit="about a second", note=note),
        Row(NAME, f"callback -> Slack post, max of {count} ending 1.5 s apart", spread[-1],
            "s", "poll interval", INTERVAL, limit="about a second"),
        Row(NAME, f"callback -> Slack post, p50 of {together} of one channel ending 0.5 s "
            "apart", median(close), "s", "poll interval", INTERVAL, limit="≤ 1 s at p99",
            note=f"{len(close)}/{together} found, job ids read in text and blocks"),
        Row(NAME, f"callback -> Slack post, max of {together} of one channel ending 0.5 s "
            "apart", close[-1], "s", "poll interval", INTERVAL, limit="≤ 1 s at p99"),
        Row(NAME, f"callback -> Slack post, p50 of {together} of one channel and one "
            "outcome ending 0.5 s apart", median(alike), "s", "poll interval", INTERVAL,
            limit="≤ 1 s at p99", note=f"{len(alike)}/{together} found; all succeed"),
        Row(NAME, f"callback -> Slack post, max of {together} of one channel and one "
            "outcome ending 0.5 s apart", alike[-1], "s", "poll interval", INTERVAL,
            limit="≤ 1 s at p99"),
    ]


class server_process_with_callback_url:
    """``videojobs-bot http`` whose METASTUDIO_CALLBACK_URL names its own port."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd

    def __enter__(self) -> tuple[str, str]:
        from .common import free_port

        port = free_port()
        self.callback_url = f"http://127.0.0.1:{port}/metastudio/callback"
        env = {**self.env, "METASTUDIO_CALLBACK_URL": self.callback_url, "PORT": str(port)}
        self._cm = server_process(["http"], env, self.cwd, port=port)
        return self._cm.__enter__(), self.callback_url

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)
