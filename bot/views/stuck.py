"""``stuck``: unfinished jobs past their line, oldest first, with how long each has
waited or run and where the line was."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, HeaderBlock

from ..domain.reply import Reply
from ..domain.stuck import StuckJob
from .blocks import MAX_BLOCKS, actions_block, context, pack_lines, post_button, section
from .format import short_duration
from .listings import job_row

#: Rows shown; the rest are counted.
MAX_ROWS = 40


def stuck_reply(stuck: list[StuckJob], unfinished: int, tz: ZoneInfo, now: datetime, *,
                older_than: float | None, lines: dict[tuple[str, str], float],
                post_value: str | None) -> Reply:
    """The stuck jobs, and how the line was drawn (given, or learnt per type)."""
    if older_than is not None:
        rule = f"older than {short_duration(older_than)}"
    else:
        rule = "past the 95th percentile of recent waits and runs of their type"
    title = f"🐢 {len(stuck)} stuck job{'s' * (len(stuck) != 1)} · {rule}"
    blocks: list[Block] = [HeaderBlock(text=title[:150])]
    if not stuck:
        blocks.append(section(f"Nothing stuck among {unfinished} unfinished jobs 🎉"))
    else:
        rows = [f"{job_row(s.job, tz, now)} · line {short_duration(s.line)}"
                for s in stuck[:MAX_ROWS]]
        blocks += [section(text) for text in pack_lines(rows)][: MAX_BLOCKS - 4]
        if len(stuck) > MAX_ROWS:
            blocks.append(context(f"and {len(stuck) - MAX_ROWS} more"))
    if older_than is None:
        learnt = " · ".join(
            f"{'Photo' if k == 'photo' else '2D'} {p} {short_duration(v)}"
            for (k, p), v in sorted(lines.items()))
        blocks.append(context(f"Lines: {learnt} (at least 30 min waiting, 1 h running). "
                              "`/videojobs stuck 2h` sets your own."))
    blocks += actions_block([post_button(post_value)] if post_value and stuck else [])
    return Reply(text=title, blocks=blocks)
