"""Reads made side by side: a command whose answer needs several independent MetaStudio
reads waits for the slowest of them, not for their sum (PRODUCT.md, "How fast": every
answer within the upstream latency + 1 s; docs/operations.md, "Load").

One small pool per process, shared by every command, so side-by-side reads neither
start threads per command nor grow without bound. The calling thread runs the first
read itself: a command never waits for a pool thread to start its first read, and a
busy pool delays only the others. Nothing submitted here waits on this pool in turn
(each task is a single read), so the pool cannot deadlock on itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Threads of the shared pool, as many as the MetaStudio requests a process has in
#: flight (METASTUDIO_MAX_CONCURRENCY's default). Side-by-side reads are a few per
#: command (a summary's seven besides its own, a status's one per id the list did not
#: find), but a read the cache is already fetching for another command holds its
#: thread until that flight lands: with 32 threads, six summaries at once (20 commands
#: a second, 2.5 s upstream) left reads queued for a pool thread, a round late.
POOL_THREADS = 64

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _shared() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=POOL_THREADS,
                                       thread_name_prefix="side-by-side")
        return _pool


class Outcome(Generic[T]):
    """One read's result, or the exception it raised (never both)."""

    __slots__ = ("error", "value")

    def __init__(self, value: T | None = None, error: Exception | None = None) -> None:
        self.value = value
        self.error = error

    def get(self) -> T:
        """The result, or the read's exception raised again."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


#: Reads one call puts in flight at once: a look-up of many ids (the stuck watch's, or
#: any caller's where the server ignores ``job_ids``: one read per id) goes in rounds of
#: this many rather than all at once, so a background check never bursts hundreds of
#: requests at MetaStudio. A status asks for at most 20 ids (commands/parse.py).
AT_ONCE = 40


def settle(reads: Sequence[Callable[[], Any]], *, at_once: int = AT_ONCE
           ) -> list[Outcome[Any]]:
    """Run ``reads`` side by side (``at_once`` at a time) and return each one's
    :class:`Outcome`, in order. Every read is waited for, whether or not another
    failed: nothing is left running behind an answer."""
    if len(reads) > at_once:
        return [outcome for start in range(0, len(reads), at_once)
                for outcome in settle(reads[start:start + at_once], at_once=at_once)]
    if not reads:
        return []
    pool = _shared()
    futures: list[Future[Any]] = [pool.submit(read) for read in reads[1:]]
    outcomes = [_run(reads[0])]
    for future in futures:
        try:
            outcomes.append(Outcome(future.result()))
        except Exception as e:  # handed back to the caller as is
            outcomes.append(Outcome(error=e))
    return outcomes


def run_all(reads: Sequence[Callable[[], Any]], *, at_once: int = AT_ONCE) -> list[Any]:
    """Run ``reads`` side by side (``at_once`` at a time) and return their results in
    order; the first exception (in the order given) is raised once all have ended."""
    return [outcome.get() for outcome in settle(reads, at_once=at_once)]


def _run(read: Callable[[], T]) -> Outcome[T]:
    try:
        return Outcome(read())
    except Exception as e:  # handed back to the caller as is
        return Outcome(error=e)
