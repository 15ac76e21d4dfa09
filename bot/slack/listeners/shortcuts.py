"""Message shortcut "Track jobs in this message": the job ids in a message's text are
tracked in its channel, and the answer, then each job's end, is threaded under that very
message (a colleague's "is 26f06524-… done?" gets its answer in its own thread).

Acknowledged at once (Slack's 3 seconds); the look-up and the posts happen after. No ids
found, or a channel the bot cannot post in: one ephemeral line through the shortcut's
``response_url``.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App, BoltContext, Respond

from ...commands.types import Context
from ...domain.messaging import ChannelUnavailable, DeliveryError
from ...metastudio.errors import MetaStudioError
from ...metastudio.models import Job
from ...tracking.service import TrackingService
from ...views import notifications as messages
from ...views.errors import upstream_error_reply
from ..services import Services
from .answer import ack_now

log = logging.getLogger(__name__)

#: The ``callback_id`` declared for the shortcut in manifest.yaml.
CALLBACK_ID = "track_jobs_in_message"
#: MetaStudio job ids are UUIDs; a 32-digit hex form is accepted too. Words in between
#: ("is", "done") are not ids, so free text is never mistaken for one.
JOB_ID = re.compile(
    r"(?<![0-9A-Za-z])([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[0-9a-f]{32})(?![0-9A-Za-z-])", re.IGNORECASE)
#: Ids tracked from one message (the answer lists each; Block Kit's 50 blocks bound it).
MAX_IDS = 20


def find_job_ids(text: str) -> list[str]:
    """The job ids in ``text``, in order of appearance, each once."""
    return list(dict.fromkeys(match.lower() for match in JOB_ID.findall(text or "")))


def register(app: App, services: Services) -> None:
    def track_from_message(body: dict[str, Any], context: BoltContext,
                           respond: Respond) -> None:
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or context.channel_id or ""
        user = (body.get("user") or {}).get("id") or context.user_id or ""
        ids = find_job_ids(str(message.get("text") or ""))
        if not ids:
            respond(text="I found no job IDs in that message (they look like "
                         "`26f06524-4f75-4a1b-9c7e-0123456789ab`).", response_type="ephemeral")
            return
        # Replies go under the thread's root: Slack threads hang off the parent's ts.
        root = str(message.get("thread_ts") or message.get("ts") or "")
        ctx = Context(user_id=user, channel_id=channel, tz=services.timezones.resolve(user))
        answer = track_under(services.tracking.service, ctx, ids, root, datetime.now(UTC))
        if answer:
            respond(text=answer, response_type="ephemeral")

    app.message_shortcut(CALLBACK_ID)(ack=ack_now, lazy=[track_from_message])


def track_under(service: TrackingService, ctx: Context, job_ids: list[str], root_ts: str,
                now: datetime) -> str | None:
    """Track ``job_ids`` in ``ctx.channel_id`` with ``root_ts`` as their thread, and
    answer in that thread. Returns an ephemeral line for the person when the answer
    could not be posted (or None)."""
    extra = len(job_ids) - MAX_IDS
    ids = job_ids[:MAX_IDS]
    tracked = {t.job_id for t in service.store.channel_tracked(ctx.channel_id)}
    already = [i for i in ids if i in tracked]
    rest = [i for i in ids if i not in tracked]
    try:
        found = service.jobs.get_jobs(rest) if rest else {}
    except MetaStudioError as e:
        return upstream_error_reply(e, doing="look up the jobs to track").text
    todo = [found[i] for i in rest if i in found and not found[i].is_finished]
    ended = [found[i] for i in rest if i in found and found[i].is_finished]
    unknown = [i for i in rest if i not in found]
    message = _answer(ctx.user_id, todo, already, ended, unknown, extra)
    try:
        service.messenger.post(ctx.channel_id, text=message.text, blocks=message.blocks,
                               thread_ts=root_ts)
    except ChannelUnavailable as e:
        return (f"I can't post in this channel (`{e.error}`). "
                "Invite me with `/invite @videojobs`, then try again.")
    except DeliveryError as e:
        log.warning("shortcut answer not posted in %s: %s", ctx.channel_id, e)
        return f"Slack refused my answer (`{e.error or e}`); try again in a moment."
    if todo:
        service.store.add_tracked(
            ctx.channel_id, [(j.job_id, j.state_name, j.create_time) for j in todo],
            message_ts=root_ts, requested_by=ctx.user_id, now=now)
    return None


def _answer(user: str, todo: list[Job], already: list[str], ended: list[Job],
            unknown: list[str], extra: int) -> messages.Message:
    lines: list[str] = []
    blocks: list[Any] = []
    if todo:
        lines.append(f"👀 <@{user}> is tracking "
                     + ", ".join(f"{messages.emoji(j.state_name)} `{j.job_id}`" for j in todo)
                     + ": I reply in this thread when each one ends.")
    if already:
        lines.append("Already tracked here: " + ", ".join(f"`{i}`" for i in already))
    if unknown:
        lines.append("No such job: " + ", ".join(f"`{i}`" for i in unknown))
    if extra > 0:
        lines.append(f"{extra} more job IDs left out: I track {MAX_IDS} from one message.")
    if lines:
        blocks += messages.lines_reply("\n".join(lines), []).blocks
    for job in ended:
        outcome = messages.outcome(job, with_image=False)
        lines.append(f"Already finished: {outcome.text}")
        blocks += outcome.blocks
    return messages.Message(text="\n".join(lines), blocks=blocks[:50])
