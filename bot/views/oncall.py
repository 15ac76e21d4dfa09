"""On-call messages (docs/oncall.md): the buttons of a page and what its message says once
someone has it, the repeat and the escalation of an unanswered page, and an incident
(failures of one cause) with its thread lines and its recovery. Pure: values in, Block
Kit out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

from ..domain.runbook import DEFAULT, Runbook
from ..metastudio.models import Job
from . import actions
from .blocks import actions_block, button, context, section
from .format import code, escape, job_type_label, local_time, short_duration
from .hints import next_step

UTC = ZoneInfo("UTC")
#: Assets an incident message names before it says "and N more".
MAX_ASSETS = 5


@dataclass(frozen=True)
class PageState:
    """Who has a page, or until when it is snoozed (both None: nobody yet)."""

    acked_by: str | None = None
    acked_at: datetime | None = None
    snoozed_by: str | None = None
    snoozed_until: datetime | None = None


def mentions(groups: Sequence[str]) -> str:
    return " ".join(f"<!subteam^{g}>" for g in dict.fromkeys(groups))


def page_blocks(page_key: str, state: PageState = PageState()) -> list[Block]:
    """What a page carries under its message: Acknowledge and Snooze 1 h while nobody
    has it, the line saying who has it once someone does. Anyone in the channel may
    press them."""
    if state.acked_by is not None:
        at = local_time(state.acked_at, UTC) if state.acked_at else "just now"
        return [context(f"✋ <@{state.acked_by}> has it (since {at}). "
                        "No more reminders for this page.")]
    blocks: list[Block] = []
    if state.snoozed_until is not None and state.snoozed_by is not None:
        blocks.append(context(f"😴 Snoozed by <@{state.snoozed_by}> until "
                              f"{local_time(state.snoozed_until, UTC)}."))
    blocks += actions_block([
        button("Acknowledge", actions.ACKNOWLEDGE, page_key, style="primary"),
        button("Snooze 1 h", actions.SNOOZE, page_key),
    ])
    return blocks


def page_repeat(groups: Sequence[str], waited: float, page_key: str) -> tuple[str, list[Block]]:
    """The one reminder in a page's thread when nobody acknowledged it."""
    text = (f"{mentions(groups)} ⏰ Still unacknowledged after {short_duration(waited)}. "
            "Press Acknowledge when you have it.")
    return text, [section(text), *page_blocks(page_key)]


def page_escalation(groups: Sequence[str], waited: float, first: Sequence[str],
                    page_key: str) -> tuple[str, list[Block]]:
    """The escalation in a page's thread: nobody of ``first`` answered."""
    text = (f"{mentions(groups)} 🚨 Escalated: {mentions(first)} did not acknowledge this "
            f"page in {short_duration(waited)}.")
    return text, [section(text), *page_blocks(page_key)]


@dataclass(frozen=True)
class IncidentView:
    """An incident as its message shows it."""

    error_code: str
    job_type: str
    count: int
    first_at: datetime
    last_at: datetime
    assets: Sequence[str]
    error_msg: str | None = None
    recovered_at: datetime | None = None


def incident_message(incident: IncidentView, groups: Sequence[str], *,
                     first: Job | None = None,
                     runbook: Runbook = DEFAULT) -> tuple[str, list[Block]]:
    """The live message of one cause: how many failed, since when, which assets, and
    the runbook's next step; paging ``groups`` (once: updates do not ping again)."""
    kind = job_type_label(incident.job_type)
    jobs = f"{incident.count} {kind} job{'s' * (incident.count != 1)}"
    what = (f"{jobs} blocked (frozen)" if incident.error_code == "BLOCK"
            else f"{jobs} failed with {code(incident.error_code)}")
    head = ("✅ Recovered: " if incident.recovered_at else "🔥 Incident: ") + what
    lines = [f"*{head}*"]
    if incident.error_msg:
        lines.append(escape(incident.error_msg))
    seen = f"First {local_time(incident.first_at, UTC)}, last {local_time(incident.last_at, UTC)}"
    lines.append(seen)
    if first is not None:
        lines.append(f"First: {incident_line(first)}")
    if incident.assets:
        shown = ", ".join(escape(a) for a in incident.assets[:MAX_ASSETS])
        more = len(incident.assets) - MAX_ASSETS
        lines.append(f"*Assets:* {shown}" + (f" and {more} more" if more > 0 else ""))
    step = next_step(incident.error_code, runbook)
    if step:
        lines.append(step)
    if incident.recovered_at:
        lines.append(f"A {escape(kind)} job succeeded at "
                     f"{local_time(incident.recovered_at, UTC)}.")
    else:
        lines.append("Each new failure of this cause is one line in the thread.")
    address = mentions(groups)
    text = f"{address} {head}" if address else head
    blocks: list[Block] = [section("\n".join([f"{address} {lines[0]}" if address else lines[0],
                                              *lines[1:]]))]
    return text, blocks


def incident_note(error_code: str, job_type: str) -> Block:
    """Under a first failure: where the next ones of its cause go."""
    cause = "blocked jobs" if error_code == "BLOCK" else f"failures with {code(error_code)}"
    return context(f"More {cause} of {escape(job_type_label(job_type))} jobs are listed "
                   "in this thread and counted here, paging nobody again.")


def recovered_note(job_type: str, at: datetime) -> Block:
    """Under a single failure whose cause recovered."""
    return context(f"✅ Recovered: a {escape(job_type_label(job_type))} job succeeded at "
                   f"{local_time(at, UTC)}.")


def incident_line(job: Job) -> str:
    """One failure of an incident, in its thread."""
    asset = f" {escape(job.asset_name)}" if job.asset_name else ""
    msg = f": {escape(job.error_info.error_msg)}" if job.error_info and job.error_info.error_msg \
        else ""
    return f"❌ {code(job.job_id)}{asset}{msg}"


def incident_lines(jobs: Sequence[Job]) -> str:
    """Failures of an incident that waited together on Slack's pace: one reply in its
    thread, a line each."""
    return "\n".join(incident_line(job) for job in jobs)


def incident_recovered(job: Job) -> str:
    return (f"✅ Recovered: {code(job.job_id)} ({escape(job_type_label(job.job_type))}) "
            "succeeded after the last failure of this cause.")
