"""Block Kit for tracking: the tracking message, end-state replies, digests, and the
command answers. Pure functions of their arguments; each returns a :class:`Message`
(``text`` is the notification/fallback text Slack requires next to blocks)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    ImageBlock,
    MarkdownTextObject,
    SectionBlock,
)

from ..domain.explain import Reason
from ..domain.records import AuditEntry, ChannelNoise, Subscription, TrackedJob
from ..domain.runbook import DEFAULT, Runbook
from ..metastudio.models import Job, JobState
from .blocks import SECTION_TEXT_LIMIT as SECTION_LIMIT
from .blocks import pack_lines
from .cards import cancel_button, retry_button, retryable
from .explain import explanation_text
from .format import (
    NONE,
    code,
    duration_text,
    escape,
    link,
    local_time,
    short_duration,
    state_emoji,
    state_label,
)
from .hints import next_step

#: Jobs per digest thread reply: one section each, so 25 stay well inside Slack's 50
#: blocks, and a 500-job burst needs 20 replies at ~1 message/s, not 50.
DIGEST_CHUNK = 25
#: Slack: an actions block holds at most 25 elements.
_MAX_CANCEL_BUTTONS = 25


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[Block] = field(default_factory=list)


def emoji(state: str | None) -> str:
    return state_emoji(state)


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text[:SECTION_LIMIT])


def _sections(lines: Sequence[str]) -> list[Block]:
    """Lines packed into sections of at most 3000 characters."""
    return [SectionBlock(text=_md(chunk)) for chunk in pack_lines(lines)]


# -- the tracking message ------------------------------------------------------------------

def tracking_message(jobs: Sequence[TrackedJob], *, can_cancel: bool = False) -> Message:
    """The channel message a ``track`` posts; edited in place as its jobs end.
    ``can_cancel``: someone may press Cancel (CANCEL_ALLOWED), so waiting jobs get one."""
    done = [j for j in jobs if j.closed]
    who = jobs[0].requested_by if jobs else None
    head = f"Tracking {len(jobs)} job{'s' * (len(jobs) != 1)}"
    if who:
        head += f" for <@{who}>"
    ended = Counter(emoji(j.last_state) for j in done)
    tally = " ".join(f"{n} {mark}" for mark, n in ended.most_common())
    if jobs and len(done) == len(jobs):
        head += f": all finished, {tally}"
        foot = "All jobs ended; each one's outcome is in this thread."
    else:
        if done:
            head += f": {len(done)} finished, {tally}"
        foot = "I reply in this thread when a job ends."
    lines = [f"{emoji(j.last_state)} {code(j.job_id)} {_state(j.last_state)}" for j in jobs]
    return Message(
        text=f"{head}. {foot}",
        blocks=[SectionBlock(text=_md(f"*{head}*")), *_sections(lines),
                *(_cancel_buttons(jobs) if can_cancel else []), ContextBlock(elements=[_md(foot)])],
    )


def untracked_message(user: str) -> Message:
    """A tracking message whose every job was untracked: no reply is coming."""
    text = f"No longer tracking these jobs (untracked by <@{user}>)."
    return Message(text=text, blocks=[SectionBlock(text=_md(f"_{text}_"))])


def _cancel_buttons(jobs: Sequence[TrackedJob]) -> list[Block]:
    """Cancel for each job still waiting."""
    waiting = [j for j in jobs if not j.closed and j.last_state == JobState.WAITING]
    buttons = [cancel_button(job.job_id, f"Cancel {job.job_id[:12]}")
               for job in waiting[:_MAX_CANCEL_BUTTONS]]
    return [ActionsBlock(elements=buttons)] if buttons else []


# -- end-state notifications ---------------------------------------------------------------

def notification(payload: Mapping[str, Any], *, with_image: bool = True,
                 runbook: Runbook = DEFAULT, can_retry: bool = False,
                 explanation: Sequence[Reason] = ()) -> Message:
    """The message for an outbox row's payload: the job's :func:`outcome`, addressed to
    whoever the row names (the person who tracked it, a user group on failures, or the
    person themselves in a DM)."""
    if payload.get("stuck_jobs"):
        return stuck_announcement(payload)
    job = Job.model_validate(payload["job"])
    if payload.get("stuck_since"):
        ended = outcome(job, with_image=False, runbook=runbook)
        note = "Announced as stuck earlier; it has ended now."
        return Message(text=f"{ended.text} (was stuck)",
                       blocks=[*ended.blocks, ContextBlock(elements=[_md(note)])])
    return outcome(job, with_image=with_image, requested_by=payload.get("requested_by"),
                   mention_groups=groups_of(payload),
                   direct=bool(payload.get("direct")), runbook=runbook, can_retry=can_retry,
                   explanation=explanation)


def outcome(job: Job, *, with_image: bool = True, requested_by: str | None = None,
            mention_groups: Sequence[str] = (), direct: bool = False,
            runbook: Runbook = DEFAULT, can_retry: bool = False,
            explanation: Sequence[Reason] = ()) -> Message:
    """A job's end: cover image, asset, duration and preview link on success; error code,
    message and the runbook's next step on failure. ``with_image=False`` links the cover
    instead (Slack refused to fetch it). ``requested_by`` is mentioned (the thread reply
    reaches the person who tracked the job); ``mention_groups`` (user group ids) are
    paged; ``direct`` words it for a DM to ``requested_by``. ``can_retry`` (RETRY_ALLOWED
    is set) puts Retry under a failed 2D or photo job; ``explanation`` says why it ended
    (:mod:`bot.tracking.delivery.reasons`)."""
    # Everything from upstream is escaped: an asset named "<!channel>" must ping no one,
    # least of all in a failure that is broadcast to the channel.
    state = job.state_name
    head = f"{emoji(state)} {code(job.job_id)} {_verb(state)}"
    fields = []
    if job.asset_name:
        fields.append(f"*Asset:* {escape(job.asset_name)}")
    # The same names as the status card: the video's length is not the time it took.
    for name, seconds in (("Video length", job.duration), ("Run time", job.run_seconds)):
        if duration_text(seconds) != NONE:
            fields.append(f"*{name}:* {duration_text(seconds)}")
    if state == JobState.FAILED and job.error_info:
        error_code = code(job.error_info.error_code or "no error code")
        fields.append(f"*Error:* {error_code} {escape(job.error_info.error_msg or '')}".rstrip())
    why = explanation_text(explanation)
    if why:
        fields.append(why)
    if state == JobState.FAILED and job.error_info:
        step = next_step(job.error_info.error_code, runbook)
        if step:
            fields.append(step)
    if job.preview_video_url:
        # Upstream: preview_video_url is valid for 24 hours after the answer.
        fields.append(f"{link(job.preview_video_url, 'Preview')} (link valid for 24 h)")
    if job.cover_url and not with_image:
        fields.append(link(job.cover_url, "Cover image"))
    address = _address([requested_by] if requested_by else [], mention_groups, direct)
    shown_head = f"{address} *{head}*" if address else f"*{head}*"
    blocks: list[Block] = [SectionBlock(text=_md("\n".join([shown_head, *fields])))]
    if job.cover_url and with_image and state == JobState.SUCCEED:
        blocks.append(ImageBlock(image_url=job.cover_url,
                                 alt_text=f"Cover of {job.asset_name or job.job_id}"))
    if can_retry and state == JobState.FAILED and retryable(job) and job.job_id:
        blocks.append(ActionsBlock(elements=[retry_button(job.job_id)]))
    error = job.error_info.error_code if state == JobState.FAILED and job.error_info else None
    text = head + (f": {escape(error)}" if error else "")
    return Message(text=f"{address} {text}" if address else text, blocks=blocks)


def stuck_announcement(payload: Mapping[str, Any]) -> Message:
    """``🐢 2 jobs are stuck``: newly stuck jobs of a channel, with how long each has
    waited or run and the line it passed."""
    rows = []
    for item in payload["stuck_jobs"]:
        job = Job.model_validate(item["job"])
        asset = f" {escape(job.asset_name)}" if job.asset_name else ""
        rows.append(f"{emoji(job.state_name)} {code(job.job_id)}{asset} · *{item['phase']} "
                    f"{short_duration(item['age'])}* (line {short_duration(item['line'])})")
    more = int(payload.get("stuck_more") or 0)
    if more:
        rows.append(f"_and {more} more: `/videojobs stuck` lists them_")
    count = len(payload["stuck_jobs"]) + more
    head = f"🐢 {count} job{'s are' if count != 1 else ' is'} stuck"
    address = _address([], groups_of(payload), False)
    shown = f"{address} *{head}*" if address else f"*{head}*"
    foot = "I say again here when each one ends. `/videojobs unsubscribe stuck` stops this."
    return Message(text=f"{address} {head}" if address else head,
                   blocks=[SectionBlock(text=_md(shown)), *_sections(rows),
                           ContextBlock(elements=[_md(foot)])])


def groups_of(payload: Mapping[str, Any]) -> list[str]:
    """The user groups a row's payload pages (``mention_group``: a row written before
    audiences were merged)."""
    groups = payload.get("mention_groups")
    if groups is None:
        single = payload.get("mention_group")
        groups = [single] if single else []
    return [g for g in groups if isinstance(g, str)]


def _address(people: Sequence[str], groups: Sequence[str], direct: bool) -> str:
    """Who the notification is for, as mentions, each once (ids only: they come from
    Slack). The poller names groups on the states that need a human only."""
    if direct:
        return "You asked me to tell you:"
    parts = [f"<!subteam^{g}>" for g in dict.fromkeys(groups)]
    parts += [f"<@{p}>" for p in dict.fromkeys(people)]
    return " ".join(parts)


def _verb(state: str) -> str:
    verbs: dict[str, str] = {
        JobState.SUCCEED: "succeeded", JobState.FAILED: "failed",
        JobState.CANCELED: "was canceled", JobState.BLOCK: "was blocked (frozen)",
    }
    return verbs.get(state, f"ended as {escape(state)}")


def _state(state: str | None) -> str:
    """``Succeeded``, like every other message; an unknown state as upstream spelled it."""
    return escape(state_label(state).split(" ", 1)[-1]) if state else "Unknown"


# -- digests -------------------------------------------------------------------------------

def digest_summary(jobs: Sequence[Job], *, quota_warning: str | None = None,
                   people: Sequence[str] = (), groups: Sequence[str] = (),
                   direct: bool = False, in_thread: bool = False) -> Message:
    """``12 jobs finished: 9 ✅ 3 ❌`` for a burst to one destination, addressed to its
    audience (``people`` who tracked them, ``groups`` their failures page, or the person
    of a DM), with the low-minutes warning (``quota_warning``, from
    :mod:`bot.tracking.watches.quota`) when some of them failed. ``in_thread``: the
    digest is itself a reply in a tracking thread, and its details follow it there."""
    head = _summary_head(jobs, quota_warning=quota_warning, people=people, groups=groups,
                         direct=direct)
    where = "Details follow in this thread." if in_thread else "Details in the thread."
    return Message(text=head.text, blocks=[*head.blocks, ContextBlock(elements=[_md(where)])])


def _summary_head(jobs: Sequence[Job], *, quota_warning: str | None,
                  people: Sequence[str], groups: Sequence[str], direct: bool) -> Message:
    counts = Counter(job.state_name for job in jobs)
    parts = " ".join(f"{n} {emoji(state)}" for state, n in counts.most_common())
    text = f"{len(jobs)} jobs finished: {parts}"
    address = _address(people, groups, direct)
    head = f"{address} *{text}*" if address else f"*{text}*"
    text = f"{address} {text}" if address else text
    blocks: list[Block] = [SectionBlock(text=_md(head))]
    # Failures while video minutes run low are often the minutes running out.
    warning = quota_warning if counts.get(JobState.FAILED) else None
    if warning:
        blocks.append(SectionBlock(text=_md(warning)))
    return Message(text=text, blocks=blocks)


def paced_fold(jobs: Sequence[Job], *, quota_warning: str | None = None,
               people: Sequence[str] = (), groups: Sequence[str] = (), direct: bool = False,
               runbook: Runbook = DEFAULT) -> Message:
    """A few ends of one destination that waited together on Slack's pace of one post a
    second (docs/delivery.md, "Folding what waits on the pace"): one message, the
    digest's summary line, addressed the same way, then each job's short section (no
    covers, as in a digest's details)."""
    head = _summary_head(jobs, quota_warning=quota_warning, people=people, groups=groups,
                         direct=direct)
    return Message(text=head.text,
                   blocks=[*head.blocks, *digest_details(jobs, runbook=runbook).blocks])


def digest_details(jobs: Sequence[Job], *, runbook: Runbook = DEFAULT) -> Message:
    """One digest thread reply: a short section per job (no images: a thread of covers
    is noise, and each job's card is one ``status`` away)."""
    blocks: list[Block] = []
    for job in jobs:
        blocks.extend(outcome(job, with_image=False, runbook=runbook).blocks)
    return Message(text=f"Details of {len(jobs)} jobs", blocks=blocks)


def track_under_answer(user: str, todo: Sequence[Job], already: Sequence[str],
                       ended: Sequence[Job], unknown: Sequence[str], extra: int, *,
                       limit: int, runbook: Runbook = DEFAULT,
                       retry_of: str | None = None) -> Message:
    """The answer of the "Track jobs in message" shortcut, in that message's thread:
    what is tracked now, already, or cannot be; ``extra`` ids past ``limit`` left out.
    ``retry_of``: the jobs are that job's retry (the Retry button's line instead)."""
    lines: list[str] = []
    blocks: list[Block] = []
    if todo and retry_of is not None:
        lines.append(f"🔁 <@{user}> retried `{retry_of}` as "
                     + ", ".join(f"{emoji(j.state_name)} `{j.job_id}`" for j in todo)
                     + ": I reply in this thread when it ends.")
    elif todo:
        lines.append(f"👀 <@{user}> is tracking "
                     + ", ".join(f"{emoji(j.state_name)} `{j.job_id}`" for j in todo)
                     + ": I reply in this thread when each one ends.")
    if already:
        lines.append("Already tracked here: " + ", ".join(f"`{i}`" for i in already))
    if unknown:
        lines.append("No such job: " + ", ".join(f"`{i}`" for i in unknown))
    if extra > 0:
        lines.append(f"{extra} more job IDs left out: I track {limit} from one message.")
    if lines:
        blocks += lines_reply("\n".join(lines), []).blocks
    for job in ended:
        ended_job = outcome(job, with_image=False, runbook=runbook)
        lines.append(f"Already finished: {ended_job.text}")
        blocks += ended_job.blocks
    return Message(text="\n".join(lines), blocks=blocks[:50])


# -- command answers -----------------------------------------------------------------------

def lines_reply(title: str, lines: Sequence[str]) -> Message:
    """A bold title and one line per item."""
    return Message(text=title, blocks=[SectionBlock(text=_md(f"*{title}*")), *_sections(lines)]
                   if lines else [SectionBlock(text=_md(title))])


def tracked_line(job: TrackedJob) -> str:
    line = f"{emoji(job.last_state)} {code(job.job_id)} {_state(job.last_state)}"
    if job.paused_reason:
        line += f" ⏸️ paused: {job.paused_reason}"
    return line


def subscription_line(sub: Subscription, mention_group: str | None = None,
                      escalate_group: str | None = None) -> str:
    filters = [f"{name}={escape(value)}" for name, value in (
        ("type", sub.job_type), ("asset", sub.asset_name), ("script", sub.script_id)) if value]
    line = f"#{sub.id} {sub.outcome}" + (f" ({', '.join(filters)})" if filters else "")
    line += f", by <@{sub.created_by}>"
    if mention_group:
        line += f", pages <!subteam^{mention_group}> on failures"
    if escalate_group:
        line += f", escalating to <!subteam^{escalate_group}>"
    if sub.paused_reason:
        line += f" ⏸️ paused: {sub.paused_reason}"
    return line


def settings_reply(noise: ChannelNoise, *, default_broadcast: bool, changed: bool) -> Message:
    """``settings``: what this channel broadcasts and what is muted."""
    if noise.broadcast_failures is None:
        broadcast = f"{'on' if default_broadcast else 'off'} (the bot's default)"
    else:
        broadcast = f"{'on' if noise.broadcast_failures else 'off'} (set for this channel)"
    lines = [f"*Failures broadcast to the channel:* {broadcast}"]
    if noise.muted_until:
        lines.append(f"🔕 All subscription announcements muted until "
                     f"{noise.muted_until:%Y-%m-%d %H:%M} UTC")
    lines += [f"🔕 {code(job_id)} muted until {until:%Y-%m-%d %H:%M} UTC"
              for job_id, until in sorted(noise.muted_jobs.items())]
    title = "Settings saved" if changed else "Settings of this channel"
    return lines_reply(title, lines)


def audit_line(entry: AuditEntry, tz: ZoneInfo) -> str:
    """``2026-12-07 14:03 · <@U1> canceled `job` in <#C1>: canceled``."""
    verbs = {"cancel": "canceled", "retry": "retried", "acknowledge": "acknowledged",
             "snooze": "snoozed", "mute": "muted", "unmute": "unmuted"}
    verb = verbs.get(entry.action, escape(entry.action))
    where = f"<#{entry.channel}>" if entry.channel.startswith(("C", "G")) else "a DM"
    return (f"{local_time(entry.at, tz)} · <@{entry.user_id}> {verb} {code(entry.target)} "
            f"in {where}: {escape(entry.result)}")
