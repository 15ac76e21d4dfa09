"""Running a call from many threads at once, for single-flight and locking tests."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_concurrently(n: int, fn: Callable[[], object]) -> list[object]:
    """``fn`` in ``n`` threads released together; each result or exception, in order."""
    results: list[object] = [None] * n
    start = threading.Barrier(n)

    def worker(i: int) -> None:
        start.wait()
        try:
            results[i] = fn()
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results
