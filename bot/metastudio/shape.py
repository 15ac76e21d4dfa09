"""Is a 200 answer of the list endpoint shaped like one? A proxy's error page, a
truncated cache entry or a runaway page must be reported as a malformed answer, not
shown as a nonsense listing ("500 failed jobs … no failed jobs")."""

from __future__ import annotations

from typing import Any

from .query import MAX_LIMIT


def page_problem(body: dict[str, Any]) -> str | None:
    """What is wrong with a list answer, or None. ``jobs`` may be missing or null (an
    empty page); otherwise it is a list of at most ``MAX_LIMIT`` objects (the API's
    largest ``limit``), and ``count``, when present, a whole number."""
    jobs = body.get("jobs")
    if jobs is not None:
        if not isinstance(jobs, list):
            return f"'jobs' is a {type(jobs).__name__}, not a list"
        if len(jobs) > MAX_LIMIT:
            return f"{len(jobs)} jobs on one page, more than the API's {MAX_LIMIT}"
        if not all(isinstance(job, dict) for job in jobs):
            return "'jobs' holds something other than job objects"
    count = body.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or count < 0):
        return f"'count' is {count!r}, not a whole number"
    return None
