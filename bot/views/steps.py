"""What workflow steps say: the outputs of "List failed video jobs" and the steps' error
lines. Plain text, not mrkdwn: Workflow Builder puts a step's output into a message as
it is, and shows a step's error as it is."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..domain.stats import ErrorGroup
from ..metastudio.models import Job
from .format import duration_text, local_time, truncate

#: Rows "List failed video jobs" formats; the rest is counted in a last line.
LIST_ROWS = 20
#: Characters of the formatted list: a message section holds 3,000.
LIST_CHARS = 3000
_ASSET, _ERROR = 40, 80
NO_CODE = "no error code"


def error_summary(groups: Sequence[ErrorGroup]) -> str:
    """``MSS.10001001 × 3, MSS.00000004 × 2``: failures per error code, most first."""
    counts: dict[str, int] = {}
    for group in groups:
        name = group.error_code or NO_CODE
        counts[name] = counts.get(name, 0) + group.count
    return ", ".join(f"{name} × {n}" for name, n in
                     sorted(counts.items(), key=lambda item: -item[1]))


def failed_list(title: str, total: int, groups: Sequence[ErrorGroup], jobs: Sequence[Job],
                tz: ZoneInfo) -> str:
    """A message's worth of failures: the title, a line per error (code, message, count),
    then a line per job, newest first, and how many more there are."""
    lines = [title]
    lines += [f"{g.error_code or NO_CODE} {truncate(g.error_msg or '', _ERROR)} × {g.count}"
              .replace("  ", " ") for g in groups[:5]]
    if jobs:
        lines.append("")
    shown = 0
    for job in jobs[:LIST_ROWS]:
        error = job.error_info
        why = " ".join(p for p in ((error.error_code if error else None) or NO_CODE,
                                   truncate((error.error_msg if error else None) or "", _ERROR))
                       if p)
        row = (f"• {job.job_id} {truncate(job.asset_name or '', _ASSET)} — {why} · "
               f"{local_time(job.end_time or job.create_time, tz)}").replace("  ", " ")
        if len("\n".join([*lines, row])) > LIST_CHARS - 40:
            break
        lines.append(row)
        shown += 1
    if total > shown:
        lines.append(f"…and {total - shown} more")
    return "\n".join(lines)


def failed_title(total: int, window: str) -> str:
    return f"{total} failed job{'s' * (total != 1)} · {window}"


def wait_words(wait: timedelta) -> str:
    """``14 min``, ``2 min 30 s``, ``3 s``: a step's maximum wait."""
    return duration_text(wait.total_seconds())


def timed_out(job_id: str, wait: timedelta, since: datetime) -> str:
    """The error of a wait that reached its maximum."""
    return (f"Job `{job_id}` had not ended {wait_words(wait)} after the step started "
            f"({since.strftime('%H:%M:%S')} UTC), the step's maximum wait.")


_MENTION = re.compile(r"<[@!](?:subteam\^)?([A-Z0-9]+)(?:\|[^>]*)?>")


def plain_line(mrkdwn: str) -> str:
    """A line the bot words for Slack messages, as a step's error: mentions as ``@ID``,
    no leading emoji."""
    text = _MENTION.sub(lambda m: f"@{m[1]}", mrkdwn)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    first, _, rest = text.partition(" ")
    return rest if first and not first.isascii() and rest else text
