"""``status``: one card per job, and the reply that stacks them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ConfirmObject,
    DividerBlock,
    ImageElement,
    MarkdownTextObject,
)

from ..domain.explain import Reason
from ..domain.recreate import RETRYABLE_TYPES
from ..domain.reply import Reply
from ..domain.runbook import DEFAULT, Runbook
from ..metastudio.models import Job, JobState
from . import actions
from .blocks import (
    BUTTON_VALUE_LIMIT,
    MAX_BLOCKS,
    TEXT_LIMIT,
    actions_block,
    button,
    context,
    pack_lines,
    post_button,
    section,
)
from .explain import explanation_text
from .format import (
    NONE,
    age_seconds,
    code,
    duration_text,
    escape,
    job_type_label,
    link,
    local_time,
    short_duration,
    state_label,
    truncate,
)
from .hints import next_step

#: Slack: a section field holds at most 2000 characters.
_FIELD_LIMIT = 2000
#: Room an asset name gets in a card's text.
_ASSET_LIMIT = 200


def job_card(job: Job, tz: ZoneInfo, *, refresh_value: str | None = None,
             now: datetime | None = None, can_cancel: bool = False,
             runbook: Runbook = DEFAULT,
             explanation: Sequence[Reason] | None = None,
             can_retry: bool = False) -> list[Block]:
    """A job's card: state, id, type, asset, times in ``tz``, durations, cover thumbnail,
    preview link (photo jobs), error when failed, and Track / Refresh buttons.

    ``refresh_value`` is the space-separated ids the Refresh button looks up again (the
    whole message it replaces); by default the job's own id. With ``now``, an unfinished
    job says how long it has waited or run. ``can_cancel`` puts a Cancel button (with
    Slack's confirm dialog) on a ``WAITING`` job, ``can_retry`` a Retry on a failed 2D or
    photo job. ``explanation`` (from
    :func:`bot.domain.explain.explain`) adds a "Why:" under the error (under the asset
    line when there is none)."""
    asset = job.asset_name
    lines = [
        f"*{escape(state_label(job))}* · {code(job.job_id or '(no id)')}",
        f"{escape(job_type_label(job.job_type))} · "
        + (f"*{escape(asset[:_ASSET_LIMIT])}*" if asset else "_no asset name_"),
    ]
    why = explanation_text(explanation or ())
    if job.state == JobState.FAILED:
        lines.append(_error_line(job))
        if why:
            lines.append(why)
        step = next_step(job.error_info.error_code if job.error_info else None, runbook)
        if step:
            lines.append(step)
    elif why:
        lines.append(why)
    if job.is_photo and job.preview_video_url:
        # Reference (OutputAssetInfo): preview_video_url is valid for 24 hours.
        lines.append(f"{link(job.preview_video_url, '▶️ Preview video')} "
                     "(link valid for 24 h)")
    age = age_seconds(job, now) if now is not None else None
    fields = [
        ("Created", local_time(job.create_time, tz)),
        *([("Running for" if job.state == JobState.PROCESSING else "Waiting for",
            short_duration(age))] if age is not None else []),
        ("Started", local_time(job.start_time, tz)),
        ("Ended", local_time(job.end_time, tz)),
        ("Run time", duration_text(job.run_seconds)),
        ("Video length", duration_text(job.duration)),
    ]
    # What a job does not have yet (or ever: a failed video has no length) is left out.
    fields = [(name, value) for name, value in fields if value != NONE or name == "Created"]
    accessory = None
    if job.cover_url:
        # Slack requires alt_text on every image.
        accessory = ImageElement(image_url=job.cover_url,
                                 alt_text=f"cover of {asset or job.job_id or 'the video'}")
    main = section(
        "\n".join(lines),
        fields=[MarkdownTextObject(text=f"*{name}*\n{value}"[:_FIELD_LIMIT])
                for name, value in fields],
        accessory=accessory,
    )
    buttons = []
    if job.job_id:
        if not job.is_finished:
            buttons.append(button("Track", actions.TRACK, job.job_id, style="primary"))
            buttons.append(button("Notify me", actions.NOTIFY_ME, job.job_id))
        buttons.append(button("Refresh", actions.REFRESH, refresh_value or job.job_id))
        if can_cancel and job.state == JobState.WAITING:
            buttons.append(cancel_button(job.job_id))
        if can_retry and job.state == JobState.FAILED and retryable(job):
            buttons.append(retry_button(job.job_id))
    return [main, *actions_block(buttons)]


def cancel_button(job_id: str, label: str = "Cancel") -> ButtonElement:
    """Cancel, behind Slack's confirm dialog (the click arrives only after "Cancel the
    job"); the value is the job id, looked up again before anything is canceled."""
    element = button(label, actions.CANCEL, job_id, style="danger")
    element.confirm = ConfirmObject(
        title="Cancel this job?",
        text=f"MetaStudio drops {escape(job_id)} from its queue. This cannot be undone.",
        confirm="Cancel the job", deny="Keep it", style="danger",
    )
    return element


def retryable(job: Job) -> bool:
    """A job MetaStudio's create can make again (2D and photo)."""
    return job.job_type in RETRYABLE_TYPES


def retry_button(job_id: str) -> ButtonElement:
    """Retry: shows what a re-creation makes and costs before anything is created
    (bot/commands/retrying.py), so it needs no confirm dialog of its own."""
    return button("Retry", actions.RETRY, job_id)


def _error_line(job: Job) -> str:
    info = job.error_info
    error_code = info.error_code if info and info.error_code else "no error code"
    message = escape(info.error_msg) if info and info.error_msg else "no error message"
    return f"*Error:* {code(error_code)} {message}"


def status_reply(jobs: list[Job], missing: list[str], tz: ZoneInfo, *,
                 post_value: str | None, now: datetime | None = None,
                 can_cancel: bool = False, runbook: Runbook = DEFAULT,
                 explanations: Mapping[str, Sequence[Reason]] | None = None,
                 can_retry: bool = False, looking: bool = False,
                 unchecked: Mapping[str, str] | None = None) -> Reply:
    """Cards for ``jobs`` (dividers between), a plain "No job `x` found." line per
    missing id, and a "Post to channel" button when ``post_value`` is given.
    ``explanations`` (job id -> reasons) explain the cards of ended jobs. ``looking``:
    the missing ids are still being looked for among older jobs (this answer will be
    replaced); ``unchecked`` (id -> a plain line saying why) are ids that look-up could
    not check, shown instead of "No job found"."""
    unchecked = unchecked or {}
    lines = [f"No job {code(job_id)} found." for job_id in missing if job_id not in unchecked]
    lines += [f"⚠️ {escape(why)}" for why in unchecked.values()]
    tail: list[Block] = [section(text) for text in pack_lines(lines)]
    if looking and missing:
        tail.append(context("Not in MetaStudio's job list; looking among older jobs too "
                            "(their detail operations). This message is updated when that "
                            "look-up is done."))
    # Nothing found: nothing worth posting to the channel.
    tail += actions_block([post_button(post_value)] if post_value and jobs else [])
    # Slack: at most 50 blocks a message; keep one for the "left out" note.
    budget = MAX_BLOCKS - len(tail) - 1
    # Refresh replaces the whole message, so every card's button re-fetches every job in it
    # (20 ids at most from the parser, ~1300 characters; past Slack's 2000 for a button
    # value, each card refreshes only itself).
    refresh_value = " ".join(job.job_id for job in jobs if job.job_id)
    if len(refresh_value) > BUTTON_VALUE_LIMIT:
        refresh_value = ""
    body: list[Block] = []
    shown = 0
    for job in jobs:
        card = job_card(job, tz, refresh_value=refresh_value, now=now, can_cancel=can_cancel,
                        runbook=runbook, explanation=(explanations or {}).get(job.job_id),
                        can_retry=can_retry)
        card = ([DividerBlock()] if body else []) + card
        if len(body) + len(card) > budget:
            break
        body += card
        shown += 1
    if shown < len(jobs):
        left_out = len(jobs) - shown
        body.append(context(f"{left_out} more job{'s' * (left_out != 1)} left out: "
                            "Slack shows 50 blocks a message. Ask for fewer ids at once."))
    return Reply(text=_status_text(jobs, missing, unchecked), blocks=body + tail)


def _status_text(jobs: list[Job], missing: list[str], unchecked: Mapping[str, str]) -> str:
    parts = [f"{code(job.job_id or '(no id)')} {escape(state_label(job))}" for job in jobs]
    parts += [f"{code(job_id)} not checked" if job_id in unchecked else f"no job {code(job_id)}"
              for job_id in missing]
    text = "Status: " + ", ".join(parts) if parts else "Status: no jobs asked for."
    return truncate(text, TEXT_LIMIT)
