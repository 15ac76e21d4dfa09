"""``failed``, ``<state>`` and ``list``: a compact listing of jobs, with the on-call
triage summary (jobs grouped by error code) on top of failed listings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, HeaderBlock

from ..domain.reply import Reply
from ..domain.runbook import DEFAULT, Runbook
from ..domain.stats import ErrorGroup
from ..metastudio.models import Job, JobState
from . import actions
from .blocks import MAX_BLOCKS, actions_block, button, context, pack_lines, post_button, section
from .format import (
    UNKNOWN_EMOJI,
    age_text,
    code,
    duration_text,
    escape,
    job_type_label,
    local_time,
    state_emoji,
    state_word,
    truncate,
)
from .hints import next_step

#: Slack: a header's text holds at most 150 characters.
_HEADER_LIMIT = 150
#: Room an asset name or error message gets in one row, so that a row stays one line.
_ASSET_LIMIT = 40
_ERROR_MSG_LIMIT = 80
#: Error groups on top of a failed listing: the top ones are what on-call acts on, and
#: capping them keeps the rows in view (fits one 3000-character section).
_TOP_GROUPS = 15


def listing_title(states: Sequence[JobState], total: int, window_label: str, *,
                  job_type: str | None = None, asset_name: str | None = None,
                  script_id: str | None = None) -> str:
    """``❌ 7 failed jobs · today (Europe/Berlin) · Photo avatar video``: the header of a
    listing, in the same words as its rows."""
    if len(states) == 1:
        what = f"{state_emoji(states[0])} {total} {state_word(states[0])}"
    elif states:
        what = f"{total} " + " or ".join(state_word(s) for s in states)
    else:
        what = str(total)
    filters = [
        job_type_label(job_type) if job_type else "",
        f'asset "{asset_name}"' if asset_name else "",
        f"script {script_id}" if script_id else "",
    ]
    extra = ", ".join(f for f in filters if f)
    jobs = "job" if total == 1 else "jobs"
    return f"{what} {jobs} · {window_label}" + (f" · {extra}" if extra else "")


def error_group_line(group: ErrorGroup) -> str:
    """``3x `MSS.00000004` Internal Error``, with a multiplication sign."""
    label = code(group.error_code) if group.error_code else "_no error code_"
    message = escape(truncate(group.error_msg, _ERROR_MSG_LIMIT)) if group.error_msg else ""
    return f"{group.count}× {label} {message}".rstrip()


def job_row(job: Job, tz: ZoneInfo, now: datetime | None = None) -> str:
    """One line per job: emoji, id, asset, type, when it was created, then how long an
    unfinished job has waited or run (given ``now``), or when a finished one ended and
    its error code (failed) or run time."""
    asset = escape(truncate(job.asset_name, _ASSET_LIMIT)) if job.asset_name else "_no asset_"
    columns = [
        f"{_state_mark(job)} {code(job.job_id or '(no id)')}",
        asset,
        escape(job_type_label(job.job_type)),
        f"created {local_time(job.create_time, tz)}",
    ]
    age = age_text(job, now) if now is not None else None
    if age:
        columns.append(f"*{age}*")
    elif job.is_finished:
        if job.end_time:
            columns.append(f"ended {local_time(job.end_time, tz)}")
        if job.state == JobState.FAILED:
            info = job.error_info
            columns.append(code(info.error_code) if info and info.error_code
                           else "_no error code_")
        else:
            columns.append(f"ran {duration_text(job.run_seconds)}")
    return " · ".join(columns)


def _state_mark(job: Job) -> str:
    """The state's emoji; a state the bot does not know is also named (``❔ ARCHIVED``)."""
    mark = state_emoji(job)
    return f"{mark} {escape(job.state_name)}" if mark == UNKNOWN_EMOJI else mark


def listing_reply(title: str, jobs: list[Job], total: int, tz: ZoneInfo, *, offset: int = 0,
                  error_groups: list[ErrorGroup] | None = None, groups_capped: bool = False,
                  groups_pending: bool = False,
                  more_value: str | None = None, post_value: str | None = None,
                  now: datetime | None = None, code_buttons: dict[str, str] | None = None,
                  runbook: Runbook = DEFAULT) -> Reply:
    """A page of a listing: ``title`` as the header (the router words it, e.g. "❌ 7 failed
    jobs · today (Europe/Berlin)"), the triage summary when ``error_groups`` is given
    (pass it, even empty, for failed listings), one row per job, "Show more" while
    ``offset + len(jobs) < total``, and "Post to channel". ``groups_pending``: the groups
    are from the newest page only and an answer counting every failure will replace this.

    Stays within Slack's limits however many jobs are passed: rows are packed into
    sections of at most 3000 characters, and the message into at most 50 blocks."""
    head: list[Block] = [HeaderBlock(text=truncate(title, _HEADER_LIMIT))]
    if not jobs:
        return _empty(title, head, offset, error_groups is not None, post_value)

    if error_groups:
        ranked = sorted(error_groups, key=lambda g: g.count, reverse=True)
        head += _triage(ranked[:_TOP_GROUPS], code_buttons or {}, runbook)
        if len(ranked) > _TOP_GROUPS:
            head.append(context(f"_and {len(ranked) - _TOP_GROUPS} more error codes_"))
        if groups_capped:
            head.append(context("Grouped from the newest failures only, not all of them."))
        if groups_pending:
            grouped = sum(group.count for group in error_groups)
            head.append(context(f"Grouped from the newest {grouped} failures; counting all "
                                f"{total}: this message is updated when that is done."))

    buttons = []
    if more_value and offset + len(jobs) < total:
        buttons.append(button("Show more", actions.SHOW_MORE, more_value))
    if post_value:
        buttons.append(post_button(post_value))
    tail = actions_block(buttons)

    rows = [section(text) for text in pack_lines(job_row(job, tz, now) for job in jobs)]
    # Slack: at most 50 blocks a message; one stays free for the footer.
    room = MAX_BLOCKS - len(head) - len(tail) - 1
    shown_rows = rows[:room]
    footer = f"Jobs {offset + 1} to {offset + len(jobs)} of {total}"
    if len(shown_rows) < len(rows):
        footer += " (some rows left out: Slack shows 50 blocks a message; narrow the query)"
    # The header is plain_text, but ``text`` is mrkdwn (and the notification of a message
    # posted to the channel): a filter typed as asset="<!channel>" must not ping anyone.
    return Reply(
        text=truncate(f"{escape(title)}: jobs {offset + 1} to {offset + len(jobs)} of {total}",
                      _HEADER_LIMIT),
        blocks=[*head, *shown_rows, context(footer), *tail],
    )


def _triage(groups: list[ErrorGroup], code_buttons: dict[str, str],
            runbook: Runbook) -> list[Block]:
    """The triage block: one section per error code with the runbook's next step and,
    when ``code_buttons`` has a value for the code, a button listing all its jobs."""
    blocks: list[Block] = [section("*By error code*")]
    for group in groups:
        lines = [error_group_line(group)]
        step = next_step(group.error_code, runbook)
        if step:
            lines.append(f"↳ {step}")
        value = code_buttons.get(group.error_code or "")
        accessory = button("List jobs", actions.JOBS_WITH_CODE, value) if value else None
        blocks.append(section("\n".join(lines), accessory=accessory))
    return blocks


def _empty(title: str, head: list[Block], offset: int, failed: bool,
           post_value: str | None) -> Reply:
    if offset:
        line = "No more jobs."
    elif failed:
        line = "No failed jobs in this window 🎉"
    else:
        line = "No jobs match in this window."
    blocks = [*head, section(line), *actions_block([post_button(post_value)] if post_value else [])]
    return Reply(text=truncate(f"{escape(title)}: {line}", _HEADER_LIMIT), blocks=blocks)
