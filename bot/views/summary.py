"""``summary``: counts per state, failure rate, top error codes, mean run time."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, HeaderBlock

from ..domain.reply import Reply
from ..domain.stats import SummaryStats
from ..metastudio.models import JobState
from .blocks import actions_block, context, pack_lines, post_button, section
from .format import age_text, code, duration_text, escape, state_label, truncate
from .listings import error_group_line

#: Known states in reading order: outcomes first, then what is still under way.
_ORDER = (JobState.SUCCEED, JobState.FAILED, JobState.CANCELED, JobState.BLOCK,
          JobState.PROCESSING, JobState.WAITING)
#: Error groups shown; the rest are one ``failed`` away.
_TOP_ERRORS = 10
#: Slack: a header's text holds at most 150 characters.
_HEADER_LIMIT = 150


def summary_reply(stats: SummaryStats, *, post_value: str | None) -> Reply:
    """The summary of a window, with "Post to channel" when ``post_value`` is given."""
    total = sum(stats.counts.values())
    unknown = sorted(name for name in stats.counts if name not in _ORDER)
    count_lines = [f"{escape(state_label(name))}: *{stats.counts.get(name, 0)}*"
                   for name in (*_ORDER, *unknown)]
    rate = _rate_text(stats)
    mean = duration_text(stats.mean_succeeded_seconds)

    blocks: list[Block] = [HeaderBlock(text=truncate(
        f"📊 Summary · {stats.window_label}", _HEADER_LIMIT))]
    blocks += [section(text) for text in pack_lines([f"*{total} jobs*", *count_lines])]
    blocks.append(section(f"*Failure rate:* {rate}\n*Mean run time of succeeded jobs:* {mean}"))
    if stats.oldest_waiting is not None and stats.now is not None:
        job = stats.oldest_waiting
        age = age_text(job, stats.now) or "waiting"
        blocks.append(section(f"*Oldest waiting job:* {code(job.job_id or '(no id)')} "
                              f"{escape(job.asset_name or '')} · *{age}*".replace("  ", " ")))
    if stats.quota_warning:
        blocks.append(section(stats.quota_warning))
    if stats.top_errors:
        ranked = sorted(stats.top_errors, key=lambda g: g.count, reverse=True)[:_TOP_ERRORS]
        # One section at most: the summary is an overview, not the triage listing.
        blocks.append(section("\n".join(["*Top errors*", *map(error_group_line, ranked)])))
    if stats.sampled is not None:
        blocks.append(context(f"Error codes and durations come from a sample of the newest "
                              f"{stats.sampled} jobs."))
    blocks += actions_block([post_button(post_value)] if post_value else [])
    text = (f"Summary · {stats.window_label}: {total} jobs, failure rate {rate}, "
            f"mean run time {mean}")
    return Reply(text=truncate(escape(text), _HEADER_LIMIT * 2), blocks=blocks)


def _rate_text(stats: SummaryStats) -> str:
    if stats.failure_rate is None:
        return "— (nothing finished)"
    failed = stats.counts.get(JobState.FAILED, 0)
    finished = sum(stats.counts.get(state, 0) for state in _ORDER if state.is_finished)
    return f"{stats.failure_rate:.1%} ({failed} of {finished} finished)"
