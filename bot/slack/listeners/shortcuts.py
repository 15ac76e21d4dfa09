"""Message shortcut "Track jobs in message": the job ids in a message's text are
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
        answer = services.tracking.service.track_under(ctx, ids, root, datetime.now(UTC))
        if answer:
            respond(text=answer, response_type="ephemeral")

    app.message_shortcut(CALLBACK_ID)(ack=ack_now, lazy=[track_from_message])
