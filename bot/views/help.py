"""``help``, bad input and plain notices: the answers that need no upstream call."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, HeaderBlock

from ..domain.reply import Reply
from . import actions
from .blocks import BUTTON_VALUE_LIMIT, actions_block, button, context, section
from .format import code, escape, truncate

#: The slash command's usage hint; manifest.yaml's ``usage_hint`` must equal it.
USAGE_HINT = ("[help | status ID | failed today | stuck | summary 7d | track ID notify=me "
              "| subscribe failed]")

_HELP_SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Look up jobs", (
        ("/videojobs status ID [ID …]", "one card per job: state, times, duration, cover, "
         "preview, error; Track and Refresh buttons"),
        ("/videojobs failed [WINDOW]", "failed jobs, grouped by error code for triage "
         "(default today)"),
        ("/videojobs waiting | processing | succeeded | canceled | blocked [WINDOW]",
         "jobs in that state"),
        ("/videojobs list [state=A,B] [type=2d|photo] [asset=NAME] [script=ID] "
         "[sort=asc|desc] [WINDOW]", "every filter, combined — e.g. "
         "`/videojobs list state=failed,canceled type=photo 7d`"),
        ("/videojobs summary [WINDOW]", "counts per state, failure rate, top errors, "
         "mean duration, the oldest waiting job"),
        ("/videojobs stuck [DURATION]", "unfinished jobs older than DURATION (`2h`, `1h30m`), "
         "or than the usual wait or run time of their type"),
        ("/videojobs quota", "video minutes used and left"),
        ("/videojobs retry ID", "re-create a failed 2D or photo job: I show what is "
         "re-created and the video minutes it spends, and create it once when you press "
         "*Retry now*; the new job is tracked in the failure's thread (people in "
         "`RETRY_ALLOWED` only)"),
    )),
    ("Get told in this channel", (
        ("/videojobs track ID [ID …] [notify=me]", "posts a tracking message; I reply in "
         "its thread when a job ends (and DM you with `notify=me`)"),
        ("/videojobs untrack ID", "stop tracking a job"),
        ("/videojobs tracked", "what this channel tracks"),
        ("/videojobs subscribe [failed|finished|all] [type=…] [asset=…] [script=…] "
         "[notify=@group [escalate=@group]]", "every job reaching that outcome, tracked or "
         "not; failures of one cause are one incident that pages the group once (anyone "
         "may press Acknowledge; unanswered, it is repeated, then escalated) — e.g. "
         "`/videojobs subscribe failed notify=@oncall escalate=@leads`"),
        ("/videojobs subscribe stuck [type=…] [notify=@group [escalate=@group]]",
         "told once when an unfinished job gets stuck, and when it ends"),
        ("/videojobs unsubscribe [ID|stuck]", "remove a subscription"),
        ("/videojobs subscriptions", "this channel's subscriptions"),
        ("/videojobs mute ID|all DURATION", "snooze this channel's subscription "
         "announcements (`mute all 2h`); `/videojobs unmute [ID]` lifts it"),
        ("/videojobs audit [WINDOW]", "who canceled, retried, acknowledged, snoozed or "
         "muted what (the last 7 days)"),
        ("/videojobs settings [broadcast=on|off|default]", "whether failures in threads "
         "are also sent to the channel"),
        ("/videojobs report daily|weekly [mon] HH:MM failed|summary [tz=Area/City]",
         "a report posted here on schedule — e.g. `/videojobs report daily 09:00 failed`"),
        ("/videojobs reports", "this channel's scheduled reports"),
        ("/videojobs unreport ID", "stop a scheduled report"),
        ("/videojobs help", "this message"),
    )),
)
_WINDOWS = (
    "`today` (the default, in your Slack timezone) · `yesterday` · `24h` · `7d` · `Nh` · "
    "`Nd` · `since YYYY-MM-DD` · `YYYY-MM-DD..YYYY-MM-DD` — e.g. `/videojobs failed 6h`, "
    "`/videojobs summary 2026-01-01..2026-01-31`"
)


def help_reply(*, unknown: str | None = None, suggestion: str | None = None,
               suggested_text: str | None = None) -> Reply:
    """Usage with examples for every command. For an unknown word: one line saying so,
    and a button running the closest command (``suggested_text``) when there is one."""
    if unknown is not None:
        first = f"{_code(unknown)} is not a command."
        buttons = []
        if suggestion:
            first += f" Did you mean {_code(suggestion)}?"
            if suggested_text and len(suggested_text) <= BUTTON_VALUE_LIMIT:
                label = truncate(f"Run /videojobs {suggested_text}", 75)
                buttons.append(button(label, actions.RUN, suggested_text, style="primary"))
        else:
            first += " `/videojobs help` lists them."
        return Reply(text=first, blocks=[section(first), *actions_block(buttons)])
    blocks: list[Block] = [HeaderBlock(text="videojobs: MetaStudio video jobs in Slack")]
    for title, commands in _HELP_SECTIONS:
        lines = [f"*{title}*"] + [f"• `{usage}` — {what}" for usage, what in commands]
        blocks.append(section("\n".join(lines)))
    blocks.append(section(f"*WINDOW*: {_WINDOWS}"))
    blocks.append(context("Answers are only visible to you until you press *Post to channel*."))
    text = "videojobs commands: status, failed, list, summary, track, subscribe (and more)"
    return Reply(text=text, blocks=blocks)


def _code(word: str) -> str:
    return code(truncate(word, 60))


def invalid_reply(message: str) -> Reply:
    """One ephemeral line for bad input: what was wrong, what is accepted (``message``,
    already worded by the parser) and where to look."""
    message = message.rstrip()
    if message and message[-1] not in ".?!":
        message += "."
    line = f"⚠️ {escape(message)} Try `/videojobs help`."
    return Reply(text=line, blocks=[section(line)])


def notice_reply(message: str) -> Reply:
    """A plain ephemeral line, e.g. "Tracking is not enabled in this workspace."."""
    return Reply(text=message, blocks=[section(escape(message))])
