"""The App Home tab as a ``home`` view. Pure: :class:`HomeData` in, the view out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock

from ..domain.records import Subscription, TrackedJob
from ..domain.stats import ErrorGroup
from ..metastudio.models import Job
from . import actions
from .blocks import actions_block, button, context, pack_lines, section
from .format import code, duration_text, escape, local_time, state_emoji, state_label, truncate
from .listings import error_group_line

#: Re-render the whole tab (button value: unused).
HOME_REFRESH = "videojobs_home_refresh"
#: Slack: a Home tab holds at most 100 blocks.
MAX_HOME_BLOCKS = 100
#: Stuck jobs listed, one section (with its Track button) each.
MAX_STUCK = 15
#: Error groups listed under today's failures.
MAX_GROUPS = 10


@dataclass(frozen=True)
class HomeData:
    """What one person's tab shows (gathered by ``bot.slack.home.HomeBuilder``)."""

    user_id: str
    now: datetime
    tz: ZoneInfo
    #: Their tracked jobs, newest first, each with the job as upstream shows it now
    #: (None when the look-up did not find it).
    tracked: list[tuple[TrackedJob, Job | None]] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    failed_today: int = 0
    failure_groups: list[ErrorGroup] = field(default_factory=list)
    #: True when the groups come from the newest failures only.
    failures_sampled: bool = False
    stuck: list[Job] = field(default_factory=list)
    #: One line on top (e.g. what a button did).
    notice: str | None = None
    #: Set when MetaStudio did not answer: failures and stuck jobs are then unknown.
    upstream_error: str | None = None


def home_view(data: HomeData) -> dict[str, Any]:
    """The ``views.publish`` view for ``data``; always within 100 blocks."""
    blocks: list[Block] = [
        HeaderBlock(text="videojobs"),
        context(f"For <@{data.user_id}> · updated {local_time(data.now, data.tz)}"),
        *actions_block([button("Refresh", HOME_REFRESH, "home")]),
    ]
    if data.notice:
        blocks.append(section(escape(data.notice)))
    blocks += _tracked(data)
    blocks += _subscriptions(data)
    if data.upstream_error:
        # Already escaped (bot.views.errors); the tab is retried with Refresh.
        blocks += [*_title("Today's failures and stuck jobs"),
                   section(data.upstream_error),
                   context("The tracked jobs above show their last known state. "
                           "Press Refresh to try again.")]
    else:
        blocks += _failures(data)
        blocks += _stuck(data)
    if len(blocks) > MAX_HOME_BLOCKS:
        blocks = [*blocks[: MAX_HOME_BLOCKS - 1],
                  context("More than fits in a Home tab; ask with `/videojobs`.")]
    return {"type": "home", "blocks": [b.to_dict() for b in blocks]}


def _title(text: str) -> list[Block]:
    return [DividerBlock(), section(f"*{text}*")]


def _word(state: str | None) -> str:
    """``Processing`` (the label without its emoji, which leads the row)."""
    return escape(state_label(state).split(" ", 1)[-1])


def _age(data: HomeData, since: datetime | None) -> str:
    if since is None:
        return "age unknown"
    return f"{duration_text(max(0.0, (data.now - since).total_seconds()))} old"


def _tracked(data: HomeData) -> list[Block]:
    if not data.tracked:
        return [*_title("Jobs you track"),
                context("None. `/videojobs track <job_id>`, or the message shortcut "
                        "*Track jobs in message*, tracks one.")]
    blocks = _title(f"Jobs you track ({len(data.tracked)})")
    for tracked, job in data.tracked:
        state = job.state_name if job is not None else tracked.last_state
        created = job.create_time if job is not None else tracked.job_created_at
        line = (f"{state_emoji(state)} {code(tracked.job_id)} · {_word(state)}"
                f" · {_age(data, created)} · in <#{tracked.channel}>")
        if job is not None and job.asset_name:
            line += f" · {escape(truncate(job.asset_name, 40))}"
        if tracked.paused_reason:
            line += f"\n⏸️ paused: {escape(tracked.paused_reason)}"
        blocks.append(section(line, accessory=button("Refresh", actions.REFRESH,
                                                     tracked.job_id)))
    return blocks


def _subscriptions(data: HomeData) -> list[Block]:
    title = _title(f"Subscriptions in your channels ({len(data.subscriptions)})")
    if not data.subscriptions:
        return [*title, context("None in the channels you are in. "
                                "`/videojobs subscribe failed` in a channel adds one.")]
    lines = []
    for sub in data.subscriptions:
        filters = ", ".join(f"{k}={escape(v)}" for k, v in (
            ("type", sub.job_type), ("asset", sub.asset_name), ("script", sub.script_id)) if v)
        line = f"<#{sub.channel}> #{sub.id} {sub.outcome}" + (f" ({filters})" if filters else "")
        if sub.paused_reason:
            line += " ⏸️ paused"
        lines.append(line)
    return [*title, *(section(chunk) for chunk in pack_lines(lines))]


def _failures(data: HomeData) -> list[Block]:
    title = _title(f"Today's failures ({data.failed_today}) · {data.tz.key}")
    if not data.failed_today:
        return [*title, context("No failed jobs today 🎉")]
    ranked = sorted(data.failure_groups, key=lambda g: g.count, reverse=True)
    lines = [error_group_line(g) for g in ranked[:MAX_GROUPS]]
    if len(ranked) > MAX_GROUPS:
        lines.append(f"_and {len(ranked) - MAX_GROUPS} more error codes_")
    blocks = [*title, *(section(chunk) for chunk in pack_lines(lines))]
    if data.failures_sampled:
        blocks.append(context("Grouped from the newest 100 failures; "
                              "`/videojobs failed` has them all."))
    return blocks


def _stuck(data: HomeData) -> list[Block]:
    title = _title(f"Stuck jobs ({len(data.stuck)})")
    if not data.stuck:
        return [*title, context("Nothing unfinished for longer than it should be.")]
    blocks = list(title)
    for job in data.stuck[:MAX_STUCK]:
        line = (f"{state_emoji(job)} {code(job.job_id or '(no id)')} · "
                f"{_word(job.state_name)} · {_age(data, job.create_time)}")
        if job.asset_name:
            line += f" · {escape(truncate(job.asset_name, 40))}"
        track = [button("Track", actions.TRACK, job.job_id)] if job.job_id else []
        blocks.append(section(line, accessory=track[0]) if track else section(line))
    if len(data.stuck) > MAX_STUCK:
        blocks.append(context(f"and {len(data.stuck) - MAX_STUCK} more: "
                              "`/videojobs list state=waiting,processing sort=asc`"))
    blocks.append(context("Track sends the job's end to your messages with videojobs."))
    return blocks
