"""Text helpers shared by every view: state emoji and labels, job type names, durations,
times in the user's timezone, and Slack mrkdwn escaping. Pure; no Block Kit here."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..metastudio.models import Job, JobState, JobType

STATE_EMOJI: dict[str, str] = {
    JobState.SUCCEED: "✅",
    JobState.FAILED: "❌",
    JobState.WAITING: "⏳",
    JobState.PROCESSING: "⚙️",
    JobState.CANCELED: "🚫",
    JobState.BLOCK: "🧊",
}
UNKNOWN_EMOJI = "❔"
#: Shown where a value is missing (no end time yet, no duration).
NONE = "—"

_STATE_WORDS: dict[str, str] = {
    JobState.SUCCEED: "Succeeded",
    JobState.FAILED: "Failed",
    JobState.WAITING: "Waiting",
    JobState.PROCESSING: "Processing",
    JobState.CANCELED: "Canceled",
    JobState.BLOCK: "Blocked",
}
_TYPE_WORDS: dict[str, str] = {
    JobType.VIDEO_2D: "2D avatar video",
    JobType.PHOTO: "Photo avatar video",
    JobType.PHOTO_SDK: "Photo avatar video",
}


def state_emoji(job_or_state: Job | JobState | str | None) -> str:
    """The state's emoji; ``❔`` for a state the bot does not know or a missing one."""
    return STATE_EMOJI.get(_state_name(job_or_state), UNKNOWN_EMOJI)


def state_label(job_or_state: Job | JobState | str | None) -> str:
    """``✅ Succeeded``; an unknown upstream state is shown as it is: ``❔ ARCHIVED``."""
    name = _state_name(job_or_state)
    return f"{state_emoji(name)} {_STATE_WORDS.get(name, name)}"


def state_word(state: JobState | str) -> str:
    """``failed``, ``succeeded``: the state in running text; unknown ones as they are."""
    name = _state_name(state)
    return _STATE_WORDS[name].lower() if name in _STATE_WORDS else name


def _state_name(job_or_state: Job | JobState | str | None) -> str:
    if isinstance(job_or_state, Job):
        return job_or_state.state_name
    return str(job_or_state) if job_or_state is not None else "UNKNOWN"


def job_type_label(job_type: JobType | str | None) -> str:
    """``2D avatar video`` / ``Photo avatar video`` (both upstream spellings); unknown
    types as they are."""
    if job_type is None:
        return "unknown type"
    return _TYPE_WORDS.get(job_type, str(job_type))


def duration_text(seconds: float | None) -> str:
    """``42 s``, ``1 min 5 s``, ``2 h 03 min``; ``—`` when unknown."""
    if seconds is None:
        return NONE
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def age_seconds(job: Job, now: datetime) -> float | None:
    """How long an unfinished job has waited (since created) or run (since started)."""
    if job.state not in (JobState.WAITING, JobState.PROCESSING):
        return None  # finished, or a state the bot does not know: no age to claim
    since = job.start_time if job.state == JobState.PROCESSING else job.create_time
    if since is None:
        return None
    return max(0.0, (now - since).total_seconds())


def age_text(job: Job, now: datetime) -> str | None:
    """``waiting 6 h 12 min`` / ``running 14 min`` for an unfinished job, else None."""
    seconds = age_seconds(job, now)
    if seconds is None:
        return None
    verb = "running" if job.state == JobState.PROCESSING else "waiting"
    return f"{verb} {short_duration(seconds)}"


def short_duration(seconds: float) -> str:
    """``6 h 12 min``, ``14 min``, ``2 d 3 h``: an age to the minute (``< 1 min`` below)."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "< 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def local_time(dt: datetime | None, tz: ZoneInfo) -> str:
    """``2026-11-24 09:30 CET``: the instant in the requesting user's timezone.

    Explicit rather than Slack's ``<!date^…>`` token, which renders in each *viewer's*
    timezone: an answer posted to a channel then reads differently per person, and the
    console demo and tests need one deterministic text. The abbreviation says which zone.
    """
    if dt is None:
        return NONE
    if dt.tzinfo is None:  # upstream times without an offset are UTC
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def escape(text: str) -> str:
    """Slack mrkdwn escaping of ``&``, ``<`` and ``>``, so upstream or typed text such as
    an asset named ``<!channel>`` is shown, not obeyed (Slack: "Escaping text")."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``…`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"


def link(url: str, label: str) -> str:
    """A mrkdwn link ``<url|label>``; characters that would end the link early are
    percent-encoded in the URL and escaped in the label."""
    safe_url = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe_url}|{escape(label)}>"


def code(text: str) -> str:
    """Inline code for upstream or typed text (job ids, error codes): escaped, and without
    backticks so it cannot close the span."""
    return f"`{escape(text.replace('`', ''))}`"
